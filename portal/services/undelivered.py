"""Emails the outbox gave up on ("not delivered"): the therapist's list, and sending them again.

The list shows only what the therapist needs to act: who it was for, the subject, when it was
written, how many attempts and why it failed; never the body, which may hold client details
the page has no reason to repeat. Sending again puts the same row back in the queue with a
fresh retry window (outbox.record_result counts it from requeued_at), to the address it had:
a changed client address is not picked up, so the page says to check it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import OutboxMessage, OutboxStatus, User
from portal.services import audit
from portal.services.errors import NotFound, PermissionDenied

# The page lists the newest ones; the rest are counted ("and 12 older").
LIST_LIMIT = 50
SENT_AGAIN = "email.sent_again"


@dataclass(frozen=True)
class Undelivered:
    """The newest undelivered emails (at most LIST_LIMIT) and how many there are in all."""

    rows: list[OutboxMessage]
    total: int


def _require_therapist(actor: User) -> None:
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can see emails that were not delivered.")


def count(session: Session) -> int:
    """How many emails are marked not delivered (for the dashboard's notice)."""
    return session.scalar(
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.FAILED)
    ) or 0


def listing(session: Session, actor: User, *, limit: int = LIST_LIMIT) -> Undelivered:
    """The undelivered emails, newest first; two queries however many there are."""
    _require_therapist(actor)
    rows = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)
    ))
    total = len(rows) if len(rows) < limit else count(session)
    return Undelivered(rows=rows, total=total)


def send_again(session: Session, actor: User, message_id: int, *, now: datetime,
               ip: str | None = None) -> OutboxMessage | None:
    """Queue one undelivered email again; None when it is already back in the queue or sent
    (a second click, another tab). NotFound when there is no such email."""
    _require_therapist(actor)
    if session.get(OutboxMessage, message_id) is None:
        raise NotFound("There is no such email.")
    requeued = _requeue(session, now=now, message_id=message_id)
    for row in requeued:
        _audit(session, row, actor=actor, now=now, ip=ip)
    return requeued[0] if requeued else None


def send_all_again(session: Session, *, now: datetime) -> int:
    """Queue every undelivered email again (`flask send-outbox --retry-failed`); how many.
    Audited with no actor: whoever runs the command on the server."""
    requeued = _requeue(session, now=now)
    for row in requeued:
        _audit(session, row, actor=None, now=now, ip=None, via="command line")
    return len(requeued)


def _requeue(session: Session, *, now: datetime,
             message_id: int | None = None) -> list[OutboxMessage]:
    """Undelivered rows back to pending, due now, with a fresh window and attempt count.

    The rows are locked first, so two requests sending the same email again change it once
    (PostgreSQL re-reads a locked row's status; SQLite writers queue on BEGIN IMMEDIATE)."""
    query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED)
    if message_id is not None:
        query = query.where(OutboxMessage.id == message_id)
    rows = list(session.scalars(query.order_by(OutboxMessage.id).with_for_update()
                                .execution_options(populate_existing=True)))
    for row in rows:
        row.status = OutboxStatus.PENDING
        row.next_attempt_at = row.requeued_at = now
        row.attempts = 0
        row.claimed_by = None
    session.flush()
    return rows


def _audit(session: Session, row: OutboxMessage, *, actor: User | None, now: datetime,
           ip: str | None, via: str | None = None) -> None:
    # The recipient's own account, when there is one, so it shows in their audit trail.
    recipient = session.scalar(select(User).where(User.email == row.to_addr.lower()))
    audit.record(session, actor=actor, action=SENT_AGAIN, subject=recipient, now=now, ip=ip,
                 email_id=row.id, kind=row.kind, via=via)
