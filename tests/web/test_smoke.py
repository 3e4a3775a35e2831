"""The basics a newcomer sees: sign-in page, sign in, home per role."""

from tests.conftest import login


def test_anonymous_home_goes_to_login(client, practice):
    response = client.get("/")
    assert response.status_code == 302
    assert response.location.startswith("/auth/login")


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
