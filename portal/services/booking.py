"""Booking rules: free slots, booking, rescheduling and cancelling, and who may do what."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal.models import (
    MAX_BUSY,
    Appointment,
    AppointmentStatus,
    Practice,
    Role,
    Service,
    TimeOff,
    User,
    WorkingHours,
)
from portal.services import audit, calendar, emails, intake, outbox, slots, wording
from portal.services import practice as practice_service
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied

LIVE = (AppointmentStatus.BOOKED, AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW)


class SlotTaken(Conflict):
    """The chosen start is no longer free; `alternatives` are the nearest free ones."""

    def __init__(self, message: str, alternatives: Sequence[datetime] = ()):
        super().__init__(message)
        self.alternatives = list(alternatives)


class UpcomingLimitReached(Conflict):
    """The client already holds as many upcoming booked sessions as the practice lets a client
    book online; `held` and `limit` are the two numbers the message gives."""

    def __init__(self, message: str, *, held: int, limit: int):
        super().__init__(message)
        self.held, self.limit = held, limit


@dataclass(frozen=True)
class EmailLinks:
    """Where the booking emails send the client, as absolute addresses. The web layer makes
    them (it knows the routes and the site's address); services only pass them on."""

    appointment: Callable[[Appointment], str]  # the page to move or cancel it from
    book_again: Callable[[Appointment], str]  # where to book after a cancellation


@dataclass(frozen=True)
class Availability:
    """Everything the slot engine needs for one therapist over a period."""

    hours: list[slots.WeeklyRange]
    time_off: list[slots.Interval]
    busy: list[slots.Interval]


# --- reading -------------------------------------------------------------------------------


def rules_for(practice: Practice) -> slots.Rules:
    """The slot engine's view of the practice settings."""
    return slots.Rules(
        zone=practice_service.zone_of(practice),
        step=timedelta(minutes=practice.slot_step_minutes),
        min_notice=timedelta(minutes=practice.min_notice_minutes),
        horizon=timedelta(days=practice.horizon_days),
    )


def active_services(session: Session) -> list[Service]:
    """Services clients can book, in the therapist's order."""
    return list(session.scalars(
        select(Service).where(Service.active).order_by(Service.sort_order, Service.id)
    ))


def default_therapist(session: Session) -> User:
    """The therapist clients book with (the first active one, until there are several)."""
    therapist = session.scalar(
        select(User).where(User.role == Role.THERAPIST, User.active).order_by(User.id).limit(1)
    )
    if therapist is None:
        raise NotFound("No therapist is taking bookings yet.")
    return therapist


def load_availability(
    session: Session, therapist_id: int, start: datetime, end: datetime,
    *, ignore_appointment: int | None = None,
) -> Availability:
    """Hours, time off and busy intervals between two instants: three queries, whatever the
    size of the diary."""
    hours = working_hours(session, therapist_id)
    time_off = [
        (row.starts_at, row.ends_at)
        for row in session.execute(
            select(TimeOff.starts_at, TimeOff.ends_at).where(
                TimeOff.therapist_id == therapist_id,
                TimeOff.ends_at > start, TimeOff.starts_at < end,
            )
        )
    ]
    query = select(Appointment.starts_at, Appointment.blocked_until).where(
        Appointment.therapist_id == therapist_id,
        Appointment.status.in_(LIVE),
        Appointment.blocked_until > start, Appointment.starts_at < end,
        # The same condition, bounding the (therapist_id, starts_at) index scan below too: no
        # appointment keeps its therapist busy longer than MAX_BUSY (a CHECK enforces it), so
        # one that started earlier has ended. Without it the scan reads the whole history.
        Appointment.starts_at > start - MAX_BUSY,
    )
    if ignore_appointment is not None:
        query = query.where(Appointment.id != ignore_appointment)
    busy = [(row.starts_at, row.blocked_until) for row in session.execute(query)]
    return Availability(hours, time_off, busy)


def _day_bounds(zone: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time.min, tzinfo=zone).astimezone(UTC) - timedelta(hours=1)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return start, end + timedelta(days=1)


def free_slots(
    session: Session, practice: Practice, therapist: User, service: Service, *,
    now: datetime, first: date, last: date, ignore_appointment: int | None = None,
    enforce_notice: bool = True,
) -> list[datetime]:
    """Free starts for a service between two local dates (inclusive), in UTC."""
    rules = rules_for(practice)
    if not enforce_notice:
        rules = slots.Rules(zone=rules.zone, step=rules.step, min_notice=timedelta(0),
                            horizon=timedelta(days=3660))
    start, end = _day_bounds(rules.zone, first, last)
    availability = load_availability(session, therapist.id, start, end,
                                     ignore_appointment=ignore_appointment)
    return slots.free_slots(
        rules=rules, hours=availability.hours, time_off=availability.time_off,
        busy=availability.busy, duration=timedelta(minutes=service.duration_minutes),
        buffer=timedelta(minutes=service.buffer_minutes), now=now, first=first, last=last,
    )


def slots_by_day(
    session: Session, practice: Practice, therapist: User, service: Service, *,
    now: datetime, first: date, days: int = 7, ignore_appointment: int | None = None,
) -> dict[date, list[datetime]]:
    """Free starts grouped by local date, for `days` days from `first` (empty days kept)."""
    zone = practice_service.zone_of(practice)
    last = first + timedelta(days=days - 1)
    grouped: dict[date, list[datetime]] = {
        first + timedelta(days=i): [] for i in range(days)
    }
    for start in free_slots(session, practice, therapist, service, now=now, first=first,
                            last=last, ignore_appointment=ignore_appointment):
        grouped.setdefault(start.astimezone(zone).date(), []).append(start)
    return grouped


def booking_window(practice: Practice, now: datetime) -> tuple[date, date]:
    """The first and last local dates on which a client could book now."""
    rules = rules_for(practice)
    first = (now + rules.min_notice).astimezone(rules.zone).date()
    last = (now + rules.horizon).astimezone(rules.zone).date()
    return first, last


def nearest_alternatives(
    session: Session, practice: Practice, therapist: User, service: Service, *,
    around: datetime, now: datetime, count: int = 3, ignore_appointment: int | None = None,
) -> list[datetime]:
    """The free starts closest to `around` within three days either side."""
    zone = practice_service.zone_of(practice)
    day = around.astimezone(zone).date()
    candidates = free_slots(session, practice, therapist, service, now=now,
                            first=day - timedelta(days=3), last=day + timedelta(days=3),
                            ignore_appointment=ignore_appointment)
    return sorted(sorted(candidates, key=lambda s: abs(s - around))[:count])


def upcoming_booked(session: Session, client_id: int, now: datetime) -> int:
    """How many booked sessions the client has that have not ended yet (the "Upcoming" of
    their appointments page, without the cancelled ones)."""
    return session.scalar(
        select(func.count()).select_from(Appointment).where(
            Appointment.client_id == client_id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.ends_at > now,
        )
    ) or 0


def upcoming_limit_refusal(session: Session, practice: Practice, client: User,
                           now: datetime) -> UpcomingLimitReached | None:
    """The refusal a client gets when they already hold the practice's most upcoming
    sessions for online booking, or None while they may book another. The one home of the
    rule: book() raises it under lock, the booking pages show it before a time is chosen."""
    held = upcoming_booked(session, client.id, now)
    limit = practice.max_upcoming_per_client
    if held < limit:
        return None
    sessions = "1 upcoming session" if held == 1 else f"{held} upcoming sessions"
    return UpcomingLimitReached(
        f"You already have {sessions} booked, and clients can hold up to {limit} at a time "
        "when booking online. To book another, move or cancel one of them, or contact the "
        "practice.", held=held, limit=limit)


# --- permission predicates -----------------------------------------------------------------


def policy_deadline(practice: Practice, appointment: Appointment) -> datetime:
    """Until when a client may still cancel or reschedule this appointment themselves."""
    return appointment.starts_at - timedelta(hours=practice.cancel_window_hours)


def can_view(user: User, appointment: Appointment) -> bool:
    """Clients see their own appointments; therapists see all."""
    return user.is_therapist or appointment.client_id == user.id


def can_change(user: User, appointment: Appointment, practice: Practice, now: datetime) -> bool:
    """May this user cancel or reschedule the appointment now? Clients until the policy
    window closes; therapists as long as it is booked."""
    if appointment.status is not AppointmentStatus.BOOKED:
        return False
    if user.is_therapist:
        return True
    return appointment.client_id == user.id and now < policy_deadline(practice, appointment)


# --- writing -------------------------------------------------------------------------------


def _lock_user(session: Session, user_id: int) -> None:
    # PostgreSQL: writers that lock the same user row queue up here, so the later one sees
    # what the earlier one committed. SQLite: the transaction already began with BEGIN
    # IMMEDIATE and holds the write lock (FOR UPDATE is ignored there).
    session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _lock_therapist(session: Session, therapist_id: int) -> None:
    # Bookings for one therapist queue up, so the loser of a race for a slot sees the
    # winner's row and gets a clean message.
    _lock_user(session, therapist_id)


def working_hours(session: Session, therapist_id: int) -> list[slots.WeeklyRange]:
    """A therapist's weekly hours."""
    return [
        slots.WeeklyRange(row.weekday, row.start_time, row.end_time)
        for row in session.execute(
            select(WorkingHours.weekday, WorkingHours.start_time, WorkingHours.end_time)
            .where(WorkingHours.therapist_id == therapist_id)
        )
    ]


def _within_hours(session: Session, practice: Practice, therapist: User, service: Service,
                  starts_at: datetime, now: datetime) -> bool:
    """True when the session fits working hours on the step grid, ignoring everything else."""
    zone = practice_service.zone_of(practice)
    day = starts_at.astimezone(zone).date()
    candidates = slots.free_slots(
        rules=slots.Rules(zone=zone, step=timedelta(minutes=practice.slot_step_minutes),
                          min_notice=timedelta(0), horizon=timedelta(days=3660)),
        hours=working_hours(session, therapist.id), time_off=[], busy=[],
        duration=timedelta(minutes=service.duration_minutes), buffer=timedelta(0), now=now,
        first=day, last=day,
    )
    return starts_at in candidates


def _check_start(
    session: Session, practice: Practice, therapist: User, service: Service, starts_at: datetime,
    *, now: datetime, by_therapist: bool, override: bool, ignore_appointment: int | None = None,
) -> None:
    if starts_at.tzinfo is None:
        raise InvalidInput("start", "Choose a time from the list.")
    if starts_at <= now:
        raise InvalidInput("start", "That time has already passed. Choose a later one.")
    day = starts_at.astimezone(practice_service.zone_of(practice)).date()
    if by_therapist and override:
        # A deliberate double booking still has to be within working hours.
        if not _within_hours(session, practice, therapist, service, starts_at, now):
            raise InvalidInput("start", "That time is outside working hours.")
        return
    if not by_therapist:
        _, last = booking_window(practice, now)
        if starts_at < now + rules_for(practice).min_notice:
            hours = practice.min_notice_minutes / 60
            raise InvalidInput(
                "start", f"Sessions can be booked online up to {hours:g} hours ahead at the "
                         "latest. Choose a later time or contact the practice.")
        if day > last or starts_at > now + rules_for(practice).horizon:
            raise InvalidInput(
                "start", f"Bookings open {practice.horizon_days // 7} weeks ahead. "
                         "Choose an earlier date.")
    free = free_slots(session, practice, therapist, service, now=now, first=day, last=day,
                      ignore_appointment=ignore_appointment, enforce_notice=not by_therapist)
    if starts_at in free:
        return
    # Not free: is it taken, or was it never a slot (outside hours, off the grid)?
    if _within_hours(session, practice, therapist, service, starts_at, now):
        alternatives = nearest_alternatives(
            session, practice, therapist, service, around=starts_at, now=now,
            ignore_appointment=ignore_appointment,
        ) if not by_therapist else []
        raise SlotTaken("Sorry, that slot was just taken.", alternatives)
    raise InvalidInput("start", "That time isn't available. Choose one from the list.")


def notify(session: Session, practice: Practice, appointment: Appointment, kind: str,
           now: datetime, *, links: EmailLinks | None, message: str = "") -> None:
    """Queue the email for a change (confirmed, rescheduled, cancelled, reminder) with .ics.
    Without links (the reminder duty runs outside any request) the email carries none."""
    zone = practice_service.zone_of(practice)
    method = "CANCEL" if kind == "cancelled" else "REQUEST"
    ics = calendar.appointment_calendar([appointment], practice, method=method)
    when = wording.day_and_time(appointment.starts_at, zone)
    subjects = {
        "confirmed": f"Booked: {appointment.service.name} on {when}",
        "rescheduled": f"Moved: {appointment.service.name} now on {when}",
        "cancelled": f"Cancelled: {appointment.service.name} on {when}",
        "reminder": f"Reminder: {appointment.service.name} on {when}",
    }
    mail = emails.compose(
        f"appointment_{kind}", subjects[kind], practice=practice, appointment=appointment,
        name=appointment.client.first_name, when=when,
        duration=appointment.service.duration_minutes, price=format_price(
            appointment.price_pence), message=message,
        deadline=wording.day_and_time(policy_deadline(practice, appointment), zone),
        changes_open=now < policy_deadline(practice, appointment),
        appointment_link=links.appointment(appointment) if links else None,
        book_link=links.book_again(appointment) if links else None,
    )
    outbox.queue(session, to=appointment.client.email, email=mail, kind=f"appointment_{kind}",
                 now=now, attachments=[{
                     "filename": "appointment.ics",
                     "content_type": "text/calendar",
                     "params": {"method": method},
                     "data": ics,
                 }])


def format_price(pence: int) -> str:
    """£45 or £45.50."""
    pounds, rest = divmod(pence, 100)
    return f"£{pounds}" if rest == 0 else f"£{pounds}.{rest:02d}"


def _get_service(session: Session, service_id: int, *, for_client: bool) -> Service:
    service = session.get(Service, service_id)
    if service is None or (for_client and not service.active):
        raise NotFound("That service isn't offered.")
    return service


def book(
    session: Session, actor: User, *, client: User, therapist: User, service_id: int,
    starts_at: datetime, now: datetime, links: EmailLinks, note: str = "",
    override: bool = False, ip: str | None = None,
) -> Appointment:
    """Book a session after re-checking every rule; the database has the final word."""
    by_therapist = actor.is_therapist
    if not by_therapist and actor.id != client.id:
        raise PermissionDenied("You can only book for yourself.")
    if override and not by_therapist:
        raise PermissionDenied("Only a therapist can book over another appointment.")
    if not client.is_client or not client.active:
        raise InvalidInput("client", "Choose an active client.")
    if not therapist.is_therapist or not therapist.active:
        raise NotFound("That therapist isn't taking bookings.")
    if not by_therapist and not intake.is_complete(session, client):
        raise PermissionDenied("Please complete the health questionnaire before booking.")
    if len(note) > 1000:
        raise InvalidInput("note", "Keep the note under 1,000 characters.")
    service = _get_service(session, service_id, for_client=not by_therapist)
    practice = practice_service.current(session)
    _lock_therapist(session, therapist.id)
    if not by_therapist:
        # Counted after the client's own lock (always taken after the therapist's, so the
        # order never deadlocks): two bookings at the limit minus one, even with different
        # therapists, cannot both pass. The therapist may book beyond the limit.
        _lock_user(session, client.id)
        refusal = upcoming_limit_refusal(session, practice, client, now)
        if refusal is not None:
            raise refusal
    _check_start(session, practice, therapist, service, starts_at, now=now,
                 by_therapist=by_therapist, override=override)
    ends_at = starts_at + timedelta(minutes=service.duration_minutes)
    appointment = Appointment(
        client_id=client.id, therapist_id=therapist.id, service_id=service.id,
        starts_at=starts_at, ends_at=ends_at,
        blocked_until=ends_at + timedelta(minutes=service.buffer_minutes),
        status=AppointmentStatus.BOOKED, price_pence=service.price_pence,
        client_note=note.strip(), overlap_override=override, booked_by_id=actor.id,
        created_at=now, updated_at=now,
    )
    session.add(appointment)
    _flush_or_taken(session)
    appointment.client, appointment.therapist, appointment.service = client, therapist, service
    audit.record(session, actor=actor, subject=client, action="appointment.booked", now=now,
                 ip=ip, appointment=appointment.id, starts_at=starts_at.isoformat(),
                 override=override or None)
    notify(session, practice, appointment, "confirmed", now, links=links)
    return appointment


def _flush_or_taken(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        if "ex_appointment_no_overlap" in str(exc.orig):
            raise SlotTaken("Sorry, that slot was just taken.") from exc
        raise


def get_appointment(session: Session, user: User, appointment_id: int) -> Appointment:
    """An appointment the user may see, with client, therapist and service loaded."""
    appointment = session.scalar(
        select(Appointment).where(Appointment.id == appointment_id).options(
            joinedload(Appointment.client), joinedload(Appointment.therapist),
            joinedload(Appointment.service),
        )
    )
    if appointment is None or not can_view(user, appointment):
        raise NotFound("No such appointment.")
    return appointment


def reschedule(
    session: Session, actor: User, appointment: Appointment, *, starts_at: datetime,
    now: datetime, links: EmailLinks, ip: str | None = None,
) -> Appointment:
    """Move an appointment: the new time is taken and the old released in one transaction."""
    practice = practice_service.current(session)
    _lock_therapist(session, appointment.therapist_id)
    session.refresh(appointment)
    if not can_change(actor, appointment, practice, now):
        raise PermissionDenied(_closed_message(practice))
    if starts_at == appointment.starts_at:
        return appointment  # a double submit (or no change): nothing to move, no second email
    _check_start(session, practice, appointment.therapist, appointment.service, starts_at,
                 now=now, by_therapist=actor.is_therapist, override=False,
                 ignore_appointment=appointment.id)
    old = appointment.starts_at
    appointment.starts_at = starts_at
    appointment.ends_at = starts_at + timedelta(minutes=appointment.service.duration_minutes)
    appointment.blocked_until = appointment.ends_at + timedelta(
        minutes=appointment.service.buffer_minutes)
    appointment.sequence += 1
    appointment.updated_at = now
    _flush_or_taken(session)
    audit.record(session, actor=actor, subject=appointment.client, now=now, ip=ip,
                 action="appointment.rescheduled", appointment=appointment.id,
                 from_=old.isoformat(), to=starts_at.isoformat())
    notify(session, practice, appointment, "rescheduled", now, links=links)
    return appointment


def cancel(
    session: Session, actor: User, appointment: Appointment, *, now: datetime,
    links: EmailLinks, reason: str = "", ip: str | None = None,
) -> None:
    """Cancel within the rules; a therapist cancelling inside the window records it as late."""
    practice = practice_service.current(session)
    session.refresh(appointment)
    if appointment.status is AppointmentStatus.CANCELLED:
        return  # a double submit: already done
    if not can_change(actor, appointment, practice, now):
        raise PermissionDenied(_closed_message(practice))
    if len(reason) > 2000:
        raise InvalidInput("reason", "Keep the message under 2,000 characters.")
    _mark_cancelled(session, practice, actor, appointment, now=now, reason=reason, ip=ip)
    notify(session, practice, appointment, "cancelled", now, links=links,
           message=appointment.cancel_reason)


def _mark_cancelled(session: Session, practice: Practice, actor: User, appointment: Appointment,
                    *, now: datetime, reason: str, ip: str | None, **details: object) -> None:
    """The cancel transition, audited: who and when, why, whether it was late (inside the
    policy window), and a new calendar sequence."""
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancelled_at = now
    appointment.cancelled_by_id = actor.id
    appointment.cancel_reason = reason.strip()
    appointment.late_cancellation = now >= policy_deadline(practice, appointment)
    appointment.sequence += 1
    appointment.updated_at = now
    session.flush()
    audit.record(session, actor=actor, subject=appointment.client, now=now, ip=ip,
                 action="appointment.cancelled", appointment=appointment.id,
                 late=appointment.late_cancellation or None, **details)


def cancel_upcoming_of_erased(session: Session, actor: User, client: User, *, now: datetime,
                              reason: str, ip: str | None = None) -> list[Appointment]:
    """Cancel every session of the client still to come because their account is being
    erased (portal.services.erasure), whatever the policy window, and without emailing the
    client: their address is about to go. Returns the cancelled appointments, by start."""
    practice = practice_service.current(session)
    upcoming = list(session.scalars(
        select(Appointment)
        .where(Appointment.client_id == client.id, Appointment.starts_at > now,
               Appointment.status == AppointmentStatus.BOOKED)
        .options(joinedload(Appointment.service), joinedload(Appointment.therapist))
        .order_by(Appointment.starts_at, Appointment.id)
    ).unique())
    for appointment in upcoming:
        _mark_cancelled(session, practice, actor, appointment, now=now, reason=reason, ip=ip,
                        erasure=True)
    return upcoming


def _closed_message(practice: Practice) -> str:
    contact = " or ".join(x for x in (practice.phone, practice.email) if x)
    text = (f"Online changes close {practice.cancel_window_hours} hours before the session. "
            "Please contact the practice")
    return f"{text}: {contact}." if contact else f"{text}."


def client_appointments(session: Session, client: User) -> list[Appointment]:
    """All of a client's appointments, newest first, with service loaded (one query)."""
    return list(session.scalars(
        select(Appointment).where(Appointment.client_id == client.id)
        .options(joinedload(Appointment.service), joinedload(Appointment.therapist),
                 joinedload(Appointment.client))
        .order_by(Appointment.starts_at.desc())
    ))
