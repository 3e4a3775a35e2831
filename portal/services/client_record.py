"""One client's record as the therapist reads it: the record with adherence over time and
session notes, the client's audit trail, and the whole record as a file, which the client
downloads too ("Download my data"), with the practice's views of it ("Who has seen my
record"). Every function runs a fixed number of queries however many appointments, notes and
logs the client has.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased, contains_eager, joinedload

from portal.models import (
    Appointment,
    AuditEvent,
    ClientErasure,
    CompletionLog,
    IntakeForm,
    Message,
    MessageThread,
    MomentTime,
    Programme,
    ProgrammeItem,
    ProgrammeShare,
    ProgrammeVersion,
    Role,
    SessionNote,
    User,
)
from portal.services import adherence, audit
from portal.services import intake as intake_service
from portal.services import practice as practice_service
from portal.services import programmes as programme_service
from portal.services.clients import require_therapist
from portal.services.errors import NotFound

AUDIT_PAGE_SIZE = 50
CHART_WEEKS = 8
RECENT_FEEDBACK = 20


# --- the record -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientRecord:
    """Everything the therapist reads about one client."""

    client: User
    intakes: list[IntakeForm]
    appointments: list[Appointment]
    versions: list[ProgrammeVersion]
    weeks: list[adherence.Week]
    feedback: list[CompletionLog]
    pain_open: int = 0
    red_flag_questions: dict[str, str] = field(default_factory=dict)
    # Private session notes by appointment id, oldest first.
    notes: dict[int, list[SessionNote]] = field(default_factory=dict)
    # Each appointment's local date in the practice's zone, for links to the diary's days.
    days: dict[int, date] = field(default_factory=dict)
    # Set when the client's account was erased: the records stay until its retain_until.
    erasure: ClientErasure | None = None

    @property
    def current_intake(self) -> IntakeForm | None:
        """The newest questionnaire, if any."""
        return self.intakes[0] if self.intakes else None

    @property
    def current_version(self) -> ProgrammeVersion | None:
        """The newest programme version, if any."""
        return self.versions[0] if self.versions else None

    @property
    def consent_current(self) -> bool:
        """True when the newest consent is to the current consent text."""
        latest = self.current_intake
        return latest is not None and latest.consent_version == intake_service.CONSENT_VERSION


def get_client(session: Session, actor: User, client_id: int) -> User:
    """A client by id for a therapist, or NotFound (unknown id, or not a client)."""
    require_therapist(actor)
    client = session.get(User, client_id)
    if client is None or not client.is_client:
        raise NotFound("There is no such client.")
    return client


def _erasure(session: Session, client: User) -> ClientErasure | None:
    return session.scalar(select(ClientErasure).where(ClientErasure.client_id == client.id))


def session_notes(session: Session, client: User) -> dict[int, list[SessionNote]]:
    """Every session note on the client's appointments with its author, by appointment id,
    oldest first (one query)."""
    notes: dict[int, list[SessionNote]] = defaultdict(list)
    for note in session.scalars(
        select(SessionNote).join(Appointment, SessionNote.appointment_id == Appointment.id)
        .where(Appointment.client_id == client.id)
        .order_by(SessionNote.created_at, SessionNote.id)
    ):
        notes[note.appointment_id].append(note)
    return dict(notes)


def client_record(session: Session, actor: User, client: User, now: datetime, *,
                  ip: str | None = None) -> ClientRecord:
    """The client's record, and an audit row saying the actor read it. Ten queries and an
    insert, however many appointments, notes and logs the client has."""
    require_therapist(actor)
    zone = practice_service.zone(session)
    today = now.astimezone(zone).date()
    appointments = list(session.scalars(
        select(Appointment).where(Appointment.client_id == client.id)
        .order_by(Appointment.starts_at.desc(), Appointment.id.desc())
    ).unique())
    weeks = adherence.weekly(session, zone, today, CHART_WEEKS, [client.id]).get(client.id)
    if weeks is None:
        weeks = [adherence.Week(start=start, prescribed=0, done=0)
                 for start in adherence.week_starts(today, CHART_WEEKS)]
    feedback = list(session.scalars(
        select(CompletionLog).where(CompletionLog.client_id == client.id)
        .options(joinedload(CompletionLog.exercise))
        .order_by(CompletionLog.logged_at.desc(), CompletionLog.id.desc())
        .limit(RECENT_FEEDBACK)
    ))
    pain_open = session.scalar(
        select(func.count()).select_from(CompletionLog)
        .where(CompletionLog.client_id == client.id, CompletionLog.pain,
               CompletionLog.pain_acknowledged_at.is_(None))) or 0
    record = ClientRecord(
        client=client, intakes=intake_service.history(session, client),
        appointments=appointments,
        versions=programme_service.version_history(session, client), weeks=weeks,
        feedback=feedback, pain_open=pain_open,
        red_flag_questions={f.key: f.question for f in intake_service.RED_FLAGS},
        notes=session_notes(session, client),
        days={a.id: a.starts_at.astimezone(zone).date() for a in appointments},
        erasure=_erasure(session, client),
    )
    audit.record(session, actor=actor, subject=client, action="client.record_viewed",
                 now=now, ip=ip)
    session.flush()
    return record


# --- the audit trail ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    """One audit event with who did it (None: the system or a deleted account)."""

    event: AuditEvent
    actor_name: str | None
    actor_email: str | None


@dataclass(frozen=True)
class AuditPage:
    """One page of a client's audit trail, newest first."""

    rows: list[AuditRow]
    page: int
    pages: int
    total: int


def audit_trail(session: Session, actor: User, client: User, page: int,
                per_page: int = AUDIT_PAGE_SIZE) -> AuditPage:
    """The audit rows about the client, newest first, one page (a page past the end shows
    the last one). Two queries."""
    require_therapist(actor)
    return _audit_page(session, [AuditEvent.subject_user_id == client.id], page, per_page)


# What the practice does that counts as seeing a client's record, in the client's words.
PRACTICE_VIEWS = {
    "client.record_viewed": "Opened your record",
    "client.exported": "Downloaded your whole record",
    "message_thread.read": "Read a conversation with you",
}


def record_views(session: Session, actor: User, client: User, page: int,
                 per_page: int = AUDIT_PAGE_SIZE) -> AuditPage:
    """Each time someone at the practice opened or downloaded the client's record, newest
    first, one page, for the client ("Who has seen my record"). The client's own downloads
    are not views by the practice. Two queries."""
    if actor.id != client.id:
        require_therapist(actor)
    return _audit_page(session, [AuditEvent.subject_user_id == client.id,
                                 AuditEvent.action.in_(PRACTICE_VIEWS),
                                 AuditEvent.actor_id.is_not(None),
                                 AuditEvent.actor_id != client.id], page, per_page)


def _audit_page(session: Session, conditions: list, page: int, per_page: int) -> AuditPage:
    """One page of the audit rows matching the conditions, newest first, with who did each
    (a page past the end shows the last one). Two queries."""
    total = session.scalar(select(func.count()).select_from(AuditEvent)
                           .where(*conditions)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    who = aliased(User)
    result = session.execute(
        select(AuditEvent, who.name, who.email)
        .outerjoin(who, who.id == AuditEvent.actor_id)
        .where(*conditions)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    )
    rows = [AuditRow(event=event, actor_name=name, actor_email=email)
            for event, name, email in result]
    return AuditPage(rows=rows, page=page, pages=pages, total=total)


# --- the export -----------------------------------------------------------------------------

EXPORT_FORMAT = "portal.client-record"
EXPORT_VERSION = 1


def _utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _local(value: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 in the practice's zone, with its offset, or None."""
    return None if value is None else value.astimezone(zone).isoformat()


def _feedback_of(log: CompletionLog) -> dict[str, str]:
    return {side: value.value for side, value in log.feedback_by_side.items()}


def export_record(session: Session, actor: User, client: User, now: datetime, *,
                  ip: str | None = None, shown_as: str = "file") -> dict:
    """Everything the practice holds about the client as plain JSON values, for a subject
    access request, and an audit row saying the actor exported it (written first, so the
    export lists itself). Twelve queries and an insert, however long the history.

    The actor is a therapist ("client.exported") or the client themselves ("Download my
    data": "account.data_exported", with `shown_as` "file" or "page"). Private session notes
    are included either way: they are the client's personal data, and the right of access
    covers them; so are the messages between the client and the practice, with when each
    was read.

    Left out on purpose: the password hash, sign-in and calendar secrets, share link token
    hashes, and anything about other people beyond the names of the therapists who wrote or
    changed the record (and their IP addresses)."""
    by_client = actor.id == client.id
    if not by_client:
        require_therapist(actor)
    if not client.is_client:
        raise NotFound("There is no such client.")
    zone = practice_service.zone(session)
    if by_client:
        audit.record(session, actor=actor, subject=client, action="account.data_exported",
                     now=now, ip=ip, shown_as=shown_as)
    else:
        audit.record(session, actor=actor, subject=client, action="client.exported", now=now,
                     ip=ip)
    session.flush()
    erasure = _erasure(session, client)
    appointments = list(session.scalars(
        select(Appointment).where(Appointment.client_id == client.id)
        .order_by(Appointment.starts_at, Appointment.id)).unique())
    notes = session_notes(session, client)
    versions = list(session.scalars(
        select(ProgrammeVersion).join(Programme, ProgrammeVersion.programme_id == Programme.id)
        .where(Programme.client_id == client.id)
        .options(contains_eager(ProgrammeVersion.programme),
                 joinedload(ProgrammeVersion.created_by),
                 joinedload(ProgrammeVersion.items).joinedload(ProgrammeItem.exercise))
        .order_by(ProgrammeVersion.number)).unique())
    logs = list(session.scalars(
        select(CompletionLog).where(CompletionLog.client_id == client.id)
        .options(joinedload(CompletionLog.exercise))
        .order_by(CompletionLog.logged_at, CompletionLog.id)))
    numbers = {v.id: v.number for v in versions}
    reminders = session.scalars(select(MomentTime).where(MomentTime.client_id == client.id)
                                .order_by(MomentTime.moment)).all()
    shares = session.scalars(select(ProgrammeShare).where(ProgrammeShare.client_id == client.id)
                             .order_by(ProgrammeShare.created_at, ProgrammeShare.id)).all()
    threads = list(session.scalars(
        select(MessageThread).where(MessageThread.client_id == client.id)
        .options(joinedload(MessageThread.exercise),
                 joinedload(MessageThread.programme_version))
        .order_by(MessageThread.created_at, MessageThread.id)))
    thread_messages: dict[int, list[Message]] = defaultdict(list)
    for message in session.scalars(
            select(Message).join(MessageThread, Message.thread_id == MessageThread.id)
            .where(MessageThread.client_id == client.id)
            .options(joinedload(Message.author))
            .order_by(Message.created_at, Message.id)):
        thread_messages[message.thread_id].append(message)
    who = aliased(User)
    events = session.execute(
        select(AuditEvent, who.name, who.role).outerjoin(who, who.id == AuditEvent.actor_id)
        .where(AuditEvent.subject_user_id == client.id)
        .order_by(AuditEvent.at, AuditEvent.id)).all()

    def actor_of(event: AuditEvent, name: str | None, role: Role | None) -> dict | None:
        if event.actor_id is None:
            return None  # the system
        if event.actor_id == client.id:
            return {"role": "client", "name": client.name}
        if role is Role.THERAPIST:
            return {"role": "therapist", "name": name}
        return {"role": "other"}

    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "exported_at": _utc(now),
        "exported_at_local": _local(now, zone),
        "exported_by": actor.name,
        "practice_timezone": zone.key,
        "account": {
            "id": client.id,
            "name": client.name,
            "email": client.email,
            "phone": client.phone,
            "created_at": _utc(client.created_at),
            "active": client.active,
            "joined": client.has_password,
            "invited_at": _utc(client.invited_at),
            "last_login_at": _utc(client.last_login_at),
            "password_changed_at": _utc(client.password_changed_at),
            "calendar_feed_issued": client.calendar_token is not None,
        },
        "erasure": None if erasure is None else {
            "erased_at": _utc(erasure.erased_at),
            "by": "client" if erasure.by_client else "therapist",
            "records_kept_until": _utc(erasure.retain_until),
            "records_purged_at": _utc(erasure.purged_at),
        },
        "questionnaires": [{
            "submitted_at": _utc(form.submitted_at),
            "answers": form.answers,
            "red_flags": form.red_flags,
            "consent_version": form.consent_version,
            "consent_given_at": _utc(form.consent_given_at),
        } for form in reversed(intake_service.history(session, client))],
        "appointments": [{
            "id": a.id,
            "starts_at": _utc(a.starts_at),
            "starts_at_local": _local(a.starts_at, zone),
            "ends_at": _utc(a.ends_at),
            "ends_at_local": _local(a.ends_at, zone),
            "service": a.service.name,
            "therapist": a.therapist.name,
            "status": a.status.value,
            "price_pence": a.price_pence,
            "client_note": a.client_note,
            "booked_at": _utc(a.created_at),
            "cancelled_at": _utc(a.cancelled_at),
            "cancel_reason": a.cancel_reason,
            "late_cancellation": a.late_cancellation,
            "session_notes": [{
                "written_at": _utc(note.created_at),
                "written_at_local": _local(note.created_at, zone),
                "author": note.author.name,
                "text": note.body,
            } for note in notes.get(a.id, [])],
        } for a in appointments],
        "programme_versions": [{
            "number": v.number,
            "saved_at": _utc(v.created_at),
            "saved_by": v.created_by.name,
            "appointment_id": v.appointment_id,
            "note": v.note,
            "changes": v.changes,
            "items": [{
                "exercise": item.exercise.name,
                "hold_seconds": item.hold_seconds,
                "reps": item.reps,
                "sets": item.sets,
                "sides": item.sides.value,
                "times_per_day": item.times_per_day,
                "days_per_week": item.days_per_week,
                "moments": list(item.moments or []),
                "level": item.level,
                "personal_note": item.personal_note,
            } for item in v.items],
        } for v in versions],
        "completion_logs": [{
            "date": log.local_date.isoformat(),
            "logged_at": _utc(log.logged_at),
            "exercise": log.exercise.name,
            "programme_version": numbers.get(log.version_id),
            "moment": log.moment.value if log.moment else None,
            "feedback": _feedback_of(log),
            "pain": log.pain,
            "pain_seen_at": _utc(log.pain_acknowledged_at),
            "note": log.note,
        } for log in logs],
        "message_threads": [{
            "id": thread.id,
            "subject": thread.subject,
            "about_exercise": thread.exercise.name if thread.exercise else None,
            "programme_version": (thread.programme_version.number
                                  if thread.programme_version else None),
            "about_appointment_id": thread.appointment_id,
            "status": thread.status.value,
            "started_at": _utc(thread.created_at),
            "done_at": _utc(thread.done_at),
            "messages": [{
                "sent_at": _utc(message.created_at),
                "sent_at_local": _local(message.created_at, zone),
                "from": "client" if message.from_client else "therapist",
                "author": client.name if message.from_client else message.author.name,
                "text": message.body,
                "read_at": _utc(message.read_at),
            } for message in thread_messages.get(thread.id, [])],
        } for thread in threads],
        "moment_reminders": {m.moment.value: m.local_time.strftime("%H:%M") for m in reminders},
        "share_links": [{"created_at": _utc(s.created_at), "revoked_at": _utc(s.revoked_at)}
                        for s in shares],
        "audit_trail": [{
            "at": _utc(event.at),
            "action": event.action,
            "actor": actor_of(event, name, role),
            # Only the client's own addresses: a therapist's is not the client's data.
            "ip": event.ip if event.actor_id == client.id else None,
            "details": event.details,
        } for event, name, role in events],
    }
