"""Loading four weeks of availability takes a fixed, small number of queries, whatever the
size of the diary, and reads only the appointments that can reach into the weeks asked for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import (
    MAX_BUSY,
    Appointment,
    AppointmentStatus,
    Practice,
    Service,
    TimeOff,
    User,
)
from portal.models.booking import MAX_DURATION_MINUTES
from portal.services import booking

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # Sunday; the next four weeks from Monday
FIRST, LAST = date(2026, 3, 2), date(2026, 3, 29)  # includes the 29 March clock change
ORIGIN = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
SPACING = timedelta(hours=3)  # 200 rows fit in 25 days


def _fill_diary(session, diary, indices: range) -> None:
    """Appointments (60 minutes + 15 buffer) and short time off, every 3 hours."""
    service = session.get(Service, diary.services["60 minute massage"])
    for i in indices:
        start = ORIGIN + i * SPACING
        end = start + timedelta(minutes=60)
        session.add(Appointment(
            client_id=diary.client.id, therapist_id=diary.therapist.id, service_id=service.id,
            starts_at=start, ends_at=end, blocked_until=end + timedelta(minutes=15),
            status=AppointmentStatus.BOOKED, price_pence=service.price_pence,
            booked_by_id=diary.therapist.id, created_at=NOW, updated_at=NOW,
        ))
        off = start + timedelta(minutes=100)
        session.add(TimeOff(therapist_id=diary.therapist.id, starts_at=off,
                            ends_at=off + timedelta(minutes=30), reason="errand"))
    session.commit()


def _four_weeks_of_slots(session, diary) -> tuple[list[datetime], list[str]]:
    """free_slots for four weeks, and every SQL statement it ran."""
    session.commit()  # start from a clean transaction, with the inputs loaded fresh
    practice = session.scalar(select(Practice))
    therapist = session.get(User, diary.therapist.id)
    service = session.get(Service, diary.services["60 minute massage"])
    # Touch what free_slots reads, so no lazy refresh is counted against it.
    assert practice.timezone and therapist.id and service.duration_minutes
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        found = booking.free_slots(session, practice, therapist, service, now=NOW,
                                   first=FIRST, last=LAST)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return found, statements


@pytest.mark.parametrize("n", [20])
def test_four_weeks_of_availability_take_the_same_few_queries_at_n_and_10n(session, diary,
                                                                           practice, n):
    _fill_diary(session, diary, range(n))
    small_slots, small = _four_weeks_of_slots(session, diary)

    _fill_diary(session, diary, range(n, 10 * n))
    assert session.scalar(select(func.count()).select_from(Appointment)) == 10 * n
    assert session.scalar(select(func.count()).select_from(TimeOff)) == 10 * n
    large_slots, large = _four_weeks_of_slots(session, diary)

    assert len(small) == len(large), "\n".join(["N:", *small, "10N:", *large])
    assert len(large) <= 4, "\n".join(large)
    # The rows were really read: a fuller diary leaves fewer free slots.
    assert len(large_slots) < len(small_slots)
    assert small_slots and large_slots


# --- reading only the period asked for --------------------------------------------------------


def _appointment(diary, start: datetime, busy: timedelta, **overrides) -> Appointment:
    return Appointment(
        client_id=diary.client.id, therapist_id=diary.therapist.id,
        service_id=diary.services["60 minute massage"], starts_at=start,
        ends_at=start + min(busy, timedelta(minutes=MAX_DURATION_MINUTES)),
        blocked_until=start + busy, status=AppointmentStatus.BOOKED, price_pence=5500,
        booked_by_id=diary.therapist.id, created_at=NOW, updated_at=NOW, **overrides)


def test_the_longest_possible_appointment_before_the_period_still_counts(session, diary):
    """Availability reads appointments that started at most MAX_BUSY before the period (not
    the whole history): one that started exactly that long before, still busy into the
    period, is read; one that started earlier has to have ended, and is not needed."""
    period = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
    longest = _appointment(diary, period - MAX_BUSY + timedelta(minutes=1), MAX_BUSY,
                           overlap_override=True)
    ended = _appointment(diary, period - MAX_BUSY - timedelta(hours=1), MAX_BUSY,
                         overlap_override=True)
    session.add_all([longest, ended])
    session.commit()
    found = booking.load_availability(session, diary.therapist.id, period,
                                      period + timedelta(hours=4))
    assert found.busy == [(longest.starts_at, longest.blocked_until)]


def test_the_database_refuses_an_appointment_busy_for_longer_than_any_service_allows(session,
                                                                                   diary):
    start = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
    session.add(_appointment(diary, start, MAX_BUSY))
    session.commit()
    session.add(_appointment(diary, start + timedelta(days=1), MAX_BUSY + timedelta(minutes=1)))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    late = session.scalar(select(Appointment).where(Appointment.starts_at == start))
    late.blocked_until += timedelta(seconds=1)
    with pytest.raises(IntegrityError):
        session.commit()
