"""Security notices, called directly (no HTTP): every change to a user's second factors, a
recovery code used to sign in and code entry paused after wrong codes each queue exactly one
email to the account holder, saying what changed, when in the practice's time zone and from
which device, and what to do if it wasn't them; never a code or a key; a refused attempt
changes nothing and emails nothing; a run of wrong codes emails once however long it goes
on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from portal.models import OutboxMessage, Passkey, Practice, Role, User
from portal.services import passkeys, security_notices, two_factor
from portal.services.errors import InvalidInput
from portal.services.passwords import HashParams, Passwords
from portal.services.secret_box import SecretBox
from tests.conftest import TEST_PASSWORD, TEST_SECRET

# 09:00 UTC is 04:00 in New York on 2 March 2026 (before its clocks change on 8 March).
NOW = datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)
STEP = timedelta(seconds=30)
PHONE = "Chrome on Android"
IP = "203.0.113.77"
WHEN = "When: Mon 2 March 2026, 04:00 (New York time)"
DEVICE = "Device: Chrome on Android (network 203.0.113.0/24)"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(TEST_SECRET)


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(HashParams(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def user(session, passwords) -> User:
    """A client of a practice in New York, with a password and nothing else."""
    session.add(Practice(name="Hudson Sports Massage", timezone="America/New_York",
                         email="desk@hudson.example", phone="212 555 0100"))
    person = User(email="alex@example.com", name="Alex Morgan", role=Role.CLIENT,
                  password_hash=passwords.hash(TEST_PASSWORD), created_at=NOW)
    session.add(person)
    session.flush()
    return person


def notices(session) -> list[OutboxMessage]:
    return list(session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.kind == security_notices.KIND).order_by(OutboxMessage.id)))


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def wrong_at(secret: str, when: datetime) -> str:
    return "123456" if code_at(secret, when) != "123456" else "654321"


def set_up_app(session, box, user) -> tuple[str, list[str]]:
    secret = two_factor.begin_app(session, box, user, NOW)
    codes = two_factor.confirm_app(session, box, user, code=code_at(secret, NOW), now=NOW,
                                   device=PHONE, ip=IP)
    return secret, codes


def assert_no_secret(mail: OutboxMessage, *secrets: str) -> None:
    for secret in secrets:
        for form in {secret, secret.replace("-", ""), " ".join(
                secret[i:i + 4] for i in range(0, len(secret), 4))}:
            assert form not in mail.text_body and form not in mail.html_body


def test_setting_up_the_app_emails_what_when_and_from_which_device(session, box, user):
    secret, codes = set_up_app(session, box, user)

    [mail] = notices(session)
    assert mail.to_addr == "alex@example.com"
    assert mail.subject == "Your Hudson Sports Massage account: an authenticator app was set up"
    text = mail.text_body
    assert text.startswith("Hello Alex,\n\nAn authenticator app was set up")
    assert "Two-factor sign-in is now on." in text
    assert WHEN in text and DEVICE in text
    assert "choose “Sign out everywhere”" in text and "tell the practice" in text
    assert "212 555 0100" in text  # how to reach the practice
    assert WHEN in mail.html_body and "Chrome on Android (network 203.0.113.0/24)" in \
        mail.html_body
    assert_no_secret(mail, secret, *codes)
    assert "http" not in text  # no link to click in a security email


def test_turning_the_app_off_emails_once_and_says_whether_two_factor_stays_on(
        session, box, passwords, user):
    secret, codes = set_up_app(session, box, user)
    at = NOW + 5 * STEP
    with pytest.raises(InvalidInput):
        two_factor.disable_app(session, passwords, box, user, password="not it",
                               code=code_at(secret, at), now=at, device=PHONE, ip=IP)
    assert len(notices(session)) == 1  # refused: nothing changed, nothing to tell

    two_factor.disable_app(session, passwords, box, user, password=TEST_PASSWORD,
                           code=code_at(secret, at), now=at, device=PHONE, ip=IP)

    [_on, off] = notices(session)
    assert off.subject.endswith(": the authenticator app was turned off")
    assert "Two-factor sign-in is now off: your password alone signs you in." in off.text_body
    assert_no_secret(off, secret, *codes)


def test_new_recovery_codes_are_told_without_the_codes(session, box, passwords, user):
    secret, old = set_up_app(session, box, user)
    at = NOW + 5 * STEP

    new = two_factor.renew_recovery_codes(session, passwords, box, user,
                                          password=TEST_PASSWORD, code=code_at(secret, at),
                                          now=at, device=PHONE, ip=IP)

    [_on, renewed] = notices(session)
    assert renewed.subject.endswith(": new recovery codes were made")
    assert "The old ones no longer work." in renewed.text_body
    assert DEVICE in renewed.text_body
    assert_no_secret(renewed, secret, *old, *new)


def test_signing_in_with_a_recovery_code_is_told_with_the_codes_left(session, box, user):
    _secret, codes = set_up_app(session, box, user)
    with pytest.raises(InvalidInput):
        two_factor.sign_in_with_recovery_code(session, box, user, code="abcde-fghjk",
                                              now=NOW, device=PHONE, ip=IP)
    assert len(notices(session)) == 1

    left = two_factor.sign_in_with_recovery_code(session, box, user, code=codes[0], now=NOW,
                                                 device=PHONE, ip=IP)

    assert left == 9
    used = notices(session)[-1]
    assert used.subject.endswith(": a recovery code was used to sign in")
    assert "You have 9 recovery codes left." in used.text_body and DEVICE in used.text_body
    assert_no_secret(used, *codes)


def test_a_run_of_wrong_codes_is_told_once_however_long_it_lasts(session, box, user):
    secret, _codes = set_up_app(session, box, user)
    at = NOW + 10 * STEP
    for _ in range(two_factor.FAILURES_BEFORE_PAUSE - 1):
        with pytest.raises(InvalidInput):
            two_factor.check_code(session, box, user, code=wrong_at(secret, at), now=at,
                                  device=PHONE, ip=IP)
    assert len(notices(session)) == 1  # not paused yet: nothing to tell

    with pytest.raises(InvalidInput):
        two_factor.check_code(session, box, user, code=wrong_at(secret, at), now=at,
                              device=PHONE, ip=IP)
    [_on, paused] = notices(session)
    assert paused.subject.endswith(": wrong sign-in codes were entered")
    assert "entered 5 times" in paused.text_body
    assert "Whoever typed them also knew your password." in paused.text_body
    assert DEVICE in paused.text_body

    # The guessing goes on, pause after ever longer pause (and during them): no more emails.
    when = at
    for _ in range(8):
        when += two_factor.PAUSE_MAX + timedelta(seconds=1)
        with pytest.raises(InvalidInput):
            two_factor.check_code(session, box, user, code=wrong_at(secret, when), now=when)
        with pytest.raises(InvalidInput, match="wait"):
            two_factor.check_code(session, box, user, code=wrong_at(secret, when), now=when)
    assert len(notices(session)) == 2

    # A right code ends the run: the next run of wrong codes is news again.
    when += two_factor.PAUSE_MAX + timedelta(seconds=1)
    two_factor.check_code(session, box, user, code=code_at(secret, when), now=when)
    for _ in range(two_factor.FAILURES_BEFORE_PAUSE):
        with pytest.raises(InvalidInput):
            two_factor.check_code(session, box, user, code=wrong_at(secret, when), now=when)
    assert len(notices(session)) == 3


def test_removing_a_passkey_is_told_with_its_name(session, box, passwords, user):
    secret, codes = set_up_app(session, box, user)
    key = Passkey(user_id=user.id, name="Alex's laptop", credential_id="a2V5",
                  public_key=b"unused here", created_at=NOW)
    session.add(key)
    session.flush()

    passkeys.remove(session, passwords, box, user, key.id, password=TEST_PASSWORD, now=NOW,
                    device=PHONE, ip=IP)

    removed = notices(session)[-1]
    assert removed.subject.endswith(": a passkey was removed")
    assert "The passkey named “Alex's laptop” was removed from your account." in \
        removed.text_body
    assert "Two-factor sign-in stays on with your other second factors." in removed.text_body
    assert "Alex&#39;s laptop" in removed.html_body  # escaped in the HTML part
    assert_no_secret(removed, secret, *codes, "a2V5")


def test_a_reset_by_the_practice_is_told_without_a_device(session, box, user):
    set_up_app(session, box, user)

    two_factor.reset(session, user, now=NOW)

    reset = notices(session)[-1]
    assert reset.subject.endswith(": two-factor sign-in was turned off by the practice")
    assert "By: the practice" in reset.text_body and "Device:" not in reset.text_body
    assert "If you didn't ask the practice for this, contact them at once" in reset.text_body


def test_before_the_practice_exists_the_notice_still_goes(session, box, passwords):
    # A first therapist setting up two-factor on a brand-new install.
    jo = User(email="jo@example.com", name="Jo Fletcher", role=Role.THERAPIST,
              password_hash=passwords.hash(TEST_PASSWORD), created_at=NOW)
    session.add(jo)
    session.flush()

    set_up_app(session, box, jo)

    [mail] = notices(session)
    assert mail.subject == "Your Portal account: an authenticator app was set up"
    assert "When: Mon 2 March 2026, 09:00 (London time)" in mail.text_body
