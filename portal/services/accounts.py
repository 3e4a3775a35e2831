"""Accounts: therapists, client invitations and registration, login, passwords, sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import ClientErasure, Practice, ResetRequest, Role, User
from portal.services import audit, devices, emails, outbox, throttle
from portal.services import practice as practice_service
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.services.passwords import Passwords, check_policy
from portal.services.tokens import INVITE, RESET, Tokens

LinkFor = Callable[[User], str]

LOGIN_FAILED = (
    "That email and password don't match. Check them and try again, or reset your password."
)


def normalise_email(raw: str, field: str = "email") -> str:
    """A lower-cased, syntax-checked address, or InvalidInput for the field."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(field, "Enter an email address like name@example.com.") from exc
    return result.normalized.lower()


def find_by_email(session: Session, email: str) -> User | None:
    """The user with this address, whatever its case."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def get_practice(session: Session) -> Practice:
    """The practice row; the seed or create-therapist makes it."""
    practice = practice_service.current(session)
    if practice is None:
        raise NotFound("The practice has not been set up yet. Run `flask create-therapist`.")
    return practice


def ensure_practice(session: Session, *, name: str, timezone: str, now: datetime) -> Practice:
    """The practice row, created with the given name and zone when there is none."""
    practice = practice_service.current(session)
    if practice is None:
        practice = Practice(name=name, timezone=timezone, created_at=now, updated_at=now)
        session.add(practice)
        session.flush()
    return practice


def create_therapist(
    session: Session, passwords: Passwords, *, email: str, name: str, password: str,
    now: datetime,
) -> User:
    """A therapist account with a password, ready to sign in."""
    email = normalise_email(email)
    name = _clean_name(name)
    if find_by_email(session, email):
        raise InvalidInput("email", "An account with this email already exists.")
    check_policy(password, email=email)
    user = User(email=email, name=name, role=Role.THERAPIST,
                password_hash=passwords.hash(password), password_changed_at=now,
                created_at=now)
    session.add(user)
    session.flush()
    audit.record(session, actor=None, action="account.therapist_created", subject=user, now=now)
    return user


def invite_client(
    session: Session, actor: User, *, email: str, name: str, link_for: LinkFor,
    now: datetime, ip: str | None = None,
) -> tuple[User, bool]:
    """Create a client without a password and email them a link to set one.

    Inviting an address whose invitation is still unanswered sends a fresh link; the
    second value says whether the account is new.
    """
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can invite clients.")
    email = normalise_email(email)
    name = _clean_name(name)
    existing = find_by_email(session, email)
    if existing is not None:
        if existing.has_password or existing.role is not Role.CLIENT:
            raise InvalidInput("email", "Someone with this email already has an account.")
        user, created = existing, False
        user.name = name
    else:
        user = User(email=email, name=name, role=Role.CLIENT, created_at=now)
        session.add(user)
        created = True
    user.invited_by_id, user.invited_at = actor.id, now
    session.flush()
    practice = get_practice(session)
    mail = emails.compose(
        "invite", f"{practice.name} has invited you to your client portal",
        practice=practice, name=user.first_name, therapist=actor.name, link=link_for(user),
    )
    outbox.queue(session, to=user.email, email=mail, kind="invite", now=now)
    audit.record(session, actor=actor, action="account.invited", subject=user, now=now, ip=ip)
    return user, created


def register_client(
    session: Session, *, email: str, name: str, link_for: LinkFor, reset_link_for: LinkFor,
    now: datetime, ip: str | None = None,
) -> None:
    """Self-registration: email a set-password link; never reveals whether the address is
    already known (an existing account gets a sign-in reminder instead)."""
    practice = get_practice(session)
    if not practice.self_registration:
        raise PermissionDenied("This practice registers new clients by invitation.")
    email = normalise_email(email)
    name = _clean_name(name)
    existing = find_by_email(session, email)
    if existing is not None:
        if existing.active and existing.has_password:
            mail = emails.compose(
                "already_registered", f"Your {practice.name} account",
                practice=practice, name=existing.first_name, link=reset_link_for(existing),
            )
            outbox.queue(session, to=existing.email, email=mail, kind="already_registered",
                         now=now)
        elif existing.active:
            _queue_set_password(session, practice, existing, link_for(existing), now)
        return
    user = User(email=email, name=name, role=Role.CLIENT, created_at=now)
    session.add(user)
    session.flush()
    _queue_set_password(session, practice, user, link_for(user), now)
    audit.record(session, actor=None, action="account.registered", subject=user, now=now, ip=ip)


def _queue_set_password(session: Session, practice: Practice, user: User, link: str,
                        now: datetime) -> None:
    mail = emails.compose(
        "register", f"Finish joining {practice.name}",
        practice=practice, name=user.first_name, link=link,
    )
    outbox.queue(session, to=user.email, email=mail, kind="register", now=now)


def authenticate(
    session: Session, passwords: Passwords, *, email: str, password: str, now: datetime,
    guard: throttle.Guard | None = None, ip: str | None = None,
) -> User:
    """The user for a correct email and password; InvalidInput with one generic message
    otherwise. Failures are counted per bucket (services/throttle.py): a browser that has
    signed in before keeps its own allowance, so guesses from elsewhere never lock the
    account holder out of it."""
    guard = guard or throttle.Guard()
    user = find_by_email(session, email)
    bucket = throttle.bucket_for(email, user.id if user else None, guard)
    counter = throttle.hold(session, bucket, now)
    if throttle.paused(counter, now):
        passwords.verify(None, password)  # same cost as a real attempt
        raise InvalidInput(None, throttle.paused_message(counter, bucket, now))
    ok = passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        now_paused = throttle.failed(counter, bucket, guard.limits.window, now)
        if now_paused and not bucket.trusted and user is not None and user.is_active:
            audit.record(session, actor=None, action="account.login_paused", subject=user,
                         now=now, ip=ip, failures=bucket.limit)
            if throttle.should_alert(counter, guard.limits.alert_every, now):
                _queue_attack_alert(session, user, guard, now)
        session.flush()
        raise InvalidInput(None, LOGIN_FAILED)
    if bucket.trusted:
        throttle.forgive(counter)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
    user.last_login_at = now
    session.flush()
    return user


def _queue_attack_alert(session: Session, user: User, guard: throttle.Guard,
                        now: datetime) -> None:
    """Tell the account holder that wrong passwords are being tried (no link that signs in:
    an alert must not look like the phishing it warns about)."""
    practice = get_practice(session)
    window = round(guard.limits.window / timedelta(minutes=1))
    mail = emails.compose(
        "sign_in_attempts", f"Someone is trying to sign in to your {practice.name} account",
        practice=practice, name=user.first_name, attempts=guard.limits.untrusted,
        window=f"{window} minutes" if window != 60 else "an hour",
        forgot_url=guard.forgot_url,
    )
    outbox.queue(session, to=user.email, email=mail, kind="sign_in_attempts", now=now)


def accept_link(
    session: Session, passwords: Passwords, tokens: Tokens, *, purpose: str, token: str,
    password: str, max_age: timedelta, now: datetime, ip: str | None = None,
) -> User:
    """Set a password from an invitation or reset link; the link is then spent."""
    user = tokens.resolve(session, purpose, token, max_age)
    check_policy(password, email=user.email)
    _set_password(session, user, passwords, password, now)
    audit.record(session, actor=user, subject=user, now=now, ip=ip,
                 action="account.invite_accepted" if purpose == INVITE else "account.reset")
    session.flush()
    return user


def request_password_reset(
    session: Session, *, email: str, reset_url: str, invite_url: str, now: datetime,
) -> None:
    """Note that a reset link was asked for; the outbox sender answers it later
    (answer_reset_requests). Nothing here depends on whether the address has an account: the
    same row is stored, no email is built, so the answer takes the same time either way. A
    malformed address is InvalidInput: saying so reveals nothing, and "check your email"
    would never come true. The URLs are the links without their token."""
    email = normalise_email(email)
    session.add(ResetRequest(email=email, reset_url=reset_url, invite_url=invite_url,
                             requested_at=now))
    session.flush()


def answer_reset_requests(session: Session, tokens: Tokens, *, now: datetime,
                          batch: int = 50) -> int:
    """Email a reset link for each waiting request whose address has an active account (a
    fresh invitation link when the password was never set), and forget every request;
    returns how many were answered. Safe on several senders at once: each claims its rows
    (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises)."""
    requests = list(session.scalars(
        select(ResetRequest).order_by(ResetRequest.id).limit(batch)
        .with_for_update(skip_locked=True)
    ))
    for request in requests:
        user = find_by_email(session, request.email)
        if user is not None and user.active:
            practice = get_practice(session)
            if not user.has_password:
                # An invitation never answered: send a fresh invitation link instead.
                link = request.invite_url + tokens.make(INVITE, user)
                _queue_set_password(session, practice, user, link, now)
            else:
                mail = emails.compose(
                    "reset", f"Reset your {practice.name} password", practice=practice,
                    name=user.first_name, link=request.reset_url + tokens.make(RESET, user),
                )
                outbox.queue(session, to=user.email, email=mail, kind="reset", now=now)
        session.delete(request)
    session.flush()
    return len(requests)


def change_password(
    session: Session, passwords: Passwords, user: User, *, current: str, new: str,
    now: datetime, ip: str | None = None,
) -> None:
    """Change a signed-in user's password; every other session is signed out."""
    check_password(passwords, user, current, field="current_password")
    if current == new:
        raise InvalidInput("new_password", "Choose a password different from the current one.")
    check_policy(new, email=user.email, field="new_password")
    _set_password(session, user, passwords, new, now)
    audit.record(session, actor=user, subject=user, action="account.password_changed",
                 now=now, ip=ip)
    session.flush()


def check_password(passwords: Passwords, user: User, password: str, *,
                   field: str = "password") -> None:
    """InvalidInput(field) unless this is the signed-in user's password (asked again before a
    change that matters, so an unattended browser is not enough)."""
    if not passwords.verify(user.password_hash, password):
        raise InvalidInput(field, "That is not your current password.")


def end_sessions(session: Session, user: User, now: datetime) -> None:
    """Sign out every device: every session and remember-me cookie the user holds dies."""
    user.session_version += 1
    devices.end_all(session, user, now)
    session.flush()


def set_active(session: Session, actor: User, client: User, *, active: bool, now: datetime,
               ip: str | None = None) -> None:
    """Deactivate (or reactivate) a client; a deactivated client cannot sign in."""
    if not actor.is_therapist or not client.is_client:
        raise PermissionDenied("Only a therapist can change a client's access.")
    if client.active == active:
        return
    if active and session.scalar(select(ClientErasure.id)
                                 .where(ClientErasure.client_id == client.id)):
        raise Conflict("This account was erased, so it can't be turned back on. The client "
                       "can register or be invited again as a new client.")
    client.active = active
    client.session_version += 1
    devices.end_all(session, client, now)
    audit.record(session, actor=actor, subject=client, now=now, ip=ip,
                 action="account.reactivated" if active else "account.deactivated")
    session.flush()


def _set_password(session: Session, user: User, passwords: Passwords, password: str,
                  now: datetime) -> None:
    user.password_hash = passwords.hash(password)
    user.password_changed_at = now
    # Every device signed in with the old password is signed out.
    user.session_version += 1
    devices.end_all(session, user, now)


def _clean_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise InvalidInput("name", "Enter a name.")
    if len(name) > 120:
        raise InvalidInput("name", "Use at most 120 characters.")
    return name


__all__ = [
    "INVITE",
    "RESET",
    "accept_link",
    "answer_reset_requests",
    "authenticate",
    "change_password",
    "check_password",
    "create_therapist",
    "end_sessions",
    "ensure_practice",
    "find_by_email",
    "get_practice",
    "invite_client",
    "normalise_email",
    "register_client",
    "request_password_reset",
    "set_active",
]
