"""The diary days service without HTTP: the pre-session summary, its fixed query count, marking
attended or no-show with their refusals, and private session notes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    IntakeForm,
    Role,
    Service,
    SessionNote,
    User,
)
from portal.seed.library import seed_library
from portal.services import client_day, diary_days, programmes
from portal.services.client_day import FeedbackInput
from portal.services.errors import Conflict, InvalidInput, PermissionDenied
from portal.services.programmes import ItemInput
from tests.clients_support import counting_statements

LONDON = ZoneInfo("Europe/London")
# Wednesday 4 March 2026, noon in London (GMT).
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TODAY = date(2026, 3, 4)
MONDAY = date(2026, 3, 2)


def count(session, model, *where) -> int:
    """Rows of a model matching the conditions."""
    return session.scalar(select(func.count()).select_from(model).where(*where))


def add_appointment(session, therapist, client, starts_at,
                    status=AppointmentStatus.BOOKED) -> Appointment:
    """An appointment row straight into the table (60 minutes, 15 of buffer)."""
    service = session.scalar(select(Service).where(Service.name == "60 minute massage"))
    ends_at = starts_at + timedelta(minutes=60)
    appointment = Appointment(
        client_id=client.id, therapist_id=therapist.id, service_id=service.id,
        starts_at=starts_at, ends_at=ends_at, blocked_until=ends_at + timedelta(minutes=15),
        status=status, price_pence=service.price_pence, booked_by_id=client.id,
        client_note="Sore left shoulder", created_at=NOW - timedelta(days=30),
        updated_at=NOW - timedelta(days=30))
    session.add(appointment)
    session.flush()
    return appointment


@pytest.fixture
def people(session, diary):
    """(therapist, client) attached to the session."""
    return session.get(User, diary.therapist.id), session.get(User, diary.client.id)


def give_programme(session, therapist, client, exercises, *, started: datetime):
    """A one-item programme (once a day, every day) and a pain report; returns the item id."""
    version = programmes.save_version(
        session, therapist, client,
        [ItemInput.from_exercise(exercises[0], times_per_day=1, days_per_week=7)], "", started)
    return version.items[0].id


def test_summary_counts_adherence_since_the_last_attended_visit(session, people):
    therapist, client = people
    exercises = seed_library(session, therapist, NOW - timedelta(days=40))
    give_programme(session, therapist, client, exercises, started=NOW - timedelta(days=20))
    item = programmes.current_version(session, client).items[0].id
    # Last visit Monday; logs Monday and Tuesday (one with pain), none today yet.
    add_appointment(session, therapist, client, datetime(2026, 2, 23, 10, tzinfo=UTC),
                    AppointmentStatus.ATTENDED)
    add_appointment(session, therapist, client, datetime(2026, 3, 2, 10, tzinfo=UTC),
                    AppointmentStatus.ATTENDED)
    for day, feeling in ((date(2026, 3, 2), "nothing"), (date(2026, 3, 3), "pain")):
        client_day.log_completion(session, client, item, FeedbackInput(both=feeling), "",
                                  uuid.uuid4().hex, day, NOW)
    # Replace the fixture's questionnaire: an older one with three flags, a newer with one.
    session.execute(delete(IntakeForm).where(IntakeForm.client_id == client.id))
    session.add(IntakeForm(client_id=client.id, submitted_at=NOW - timedelta(days=30),
                           answers={}, red_flags=["a", "b", "c"], consent_version="0",
                           consent_given_at=NOW))
    session.add(IntakeForm(client_id=client.id, submitted_at=NOW - timedelta(days=10),
                           answers={}, red_flags=["a"], consent_version="0",
                           consent_given_at=NOW))
    today = add_appointment(session, therapist, client, datetime(2026, 3, 4, 15, tzinfo=UTC))

    page = diary_days.days_of(session, therapist, LONDON, day=TODAY, view="day", now=NOW)
    [entry] = page.days[TODAY]
    assert entry.appointment.id == today.id
    s = entry.summary
    assert s.version_number == 1 and s.since_visit and s.since == MONDAY
    # Monday to Wednesday: three days prescribed, two done.
    assert (s.prescribed, s.done, s.percent) == (3, 2, 67)
    assert s.pain_flags == 1 and s.red_flags == 1

    # The week view also holds Monday's attended visit, counted from the visit before it.
    week = diary_days.days_of(session, therapist, LONDON, day=TODAY, view="week", now=NOW)
    monday = week.days[MONDAY][0].summary
    assert monday.since == date(2026, 2, 23) and monday.since_visit


def test_without_a_visit_or_programme_the_summary_says_so(session, people):
    therapist, client = people
    add_appointment(session, therapist, client, datetime(2026, 3, 4, 15, tzinfo=UTC))
    [entry] = diary_days.days_of(session, therapist, LONDON, day=TODAY, view="day",
                            now=NOW).days[TODAY]
    assert entry.summary.version_number is None and entry.summary.percent is None
    assert not entry.summary.since_visit
    assert entry.summary.pain_flags == 0 and entry.summary.red_flags == 0


def test_only_a_therapist_reads_the_diary_days(session, people):
    _therapist, client = people
    with pytest.raises(PermissionDenied):
        diary_days.days_of(session, client, LONDON, day=TODAY, view="day", now=NOW)


def test_a_week_runs_monday_to_sunday_across_the_clock_change():
    assert diary_days.period(date(2026, 3, 29), "week") == (date(2026, 3, 23), date(2026, 3, 29))
    assert diary_days.step(date(2026, 3, 29), "week", 1) == date(2026, 4, 5)
    assert diary_days.step(date(2026, 3, 29), "day", -1) == date(2026, 3, 28)


def test_a_session_on_the_clock_change_day_is_on_that_day(session, people):
    therapist, client = people
    # 29 March 2026: London moves to BST at 01:00 UTC; 09:30 UTC is 10:30 local.
    add_appointment(session, therapist, client, datetime(2026, 3, 29, 9, 30, tzinfo=UTC))
    page = diary_days.days_of(session, therapist, LONDON, day=date(2026, 3, 29), view="day",
                         now=NOW)
    assert list(page.days) == [date(2026, 3, 29)]


# --- month ---------------------------------------------------------------------------------


def test_a_month_is_whole_weeks_monday_to_sunday():
    # March 2026 starts on a Sunday and ends on a Tuesday: six rows.
    assert diary_days.period(date(2026, 3, 17), "month") == (date(2026, 3, 1), date(2026, 3, 31))
    assert diary_days.period(date(2024, 2, 10), "month") == (date(2024, 2, 1), date(2024, 2, 29))


def test_month_steps_keep_the_day_or_the_last_day_of_a_shorter_month():
    step = diary_days.step
    assert step(date(2026, 1, 31), "month", 1) == date(2026, 2, 28)
    assert step(date(2024, 1, 31), "month", 1) == date(2024, 2, 29)
    assert step(date(2026, 3, 31), "month", -1) == date(2026, 2, 28)
    assert step(date(2026, 12, 31), "month", 1) == date(2027, 1, 31)
    assert step(date(2026, 1, 15), "month", -1) == date(2025, 12, 15)
    assert step(date(2026, 5, 31), "month", 1) == date(2026, 6, 30)
    assert diary_days.add_months(date(2026, 1, 31), 13) == date(2027, 2, 28)
    assert diary_days.add_months(date(2026, 1, 31), -14) == date(2024, 11, 30)


def test_the_diary_pages_through_a_bounded_range_of_days():
    assert diary_days.in_range(date(2026, 3, 4))
    assert not diary_days.in_range(date(9999, 12, 31)) and not diary_days.in_range(date(1, 1, 1))
    # The last day it can show still steps forward and has a local midnight after it.
    last = diary_days.LATEST
    for view in diary_days.VIEWS:
        assert diary_days.step(last, view, 1) > last
        assert diary_days.step(diary_days.EARLIEST, view, -1)


def test_the_month_grid_holds_the_month_and_muted_days_either_side(session, people):
    therapist, _client = people
    march = diary_days.month(session, therapist, LONDON, day=date(2026, 3, 17))
    days = [d.day for week in march.weeks for d in week]
    assert (march.first, march.last) == (date(2026, 3, 1), date(2026, 3, 31))
    assert len(march.weeks) == 6 and all(len(week) == 7 for week in march.weeks)
    assert days[0] == date(2026, 2, 23) and days[-1] == date(2026, 4, 5)
    assert days == [date(2026, 2, 23) + timedelta(days=n) for n in range(42)]
    assert all(week[0].day.weekday() == 0 for week in march.weeks)
    inside = [d.day for week in march.weeks for d in week if d.in_month]
    assert inside == [date(2026, 3, 1) + timedelta(days=n) for n in range(31)]
    # February 2021 starts on a Monday and has 28 days: exactly four rows.
    february = diary_days.month(session, therapist, LONDON, day=date(2021, 2, 1))
    assert len(february.weeks) == 4 and all(d.in_month for w in february.weeks for d in w)


def test_the_month_counts_sessions_per_day_without_the_cancelled(session, people):
    therapist, client = people
    other = User(email="month-other@example.com", name="Sam Other", role=Role.CLIENT)
    session.add(other)
    session.flush()
    late = add_appointment(session, therapist, client, datetime(2026, 3, 10, 15, tzinfo=UTC))
    early = add_appointment(session, therapist, other, datetime(2026, 3, 10, 9, tzinfo=UTC))
    add_appointment(session, therapist, client, datetime(2026, 3, 10, 11, tzinfo=UTC),
                    AppointmentStatus.CANCELLED)
    attended = add_appointment(session, therapist, client, datetime(2026, 3, 2, 10, tzinfo=UTC),
                               AppointmentStatus.ATTENDED)
    add_appointment(session, therapist, client, datetime(2026, 3, 20, 10, tzinfo=UTC),
                    AppointmentStatus.CANCELLED)
    # Either side of the month: not counted, not shown on the muted days.
    add_appointment(session, therapist, client, datetime(2026, 2, 27, 10, tzinfo=UTC))
    add_appointment(session, therapist, client, datetime(2026, 4, 1, 10, tzinfo=UTC))
    march = diary_days.month(session, therapist, LONDON, day=date(2026, 3, 4))
    by_day = {d.day: d for week in march.weeks for d in week}
    assert [a.id for a in by_day[date(2026, 3, 10)].appointments] == [early.id, late.id]
    assert by_day[date(2026, 3, 10)].count == 2
    assert [a.id for a in by_day[date(2026, 3, 2)].appointments] == [attended.id]
    assert by_day[date(2026, 3, 20)].count == 0
    assert by_day[date(2026, 2, 27)].count == 0 and by_day[date(2026, 4, 1)].count == 0
    assert march.count == 3
    assert sum(1 for d in by_day.values() if d.count) == 2


@pytest.mark.parametrize("starts_at, local_day, shown_in", [
    # 30 March 2026 00:30 BST is 23:30 UTC the day before.
    (datetime(2026, 3, 29, 23, 30, tzinfo=UTC), date(2026, 3, 30), date(2026, 3, 1)),
    # 00:30 on the clock-change Sunday itself, still GMT.
    (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), date(2026, 3, 29), date(2026, 3, 1)),
    # 1 April 00:30 BST (31 March 23:30 UTC) belongs to April, not March.
    (datetime(2026, 3, 31, 23, 30, tzinfo=UTC), date(2026, 4, 1), date(2026, 4, 1)),
    # 25 October 2026 00:30 BST, an hour before the clocks go back (24 October UTC).
    (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), date(2026, 10, 25), date(2026, 10, 1)),
    # 26 October 00:30 GMT, the night after.
    (datetime(2026, 10, 26, 0, 30, tzinfo=UTC), date(2026, 10, 26), date(2026, 10, 1)),
    # 1 October 00:30 BST (30 September 23:30 UTC) belongs to October.
    (datetime(2026, 9, 30, 23, 30, tzinfo=UTC), date(2026, 10, 1), date(2026, 10, 1)),
])
def test_a_session_at_half_past_midnight_is_on_its_local_day_in_a_clock_change_month(
        session, people, starts_at, local_day, shown_in):
    therapist, client = people
    a = add_appointment(session, therapist, client, starts_at)
    shown = diary_days.month(session, therapist, LONDON, day=shown_in)
    [busy] = [d for week in shown.weeks for d in week if d.count]
    assert busy.day == local_day and busy.in_month and busy.appointments == (a,)
    earlier = diary_days.step(shown_in, "month", -1)
    before = diary_days.month(session, therapist, LONDON, day=earlier)
    assert before.count == 0


def test_only_a_therapist_reads_the_month(session, people):
    _therapist, client = people
    with pytest.raises(PermissionDenied):
        diary_days.month(session, client, LONDON, day=TODAY)


# --- transitions ---------------------------------------------------------------------------


def test_mark_attended_and_no_show_once_started_with_audit(session, people):
    therapist, client = people
    first = add_appointment(session, therapist, client, NOW - timedelta(hours=2))
    second = add_appointment(session, therapist, client, NOW - timedelta(minutes=30))
    diary_days.mark_attended(session, therapist, first, now=NOW, ip="127.0.0.1")
    diary_days.mark_no_show(session, therapist, second, now=NOW)
    assert first.status is AppointmentStatus.ATTENDED
    assert second.status is AppointmentStatus.NO_SHOW
    actions = set(session.scalars(select(AuditEvent.action)))
    assert {"appointment.attended", "appointment.no_show"} <= actions
    event_ = session.scalar(select(AuditEvent).where(AuditEvent.action == "appointment.attended"))
    assert event_.subject_user_id == client.id and event_.details["appointment_id"] == first.id


def test_marking_is_refused_before_the_start_and_when_not_booked(session, people):
    therapist, client = people
    future = add_appointment(session, therapist, client, NOW + timedelta(hours=1))
    with pytest.raises(Conflict, match="hasn't started"):
        diary_days.mark_attended(session, therapist, future, now=NOW)
    past = add_appointment(session, therapist, client, NOW - timedelta(hours=3),
                           AppointmentStatus.CANCELLED)
    with pytest.raises(Conflict, match="already cancelled"):
        diary_days.mark_no_show(session, therapist, past, now=NOW)
    done = add_appointment(session, therapist, client, NOW - timedelta(days=1),
                           AppointmentStatus.ATTENDED)
    with pytest.raises(Conflict, match="already marked attended"):
        diary_days.mark_no_show(session, therapist, done, now=NOW)
    started = add_appointment(session, therapist, client, NOW - timedelta(days=2))
    with pytest.raises(PermissionDenied):
        diary_days.mark_attended(session, client, started, now=NOW)
    assert started.status is AppointmentStatus.BOOKED and future.status is AppointmentStatus.BOOKED
    assert count(session, AuditEvent, AuditEvent.action.like("appointment.%")) == 0
    assert not diary_days.can_mark(therapist, future, NOW)
    assert diary_days.can_mark(therapist, started, NOW)


# --- notes ---------------------------------------------------------------------------------


def test_notes_are_appended_trimmed_and_audited_without_their_text(session, people):
    therapist, client = people
    a = add_appointment(session, therapist, client, NOW - timedelta(hours=2))
    diary_days.add_note(session, therapist, a, "  Shoulder better.  ", now=NOW)
    diary_days.add_note(session, therapist, a, "x" * diary_days.NOTE_LIMIT, now=NOW + timedelta(1))
    bodies = list(session.scalars(select(SessionNote.body).order_by(SessionNote.id)))
    assert bodies == ["Shoulder better.", "x" * diary_days.NOTE_LIMIT]
    events = list(session.scalars(select(AuditEvent)
                                  .where(AuditEvent.action == "session_note.added")))
    assert len(events) == 2 and "Shoulder" not in str(events[0].details)
    [entry] = diary_days.days_of(session, therapist, LONDON, day=TODAY, view="day",
                            now=NOW).days[TODAY]
    assert [n.body for n in entry.notes] == bodies


@pytest.mark.parametrize("body", ["", "   \n ", None, "x" * (diary_days.NOTE_LIMIT + 1)])
def test_bad_notes_write_nothing(session, people, body):
    therapist, client = people
    a = add_appointment(session, therapist, client, NOW - timedelta(hours=2))
    with pytest.raises(InvalidInput) as raised:
        diary_days.add_note(session, therapist, a, body, now=NOW)
    assert raised.value.field == "body"
    assert count(session, SessionNote) == 0 and count(session, AuditEvent) == 0


def test_a_client_cannot_write_notes(session, people):
    therapist, client = people
    a = add_appointment(session, therapist, client, NOW - timedelta(hours=2))
    with pytest.raises(PermissionDenied):
        diary_days.add_note(session, client, a, "mine", now=NOW)
    assert count(session, SessionNote) == 0


# --- queries -------------------------------------------------------------------------------


def fill_week(session, therapist, exercises, first: int, last: int) -> None:
    """Clients first..last-1, each with a programme, logs, a pain report, a questionnaire,
    an attended visit last week and a session this week with a note."""
    for n in range(first, last):
        client = User(email=f"diary{n}@example.com", name=f"Client {n:03}", role=Role.CLIENT)
        session.add(client)
        session.flush()
        item = give_programme(session, therapist, client, exercises,
                              started=NOW - timedelta(days=20))
        client_day.log_completion(session, client, item, FeedbackInput(both="pain"), "",
                                  uuid.uuid4().hex, MONDAY, NOW)
        session.add(IntakeForm(client_id=client.id, submitted_at=NOW, answers={},
                               red_flags=["x"], consent_version="0", consent_given_at=NOW))
        # 75-minute steps from Monday 00:00 keep every session apart.
        start = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=75 * n)
        add_appointment(session, therapist, client, start - timedelta(days=7),
                        AppointmentStatus.ATTENDED)
        a = add_appointment(session, therapist, client, start)
        diary_days.add_note(session, therapist, a, f"note {n}", now=NOW)
    session.commit()


def run_counted(session, therapist):
    """The diary's week and every SQL statement it ran."""
    session.expire_all()
    therapist = session.get(User, therapist.id)
    assert therapist.is_therapist
    with counting_statements() as statements:
        page = diary_days.days_of(session, therapist, LONDON, day=TODAY, view="week", now=NOW)
        # Reading everything the template shows runs no more queries.
        for entries in page.days.values():
            for e in entries:
                assert e.appointment.client.name and e.appointment.service.name
                assert all(n.author.name for n in e.notes)
    return page, statements


@pytest.mark.parametrize("n", [3])
def test_the_diary_days_run_a_fixed_number_of_queries_at_n_and_10n(session, people, n):
    therapist, _client = people
    exercises = seed_library(session, therapist, NOW - timedelta(days=40))
    fill_week(session, therapist, exercises, 0, n)
    small_page, small = run_counted(session, therapist)
    fill_week(session, therapist, exercises, n, 10 * n)
    large_page, large = run_counted(session, therapist)
    assert small_page.count == n and large_page.count == 10 * n
    assert len(small) == len(large), "\n".join(["N:", *small, "10N:", *large])
    assert len(large) <= 8, "\n".join(large)
    summaries = [e.summary for es in large_page.days.values() for e in es]
    assert all(s.pain_flags == 1 and s.red_flags == 1 and s.version_number == 1
               for s in summaries)
    assert all(len(e.notes) == 1 for es in large_page.days.values() for e in es)


def fill_month(session, therapist, first: int, last: int) -> None:
    """Clients first..last-1, each with a session in March 2026 (every third one cancelled)."""
    for n in range(first, last):
        client = User(email=f"month{n}@example.com", name=f"Client {n:03}", role=Role.CLIENT)
        session.add(client)
        session.flush()
        start = datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(minutes=75 * n)
        add_appointment(session, therapist, client, start,
                        AppointmentStatus.CANCELLED if n % 3 == 2 else AppointmentStatus.BOOKED)
    session.commit()


def month_counted(session, therapist):
    """March 2026's month view and every SQL statement it ran."""
    session.expire_all()
    therapist = session.get(User, therapist.id)
    assert therapist.is_therapist
    with counting_statements() as statements:
        page = diary_days.month(session, therapist, LONDON, day=TODAY)
        # Reading what the template shows runs no more queries.
        for week in page.weeks:
            for d in week:
                assert all(a.client.name and a.service.name for a in d.appointments)
    return page, statements


@pytest.mark.parametrize("n", [3])
def test_the_month_runs_one_query_at_n_and_10n(session, people, n):
    therapist, _client = people
    fill_month(session, therapist, 0, n)
    small_page, small = month_counted(session, therapist)
    fill_month(session, therapist, n, 10 * n)
    large_page, large = month_counted(session, therapist)
    assert small_page.count == n - n // 3 and large_page.count == 10 * n - 10 * n // 3
    assert len(small) == len(large) == 1, "\n".join(["N:", *small, "10N:", *large])
