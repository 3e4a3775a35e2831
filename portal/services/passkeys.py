"""Passkeys (WebAuthn, through py_webauthn): registering one, signing in with one (as the
second factor, or alone from the login page), naming and removing them.

The web layer keeps each ceremony's challenge in the user's session and passes it in; the
relying party (its id and origin) comes from the configuration. A passkey used alone must
have verified the user (PIN, fingerprint, face), so it stands for two factors by itself.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from portal.models import Passkey, RecoveryCode, TwoFactor, User
from portal.services import accounts, audit, security_notices, two_factor
from portal.services.errors import InvalidInput, NotFound
from portal.services.passwords import Passwords
from portal.services.secret_box import SecretBox

NAME_MAX = 60
CREDENTIAL_MAX = 64 * 1024  # a browser's answer is a few kilobytes at most
TIMEOUT_MS = 120_000
KNOWN_TRANSPORTS = {t.value for t in AuthenticatorTransport}

NOT_CHECKED = "That passkey could not be checked. Try again, or use another way to sign in."
EXPIRED = "That took too long. Try the passkey again."


@dataclass(frozen=True)
class RelyingParty:
    """Who passkeys are made for: the site's domain (id), its name and its origin."""

    id: str
    name: str
    origin: str


def new_challenge() -> bytes:
    """A fresh random challenge for one ceremony."""
    return secrets.token_bytes(32)


def _descriptors(passkeys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(p.credential_id),
        transports=[AuthenticatorTransport(t) for t in p.transports if t in KNOWN_TRANSPORTS])
        for p in passkeys]


def user_passkeys(session: Session, user: User) -> list[Passkey]:
    """The user's passkeys, oldest first."""
    return list(session.scalars(select(Passkey).where(Passkey.user_id == user.id)
                                .order_by(Passkey.created_at, Passkey.id)))


def registration_options(session: Session, user: User, rp: RelyingParty, *,
                         challenge: bytes, now: datetime) -> str:
    """navigator.credentials.create() options as JSON (binary fields in base64url). The
    passkey is discoverable when the authenticator can, so it can sign in alone later."""
    row = two_factor.ensure_row(session, user, now)
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_name=user.email, user_id=row.webauthn_handle,
        user_display_name=user.name, challenge=challenge, timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=_descriptors(user_passkeys(session, user)),
    )
    return options_to_json(options)


def clean_name(raw: str) -> str:
    """A passkey's name: one line, 1 to NAME_MAX characters."""
    name = " ".join(raw.split())
    if not name:
        raise InvalidInput("name", "Give the passkey a name, like “Jo's phone”.")
    if len(name) > NAME_MAX:
        raise InvalidInput("name", f"Use at most {NAME_MAX} characters.")
    return name


def register(
    session: Session, box: SecretBox, user: User, rp: RelyingParty, *, name: str,
    credential: str, challenge: bytes | None, now: datetime, ip: str | None = None,
    device: str | None = None,
) -> list[str] | None:
    """Store a new passkey from the browser's answer. When it is the user's first second
    factor, returns their new recovery codes (shown once) and ends their other sessions.
    The user is emailed."""
    name = clean_name(name)
    if challenge is None:
        raise InvalidInput(None, EXPIRED)
    if not credential or len(credential) > CREDENTIAL_MAX:
        raise InvalidInput(None, "Your browser did not make a passkey. Try again.")
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(None, "Your browser's new passkey could not be checked. "
                                 "Try again.") from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)):
        raise InvalidInput(None, "This passkey is already registered.")
    was_on = two_factor.is_on(session, user)
    session.add(Passkey(user_id=user.id, name=name, credential_id=credential_id,
                        public_key=verified.credential_public_key,
                        sign_count=verified.sign_count, transports=_transports(credential),
                        created_at=now))
    session.flush()
    audit.record(session, actor=user, subject=user, action="account.passkey_added", now=now,
                 ip=ip, name=name)
    security_notices.notify(session, user, security_notices.PASSKEY_ADDED, now=now,
                            device=device, ip=ip, name=name,
                            turned_on=security_notices.turned_on(was_on))
    if was_on:
        return None
    audit.record(session, actor=user, subject=user, action="account.two_factor_enabled",
                 now=now, ip=ip, method="passkey")
    return two_factor.turned_on(session, box, user, now)


def _transports(credential: str) -> list[str]:
    try:
        found = json.loads(credential).get("response", {}).get("transports") or []
    except (ValueError, AttributeError):
        return []
    return sorted({t for t in found if isinstance(t, str) and t in KNOWN_TRANSPORTS})


def authentication_options(session: Session, rp: RelyingParty, *, challenge: bytes,
                           user: User | None = None) -> str:
    """navigator.credentials.get() options as JSON: for a known user (the second step), their
    passkeys; for nobody yet (the login page), any passkey for this site, verified."""
    options = generate_authentication_options(
        rp_id=rp.id, challenge=challenge, timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(user_passkeys(session, user)) if user else [],
        user_verification=(UserVerificationRequirement.PREFERRED if user
                           else UserVerificationRequirement.REQUIRED),
    )
    return options_to_json(options)


def authenticate(
    session: Session, rp: RelyingParty, *, credential: str, challenge: bytes | None,
    now: datetime, user: User | None = None,
) -> User:
    """The user a passkey answer proves. With `user` (after their password) the passkey must
    be theirs; without (passkey alone) it must have verified the person too."""
    if challenge is None:
        raise InvalidInput(None, EXPIRED)
    if not credential or len(credential) > CREDENTIAL_MAX:
        raise InvalidInput(None, NOT_CHECKED)
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(None, NOT_CHECKED) from exc
    passkey = session.scalar(select(Passkey).where(
        Passkey.credential_id == bytes_to_base64url(parsed.raw_id)))
    if passkey is None or (user is not None and passkey.user_id != user.id):
        raise InvalidInput(None, "That passkey isn't registered here. Sign in with your "
                                 "password, then add it from your account page.")
    owner = session.get(User, passkey.user_id)
    if owner is None or not owner.is_active:
        raise InvalidInput(None, NOT_CHECKED)
    handle = session.scalar(select(TwoFactor.webauthn_handle).where(
        TwoFactor.user_id == owner.id))
    if parsed.response.user_handle is not None and parsed.response.user_handle != handle:
        raise InvalidInput(None, NOT_CHECKED)
    try:
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp.id,
            expected_origin=rp.origin, credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=user is None)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(None, NOT_CHECKED) from exc
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = now
    owner.last_login_at = now
    session.flush()
    return owner


def get_own(session: Session, user: User, passkey_id: int) -> Passkey:
    """One of the user's passkeys; NotFound for anyone else's."""
    passkey = session.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != user.id:
        raise NotFound("That passkey doesn't exist.")
    return passkey


def is_last_factor(session: Session, user: User, passkey: Passkey) -> bool:
    """True when removing this passkey would turn two-factor off."""
    row = session.get(TwoFactor, user.id)
    others = session.scalar(select(func.count()).select_from(Passkey).where(
        Passkey.user_id == user.id, Passkey.id != passkey.id)) or 0
    return not (row and row.totp_on) and others == 0


def remove(
    session: Session, passwords: Passwords, box: SecretBox, user: User, passkey_id: int, *,
    password: str, code: str = "", now: datetime, ip: str | None = None,
    device: str | None = None,
) -> bool:
    """Remove one of the user's passkeys, given the password. Removing the last second factor
    turns two-factor off, which needs a recovery code as well. Returns whether two-factor is
    still on. The user is emailed."""
    passkey = get_own(session, user, passkey_id)
    accounts.check_password(passwords, user, password)
    last = is_last_factor(session, user, passkey)
    if last:
        if not code.strip():
            raise InvalidInput("code", "This passkey is your only second factor: enter a "
                                       "recovery code to turn two-factor sign-in off.")
        two_factor.check_code(session, box, user, code=code, now=now, ip=ip, device=device,
                              accept=(two_factor.RECOVERY,))
    name = passkey.name
    session.delete(passkey)
    if last:
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(session, actor=user, subject=user, action="account.passkey_removed", now=now,
                 ip=ip, name=name)
    if last:
        audit.record(session, actor=user, subject=user, action="account.two_factor_disabled",
                     now=now, ip=ip, method="passkey", still_on=False)
    security_notices.notify(session, user, security_notices.PASSKEY_REMOVED, now=now,
                            device=device, ip=ip, name=name,
                            still=security_notices.still(not last))
    session.flush()
    return not last
