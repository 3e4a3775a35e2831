"""Sessions: stolen cookies die on logout and password change; idle and absolute timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import TEST_PASSWORD, csrf_from, form_post, login

NEW_PASSWORD = "lantern over the quiet moor"
START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


class Clock:
    """A controllable PORTAL_CLOCK: returns an aware UTC time that only moves when told."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(app) -> Clock:
    """The app's clock, frozen at START until a test moves it."""
    app.config["PORTAL_CLOCK"] = clock = Clock(START)
    return clock


@pytest.fixture
def user(make_client):
    """A client who can sign in with TEST_PASSWORD."""
    return make_client()


def session_cookie(app) -> str:
    """The configured session cookie name."""
    return app.config["SESSION_COOKIE_NAME"]


def remember_cookie(app) -> str:
    """The configured remember-me cookie name."""
    return app.config["REMEMBER_COOKIE_NAME"]


def cookie_value(client, name: str) -> str | None:
    """The value of a cookie the client holds, or None."""
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def browser_with(app, **cookies: str):
    """A fresh test client holding only the given cookies (a thief's browser)."""
    browser = app.test_client()
    for name, value in cookies.items():
        browser.set_cookie(name, value)
    return browser


def signed_in(client) -> bool:
    """True when the client's cookies open a signed-in page; False when sent to sign in."""
    response = client.get("/account/")
    if response.status_code == 302:
        assert response.location.startswith("/auth/login")
        return False
    assert response.status_code == 200
    return True


def logout(client):
    """Press "Sign out"."""
    page = client.get("/account/").get_data(as_text=True)
    response = client.post("/auth/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    return response


def sign_in(client, email: str, **kwargs) -> None:
    """Sign in and check it worked."""
    response = login(client, email, **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)


# --- copied cookies -----------------------------------------------------------------------


def test_copied_session_cookie_dies_on_logout(app, user):
    """A session cookie copied before logout is refused afterwards."""
    browser = app.test_client()
    sign_in(browser, user.email)
    thief = browser_with(app, **{session_cookie(app): cookie_value(browser,
                                                                   session_cookie(app))})
    assert signed_in(thief)  # the copy works while the session is live

    logout(browser)

    assert not signed_in(thief)
    assert not signed_in(browser)


def test_copied_session_cookie_dies_on_password_change(app, user):
    """After a password change this browser stays in; a copy taken before does not."""
    browser = app.test_client()
    sign_in(browser, user.email)
    copied = cookie_value(browser, session_cookie(app))
    assert signed_in(browser_with(app, **{session_cookie(app): copied}))

    response = form_post(browser, "/account/password", {
        "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    })
    assert response.status_code == 302

    assert signed_in(browser)
    assert not signed_in(browser_with(app, **{session_cookie(app): copied}))


def test_other_device_is_signed_out_by_password_change(app, user):
    """A second device signed in normally is signed out when the password changes."""
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, user.email)
    sign_in(phone, user.email)
    form_post(laptop, "/account/password", {
        "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    })
    assert signed_in(laptop)
    assert not signed_in(phone)


def test_copied_remember_cookie_dies_on_logout(app, user):
    """A remember-me cookie copied before logout no longer signs anyone in."""
    browser = app.test_client()
    sign_in(browser, user.email, remember=True)
    remembered = cookie_value(browser, remember_cookie(app))
    assert remembered, "remember me should set a cookie"
    assert signed_in(browser_with(app, **{remember_cookie(app): remembered}))

    logout(browser)

    assert not signed_in(browser_with(app, **{remember_cookie(app): remembered}))


def test_logout_removes_the_remember_cookie(app, user):
    """Signing out deletes this browser's remember-me cookie, not just invalidates it."""
    browser = app.test_client()
    sign_in(browser, user.email, remember=True)
    assert cookie_value(browser, remember_cookie(app))
    logout(browser)
    assert cookie_value(browser, remember_cookie(app)) is None


def test_copied_remember_cookie_dies_on_password_change(app, user):
    """A remember-me cookie taken before a password change stops working; the new one works."""
    browser = app.test_client()
    sign_in(browser, user.email, remember=True)
    old = cookie_value(browser, remember_cookie(app))
    form_post(browser, "/account/password", {
        "current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    })
    new = cookie_value(browser, remember_cookie(app))
    assert new and new != old
    assert not signed_in(browser_with(app, **{remember_cookie(app): old}))
    assert signed_in(browser_with(app, **{remember_cookie(app): new}))


# --- timeouts -----------------------------------------------------------------------------


def test_idle_session_is_signed_out(app, clock, user):
    """Activity keeps a session alive; a pause longer than the idle limit ends it."""
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    browser = app.test_client()
    sign_in(browser, user.email)

    for _ in range(3):  # steady use, each gap just under the limit
        clock.advance(seconds=idle.total_seconds() - 60)
        assert signed_in(browser)

    clock.advance(seconds=idle.total_seconds() + 60)
    assert not signed_in(browser)
    page = browser.get("/auth/login").get_data(as_text=True)
    assert "signed out after a period of inactivity" in page
    clock.advance(minutes=1)
    assert not signed_in(browser)  # the old cookie does not come back to life


def test_absolute_timeout_ends_an_active_session(app, clock, user):
    """Even a session in constant use ends after the absolute limit."""
    absolute = app.config["SESSION_ABSOLUTE_TIMEOUT"]
    step = timedelta(minutes=30)
    assert step < app.config["SESSION_IDLE_TIMEOUT"]
    browser = app.test_client()
    sign_in(browser, user.email)

    while clock.now + step < START + absolute:
        clock.advance(minutes=30)
        assert signed_in(browser), clock.now - START

    clock.now = START + absolute + timedelta(minutes=1)
    assert not signed_in(browser)
    page = browser.get("/auth/login").get_data(as_text=True)
    assert "sessions end after a few hours" in page
    assert "inactivity" not in page  # they were active: don't say otherwise


def test_remembered_login_survives_idle_limit(app, clock, user):
    """'Keep me signed in' is exempt from the idle limit (it has its own 30-day cookie)."""
    browser = app.test_client()
    sign_in(browser, user.email, remember=True)
    clock.advance(seconds=app.config["SESSION_IDLE_TIMEOUT"].total_seconds() * 3)
    assert signed_in(browser)


def test_fresh_login_after_timeout_works(app, clock, user):
    """After an idle sign-out the person can sign straight back in."""
    browser = app.test_client()
    sign_in(browser, user.email)
    clock.advance(seconds=app.config["SESSION_IDLE_TIMEOUT"].total_seconds() + 60)
    assert not signed_in(browser)
    sign_in(browser, user.email)
    assert signed_in(browser)


# --- a new session on every login ---------------------------------------------------------


def test_login_issues_a_new_session(app, user):
    """Signing in replaces the session: new cookie value, nothing planted survives."""
    browser = app.test_client()
    browser.get("/auth/login")
    with browser.session_transaction() as planted:
        planted["planted"] = "attacker-chosen"
        planted["_fresh"] = False
    before = cookie_value(browser, session_cookie(app))
    assert before

    sign_in(browser, user.email)

    after = cookie_value(browser, session_cookie(app))
    assert after and after != before
    with browser.session_transaction() as current:
        assert "planted" not in current
        assert current["_fresh"] is True
        assert current["_user_id"].startswith(f"{user.id}:")
    assert signed_in(browser)
    # The planted value itself (the attacker's copy) is still a stranger's session.
    assert not signed_in(browser_with(app, **{session_cookie(app): before}))
