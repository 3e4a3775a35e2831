"""Writing audit rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from portal.models import AuditEvent, User


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    now: datetime,
    subject: User | None = None,
    ip: str | None = None,
    **details: object,
) -> AuditEvent:
    """Append one audit row; never updates or deletes."""
    event = AuditEvent(
        at=now,
        actor_id=actor.id if actor else None,
        subject_user_id=subject.id if subject else None,
        action=action,
        ip=ip,
        details={k: v for k, v in details.items() if v is not None},
    )
    session.add(event)
    return event
