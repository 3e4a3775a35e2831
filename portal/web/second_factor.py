"""The web side of two-factor sign-in, shared by the sign-in and account pages.

- The half-signed-in state: after the right password, someone with two-factor is NOT signed
  in (Flask-Login knows nothing of them). Only a note in their session says who they claim to
  be, for a few minutes, so every page but the second step treats them as a stranger.
- Passkey ceremonies: each challenge is kept in the session, used once, for five minutes.
- The relying party passkeys are made for, from the configuration (or, in development, from
  the address the browser used).
- The rule that a therapist without a second factor can only set one up.
"""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.models import User
from portal.services import passkeys, two_factor
from portal.web import access, sessions, transactions
from portal.web.deps import now, practice
from portal.web.forms import safe_next

PENDING = "pending_sign_in"
CHALLENGES = "passkey_challenges"
CHALLENGE_MAX_AGE = 300  # seconds
LOGIN, SECOND_STEP, REGISTER = "login", "second-step", "register"


# --- the half-signed-in state -------------------------------------------------------------


def begin(user: User, *, remember: bool, next_url: str | None) -> None:
    """The password was right: remember who is signing in, but sign nobody in yet."""
    session.clear()  # nothing from before the password survives (no fixation)
    session[PENDING] = {"user": user.id, "version": user.session_version,
                        "remember": remember, "next": safe_next(next_url) or "",
                        "at": now().timestamp()}


def pending() -> tuple[User, dict] | None:
    """The user half-way through signing in, and their note; None (and the note dropped)
    when there is none, it is too old, or the account changed since (signed out
    everywhere, password reset, deactivated)."""
    note = session.get(PENDING)
    if not isinstance(note, dict):
        return None
    age = now().timestamp() - float(note.get("at", 0))
    limit = current_app.config["SECOND_FACTOR_TIMEOUT"].total_seconds()
    user = db.session.get(User, note.get("user")) if isinstance(note.get("user"), int) else None
    if (not 0 <= age <= limit or user is None or not user.is_active
            or user.session_version != note.get("version")):
        forget()
        return None
    return user, note


def forget() -> None:
    """Drop a half-finished sign-in."""
    session.pop(PENDING, None)


def complete(user: User, note: dict):
    """The second factor was right: sign in for real and go where they were going."""
    sessions.start(user, remember=bool(note.get("remember")))
    return redirect(safe_next(note.get("next")) or url_for("home.index"))


# --- passkey challenges and the relying party ----------------------------------------------


def new_challenge(purpose: str) -> bytes:
    """A challenge for one ceremony, kept in the session until used."""
    challenge = passkeys.new_challenge()
    kept = dict(session.get(CHALLENGES) or {})
    kept[purpose] = {"c": base64.urlsafe_b64encode(challenge).decode(), "at": now().timestamp()}
    session[CHALLENGES] = kept
    return challenge


def take_challenge(purpose: str) -> bytes | None:
    """The challenge for this ceremony, once; None when missing or older than five minutes."""
    kept = dict(session.get(CHALLENGES) or {})
    entry = kept.pop(purpose, None)
    session[CHALLENGES] = kept
    if not isinstance(entry, dict):
        return None
    if not 0 <= now().timestamp() - float(entry.get("at", 0)) <= CHALLENGE_MAX_AGE:
        return None
    try:
        return base64.urlsafe_b64decode(entry["c"])
    except (KeyError, ValueError, TypeError):
        return None


def relying_party() -> passkeys.RelyingParty | None:
    """Who passkeys are for; None when passkeys are off (production without both
    WEBAUTHN_RP_ID and WEBAUTHN_ORIGIN)."""
    config = current_app.config
    rp_id, origin = config["WEBAUTHN_RP_ID"], config["WEBAUTHN_ORIGIN"]
    if not (rp_id and origin):
        if config["PORTAL_ENV"] == "production":
            return None
        origin = request.host_url.rstrip("/")
        rp_id = urlsplit(origin).hostname or ""
    name = practice().name if practice() else "Portal"
    return passkeys.RelyingParty(id=rp_id, name=name, origin=origin.rstrip("/"))


# --- a therapist must have a second factor -----------------------------------------------


def enrolment_needed() -> bool:
    """True when the signed-in user must set up a second factor before anything else (every
    therapist; clients are offered it). Worked out once per request."""
    if "enrolment_needed" not in g:
        try:
            g.enrolment_needed = bool(
                current_user.is_authenticated and current_user.is_therapist
                and not two_factor.is_on(db.session, current_user))
        except SQLAlchemyError:
            # An error page while the database is down still renders (without navigation).
            transactions.mark_failed()
            g.enrolment_needed = True
    return g.enrolment_needed


def require_enrolment():
    """before_request: a therapist without a second factor is sent to set one up from every
    page except that one, its steps, public pages and signing out."""
    if request.endpoint is None or not current_user.is_authenticated:
        return None
    if access.is_open_during_enrolment(current_app, request.endpoint):
        return None
    if enrolment_needed():
        return redirect(url_for("account.two_factor"))
    return None
