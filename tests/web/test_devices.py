"""Signed-in devices: each browser is a row on "Your devices", can be signed out on its own
(session and remember-me cookie alike), and "Sign out everywhere" ends them all. Without
"keep me signed in" the session cookie ends with the browser."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Device
from tests.conftest import csrf_from, login
from tests.web.test_sessions import Clock, browser_with, cookie_value, signed_in

PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36")
LAPTOP_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Version/18.1 Safari/605.1.15")
START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(app) -> Clock:
    app.config["PORTAL_CLOCK"] = clock = Clock(START)
    return clock


def browser(app, user_agent: str, ip: str):
    """A test client that sends this User-Agent from this address."""
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def rows(app, user_id: int) -> list[Device]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(Device).where(Device.user_id == user_id)
                                        .order_by(Device.id)))
        for row in found:
            db.session.expunge(row)
        return found


def devices_section(page: str) -> str:
    match = re.search(r'<section class="card devices".*?</section>', page, re.S)
    assert match, "no 'Your devices' section"
    return match.group(0)


def post_from_account(client, action: str):
    """Press a button on the account page (a POST with its CSRF token)."""
    page = text(client.get("/account/"))
    return client.post(action, data={"csrf_token": csrf_from(page)})


def set_cookie_headers(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


# --- the session cookie -----------------------------------------------------------------


def test_without_keep_me_signed_in_the_cookie_ends_with_the_browser(app, make_client):
    user = make_client()
    response = login(app.test_client(), user.email)
    assert response.status_code == 302
    cookies = set_cookie_headers(response)
    session_cookie = cookies[app.config["SESSION_COOKIE_NAME"]]
    assert "expires" not in session_cookie.lower() and "max-age" not in session_cookie.lower()
    assert app.config["REMEMBER_COOKIE_NAME"] not in cookies


def test_keep_me_signed_in_sets_lasting_cookies(app, make_client):
    user = make_client()
    response = login(app.test_client(), user.email, remember=True)
    cookies = set_cookie_headers(response)
    assert "Expires=" in cookies[app.config["SESSION_COOKIE_NAME"]]
    assert "Expires=" in cookies[app.config["REMEMBER_COOKIE_NAME"]]


# --- the list ---------------------------------------------------------------------------


def test_each_browser_is_listed_with_this_device_marked(app, clock, make_client):
    user = make_client()
    phone = browser(app, PHONE_UA, "203.0.113.77")
    laptop = browser(app, LAPTOP_UA, "2001:db8:1:2::5")
    assert login(phone, user.email, remember=True).status_code == 302
    clock.advance(minutes=5)
    assert login(laptop, user.email).status_code == 302

    section = devices_section(text(laptop.get("/account/")))
    names = [n.strip() for n in re.findall(r'class="device-list__name">([^<]+)', section)]
    assert names == ["Safari on Mac", "Chrome on Android"]  # most recently used first
    assert section.count("This device") == 1
    assert re.search(r"Safari on Mac\s*<span class=\"badge badge--ok\">This device", section)
    assert "203.0.113.0/24" in section and "2001:db8:1::/48" in section
    assert "203.0.113.77" not in section
    assert "Tue 10 March 2026, 09:00" in section  # the phone's sign-in, in London time
    assert "Until the browser closes" in section and "until unused for 30 days" in section
    phone_row, laptop_row = rows(app, user.id)
    assert (phone_row.remember, laptop_row.remember) == (True, False)


def test_a_proxy_address_is_used_only_when_trusted(app, make_client):
    user = make_client()
    app.config["TRUSTED_PROXIES"] = 0
    client = browser(app, PHONE_UA, "10.0.0.1")
    form_page = text(client.get("/auth/login"))
    client.post("/auth/login", data={"csrf_token": csrf_from(form_page), "email": user.email,
                                     "password": "a quiet harbour at dawn"},
                headers={"X-Forwarded-For": "198.51.100.9"})
    assert [row.network for row in rows(app, user.id)] == ["10.0.0.0/24"]


def test_last_seen_is_written_at_most_once_a_minute(app, clock, make_client):
    user = make_client()
    phone = browser(app, PHONE_UA, "203.0.113.77")
    login(phone, user.email)
    clock.advance(seconds=30)
    phone.get("/account/")
    assert rows(app, user.id)[0].last_seen_at == START
    clock.advance(seconds=40)
    phone.environ_base["REMOTE_ADDR"] = "198.51.100.3"  # moved to another network
    phone.get("/account/")
    [row] = rows(app, user.id)
    assert row.last_seen_at == START + timedelta(seconds=70)
    assert row.network == "198.51.100.0/24"


# --- signing out one device ---------------------------------------------------------------


def test_signing_out_another_device_ends_its_session_and_remember_cookie(app, make_client):
    user = make_client()
    phone = browser(app, PHONE_UA, "203.0.113.77")
    laptop = browser(app, LAPTOP_UA, "198.51.100.3")
    login(phone, user.email, remember=True)
    login(laptop, user.email)
    remembered = cookie_value(phone, app.config["REMEMBER_COOKIE_NAME"])
    phone_row = rows(app, user.id)[0]

    response = post_from_account(laptop, f"/account/devices/{phone_row.id}/sign-out")
    assert response.status_code == 302
    assert "Chrome on Android is signed out." in text(laptop.get("/account/"))

    assert not signed_in(phone)
    # The cookies the phone had are dead too (a copy taken earlier, or the phone's own).
    assert not signed_in(browser_with(app, **{app.config["REMEMBER_COOKIE_NAME"]: remembered}))
    assert cookie_value(phone, app.config["REMEMBER_COOKIE_NAME"]) is None
    assert signed_in(laptop)
    assert "Chrome on Android" not in devices_section(text(laptop.get("/account/")))
    assert rows(app, user.id)[0].ended_at is not None


def test_someone_elses_device_cannot_be_signed_out(app, make_client):
    alex, sam = make_client(), make_client()
    alex_browser, sam_browser = app.test_client(), app.test_client()
    login(alex_browser, alex.email)
    login(sam_browser, sam.email)
    sams_device = rows(app, sam.id)[0]
    response = post_from_account(alex_browser, f"/account/devices/{sams_device.id}/sign-out")
    assert response.status_code == 302
    assert "already signed out" in text(alex_browser.get("/account/"))
    assert signed_in(sam_browser)
    assert rows(app, sam.id)[0].ended_at is None


def test_sign_out_sends_clear_site_data_and_keeps_other_devices(app, make_client):
    user = make_client()
    phone, laptop = browser(app, PHONE_UA, "203.0.113.77"), app.test_client()
    login(phone, user.email)
    login(laptop, user.email)
    response = post_from_account(phone, "/auth/logout")
    assert response.status_code == 302
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    assert not signed_in(phone)
    assert signed_in(laptop)
    assert [row.ended_at is not None for row in rows(app, user.id)] == [True, False]


def test_this_device_signs_out_from_its_own_row(app, make_client):
    user = make_client()
    phone = browser(app, PHONE_UA, "203.0.113.77")
    login(phone, user.email)
    row = rows(app, user.id)[0]
    section = devices_section(text(phone.get("/account/")))
    assert 'action="/auth/logout"' in section  # this device's button is the usual sign-out
    response = post_from_account(phone, f"/account/devices/{row.id}/sign-out")
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    assert not signed_in(phone)


def test_sign_out_everywhere_ends_every_device(app, make_client):
    user = make_client()
    phone, laptop = browser(app, PHONE_UA, "203.0.113.77"), app.test_client()
    login(phone, user.email, remember=True)
    login(laptop, user.email)
    remembered = cookie_value(phone, app.config["REMEMBER_COOKIE_NAME"])
    response = post_from_account(laptop, "/account/sign-out-everywhere")
    assert response.status_code == 302 and response.location == "/auth/login"
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    assert "signed out on every device" in text(laptop.get("/auth/login"))
    assert not signed_in(laptop) and not signed_in(phone)
    assert not signed_in(browser_with(app, **{app.config["REMEMBER_COOKIE_NAME"]: remembered}))
    assert all(row.ended_at is not None for row in rows(app, user.id))


def test_a_session_without_a_device_key_is_refused(app, make_client):
    """A session from before devices existed ("id:version") must sign in again."""
    user = make_client()
    client = app.test_client()
    login(client, user.email)
    with client.session_transaction() as session:
        session["_user_id"] = session["_user_id"].rsplit(":", 1)[0]
    assert not signed_in(client)


def test_a_remembered_device_unused_too_long_is_refused(app, clock, make_client):
    """The remember-me cookie carries no date the server checks; the device row does."""
    user = make_client()
    phone = browser(app, PHONE_UA, "203.0.113.77")
    login(phone, user.email, remember=True)
    remembered = cookie_value(phone, app.config["REMEMBER_COOKIE_NAME"])
    clock.advance(days=29)
    assert signed_in(browser_with(app, **{app.config["REMEMBER_COOKIE_NAME"]: remembered}))
    clock.advance(days=31)
    assert not signed_in(browser_with(app, **{app.config["REMEMBER_COOKIE_NAME"]: remembered}))
