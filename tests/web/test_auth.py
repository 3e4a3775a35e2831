"""Signing in and out, invitations, registration and passwords through the test client."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import OutboxMessage, Practice, User
from portal.services.accounts import LOGIN_FAILED
from tests.conftest import (
    TEST_PASSWORD,
    answer_reset_requests,
    csrf_from,
    form_post,
    link_in,
    login,
)

NEW_PASSWORD = "lantern over the quiet moor"


# --- helpers ------------------------------------------------------------------------------


def text(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def generic_failure(page: str) -> bool:
    """True when the page shows the one generic sign-in failure message."""
    return LOGIN_FAILED in html.unescape(page)


def field_error(page: str, field_id: str) -> str | None:
    """The error message shown next to a field, or None."""
    match = re.search(rf'<(\w+)[^>]*\bid="{field_id}-error"[^>]*>(.*?)</\1>', page, re.S)
    if not match:
        return None
    message = html.unescape(re.sub(r"<[^>]+>", "", match.group(2)))
    return message.replace("Error:", "").strip()


def input_value(page: str, name: str) -> str | None:
    """The value attribute of the input with this name, or None."""
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert tag, f"no input named {name!r}"
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return html.unescape(value.group(1)) if value else None


def counts(app) -> tuple[int, int]:
    """(users, outbox rows): a write shows up here."""
    with app.app_context():
        users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
        mails = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        return users, mails


def user_by_email(app, email: str) -> User | None:
    """A detached copy of the user with this address."""
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def set_self_registration(app, on: bool) -> None:
    """Switch the practice's self-registration setting in the database."""
    with app.app_context():
        db.session.scalar(sa.select(Practice)).self_registration = on
        db.session.commit()


def signed_in(client) -> bool:
    """True when the client's cookies open a signed-in page."""
    response = client.get("/account/")
    if response.status_code == 302:
        assert response.location.startswith("/auth/login")
        return False
    assert response.status_code == 200
    return True


def logout(client):
    """Press "Sign out" (a POST with the page's CSRF token)."""
    page = text(client.get("/account/"))
    return client.post("/auth/logout", data={"csrf_token": csrf_from(page)})


def link_from(row: OutboxMessage, path: str) -> str:
    """The local path of the link in an email, checked to start with `path`."""
    link = link_in(row.text_body, path)
    assert link.startswith(path), link
    return link


def invite(therapist_client, name="Alex Morgan", email="alex@example.com"):
    """The therapist sends an invitation through the dashboard form."""
    return form_post(therapist_client, "/clients/invite", {"name": name, "email": email})


# --- signing in and out -------------------------------------------------------------------


def test_login_page_renders(client, practice):
    """The sign-in page has the form, a CSRF token and the way to reset a password."""
    response = client.get("/auth/login")
    page = text(response)
    assert response.status_code == 200
    assert re.search(r"<h1[^>]*>\s*Sign in\s*</h1>", page)
    assert input_value(page, "email") in (None, "")
    assert 'name="password"' in page and 'type="password"' in page
    assert csrf_from(page)
    assert 'href="/auth/forgot"' in page
    assert 'href="/auth/register"' not in page  # self-registration is off by default


def test_wrong_password_shows_generic_message_and_keeps_email(client, make_client):
    """A failed sign-in says one generic thing and keeps the typed address, not the password."""
    user = make_client()
    response = login(client, user.email, "not the right password")
    page = text(response)
    assert response.status_code == 200
    assert generic_failure(page)
    assert input_value(page, "email") == user.email
    assert "not the right password" not in page
    assert not signed_in(client)


def test_unknown_address_gets_the_same_message(client, practice):
    """An address without an account fails with exactly the same words."""
    page = text(login(client, "nobody@example.com", "whatever it is"))
    assert generic_failure(page)
    assert input_value(page, "email") == "nobody@example.com"


def test_login_then_logout(client, make_client):
    """Sign in lands on home; sign out goes to the sign-in page and closes the account pages."""
    user = make_client()
    response = login(client, user.email)
    assert response.status_code == 302
    assert response.location == "/"
    assert signed_in(client)

    response = logout(client)
    assert response.status_code == 302
    assert response.location == "/auth/login"
    assert "You are signed out." in text(client.get("/auth/login"))
    assert not signed_in(client)


def test_login_ignores_email_case(client, make_client):
    """The address can be typed in any case."""
    make_client(email="alex@example.com")
    assert login(client, "  Alex@Example.COM ").status_code == 302


def test_signed_in_user_visiting_login_goes_home(as_client):
    """The sign-in page sends a signed-in user home."""
    response = as_client.get("/auth/login")
    assert response.status_code == 302
    assert response.location == "/"


def test_logout_needs_post_and_csrf(as_client):
    """A link or a forged form cannot sign someone out."""
    assert as_client.get("/auth/logout").status_code == 405
    assert as_client.post("/auth/logout").status_code == 400
    assert signed_in(as_client)


@pytest.mark.parametrize("target", [
    "//evil.example",
    "https://evil.example",
    "/\\evil",
    "javascript:alert(1)",
    "/\t/evil.example",
    "http:/evil.example",
])
def test_next_only_follows_local_paths(client, make_client, target):
    """An outside address in `next` is dropped, whether in the link or in the posted form."""
    user = make_client()
    page = text(client.get(f"/auth/login?next={quote(target)}"))
    assert input_value(page, "next") in (None, "")
    response = form_post(client, f"/auth/login?next={quote(target)}",
                         {"email": user.email, "password": TEST_PASSWORD, "next": target})
    assert response.status_code == 302
    assert response.location == "/"


def test_next_follows_a_local_path(client, make_client):
    """A page that asked for sign-in is opened after it."""
    user = make_client()
    response = client.get("/account/")
    assert response.status_code == 302
    login_url = response.location
    assert login_url.startswith("/auth/login?next=")
    page = text(client.get(login_url))
    assert input_value(page, "next") == "/account/"
    response = client.post(login_url, data={"csrf_token": csrf_from(page), "email": user.email,
                                            "password": TEST_PASSWORD, "next": "/account/"})
    assert response.status_code == 302
    assert response.location == "/account/"


# --- invitations --------------------------------------------------------------------------


def test_invitation_end_to_end(app, as_therapist, outbox):
    """Invite, set a password from the link, the link dies, then the client signs in."""
    response = invite(as_therapist)
    assert response.status_code == 302
    assert response.location == "/clients/"
    assert "Invitation sent to Alex Morgan" in text(as_therapist.get("/clients/"))
    rows = outbox("invite")
    assert len(rows) == 1 and rows[0].to_addr == "alex@example.com"
    link = link_from(rows[0], "/auth/invite/")

    browser = app.test_client()
    page = text(browser.get(link))
    assert "Welcome, Alex" in page and "alex@example.com" in page
    response = form_post(browser, link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.location.startswith("/auth/login")
    page = text(browser.get(response.location))
    assert "Your password is set" in page
    assert input_value(page, "email") == "alex@example.com"

    dead = browser.get(link)
    assert dead.status_code == 404
    page = text(dead)
    assert "This link doesn't work any more" in page
    assert "used already" in page
    assert 'href="/auth/forgot"' in page and "Send me a new link" in page
    assert 'class="site-header"' in page

    assert login(browser, "alex@example.com", NEW_PASSWORD).status_code == 302
    assert signed_in(browser)


def test_used_invite_link_cannot_be_posted_again(app, as_therapist, outbox):
    """Posting a new password to a spent link changes nothing."""
    invite(as_therapist)
    link = link_from(outbox("invite")[0], "/auth/invite/")
    browser = app.test_client()
    page = text(browser.get(link))
    token = csrf_from(page)
    browser.post(link, data={"csrf_token": token, "password": NEW_PASSWORD,
                             "confirm": NEW_PASSWORD})
    replay = browser.post(link, data={"csrf_token": token, "password": "a different phrase",
                                      "confirm": "a different phrase"})
    assert replay.status_code == 404
    assert login(app.test_client(), "alex@example.com", "a different phrase").status_code == 200
    assert login(app.test_client(), "alex@example.com", NEW_PASSWORD).status_code == 302


def test_expired_invite_link_says_so(app, as_therapist, outbox):
    """A link past its age shows the expired wording and offers a new link."""
    invite(as_therapist)
    link = link_from(outbox("invite")[0], "/auth/invite/")
    app.config["INVITE_MAX_AGE"] = timedelta(seconds=-1)
    response = app.test_client().get(link)
    page = text(response)
    assert response.status_code == 404
    assert "It has expired" in page
    assert "Send me a new link" in page
    assert "020 7946 0000" in page  # ask the practice to invite again


def test_garbled_link_is_a_friendly_404(client, practice):
    """A link copied incompletely shows the same helpful page."""
    response = client.get("/auth/invite/not-a-real-token")
    assert response.status_code == 404
    assert "copied incompletely" in text(response)
    assert client.get("/auth/reset/not-a-real-token").status_code == 404


def test_reinviting_an_unanswered_invite_sends_a_new_link(as_therapist, outbox):
    """Inviting the same person again sends another email and says so."""
    invite(as_therapist)
    response = invite(as_therapist, email="ALEX@example.com")
    assert response.status_code == 302
    assert "A new invitation link was sent" in text(as_therapist.get("/clients/"))
    assert len(outbox("invite")) == 2


def test_inviting_an_existing_account_shows_error_on_email(app, as_therapist, make_client):
    """An address that already has an account is refused next to the email field."""
    existing = make_client()
    before = counts(app)
    page = text(invite(as_therapist, name="Someone New", email=existing.email.upper()))
    assert "already has an account" in field_error(page, "email")
    assert input_value(page, "name") == "Someone New"
    assert counts(app) == before


def test_client_cannot_open_the_invite_page(as_client):
    """Inviting is for the therapist only."""
    assert as_client.get("/clients/invite").status_code == 403


# --- bad input on every form --------------------------------------------------------------

LONG_NAME = "N" * 200


@pytest.mark.parametrize("data, field, message, kept", [
    ({"email": "", "password": "x"}, "email", "Enter your email address.", {}),
    ({"email": "alex@example.com", "password": ""}, "password", "Enter your password.",
     {"email": "alex@example.com"}),
])
def test_login_form_bad_input(app, client, practice, data, field, message, kept):
    """Empty sign-in fields are marked; what was typed stays; nothing is written."""
    before = counts(app)
    page = text(form_post(client, "/auth/login", data))
    assert field_error(page, field) == message
    for name, value in kept.items():
        assert input_value(page, name) == value
    assert counts(app) == before


REGISTER_CASES = [
    ({"name": "", "email": "alex@example.com"}, "name", "Enter",
     {"email": "alex@example.com"}),
    ({"name": LONG_NAME, "email": "alex@example.com"}, "name", "120",
     {"email": "alex@example.com"}),
    ({"name": "Alex Morgan", "email": "alex@"}, "email", "name@example.com",
     {"name": "Alex Morgan"}),
    ({"name": "Alex Morgan", "email": ""}, "email", "Enter", {"name": "Alex Morgan"}),
]


@pytest.mark.parametrize("data, field, message, kept", REGISTER_CASES)
def test_register_form_bad_input(app, client, practice, data, field, message, kept):
    """Registration marks the wrong field, keeps the rest and writes nothing."""
    set_self_registration(app, True)
    before = counts(app)
    response = form_post(client, "/auth/register", data)
    page = text(response)
    assert response.status_code == 200
    assert message in (field_error(page, field) or "")
    for name, value in kept.items():
        assert input_value(page, name) == value
    assert counts(app) == before


@pytest.mark.parametrize("data, field, message, kept", REGISTER_CASES)
def test_invite_form_bad_input(app, as_therapist, data, field, message, kept):
    """The invitation form marks the wrong field, keeps the rest and writes nothing."""
    before = counts(app)
    response = invite(as_therapist, **data)
    page = text(response)
    assert response.status_code == 200
    assert message in (field_error(page, field) or "")
    for name, value in kept.items():
        assert input_value(page, name) == value
    assert counts(app) == before


@pytest.mark.parametrize("email, message", [
    ("", "Enter your email address."),
    ("alex@", "name@example.com"),
    ("not an address", "name@example.com"),
])
def test_forgot_form_bad_input(app, client, make_client, email, message):
    """An empty or malformed address is marked on the field instead of 'check your email'."""
    make_client(email="alex@example.com")
    before = counts(app)
    page = text(form_post(client, "/auth/forgot", {"email": email}))
    assert message in (field_error(page, "email") or "")
    assert "Check your email" not in page
    assert counts(app) == before


SET_PASSWORD_CASES = [
    ({"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"}, "confirm", "don't match"),
    ({"password": "short", "confirm": "short"}, "password", "at least 8"),
    ({"password": "", "confirm": ""}, "password", "Enter a password."),
    ({"password": "password1", "confirm": "password1"}, "password", "too common"),
    ({"password": "x" * 129, "confirm": "x" * 129}, "password", "at most 128"),
]


@pytest.mark.parametrize("data, field, message", SET_PASSWORD_CASES)
def test_set_password_form_bad_input(app, as_therapist, outbox, data, field, message):
    """A refused new password is marked, the link still works and nothing is written."""
    invite(as_therapist)
    link = link_from(outbox("invite")[0], "/auth/invite/")
    browser = app.test_client()
    before = counts(app)
    response = form_post(browser, link, data)
    page = text(response)
    assert response.status_code == 200
    assert message in (field_error(page, field) or "")
    assert input_value(page, "password") in (None, "")  # never echoed back
    assert counts(app) == before
    assert user_by_email(app, "alex@example.com").password_hash is None
    assert browser.get(link).status_code == 200


@pytest.mark.parametrize("data, field, message", [
    ({"current_password": "not my password", "new_password": NEW_PASSWORD,
      "confirm": NEW_PASSWORD}, "current_password", "not your current password"),
    ({"current_password": "", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
     "current_password", "Enter your current password."),
    ({"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD,
      "confirm": "something else entirely"}, "confirm", "don't match"),
    ({"current_password": TEST_PASSWORD, "new_password": "short", "confirm": "short"},
     "new_password", "at least 8"),
    ({"current_password": TEST_PASSWORD, "new_password": TEST_PASSWORD,
      "confirm": TEST_PASSWORD}, "new_password", "different"),
])
def test_change_password_form_bad_input(app, as_client, data, field, message):
    """A refused change is marked on its field and the old password still works."""
    before = user_by_email(app, as_client.user.email)
    response = form_post(as_client, "/account/password", data)
    page = text(response)
    assert response.status_code == 200
    assert message in (field_error(page, field) or "")
    after = user_by_email(app, as_client.user.email)
    assert (after.password_hash, after.session_version) == (before.password_hash,
                                                            before.session_version)
    assert signed_in(as_client)


# --- password reset and change ------------------------------------------------------------


def test_forgot_password_page_is_the_same_for_known_and_unknown(app, client, make_client,
                                                                outbox):
    """The answer never reveals whether an address has an account; only a known one gets mail."""
    make_client(email="alex@example.com")
    known = form_post(client, "/auth/forgot", {"email": "alex@example.com"})
    unknown = form_post(client, "/auth/forgot", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert "Check your email" in text(known)
    assert (text(known).replace("alex@example.com", "ADDRESS")
            == text(unknown).replace("nobody@example.com", "ADDRESS"))
    assert outbox() == []  # the sender builds the email, not the request
    assert answer_reset_requests(app) == 2
    rows = outbox()
    assert [(r.kind, r.to_addr) for r in rows] == [("reset", "alex@example.com")]


def _statements_of(app, request) -> list[str]:
    """The SQL a request runs, numbers (savepoint names, ids) blanked out."""
    with app.app_context():
        target = db.engine
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(re.sub(r"\d+", "N", " ".join(statement.split())))

    sa.event.listen(target, "before_cursor_execute", note)
    try:
        response = request()
    finally:
        sa.event.remove(target, "before_cursor_execute", note)
    assert response.status_code == 200 and "Check your email" in text(response)
    return seen


def test_forgot_password_does_the_same_work_for_known_and_unknown(app, make_client,
                                                                   monkeypatch):
    """The same statements for an address with an account and one without, no lookup of the
    address and no email built while the person waits: nothing for a clock to tell apart."""
    make_client(email="alex@example.com")
    from portal.services import emails

    def no_email(*args, **kwargs):
        raise AssertionError("an email was built during the request")

    work = {}
    for email in ("alex@example.com", "nobody@example.com"):
        browser = app.test_client()
        token = csrf_from(text(browser.get("/auth/forgot")))
        monkeypatch.setattr(emails, "compose", no_email)
        work[email] = _statements_of(app, lambda browser=browser, token=token, email=email:
                                     browser.post("/auth/forgot", data={"csrf_token": token,
                                                                        "email": email}))
        monkeypatch.undo()
    assert work["alex@example.com"] == work["nobody@example.com"]
    assert any(s.startswith("INSERT INTO reset_request") for s in work["nobody@example.com"])
    assert not [s for s in work["alex@example.com"]
                if re.search(r'\b(FROM|JOIN|INTO) "?(user|outbox_message)"?(\s|$)', s)]


def test_reset_end_to_end(app, client, make_client, outbox):
    """Forgot, open the link, choose a password; the old one and the link stop working."""
    make_client(email="alex@example.com")
    form_post(client, "/auth/forgot", {"email": "Alex@Example.com"})
    answer_reset_requests(app)
    link = link_from(outbox("reset")[0], "/auth/reset/")

    browser = app.test_client()
    page = text(browser.get(link))
    assert "Choose a new password" in page and "alex@example.com" in page
    response = form_post(browser, link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert browser.get(link).status_code == 404

    assert generic_failure(text(login(app.test_client(), "alex@example.com", TEST_PASSWORD)))
    assert login(browser, "alex@example.com", NEW_PASSWORD).status_code == 302
    assert signed_in(browser)


def test_reset_signs_out_an_existing_session(app, make_client, outbox):
    """A password set from a reset link ends sessions signed in with the old password."""
    make_client(email="alex@example.com")
    laptop = app.test_client()
    login(laptop, "alex@example.com")
    assert signed_in(laptop)
    phone = app.test_client()
    form_post(phone, "/auth/forgot", {"email": "alex@example.com"})
    answer_reset_requests(app)
    link = link_from(outbox("reset")[0], "/auth/reset/")
    form_post(phone, link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert not signed_in(laptop)


def test_change_password_flow(app, as_client):
    """Change the password, stay signed in; afterwards only the new password works."""
    response = form_post(as_client, "/account/password", {
        "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    })
    assert response.status_code == 302
    assert response.location == "/account/"
    assert "Your password is changed" in text(as_client.get("/account/"))
    assert signed_in(as_client)

    logout(as_client)
    assert generic_failure(text(login(as_client, as_client.user.email, TEST_PASSWORD)))
    assert login(as_client, as_client.user.email, NEW_PASSWORD).status_code == 302


# --- self-registration --------------------------------------------------------------------


def test_registration_closed_page_when_off(app, client, practice):
    """With self-registration off, the page explains how to join and a POST writes nothing."""
    response = client.get("/auth/register")
    page = text(response)
    assert response.status_code == 200
    assert "Joining is by invitation" in page
    assert "020 7946 0000" in page and "desk@example.com" in page
    before = counts(app)
    token = csrf_from(text(client.get("/auth/login")))
    response = client.post("/auth/register", data={"csrf_token": token, "name": "New Person",
                                                   "email": "new@example.com"})
    assert "Joining is by invitation" in text(response)
    assert counts(app) == before


def test_registration_end_to_end_when_on(app, client, practice, outbox):
    """With self-registration on: register, get the link, set a password, sign in."""
    set_self_registration(app, True)
    assert 'href="/auth/register"' in text(client.get("/auth/login"))
    response = form_post(client, "/auth/register", {"name": "New Person",
                                                    "email": "New@Example.com"})
    page = text(response)
    assert response.status_code == 200
    assert "Check your email" in page
    rows = outbox()
    assert [(r.kind, r.to_addr) for r in rows] == [("register", "new@example.com")]
    link = link_from(rows[0], "/auth/invite/")
    assert form_post(client, link, {"password": NEW_PASSWORD,
                                    "confirm": NEW_PASSWORD}).status_code == 302
    assert login(client, "new@example.com", NEW_PASSWORD).status_code == 302
    assert signed_in(client)


def test_registering_a_known_address_looks_the_same(app, client, make_client, outbox):
    """A known address gets the same page, a reminder email and no second account."""
    set_self_registration(app, True)
    make_client(email="alex@example.com", name="Alex Morgan")
    users_before = counts(app)[0]
    page = text(form_post(client, "/auth/register", {"name": "Alex M",
                                                     "email": "alex@example.com"}))
    assert "Check your email" in page
    assert counts(app)[0] == users_before
    assert [r.kind for r in outbox()] == ["already_registered"]


# --- deactivation and rate limits ---------------------------------------------------------


def test_deactivated_client_cannot_sign_in(app, as_therapist, make_client):
    """A client the therapist deactivates is signed out and refused with the generic message."""
    client_user = make_client()
    browser = app.test_client()
    login(browser, client_user.email)
    assert signed_in(browser)

    response = form_post(as_therapist, "/clients/",
                         {"active": "0"}, action=f"/clients/{client_user.id}/access")
    assert response.status_code == 302

    assert not signed_in(browser)
    page = text(login(browser, client_user.email))
    assert generic_failure(page)
    assert not signed_in(browser)


def test_deactivated_client_made_so_directly_cannot_sign_in(client, make_client):
    """An inactive account with the right password is refused."""
    user = make_client(active=False)
    response = login(client, user.email)
    assert response.status_code == 200
    assert generic_failure(text(response))


def test_eleven_quick_wrong_logins_get_429(client, make_client):
    """The eleventh sign-in attempt in a minute from one address gets the 'too many' page."""
    user = make_client()
    for attempt in range(10):
        response = login(client, user.email, f"wrong password {attempt}")
        assert response.status_code == 200, attempt
    response = login(client, user.email)  # even the right password is not tried now
    page = text(response)
    assert response.status_code == 429
    assert "Too many tries" in page
    assert 'class="site-header"' in page
    assert not signed_in(client)

    other = form_post(client, "/auth/login", {"email": "nobody@example.com", "password": "x"},
                      environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 200
