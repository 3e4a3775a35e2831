"""The stored adherence summary: the client list's low adherence filter and the dashboard
read it instead of recomputing every client's items and logs on every request.

Why this shape. Adherence over "this week and last" (services/adherence.py) is summed week by
week, each week capped on its own, and the current week's figure grows day by day with no
write at all (more days elapse, so more sessions are due). So the summary stores what does
not depend on the day it is read:

- per client (`AdherencePlan`), the local day the programme started and `due_k`, the sessions
  the current version prescribes over the first k days of a week (k = 1..7);
- per client and week (`AdherenceWeek`, weeks with logs only), `done_k`, the sessions done by
  the end of the week's k-th day, as the rule counts them (capped per day and per week).

A reader on any local day picks, for each week of the window, the column of the days elapsed:
due over the days since the later of the week's start and the programme's start, and done by
that day. That is one primary-key lookup per client and week, and it equals the rule exactly
(tests compare the two on both databases, across clock changes and programme starts near
midnight). A row per client and day would also work, but would need rows for days with no
logs (the due sessions grow anyway) and a sum over up to 14 of them.

Kept current by the services that change what it is computed from, each under the lock on the
client's programme row so that concurrent writers queue: a log saved (client_day), a version
saved or a template applied (programmes), a change of the practice's time zone, which moves
the day each programme started (practice), and the purge of an erased client's records
(erasure). Nothing else changes it: logs are never edited or deleted but by the purge, and
moments, notes and reminder times do not count. A backup carries the tables with everything
else. `flask rebuild-adherence` (and the migration that created the tables) recomputes it
all; the demo seed is followed by one. A change to the rule itself needs a rebuild.

Weeks older than the last WEEKS are dropped whenever a client's summary is written: they can
never be read again, as windows only move forward in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from portal.models import AdherencePlan, AdherenceWeek, Programme
from portal.models.adherence import DAYS
from portal.services import adherence
from portal.services import practice as practice_service

# The longest window the summary answers: this week and last (the client list's fortnight).
WEEKS = 2
# Clients recomputed together by rebuild(): bounds the memory one step needs.
REBUILD_BATCH = 500


def monday(day: date) -> date:
    """The Monday of the week holding `day`."""
    return day - timedelta(days=day.weekday())


def kept_from(today: date) -> date:
    """The first Monday whose week the summary keeps, on the local day `today`."""
    return adherence.week_starts(today, WEEKS)[0]


# --- reading --------------------------------------------------------------------------------


def totals(today: date, weeks: int = WEEKS, clients=None) -> Select:
    """(client_id, prescribed, done) over the last `weeks` weeks up to the local day `today`,
    summed over the weeks as adherence.weekly() sums them; one row per client whose current
    version has items (prescribed may be 0: a programme starting after today). `clients`
    (ids, or a SELECT of ids) narrows it. No grouping: a primary-key lookup per week."""
    if not 1 <= weeks <= WEEKS:
        raise ValueError(f"the summary keeps {WEEKS} weeks, not {weeks}")
    plan = AdherencePlan
    query = select(plan.client_id).select_from(plan)
    prescribed, done = [], []
    for n, start in enumerate(adherence.week_starts(today, weeks)):
        days = min(7, (today - start).days + 1)  # the week's days up to today
        # Due over the days elapsed since the later of the week's and the programme's start.
        prescribed.append(case(
            *((plan.start_day <= start + timedelta(days=late),
               getattr(plan, f"due_{days - late}")) for late in range(days)),
            else_=literal(0)))
        week = aliased(AdherenceWeek, name=f"week_{n}")
        query = query.outerjoin(week, and_(week.client_id == plan.client_id,
                                           week.week_start == start))
        done.append(func.coalesce(getattr(week, f"done_{days}"), 0))
    query = query.add_columns(sum(prescribed[1:], prescribed[0]).label("prescribed"),
                              sum(done[1:], done[0]).label("done"))
    if clients is not None:
        query = query.where(plan.client_id.in_(clients))
    return query


# --- keeping it current ---------------------------------------------------------------------


def plan_saved(session: Session, client_id: int, now: datetime) -> None:
    """A new current version for the client: its plan and every kept week again."""
    zone = practice_service.zone(session)
    today = now.astimezone(zone).date()
    _refresh(session, zone, today, [client_id], kept_from(today), date.max, plans=True)


def logs_saved(session: Session, client_id: int, days: Iterable[date], now: datetime) -> None:
    """Logs of the client were stored on these local days: their weeks again (weeks older
    than the summary keeps are left out)."""
    zone = practice_service.zone(session)
    today = now.astimezone(zone).date()
    for week in sorted({monday(day) for day in days if day >= kept_from(today)}):
        _refresh(session, zone, today, [client_id], week, week + timedelta(days=6),
                 plans=False)


def rebuild(session: Session, zone: ZoneInfo, now: datetime) -> int:
    """Recompute the whole summary from programmes and logs (after a change of time zone, a
    bulk import, or to repair it); returns how many clients have a plan."""
    today = now.astimezone(zone).date()
    session.execute(delete(AdherenceWeek).execution_options(synchronize_session=False))
    session.execute(delete(AdherencePlan).execution_options(synchronize_session=False))
    client_ids = list(session.scalars(select(Programme.client_id).order_by(Programme.client_id)))
    for n in range(0, len(client_ids), REBUILD_BATCH):
        _refresh(session, zone, today, client_ids[n:n + REBUILD_BATCH], kept_from(today),
                 date.max, plans=True)
    return session.scalar(select(func.count()).select_from(AdherencePlan)) or 0


def rezone(session: Session, zone: ZoneInfo, now: datetime) -> None:
    """The practice's time zone changed: each programme's start moves to the local day it
    falls on in `zone`. Where both days are before the weeks kept, only that day changes;
    the few programmes that started since are recomputed."""
    first = kept_from(now.astimezone(zone).date())
    moved, recompute = [], []
    for client_id, old, started in session.execute(
        select(AdherencePlan.client_id, AdherencePlan.start_day, Programme.created_at)
        .join(Programme, Programme.client_id == AdherencePlan.client_id)
    ):
        new = started.astimezone(zone).date()
        if new == old:
            continue
        if max(old, new) >= first:
            recompute.append(client_id)
        else:
            moved.append({"id": client_id, "day": new})
    if moved:
        session.execute(update(AdherencePlan.__table__)
                        .where(AdherencePlan.client_id == bindparam("id"))
                        .values(start_day=bindparam("day")), moved)
    today = now.astimezone(zone).date()
    for n in range(0, len(recompute), REBUILD_BATCH):
        _refresh(session, zone, today, recompute[n:n + REBUILD_BATCH], first, date.max,
                 plans=True)


def _refresh(session: Session, zone: ZoneInfo, today: date, client_ids: Sequence[int],
             first: date, last: date, *, plans: bool) -> None:
    """Recompute the clients' weeks from the Monday `first` to the Sunday `last` (and their
    plans when `plans`), dropping weeks older than the summary keeps. Five to seven
    statements, however many clients."""
    # Writers of one client's summary queue on the programme row (save_version takes the same
    # lock): each then reads the logs the previous one committed. SQLite already serialises
    # writers.
    session.execute(select(Programme.id).where(Programme.client_id.in_(client_ids))
                    .with_for_update())
    programmes = adherence.current_programmes(session, client_ids)
    logs = adherence.daily_logs(session, first, last, client_ids)
    plan_rows, week_rows = [], []
    for client_id in client_ids:
        programme = programmes.get(client_id)
        if programme is None or not programme.items:
            continue
        start_day = programme.start_day(zone)
        if plans:
            plan_rows.append(_plan_row(client_id, start_day, programme.items))
        by_exercise = logs.get(client_id, {})
        counts = {item.exercise_id: dict(by_exercise.get(item.exercise_id, ()))
                  for item in programme.items}
        weeks = {monday(day) for days in counts.values() for day in days}
        for week in sorted(weeks):
            row = _week_row(client_id, week, start_day, programme.items, counts)
            if row["done_7"]:
                week_rows.append(row)
    stale = or_(AdherenceWeek.week_start < kept_from(today),
                AdherenceWeek.week_start.between(first, last))
    session.execute(delete(AdherenceWeek)
                    .where(AdherenceWeek.client_id.in_(client_ids), stale)
                    .execution_options(synchronize_session=False))
    if plans:
        session.execute(delete(AdherencePlan).where(AdherencePlan.client_id.in_(client_ids))
                        .execution_options(synchronize_session=False))
        if plan_rows:
            session.execute(insert(AdherencePlan), plan_rows)
    if week_rows:
        session.execute(insert(AdherenceWeek), week_rows)


def _plan_row(client_id: int, start_day: date,
              items: Sequence[adherence.PlannedItem]) -> dict:
    """The AdherencePlan values of a client's current items."""
    row = {"client_id": client_id, "start_day": start_day}
    for k in DAYS:
        row[f"due_{k}"] = sum(adherence.prescribed(i.times_per_day, i.days_per_week, k)
                              for i in items)
    return row


def _week_row(client_id: int, week: date, start_day: date,
              items: Sequence[adherence.PlannedItem], counts: dict[int, dict[date, int]]) -> dict:
    """The AdherenceWeek values of one client's week: the rule by the end of each day."""
    days = [week + timedelta(days=k - 1) for k in DAYS]
    first = max(week, start_day)
    done = [0] * len(days)
    for item in items:
        logs = counts.get(item.exercise_id)
        if not logs or not any(week <= day <= days[-1] for day in logs):
            continue  # nothing logged that week: nothing done
        running = adherence.running_done(item.times_per_day, item.days_per_week, logs, first,
                                         days)
        done = [a + b for a, b in zip(done, running, strict=True)]
    row = {"client_id": client_id, "week_start": week}
    row.update({f"done_{k}": n for k, n in zip(DAYS, done, strict=True)})
    return row
