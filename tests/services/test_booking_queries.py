"""Loading four weeks of availability takes a fixed, small number of queries, whatever the
size of the diary."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus, Practice, Service, TimeOff, User
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
