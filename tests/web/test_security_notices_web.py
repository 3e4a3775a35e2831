"""Security notices through the pages: the email names the browser that made the change as
"Your devices" does, with its network, whether it is signed in (the account page) or half-way
through signing in (the code step); one email per change, and one for a run of wrong codes at
the sign-in step, however many follow."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import User, utcnow
from portal.services import security_notices, two_factor
from tests.conftest import TEST_PASSWORD, app_code, form_post, login
from tests.web.test_passkeys_web import add_passkey
from tests.webauthn_support import SoftPasskey

PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36")


def phone(app):
    """A browser on an Android phone, on a network of its own."""
    browser = app.test_client()
    browser.environ_base.update(REMOTE_ADDR="198.51.100.23", HTTP_USER_AGENT=PHONE_UA)
    return browser


@pytest.fixture
def alex(make_client, practice):
    return make_client(name="Alex Morgan", two_factor=True)


def wrong(app, email) -> str:
    return "000000" if app_code(app, email) != "000000" else "111111"


def test_a_recovery_code_used_to_sign_in_is_told_with_the_device(app, alex, outbox):
    with app.app_context():
        codes = two_factor.issue_recovery_codes(db.session, app.extensions["portal.secret_box"],
                                                db.session.get(User, alex.id), utcnow())
        db.session.commit()
    browser = phone(app)
    form_post(browser, "/auth/login", {"email": alex.email, "password": TEST_PASSWORD})

    done = form_post(browser, "/auth/two-factor/recovery", {"code": codes[0]})

    assert done.status_code == 302
    [mail] = outbox(security_notices.KIND)
    assert mail.to_addr == alex.email
    assert mail.subject == "Your Test Practice account: a recovery code was used to sign in"
    assert "Device: Chrome on Android (network 198.51.100.0/24)" in mail.text_body
    assert "You have 9 recovery codes left." in mail.text_body
    assert codes[0] not in mail.text_body and codes[0] not in mail.html_body


def test_wrong_codes_at_sign_in_are_told_once(app, alex, outbox):
    browser = phone(app)
    form_post(browser, "/auth/login", {"email": alex.email, "password": TEST_PASSWORD})
    code = wrong(app, alex.email)
    for _ in range(two_factor.FAILURES_BEFORE_PAUSE + 3):
        page = form_post(browser, "/auth/two-factor", {"code": code})
        assert page.status_code == 200

    assert "Too many wrong codes" in page.get_data(as_text=True)
    [mail] = outbox(security_notices.KIND)
    assert "Wrong two-factor codes were entered 5 times" in mail.text_body
    assert "Device: Chrome on Android (network 198.51.100.0/24)" in mail.text_body


def test_a_passkey_added_from_the_account_page_is_told(app, alex, outbox):
    browser = phone(app)
    assert login(browser, alex.email).status_code == 302

    add_passkey(browser, SoftPasskey(), name="Alex's phone")

    [mail] = outbox(security_notices.KIND)
    assert mail.subject == "Your Test Practice account: a passkey was added"
    assert "A passkey named “Alex's phone” was added to your account." in mail.text_body
    assert "Two-factor sign-in is now on." not in mail.text_body  # the app had it on already
    assert "Device: Chrome on Android (network 198.51.100.0/24)" in mail.text_body


def test_each_change_from_the_account_page_emails_once(app, alex, outbox):
    browser = phone(app)
    assert login(browser, alex.email).status_code == 302

    renewed = form_post(browser, "/account/two-factor/recovery-codes",
                        {"password": TEST_PASSWORD, "code": app_code(app, alex.email)})
    assert renewed.status_code == 200
    off = form_post(browser, "/account/two-factor/app/off",
                    {"password": TEST_PASSWORD, "code": app_code(app, alex.email)})
    assert off.status_code == 302

    subjects = [mail.subject.split(": ", 1)[1] for mail in outbox(security_notices.KIND)]
    assert subjects == ["new recovery codes were made", "the authenticator app was turned off"]
