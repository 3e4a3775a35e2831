"""Two-factor sign-in through the pages: the code step after the password (and what the half
signed-in browser can't do), recovery codes, setting the app up from the account page,
turning it off, new recovery codes, the limits on guessing, and the therapist who must set
it up before anything else."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, TwoFactor, User, utcnow
from portal.services import two_factor
from tests.conftest import (
    TEST_PASSWORD,
    TEST_TOTP_SECRET,
    app_code,
    csrf_from,
    form_post,
    login,
)


def password_step(client, email, *, remember=False, next_url=None):
    """Only the first step: the right password."""
    data = {"email": email, "password": TEST_PASSWORD}
    if remember:
        data["remember"] = "y"
    if next_url:
        data["next"] = next_url
    return form_post(client, "/auth/login", data)


def wrong_code(app, email) -> str:
    right = app_code(app, email)
    return "000000" if right != "000000" else "111111"


def path_of(response) -> str:
    return urlsplit(response.location or "").path


def text(response) -> str:
    return response.get_data(as_text=True)


def audit_actions(app, user) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.subject_user_id == user.id).order_by(AuditEvent.id)))


def recovery_codes_of(html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", html)


@pytest.fixture
def alex(make_client):
    """A client with the authenticator app set up (TEST_TOTP_SECRET)."""
    return make_client(name="Alex Morgan", two_factor=True)


# --- the second step ------------------------------------------------------------------------


def test_after_the_password_the_code_step_and_only_then_signed_in(app, client, alex):
    first = password_step(client, alex.email)
    assert path_of(first) == "/auth/two-factor"

    page = client.get("/auth/two-factor")
    assert "Enter the code from your app" in text(page)
    assert 'autocomplete="one-time-code"' in text(page)
    assert path_of(client.get("/account/")) == "/auth/login"  # not signed in yet

    wrong = form_post(client, "/auth/two-factor", {"code": wrong_code(app, alex.email)})
    assert wrong.status_code == 200
    assert "That code isn&#39;t right" in text(wrong)
    assert path_of(client.get("/account/")) == "/auth/login"

    shape = form_post(client, "/auth/two-factor", {"code": "12ab56"})
    assert "Enter the 6 digits your app shows." in text(shape)

    right = form_post(client, "/auth/two-factor", {"code": app_code(app, alex.email)})
    assert right.status_code == 302 and path_of(right) == "/"
    assert client.get("/account/").status_code == 200
    # The step is over: its page sends a signed-in person on.
    assert path_of(client.get("/auth/two-factor")) == "/auth/login"


def test_keep_me_signed_in_and_the_next_page_are_carried_through(app, client, alex):
    password_step(client, alex.email, remember=True, next_url="/appointments/")
    assert client.get_cookie("portal_remember") is None  # nothing remembered yet

    done = form_post(client, "/auth/two-factor", {"code": app_code(app, alex.email)})

    assert path_of(done) == "/appointments/"
    assert client.get_cookie("portal_remember") is not None


def test_without_keep_me_signed_in_no_cookie_is_left(app, client, alex):
    password_step(client, alex.email)
    form_post(client, "/auth/two-factor", {"code": app_code(app, alex.email)})
    assert client.get_cookie("portal_remember") is None


def test_a_code_used_to_sign_in_is_refused_the_second_time(app, client, alex):
    now = utcnow()
    app.config["PORTAL_CLOCK"] = lambda: now
    code = app_code(app, alex.email)
    password_step(client, alex.email)
    assert form_post(client, "/auth/two-factor", {"code": code}).status_code == 302

    other = app.test_client()
    password_step(other, alex.email)
    replay = form_post(other, "/auth/two-factor", {"code": code})

    assert replay.status_code == 200
    assert "already been used" in text(replay)
    assert path_of(other.get("/account/")) == "/auth/login"


def test_the_half_signed_in_state_expires(app, client, alex):
    start = utcnow()
    app.config["PORTAL_CLOCK"] = lambda: start
    password_step(client, alex.email)
    assert client.get("/auth/two-factor").status_code == 200

    app.config["PORTAL_CLOCK"] = lambda: start + timedelta(minutes=11)
    late = client.get("/auth/two-factor")

    assert path_of(late) == "/auth/login"
    assert "Please sign in again" in text(client.get("/auth/login"))


def test_the_half_signed_in_state_dies_when_the_account_is_signed_out_everywhere(app, client,
                                                                                alex):
    password_step(client, alex.email)
    token = csrf_from(text(client.get("/auth/two-factor")))
    with app.app_context():
        db.session.get(User, alex.id).session_version += 1
        db.session.commit()

    response = client.post("/auth/two-factor",
                           data={"csrf_token": token, "code": app_code(app, alex.email)})
    assert path_of(response) == "/auth/login"
    assert path_of(client.get("/account/")) == "/auth/login"


def test_going_back_to_the_login_page_abandons_the_half_sign_in(app, client, alex):
    password_step(client, alex.email)
    client.get("/auth/login")
    assert path_of(client.get("/auth/two-factor")) == "/auth/login"


def test_without_two_factor_the_password_alone_signs_in(client, make_client):
    plain = make_client()
    assert path_of(password_step(client, plain.email)) == "/"
    assert client.get("/account/").status_code == 200


# --- recovery codes at sign-in ------------------------------------------------------------


@pytest.fixture
def codes(app, alex) -> list[str]:
    """Alex's ten recovery codes."""
    with app.app_context():
        user = db.session.get(User, alex.id)
        issued = two_factor.issue_recovery_codes(db.session, app.extensions["portal.secret_box"],
                                                 user, utcnow())
        db.session.commit()
    return issued


def test_a_recovery_code_signs_in_once(app, client, alex, codes):
    password_step(client, alex.email)
    page = client.get("/auth/two-factor")
    assert 'href="/auth/two-factor/recovery"' in text(page)

    done = form_post(client, "/auth/two-factor/recovery", {"code": codes[0].upper()})

    assert path_of(done) == "/"
    assert "You have 9 codes left" in text(client.get("/"))  # followed by the flash
    assert "account.recovery_code_used" in audit_actions(app, alex)

    again = app.test_client()
    password_step(again, alex.email)
    refused = form_post(again, "/auth/two-factor/recovery", {"code": codes[0]})
    assert refused.status_code == 200
    assert "already been used" in text(refused)
    assert path_of(again.get("/account/")) == "/auth/login"


# --- guessing -------------------------------------------------------------------------------


def test_wrong_codes_pause_the_account_not_just_the_browser(app, client, alex):
    wrong = wrong_code(app, alex.email)
    password_step(client, alex.email)
    for _ in range(two_factor.FAILURES_BEFORE_PAUSE):
        form_post(client, "/auth/two-factor", {"code": wrong})

    # A new browser (a new session, same account) is paused too, even with the right code.
    other = app.test_client()
    password_step(other, alex.email)
    paused = form_post(other, "/auth/two-factor", {"code": app_code(app, alex.email)})

    assert paused.status_code == 200
    assert "Too many wrong codes" in text(paused)
    assert path_of(other.get("/account/")) == "/auth/login"
    assert "account.two_factor_paused" in audit_actions(app, alex)

    # The pause is short: after it the right code works.
    later = utcnow() + timedelta(seconds=31)
    app.config["PORTAL_CLOCK"] = lambda: later
    third = app.test_client()
    password_step(third, alex.email)
    assert form_post(third, "/auth/two-factor",
                     {"code": app_code(app, alex.email)}).status_code == 302


def test_code_attempts_are_rate_limited_per_address(app, client, alex):
    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    password_step(client, alex.email)
    html = client.get("/auth/two-factor").get_data(as_text=True)
    token = csrf_from(html)
    statuses = [client.post("/auth/two-factor", data={"csrf_token": token, "code": "123456"})
                .status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


# --- setting the app up from the account page ----------------------------------------------


def test_a_client_is_offered_two_factor_on_the_account_page(as_client):
    page = text(as_client.get("/account/"))
    assert "Protect your health records" in page
    assert 'href="/account/two-factor"' in page
    # Offered, not forced: every other page still opens.
    assert as_client.get("/appointments/").status_code == 200


def setup_key(html: str) -> str:
    match = re.search(r'<code id="setup-key">([A-Z2-7 ]+)</code>', html)
    assert match, "no key on the setup page"
    return match.group(1).replace(" ", "")


def test_setting_up_the_app_from_the_account_page(app, as_client):
    other_device = app.test_client()
    assert login(other_device, as_client.user.email).status_code == 302

    page = as_client.get("/account/two-factor/app")
    html = text(page)
    secret = setup_key(html)
    svg = re.search(r"<svg .*?</svg>", html, re.S).group(0)
    assert 'role="img"' in svg and "<title>QR code to scan" in svg
    assert "style=" not in svg  # the CSP allows no inline styles
    assert "data:" not in html
    # Reloading shows the same key: the app may hold it already.
    assert setup_key(text(as_client.get("/account/two-factor/app"))) == secret

    wrong = form_post(as_client, "/account/two-factor/app", {"code": "000000" if pyotp.TOTP(
        secret).now() != "000000" else "111111"})
    assert "That code isn&#39;t right" in text(wrong)

    done = form_post(as_client, "/account/two-factor/app", {"code": pyotp.TOTP(secret).now()})

    assert done.status_code == 200
    codes = recovery_codes_of(text(done))
    assert len(codes) == 10
    assert "This is the only time they are shown" in text(done)
    assert "Two-factor sign-in</dt><dd>On" in text(as_client.get("/account/"))
    assert "account.two_factor_enabled" in audit_actions(app, as_client.user)
    # This browser stays in; the other device was signed out.
    assert path_of(other_device.get("/account/")) == "/auth/login"
    # Next time, the password leads to the code step.
    fresh = app.test_client()
    assert path_of(password_step(fresh, as_client.user.email)) == "/auth/two-factor"


def test_turning_the_app_off_needs_the_password_and_a_code(app, client, alex):
    assert login(client, alex.email).status_code == 302

    wrong_password = form_post(client, "/account/two-factor/app/off",
                               {"password": "not my password",
                                "code": app_code(app, alex.email)})
    assert "That is not your current password." in text(wrong_password)
    no_code = form_post(client, "/account/two-factor/app/off", {"password": TEST_PASSWORD})
    assert "Enter a code." in text(no_code)
    bad_code = form_post(client, "/account/two-factor/app/off",
                         {"password": TEST_PASSWORD, "code": wrong_code(app, alex.email)})
    assert "That code isn&#39;t right" in text(bad_code)
    with app.app_context():
        assert two_factor.is_on(db.session, db.session.get(User, alex.id))

    off = form_post(client, "/account/two-factor/app/off",
                    {"password": TEST_PASSWORD, "code": app_code(app, alex.email)})

    assert path_of(off) == "/account/two-factor"
    assert "Two-factor sign-in is off" in text(client.get("/account/two-factor"))
    assert audit_actions(app, alex)[-1] == "account.two_factor_disabled"
    assert path_of(password_step(app.test_client(), alex.email)) == "/"


def test_new_recovery_codes_need_the_password_and_a_code(app, client, alex, codes):
    assert login(client, alex.email).status_code == 302

    refused = form_post(client, "/account/two-factor/recovery-codes",
                        {"password": TEST_PASSWORD, "code": "zzzzz-zzzzz"})
    assert "isn&#39;t right" in text(refused)

    done = form_post(client, "/account/two-factor/recovery-codes",
                     {"password": TEST_PASSWORD, "code": app_code(app, alex.email)})

    new = recovery_codes_of(text(done))
    assert len(new) == 10 and not set(new) & set(codes)
    assert "account.recovery_codes_renewed" in audit_actions(app, alex)


# --- therapists must set it up --------------------------------------------------------------


def test_a_therapist_without_a_second_factor_sets_one_up_first(app, client, make_therapist):
    jo = make_therapist(name="Jo Fletcher", two_factor=False)
    first = password_step(client, jo.email)
    # Signed in (the password is all they have), and every page leads to the setup.
    landing = client.get(first.location, follow_redirects=True)
    assert landing.request.path == "/account/two-factor"
    html = text(landing)
    assert "asks every therapist to sign in with a second step" in html
    assert 'aria-label="Main"' not in html  # no sections to wander into
    assert "Sign out" in html
    assert path_of(client.get("/dashboard/")) == "/account/two-factor"
    assert path_of(client.get("/account/")) == "/account/two-factor"

    secret = setup_key(text(client.get("/account/two-factor/app")))
    done = form_post(client, "/account/two-factor/app", {"code": pyotp.TOTP(secret).now()})
    assert len(recovery_codes_of(text(done))) == 10

    assert client.get("/dashboard/").status_code == 200


def test_therapists_from_the_factory_have_the_app_and_sign_in_with_a_code(app, client,
                                                                          make_therapist):
    jo = make_therapist()
    assert path_of(password_step(client, jo.email)) == "/auth/two-factor"
    with app.app_context():
        row = db.session.get(TwoFactor, jo.id)
        assert app.extensions["portal.secret_box"].open(row.totp_secret) == TEST_TOTP_SECRET


def test_password_and_code_forms_share_the_login_rate_limit(app, client, alex):
    assert login(client, alex.email).status_code == 302
    app.config["RATELIMIT_LOGIN"] = "2 per minute"
    token = csrf_from(text(client.get("/account/two-factor/app/off")))
    statuses = [client.post("/account/two-factor/app/off", data={
        "csrf_token": token, "password": f"guess {n}", "code": "123456"}).status_code
        for n in range(3)]
    assert statuses == [200, 200, 429]
