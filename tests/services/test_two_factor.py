"""Two-factor sign-in rules, called directly (no HTTP) with explicit times: the authenticator
app, codes accepted once, clock drift, the pause after wrong codes, recovery codes (single use,
stored as keyed hashes), turning the app off and making new codes, and the secret kept
encrypted."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from portal.models import AuditEvent, RecoveryCode, Role, TwoFactor, User
from portal.services import two_factor
from portal.services.errors import Conflict, InvalidInput
from portal.services.passwords import HashParams, Passwords
from portal.services.secret_box import SecretBox, SecretUnreadable
from tests.conftest import TEST_PASSWORD, TEST_SECRET

# A moment in the middle of a 30-second step, so one step either side is exactly +-30 s.
NOW = datetime(2026, 3, 2, 9, 0, 15, tzinfo=UTC)
STEP = timedelta(seconds=30)


@pytest.fixture
def box() -> SecretBox:
    """The test app's keys (derived from its SECRET_KEY)."""
    return SecretBox(TEST_SECRET)


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(HashParams(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def user(session, passwords) -> User:
    """A client with a password and nothing else."""
    person = User(email="alex@example.com", name="Alex Morgan", role=Role.CLIENT,
                  password_hash=passwords.hash(TEST_PASSWORD), created_at=NOW)
    session.add(person)
    session.flush()
    return person


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def set_up_app(session, box, user) -> tuple[str, list[str]]:
    """The app turned on the way the setup page does it; (secret, recovery codes)."""
    secret = two_factor.begin_app(session, box, user, NOW)
    codes = two_factor.confirm_app(session, box, user, code=code_at(secret, NOW), now=NOW)
    return secret, codes


def actions(session, user) -> list[str]:
    return list(session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.subject_user_id == user.id).order_by(AuditEvent.id)))


# --- setting the app up -------------------------------------------------------------------


def test_setting_up_the_app_needs_a_right_code_then_gives_ten_recovery_codes(session, box,
                                                                             user):
    secret = two_factor.begin_app(session, box, user, NOW)
    # A reloaded page shows the same secret (the app may already hold it).
    assert two_factor.begin_app(session, box, user, NOW) == secret
    assert not two_factor.is_on(session, user)

    with pytest.raises(InvalidInput) as wrong:
        two_factor.confirm_app(session, box, user, code="000000"
                               if code_at(secret, NOW) != "000000" else "111111", now=NOW)
    assert wrong.value.field == "code"
    assert not two_factor.is_on(session, user)

    version = user.session_version
    codes = two_factor.confirm_app(session, box, user, code=code_at(secret, NOW), now=NOW,
                                   ip="198.51.100.7")

    assert two_factor.is_on(session, user)
    assert len(codes) == len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    assert user.session_version == version + 1  # other sessions end
    assert actions(session, user) == ["account.two_factor_enabled"]
    with pytest.raises(Conflict):
        two_factor.begin_app(session, box, user, NOW)
    uri = two_factor.setup_uri(secret, account=user.email, issuer="Riverside Sports Massage")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri


def test_the_secret_is_stored_encrypted_and_only_this_key_opens_it(session, box, user):
    secret, _codes = set_up_app(session, box, user)
    stored = session.get(TwoFactor, user.id).totp_secret

    assert secret not in stored
    assert box.open(stored) == secret
    with pytest.raises(SecretUnreadable):
        SecretBox("another-secret-key-of-the-right-length-0123").open(stored)


# --- codes from the app -------------------------------------------------------------------


def test_a_code_is_accepted_once_only(session, box, user):
    secret, _codes = set_up_app(session, box, user)
    later = NOW + 4 * STEP
    code = code_at(secret, later)

    assert two_factor.check_code(session, box, user, code=code, now=later) == two_factor.APP
    with pytest.raises(InvalidInput, match="already been used"):
        two_factor.check_code(session, box, user, code=code, now=later)
    # Nor an older code still inside the window once a newer one was used.
    with pytest.raises(InvalidInput, match="already been used"):
        two_factor.check_code(session, box, user, code=code_at(secret, later - STEP), now=later)
    # The next step's code works.
    following = later + STEP
    assert two_factor.check_code(session, box, user, code=code_at(secret, following),
                                 now=following) == two_factor.APP


def test_one_step_of_clock_drift_either_way_is_allowed_two_are_not(session, box, user):
    secret, _codes = set_up_app(session, box, user)
    at = NOW + 10 * STEP

    for drift in (2, -2):
        code = code_at(secret, at + drift * STEP)
        if code in {code_at(secret, at + d * STEP) for d in (-1, 0, 1)}:
            continue  # a one-in-a-million collision would make this check meaningless
        with pytest.raises(InvalidInput, match="isn't right"):
            two_factor.check_code(session, box, user, code=code, now=at)
    assert two_factor.check_code(session, box, user, code=code_at(secret, at - STEP),
                                 now=at) == two_factor.APP
    assert two_factor.check_code(session, box, user, code=code_at(secret, at + STEP),
                                 now=at) == two_factor.APP


def test_wrong_codes_pause_code_entry_briefly_with_growing_waits(session, box, user):
    secret, _codes = set_up_app(session, box, user)
    at = NOW + 10 * STEP
    wrong = "123456" if code_at(secret, at) != "123456" else "654321"

    for _ in range(two_factor.FAILURES_BEFORE_PAUSE - 1):
        with pytest.raises(InvalidInput, match="isn't right"):
            two_factor.check_code(session, box, user, code=wrong, now=at)
    with pytest.raises(InvalidInput, match="isn't right"):
        two_factor.check_code(session, box, user, code=wrong, now=at)  # the fifth: paused
    row = session.get(TwoFactor, user.id)
    assert row.locked_until == at + timedelta(seconds=30)
    assert "account.two_factor_paused" in actions(session, user)

    # Even the right code waits for the pause to end...
    with pytest.raises(InvalidInput, match="wait a minute"):
        two_factor.check_code(session, box, user, code=code_at(secret, at), now=at)
    # ...another wrong one after it doubles the wait...
    after = at + timedelta(seconds=31)
    with pytest.raises(InvalidInput):
        two_factor.check_code(session, box, user, code=wrong, now=after)
    assert row.locked_until == after + timedelta(seconds=60)
    # ...and the right code afterwards works and clears the count.
    done = after + timedelta(seconds=61)
    assert two_factor.check_code(session, box, user, code=code_at(secret, done),
                                 now=done) == two_factor.APP
    assert (row.failures, row.locked_until) == (0, None)


def test_the_pause_never_exceeds_fifteen_minutes(session, box, user):
    _secret, _codes = set_up_app(session, box, user)
    row = session.get(TwoFactor, user.id)
    row.failures = 40
    at = NOW + 100 * STEP

    with pytest.raises(InvalidInput):
        two_factor.check_code(session, box, user, code="12345x", now=at)

    assert row.locked_until == at + two_factor.PAUSE_MAX
    assert two_factor.paused_message(row.locked_until, at).startswith(
        "Too many wrong codes. For your security, wait 15 minutes")


# --- recovery codes -----------------------------------------------------------------------


def test_a_recovery_code_works_once_however_it_is_typed(session, box, user):
    _secret, codes = set_up_app(session, box, user)
    typed = codes[3].upper().replace("-", " ")

    assert two_factor.check_code(session, box, user, code=typed, now=NOW,
                                 accept=(two_factor.RECOVERY,)) == two_factor.RECOVERY
    with pytest.raises(InvalidInput, match="already been used"):
        two_factor.check_code(session, box, user, code=codes[3], now=NOW,
                              accept=(two_factor.RECOVERY,))

    assert two_factor.recovery_codes_left(session, user) == 9
    used = session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "account.recovery_code_used"))
    assert used.subject_user_id == user.id and used.details == {"left": 9}


def test_recovery_codes_are_kept_as_keyed_hashes_only(session, box, user):
    _secret, codes = set_up_app(session, box, user)
    stored = set(session.scalars(sa.select(RecoveryCode.code_hash).where(
        RecoveryCode.user_id == user.id)))
    plain = [c.replace("-", "") for c in codes]

    assert len(stored) == 10
    assert not stored & set(plain) and not stored & set(codes)
    # Not a plain hash either: without the key, a copy of the table can't test guesses.
    assert not stored & {hashlib.sha256(c.encode()).hexdigest() for c in plain}
    assert stored == {box.keyed_hash(c) for c in plain}
    assert box.keyed_hash(plain[0]) == hmac.new(
        box._hash_key, plain[0].encode(), hashlib.sha256).hexdigest()


def test_new_recovery_codes_need_the_password_and_a_code_and_replace_the_old(session, box,
                                                                            passwords, user):
    secret, old = set_up_app(session, box, user)
    at = NOW + 5 * STEP

    with pytest.raises(InvalidInput) as wrong_password:
        two_factor.renew_recovery_codes(session, passwords, box, user, password="not it",
                                        code=code_at(secret, at), now=at)
    assert wrong_password.value.field == "password"
    with pytest.raises(InvalidInput) as wrong_code:
        two_factor.renew_recovery_codes(session, passwords, box, user, password=TEST_PASSWORD,
                                        code="abcde-fghjk", now=at)
    assert wrong_code.value.field == "code"

    new = two_factor.renew_recovery_codes(session, passwords, box, user,
                                          password=TEST_PASSWORD, code=old[0], now=at)

    assert len(new) == 10 and not set(new) & set(old)
    with pytest.raises(InvalidInput):
        two_factor.check_code(session, box, user, code=old[1], now=at,
                              accept=(two_factor.RECOVERY,))
    assert two_factor.check_code(session, box, user, code=new[0], now=at,
                                 accept=(two_factor.RECOVERY,)) == two_factor.RECOVERY
    assert "account.recovery_codes_renewed" in actions(session, user)


# --- turning it off -----------------------------------------------------------------------


def test_turning_the_app_off_needs_the_password_and_a_code(session, box, passwords, user):
    secret, _codes = set_up_app(session, box, user)
    at = NOW + 5 * STEP

    with pytest.raises(InvalidInput) as wrong_password:
        two_factor.disable_app(session, passwords, box, user, password="not it",
                               code=code_at(secret, at), now=at)
    assert wrong_password.value.field == "password"
    with pytest.raises(InvalidInput) as no_code:
        two_factor.disable_app(session, passwords, box, user, password=TEST_PASSWORD,
                               code="000000" if code_at(secret, at) != "000000" else "111111",
                               now=at)
    assert no_code.value.field == "code"
    assert two_factor.is_on(session, user)

    still_on = two_factor.disable_app(session, passwords, box, user, password=TEST_PASSWORD,
                                      code=code_at(secret, at), now=at)

    assert still_on is False
    assert not two_factor.is_on(session, user)
    assert two_factor.recovery_codes_left(session, user) == 0
    assert session.get(TwoFactor, user.id).totp_secret is None
    assert actions(session, user)[-1] == "account.two_factor_disabled"


def test_reset_turns_everything_off_and_ends_sessions(session, box, user):
    set_up_app(session, box, user)
    version = user.session_version

    two_factor.reset(session, user, now=NOW)

    assert not two_factor.is_on(session, user)
    assert two_factor.recovery_codes_left(session, user) == 0
    assert user.session_version == version + 1
    assert actions(session, user)[-1] == "account.two_factor_reset"
