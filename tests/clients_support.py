"""Helpers for the client list and record tests: a practice with programmes, logs and
appointments built through the services, and a statement counter."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import (
    Appointment,
    Exercise,
    Feedback,
    IntakeForm,
    Service,
    SessionNote,
    User,
)
from portal.seed.library import seed_library
from portal.services import client_day, programmes
from portal.services.client_day import FeedbackInput
from portal.services.intake import CONSENT_VERSION
from portal.services.programmes import ItemInput

# Wednesday 4 March 2026, noon in London (GMT). Programmes start Wednesday 25 February.
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TODAY = date(2026, 3, 4)
STARTED = datetime(2026, 2, 25, 10, 0, tzinfo=UTC)
CAT = "cat-cow"


@dataclass
class Practice:
    """A therapist, a service and the seeded exercise library."""

    therapist_id: int
    service_id: int
    exercises: dict[str, int]


def set_up_practice(session: Session, therapist: User) -> Practice:
    """Seed the library and add a 60 minute service."""
    exercises = {e.slug: e.id for e in seed_library(session, therapist,
                                                    STARTED - timedelta(days=1))}
    service = Service(name="60 minute massage", duration_minutes=60, price_pence=5500,
                      buffer_minutes=0, description="")
    session.add(service)
    session.flush()
    return Practice(therapist.id, service.id, exercises)


def give_programme(session: Session, practice: Practice, client: User) -> int:
    """Cat-cow once a day, every day, from STARTED; returns the item id."""
    therapist = session.get(User, practice.therapist_id)
    cat = session.get(Exercise, practice.exercises[CAT])
    version = programmes.save_version(session, therapist, client, [
        ItemInput.from_exercise(cat, times_per_day=1, days_per_week=7)], "", STARTED)
    return version.items[0].id


def log(session: Session, client: User, item_id: int, day: date, *, pain: bool = False,
        note: str = "") -> None:
    """One log of the item on a local date."""
    feel = Feedback.PAIN if pain else Feedback.NOTHING
    client_day.log_completion(session, client, item_id, FeedbackInput(both=feel, left=feel,
                                                                      right=feel),
                              note, uuid.uuid4().hex, day, NOW)


def book(session: Session, practice: Practice, client: User, starts_at: datetime,
         **overrides) -> Appointment:
    """An appointment written directly (the booking rules are tested elsewhere)."""
    appointment = Appointment(
        client_id=client.id, therapist_id=practice.therapist_id,
        service_id=practice.service_id, starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=60), blocked_until=starts_at + timedelta(minutes=60),
        price_pence=5500, booked_by_id=practice.therapist_id, **overrides)
    session.add(appointment)
    session.flush()
    return appointment


def add_note(session: Session, author_id: int, appointment: Appointment, body: str,
             when: datetime) -> SessionNote:
    """A private session note written directly (adding notes is tested with the diary days)."""
    note = SessionNote(appointment_id=appointment.id, author_id=author_id, body=body,
                       created_at=when)
    session.add(note)
    session.flush()
    return note


def intake(session: Session, client: User, when: datetime, red_flags: list[str],
           version: str = CONSENT_VERSION) -> None:
    """A questionnaire submission."""
    session.add(IntakeForm(client_id=client.id, answers={"complaints": "Stiff back",
                                                         "red_flag_details": "Night pain"},
                           red_flags=red_flags, consent_version=version,
                           consent_given_at=when, submitted_at=when))
    session.flush()


@contextmanager
def counting_statements():
    """Yields a list that fills with every SQL statement run inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


