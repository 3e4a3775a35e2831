"""The stored adherence summary stays exactly the adherence rule as the practice works: logs
saved, versions and templates saved, the time zone changed (the day each programme started
moves), days and weeks turning over in the practice's zone, writers racing, a rebuild."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AdherencePlan,
    AdherenceWeek,
    CompletionLog,
    Exercise,
    Practice,
    ProgrammeVersion,
    User,
)
from portal.services import adherence, adherence_summary, client_day, programmes
from portal.services import practice as practice_service
from portal.services.client_day import FeedbackInput
from portal.services.errors import NotFound
from portal.services.programmes import ItemInput
from tests.booking_support import own_session, race
from tests.clients_support import (
    CAT,
    NOW,
    STARTED,
    TODAY,
    counting_statements,
    set_up_practice,
)

CHIN = "chin-tuck"


def fortnight(session, client_id: int, now: datetime) -> tuple[int, int]:
    """(prescribed, done) this week and last, read from the summary as the client list does."""
    today = now.astimezone(practice_service.zone(session)).date()
    row = session.execute(adherence_summary.totals(today, 2, [client_id])).one_or_none()
    return (int(row.prescribed), int(row.done)) if row else (0, 0)


def summary_rows(session, today: date) -> tuple[list, list]:
    """Every row of the two tables, in key order; weeks older than the summary keeps on the
    local day `today` (which may or may not have been deleted yet) left out."""
    plans = session.execute(select(AdherencePlan.__table__).order_by(AdherencePlan.client_id))
    weeks = session.execute(select(AdherenceWeek.__table__)
                            .where(AdherenceWeek.week_start >= adherence_summary.kept_from(today))
                            .order_by(AdherenceWeek.client_id, AdherenceWeek.week_start))
    return [tuple(r) for r in plans], [tuple(r) for r in weeks]


def assert_is_the_rule(session, now: datetime) -> None:
    """For every client and each window the summary answers, the summary gives what the Python
    rule computes from the logs; and its rows are those a rebuild from scratch makes."""
    zone = practice_service.zone(session)
    today = now.astimezone(zone).date()
    for weeks in range(1, adherence_summary.WEEKS + 1):
        summary = {row.client_id: (int(row.prescribed), int(row.done)) for row in
                   session.execute(adherence_summary.totals(today, weeks))}
        rule = {client_id: (sum(w.prescribed for w in series), sum(w.done for w in series))
                for client_id, series in adherence.weekly(session, zone, today, weeks).items()}
        assert {k: v for k, v in summary.items() if v != (0, 0)} == \
            {k: v for k, v in rule.items() if v != (0, 0)}, weeks
    kept = summary_rows(session, today)
    adherence_summary.rebuild(session, zone, now)
    assert summary_rows(session, today) == kept


@pytest.fixture
def world(session, make_therapist, make_client):
    """Jo's practice in London; Alex with cat-cow once a day, every day, from Wednesday 25
    February (a week before NOW)."""
    jo = session.get(User, make_therapist(name="Jo Fletcher").id)
    practice = set_up_practice(session, jo)
    alex = session.get(User, make_client(name="Alex Morgan").id)
    cat = session.get(Exercise, practice.exercises[CAT])
    programmes.save_version(session, jo, alex, [
        ItemInput.from_exercise(cat, times_per_day=1, days_per_week=7)], "", STARTED)
    session.commit()
    return {"jo": jo, "alex": alex, "practice": practice}


def current_items(session, client: User) -> dict[str, int]:
    """Item ids of the client's current version by exercise slug."""
    version = programmes.current_version(session, client, with_ladders=False)
    return {item.exercise.slug: item.id for item in version.items}


def log(session, client: User, slug: str, day: date, now: datetime = NOW, key: str = "") -> bool:
    """A log through the service the client's page uses; True when it was stored."""
    return client_day.log_completion(
        session, client, current_items(session, client)[slug], FeedbackInput(both="nothing"),
        "", key or uuid.uuid4().hex, day, now).created


def test_a_saved_log_counts_at_once(session, world):
    alex = world["alex"]
    # Last week from Wednesday (5 days) and this week to Wednesday (3 days), once a day.
    assert fortnight(session, alex.id, NOW) == (8, 0)
    assert log(session, alex, CAT, TODAY, key="today-cat-cow")
    assert fortnight(session, alex.id, NOW) == (8, 1)
    # The same log sent again, and a second one the same day: once a day counts once.
    assert not log(session, alex, CAT, TODAY, key="today-cat-cow")
    assert log(session, alex, CAT, TODAY)
    assert fortnight(session, alex.id, NOW) == (8, 1)
    log(session, alex, CAT, TODAY - timedelta(days=1))
    log(session, alex, CAT, date(2026, 2, 27))  # last week's Friday
    assert fortnight(session, alex.id, NOW) == (8, 3)
    assert_is_the_rule(session, NOW)


def test_a_new_version_recounts_the_fortnight(session, world):
    jo, alex, practice = world["jo"], world["alex"], world["practice"]
    for days_ago in range(4):
        log(session, alex, CAT, TODAY - timedelta(days=days_ago))
    assert fortnight(session, alex.id, NOW) == (8, 4)
    version = programmes.current_version(session, alex)
    chin = session.get(Exercise, practice.exercises[CHIN])
    programmes.save_version(session, jo, alex, [
        ItemInput.from_item(version.items[0], times_per_day=2, days_per_week=3),
        ItemInput.from_exercise(chin, times_per_day=1, days_per_week=7)], "", NOW)
    # Cat-cow twice a day on three days a week: 6 due each week, and the logs so far count
    # (one a day, on Sunday, Monday, Tuesday and today); chin tuck adds 5 + 3 due, none done.
    assert fortnight(session, alex.id, NOW) == (6 + 6 + 8, 1 + 3)
    log(session, alex, CHIN, TODAY)
    log(session, alex, CAT, TODAY)
    assert fortnight(session, alex.id, NOW) == (20, 6)
    assert_is_the_rule(session, NOW)
    # A version without cat-cow: its logs no longer count.
    programmes.save_version(session, jo, alex, [
        ItemInput.from_exercise(chin, times_per_day=1, days_per_week=7)], "",
        NOW + timedelta(minutes=5))
    assert fortnight(session, alex.id, NOW) == (8, 1)
    assert_is_the_rule(session, NOW)


def test_a_template_applied_and_an_emptied_programme(session, world):
    jo, alex, practice = world["jo"], world["alex"], world["practice"]
    log(session, alex, CAT, TODAY)
    template = programmes.save_as_template(session, jo, alex, "Desk worker", NOW)
    chin = session.get(Exercise, practice.exercises[CHIN])
    programmes.save_version(session, jo, alex, [
        ItemInput.from_exercise(chin, times_per_day=3, days_per_week=2)], "", NOW)
    assert fortnight(session, alex.id, NOW) == (3 * 2 + 3 * 2, 0)
    programmes.apply_template(session, jo, alex, template.id, NOW + timedelta(minutes=1))
    assert fortnight(session, alex.id, NOW) == (8, 1)
    programmes.save_version(session, jo, alex, [], "", NOW + timedelta(minutes=2))
    assert fortnight(session, alex.id, NOW) == (0, 0)
    assert session.get(AdherencePlan, alex.id) is None
    assert_is_the_rule(session, NOW)


def test_weeks_turn_over_on_the_practices_monday(session, world):
    """Read on later days, with no write in between, the window moves: the days elapsed grow,
    and last week's logs leave the fortnight when the week after next begins."""
    alex = world["alex"]
    log(session, alex, CAT, date(2026, 2, 27))  # Friday of last week
    log(session, alex, CAT, TODAY)
    sunday_night = datetime(2026, 3, 8, 23, 59, tzinfo=UTC)  # still Sunday in London (GMT)
    assert fortnight(session, alex.id, sunday_night) == (5 + 7, 2)
    monday = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)
    assert fortnight(session, alex.id, monday) == (7 + 1, 1)
    assert_is_the_rule(session, monday)


def test_a_start_near_midnight_counts_from_the_local_day(session, make_therapist, make_client):
    """London's clocks go forward on Sunday 29 March 2026. A programme created at 23:10 UTC
    that Sunday starts on Monday 30 March, 00:10 BST: Sunday's log is before it. Moved to
    UTC, the practice's programme started on the Sunday, which now counts."""
    jo = session.get(User, make_therapist(name="Jo Fletcher").id)
    practice = set_up_practice(session, jo)
    alex = session.get(User, make_client(name="Alex Morgan").id)
    cat = session.get(Exercise, practice.exercises[CAT])
    created = datetime(2026, 3, 29, 23, 10, tzinfo=UTC)
    programmes.save_version(session, jo, alex, [
        ItemInput.from_exercise(cat, times_per_day=1, days_per_week=7)], "", created)
    now = datetime(2026, 3, 30, 0, 20, tzinfo=UTC)  # Monday 01:20 BST
    log(session, alex, CAT, date(2026, 3, 29), now)  # the Sunday, before the start
    log(session, alex, CAT, date(2026, 3, 30), now)
    assert session.get(AdherencePlan, alex.id).start_day == date(2026, 3, 30)
    assert fortnight(session, alex.id, now) == (1, 1)
    assert_is_the_rule(session, now)

    row = session.scalar(select(Practice))
    practice_service.update(session, jo, row, name=row.name, email=row.email, phone=row.phone,
                            address=row.address, timezone="UTC",
                            self_registration=row.self_registration, now=now)
    assert session.get(AdherencePlan, alex.id).start_day == date(2026, 3, 29)
    # In UTC it is still Monday 00:20: last week's Sunday is due and done, and today.
    assert fortnight(session, alex.id, now) == (2, 2)
    assert_is_the_rule(session, now)


def test_a_change_of_zone_equals_a_rebuild(session, world, make_client):
    """Old programmes only see their start day move; recent ones are recounted."""
    jo, practice = world["jo"], world["practice"]
    cat = session.get(Exercise, practice.exercises[CAT])
    chin = session.get(Exercise, practice.exercises[CHIN])
    for n, started in enumerate([datetime(2025, 6, 1, 23, 30, tzinfo=UTC),
                                 datetime(2026, 2, 23, 0, 30, tzinfo=UTC),
                                 datetime(2026, 3, 2, 23, 45, tzinfo=UTC),
                                 datetime(2026, 3, 3, 9, 0, tzinfo=UTC)]):
        client = session.get(User, make_client(name=f"Client {n}").id)
        programmes.save_version(session, jo, client, [
            ItemInput.from_exercise(cat, times_per_day=2, days_per_week=4),
            ItemInput.from_exercise(chin, times_per_day=1, days_per_week=7)], "", started)
        for days_ago in range(0, 9, 2):
            log(session, client, CAT, TODAY - timedelta(days=days_ago))
    for zone in ("Pacific/Kiritimati", "America/Los_Angeles", "Europe/London"):
        row = session.scalar(select(Practice))
        practice_service.update(session, jo, row, name=row.name, email=row.email,
                                phone=row.phone, address=row.address, timezone=zone,
                                self_registration=row.self_registration, now=NOW)
        assert practice_service.zone(session) == ZoneInfo(zone)
        assert_is_the_rule(session, NOW)


# --- writers racing: each waits for the last, none is lost ----------------------------------


def _log_in_own_session(url: str, client_id: int, item_id: int, day: date, start_line) -> str:
    with own_session(url) as session:
        client = session.get(User, client_id)
        session.commit()
        start_line()
        client_day.log_completion(session, client, item_id, FeedbackInput(both="nothing"), "",
                                  uuid.uuid4().hex, day, NOW)
        session.commit()
        return "logged"


def _save_in_own_session(url: str, therapist_id: int, client_id: int, start_line) -> str:
    with own_session(url) as session:
        therapist, client = session.get(User, therapist_id), session.get(User, client_id)
        version = programmes.current_version(session, client)
        session.commit()
        start_line()
        programmes.save_version(session, therapist, client, [
            ItemInput.from_item(item, times_per_day=3) for item in version.items], "", NOW)
        session.commit()
        return "saved"


@pytest.mark.fresh_db
def test_logs_and_a_version_saved_at_once_leave_the_summary_exact(app, make_therapist,
                                                                  make_client):
    jo_id, alex_id = make_therapist(name="Jo Fletcher").id, make_client(name="Alex Morgan").id
    with app.app_context():
        session = db.session
        jo, alex = session.get(User, jo_id), session.get(User, alex_id)
        practice = set_up_practice(session, jo)
        programmes.save_version(session, jo, alex, [
            ItemInput.from_exercise(session.get(Exercise, practice.exercises[slug]),
                                    times_per_day=2, days_per_week=7)
            for slug in (CAT, CHIN)], "", STARTED)
        session.commit()
        items, ids = current_items(session, alex), (jo.id, alex.id)
        db.session.remove()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    workers = [partial(_log_in_own_session, url, ids[1], items[slug], TODAY - timedelta(days=d))
               for slug in (CAT, CHIN) for d in range(4)]
    workers.append(partial(_save_in_own_session, url, *ids))
    outcomes = race(workers)
    # A log whose item the new version replaced before it was read is refused, as it would
    # be from a page opened before the save.
    assert outcomes.count("saved") == 1, outcomes
    assert all(o == "logged" or isinstance(o, NotFound) for o in outcomes if o != "saved"), \
        outcomes
    with app.app_context():
        assert db.session.scalar(select(ProgrammeVersion.number)
                                 .order_by(ProgrammeVersion.number.desc()).limit(1)) == 2
        logged = outcomes.count("logged")
        assert fortnight(db.session, ids[1], NOW) == (3 * 8 * 2, logged)
        assert_is_the_rule(db.session, NOW)
        db.session.rollback()


# --- keeping it current costs the same however long the history ------------------------------


def test_saving_a_log_or_a_version_runs_the_same_statements_at_n_and_10n_logs(session, world):
    jo, alex, practice = world["jo"], world["alex"], world["practice"]
    chin = session.get(Exercise, practice.exercises[CHIN])

    def history(days: int) -> None:
        """Logs of cat-cow on `days` earlier days (weeks back, past the summary's weeks)."""
        item = programmes.current_version(session, alex).items[0]
        for n in range(days):
            session.add(CompletionLog(
                client_id=alex.id, programme_id=item.version.programme_id,
                version_id=item.version_id, item_id=item.id, exercise_id=item.exercise_id,
                local_date=TODAY - timedelta(days=n % 28), feedback="nothing",
                client_key=uuid.uuid4().hex, logged_at=NOW))
        session.commit()

    def statements(call) -> int:
        session.expire_all()
        assert alex.id and jo.id  # loaded again outside the count
        with counting_statements() as seen:
            call()
        session.rollback()
        return len(seen)

    def costs() -> tuple[int, int]:
        version = programmes.current_version(session, alex)
        items = [ItemInput.from_item(i, times_per_day=2) for i in version.items]
        items.append(ItemInput.from_exercise(chin))
        return (statements(lambda: log(session, alex, CAT, TODAY)),
                statements(lambda: programmes.save_version(session, jo, alex, items, "", NOW)))

    history(20)
    small = costs()
    history(200)
    assert costs() == small
