"""Adherence: how much of their home programme a client did, the one home of the rule.

The rule, for one item of the current version over a run of local days:

- Days elapsed: from the later of the window's first day and the day the programme started,
  to the window's last day (never past today), inclusive.
- Prescribed: times_per_day x days_per_week per whole week elapsed, and in a part week
  times_per_day x min(days_per_week, its days): the client is assumed to do the item on the
  first days of a week.
- Done: on each elapsed day, logs of that exercise counted up to times_per_day; summed and
  capped at the prescription, so extra sessions never push adherence past 100%.
- Percent: done / prescribed, rounded; None when nothing was prescribed.

It comes in three forms: the pure functions (`prescribed`, `done`, `percent`, `totals`, and
`running_done`, the same rule at the end of each day of a week); a loader
(`current_programmes`, `daily_logs`) fetching what the rule needs for many clients in one
query each, so a list of clients costs no more queries than one client; and the stored
summary (services/adherence_summary.py) that the client list's low adherence filter reads,
computed with these functions whenever logs and versions are saved. Tests check that the
summary and the Python give the same numbers on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from portal.models import (
    CompletionLog,
    Exercise,
    Programme,
    ProgrammeItem,
    ProgrammeVersion,
    User,
)
from portal.services import practice as practice_service

# Streaks are counted over at most this many logged days (one bounded query).
MAX_STREAK_DAYS = 1000

# Logs of one client by exercise id: (local date, how many logs that day).
DayCounts = Mapping[int, Sequence[tuple[date, int]]]


# --- the rule -------------------------------------------------------------------------------


def days_elapsed(first: date, last: date) -> int:
    """Days from `first` to `last`, both included; 0 when `last` comes before `first`."""
    return max(0, (last - first).days + 1)


def prescribed(times_per_day: int, days_per_week: int, days: int) -> int:
    """Sessions of one item prescribed over `days` elapsed days (see the module's rule)."""
    weeks, rest = divmod(days, 7)
    return times_per_day * (weeks * days_per_week + min(days_per_week, rest))


def done(day_counts: Iterable[int], times_per_day: int, due: int) -> int:
    """Sessions of one item done, from its logs per day, capped at `due` (its prescription)."""
    return min(sum(min(n, times_per_day) for n in day_counts), due)


def percent(done_sessions: int, prescribed_sessions: int) -> int | None:
    """Done out of prescribed, 0 to 100 (rounded half to even); None when nothing is due."""
    if not prescribed_sessions:
        return None
    return round(100 * done_sessions / prescribed_sessions)


@dataclass(frozen=True)
class Totals:
    """Prescribed and done sessions over a window, for one item or summed over items."""

    prescribed: int = 0
    done: int = 0

    @property
    def percent(self) -> int | None:
        """0 to 100; None when nothing was prescribed."""
        return percent(self.done, self.prescribed)


def item_totals(times_per_day: int, days_per_week: int,
                logs: Iterable[tuple[date, int]], first: date, last: date) -> Totals:
    """One item's sessions over the days first..last, from its (day, count) logs (days
    outside the window are ignored)."""
    due = prescribed(times_per_day, days_per_week, days_elapsed(first, last))
    return Totals(prescribed=due,
                  done=done((n for day, n in logs if first <= day <= last), times_per_day, due))


def running_done(times_per_day: int, days_per_week: int, logs: Mapping[date, int],
                 first: date, days: Sequence[date]) -> list[int]:
    """One item's sessions done by the end of each of `days` (consecutive, in order), counting
    from `first`: for each day, item_totals(..., first, day).done, in one pass (a test checks
    the two agree). `logs` maps a local day to its number of logs."""
    result = []
    sessions = 0  # each counted day's logs, up to times_per_day
    for day in days:
        if first <= day:
            sessions += min(logs.get(day, 0), times_per_day)
        result.append(min(sessions,
                          prescribed(times_per_day, days_per_week, days_elapsed(first, day))))
    return result


def totals(items: Iterable[PlannedItem], logs: DayCounts, first: date, last: date) -> Totals:
    """Every item's sessions over first..last, summed; `logs` by exercise id."""
    prescribed_sum = done_sum = 0
    for item in items:
        one = item_totals(item.times_per_day, item.days_per_week,
                          logs.get(item.exercise_id, ()), first, last)
        prescribed_sum += one.prescribed
        done_sum += one.done
    return Totals(prescribed=prescribed_sum, done=done_sum)


# --- loading, for many clients at once ------------------------------------------------------


@dataclass(frozen=True)
class PlannedItem:
    """One item of a current version, as adherence reads it."""

    exercise_id: int
    name: str
    times_per_day: int
    days_per_week: int


@dataclass(frozen=True)
class CurrentProgramme:
    """A client's programme as adherence reads it: its current version and items in order."""

    client_id: int
    started: datetime  # when the programme was created; adherence counts from that local day
    number: int
    saved_at: datetime
    items: tuple[PlannedItem, ...] = ()

    def start_day(self, zone: ZoneInfo) -> date:
        """The local day the programme started."""
        return self.started.astimezone(zone).date()


def is_current(version=ProgrammeVersion):
    """The SQL condition: `version` (the ProgrammeVersion entity or an alias) is its
    programme's newest. A max() correlated to that one programme, read from the end of the
    (programme_id, number) unique index, rather than grouping every programme's versions to
    keep a few."""
    newest = aliased(ProgrammeVersion)
    return version.number == (select(func.max(newest.number))
                              .where(newest.programme_id == version.programme_id)
                              .correlate_except(newest).scalar_subquery())


def current_programmes(session: Session,
                       client_ids: Iterable[int] | None = None) -> dict[int, CurrentProgramme]:
    """Every programme (or those of the clients listed) with its current version and items,
    by client id. One query (none for an empty list)."""
    query = (
        select(Programme.client_id, Programme.created_at.label("started"),
               ProgrammeVersion.number, ProgrammeVersion.created_at, ProgrammeItem.exercise_id,
               Exercise.name, ProgrammeItem.times_per_day, ProgrammeItem.days_per_week)
        .select_from(Programme)
        .join(ProgrammeVersion, and_(ProgrammeVersion.programme_id == Programme.id,
                                     is_current()))
        # Outer joins: a current version may have no items, and still counts as a programme.
        .outerjoin(ProgrammeItem, ProgrammeItem.version_id == ProgrammeVersion.id)
        .outerjoin(Exercise, Exercise.id == ProgrammeItem.exercise_id)
        .order_by(Programme.client_id, ProgrammeItem.position)
    )
    if client_ids is not None:
        client_ids = list(client_ids)
        if not client_ids:
            return {}
        query = query.where(Programme.client_id.in_(client_ids))
    found: dict[int, CurrentProgramme] = {}
    items: dict[int, list[PlannedItem]] = defaultdict(list)
    for row in session.execute(query):
        found.setdefault(row.client_id, CurrentProgramme(
            client_id=row.client_id, started=row.started, number=row.number,
            saved_at=row.created_at))
        if row.exercise_id is not None:
            items[row.client_id].append(PlannedItem(
                exercise_id=row.exercise_id, name=row.name, times_per_day=row.times_per_day,
                days_per_week=row.days_per_week))
    return {client_id: CurrentProgramme(
                client_id=client_id, started=p.started, number=p.number, saved_at=p.saved_at,
                items=tuple(items.get(client_id, ())))
            for client_id, p in found.items()}


def daily_logs(session: Session, first: date, last: date,
               client_ids: Iterable[int] | None = None) -> dict[int, dict[int, list]]:
    """How many logs each client (all, or those listed) made of each exercise on each local
    day from first to last: {client id: {exercise id: [(day, count), ...]}}. One query."""
    query = (
        select(CompletionLog.client_id, CompletionLog.exercise_id, CompletionLog.local_date,
               func.count())
        .where(CompletionLog.local_date >= first, CompletionLog.local_date <= last)
        .group_by(CompletionLog.client_id, CompletionLog.exercise_id, CompletionLog.local_date)
    )
    if client_ids is not None:
        query = query.where(CompletionLog.client_id.in_(list(client_ids)))
    logs: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for client_id, exercise_id, day, count in session.execute(query):
        logs[client_id][exercise_id].append((day, count))
    return {client_id: dict(by_exercise) for client_id, by_exercise in logs.items()}


# --- one client's week, and the streak ------------------------------------------------------


@dataclass(frozen=True)
class ItemAdherence:
    """Prescribed and done sessions of one exercise in the week so far."""

    exercise_id: int
    name: str
    prescribed: int
    done: int


@dataclass(frozen=True)
class Adherence:
    """This week's adherence and the current streak; see client_week() for the rules."""

    week_start: date
    today: date
    days_elapsed: int
    prescribed: int
    done: int
    percent: int | None  # None when nothing was prescribed yet
    streak: int
    items: list[ItemAdherence] = field(default_factory=list)


def client_week(session: Session, client: User, week_start: date, *,
                today: date) -> Adherence:
    """Adherence for the week starting `week_start` (normally a Monday), as of the client's
    local date `today`, by the module's rule (the window ends at the earlier of today and the
    week's last day), with each item of the current version, and the streak up to `today`.
    Four queries."""
    week_end = week_start + timedelta(days=6)
    programme = current_programmes(session, [client.id]).get(client.id)
    plan = programme.items if programme is not None else ()
    first = week_start
    last = min(today, week_end)
    elapsed = 0
    if plan:
        first = max(week_start, programme.start_day(practice_service.zone(session)))
        elapsed = days_elapsed(first, last)
    logs = daily_logs(session, first, last, [client.id]).get(client.id, {}) if elapsed else {}
    items = []
    for item in plan:
        one = item_totals(item.times_per_day, item.days_per_week,
                          logs.get(item.exercise_id, ()), first, last)
        items.append(ItemAdherence(exercise_id=item.exercise_id, name=item.name,
                                   prescribed=one.prescribed, done=one.done))
    week = Totals(prescribed=sum(i.prescribed for i in items), done=sum(i.done for i in items))
    return Adherence(
        week_start=week_start, today=today, days_elapsed=elapsed, prescribed=week.prescribed,
        done=week.done, percent=week.percent, streak=streak(session, client, today),
        items=items,
    )


def streak(session: Session, client: User, today: date) -> int:
    """Consecutive local days with at least one log, ending today (or yesterday when nothing
    is logged yet today). One query."""
    days = set(session.scalars(
        select(CompletionLog.local_date).where(CompletionLog.client_id == client.id,
                                               CompletionLog.local_date <= today)
        .group_by(CompletionLog.local_date)
        .order_by(CompletionLog.local_date.desc()).limit(MAX_STREAK_DAYS)
    ))
    cursor = today if today in days else today - timedelta(days=1)
    count = 0
    while cursor in days:
        count += 1
        cursor -= timedelta(days=1)
    return count


# --- week by week, for many clients at once -------------------------------------------------


@dataclass(frozen=True)
class Week:
    """Adherence for one Monday-to-Sunday week, up to today when it is the current week."""

    start: date
    prescribed: int
    done: int

    @property
    def percent(self) -> int | None:
        """0 to 100; None when nothing was prescribed that week."""
        return percent(self.done, self.prescribed)


def week_starts(today: date, weeks: int) -> list[date]:
    """The Mondays of the last `weeks` weeks, oldest first, the last one's week holding
    `today`."""
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def weekly(session: Session, zone: ZoneInfo, today: date, weeks: int,
           client_ids: list[int] | None = None) -> dict[int, list[Week]]:
    """Per client (all, or those listed) whose current version has items: the last `weeks`
    weeks, oldest first, the last one holding `today`. Two queries."""
    if client_ids is not None and not client_ids:
        return {}
    starts = week_starts(today, weeks)
    programmes = current_programmes(session, client_ids)
    logs = daily_logs(session, starts[0], today, client_ids)
    result: dict[int, list[Week]] = {}
    for client_id, programme in programmes.items():
        if not programme.items:
            continue
        started = programme.start_day(zone)
        client_logs = logs.get(client_id, {})
        series = []
        for start in starts:
            week = totals(programme.items, client_logs, max(start, started),
                          min(today, start + timedelta(days=6)))
            series.append(Week(start=start, prescribed=week.prescribed, done=week.done))
        result[client_id] = series
    return result
