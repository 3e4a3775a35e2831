"""Erasing a client's account (UK GDPR's right to erasure, within a clinic's duty to keep
health records), and purging the clinical records once their retention date has passed.

Two steps, each leaving an audit row that names the client only by id:

1. Erasure, asked for by the client (with their password) or done for them by a therapist
   (with the therapist's password). At once: the account is pseudonymised ("Erased client
   #12", an undeliverable placeholder address, no phone, no password, sessions ended), the
   calendar feed and read-only programme links stop working, moment reminder times go,
   sessions still to come are cancelled and their therapists told, emails to the client
   still in the outbox are dropped (and sent ones deleted: they are copies of mail already
   delivered, not part of the record), enquiries sent from the client's address through the
   public form are deleted with their replies (correspondence, not clinical records), the
   contact answers of the questionnaire (phone,
   emergency contact) are blanked, and the client's name, email and addresses are taken out
   of the audit rows about them.
2. The purge (`flask purge-expired`), once `retain_until` has passed: questionnaires and
   consent, appointments, session notes, programmes, logs, share links and the messages
   between the client and the practice are deleted for good. The pseudonymous user row,
   the erasure row and the audit trail stay: they hold no personal data beyond the id, and
   show the practice did what it had to.

The clinical records are kept `retention_years` (a practice setting) after the client's care
ended: the latest of their last session that took place and the last entry in their record
(questionnaire, programme version, exercise log, session note or message); the erasure itself
when there is none of these.

Messages are part of the clinical record: an erasure keeps them (the therapist can read but no
longer answer them) until the purge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, aliased

from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    ClientErasure,
    CompletionLog,
    Device,
    IntakeForm,
    Message,
    MessageThread,
    MomentTime,
    NotificationClaim,
    OutboxMessage,
    Passkey,
    Practice,
    Programme,
    ProgrammeItem,
    ProgrammeShare,
    ProgrammeVersion,
    RecoveryCode,
    SessionNote,
    TwoFactor,
    User,
)
from portal.services import (
    audit,
    booking,
    calendar,
    emails,
    enquiries,
    outbox,
    programme_shares,
    wording,
)
from portal.services import practice as practice_service
from portal.services.diary import RuleLimit
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.services.passwords import Passwords

DEFAULT_RETENTION_YEARS = 8
RETENTION_LIMIT = RuleLimit("retention_years", 6, 30,
                            "Keep records between 6 and 30 years after care ends.")
# Questionnaire answers that are contact details, not clinical information: erased at once.
CONTACT_ANSWERS = ("phone", "emergency_contact")
# Undeliverable by design (RFC 2606 reserves .invalid); unique through the id.
PLACEHOLDER_DOMAIN = "erased.invalid"
PAGE_SIZE = 50
PURGE_BATCH = 20


def pseudonym(client_id: int) -> str:
    """The name an erased client's row keeps."""
    return f"Erased client #{client_id}"


def placeholder_email(client_id: int) -> str:
    """The address an erased client's row keeps: unique, and never delivered."""
    return f"erased-{client_id}@{PLACEHOLDER_DOMAIN}"


def add_years(instant: datetime, years: int) -> datetime:
    """The same moment `years` later; 29 February becomes 28 February in a common year."""
    try:
        return instant.replace(year=instant.year + years)
    except ValueError:
        return instant.replace(year=instant.year + years, day=28)


def retention_years(practice: Practice | None) -> int:
    """The practice's retention setting (the default when there is no practice yet)."""
    return practice.retention_years if practice is not None else DEFAULT_RETENTION_YEARS


# --- what erasing would do ------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What erasing the client now would do: when their care ended, how long the clinical
    records stay, and which sessions still to come would be cancelled."""

    care_ended_at: datetime
    retention_years: int
    retain_until: datetime
    upcoming: list[Appointment]


def care_ended_at(session: Session, client: User, now: datetime) -> datetime:
    """The latest of the client's last session that took place and the last entry in their
    record; `now` when there is none (one query)."""
    client_appointments = select(Appointment.id).where(Appointment.client_id == client.id)
    client_threads = select(MessageThread.id).where(MessageThread.client_id == client.id)
    latest = session.execute(select(
        select(func.max(Appointment.starts_at))
        .where(Appointment.client_id == client.id, Appointment.starts_at <= now,
               Appointment.status != AppointmentStatus.CANCELLED).scalar_subquery(),
        select(func.max(IntakeForm.submitted_at))
        .where(IntakeForm.client_id == client.id).scalar_subquery(),
        select(func.max(CompletionLog.logged_at))
        .where(CompletionLog.client_id == client.id).scalar_subquery(),
        select(func.max(ProgrammeVersion.created_at))
        .join(Programme, ProgrammeVersion.programme_id == Programme.id)
        .where(Programme.client_id == client.id).scalar_subquery(),
        select(func.max(SessionNote.created_at))
        .where(SessionNote.appointment_id.in_(client_appointments)).scalar_subquery(),
        select(func.max(Message.created_at))
        .where(Message.thread_id.in_(client_threads)).scalar_subquery(),
    )).one()
    return max((value for value in latest if value is not None), default=now)


def plan(session: Session, client: User, now: datetime) -> Plan:
    """What erasing the client now would do (three queries)."""
    years = retention_years(practice_service.current(session))
    ended = care_ended_at(session, client, now)
    upcoming = list(session.scalars(
        select(Appointment)
        .where(Appointment.client_id == client.id, Appointment.starts_at > now,
               Appointment.status == AppointmentStatus.BOOKED)
        .order_by(Appointment.starts_at, Appointment.id)).unique())
    return Plan(care_ended_at=ended, retention_years=years,
                retain_until=add_years(ended, years), upcoming=upcoming)


def erasure_of(session: Session, client: User) -> ClientErasure | None:
    """The client's erasure, if their account was erased."""
    return session.scalar(select(ClientErasure).where(ClientErasure.client_id == client.id))


def is_erased(session: Session, client: User) -> bool:
    """True when the client's account was erased."""
    return erasure_of(session, client) is not None


# --- erasing --------------------------------------------------------------------------------


def erase_client(session: Session, passwords: Passwords, actor: User, client: User, *,
                 password: str, now: datetime, ip: str | None = None) -> ClientErasure:
    """Erase the client's account now and keep their clinical records until the retention
    date (see the module's docstring for what goes and what stays). The actor is the client,
    or a therapist erasing it for them; either proves it is them with their own password."""
    if not client.is_client:
        raise NotFound("There is no such client.")
    by_client = actor.id == client.id
    if not by_client and not actor.is_therapist:
        raise PermissionDenied("Only the client or a therapist can erase a client's account.")
    # Hold the client's row until this transaction ends: a second erasure of the same
    # account (two tabs, the client and the therapist at once) waits, then finds this one.
    session.execute(select(User.id).where(User.id == client.id).with_for_update())
    if is_erased(session, client):
        raise Conflict("This account has already been erased.")
    if not passwords.verify(actor.password_hash, password):
        raise InvalidInput("password", "That is not your password.")
    what = plan(session, client, now)
    # The client's own address at this moment is their personal data: not kept.
    ip = None if by_client else ip
    reason = ("The client deleted their account." if by_client
              else "The practice erased the client's account.")
    cancelled = booking.cancel_upcoming_of_erased(session, actor, client, now=now,
                                                  reason=reason, ip=ip)
    _tell_therapists(session, client, cancelled, now)
    programme_shares.revoke_share(session, actor, client, now, ip=ip)
    calendar.revoke_feed(session, client)
    session.execute(delete(MomentTime).where(MomentTime.client_id == client.id))
    session.execute(delete(OutboxMessage).where(OutboxMessage.to_addr == client.email))
    enquiries.erase_address(session, client.email)
    # Ways to sign in beyond the password go with it: the app's key, recovery codes, passkeys.
    # The devices list (browsers and their networks) too: every one of them is signed out.
    for factor in (TwoFactor, RecoveryCode, Passkey, Device):
        session.execute(delete(factor).where(factor.user_id == client.id))
    _blank_contact_answers(session, client)
    session.flush()
    _scrub_audit(session, client)
    _pseudonymise(client)
    erasure = ClientErasure(
        client_id=client.id, erased_at=now, erased_by_id=actor.id,
        retention_years=what.retention_years, care_ended_at=what.care_ended_at,
        retain_until=what.retain_until, cancelled_appointments=len(cancelled))
    session.add(erasure)
    session.flush()
    audit.record(session, actor=actor, subject=client, action="account.erased", now=now,
                 ip=ip, by="client" if by_client else "therapist",
                 retain_until=wording.iso(what.retain_until), cancelled=len(cancelled) or None)
    session.flush()
    return erasure


def _tell_therapists(session: Session, client: User, cancelled: list[Appointment],
                     now: datetime) -> None:
    """Email each therapist whose sessions with the client were cancelled, naming the client
    only by pseudonym: the email outlives the erasure."""
    if not cancelled:
        return
    practice = practice_service.current(session)
    zone = practice_service.zone_of(practice)
    by_therapist: dict[int, list[Appointment]] = {}
    for appointment in cancelled:
        by_therapist.setdefault(appointment.therapist_id, []).append(appointment)
    for appointments in by_therapist.values():
        therapist = appointments[0].therapist
        times = [f"{wording.day_and_time(a.starts_at, zone)}, {a.service.name}"
                 for a in appointments]
        count = len(times)
        mail = emails.compose(
            "erasure_cancelled",
            f"{count} session{'s' if count != 1 else ''} cancelled: an account was erased",
            practice=practice, name=therapist.first_name, who=pseudonym(client.id),
            times=times)
        outbox.queue(session, to=therapist.email, email=mail, kind="erasure_cancelled",
                     now=now)


def _blank_contact_answers(session: Session, client: User) -> None:
    """Take the phone and emergency contact out of every questionnaire the client sent."""
    for form in session.scalars(select(IntakeForm).where(IntakeForm.client_id == client.id)):
        answers = dict(form.answers or {})
        if any(answers.get(key) for key in CONTACT_ANSWERS):
            for key in CONTACT_ANSWERS:
                if key in answers:
                    answers[key] = ""
            form.answers = answers  # a new dict: JSON columns do not track changes inside


def _scrub_audit(session: Session, client: User) -> None:
    """Remove the client's personal data from the audit rows about them or by them: the
    addresses they acted from, and any detail that quotes their name, email or phone."""
    session.execute(update(AuditEvent).where(AuditEvent.actor_id == client.id)
                    .values(ip=None))
    needles = [text.lower() for text in (client.name, client.email, client.phone)
               if text and len(text.strip()) >= 3]
    replacement = pseudonym(client.id)
    for event in session.scalars(select(AuditEvent).where(
            (AuditEvent.subject_user_id == client.id) | (AuditEvent.actor_id == client.id))):
        if event.details:
            cleaned = _without(event.details, needles, replacement)
            if cleaned != event.details:
                event.details = cleaned


def _without(value: object, needles: list[str], replacement: str) -> object:
    """The value with every string that contains one of the needles replaced, however deep
    it sits in lists and dicts."""
    if isinstance(value, str):
        lowered = value.lower()
        return replacement if any(n in lowered for n in needles) else value
    if isinstance(value, dict):
        return {key: _without(item, needles, replacement) for key, item in value.items()}
    if isinstance(value, list):
        return [_without(item, needles, replacement) for item in value]
    return value


def _pseudonymise(client: User) -> None:
    """Leave only the id: no name, address, phone, password or sign-in history, every
    session ended and the account closed."""
    client.name = pseudonym(client.id)
    client.email = placeholder_email(client.id)
    client.phone = None
    client.password_hash = None
    client.calendar_token = None
    client.active = False
    client.session_version += 1
    client.last_login_at = None


# --- the purge ------------------------------------------------------------------------------


def purge_due(session: Session, now: datetime, *, limit: int | None = None) -> int:
    """Delete for good the clinical records of up to `limit` (PURGE_BATCH) erased clients
    whose retention date has passed; returns how many. Safe on several hosts at once: each
    claims its rows (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite writers queue with BEGIN
    IMMEDIATE)."""
    due = list(session.scalars(
        select(ClientErasure)
        .where(ClientErasure.purged_at.is_(None), ClientErasure.retain_until <= now)
        .order_by(ClientErasure.retain_until, ClientErasure.id)
        .limit(limit or PURGE_BATCH).with_for_update(skip_locked=True)))
    for erasure in due:
        deleted = _delete_records(session, erasure.client_id)
        erasure.purged_at = now
        audit.record(session, actor=None, subject=session.get(User, erasure.client_id),
                     action="account.records_purged", now=now, **deleted)
    session.flush()
    return len(due)


def _delete_records(session: Session, client_id: int) -> dict[str, int]:
    """Delete every clinical row of one client, children first; how many of each."""
    appointments = select(Appointment.id).where(Appointment.client_id == client_id)
    programmes = select(Programme.id).where(Programme.client_id == client_id)
    versions = select(ProgrammeVersion.id).where(ProgrammeVersion.programme_id.in_(programmes))
    threads = select(MessageThread.id).where(MessageThread.client_id == client_id)
    steps = [
        # Threads first: they point at programme versions and appointments.
        ("messages", delete(Message).where(Message.thread_id.in_(threads))),
        ("message_threads", delete(MessageThread).where(MessageThread.client_id == client_id)),
        ("logs", delete(CompletionLog).where(CompletionLog.client_id == client_id)),
        (None, delete(MomentTime).where(MomentTime.client_id == client_id)),
        (None, delete(ProgrammeShare).where(ProgrammeShare.client_id == client_id)),
        (None, delete(ProgrammeItem).where(ProgrammeItem.version_id.in_(versions))),
        ("programme_versions", delete(ProgrammeVersion)
         .where(ProgrammeVersion.programme_id.in_(programmes))),
        (None, delete(Programme).where(Programme.client_id == client_id)),
        ("session_notes", delete(SessionNote).where(SessionNote.appointment_id.in_(appointments))),
        (None, delete(NotificationClaim)
         .where(NotificationClaim.appointment_id.in_(appointments))),
        ("appointments", delete(Appointment).where(Appointment.client_id == client_id)),
        ("questionnaires", delete(IntakeForm).where(IntakeForm.client_id == client_id)),
    ]
    counts: dict[str, int] = {}
    for name, statement in steps:
        result = session.execute(statement.execution_options(synchronize_session=False))
        if name is not None:
            counts[name] = result.rowcount
    return counts


# --- the therapist's list -------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureRow:
    """One erasure with who did it (None: the client themselves)."""

    erasure: ClientErasure
    erased_by: str | None


@dataclass(frozen=True)
class ErasurePage:
    """One page of erasures, newest first, and how many still wait for the purge."""

    rows: list[ErasureRow]
    page: int
    pages: int
    total: int
    pending: int


def list_erasures(session: Session, actor: User, page: int,
                  per_page: int = PAGE_SIZE) -> ErasurePage:
    """Every erasure, newest first, a page at a time (three queries)."""
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can see erasures.")
    total, pending = session.execute(select(
        func.count(ClientErasure.id),
        func.count(ClientErasure.id).filter(ClientErasure.purged_at.is_(None)),
    )).one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    who = aliased(User)
    result = session.execute(
        select(ClientErasure, who.name)
        .join(who, who.id == ClientErasure.erased_by_id)
        .order_by(ClientErasure.erased_at.desc(), ClientErasure.id.desc())
        .limit(per_page).offset((page - 1) * per_page))
    rows = [ErasureRow(erasure=erasure,
                       erased_by=None if erasure.by_client else name)
            for erasure, name in result]
    return ErasurePage(rows=rows, page=page, pages=pages, total=total, pending=pending)


# --- the setting ----------------------------------------------------------------------------


def update_retention(session: Session, actor: User, practice: Practice, *, years: int | None,
                     now: datetime, ip: str | None = None) -> None:
    """Save how many years erased clients' clinical records are kept after care ended; it
    applies to erasures from now on (each erasure keeps the date it was given)."""
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can change practice settings.")
    limit = RETENTION_LIMIT
    if years is None or not limit.low <= years <= limit.high:
        raise InvalidInput(limit.field, limit.message)
    if practice.retention_years != years:
        previous = practice.retention_years
        practice.retention_years = years
        practice.updated_at = now
        audit.record(session, actor=actor, action="retention.updated", now=now, ip=ip,
                     previous=previous, retention_years=years)
    session.flush()
