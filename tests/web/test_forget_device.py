"""A browser signed out from elsewhere forgets its offline Today: the first request that
arrives with a dead session (a device signed out from "Your devices", everywhere, by a new
password, a deactivated account or a two-factor reset) notes it in the browser's session, and
every page then loads static/js/forget.js until the script reports back; that report is
answered with Clear-Site-Data. A browser that pressed "Sign out" (which cleared the site's
data already), a stranger, and a signed-in user are never told to clear anything. The browser
side is tested in tests/e2e/test_devices_journey.py."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import Role, User, utcnow
from portal.services import accounts, two_factor
from tests.conftest import TEST_PASSWORD, csrf_from, login, static_url
from tests.web.test_devices import LAPTOP_UA, PHONE_UA, browser, post_from_account, rows
from tests.web.test_sessions import browser_with, cookie_value, logout, signed_in

CLEARED = '"cache", "storage"'


@pytest.fixture
def forget_js(app) -> str:
    """How a page loads static/js/forget.js (under its content-hashed name)."""
    return f'src="{static_url(app, "js/forget.js")}" data-forget="/auth/forgotten"'


def text(response) -> str:
    return response.get_data(as_text=True)


def sign_out_phone_from_laptop(app, user, laptop):
    phone_row = rows(app, user.id)[0]
    assert post_from_account(laptop, f"/account/devices/{phone_row.id}/sign-out")\
        .status_code == 302


def sign_out_everywhere_from_laptop(app, user, laptop):
    assert post_from_account(laptop, "/account/sign-out-everywhere").status_code == 302


def new_password_on_laptop(app, user, laptop):
    page = text(laptop.get("/account/password"))
    new = "a brand new passphrase for spring"
    response = laptop.post("/account/password", data={
        "csrf_token": csrf_from(page), "current_password": TEST_PASSWORD,
        "new_password": new, "confirm": new})
    assert response.status_code == 302, text(response)


def deactivated_by_the_practice(app, user, laptop):
    with app.app_context():
        therapist = db.session.scalar(db.select(User).where(User.role == Role.THERAPIST))
        accounts.set_active(db.session, therapist, db.session.get(User, user.id),
                            active=False, now=utcnow())
        db.session.commit()


def two_factor_reset_by_the_practice(app, user, laptop):
    with app.app_context():
        two_factor.reset(db.session, db.session.get(User, user.id), now=utcnow())
        db.session.commit()


@pytest.mark.parametrize("ended", [
    sign_out_phone_from_laptop, sign_out_everywhere_from_laptop, new_password_on_laptop,
    deactivated_by_the_practice, two_factor_reset_by_the_practice,
], ids=lambda ended: ended.__name__)
def test_a_phone_signed_out_elsewhere_is_asked_to_forget_until_it_has(
        app, make_client, make_therapist, forget_js, ended):
    make_therapist()
    alex = make_client(two_factor=True)
    phone = browser(app, PHONE_UA, "203.0.113.77")
    laptop = browser(app, LAPTOP_UA, "198.51.100.3")
    login(phone, alex.email, remember=True)
    login(laptop, alex.email)
    assert forget_js not in text(phone.get("/account/"))

    ended(app, alex, laptop)

    answer = phone.get("/programme/")  # any page: Today, here
    assert answer.status_code == 302 and answer.location.startswith("/auth/login")
    assert cookie_value(phone, app.config["REMEMBER_COOKIE_NAME"]) is None
    login_page = text(phone.get(answer.location))
    assert forget_js in login_page
    # Until the script reports back, every page asks again (it may have been closed at once).
    assert forget_js in text(phone.get("/auth/forgot"))

    done = phone.post("/auth/forgotten", data={"csrf_token": csrf_from(login_page)})

    assert done.status_code == 204
    assert done.headers["Clear-Site-Data"] == CLEARED
    assert forget_js not in text(phone.get("/auth/login"))
    assert not signed_in(phone)


def test_a_dead_remember_me_cookie_alone_is_noticed(app, make_client, forget_js):
    alex = make_client()
    phone, laptop = browser(app, PHONE_UA, "203.0.113.77"), app.test_client()
    login(phone, alex.email, remember=True)
    login(laptop, alex.email)
    remembered = cookie_value(phone, app.config["REMEMBER_COOKIE_NAME"])
    assert post_from_account(laptop, "/account/sign-out-everywhere").status_code == 302

    # The phone's browser was restarted: only its remember-me cookie comes back.
    restarted = browser_with(app, **{app.config["REMEMBER_COOKIE_NAME"]: remembered})

    assert forget_js in text(restarted.get("/auth/login"))
    assert cookie_value(restarted, app.config["REMEMBER_COOKIE_NAME"]) is None


def test_pressing_sign_out_clears_at_once_and_is_not_asked_again(app, make_client, forget_js):
    alex = make_client()
    phone = browser(app, PHONE_UA, "203.0.113.77")
    login(phone, alex.email, remember=True)

    assert logout(phone).headers["Clear-Site-Data"] == CLEARED

    assert forget_js not in text(phone.get("/auth/login"))


def test_only_a_browser_signed_out_elsewhere_is_told_to_clear_its_storage(app, make_client,
                                                                           forget_js):
    stranger = app.test_client()
    page = text(stranger.get("/auth/login"))
    assert forget_js not in page
    answer = stranger.post("/auth/forgotten", data={"csrf_token": csrf_from(page)})
    assert answer.status_code == 204 and "Clear-Site-Data" not in answer.headers
    # A forged cross-site POST can't wipe anyone's kept logs: the CSRF check refuses it.
    assert stranger.post("/auth/forgotten").status_code == 400

    alex = make_client()
    phone = browser(app, PHONE_UA, "203.0.113.77")
    login(phone, alex.email)
    page = text(phone.get("/account/"))
    answer = phone.post("/auth/forgotten", data={"csrf_token": csrf_from(page)})
    assert answer.status_code == 204 and "Clear-Site-Data" not in answer.headers
    assert signed_in(phone)
