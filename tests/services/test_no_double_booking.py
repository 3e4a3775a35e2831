"""Never a double booking: the PostgreSQL exclusion constraint on its own, then races of
concurrent callers (each with its own engine, as separate processes would be) through the
booking service on both backends, and reminders queued exactly once by two senders."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import partial

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    NotificationClaim,
    OutboxMessage,
    Practice,
    User,
    WorkingHours,
)
from portal.services import booking, reminders
from portal.services.errors import Conflict
from tests.booking_support import EMAIL_LINKS, complete_intake, own_session, race

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday, GMT
WEDNESDAY = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)
CONCURRENCY = 16

postgres_only = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


def _row(diary, start: datetime, *, minutes: int = 60, buffer: int = 15,
         status: AppointmentStatus = AppointmentStatus.BOOKED, therapist_id: int | None = None,
         override: bool = False) -> Appointment:
    end = start + timedelta(minutes=minutes)
    return Appointment(
        client_id=diary.client.id, therapist_id=therapist_id or diary.therapist.id,
        service_id=diary.services["60 minute massage"], starts_at=start, ends_at=end,
        blocked_until=end + timedelta(minutes=buffer), status=status, price_pence=5500,
        booked_by_id=diary.therapist.id, overlap_override=override, created_at=NOW,
        updated_at=NOW,
    )


def _insert(session, *rows: Appointment) -> None:
    session.add_all(rows)
    session.flush()


# --- the exclusion constraint (PostgreSQL), rows inserted directly --------------------------

TEN = WEDNESDAY + timedelta(hours=10)  # 10:00-11:00, busy until 11:15


OVERLAPPING = [
    (TEN, 60),  # the same slot
    (TEN + timedelta(minutes=30), 30),  # inside it
    (TEN - timedelta(minutes=30), 90),  # around it
    (TEN - timedelta(minutes=60), 50),  # ends 09:50, its buffer runs to 10:05
    (TEN + timedelta(minutes=70), 30),  # starts inside the first one's buffer
]


@postgres_only
@pytest.mark.parametrize("existing", [AppointmentStatus.BOOKED, AppointmentStatus.ATTENDED,
                                      AppointmentStatus.NO_SHOW])
def test_overlapping_live_appointments_violate_the_exclusion_constraint(session, diary,
                                                                        existing):
    _insert(session, _row(diary, TEN, status=existing))
    for start, minutes in OVERLAPPING:
        with pytest.raises(IntegrityError) as caught, session.begin_nested():
            _insert(session, _row(diary, start, minutes=minutes))
        assert "ex_appointment_no_overlap" in str(caught.value), (start, minutes)
    assert session.scalar(select(func.count()).select_from(Appointment)) == 1


@postgres_only
def test_a_cancelled_appointment_does_not_block_until_it_is_revived(session, diary):
    cancelled = _row(diary, TEN, status=AppointmentStatus.CANCELLED)
    _insert(session, cancelled)
    _insert(session, _row(diary, TEN))
    cancelled.status = AppointmentStatus.BOOKED
    with pytest.raises(IntegrityError) as caught:
        session.flush()
    assert "ex_appointment_no_overlap" in str(caught.value)


@postgres_only
def test_different_therapists_do_not_clash(session, diary, make_therapist):
    other = make_therapist(name="Kim Other")
    _insert(session, _row(diary, TEN), _row(diary, TEN, therapist_id=other.id))
    assert session.scalar(select(func.count()).select_from(Appointment)) == 2


@postgres_only
def test_back_to_back_with_the_buffer_respected(session, diary):
    first = _row(diary, TEN)  # busy 10:00-11:15
    _insert(session, first)
    _insert(session, _row(diary, first.blocked_until))  # 11:15, right after the buffer
    _insert(session, _row(diary, TEN - timedelta(minutes=75)))  # 08:45-09:45, buffer to 10:00
    assert session.scalar(select(func.count()).select_from(Appointment)) == 3
    with pytest.raises(IntegrityError), session.begin_nested():
        _insert(session, _row(diary, first.blocked_until - timedelta(minutes=1)))


@postgres_only
def test_a_deliberate_override_is_exempt(session, diary):
    _insert(session, _row(diary, TEN), _row(diary, TEN, override=True))
    assert session.scalar(select(func.count()).select_from(Appointment)) == 2


# --- races through the booking service (both backends) -------------------------------------


@pytest.fixture
def clients(app, diary, make_client) -> list[int]:
    """Sixteen distinct clients, each with a completed questionnaire."""
    ids = [make_client(name=f"Racer {n:02d}").id for n in range(CONCURRENCY)]
    with app.app_context():
        for client_id in ids:
            complete_intake(db.session, client_id, NOW)
        db.session.commit()
    return ids


def _book(url: str, therapist_id: int, client_id: int, service_id: int, start: datetime,
          start_line) -> str | Conflict:
    """One caller: prepare in a private session, wait for the others, then book."""
    with own_session(url) as session:
        client = session.get(User, client_id)
        therapist = session.get(User, therapist_id)
        session.commit()
        start_line()
        try:
            booking.book(session, client, client=client, therapist=therapist,
                         service_id=service_id, starts_at=start, now=NOW, links=EMAIL_LINKS)
            session.commit()
            return "booked"
        except Conflict as exc:
            session.rollback()
            return exc


def _live_appointments(app) -> list[tuple[datetime, int]]:
    with app.app_context():
        rows = db.session.execute(
            select(Appointment.starts_at, Appointment.service_id)
            .where(Appointment.status == AppointmentStatus.BOOKED)
            .order_by(Appointment.starts_at)
        ).all()
        db.session.remove()
        return [tuple(row) for row in rows]


def _assert_one_winner(outcomes: list) -> None:
    unexpected = [o for o in outcomes if o != "booked" and not isinstance(o, Conflict)]
    assert not unexpected, unexpected
    assert outcomes.count("booked") == 1, outcomes
    refusals = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(refusals) == CONCURRENCY - 1
    assert all("just taken" in r.message for r in refusals), [r.message for r in refusals]


@pytest.mark.parametrize("hour", [10, 14, 16])
def test_sixteen_clients_booking_one_slot_at_once_give_one_booking(app, diary, clients, hour):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    start = WEDNESDAY + timedelta(hours=hour)
    service_id = diary.services["60 minute massage"]
    outcomes = race([partial(_book, url, diary.therapist.id, client_id, service_id, start)
                     for client_id in clients])
    _assert_one_winner(outcomes)
    assert _live_appointments(app) == [(start, service_id)]
    with app.app_context():
        confirmations = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                          .where(OutboxMessage.kind == "appointment_confirmed"))
        assert confirmations == 1


def test_overlapping_services_of_different_lengths_race_to_one_booking(app, diary, clients):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    long_start = WEDNESDAY + timedelta(hours=10)  # 90 minutes: 10:00-11:30, busy to 11:45
    short_start = WEDNESDAY + timedelta(hours=11)  # 30 minutes: 11:00-11:30
    long_id, short_id = diary.services["90 minute massage"], diary.services["30 minute massage"]
    workers = [
        partial(_book, url, diary.therapist.id, client_id,
                *((long_id, long_start) if n % 2 else (short_id, short_start)))
        for n, client_id in enumerate(clients)
    ]
    _assert_one_winner(race(workers))
    assert _live_appointments(app) in ([(long_start, long_id)], [(short_start, short_id)])


# --- the limit of upcoming sessions per client: counted under lock -------------------------


def test_bookings_racing_at_the_limit_minus_one_let_exactly_one_through(app, diary,
                                                                       make_therapist):
    """The client holds one session and may hold two; eight tabs book eight different
    times at once, half with a second therapist (whose lock would not serialise them).
    One gets the place; every other is refused by the limit, not by a taken slot."""
    second = make_therapist(name="Kim Other")
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    sixty = diary.services["60 minute massage"]
    with app.app_context():
        db.session.add_all(WorkingHours(therapist_id=second.id, weekday=weekday,
                                        start_time=time(9), end_time=time(18))
                           for weekday in range(5))
        db.session.scalar(select(Practice)).max_upcoming_per_client = 2
        client = db.session.get(User, diary.client.id)
        therapist = db.session.get(User, diary.therapist.id)
        booking.book(db.session, client, client=client, therapist=therapist, service_id=sixty,
                     starts_at=WEDNESDAY + timedelta(hours=9), now=NOW, links=EMAIL_LINKS)
        db.session.commit()
        db.session.remove()
    workers = [
        partial(_book, url, therapist_id, diary.client.id, sixty,
                WEDNESDAY + timedelta(days=1, hours=hour))
        for therapist_id in (diary.therapist.id, second.id) for hour in (9, 11, 14, 16)
    ]

    outcomes = race(workers)

    assert outcomes.count("booked") == 1, outcomes
    refusals = [o for o in outcomes if o != "booked"]
    assert all(isinstance(o, booking.UpcomingLimitReached) for o in refusals), outcomes
    assert all(o.held == 2 for o in refusals), [o.message for o in refusals]
    assert len(_live_appointments(app)) == 2


# --- reminders: two senders at once, each appointment reminded once -------------------------


def _queue_reminders(url: str, now: datetime, start_line) -> int:
    with own_session(url) as session:
        start_line()
        queued = reminders.queue_due(session, now=now)
        session.commit()
        return queued


@pytest.mark.parametrize("rounds", [3])
def test_two_reminder_senders_at_once_queue_each_reminder_once(app, diary, rounds):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    for round_ in range(rounds):
        now = NOW + timedelta(days=round_)
        with app.app_context():
            db.session.add_all(_row(diary, now + timedelta(hours=2 + 2 * i)) for i in range(10))
            db.session.commit()
        outcomes = race([partial(_queue_reminders, url, now) for _ in range(2)])
        assert all(isinstance(o, int) for o in outcomes), outcomes
        assert sum(outcomes) == 10, outcomes
        with app.app_context():
            reminders_sent = db.session.scalar(
                select(func.count()).select_from(OutboxMessage)
                .where(OutboxMessage.kind == "appointment_reminder"))
            claims = db.session.scalar(select(func.count()).select_from(NotificationClaim))
            db.session.remove()
        assert reminders_sent == claims == 10 * (round_ + 1)
