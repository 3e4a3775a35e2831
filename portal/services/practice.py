"""The practice's own settings."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Practice, User
from portal.services import audit
from portal.services.errors import InvalidInput, PermissionDenied


def current(session: Session) -> Practice | None:
    """The practice row, or None before the first therapist or seed creates it."""
    return session.scalar(select(Practice).order_by(Practice.id).limit(1))


def update(
    session: Session, actor: User, practice: Practice, *, name: str, email: str | None,
    phone: str | None, address: str | None, timezone: str, self_registration: bool,
    now: datetime, ip: str | None = None,
) -> None:
    """Save the practice settings after checking the rules a form cannot."""
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can change practice settings.")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("timezone", "Choose a time zone from the list.") from exc
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("name", "Enter the practice name.")
    changed = {}
    values = {
        "name": name, "email": (email or "").strip().lower() or None,
        "phone": (phone or "").strip() or None, "address": (address or "").strip() or None,
        "timezone": timezone, "self_registration": bool(self_registration),
    }
    for key, value in values.items():
        if getattr(practice, key) != value:
            changed[key] = value
            setattr(practice, key, value)
    if changed:
        practice.updated_at = now
        audit.record(session, actor=actor, action="practice.updated", now=now, ip=ip,
                     fields=sorted(changed))
    session.flush()
