"""Security notices: a short email to the account holder whenever what protects their account
beyond the password changes, so a change they did not make is noticed the same day.

One email per change, queued in the same transaction as the change (the outbox), saying
what changed, when (in the practice's time zone), from which device (as "Your devices" names
it, with its network) and what to do if it wasn't them. Never a secret: no code, no key, no
link that signs in (a security email must not look like the phishing it warns about).

The changes: the authenticator app set up or turned off, a passkey added or removed, new
recovery codes, a recovery code used to sign in, code entry paused after wrong codes, and
everything turned off by the practice (`flask reset-two-factor`). The pause is told once per
run of wrong codes: the first pause of a run emails, the longer pauses that follow while the
wrong codes go on do not (a right code ends the run), so someone who knows the password and
keeps guessing cannot flood the inbox (at 15 minutes a pause that would be 96 emails a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from portal.models import OutboxMessage, User
from portal.services import devices, emails, outbox, wording
from portal.services import practice as practice_service

KIND = "security_notice"

APP_ON = "app_on"
APP_OFF = "app_off"
PASSKEY_ADDED = "passkey_added"
PASSKEY_REMOVED = "passkey_removed"
RECOVERY_CODES = "recovery_codes"
RECOVERY_SIGN_IN = "recovery_sign_in"
CODES_PAUSED = "codes_paused"
RESET = "reset"

# What to do when the change was not theirs: someone may have the password.
NOT_YOU = ("If it wasn't you, someone else may know your password. Sign in, open your account "
           "page and choose “Sign out everywhere”, then change your password. If you can't "
           "sign in, choose “Forgotten your password?” on the sign-in page: a new password "
           "signs out every device. Then tell the practice (details below), so they can "
           "check your account.")
NOT_YOU_RESET = ("If you didn't ask the practice for this, contact them at once, and choose "
                 "“Forgotten your password?” on the sign-in page to set a new password.")


@dataclass(frozen=True)
class _Change:
    headline: str  # the subject's end: "a passkey was added"
    what: str  # a sentence, formatted with the change's details
    if_you: str = "If this was you, there's nothing else to do."
    not_you: str = NOT_YOU


CHANGES = {
    APP_ON: _Change(
        "an authenticator app was set up",
        "An authenticator app was set up for two-factor sign-in to your account: signing in "
        "now asks for a code from it after your password.{turned_on}"),
    APP_OFF: _Change(
        "the authenticator app was turned off",
        "The authenticator app was turned off for your account.{still}"),
    PASSKEY_ADDED: _Change(
        "a passkey was added",
        "A passkey named “{name}” was added to your account.{turned_on}"),
    PASSKEY_REMOVED: _Change(
        "a passkey was removed",
        "The passkey named “{name}” was removed from your account.{still}"),
    RECOVERY_CODES: _Change(
        "new recovery codes were made",
        "New recovery codes were made for your account. The old ones no longer work."),
    RECOVERY_SIGN_IN: _Change(
        "a recovery code was used to sign in",
        "Someone signed in to your account with one of your recovery codes. {left}"),
    CODES_PAUSED: _Change(
        "wrong sign-in codes were entered",
        "Wrong two-factor codes were entered {failures} times for your account, so entering "
        "codes is paused for a while. Whoever typed them also knew your password.",
        if_you=("If this was you, wait a little, then enter the newest code your app shows "
                "(check that your phone sets its clock automatically).")),
    RESET: _Change(
        "two-factor sign-in was turned off by the practice",
        "The practice turned two-factor sign-in off for your account (as asked when the "
        "authenticator app and recovery codes are lost), and signed it out on every device. "
        "Your password alone now signs you in.",
        if_you="If you asked for this, set up two-factor sign-in again from your account page.",
        not_you=NOT_YOU_RESET),
}

STILL_ON = " Two-factor sign-in stays on with your other second factors."
NOW_OFF = " Two-factor sign-in is now off: your password alone signs you in."
TURNED_ON = " Two-factor sign-in is now on."


@dataclass(frozen=True)
class _Unnamed:
    """Stands in for the practice before its row exists (a new install's first steps)."""

    name: str = "Portal"
    phone: str | None = None
    email: str | None = None
    address: str | None = None


def still(on: bool) -> str:
    """The sentence after removing a factor: whether two-factor sign-in stays on."""
    return STILL_ON if on else NOW_OFF


def turned_on(was_on: bool) -> str:
    """The sentence after adding a factor: two-factor sign-in is on now if it wasn't."""
    return "" if was_on else TURNED_ON


def codes_left(left: int) -> str:
    """How many recovery codes remain, after one was used."""
    if left == 0:
        return "That was the last one: make new ones from your account page."
    return f"You have {left} recovery code{'' if left == 1 else 's'} left."


def notify(session: Session, user: User, change: str, *, now: datetime,
           device: str | None = None, ip: str | None = None, **details: object) -> OutboxMessage:
    """Queue the notice of one change to the user's second factors. `device` is the browser
    that made it as "Your devices" names it (None when the practice made it); `details` fill
    in the change's sentence (a passkey's name, how many codes are left...)."""
    kind = CHANGES[change]
    row = practice_service.current(session)
    practice = row or _Unnamed()
    zone = practice_service.zone_of(row)
    mail = emails.compose(
        KIND, f"Your {practice.name} account: {kind.headline}",
        practice=practice, name=user.first_name, what=kind.what.format(**details),
        when=f"{wording.timestamp(now, zone)} ({wording.zone_place(zone)} time)",
        device=device, network=devices.network_of(ip) if device else None,
        by_practice=change == RESET, if_you=kind.if_you, not_you=kind.not_you,
    )
    return outbox.queue(session, to=user.email, email=mail, kind=KIND, now=now)
