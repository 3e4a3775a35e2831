"""The therapist's diary settings: services, weekly hours, time off and booking rules, plus
booking, the upcoming list and the checks that keep them consistent."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, joinedload

from portal.models import (
    Appointment,
    AppointmentStatus,
    Practice,
    Role,
    Service,
    TimeOff,
    User,
    WorkingHours,
)
from portal.services import audit, booking, slots, wording
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput, NotFound, PermissionDenied

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RANGES_PER_DAY = 4
MAX_PRICE_PENCE = 100_000_00
MAX_TIME_OFF_DAYS = 366
UPCOMING_DAYS = 14


# field -> (lowest, highest, message); the forms show the same limits before submitting.
SERVICE_LIMITS = {
    "duration_minutes": (5, 480, "Enter a length between 5 and 480 minutes (8 hours)."),
    "buffer_minutes": (0, 240, "Enter a buffer between 0 and 240 minutes."),
    "sort_order": (0, 999, "Enter a position between 0 and 999."),
}


def _require_therapist(actor: User) -> None:
    """PermissionDenied unless the actor is a therapist."""
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can change the diary.")


def local_instant(zone: ZoneInfo, day: date, wall: time, *, latest: bool = False) -> datetime:
    """The UTC instant of a wall-clock time on a local date, exact on clock-change days."""
    return slots.resolve(day, wall, zone, latest=latest)


# --- services ------------------------------------------------------------------------------


def all_services(session: Session) -> list[Service]:
    """Every service, active ones first, in the therapist's order."""
    return list(session.scalars(
        select(Service).order_by(Service.active.desc(), Service.sort_order, Service.id)
    ))


def get_service(session: Session, service_id: int) -> Service:
    """One service, or NotFound."""
    service = session.get(Service, service_id)
    if service is None:
        raise NotFound("No such service.")
    return service


def parse_price(text: str | None) -> int:
    """'45', '45.50' or '£45.50' in pounds to pence; InvalidInput('price') otherwise."""
    cleaned = (text or "").strip().replace("£", "").replace(",", "").strip()
    if not cleaned:
        raise InvalidInput("price", "Enter the price in pounds, for example 45 or 45.50.")
    if not re.fullmatch(r"\d+(\.\d{1,2})?", cleaned):
        if re.fullmatch(r"-\s*\d+(\.\d*)?", cleaned):
            raise InvalidInput("price", "The price can't be negative.")
        raise InvalidInput("price", "Enter the price in pounds, for example 45 or 45.50, "
                                    "with at most two decimal places.")
    try:
        pence = int(Decimal(cleaned) * 100)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already rules this out
        raise InvalidInput("price", "Enter the price in pounds, for example 45.") from exc
    if pence > MAX_PRICE_PENCE:
        raise InvalidInput("price", "That price is too high. Enter the price in pounds.")
    return pence


def _check_service_limit(field: str, value: int | None) -> None:
    """InvalidInput for the field unless the value is within its limits."""
    low, high, message = SERVICE_LIMITS[field]
    if value is None or not low <= value <= high:
        raise InvalidInput(field, message)


def pence_to_pounds(pence: int) -> str:
    """4550 -> '45.50', 4500 -> '45' (for filling in the price field)."""
    pounds, rest = divmod(pence, 100)
    return str(pounds) if rest == 0 else f"{pounds}.{rest:02d}"


def save_service(
    session: Session, actor: User, service: Service | None, *, name: str, description: str,
    duration_minutes: int | None, price: str, buffer_minutes: int | None, active: bool,
    sort_order: int | None, now: datetime, ip: str | None = None,
) -> Service:
    """Create (service=None) or update a service after checking every value.

    Deactivating only hides it from clients: past and booked appointments keep it.
    """
    _require_therapist(actor)
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("name", "Enter a name for the service.")
    if len(name) > 120:
        raise InvalidInput("name", "Keep the name under 120 characters.")
    description = (description or "").strip()
    if len(description) > 2000:
        raise InvalidInput("description", "Keep the description under 2,000 characters.")
    _check_service_limit("duration_minutes", duration_minutes)
    price_pence = parse_price(price)
    _check_service_limit("buffer_minutes", buffer_minutes)
    sort_order = 0 if sort_order is None else sort_order
    _check_service_limit("sort_order", sort_order)
    values = {"name": name, "description": description, "duration_minutes": duration_minutes,
              "price_pence": price_pence, "buffer_minutes": buffer_minutes,
              "active": bool(active), "sort_order": sort_order}
    if service is None:
        service = Service(created_at=now, **values)
        session.add(service)
        session.flush()
        audit.record(session, actor=actor, action="service.created", now=now, ip=ip,
                     service=service.id, name=name)
        return service
    changed = sorted(key for key, value in values.items() if getattr(service, key) != value)
    for key in changed:
        setattr(service, key, values[key])
    session.flush()
    if changed:
        audit.record(session, actor=actor, action="service.updated", now=now, ip=ip,
                     service=service.id, fields=changed)
    return service


# --- weekly hours --------------------------------------------------------------------------


def hours_field(weekday: int, index: int, part: str) -> str:
    """The form field name of one start or end time in the weekly hours editor."""
    return f"d{weekday}_{index}_{part}"


def weekly_hours(session: Session, therapist: User) -> dict[int, list[tuple[time, time]]]:
    """The therapist's ranges per weekday (0 = Monday), sorted by start."""
    days: dict[int, list[tuple[time, time]]] = {day: [] for day in range(7)}
    for item in sorted(booking.working_hours(session, therapist.id),
                       key=lambda r: (r.weekday, r.start)):
        days[item.weekday].append((item.start, item.end))
    return days


def replace_hours(
    session: Session, actor: User, therapist: User,
    days: Mapping[int, Sequence[tuple[time | None, time | None]]], *, now: datetime,
    ip: str | None = None,
) -> int:
    """Replace the therapist's weekly hours with these ranges (blank pairs are skipped);
    everything is checked before anything changes. Returns how many ranges were saved."""
    _require_therapist(actor)
    if actor.id != therapist.id:
        raise PermissionDenied("You can only change your own hours.")
    clean: list[tuple[int, time, time]] = []
    for weekday in range(7):
        rows = list(days.get(weekday, ()))[:RANGES_PER_DAY]
        kept: list[tuple[int, time, time]] = []
        for index, (start, end) in enumerate(rows):
            if start is None and end is None:
                continue
            if start is None:
                raise InvalidInput(hours_field(weekday, index, "start"),
                                   "Enter a start time too, or clear the end time.")
            if end is None:
                raise InvalidInput(hours_field(weekday, index, "end"),
                                   "Enter an end time too, or clear the start time.")
            if end <= start:
                raise InvalidInput(hours_field(weekday, index, "end"),
                                   "The end must be after the start "
                                   f"({wording.clock_time(start)}).")
            kept.append((index, start, end))
        kept.sort(key=lambda row: row[1])
        for (_, prev_start, prev_end), (index, start, end) in zip(kept, kept[1:], strict=False):
            if start < prev_end:
                raise InvalidInput(hours_field(weekday, index, "start"),
                                   f"{wording.clock_time(start)}–{wording.clock_time(end)} "
                                   f"overlaps {wording.clock_time(prev_start)}–"
                                   f"{wording.clock_time(prev_end)} on "
                                   f"{WEEKDAYS[weekday]}. Ranges on one day must not overlap.")
        clean.extend((weekday, start, end) for _, start, end in kept)
    session.execute(delete(WorkingHours).where(WorkingHours.therapist_id == therapist.id))
    for weekday, start, end in clean:
        session.add(WorkingHours(therapist_id=therapist.id, weekday=weekday, start_time=start,
                                 end_time=end))
    session.flush()
    audit.record(session, actor=actor, action="hours.replaced", now=now, ip=ip,
                 ranges=len(clean))
    return len(clean)


def booked_outside_hours(session: Session, practice: Practice, therapist: User, *,
                         now: datetime) -> list[Appointment]:
    """Upcoming booked appointments that no longer fit the therapist's working hours."""
    upcoming = list(session.scalars(
        select(Appointment).where(Appointment.therapist_id == therapist.id,
                                  Appointment.status == AppointmentStatus.BOOKED,
                                  Appointment.starts_at > now)
        .order_by(Appointment.starts_at)
    ))
    if not upcoming:
        return []
    zone = practice_service.zone_of(practice)
    first = upcoming[0].starts_at.astimezone(zone).date()
    last = upcoming[-1].starts_at.astimezone(zone).date()
    worked = slots.working_intervals(booking.working_hours(session, therapist.id), zone,
                                     first, last)
    return [a for a in upcoming
            if not any(s <= a.starts_at and a.ends_at <= e for s, e in worked)]


# --- time off ------------------------------------------------------------------------------


def upcoming_time_off(session: Session, therapist: User, *, now: datetime) -> list[TimeOff]:
    """Time off that has not ended yet, soonest first."""
    return list(session.scalars(
        select(TimeOff).where(TimeOff.therapist_id == therapist.id, TimeOff.ends_at > now)
        .order_by(TimeOff.starts_at, TimeOff.id)
    ))


def time_off_interval(
    zone: ZoneInfo, *, first_day: date, last_day: date | None, start: time | None,
    end: time | None,
) -> tuple[datetime, datetime]:
    """The UTC interval for local dates and optional times: from `start` (or the beginning
    of the first day) to `end` (or the end of the last day). Exact across clock changes."""
    last_day = last_day or first_day
    if last_day < first_day:
        raise InvalidInput("last_day", "The last day can't be before the first day.")
    if (last_day - first_day).days >= MAX_TIME_OFF_DAYS:
        raise InvalidInput("last_day", "Add time off of up to a year at a time.")
    starts_at = local_instant(zone, first_day, start or time.min)
    if end is None:
        ends_at = local_instant(zone, last_day + timedelta(days=1), time.min)
    else:
        ends_at = local_instant(zone, last_day, end, latest=True)
    if ends_at <= starts_at:
        raise InvalidInput("end", "The end time must be after the start time.")
    return starts_at, ends_at


def booked_between(session: Session, therapist: User, starts_at: datetime,
                   ends_at: datetime) -> list[Appointment]:
    """The therapist's booked appointments that overlap an interval, soonest first."""
    return list(session.scalars(
        select(Appointment).where(
            Appointment.therapist_id == therapist.id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at < ends_at, Appointment.ends_at > starts_at,
        ).options(joinedload(Appointment.client), joinedload(Appointment.service))
        .order_by(Appointment.starts_at)
    ))


def add_time_off(
    session: Session, actor: User, therapist: User, *, first_day: date | None,
    last_day: date | None, start: time | None, end: time | None, reason: str,
    now: datetime, ip: str | None = None,
) -> tuple[TimeOff, list[Appointment]]:
    """Block time in the diary (local dates and times in the practice's zone). Returns the
    row and the booked appointments it overlaps: those are kept, not cancelled."""
    _require_therapist(actor)
    if actor.id != therapist.id:
        raise PermissionDenied("You can only change your own time off.")
    if first_day is None:
        raise InvalidInput("first_day", "Enter the first day of the time off.")
    reason = " ".join((reason or "").split())
    if len(reason) > 200:
        raise InvalidInput("reason", "Keep the reason under 200 characters.")
    practice = _practice(session)
    starts_at, ends_at = time_off_interval(practice_service.zone_of(practice),
                                           first_day=first_day, last_day=last_day, start=start,
                                           end=end)
    if ends_at <= now:
        raise InvalidInput("first_day", "That time is already over. Choose a time to come.")
    row = TimeOff(therapist_id=therapist.id, starts_at=starts_at, ends_at=ends_at,
                  reason=reason, created_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="time_off.added", now=now, ip=ip,
                 time_off=row.id, starts_at=starts_at.isoformat(), ends_at=ends_at.isoformat())
    return row, booked_between(session, therapist, starts_at, ends_at)


def delete_time_off(session: Session, actor: User, time_off_id: int, *, now: datetime,
                    ip: str | None = None) -> None:
    """Remove time off from the therapist's own diary; the hours become bookable again."""
    _require_therapist(actor)
    row = session.get(TimeOff, time_off_id)
    if row is None or row.therapist_id != actor.id:
        raise NotFound("No such time off.")
    audit.record(session, actor=actor, action="time_off.deleted", now=now, ip=ip,
                 time_off=row.id, starts_at=row.starts_at.isoformat(),
                 ends_at=row.ends_at.isoformat())
    session.delete(row)
    session.flush()


# --- booking rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleLimit:
    """One rule's allowed range and how to say it."""

    field: str
    low: int
    high: int
    message: str


RULE_LIMITS = {
    "slot_step_minutes": RuleLimit("slot_step_minutes", 5, 120,
                                   "Choose a slot step between 5 and 120 minutes."),
    "min_notice_hours": RuleLimit("min_notice_hours", 0, 336,
                                  "Enter a minimum notice between 0 and 336 hours (two weeks)."),
    "horizon_days": RuleLimit("horizon_value", 1, 366,
                              "Let clients book between 1 day and 52 weeks (366 days) ahead."),
    "cancel_window_hours": RuleLimit("cancel_window_hours", 0, 336,
                                     "Enter a window between 0 and 336 hours (two weeks)."),
    "reminder_lead_hours": RuleLimit("reminder_lead_hours", 1, 168,
                                     "Send the reminder between 1 and 168 hours (a week) "
                                     "before."),
    # At least 1 (0 would stop online booking, a different wish), and a cap rather than "no
    # limit", so a runaway script can never fill the diary; 50 is a year of weekly sessions.
    "max_upcoming_per_client": RuleLimit("max_upcoming_per_client", 1, 50,
                                         "Enter between 1 and 50 sessions."),
}


def _check_limit(key: str, value: int | None) -> int:
    """The value when it is within the rule's range; InvalidInput otherwise."""
    limit = RULE_LIMITS[key]
    if value is None or not limit.low <= value <= limit.high:
        raise InvalidInput(limit.field, limit.message)
    return value


def update_rules(
    session: Session, actor: User, practice: Practice, *, slot_step_minutes: int | None,
    min_notice_hours: int | None, horizon_value: int | None, horizon_unit: str,
    cancel_window_hours: int | None, reminder_lead_hours: int | None,
    max_upcoming_per_client: int | None, now: datetime, ip: str | None = None,
) -> None:
    """Save the booking rules after checking each against its allowed range and the horizon
    against the notice; the audit row has the new values and the previous ones."""
    _require_therapist(actor)
    if horizon_unit not in ("weeks", "days"):
        raise InvalidInput("horizon_unit", "Choose weeks or days.")
    if horizon_value is None or horizon_value < 1:
        raise InvalidInput("horizon_value", RULE_LIMITS["horizon_days"].message)
    horizon_days = horizon_value * 7 if horizon_unit == "weeks" else horizon_value
    values = {
        "slot_step_minutes": _check_limit("slot_step_minutes", slot_step_minutes),
        "min_notice_minutes": _check_limit("min_notice_hours", min_notice_hours) * 60,
        "horizon_days": _check_limit("horizon_days", horizon_days),
        "cancel_window_hours": _check_limit("cancel_window_hours", cancel_window_hours),
        "reminder_lead_hours": _check_limit("reminder_lead_hours", reminder_lead_hours),
        "max_upcoming_per_client": _check_limit("max_upcoming_per_client",
                                                max_upcoming_per_client),
    }
    if values["horizon_days"] * 24 < values["min_notice_minutes"] // 60:
        # Otherwise no time could ever be booked online: every slot would be too soon or too
        # far ahead.
        notice = values["min_notice_minutes"] // 60
        raise InvalidInput("horizon_value",
                           f"Let clients book at least as far ahead as the minimum notice "
                           f"({notice} hours, so at least {-(-notice // 24)} days), or no time "
                           "could be booked online.")
    changed = sorted(key for key, value in values.items() if getattr(practice, key) != value)
    previous = {key: getattr(practice, key) for key in changed}
    for key in changed:
        setattr(practice, key, values[key])
    if changed:
        practice.updated_at = now
        audit.record(session, actor=actor, action="rules.updated", now=now, ip=ip,
                     previous=previous, **{key: values[key] for key in changed})
    session.flush()


# --- appointments --------------------------------------------------------------------------


def upcoming(session: Session, practice: Practice, therapist: User, *, now: datetime,
             days: int = UPCOMING_DAYS) -> dict[date, list[Appointment]]:
    """The therapist's appointments from the start of today (local) for `days` days, grouped
    by local date; days without appointments are left out. One query."""
    zone = practice_service.zone_of(practice)
    today = now.astimezone(zone).date()
    start = local_instant(zone, today, time.min)
    end = local_instant(zone, today + timedelta(days=days), time.min)
    rows = session.scalars(
        select(Appointment).where(Appointment.therapist_id == therapist.id,
                                  Appointment.starts_at >= start, Appointment.starts_at < end)
        .options(joinedload(Appointment.client), joinedload(Appointment.service))
        .order_by(Appointment.starts_at, Appointment.id)
    )
    grouped: dict[date, list[Appointment]] = {}
    for appointment in rows:
        grouped.setdefault(appointment.starts_at.astimezone(zone).date(), []).append(appointment)
    return grouped


def bookable_clients(session: Session) -> list[User]:
    """Active clients, by name."""
    return list(session.scalars(
        select(User).where(User.role == Role.CLIENT, User.active)
        .order_by(func.lower(User.name), User.id)
    ))


def parse_slot(value: str | None) -> datetime | None:
    """A posted slot value (an ISO UTC instant from the list) as an aware datetime."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def book_for_client(
    session: Session, actor: User, *, client_id: int | None, service_id: int | None,
    day: date | None, slot: str | None, override: bool, override_time: time | None,
    note: str = "", now: datetime, links: booking.EmailLinks, ip: str | None = None,
) -> Appointment:
    """A therapist books a session for a client: a free slot from the list, or, with the
    override, any time within working hours even over another appointment (audited)."""
    _require_therapist(actor)
    client = session.get(User, client_id) if client_id else None
    if client is None or not client.is_client or not client.active:
        raise InvalidInput("client", "Choose an active client.")
    if service_id is None or session.get(Service, service_id) is None:
        raise InvalidInput("service", "Choose a service.")
    if override:
        if day is None:
            raise InvalidInput("day", "Choose the day.")
        if override_time is None:
            raise InvalidInput("override_time",
                               "Enter the time to book at when booking over another "
                               "appointment.")
        starts_at = local_instant(practice_service.zone_of(_practice(session)), day,
                                  override_time)
    else:
        starts_at = parse_slot(slot)
        if starts_at is None:
            raise InvalidInput("start", "Choose a time from the list.")
    return booking.book(session, actor, client=client, therapist=actor, service_id=service_id,
                        starts_at=starts_at, now=now, links=links, note=note,
                        override=override, ip=ip)


def _practice(session: Session) -> Practice:
    """The practice row, or NotFound before setup."""
    practice = practice_service.current(session)
    if practice is None:
        raise NotFound("The practice has not been set up yet.")
    return practice


def describe(appointments: Iterable[Appointment], zone: ZoneInfo) -> list[str]:
    """'Wednesday 4 March at 10:00, Alex Morgan (60 minute massage)' for each appointment."""
    lines = []
    for appointment in appointments:
        lines.append(f"{wording.day_and_time(appointment.starts_at, zone)}, "
                     f"{appointment.client.name} ({appointment.service.name})")
    return lines
