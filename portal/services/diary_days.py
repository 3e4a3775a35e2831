"""The Diary's days: a day or week of appointments, each with a pre-session summary
(programme version, adherence since the last attended visit, open pain reports, questionnaire
red flags) and private session notes; a month at a glance (sessions per local day); marking a
session attended or a no-show.

The summary for every appointment on the page is built from a fixed number of queries (see
`days_of()`), applying the rule of services/adherence.py to rows it loads for all clients
at once.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from portal.models import (
    Appointment,
    AppointmentStatus,
    CompletionLog,
    IntakeForm,
    SessionNote,
    User,
)
from portal.services import adherence, audit
from portal.services.diary import local_instant
from portal.services.errors import Conflict, PermissionDenied
from portal.services.validation import clean_text

NOTE_LIMIT = 5000
VIEWS = ("day", "week", "month")
# The days the diary pages through; a day outside is treated as malformed, so that stepping
# and the local-midnight arithmetic never leave the range Python's dates can hold.
EARLIEST = date(1900, 1, 1)
LATEST = date(9998, 12, 31)


@dataclass(frozen=True)
class Summary:
    """How the client got on before this session."""

    version_number: int | None  # None: no programme yet
    version_saved_at: datetime | None
    since: date | None  # first local day counted for adherence
    since_visit: bool  # True: counted from the last attended visit; False: this week
    prescribed: int
    done: int
    pain_flags: int
    red_flags: int

    @property
    def percent(self) -> int | None:
        """Adherence 0 to 100; None when nothing was prescribed in the period."""
        return adherence.percent(self.done, self.prescribed)


@dataclass(frozen=True)
class Entry:
    """One appointment in the diary with its summary and notes."""

    appointment: Appointment
    summary: Summary
    notes: list[SessionNote] = field(default_factory=list)


@dataclass(frozen=True)
class Days:
    """The appointments between two local dates (inclusive), grouped by local date."""

    first: date
    last: date
    view: str
    days: dict[date, list[Entry]]

    @property
    def count(self) -> int:
        """Appointments that are not cancelled."""
        return sum(1 for entries in self.days.values() for e in entries
                   if e.appointment.status is not AppointmentStatus.CANCELLED)


def period(day: date, view: str) -> tuple[date, date]:
    """The first and last local dates shown for a day in a view (a week runs Monday to
    Sunday, a month from its 1st to its last day)."""
    if view == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if view == "month":
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return day, day


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later (earlier when negative), moved back to the
    month's last day when it is shorter (31 January + 1 month is 28 or 29 February)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def step(day: date, view: str, direction: int) -> date:
    """The day one page earlier (-1) or later (+1)."""
    if view == "month":
        return add_months(day, direction)
    return day + timedelta(days=direction * (7 if view == "week" else 1))


def in_range(day: date) -> bool:
    """Can the diary show this day (see EARLIEST and LATEST)?"""
    return EARLIEST <= day <= LATEST


def _require_therapist(actor: User) -> None:
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can use the diary.")


def days_of(session: Session, therapist: User, zone: ZoneInfo, *, day: date, view: str,
            now: datetime) -> Days:
    """The therapist's appointments for the day or week holding `day`, each with its
    summary and notes. Seven queries, whatever the number of appointments, clients and
    logs (fewer when the page is empty)."""
    _require_therapist(therapist)
    first, last = period(day, view if view in VIEWS else "day")
    start = local_instant(zone, first, time.min)
    end = local_instant(zone, last + timedelta(days=1), time.min)
    today = now.astimezone(zone).date()
    appointments = list(session.scalars(
        select(Appointment).where(Appointment.therapist_id == therapist.id,
                                  Appointment.starts_at >= start, Appointment.starts_at < end)
        .options(joinedload(Appointment.client), joinedload(Appointment.service))
        .order_by(Appointment.starts_at, Appointment.id)
    ))
    days: dict[date, list[Entry]] = {}
    if not appointments:
        return Days(first=first, last=last, view=view, days=days)
    ids = [a.id for a in appointments]
    client_ids = sorted({a.client_id for a in appointments})

    notes: dict[int, list[SessionNote]] = defaultdict(list)
    for note in session.scalars(
        select(SessionNote).where(SessionNote.appointment_id.in_(ids))
        .order_by(SessionNote.created_at, SessionNote.id)
    ):
        notes[note.appointment_id].append(note)

    # Attended visits before the page, per client; visits on the page are added below.
    attended_before = dict(session.execute(
        select(Appointment.client_id, func.max(Appointment.starts_at))
        .where(Appointment.client_id.in_(client_ids),
               Appointment.status == AppointmentStatus.ATTENDED, Appointment.starts_at < start)
        .group_by(Appointment.client_id)
    ).all())
    attended_on_page: dict[int, list[datetime]] = defaultdict(list)
    for a in appointments:
        if a.status is AppointmentStatus.ATTENDED:
            attended_on_page[a.client_id].append(a.starts_at)

    def last_visit(appointment: Appointment) -> datetime | None:
        earlier = [s for s in attended_on_page[appointment.client_id]
                   if s < appointment.starts_at]
        before = attended_before.get(appointment.client_id)
        candidates = [*earlier, *([before] if before else [])]
        return max(candidates) if candidates else None

    versions = adherence.current_programmes(session, client_ids)

    # The adherence window of each appointment: from the local day of the client's last
    # attended visit (or this week's Monday) to the earlier of today and the session's day.
    week_start = today - timedelta(days=today.weekday())
    windows: dict[int, tuple[date, date, bool]] = {}
    for a in appointments:
        visit = last_visit(a)
        since = visit.astimezone(zone).date() if visit else week_start
        version = versions.get(a.client_id)
        if version is not None:
            since = max(since, version.start_day(zone))
        windows[a.id] = (since, min(today, a.starts_at.astimezone(zone).date()),
                         visit is not None)
    earliest = min(w[0] for w in windows.values())
    latest_day = max(w[1] for w in windows.values())
    logs = (adherence.daily_logs(session, earliest, latest_day, client_ids)
            if earliest <= latest_day else {})

    pain = dict(session.execute(
        select(CompletionLog.client_id, func.count())
        .where(CompletionLog.client_id.in_(client_ids), CompletionLog.pain,
               CompletionLog.pain_acknowledged_at.is_(None))
        .group_by(CompletionLog.client_id)
    ).all())

    # The newest questionnaire of each client (highest submitted_at, then id).
    red_flags: dict[int, int] = {}
    for form in session.execute(
        select(IntakeForm.client_id, IntakeForm.red_flags)
        .where(IntakeForm.client_id.in_(client_ids))
        .order_by(IntakeForm.submitted_at, IntakeForm.id)
    ):
        red_flags[form.client_id] = len(form.red_flags or [])

    for a in appointments:
        since, until, since_visit = windows[a.id]
        version = versions.get(a.client_id)
        totals = adherence.Totals()
        if version is not None:
            # The window may span several weeks (since the last visit): the rule counts
            # days_per_week per whole week.
            totals = adherence.totals(version.items, logs.get(a.client_id, {}), since, until)
        summary = Summary(
            version_number=version.number if version else None,
            version_saved_at=version.saved_at if version else None,
            since=since if version else None, since_visit=since_visit,
            prescribed=totals.prescribed, done=totals.done, pain_flags=pain.get(a.client_id, 0),
            red_flags=red_flags.get(a.client_id, 0),
        )
        days.setdefault(a.starts_at.astimezone(zone).date(), []).append(
            Entry(appointment=a, summary=summary, notes=notes.get(a.id, [])))
    return Days(first=first, last=last, view=view, days=days)


# --- month ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthDay:
    """One square of the month grid: a local date and its sessions that are not cancelled,
    in start order (none for the days of the months either side)."""

    day: date
    in_month: bool
    appointments: tuple[Appointment, ...] = ()

    @property
    def count(self) -> int:
        """Sessions on this day that are not cancelled."""
        return len(self.appointments)


@dataclass(frozen=True)
class Month:
    """A calendar month as whole weeks, Monday to Sunday, in the practice's zone."""

    first: date  # the 1st of the month
    last: date  # its last day
    weeks: list[list[MonthDay]]

    @property
    def count(self) -> int:
        """Sessions in the month that are not cancelled."""
        return sum(d.count for week in self.weeks for d in week)


def month(session: Session, therapist: User, zone: ZoneInfo, *, day: date) -> Month:
    """The therapist's sessions that are not cancelled in the month holding `day`, by local
    day, with client and service loaded. One query, whatever the number of appointments."""
    _require_therapist(therapist)
    first, last = period(day, "month")
    # Local midnights, so that a session at 00:30 on the 1st (23:30 UTC the day before in
    # summer time) belongs to this month and not to the one before.
    start = local_instant(zone, first, time.min)
    end = local_instant(zone, last + timedelta(days=1), time.min)
    by_day: dict[date, list[Appointment]] = defaultdict(list)
    for a in session.scalars(
        select(Appointment).where(Appointment.therapist_id == therapist.id,
                                  Appointment.starts_at >= start, Appointment.starts_at < end,
                                  Appointment.status != AppointmentStatus.CANCELLED)
        .options(joinedload(Appointment.client), joinedload(Appointment.service))
        .order_by(Appointment.starts_at, Appointment.id)
    ):
        by_day[a.starts_at.astimezone(zone).date()].append(a)
    monday = first - timedelta(days=first.weekday())
    weeks: list[list[MonthDay]] = []
    while monday <= last:
        days = [monday + timedelta(days=n) for n in range(7)]
        weeks.append([MonthDay(day=d, in_month=first <= d <= last,
                               appointments=tuple(by_day.get(d, ())))
                      for d in days])
        monday += timedelta(days=7)
    return Month(first=first, last=last, weeks=weeks)


@dataclass(frozen=True)
class Overview:
    """The therapist's day at a glance: today's sessions and the next one to come."""

    today: Days
    upcoming: Entry | None  # the session in progress or next, today or later
    remaining: int  # today's booked sessions that have not ended yet


def overview(session: Session, therapist: User, zone: ZoneInfo, *, now: datetime) -> Overview:
    """Today's appointments and the booked session in progress or next (with its pre-session
    summary), looked for today first and then on later days. At most two days_of() reads
    and one query in between, whatever the size of the diary."""
    today = days_of(session, therapist, zone, day=now.astimezone(zone).date(), view="day",
                    now=now)

    def first_to_come(found: Days) -> Entry | None:
        return next((e for entries in found.days.values() for e in entries
                     if e.appointment.status is AppointmentStatus.BOOKED
                     and e.appointment.ends_at > now), None)

    upcoming = first_to_come(today)
    remaining = sum(1 for entries in today.days.values() for e in entries
                    if e.appointment.status is AppointmentStatus.BOOKED
                    and e.appointment.ends_at > now)
    if upcoming is None:
        starts = session.scalar(
            select(Appointment.starts_at)
            .where(Appointment.therapist_id == therapist.id, Appointment.starts_at > now,
                   Appointment.status == AppointmentStatus.BOOKED)
            .order_by(Appointment.starts_at).limit(1))
        if starts is not None:
            later = days_of(session, therapist, zone, day=starts.astimezone(zone).date(),
                            view="day", now=now)
            upcoming = first_to_come(later)
    return Overview(today=today, upcoming=upcoming, remaining=remaining)


# --- transitions ----------------------------------------------------------------------------


def can_mark(user: User, appointment: Appointment, now: datetime) -> bool:
    """May this user mark the appointment attended or a no-show now? Therapists, once a
    booked session has started."""
    return (user.is_therapist and appointment.status is AppointmentStatus.BOOKED
            and appointment.starts_at <= now)


def _check_markable(actor: User, appointment: Appointment, now: datetime) -> None:
    _require_therapist(actor)
    if appointment.status is not AppointmentStatus.BOOKED:
        raise Conflict(f"This session is already {_status_words[appointment.status]}; "
                       "only a booked session can be marked.")
    if appointment.starts_at > now:
        raise Conflict("This session hasn't started yet; mark it once it has begun.")


_status_words = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.ATTENDED: "marked attended",
    AppointmentStatus.NO_SHOW: "marked as a no-show",
}


def _mark(session: Session, actor: User, appointment: Appointment, status: AppointmentStatus,
          action: str, *, now: datetime, ip: str | None) -> Appointment:
    _check_markable(actor, appointment, now)
    appointment.status = status
    appointment.updated_at = now
    audit.record(session, actor=actor, subject=appointment.client, action=action, now=now,
                 ip=ip, appointment_id=appointment.id)
    session.flush()
    return appointment


def mark_attended(session: Session, actor: User, appointment: Appointment, *, now: datetime,
                  ip: str | None = None) -> Appointment:
    """Booked -> attended, once the session has started (audited)."""
    return _mark(session, actor, appointment, AppointmentStatus.ATTENDED,
                 "appointment.attended", now=now, ip=ip)


def mark_no_show(session: Session, actor: User, appointment: Appointment, *, now: datetime,
                 ip: str | None = None) -> Appointment:
    """Booked -> no-show, once the session has started (audited)."""
    return _mark(session, actor, appointment, AppointmentStatus.NO_SHOW,
                 "appointment.no_show", now=now, ip=ip)


def add_note(session: Session, actor: User, appointment: Appointment, body: str | None, *,
             now: datetime, ip: str | None = None) -> SessionNote:
    """Append a private note to an appointment (audited without its text)."""
    _require_therapist(actor)
    text = clean_text((body or "").replace("\x00", ""), "body", NOTE_LIMIT,
                      required="Write the note before saving it.")
    note = SessionNote(appointment_id=appointment.id, author_id=actor.id, body=text,
                       created_at=now)
    session.add(note)
    audit.record(session, actor=actor, subject=appointment.client, action="session_note.added",
                 now=now, ip=ip, appointment_id=appointment.id, length=len(text))
    session.flush()
    return note

