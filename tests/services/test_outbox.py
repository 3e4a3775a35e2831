"""The outbox against a real SMTP server on loopback: delivery, retries, failures, leases and
two senders racing for the same rows."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from portal.extensions import configure_sqlite
from portal.models import OutboxMessage, OutboxStatus
from portal.services import outbox
from portal.services.emails import Email
from tests.smtp_server import NO_SUCH_USER, TRY_LATER, free_port, running_smtp_server

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RETRY_FOR = timedelta(days=7)
SENDER = "Riverside Sports Massage <no-reply@example.com>"
ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//portal//test//EN\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:appointment-1@example.com\r\nDTSTART:20260303T090000Z\r\n"
    "DTEND:20260303T100000Z\r\nSUMMARY:Sports massage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def queue_one(session, *, to="alex@example.com", subject="Your booking is confirmed",
              text_body="See you on Tuesday at 09:00.\n", html="<p>See you on Tuesday.</p>",
              attachments=None, now=NOW) -> int:
    """Queue one email and commit, as the view that caused it would; returns the row id."""
    row = outbox.queue(session, to=to, email=Email(subject, text_body, html), kind="test", now=now,
                       attachments=attachments)
    session.commit()
    return row.id


def smtp(server, **kwargs) -> outbox.SmtpTransport:
    """An SMTP transport for the loopback server (no TLS there)."""
    return outbox.SmtpTransport(server.host, server.port, use_tls=False, timeout=5, **kwargs)


def deliver(session, transport, *, now=NOW, worker="test-worker"):
    """One run of the sender with a fixed clock; returns (sent, failed attempts)."""
    return outbox.deliver_pending(session, transport, sender=SENDER, worker=worker,
                                  clock=lambda: now, retry_for=RETRY_FOR)


def fetch(session, row_id: int) -> OutboxMessage:
    """The row as the database has it now."""
    session.expire_all()
    row = session.get(OutboxMessage, row_id)
    assert row is not None
    return row


# --- delivery ---------------------------------------------------------------------------


def test_delivers_text_html_and_calendar_attachment(session, smtp_server):
    row_id = queue_one(
        session, subject="Your booking on Tuesday – 60 min sports massage",
        text_body="Price: £45.\nSee you on Tuesday at 09:00.\n",
        html="<p>Price: £45.</p><p>See you on <strong>Tuesday</strong>.</p>",
        attachments=[{"filename": "a.ics", "content_type": "text/calendar", "data": ICS,
                      "params": {"method": "REQUEST"}}],
    )

    assert deliver(session, smtp(smtp_server)) == (1, 0)

    [received] = smtp_server.handler.received
    assert received.rcpt_tos == ["alex@example.com"]
    message = received.message
    assert message["To"] == "alex@example.com"
    assert message["Subject"] == "Your booking on Tuesday – 60 min sports massage"
    assert message["From"] == SENDER
    assert message["Message-ID"]
    assert message.get_content_type() == "multipart/mixed"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # SMTP sends CRLF
    assert text == "Price: £45.\nSee you on Tuesday at 09:00.\n"
    html = message.get_body(("html",))
    assert html.get_content_type() == "text/html"
    assert "<strong>Tuesday</strong>" in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "a.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "REQUEST"
    assert attachment.get_payload(decode=True).decode() == ICS

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.SENT
    assert row.attempts == 1
    assert row.sent_at == NOW
    assert row.claimed_by is None and row.last_error is None

    # Sent rows are never sent again.
    assert deliver(session, smtp(smtp_server), now=NOW + timedelta(days=1)) == (0, 0)
    assert len(smtp_server.messages) == 1


def test_rows_not_yet_due_wait(session, smtp_server):
    row_id = queue_one(session, now=NOW + timedelta(minutes=5))

    assert deliver(session, smtp(smtp_server)) == (0, 0)
    assert smtp_server.messages == []
    assert fetch(session, row_id).status is OutboxStatus.PENDING

    assert deliver(session, smtp(smtp_server), now=NOW + timedelta(minutes=5)) == (1, 0)
    assert len(smtp_server.messages) == 1


# --- failures ---------------------------------------------------------------------------


def test_try_again_later_keeps_the_row_and_backs_off(session, smtp_server):
    row_id = queue_one(session)
    smtp_server.refuse_next(1, TRY_LATER)

    assert deliver(session, smtp(smtp_server)) == (0, 1)

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.PENDING
    assert row.attempts == 1
    assert "451" in row.last_error and "try again later" in row.last_error
    assert row.next_attempt_at > NOW
    assert row.claimed_by is None
    assert smtp_server.messages == []
    retry_at = row.next_attempt_at

    # Before the backoff is over nothing is tried.
    assert deliver(session, smtp(smtp_server), now=retry_at - timedelta(seconds=1)) == (0, 0)
    assert smtp_server.handler.refused == 1

    assert deliver(session, smtp(smtp_server), now=retry_at + timedelta(seconds=1)) == (1, 0)
    row = fetch(session, row_id)
    assert row.status is OutboxStatus.SENT
    assert row.attempts == 2
    assert row.last_error is None
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("refused_at", ["RCPT TO", "DATA"])
def test_no_such_user_is_not_delivered_at_once_with_the_servers_reason(session, smtp_server,
                                                                       refused_at):
    """A 5xx for this recipient or this message is final (RFC 5321): no retries for a week."""
    row_id = queue_one(session, to="nobody@example.com")
    if refused_at == "RCPT TO":
        smtp_server.handler.refused_recipients["nobody@example.com"] = NO_SUCH_USER
    else:
        smtp_server.refuse_next(1, NO_SUCH_USER)

    assert deliver(session, smtp(smtp_server)) == (0, 1)

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.FAILED
    assert row.attempts == 1
    assert row.last_error == ("The mail server refused this "
                              f"{'address' if refused_at == 'RCPT TO' else 'email'} for good: "
                              "550 5.1.1 no such user")
    assert deliver(session, smtp(smtp_server), now=NOW + timedelta(days=30)) == (0, 0)
    assert smtp_server.messages == []
    assert smtp_server.handler.refused == 1


def test_backoff_grows_to_an_hour_and_stays_there():
    assert [outbox.backoff(n) for n in range(1, 6)] == [
        timedelta(minutes=1), timedelta(minutes=4), timedelta(minutes=16), timedelta(hours=1),
        timedelta(hours=1)]
    # However many attempts (about 170 in seven days), the wait never passes an hour.
    assert outbox.backoff(10_000) == outbox.BACKOFF_MAX == timedelta(hours=1)


def test_server_down_is_a_transient_failure(session):
    row_id = queue_one(session)
    closed = outbox.SmtpTransport("127.0.0.1", free_port(), use_tls=False, timeout=2)

    assert deliver(session, closed) == (0, 1)

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.PENDING
    assert row.attempts == 1
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    assert row.next_attempt_at > NOW


def test_refused_login_is_transient_so_mail_waits_for_fixed_settings(session):
    """A 535 says our settings are wrong, not the message: the row must survive it."""
    row_id = queue_one(session)
    with running_smtp_server(refuse_logins=True) as server:
        assert deliver(session, smtp(server, username="portal", password="wrong")) == (0, 1)
        assert server.messages == []

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.PENDING
    assert "535" in row.last_error


def test_message_that_cannot_be_built_fails_without_retry(session, smtp_server):
    row_id = queue_one(session, attachments=[{"filename": "broken.ics",
                                               "content_type": "text/calendar"}])

    assert deliver(session, smtp(smtp_server)) == (0, 1)

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.FAILED
    assert row.last_error.startswith("The portal cannot build this email: KeyError")
    assert smtp_server.messages == []


# --- claims -----------------------------------------------------------------------------


def _claim(session, row_id: int, *, by: str, at: datetime) -> None:
    row = fetch(session, row_id)
    row.status, row.claimed_by, row.claimed_at, row.attempts = OutboxStatus.SENDING, by, at, 1
    session.commit()


def test_claim_older_than_the_lease_is_released_and_sent(session, smtp_server):
    row_id = queue_one(session)
    _claim(session, row_id, by="crashed-sender", at=NOW - outbox.CLAIM_LEASE - timedelta(minutes=1))

    assert deliver(session, smtp(smtp_server)) == (1, 0)

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.SENT
    assert row.claimed_by is None
    assert row.attempts == 2
    assert len(smtp_server.messages) == 1


def test_live_claim_is_left_to_its_sender(session, smtp_server):
    row_id = queue_one(session)
    _claim(session, row_id, by="busy-sender", at=NOW - timedelta(minutes=1))

    assert deliver(session, smtp(smtp_server)) == (0, 0)

    row = fetch(session, row_id)
    assert row.status is OutboxStatus.SENDING
    assert row.claimed_by == "busy-sender"
    assert smtp_server.messages == []


def test_file_transport_writes_eml_files(session, tmp_path):
    first = queue_one(session, subject="First", to="alex@example.com",
                      attachments=[{"filename": "a.ics", "content_type": "text/calendar",
                                    "data": ICS, "params": {"method": "REQUEST"}}])
    queue_one(session, subject="Second", to="sam@example.com")
    directory = tmp_path / "outgoing"

    assert deliver(session, outbox.FileTransport(directory)) == (2, 0)

    files = sorted(directory.glob("*.eml"))
    assert len(files) == 2
    messages = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert sorted((m["Subject"], m["To"]) for m in messages) == [
        ("First", "alex@example.com"), ("Second", "sam@example.com")]
    first_message = next(m for m in messages if m["Subject"] == "First")
    [attachment] = list(first_message.iter_attachments())
    assert attachment.get_filename() == "a.ics"
    assert fetch(session, first).status is OutboxStatus.SENT


# --- two senders at once ----------------------------------------------------------------


def test_two_senders_deliver_every_row_exactly_once(app, session, smtp_server):
    """Each sender has its own engine and connection, as two processes would."""
    total = 40
    for n in range(total):
        outbox.queue(session, to=f"client{n}@example.com",
                     email=Email(f"Message {n:02d}", f"Body {n}\n", f"<p>Body {n}</p>"),
                     kind="test", now=NOW)
    session.commit()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    smtp_server.handler.delay = 0.02  # long enough for the senders to overlap
    start = threading.Barrier(2, timeout=30)
    results: dict[str, tuple[int, int]] = {}
    errors: list[BaseException] = []

    def sender(worker: str) -> None:
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            configure_sqlite(engine)
        try:
            with Session(engine) as own_session:
                start.wait()
                results[worker] = outbox.deliver_pending(
                    own_session, smtp(smtp_server), sender=SENDER, worker=worker,
                    clock=lambda: NOW, retry_for=RETRY_FOR, batch=5,
                )
        except BaseException as error:  # noqa: BLE001 - re-raised by the test thread
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=sender, args=(name,)) for name in ("sender-a", "sender-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a sender hung"
    if errors:
        raise errors[0]

    subjects = [message["Subject"] for message in smtp_server.messages]
    assert sorted(subjects) == [f"Message {n:02d}" for n in range(total)]  # once each
    message_ids = {message["Message-ID"] for message in smtp_server.messages}
    assert len(message_ids) == total
    assert results["sender-a"][1] == results["sender-b"][1] == 0
    assert results["sender-a"][0] + results["sender-b"][0] == total
    assert results["sender-a"][0] > 0 and results["sender-b"][0] > 0, results

    session.expire_all()
    statuses = dict(session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    assert statuses == {OutboxStatus.SENT: total}
    assert session.scalar(select(func.max(OutboxMessage.attempts))) == 1


@pytest.mark.parametrize("reply", [TRY_LATER, NO_SUCH_USER])
def test_a_refusal_does_not_hold_up_the_rest(session, smtp_server, reply):
    first = queue_one(session, subject="Refused", to="first@example.com")
    second = queue_one(session, subject="Accepted", to="second@example.com")
    smtp_server.refuse_next(1, reply)

    assert deliver(session, smtp(smtp_server)) == (1, 1)

    assert fetch(session, first).status in (OutboxStatus.PENDING, OutboxStatus.FAILED)
    assert fetch(session, second).status is OutboxStatus.SENT
    assert [m["Subject"] for m in smtp_server.messages] == ["Accepted"]


class ProbingTransport:
    """A transport that, instead of sending, records what the database looks like meanwhile."""

    def __init__(self, probe):
        self.probe, self.seen = probe, []

    def send(self, message) -> None:
        self.seen.append(self.probe())


def sqlite_write_lock(url: str) -> str:
    """"free" when another connection can take SQLite's write lock at once."""
    connection = sqlite3.connect(make_url(url).database, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("COMMIT")
        return "free"
    except sqlite3.OperationalError as error:
        return str(error)
    finally:
        connection.close()


def postgres_open_transactions(url: str) -> str:
    """"free" when no other connection to the database sits idle inside a transaction."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            busy = conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"))
    finally:
        engine.dispose()
    return "free" if busy == 0 else f"{busy} idle in transaction"


def test_no_transaction_stays_open_while_talking_to_the_mail_server(app, session):
    """A mail server may take seconds; on SQLite an open transaction there would hold the
    write lock (BEGIN IMMEDIATE) and stall every page that writes."""
    queue_one(session)
    queue_one(session)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    probe = (sqlite_write_lock if session.get_bind().dialect.name == "sqlite"
             else postgres_open_transactions)
    transport = ProbingTransport(lambda: probe(url))

    assert deliver(session, transport) == (2, 0)

    assert transport.seen == ["free", "free"]
