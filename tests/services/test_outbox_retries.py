"""An email is never dropped: temporary failures are retried for the whole retry window, at
most an hour apart, before the email is marked not delivered; sending it again (the
therapist's page, the CLI) gives it a fresh window and it goes out once.

A fake clock and fake transports, no mail server: these run inside the rolled-back test
transaction on both databases (the real SMTP server is in test_outbox.py)."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, OutboxMessage, OutboxStatus, Role, User
from portal.services import outbox, undelivered
from portal.services.emails import Email
from portal.services.errors import NotFound, PermissionDenied

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)


class ServerDown:
    """A transport whose mail server never answers; counts the tries."""

    def __init__(self):
        self.tries = 0

    def send(self, message) -> None:
        self.tries += 1
        raise ConnectionRefusedError(111, "Connection refused")


class Recording:
    """A transport that accepts every message and keeps it."""

    def __init__(self):
        self.sent = []

    def send(self, message) -> None:
        self.sent.append(message)


def queue_one(session, *, now=NOW, to="alex@example.com") -> int:
    row = outbox.queue(session, to=to, email=Email("Booked: 60 min sports massage",
                                                   "Secret body text.\n", "<p>Body</p>"),
                       kind="appointment_confirmed", now=now)
    session.commit()
    return row.id


def deliver(session, transport, now: datetime) -> tuple[int, int]:
    return outbox.deliver_pending(session, transport, sender="Practice <desk@example.com>",
                                  worker="test", clock=lambda: now, retry_for=WEEK)


def fetch(session, row_id: int) -> OutboxMessage:
    session.expire_all()
    return session.get(OutboxMessage, row_id)


def test_a_week_long_outage_is_retried_then_shown_as_not_delivered(session):
    row_id = queue_one(session)
    down, now, waits = ServerDown(), NOW, []
    for _ in range(5):  # quick retries for a blip, then hourly
        assert deliver(session, down, now) == (0, 1)
        row = fetch(session, row_id)
        assert row.status is OutboxStatus.PENDING
        waits.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert waits == [timedelta(minutes=1), timedelta(minutes=4), timedelta(minutes=16), HOUR,
                     HOUR]

    # Half an hour before the week is out the email is still being tried, and its last try
    # falls on the end of the week rather than an hour later.
    assert deliver(session, down, NOW + WEEK - HOUR / 2) == (0, 1)
    row = fetch(session, row_id)
    assert row.status is OutboxStatus.PENDING
    assert row.next_attempt_at == NOW + WEEK
    assert deliver(session, down, NOW + WEEK - timedelta(seconds=1)) == (0, 0)

    assert deliver(session, down, NOW + WEEK) == (0, 1)

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.FAILED
    assert row.attempts == down.tries == 7
    assert row.last_error == ("Not delivered in 7 days of trying. Last error: Could not reach "
                              "the mail server: ConnectionRefusedError: [Errno 111] Connection "
                              "refused")
    # Given up means given up: nothing is tried later.
    assert deliver(session, down, NOW + 30 * WEEK) == (0, 0)
    assert down.tries == 7


def week_of_failures(row: OutboxMessage, start: datetime) -> list[datetime]:
    """The times of every attempt while the server stays down, the rule alone (no database):
    each attempt is claimed (attempts + 1) and fails, as deliver_pending does it."""
    now, attempts = start, []
    while row.status is OutboxStatus.PENDING:
        row.attempts += 1
        outbox.record_result(None, row, now=now, error=ConnectionRefusedError(111, "refused"),
                             retry_for=WEEK)
        attempts.append(now)
        assert len(attempts) < 500, "the retries never end"
        now = row.next_attempt_at
    return attempts


def test_the_whole_week_has_about_170_tries_never_more_than_an_hour_apart():
    row = OutboxMessage(status=OutboxStatus.PENDING, attempts=0, created_at=NOW)

    attempts = week_of_failures(row, NOW)

    waits = [later - earlier for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert max(waits) == HOUR and waits.count(HOUR) == len(waits) - 4
    assert attempts[-1] == NOW + WEEK and attempts[-2] > NOW + WEEK - HOUR
    assert len(attempts) == 172
    assert row.status is OutboxStatus.FAILED


def test_one_day_short_of_the_week_it_is_still_being_tried(session):
    row_id = queue_one(session)
    down, now = ServerDown(), NOW + WEEK - timedelta(days=1)
    # The sender was stopped for six days: its first try, and the next ones, still retry.
    for _ in range(3):
        assert deliver(session, down, now) == (0, 1)
        row = fetch(session, row_id)
        assert row.status is OutboxStatus.PENDING
        assert row.next_attempt_at - now <= HOUR
        now = row.next_attempt_at
    assert row.last_error.startswith("Could not reach the mail server")


def test_a_first_try_after_the_week_that_fails_is_not_delivered(session):
    row_id = queue_one(session)

    assert deliver(session, ServerDown(), NOW + WEEK + timedelta(days=1)) == (0, 1)

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.FAILED and row.attempts == 1


def test_a_refusal_of_the_address_is_not_delivered_at_once_with_the_servers_words(session):
    class Refused:
        def send(self, message):
            raise outbox.PermanentFailure(
                "The mail server refused this address for good: 550 5.1.1 no such user")

    row_id = queue_one(session)

    assert deliver(session, Refused(), NOW) == (0, 1)

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.FAILED and row.attempts == 1
    assert row.last_error.endswith("550 5.1.1 no such user")


@pytest.mark.parametrize(("error", "reason"), [
    (smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"4.2.1 mailbox busy")}),
     "The mail server refused the address: 450 4.2.1 mailbox busy"),
    (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"),
     "The mail server answered: 535 5.7.8 bad credentials"),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
     "The mail server broke off: Connection unexpectedly closed"),
    (TimeoutError("timed out"), "Could not reach the mail server: TimeoutError: timed out"),
])
def test_reasons_are_worded_with_the_servers_reply(error, reason):
    assert outbox.describe(error) == reason


# --- sending again ----------------------------------------------------------------------


@pytest.fixture
def therapist(session, practice):
    user = User(email="jo@example.com", name="Jo Therapist", role=Role.THERAPIST)
    session.add(user)
    session.commit()
    return user


def given_up(session, *, to="alex@example.com", created=NOW) -> int:
    """A row the sender gave up on (a permanent refusal, at `created`)."""
    row_id = queue_one(session, now=created, to=to)
    row = fetch(session, row_id)
    row.status, row.attempts, row.last_error = OutboxStatus.FAILED, 3, "550 no such user"
    session.commit()
    return row_id


def test_send_again_requeues_with_a_fresh_week_and_it_goes_out_once(session, therapist):
    alex = User(email="alex@example.com", name="Alex Morgan", role=Role.CLIENT)
    session.add(alex)
    row_id = given_up(session)
    later = NOW + timedelta(days=10)

    row = undelivered.send_again(session, therapist, row_id, now=later, ip="203.0.113.9")
    session.commit()

    assert row.id == row_id
    row = fetch(session, row_id)
    assert (row.status, row.attempts, row.next_attempt_at, row.requeued_at) == (
        OutboxStatus.PENDING, 0, later, later)
    [event] = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "email.sent_again")).all()
    assert (event.actor_id, event.subject_user_id, event.ip, event.at) == (
        therapist.id, alex.id, "203.0.113.9", later)
    assert event.details == {"email_id": row_id, "kind": "appointment_confirmed"}
    # A second click (another tab) changes nothing.
    assert undelivered.send_again(session, therapist, row_id, now=later) is None

    mail = Recording()
    assert deliver(session, mail, later) == (1, 0)
    assert deliver(session, mail, later + HOUR) == (0, 0)
    assert [m["To"] for m in mail.sent] == ["alex@example.com"]
    assert fetch(session, row_id).status is OutboxStatus.SENT


def test_sent_again_the_week_counts_from_then(session, therapist):
    row_id = given_up(session, created=NOW - timedelta(days=30))
    undelivered.send_again(session, therapist, row_id, now=NOW)
    session.commit()
    down = ServerDown()

    assert deliver(session, down, NOW + WEEK - HOUR) == (0, 1)
    assert fetch(session, row_id).status is OutboxStatus.PENDING
    assert deliver(session, down, NOW + WEEK) == (0, 1)
    assert fetch(session, row_id).status is OutboxStatus.FAILED
    assert fetch(session, row_id).attempts == 2


def test_only_a_therapist_sees_or_sends_again(session, therapist):
    alex = User(email="alex@example.com", name="Alex Morgan", role=Role.CLIENT)
    session.add(alex)
    row_id = given_up(session)
    with pytest.raises(PermissionDenied):
        undelivered.listing(session, alex)
    with pytest.raises(PermissionDenied):
        undelivered.send_again(session, alex, row_id, now=NOW)
    with pytest.raises(NotFound):
        undelivered.send_again(session, therapist, row_id + 1, now=NOW)
    assert fetch(session, row_id).status is OutboxStatus.FAILED


def test_the_list_is_newest_first_and_counts_beyond_its_limit(session, therapist):
    ids = [given_up(session, to=f"c{n}@example.com", created=NOW + timedelta(minutes=n))
           for n in range(3)]
    queue_one(session)  # still pending: not listed

    found = undelivered.listing(session, therapist, limit=2)

    assert [row.id for row in found.rows] == [ids[2], ids[1]]
    assert found.total == 3 == undelivered.count(session)
