"""The adherence rule: the pure functions by example, and the stored summary the client list's
filter reads against the Python rule over generated programmes and logs, on both backends,
across clock changes and programme starts near local midnight."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.models import (
    AdherencePlan,
    AdherenceWeek,
    CompletionLog,
    Exercise,
    Feedback,
    Practice,
    Role,
    User,
)
from portal.services import adherence, adherence_summary, programmes
from portal.services.programmes import ItemInput
from tests.clients_support import set_up_practice

# --- the pure rule --------------------------------------------------------------------------


def test_days_elapsed_counts_both_ends_and_never_goes_negative():
    assert adherence.days_elapsed(date(2026, 3, 2), date(2026, 3, 2)) == 1
    assert adherence.days_elapsed(date(2026, 3, 2), date(2026, 3, 8)) == 7
    assert adherence.days_elapsed(date(2026, 3, 5), date(2026, 3, 2)) == 0


def test_a_part_week_prescribes_the_first_days_of_it():
    # Three days a week, twice a day: after two days both are due, after five only three.
    assert adherence.prescribed(2, 3, 0) == 0
    assert adherence.prescribed(2, 3, 2) == 4
    assert adherence.prescribed(2, 3, 5) == 6
    assert adherence.prescribed(1, 7, 4) == 4


def test_whole_weeks_prescribe_days_per_week_each_then_the_part_week():
    assert adherence.prescribed(1, 3, 7) == 3
    assert adherence.prescribed(1, 3, 10) == 6  # a week (3) and three days (3)
    assert adherence.prescribed(2, 3, 15) == 14  # two weeks (12) and one day (2)


def test_done_counts_each_day_up_to_times_per_day_and_never_past_the_prescription():
    assert adherence.done([5, 1], 2, 10) == 3  # five logs in a day count as two
    assert adherence.done([3, 3, 3], 1, 2) == 2  # extra days never pass 100%
    assert adherence.done([], 3, 6) == 0


def test_percent_rounds_half_to_even_and_is_none_when_nothing_is_due():
    assert adherence.percent(0, 0) is None
    assert adherence.percent(1, 8) == 12  # 12.5
    assert adherence.percent(3, 8) == 38  # 37.5
    assert adherence.percent(4, 4) == 100
    assert adherence.Totals(prescribed=8, done=1).percent == 12
    assert adherence.Totals().percent is None


def test_totals_count_only_the_window_and_only_current_items():
    monday, wednesday = date(2026, 3, 2), date(2026, 3, 4)
    items = [adherence.PlannedItem(exercise_id=1, name="Cat-cow", times_per_day=2,
                                   days_per_week=7),
             adherence.PlannedItem(exercise_id=2, name="Chin tuck", times_per_day=1,
                                   days_per_week=2)]
    logs = {1: [(monday - timedelta(days=1), 2), (monday, 3), (wednesday, 1),
                (wednesday + timedelta(days=1), 2)],
            2: [(monday, 1)],
            3: [(monday, 5)]}  # an exercise no longer in the programme
    week = adherence.totals(items, logs, monday, wednesday)
    # Cat-cow: 2 x 3 days due, 2 + 1 done; chin tuck: 1 x 2 days due, 1 done.
    assert (week.prescribed, week.done) == (8, 4)
    assert adherence.totals(items, logs, wednesday, monday) == adherence.Totals(0, 0)


@given(times_per_day=st.integers(1, 6), days_per_week=st.integers(1, 7),
       counts=st.lists(st.integers(0, 8), min_size=9, max_size=9),
       late=st.integers(-2, 8))
def test_running_done_is_item_totals_at_the_end_of_each_day(times_per_day, days_per_week,
                                                            counts, late):
    monday = date(2026, 3, 2)
    days = [monday + timedelta(days=k) for k in range(7)]
    # Logs from the Saturday before to the Monday after; the programme starts `late` days in.
    logs = {monday + timedelta(days=k - 2): n for k, n in enumerate(counts) if n}
    first = max(monday, monday + timedelta(days=late))
    running = adherence.running_done(times_per_day, days_per_week, logs, first, days)
    assert running == [adherence.item_totals(times_per_day, days_per_week, logs.items(),
                                             first, day).done for day in days]


# --- the stored summary against the Python rule ---------------------------------------------

# Instants just after a clock change (and one quiet week), in zones either side of UTC.
MOMENTS_AND_ZONES = [
    ("Europe/London", datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),
    ("America/Los_Angeles", datetime(2026, 3, 9, 7, 30, tzinfo=UTC)),
    ("Pacific/Kiritimati", datetime(2026, 3, 4, 12, 0, tzinfo=UTC)),
    ("Europe/London", datetime(2026, 10, 26, 23, 59, tzinfo=UTC)),
]

items_strategy = st.lists(
    st.tuples(st.integers(1, 3), st.integers(1, 7)),  # times a day, days a week
    min_size=1, max_size=3)
logs_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.integers(-1, 22), st.integers(1, 4)),  # item, days ago, n
    max_size=12)
client_strategy = st.fixed_dictionaries({
    # Minutes before now the programme started: weeks ago down to later today.
    "started": st.integers(-24 * 60, 21 * 24 * 60),
    "items": items_strategy,
    # A second version (saved an hour later) keeps only the first item, times a day changed.
    "second_version": st.booleans(),
    "logs": logs_strategy,
})


def _build(session, therapist: User, exercise_ids: list[int], now: datetime,
           zone: ZoneInfo, spec: dict, n: int) -> tuple[int, list[tuple[int, int, int]], dict]:
    """One client made from `spec` through the services; returns the client's id, the
    current items as (exercise id, times a day, days a week) and logs by exercise id."""
    client = User(email=f"generated{n}@example.com", name=f"Generated {n}", role=Role.CLIENT)
    session.add(client)
    session.flush()
    started = now - timedelta(minutes=spec["started"])
    chosen = exercise_ids[:len(spec["items"])]
    version = programmes.save_version(session, therapist, client, [
        ItemInput.from_exercise(session.get(Exercise, e), times_per_day=tpd, days_per_week=dpw)
        for e, (tpd, dpw) in zip(chosen, spec["items"], strict=True)], "", started)
    if spec["second_version"]:
        version = programmes.save_version(session, therapist, client, [
            ItemInput.from_item(version.items[0],
                                times_per_day=version.items[0].times_per_day % 3 + 1)],
            "", started + timedelta(hours=1))
    today = now.astimezone(zone).date()
    logs: dict[int, list[tuple[date, int]]] = {}
    for index, days_ago, count in spec["logs"]:
        # Logs of exercises dropped by the second version (or never in it) still exist.
        exercise_id = exercise_ids[index]
        day = today - timedelta(days=days_ago)
        logs.setdefault(exercise_id, []).append((day, count))
        for _ in range(count):
            session.add(CompletionLog(
                client_id=client.id, programme_id=version.programme_id, version_id=version.id,
                item_id=version.items[0].id, exercise_id=exercise_id, local_date=day,
                feedback=Feedback.NOTHING, client_key=uuid.uuid4().hex, logged_at=now))
    session.flush()
    # What client_day.log_completion does after storing a log (these logs skip its checks:
    # future days, exercises no longer in the programme).
    adherence_summary.logs_saved(
        session, client.id, [today - timedelta(days=days_ago) for _, days_ago, _ in spec["logs"]],
        now)
    current = [(i.exercise_id, i.times_per_day, i.days_per_week) for i in version.items]
    return client.id, current, logs


def _by_hand(current, logs, started_day: date, today: date, weeks: int) -> tuple[int, int]:
    """The rule applied straight to the generated data, week by week."""
    prescribed = done = 0
    for start in adherence.week_starts(today, weeks):
        first, last = max(start, started_day), min(today, start + timedelta(days=6))
        for exercise_id, tpd, dpw in current:
            # Several log entries may fall on one day: the rule counts a day's total.
            per_day: dict[date, int] = {}
            for day, n in logs.get(exercise_id, []):
                per_day[day] = per_day.get(day, 0) + n
            one = adherence.item_totals(tpd, dpw, per_day.items(), first, last)
            prescribed += one.prescribed
            done += one.done
    return prescribed, done


@pytest.fixture
def library(session, make_therapist):
    """A therapist and four exercises of the seeded library."""
    therapist = session.get(User, make_therapist(name="Jo Fletcher").id)
    practice = set_up_practice(session, therapist)
    session.commit()
    return therapist, sorted(practice.exercises.values())[:4]


def summary_rows(session) -> tuple[list, list]:
    """Every row of the two summary tables, in key order."""
    plans = session.execute(select(AdherencePlan.__table__).order_by(AdherencePlan.client_id))
    weeks = session.execute(select(AdherenceWeek.__table__)
                            .order_by(AdherenceWeek.client_id, AdherenceWeek.week_start))
    return [tuple(row) for row in plans], [tuple(row) for row in weeks]


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenario=st.sampled_from(MOMENTS_AND_ZONES),
       clients=st.lists(client_strategy, min_size=1, max_size=3),
       weeks=st.integers(1, adherence_summary.WEEKS))
def test_the_summary_agrees_with_the_python_rule(session, library, scenario, clients, weeks):
    therapist, exercise_ids = library
    zone_name, now = scenario
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    savepoint = session.begin_nested()
    try:
        session.scalar(select(Practice)).timezone = zone_name
        built = [_build(session, therapist, exercise_ids, now, zone, spec, n)
                 for n, spec in enumerate(clients)]
        ids = [client_id for client_id, *_ in built]

        def in_summary():
            return {row.client_id: (int(row.prescribed), int(row.done)) for row in
                    session.execute(adherence_summary.totals(today, weeks, ids))}

        kept = in_summary()
        in_python = {client_id: (sum(w.prescribed for w in series), sum(w.done for w in series))
                     for client_id, series in
                     adherence.weekly(session, zone, today, weeks, ids).items()}
        for (client_id, current, logs), spec in zip(built, clients, strict=True):
            started_day = (now - timedelta(minutes=spec["started"])).astimezone(zone).date()
            expected = _by_hand(current, logs, started_day, today, weeks)
            assert in_python[client_id] == expected, (client_id, spec)
            assert kept.get(client_id, (0, 0)) == expected, (client_id, spec)
        # Kept current save by save, the summary is what a rebuild from scratch makes.
        rows = summary_rows(session)
        adherence_summary.rebuild(session, zone, now)
        assert summary_rows(session) == rows
        assert in_summary() == kept
    finally:
        savepoint.rollback()
