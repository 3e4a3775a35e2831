"""Lockout through the sign-in page: guesses from elsewhere pause sign-ins from new browsers
with a clear message, while a browser that signed in before (its device cookie) and one that
used a reset link still get in; the account holder is emailed."""

from __future__ import annotations

import html

import pytest

from tests.conftest import answer_reset_requests, form_post, link_in, login
from tests.web.test_sessions import signed_in

PAUSED = "signing in from a new device is paused"


@pytest.fixture(autouse=True)
def small_allowance(app):
    """Three failures (the per-address rate limit would stop ten from one test client)."""
    app.config["LOGIN_UNTRUSTED_FAILURES"] = 3
    app.config["LOGIN_DEVICE_FAILURES"] = 3


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def attacker(app, ip="198.51.100.66"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def guess(client, email: str, times: int) -> None:
    for n in range(times):
        assert login(client, email, f"guess number {n}").status_code == 200


def test_guesses_elsewhere_do_not_lock_out_a_known_browser(app, make_client, outbox):
    alex = make_client(email="alex@example.com")
    phone = app.test_client()
    assert login(phone, alex.email).status_code == 302  # the phone is known from now on
    form_post(phone, "/account/", {}, action="/auth/logout")
    assert not signed_in(phone)

    guess(attacker(app), alex.email, 3)

    page = text(login(attacker(app, "203.0.113.5"), alex.email))  # right password, new browser
    assert PAUSED in page and "60 minutes" in page
    assert login(phone, alex.email).status_code == 302
    assert signed_in(phone)
    [mail] = outbox("sign_in_attempts")
    assert mail.to_addr == "alex@example.com"
    assert "/auth/forgot" in link_in(mail.text_body, "/auth/forgot")


def test_the_device_cookie_is_signed(app, make_client):
    alex = make_client(email="alex@example.com")
    guess(attacker(app), alex.email, 3)
    forged = attacker(app, "203.0.113.5")
    forged.set_cookie(app.config["DEVICE_COOKIE_NAME"], f"[[{alex.id},\"anything\"]].sig")
    assert PAUSED in text(login(forged, alex.email))


def test_a_reset_link_vouches_for_its_browser(app, make_client, outbox):
    alex = make_client(email="alex@example.com")
    guess(attacker(app), alex.email, 3)
    laptop = app.test_client()
    form_post(laptop, "/auth/forgot", {"email": alex.email})
    answer_reset_requests(app)
    link = link_in(outbox("reset")[0].text_body, "/auth/reset/")
    new = "lantern over the quiet moor"
    assert form_post(laptop, link, {"password": new, "confirm": new}).status_code == 302
    assert login(laptop, alex.email, new).status_code == 302


def test_signing_in_sets_a_lasting_strict_device_cookie(app, make_client):
    alex = make_client()
    response = login(app.test_client(), alex.email)
    [cookie] = [h for h in response.headers.getlist("Set-Cookie")
                if h.startswith(app.config["DEVICE_COOKIE_NAME"] + "=")]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert f"Max-Age={365 * 24 * 3600}" in cookie


def test_each_account_on_a_shared_browser_keeps_its_entry(app, make_client):
    alex, sam = make_client(), make_client()
    tablet = app.test_client()
    for user in (alex, sam):
        login(tablet, user.email)
        form_post(tablet, "/account/", {}, action="/auth/logout")
    guess(attacker(app), alex.email, 3)
    guess(attacker(app, "198.51.100.67"), sam.email, 3)
    for user in (alex, sam):
        assert login(tablet, user.email).status_code == 302
        form_post(tablet, "/account/", {}, action="/auth/logout")
