"""The basics a newcomer sees: the front page, sign in, home per role."""

from tests.conftest import login


def test_anonymous_home_is_the_practices_front_page(client, practice):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1 id=\"front-heading\">Test Practice</h1>" in page
    # Signing in is one tap away.
    assert 'href="/auth/login"' in page


def test_therapist_lands_on_dashboard(client, make_therapist):
    therapist = make_therapist(name="Jo Fletcher")
    response = login(client, therapist.email)
    assert response.status_code == 302
    page = client.get("/", follow_redirects=True)
    assert "Good to see you, Jo" in page.get_data(as_text=True)


def test_client_sees_their_home(as_client):
    page = as_client.get("/")
    assert page.status_code == 200
    assert f"Hello, {as_client.user.first_name}" in page.get_data(as_text=True)
