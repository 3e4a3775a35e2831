"""The therapist's agenda: a day or week of appointments, each with a pre-session summary
(programme version, adherence since the last attended visit, open pain reports, questionnaire
red flags) and private session notes; a month at a glance (sessions per local day); marking a
session attended or a no-show.

The summary for every appointment on the page is built from a fixed number of queries (see
`agenda()`), applying the adherence rules of programmes.adherence() to rows fetched for all
clients at once, as caseload.programme_overview() does.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, joinedload

from portal.models import (
    Appointment,
    AppointmentStatus,
    CompletionLog,
    IntakeForm,
    Programme,
    ProgrammeItem,
    ProgrammeVersion,
    SessionNote,
    User,
)
from portal.services import audit
from portal.services.caseload import _current_versions
from portal.services.diary import local_instant
from portal.services.errors import Conflict, PermissionDenied
from portal.services.validation import clean_text

NOTE_LIMIT = 5000
VIEWS = ("day", "week", "month")
# The days the agenda pages through; a day outside is treated as malformed, so that stepping
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
        return round(100 * self.done / self.prescribed) if self.prescribed else None


@dataclass(frozen=True)
class Entry:
    """One appointment on the agenda with its summary and notes."""

    appointment: Appointment
    summary: Summary
    notes: list[SessionNote] = field(default_factory=list)


@dataclass(frozen=True)
class Agenda:
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
    """Can the agenda show this day (see EARLIEST and LATEST)?"""
    return EARLIEST <= day <= LATEST


def _require_therapist(actor: User) -> None:
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can use the agenda.")


def _prescribed(times_per_day: int, days_per_week: int, days_elapsed: int) -> int:
    """Sessions prescribed over a number of days: per whole week `days_per_week` days, and
    in a part week the first days of it (the rule programmes.adherence() uses for one
    week)."""
    weeks, rest = divmod(days_elapsed, 7)
    return times_per_day * (weeks * days_per_week + min(days_per_week, rest))


def agenda(session: Session, therapist: User, zone: ZoneInfo, *, day: date, view: str,
           now: datetime) -> Agenda:
    """The therapist's appointments for the day or week holding `day`, each with its
    summary and notes. Eight queries, whatever the number of appointments, clients and
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
        return Agenda(first=first, last=last, view=view, days=days)
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

    latest = _current_versions()
    versions = {
        row.client_id: row for row in session.execute(
            select(Programme.client_id, Programme.created_at.label("started"),
                   ProgrammeVersion.number, ProgrammeVersion.created_at)
            .join(ProgrammeVersion, ProgrammeVersion.programme_id == Programme.id)
            .join(latest, and_(latest.c.programme_id == ProgrammeVersion.programme_id,
                               latest.c.number == ProgrammeVersion.number))
            .where(Programme.client_id.in_(client_ids))
        )
    }
    items: dict[int, list] = defaultdict(list)
    for row in session.execute(
        select(Programme.client_id, ProgrammeItem.exercise_id, ProgrammeItem.times_per_day,
               ProgrammeItem.days_per_week)
        .join(ProgrammeVersion, ProgrammeItem.version_id == ProgrammeVersion.id)
        .join(Programme, ProgrammeVersion.programme_id == Programme.id)
        .join(latest, and_(latest.c.programme_id == ProgrammeVersion.programme_id,
                           latest.c.number == ProgrammeVersion.number))
        .where(Programme.client_id.in_(client_ids))
    ):
        items[row.client_id].append(row)

    # The adherence window of each appointment: from the local day of the client's last
    # attended visit (or this week's Monday) to the earlier of today and the session's day.
    week_start = today - timedelta(days=today.weekday())
    windows: dict[int, tuple[date, date, bool]] = {}
    for a in appointments:
        visit = last_visit(a)
        since = visit.astimezone(zone).date() if visit else week_start
        version = versions.get(a.client_id)
        if version is not None:
            since = max(since, version.started.astimezone(zone).date())
        windows[a.id] = (since, min(today, a.starts_at.astimezone(zone).date()),
                         visit is not None)
    earliest = min(w[0] for w in windows.values())
    latest_day = max(w[1] for w in windows.values())
    logs: dict[int, dict[int, list[tuple[date, int]]]] = defaultdict(lambda: defaultdict(list))
    if earliest <= latest_day:
        for client_id, exercise_id, log_day, n in session.execute(
            select(CompletionLog.client_id, CompletionLog.exercise_id, CompletionLog.local_date,
                   func.count())
            .where(CompletionLog.client_id.in_(client_ids),
                   CompletionLog.local_date >= earliest, CompletionLog.local_date <= latest_day)
            .group_by(CompletionLog.client_id, CompletionLog.exercise_id,
                      CompletionLog.local_date)
        ):
            logs[client_id][exercise_id].append((log_day, n))

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
        prescribed = done = 0
        if version is not None and since <= until:
            days_elapsed = (until - since).days + 1
            for item in items.get(a.client_id, []):
                item_prescribed = _prescribed(item.times_per_day, item.days_per_week,
                                              days_elapsed)
                item_done = sum(min(n, item.times_per_day)
                                for log_day, n in logs[a.client_id].get(item.exercise_id, [])
                                if since <= log_day <= until)
                prescribed += item_prescribed
                done += min(item_done, item_prescribed)
        summary = Summary(
            version_number=version.number if version else None,
            version_saved_at=version.created_at if version else None,
            since=since if version else None, since_visit=since_visit,
            prescribed=prescribed, done=done, pain_flags=pain.get(a.client_id, 0),
            red_flags=red_flags.get(a.client_id, 0),
        )
        days.setdefault(a.starts_at.astimezone(zone).date(), []).append(
            Entry(appointment=a, summary=summary, notes=notes.get(a.id, [])))
    return Agenda(first=first, last=last, view=view, days=days)


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

    today: Agenda
    upcoming: Entry | None  # the session in progress or next, today or later
    remaining: int  # today's booked sessions that have not ended yet


def overview(session: Session, therapist: User, zone: ZoneInfo, *, now: datetime) -> Overview:
    """Today's agenda and the booked session in progress or next (with its pre-session
    summary), looked for today first and then on later days. At most two agendas and one
    query in between, whatever the size of the diary."""
    today = agenda(session, therapist, zone, day=now.astimezone(zone).date(), view="day",
                   now=now)

    def first_to_come(found: Agenda) -> Entry | None:
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
            later = agenda(session, therapist, zone, day=starts.astimezone(zone).date(),
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

