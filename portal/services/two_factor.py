"""Two-factor sign-in: the authenticator app (TOTP), recovery codes, and the pause after
wrong codes. Passkeys live in portal.services.passkeys and count as a second factor too.

Rules:
- A code from the app is accepted once only: the time step of the last accepted code is
  stored, and a code for that step or an earlier one is refused (no replay in its window).
- One step either side of now is accepted, because phone clocks drift.
- After FAILURES_BEFORE_PAUSE wrong codes (app or recovery) the account's code entry pauses,
  for 30 seconds, then twice as long after each further wrong code, at most 15 minutes. The
  pause is short on purpose: someone who knows the password cannot lock the real user out
  for long, and a passkey still works during it. At 15 minutes a guess every 15 minutes, a
  6-digit code would take years to guess.
- Recovery codes are random (10 characters from 31, about 50 bits), so they are stored as a
  keyed hash (HMAC-SHA256, see secret_box) rather than with argon2: a slow hash adds nothing
  to a random 50-bit secret, while a keyed hash means a copy of the database alone cannot be
  used to test guesses, and a code is found with one indexed query (checking ten argon2
  hashes per attempt would make every wrong guess cost the server about a second).
- Turning the app off, and making new recovery codes, need the password and a code.
- Turning two-factor on ends the user's other sessions, as a password change does.
- Every change to the second factors, a recovery code used to sign in and the first pause
  of a run of wrong codes email the account holder (services/security_notices.py).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from portal.models import Passkey, RecoveryCode, TwoFactor, User
from portal.services import accounts, audit, security_notices
from portal.services.errors import Conflict, InvalidInput
from portal.services.passwords import Passwords
from portal.services.secret_box import SecretBox, SecretUnreadable

STEP_SECONDS = 30
DIGITS = 6
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
RECOVERY_LENGTH = 10
FAILURES_BEFORE_PAUSE = 5
PAUSE_BASE = timedelta(seconds=30)
PAUSE_MAX = timedelta(minutes=15)

APP = "app"
RECOVERY = "recovery"

WRONG_CODE = ("That code isn't right. Enter the newest code your app shows; if it still fails, "
              "check that your phone sets its clock automatically.")
USED_CODE = "That code has already been used. Wait for the next code in your app and enter it."
WRONG_RECOVERY = "That recovery code isn't right, or it has already been used."
NO_APP = "Enter one of your recovery codes (you have no authenticator app set up)."


@dataclass(frozen=True)
class Status:
    """What a user has turned on."""

    app: bool
    app_pending: bool
    passkeys: list[Passkey]
    recovery_left: int

    @property
    def on(self) -> bool:
        return self.app or bool(self.passkeys)


def is_on(session: Session, user: User) -> bool:
    """True when the user has a second factor: the app, or at least one passkey."""
    app = exists().where(TwoFactor.user_id == user.id, TwoFactor.totp_confirmed_at.is_not(None))
    passkey = exists().where(Passkey.user_id == user.id)
    return bool(session.scalar(select(or_(app, passkey))))


def status(session: Session, user: User) -> Status:
    """The user's second factors, for their account page."""
    row = session.get(TwoFactor, user.id)
    passkeys = list(session.scalars(
        select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at,
                                                                   Passkey.id)))
    return Status(app=bool(row and row.totp_on),
                  app_pending=bool(row and row.totp_secret and not row.totp_on),
                  passkeys=passkeys, recovery_left=recovery_codes_left(session, user))


def ensure_row(session: Session, user: User, now: datetime) -> TwoFactor:
    """The user's two-factor row, made on first use."""
    row = session.get(TwoFactor, user.id)
    if row is None:
        row = TwoFactor(user_id=user.id, webauthn_handle=secrets.token_bytes(32),
                        created_at=now)
        session.add(row)
        session.flush()
    return row


# --- the authenticator app --------------------------------------------------------------


def begin_app(session: Session, box: SecretBox, user: User, now: datetime) -> str:
    """The secret to set the app up with: the one already being set up (a reloaded page shows
    the same QR code), or a new one."""
    row = ensure_row(session, user, now)
    if row.totp_on:
        raise Conflict("Your authenticator app is already set up.")
    if row.totp_secret:
        try:
            return box.open(row.totp_secret)
        except SecretUnreadable:
            pass  # made under another key: start again with a new one
    secret = pyotp.random_base32()
    row.totp_secret = box.seal(secret)
    session.flush()
    return secret


def setup_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// address a QR code carries for authenticator apps."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def confirm_app(
    session: Session, box: SecretBox, user: User, *, code: str, now: datetime,
    ip: str | None = None, device: str | None = None,
) -> list[str] | None:
    """Turn the app on once it gives a right code. Returns new recovery codes when the user
    had none left (shown once), else None. Other sessions of the user end; the user is
    emailed. `device` names the browser, as "Your devices" does (for the email)."""
    row = session.get(TwoFactor, user.id)
    if row is None or row.totp_on or not row.totp_secret:
        raise Conflict("Start setting up your authenticator app again.")
    step = _matching_step(_secret(box, row), code, now)
    if step is None:
        raise InvalidInput("code", "That code isn't right. Scan the QR code again (or type "
                                   "the key), then enter the newest code your app shows.")
    was_on = is_on(session, user)
    row.totp_confirmed_at = now
    row.totp_last_step = step
    audit.record(session, actor=user, subject=user, action="account.two_factor_enabled",
                 now=now, ip=ip, method=APP)
    security_notices.notify(session, user, security_notices.APP_ON, now=now, device=device,
                            ip=ip, turned_on=security_notices.turned_on(was_on))
    return turned_on(session, box, user, now)


def turned_on(session: Session, box: SecretBox, user: User, now: datetime) -> list[str] | None:
    """After a second factor was added: new recovery codes if none are left, and every other
    session of the user ends (one made before two-factor must not outlive it)."""
    codes = None if recovery_codes_left(session, user) else issue_recovery_codes(
        session, box, user, now)
    accounts.end_sessions(session, user, now)
    return codes


def enrol_app(session: Session, box: SecretBox, user: User, *, secret: str,
              now: datetime) -> None:
    """Turn the app on with a known secret, without asking for a code: only for the demo
    practice (whose secret is published) and tests, never from a page."""
    row = ensure_row(session, user, now)
    row.totp_secret = box.seal(secret)
    row.totp_confirmed_at = now
    row.totp_last_step = None
    session.flush()


def current_code(secret: str, now: datetime) -> str:
    """The app's code for this moment (for the demo's `flask demo-code` and tests)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(now)


def disable_app(
    session: Session, passwords: Passwords, box: SecretBox, user: User, *, password: str,
    code: str, now: datetime, ip: str | None = None, device: str | None = None,
) -> bool:
    """Turn the app off, given the password and a code (app or recovery). Without passkeys
    two-factor is then off and the recovery codes go too. Returns whether it is still on.
    The user is emailed."""
    accounts.check_password(passwords, user, password)
    row = session.get(TwoFactor, user.id)
    if row is None or not row.totp_on:
        raise Conflict("Your authenticator app is not set up.")
    check_code(session, box, user, code=code, now=now, ip=ip, device=device,
               accept=(APP, RECOVERY))
    row.totp_secret = row.totp_confirmed_at = row.totp_last_step = None
    still_on = is_on(session, user)
    if not still_on:
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(session, actor=user, subject=user, action="account.two_factor_disabled",
                 now=now, ip=ip, method=APP, still_on=still_on)
    security_notices.notify(session, user, security_notices.APP_OFF, now=now, device=device,
                            ip=ip, still=security_notices.still(still_on))
    session.flush()
    return still_on


def reset(session: Session, user: User, *, now: datetime) -> None:
    """Turn every second factor off for a user who lost them all (the practice's command
    line, once it knows who is asking); every session of the user ends, and the user is
    emailed (were it not them who asked, they hear of it)."""
    session.execute(delete(Passkey).where(Passkey.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    row = session.get(TwoFactor, user.id)
    if row is not None:
        row.totp_secret = row.totp_confirmed_at = row.totp_last_step = None
        _succeeded(row)
    accounts.end_sessions(session, user, now)
    audit.record(session, actor=None, subject=user, action="account.two_factor_reset", now=now)
    security_notices.notify(session, user, security_notices.RESET, now=now)
    session.flush()


# --- checking a code ----------------------------------------------------------------------


def check_code(
    session: Session, box: SecretBox, user: User, *, code: str, now: datetime,
    ip: str | None = None, accept: tuple[str, ...] = (APP,), field: str = "code",
    device: str | None = None,
) -> str:
    """Accept a code from the app or a recovery code (as `accept` allows); returns which kind
    it was. A wrong one is counted, and enough of them pause code entry for a while (the
    first pause of a run is emailed to the user): InvalidInput(field) either way. The caller
    keeps the count (keep_writes)."""
    row = ensure_row(session, user, now)
    if row.locked_until is not None and row.locked_until > now:
        raise InvalidInput(field, paused_message(row.locked_until, now))
    digits = "".join(code.split())
    if APP in accept and row.totp_on and digits.isdigit() and len(digits) == DIGITS:
        step = _matching_step(_secret(box, row), digits, now)
        if step is not None and _claim_step(session, row, step):
            _succeeded(row)
            return APP
        message = USED_CODE if step is not None else WRONG_CODE
    elif RECOVERY in accept:
        if _use_recovery_code(session, box, user, code, now, ip):
            _succeeded(row)
            return RECOVERY
        looks_like_app_code = digits.isdigit() and len(digits) == DIGITS
        message = NO_APP if looks_like_app_code and not row.totp_on else WRONG_RECOVERY
    else:
        message = WRONG_CODE
    _failed(session, row, user, now, ip, device)
    raise InvalidInput(field, message)


def paused_message(until: datetime, now: datetime) -> str:
    """What someone is told while code entry is paused."""
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    wait = "a minute" if minutes == 1 else f"{minutes} minutes"
    return (f"Too many wrong codes. For your security, wait {wait} and try again. A passkey "
            "still works meanwhile, if you have one.")


def _secret(box: SecretBox, row: TwoFactor) -> str:
    try:
        return box.open(row.totp_secret or "")
    except SecretUnreadable as exc:
        # The key changed (TWO_FACTOR_KEY or SECRET_KEY replaced): the app can't be checked.
        raise Conflict("Your authenticator app can't be checked right now. Use a recovery "
                       "code or a passkey, and tell the practice.") from exc


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now, one before or one after) whose code this is, or None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == DIGITS):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    found = None
    for step in (current - 1, current, current + 1):
        # Every step is compared (no early exit), in constant time.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _claim_step(session: Session, row: TwoFactor, step: int) -> bool:
    """Record the step as used unless it (or a later one) already was. One UPDATE with the
    check in its WHERE, so two requests racing with one code cannot both win."""
    claimed = session.execute(
        update(TwoFactor)
        .where(TwoFactor.user_id == row.user_id,
               or_(TwoFactor.totp_last_step.is_(None), TwoFactor.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    session.expire(row, ["totp_last_step"])
    return claimed


def _succeeded(row: TwoFactor) -> None:
    row.failures = 0
    row.locked_until = None


def _failed(session: Session, row: TwoFactor, user: User, now: datetime,
            ip: str | None, device: str | None) -> None:
    row.failures += 1
    over = row.failures - FAILURES_BEFORE_PAUSE
    if over >= 0:
        row.locked_until = now + min(PAUSE_MAX, PAUSE_BASE * (2 ** min(over, 16)))
        audit.record(session, actor=None, subject=user, action="account.two_factor_paused",
                     now=now, ip=ip, failures=row.failures)
        if over == 0:
            # The first pause since the last right code: one email for the whole run, not
            # one per (ever longer) pause.
            security_notices.notify(session, user, security_notices.CODES_PAUSED, now=now,
                                    device=device, ip=ip, failures=row.failures)
    session.flush()


# --- recovery codes -----------------------------------------------------------------------


def normalise_recovery(code: str) -> str:
    """A recovery code as stored: lower case, letters and digits only (so "ABCDE-FGHJK",
    "abcde fghjk" and "abcdefghjk" are the same code)."""
    return "".join(ch for ch in code.lower() if ch.isascii() and ch.isalnum())


def recovery_codes_left(session: Session, user: User) -> int:
    """How many unused recovery codes the user has."""
    return session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def issue_recovery_codes(session: Session, box: SecretBox, user: User,
                         now: datetime) -> list[str]:
    """Ten new recovery codes in place of any old ones; the codes are returned once, only
    their keyed hashes are kept."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODE_COUNT:
        codes.add("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH)))
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=box.keyed_hash(code),
                                 created_at=now))
    session.flush()
    half = RECOVERY_LENGTH // 2
    return sorted(f"{code[:half]}-{code[half:]}" for code in codes)


def renew_recovery_codes(
    session: Session, passwords: Passwords, box: SecretBox, user: User, *, password: str,
    code: str, now: datetime, ip: str | None = None, device: str | None = None,
) -> list[str]:
    """New recovery codes (the old ones stop working), given the password and a code. The
    user is emailed (without the codes)."""
    accounts.check_password(passwords, user, password)
    if not is_on(session, user):
        raise Conflict("Turn on two-factor sign-in first.")
    check_code(session, box, user, code=code, now=now, ip=ip, device=device,
               accept=(APP, RECOVERY))
    codes = issue_recovery_codes(session, box, user, now)
    audit.record(session, actor=user, subject=user, action="account.recovery_codes_renewed",
                 now=now, ip=ip)
    security_notices.notify(session, user, security_notices.RECOVERY_CODES, now=now,
                            device=device, ip=ip)
    return codes


def sign_in_with_recovery_code(
    session: Session, box: SecretBox, user: User, *, code: str, now: datetime,
    ip: str | None = None, device: str | None = None,
) -> int:
    """The second step of signing in with a recovery code (spent by this): InvalidInput as
    check_code says when it is wrong. The user is emailed, since a recovery code is what
    someone who has only the password and a stolen sheet of codes would use. Returns how many
    codes are left."""
    check_code(session, box, user, code=code, now=now, ip=ip, device=device,
               accept=(RECOVERY,))
    left = recovery_codes_left(session, user)
    security_notices.notify(session, user, security_notices.RECOVERY_SIGN_IN, now=now,
                            device=device, ip=ip, left=security_notices.codes_left(left))
    return left


def _use_recovery_code(session: Session, box: SecretBox, user: User, code: str,
                       now: datetime, ip: str | None) -> bool:
    """Spend a recovery code; False when it is wrong or already spent. The check is in the
    UPDATE's WHERE, so a code can be spent only once even by two requests at once."""
    plain = normalise_recovery(code)
    if len(plain) != RECOVERY_LENGTH:
        return False
    spent = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == box.keyed_hash(plain),
               RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if spent:
        audit.record(session, actor=user, subject=user, action="account.recovery_code_used",
                     now=now, ip=ip, left=recovery_codes_left(session, user))
    return spent
