"""The most upcoming sessions a client may hold when booking online (a practice setting, 4 by
default): what counts, who is exempt, and that a refusal writes nothing. The race of two
bookings at the limit is in test_no_double_booking.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import Appointment, AppointmentStatus, AuditEvent, OutboxMessage, Practice, User
from portal.services import booking
from portal.services import diary as diary_service
from tests.booking_support import EMAIL_LINKS

# Monday 2 March 2026, 08:00 UTC (GMT, so local time is the same).
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
# Free weekday mornings from Tuesday 3 March on: one session a day at 10:00.
DAYS = [datetime(2026, 3, day, 10, 0, tzinfo=UTC) for day in (3, 4, 5, 6, 9, 10, 11, 12)]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def book(session, diary, start: datetime, *, actor: User | None = None, now=NOW) -> Appointment:
    client = session.get(User, diary.client.id)
    therapist = session.get(User, diary.therapist.id)
    return booking.book(session, actor or client, client=client, therapist=therapist,
                        service_id=diary.services["60 minute massage"], starts_at=start,
                        now=now, links=EMAIL_LINKS)


def set_limit(session, limit: int) -> None:
    session.scalar(select(Practice)).max_upcoming_per_client = limit
    session.flush()


def written(session) -> tuple[int, int, int]:
    """(appointments, emails, audit rows): a write shows up here."""
    return count(session, Appointment), count(session, OutboxMessage), count(session, AuditEvent)


def test_a_new_practice_allows_four(session, diary, practice):
    assert session.scalar(select(Practice)).max_upcoming_per_client == 4


def test_the_booking_past_the_limit_is_refused_with_the_numbers_and_writes_nothing(
        session, diary, practice):
    for start in DAYS[:4]:
        book(session, diary, start)
    before = written(session)

    with pytest.raises(booking.UpcomingLimitReached) as caught:
        book(session, diary, DAYS[4])

    assert (caught.value.held, caught.value.limit) == (4, 4)
    assert caught.value.message == (
        "You already have 4 upcoming sessions booked, and clients can hold up to 4 at a time "
        "when booking online. To book another, move or cancel one of them, or contact the "
        "practice.")
    assert written(session) == before


def test_below_the_limit_booking_goes_ahead(session, diary, practice):
    set_limit(session, 2)
    book(session, diary, DAYS[0])
    assert book(session, diary, DAYS[1]).status is AppointmentStatus.BOOKED
    with pytest.raises(booking.UpcomingLimitReached) as caught:
        book(session, diary, DAYS[2])
    assert "You already have 2 upcoming sessions booked" in caught.value.message
    assert "up to 2 at a time" in caught.value.message


def test_a_limit_of_one_says_one_session(session, diary, practice):
    set_limit(session, 1)
    book(session, diary, DAYS[0])
    with pytest.raises(booking.UpcomingLimitReached) as caught:
        book(session, diary, DAYS[1])
    assert "You already have 1 upcoming session booked" in caught.value.message


def test_cancelled_and_past_sessions_do_not_count(session, diary, practice):
    set_limit(session, 2)
    client, therapist = session.get(User, diary.client.id), session.get(User, diary.therapist.id)
    cancelled = book(session, diary, DAYS[0])
    booking.cancel(session, client, cancelled, now=NOW, links=EMAIL_LINKS)
    # Sessions that have ended: attended, a no-show, and one still "booked" because the
    # therapist has not marked it yet.
    for n, status in enumerate((AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW,
                                AppointmentStatus.BOOKED)):
        start = NOW - timedelta(days=n + 1)
        session.add(Appointment(
            client_id=client.id, therapist_id=therapist.id,
            service_id=diary.services["60 minute massage"], starts_at=start,
            ends_at=start + timedelta(hours=1), blocked_until=start + timedelta(hours=1),
            status=status, price_pence=5500, booked_by_id=client.id))
    session.flush()
    assert booking.upcoming_booked(session, client.id, NOW) == 0

    book(session, diary, DAYS[1])
    book(session, diary, DAYS[2])
    assert booking.upcoming_booked(session, client.id, NOW) == 2
    with pytest.raises(booking.UpcomingLimitReached):
        book(session, diary, DAYS[3])


def test_a_session_that_ends_frees_a_place(session, diary, practice):
    set_limit(session, 1)
    first = book(session, diary, DAYS[0])
    during = first.starts_at + timedelta(minutes=30)
    with pytest.raises(booking.UpcomingLimitReached):  # still under way: it counts
        book(session, diary, DAYS[2], now=during)
    assert book(session, diary, DAYS[2], now=first.ends_at).id != first.id


def test_moving_a_session_at_the_limit_still_works(session, diary, practice):
    set_limit(session, 2)
    client = session.get(User, diary.client.id)
    first = book(session, diary, DAYS[0])
    book(session, diary, DAYS[1])
    moved = booking.reschedule(session, client, first, starts_at=DAYS[5], now=NOW,
                               links=EMAIL_LINKS)
    assert moved.starts_at == DAYS[5]
    assert booking.upcoming_booked(session, client.id, NOW) == 2


def test_the_therapist_books_beyond_the_limit(session, diary, practice):
    set_limit(session, 1)
    therapist = session.get(User, diary.therapist.id)
    book(session, diary, DAYS[0])
    book(session, diary, DAYS[1], actor=therapist)
    diary_service.book_for_client(
        session, therapist, client_id=diary.client.id,
        service_id=diary.services["60 minute massage"], day=date(2026, 3, 5),
        slot=DAYS[2].isoformat(), override=False, override_time=None, now=NOW,
        links=EMAIL_LINKS)
    assert booking.upcoming_booked(session, diary.client.id, NOW) == 3
    # The client, now over the limit, is told how many they hold and what the limit is.
    with pytest.raises(booking.UpcomingLimitReached) as caught:
        book(session, diary, DAYS[3])
    assert "You already have 3 upcoming sessions booked" in caught.value.message
    assert "up to 1 at a time" in caught.value.message


def test_another_clients_sessions_do_not_count(session, diary, practice, make_client):
    other = make_client(name="Sam Patel")  # before the session's transaction starts
    set_limit(session, 1)
    therapist = session.get(User, diary.therapist.id)
    booking.book(session, therapist, client=session.get(User, other.id), therapist=therapist,
                 service_id=diary.services["60 minute massage"], starts_at=DAYS[0], now=NOW,
                 links=EMAIL_LINKS)
    assert book(session, diary, DAYS[1]).client_id == diary.client.id
