"""Booking service: rules re-checked on the server, policy window, reschedule, reminders."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import Appointment, AppointmentStatus, OutboxMessage, User
from portal.services import booking, reminders
from portal.services.errors import InvalidInput, PermissionDenied
from tests.booking_support import EMAIL_LINKS

# Monday 2 March 2026, 08:00 UTC (GMT, so local time is the same).
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WEDNESDAY_10 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def _users(session, diary):
    return session.get(User, diary.client.id), session.get(User, diary.therapist.id)


def _book(session, diary, start=WEDNESDAY_10, service="60 minute massage", actor=None,
          now=NOW, **kw):
    client, therapist = _users(session, diary)
    return booking.book(session, actor or client, client=client, therapist=therapist,
                        service_id=diary.services[service], starts_at=start, now=now,
                        links=EMAIL_LINKS, **kw)


def test_book_creates_appointment_and_confirmation_with_ics(session, diary, practice):
    appointment = _book(session, diary)
    assert appointment.ends_at == WEDNESDAY_10 + timedelta(minutes=60)
    assert appointment.blocked_until == WEDNESDAY_10 + timedelta(minutes=75)
    mail = session.scalars(select(OutboxMessage)).one()
    assert mail.kind == "appointment_confirmed"
    ics = mail.attachments[0]["data"]
    assert "BEGIN:VEVENT" in ics and "TZID=Europe/London" in ics
    assert f"UID:appointment-{appointment.id}" in ics
    # METHOD:REQUEST names the client as attendee (RFC 5546), so mail apps see an invitation.
    lines = re.sub(r"\r?\n[ \t]", "", ics).splitlines()
    assert "METHOD:REQUEST" in lines
    attendees = [line for line in lines if line.startswith("ATTENDEE")]
    assert len(attendees) == 1 and attendees[0].endswith(f":mailto:{appointment.client.email}")
    assert "PARTSTAT=ACCEPTED" in attendees[0]


def test_second_booking_of_same_slot_is_taken_with_alternatives(app, diary, practice,
                                                                make_client):
    sam = make_client(name="Sam Patel")  # before the session's transaction starts
    from portal.extensions import db

    with app.app_context():
        session = db.session
        _book(session, diary)
        _second_booking_is_taken(session, diary, session.get(User, sam.id))


def _second_booking_is_taken(session, diary, other):
    from portal.models import IntakeForm
    from portal.services.intake import CONSENT_VERSION
    session.add(IntakeForm(client_id=other.id, answers={}, red_flags=[],
                           consent_version=CONSENT_VERSION, consent_given_at=NOW,
                           submitted_at=NOW))
    therapist = session.get(User, diary.therapist.id)
    with pytest.raises(booking.SlotTaken) as caught:
        booking.book(session, other, client=other, therapist=therapist,
                     service_id=diary.services["30 minute massage"],
                     starts_at=WEDNESDAY_10 + timedelta(minutes=30), now=NOW,
                     links=EMAIL_LINKS)
    assert caught.value.alternatives
    assert all(abs(a - WEDNESDAY_10) < timedelta(days=4) for a in caught.value.alternatives)


@pytest.mark.parametrize("start, message", [
    (NOW - timedelta(hours=1), "already passed"),
    (NOW + timedelta(hours=2), "hours ahead"),
    (NOW + timedelta(weeks=9), "weeks ahead"),
    (datetime(2026, 3, 4, 7, 0, tzinfo=UTC), "isn't available"),
    (datetime(2026, 3, 4, 10, 5, tzinfo=UTC), "isn't available"),
    (datetime(2026, 3, 8, 10, 0, tzinfo=UTC), "isn't available"),
])
def test_bad_times_are_refused(session, diary, practice, start, message):
    with pytest.raises(InvalidInput) as caught:
        _book(session, diary, start=start)
    assert message in caught.value.message
    assert session.scalar(select(func.count()).select_from(Appointment)) == 0


def test_client_cannot_cancel_inside_window_but_therapist_can_and_it_is_late(session, diary,
                                                                             practice):
    appointment = _book(session, diary)
    client, therapist = _users(session, diary)
    late = WEDNESDAY_10 - timedelta(hours=5)
    assert not booking.can_change(client, appointment, session.merge(practice), late)
    with pytest.raises(PermissionDenied) as caught:
        booking.cancel(session, client, appointment, now=late, links=EMAIL_LINKS)
    assert "24 hours" in caught.value.message
    booking.cancel(session, therapist, appointment, now=late, links=EMAIL_LINKS,
                   reason="I'm unwell, sorry")
    assert appointment.status is AppointmentStatus.CANCELLED
    assert appointment.late_cancellation


def test_reschedule_moves_and_frees_old_slot(session, diary, practice):
    appointment = _book(session, diary)
    client, _ = _users(session, diary)
    new_start = WEDNESDAY_10 + timedelta(hours=4)
    booking.reschedule(session, client, appointment, starts_at=new_start, now=NOW,
                       links=EMAIL_LINKS)
    assert appointment.starts_at == new_start and appointment.sequence == 1
    again = _book(session, diary, start=WEDNESDAY_10)
    assert again.id != appointment.id


def test_reminders_once_and_never_after_start(session, diary, practice):
    appointment = _book(session, diary)
    before = WEDNESDAY_10 - timedelta(hours=23)
    assert reminders.queue_due(session, now=WEDNESDAY_10 - timedelta(hours=30)) == 0
    assert reminders.queue_due(session, now=before) == 1
    assert reminders.queue_due(session, now=before + timedelta(minutes=5)) == 0
    kinds = session.scalars(select(OutboxMessage.kind)).all()
    assert kinds.count("appointment_reminder") == 1
    assert appointment.id
