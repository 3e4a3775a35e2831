"""The client list's filters, count and pages run in SQL: they must give exactly what the
previous all-in-Python definition gave, over a varied practice, in several time zones and
across a clock change, and in the same number of queries at N and 10N clients."""

from __future__ import annotations

import itertools
import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import (
    Appointment,
    AppointmentStatus,
    CompletionLog,
    Exercise,
    Feedback,
    Practice,
    Programme,
    ProgrammeVersion,
    Role,
    User,
)
from portal.services import adherence, adherence_summary, programmes
from portal.services import clients as svc
from portal.services import practice as practice_service
from portal.services.programmes import ItemInput
from tests.clients_support import NOW, book, counting_statements, give_programme, set_up_practice

# (practice zone, now): Wednesday noon in London; the same instant where it is already
# Thursday; a Monday morning the day after Los Angeles moved its clocks; London the day after
# its clocks went forward.
SCENARIOS = [
    ("Europe/London", datetime(2026, 3, 4, 12, 0, tzinfo=UTC)),
    ("Pacific/Kiritimati", datetime(2026, 3, 4, 12, 0, tzinfo=UTC)),
    ("America/Los_Angeles", datetime(2026, 3, 9, 7, 30, tzinfo=UTC)),
    ("Europe/London", datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),
]
NAMES = ["alex", "Alex", "ALEX b", "Bea", "bea", "Cai", "Åsa", "Zoë", "Émile", "dev", "Eve",
         "Finn", "Gus", "hana", "Iggy", "Jun"]


def old_rows(session, search: str, now: datetime) -> list[tuple[tuple, dict[str, bool]]]:
    """The list as it was computed before, up to its filters: every client matching the search
    loaded in name order, with its row and which filters it passes, numbers gathered per
    client in Python."""
    zone = practice_service.zone(session)
    today = now.astimezone(zone).date()
    statement = select(User).where(User.role == Role.CLIENT)
    if search:
        pattern = f"%{svc.escape_like(search.lower())}%"
        as_typed = f"%{svc.escape_like(search)}%"
        statement = statement.where(
            func.lower(User.name).like(pattern, escape="\\")
            | User.name.like(as_typed, escape="\\")
            | User.email.like(pattern, escape="\\"))
    clients = list(session.scalars(statement.order_by(func.lower(User.name), User.id)))
    ids = [c.id for c in clients]
    versions = dict(session.execute(
        select(Programme.client_id, func.max(ProgrammeVersion.number))
        .join(ProgrammeVersion, ProgrammeVersion.programme_id == Programme.id)
        .where(Programme.client_id.in_(ids)).group_by(Programme.client_id)).all())
    upcoming = dict(session.execute(
        select(Appointment.client_id, func.min(Appointment.starts_at))
        .where(Appointment.client_id.in_(ids), Appointment.starts_at > now,
               Appointment.status == AppointmentStatus.BOOKED)
        .group_by(Appointment.client_id)).all())
    pain = dict(session.execute(
        select(CompletionLog.client_id, func.count())
        .where(CompletionLog.client_id.in_(ids), CompletionLog.pain,
               CompletionLog.pain_acknowledged_at.is_(None))
        .group_by(CompletionLog.client_id)).all())
    fortnight = adherence.weekly(session, zone, today, 2, ids)
    rows = []
    for client in clients:
        weeks = fortnight.get(client.id, [])
        prescribed = sum(w.prescribed for w in weeks)
        done = sum(w.done for w in weeks)
        percent = round(100 * done / prescribed) if prescribed else None
        checks = {
            "upcoming": client.id in upcoming,
            "pain": pain.get(client.id, 0) > 0,
            "low_adherence": (client.active and percent is not None
                              and percent < svc.LOW_ADHERENCE_PERCENT),
            "no_programme": client.id not in versions,
        }
        rows.append(((client.id, upcoming.get(client.id), pain.get(client.id, 0),
                      versions.get(client.id), prescribed, done), checks))
    return rows


def old_page(everyone: list[tuple[tuple, dict[str, bool]]], query: svc.ClientQuery,
             per_page: int) -> tuple[list[tuple], int, int, int]:
    """The old definition's filters and paging, applied in Python to old_rows()."""
    rows = [row for row, checks in everyone if all(checks[f] for f in query.filters)]
    pages = max(1, math.ceil(len(rows) / per_page))
    page = min(query.page, pages)
    return rows[(page - 1) * per_page:page * per_page], page, pages, len(rows)


def old_list_clients(session, query: svc.ClientQuery, now: datetime,
                     per_page: int) -> tuple[list[tuple], int, int, int]:
    """The list as it was computed before: old_rows() filtered and paged."""
    return old_page(old_rows(session, query.search, now), query, per_page)


def new_list_clients(session, jo, query, now, per_page):
    result = svc.list_clients(session, jo, query, now, per_page=per_page)
    rows = [(r.client.id, r.next_session, r.pain_flags, r.version_number, r.prescribed, r.done)
            for r in result.rows]
    return rows, result.page, result.pages, result.total


def add_log(session, client: User, version: ProgrammeVersion, exercise_id: int, day,
            *, pain: bool = False, acknowledged: datetime | None = None) -> None:
    """A completion log written directly, so that any day and any exercise can be logged."""
    item = version.items[0]
    session.add(CompletionLog(
        client_id=client.id, programme_id=version.programme_id, version_id=version.id,
        item_id=item.id, exercise_id=exercise_id, local_date=day,
        feedback=Feedback.PAIN if pain else Feedback.NOTHING, pain=pain,
        pain_acknowledged_at=acknowledged, client_key=uuid.uuid4().hex,
        logged_at=datetime(2026, 3, 1, tzinfo=UTC)))


def open_practice(session, jo: User, zone: str):
    """The practice in `zone`, with its exercise library and a service."""
    session.scalar(select(Practice)).timezone = zone
    session.flush()
    return set_up_practice(session, jo)


def add_clients(session, jo: User, practice, now: datetime, count: int, seed: int = 7,
                prefix: str = "c") -> None:
    """`count` clients with every mix of programme start (weeks ago, last week, this week,
    near local midnight, later today, tomorrow), dose, versions, logs (capped, over-logged,
    before the start, of dropped exercises, with pain seen or not) and appointments."""
    exercise_ids = sorted(practice.exercises.values())
    rng = random.Random(seed)
    today = now.date()
    for n in range(count):
        name = f"{NAMES[n % len(NAMES)]} {n // len(NAMES)}"
        # Every eleventh client is deactivated (never in the low-adherence filter).
        client = User(email=f"{prefix}{n}@example.com", name=name, role=Role.CLIENT,
                      active=n % 11 != 5)
        session.add(client)
        session.flush()
        shape = n % 7
        if shape != 0:  # shape 0: no programme at all
            start = now - timedelta(hours=rng.choice(
                [24 * 30, 24 * 9, 24 * 6 + 7, 24 * 2 + 11, 13, 12, 11, 1, -2, -30]),
                minutes=rng.choice([0, 29, 31]))
            chosen = rng.sample(exercise_ids, rng.randint(1, 3))
            items = [ItemInput.from_exercise(session.get(Exercise, e),
                                             times_per_day=rng.randint(1, 3),
                                             days_per_week=rng.randint(1, 7))
                     for e in chosen]
            version = programmes.save_version(session, jo, client, items, "", start)
            if shape == 3:  # a second version: only the current items count
                kept = [ItemInput.from_item(version.items[0], times_per_day=2)]
                version = programmes.save_version(session, jo, client, kept, "",
                                                  start + timedelta(hours=1))
                chosen = chosen + [rng.choice(exercise_ids)]  # logs of a dropped exercise
            days = [today - timedelta(days=rng.randint(-1, 20))
                    for _ in range(rng.choice([0, 1, 3, 8, 20]))]
            for day in days:
                add_log(session, client, version, rng.choice(chosen), day,
                        pain=rng.random() < 0.15,
                        acknowledged=now if rng.random() < 0.5 else None)
            session.flush()
            # What client_day.log_completion does after each log it stores.
            adherence_summary.logs_saved(session, client.id, days, now)
        for _ in range(rng.choice([0, 0, 1, 2])):
            status = rng.choice(list(AppointmentStatus))
            # Overlaps are allowed: the diary's rules are not what this test is about.
            book(session, practice, client, now + timedelta(hours=rng.randint(-200, 200)),
                 status=status, overlap_override=True)
    session.commit()


@pytest.mark.parametrize(("zone", "now"), SCENARIOS)
def test_sql_filters_match_the_python_definition(session, make_therapist, zone, now):
    jo = session.get(User, make_therapist(name="Jo Fletcher").id)
    add_clients(session, jo, open_practice(session, jo, zone), now, count=45)
    seen_low = seen_all = 0
    # The old definition does not depend on the filters or the page: load it once per search
    # (the comparison stays the same; only the repeated loading is saved).
    loaded: dict[str, list] = {}
    for size in range(len(svc.FILTERS) + 1):
        for filters in itertools.combinations(sorted(svc.FILTERS), size):
            for search, page, per_page in [("", "1", 25), ("", "2", 7), ("", "99", 7),
                                           ("a", "1", 4), ("ALEX", "1", 25), ("z", "3", 2)]:
                query = svc.clean_query(search, filters, page)
                if query.search not in loaded:
                    loaded[query.search] = old_rows(session, query.search, now)
                expected = old_page(loaded[query.search], query, per_page)
                assert new_list_clients(session, jo, query, now, per_page) == expected, \
                    (filters, search, page, per_page)
                seen_all += bool(expected[0])
                seen_low += bool(expected[0]) and "low_adherence" in filters
    # The practice is varied enough that the comparisons mean something.
    assert seen_low > 5 and seen_all > 30
    # The dashboard's counts agree with the list, filter by filter.
    counts = svc.count_by_filter(session, jo, svc.FILTERS, now)
    assert counts == {name: old_list_clients(session, svc.clean_query("", [name], "1"), now,
                                             100)[3]
                      for name in svc.FILTERS}
    everyone = old_list_clients(session, svc.clean_query("", [], "1"), now, 100)[0]
    percents = {round(100 * done / due) for *_, due, done in everyone if due}
    assert len(percents) > 5 and any(p < 50 for p in percents) and any(p >= 50 for p in percents)


def test_the_low_adherence_test_in_whole_numbers_is_round_below_50():
    for prescribed in range(0, 400):
        for done in range(0, prescribed + 1):
            expected = bool(prescribed) and round(100 * done / prescribed) < 50
            assert bool(svc.is_low(done, prescribed)) == expected, (done, prescribed)


def test_same_number_of_queries_at_n_and_10n_clients(session, make_therapist):
    now = SCENARIOS[0][1]
    jo = session.get(User, make_therapist(name="Jo Fletcher").id)

    def counts() -> dict:
        found = {}
        # Every combination of filters with a search on a second page, and the plain list and
        # a search that finds nobody without filters.
        asked = [(filters, "a", "2") for size in range(len(svc.FILTERS) + 1)
                 for filters in itertools.combinations(sorted(svc.FILTERS), size)]
        asked += [((), "", "1"), ((), "nobody", "1")]
        for filters, search, page in asked:
            query = svc.clean_query(search, filters, page)
            session.expire_all()
            assert jo.is_therapist  # the actor is loaded again outside the count
            with counting_statements() as seen:
                svc.list_clients(session, jo, query, now, per_page=10)
            session.rollback()
            found[(filters, search)] = len(seen)
        return found

    practice = open_practice(session, jo, "Europe/London")
    add_clients(session, jo, practice, now, count=14, seed=3, prefix="n")
    small = counts()
    add_clients(session, jo, practice, now, count=140, seed=3, prefix="ten-n")
    large = counts()
    # The practice row, the count, the page with its numbers, the page's adherence.
    assert set(small.values()) == {4} and large == small


def test_a_deactivated_client_is_not_followed_up_for_adherence(session, make_therapist):
    jo = session.get(User, make_therapist(name="Jo Fletcher").id)
    practice = open_practice(session, jo, "Europe/London")
    for name, active in (("Gone Away", False), ("Still Here", True)):
        client = User(email=f"{name.split()[0].lower()}@example.com", name=name,
                      role=Role.CLIENT, active=active)
        session.add(client)
        session.flush()
        give_programme(session, practice, client)  # and never a log
    session.commit()
    low = svc.list_clients(session, jo, svc.clean_query("", ["low_adherence"], "1"), NOW)
    assert [r.client.name for r in low.rows] == ["Still Here"]
