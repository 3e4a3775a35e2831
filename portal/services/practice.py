"""The practice's own settings."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Practice, User
from portal.services import audit
from portal.services.errors import InvalidInput, PermissionDenied

# The product's default zone, and the one used while the practice's own is unknown.
DEFAULT_ZONE = "Europe/London"
# The longest value each text setting may have (the column sizes), for the form and here.
LENGTHS = {"name": 120, "email": 254, "phone": 40, "address": 300, "intro": 5000}
NAME_REQUIRED = "Enter the practice name."
ZONE_MESSAGE = "Choose a time zone from the list."
EMAIL_MESSAGE = "Enter an email like name@example.com."
# The field's hint shows an example; the messages say only what is wrong.
PHONE_CHARACTERS = "Enter a phone number using only digits, spaces, +, brackets and hyphens."
PHONE_DIGITS = "Enter a phone number with 7 to 15 digits."
# A plus only in front, then digits, spaces, brackets and hyphens.
_PHONE = re.compile(r"\+?[0-9 ()\-]*")
# The shape of an address, not a full RFC check: the form's Email validator is the strict one;
# this stops a forged value reaching the database that no form would have passed.
_EMAIL = re.compile(r"[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+")


def too_long(field: str) -> str:
    """The message for a value over its length."""
    return f"Use at most {LENGTHS[field]} characters."


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every IANA zone key the system knows (read once: it scans the zone files)."""
    return frozenset(available_timezones())


def zone_problem(value: object) -> str | None:
    """Why a time zone can't be used (it must be an IANA key the system knows), or None."""
    if not isinstance(value, str) or value not in known_zones():
        return ZONE_MESSAGE
    return None


def phone_problem(value: str) -> str | None:
    """Why a phone number doesn't look like one, or None (blank is fine: it is optional)."""
    value = value.strip()
    if not value:
        return None
    if len(value) > LENGTHS["phone"]:
        return too_long("phone")
    if not _PHONE.fullmatch(value):
        return PHONE_CHARACTERS
    if not 7 <= sum(ch.isdigit() for ch in value) <= 15:
        return PHONE_DIGITS
    return None


def current(session: Session) -> Practice | None:
    """The practice row, or None before the first therapist or seed creates it."""
    return session.scalar(select(Practice).order_by(Practice.id).limit(1))


def zone_of(practice: Practice | None) -> ZoneInfo:
    """The practice's time zone: the one place every page, email and rule reads it from.

    Europe/London, the product's default, stands in before the practice row exists and for a
    stored key this system does not know (a zone database without it, or a hand-edited row),
    so a page still renders rather than failing on ZoneInfoNotFoundError."""
    if practice is not None:
        try:
            return ZoneInfo(practice.timezone)
        except (ZoneInfoNotFoundError, ValueError):  # ValueError: not even a key's shape
            pass
    return ZoneInfo(DEFAULT_ZONE)


def zone(session: Session) -> ZoneInfo:
    """The time zone of the session's practice (see zone_of for the fallback)."""
    return zone_of(current(session))


def _text(value: str | None, field: str) -> str | None:
    """A stripped optional text setting, None when blank; InvalidInput when too long or
    holding a NUL (which PostgreSQL cannot store)."""
    value = (value or "").strip()
    if "\x00" in value:
        raise InvalidInput(field, "Remove the invisible control characters.")
    if len(value) > LENGTHS[field]:
        raise InvalidInput(field, too_long(field))
    return value or None


def update(
    session: Session, actor: User, practice: Practice, *, name: str | None, email: str | None,
    phone: str | None, address: str | None, timezone: str | None, self_registration: bool,
    now: datetime, ip: str | None = None, intro: str | None = None,
) -> None:
    """Save the practice settings after checking each again (a form can be bypassed); the
    audit row names who changed which settings, from where, with old and new values. The
    front page's introduction (Markdown) is left as it is when `intro` is None."""
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can change practice settings.")
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("name", NAME_REQUIRED)
    name = _text(name, "name")
    email = _text(email, "email")
    if email is not None:
        email = email.lower()
        if not _EMAIL.fullmatch(email):
            raise InvalidInput("email", EMAIL_MESSAGE)
    phone = _text(phone, "phone")
    if phone is not None and (problem := phone_problem(phone)):
        raise InvalidInput("phone", problem)
    address = _text(address, "address")
    if problem := zone_problem(timezone):
        raise InvalidInput("timezone", problem)
    values = {
        "name": name, "email": email, "phone": phone, "address": address,
        "timezone": timezone, "self_registration": bool(self_registration),
    }
    if intro is not None:
        values["intro"] = _text(intro.replace("\r\n", "\n"), "intro") or ""
    changed = {key: [getattr(practice, key), value] for key, value in values.items()
               if getattr(practice, key) != value}
    for key, (_old, new) in changed.items():
        setattr(practice, key, new)
    if changed:
        practice.updated_at = now
        # The introduction is named, not copied: a few paragraphs twice over say nothing more.
        audit.record(session, actor=actor, action="practice.updated", now=now, ip=ip,
                     fields=sorted(changed),
                     changes={k: v for k, v in changed.items() if k != "intro"})
    session.flush()
