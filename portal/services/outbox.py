"""The transactional outbox: queue emails with the change that causes them; deliver later.

Delivery is at most once per row: a sender claims rows (FOR UPDATE SKIP LOCKED on PostgreSQL,
BEGIN IMMEDIATE on SQLite) and commits the claim before it talks to the mail server, so a
second sender never sees them. A row whose sender died mid-way is released after a lease.

An email is never dropped quietly. A temporary failure (the server down, "451 try again
later", a wrong password) is retried, at most an hour apart, for the whole retry window
(seven days by default) from when the email was queued; only then is it marked failed
("not delivered"), with the reason, for the therapist to see and send again. A permanent
refusal of this recipient or this message (a 5xx reply to RCPT TO or DATA, such as "550 no
such user") is marked failed at once with the server's words: RFC 5321 (4.2.1) says a 5xx
reply must not be repeated as it is, mail servers (Postfix, Exim) bounce such mail at once
rather than queue it, and sending to a dead address again and again looks like spam. What
the therapist needs is to hear about it today, and check the address with the client.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.models import OutboxMessage, OutboxStatus
from portal.services.emails import Email

CLAIM_LEASE = timedelta(minutes=15)
BACKOFF_BASE = timedelta(minutes=1)
# The longest wait between two attempts. After an outage, mail goes out within the hour the
# server is back; a queue of mail (Postfix waits at most 4000 s between tries by default) may
# wait about as long. Over seven days that is about 170 attempts per email: a connection an
# hour is nothing to a mail server, and far better than a booking email a day late.
BACKOFF_MAX = timedelta(hours=1)


class PermanentFailure(Exception):
    """The mail server refused this message for good (5xx); retrying will not help."""


class Transport(Protocol):
    """Something that hands one message on, raising on failure."""

    def send(self, message: EmailMessage) -> None: ...


def queue(
    session: Session,
    *,
    to: str,
    email: Email,
    kind: str,
    now: datetime,
    attachments: list[dict] | None = None,
) -> OutboxMessage:
    """Add an email to the outbox inside the caller's transaction."""
    row = OutboxMessage(
        kind=kind,
        to_addr=to,
        subject=email.subject,
        text_body=email.text,
        html_body=email.html,
        attachments=attachments or [],
        status=OutboxStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def build_message(row: OutboxMessage, sender: str) -> EmailMessage:
    """The MIME message for a row: text part, HTML alternative, then attachments."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.to_addr
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    domain = sender.rsplit("@", 1)[-1].rstrip(">") or "localhost"
    message["Message-ID"] = make_msgid(idstring=f"outbox-{row.id}", domain=domain)
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    for item in row.attachments or []:
        maintype, _, subtype = item["content_type"].partition("/")
        params = dict(item.get("params", {}))
        message.add_attachment(
            item["data"].encode(),
            maintype=maintype,
            subtype=subtype.split(";")[0],
            filename=item["filename"],
            params=params,
        )
    return message


def claim_due(session: Session, *, worker: str, now: datetime, limit: int) -> list[int]:
    """Mark up to `limit` due rows as being sent by `worker`; the caller commits at once."""
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.claimed_at < now - CLAIM_LEASE,
        )
        .values(status=OutboxStatus.PENDING, claimed_by=None)
    )
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.PENDING)
            .values(
                status=OutboxStatus.SENDING,
                claimed_by=worker,
                claimed_at=now,
                attempts=OutboxMessage.attempts + 1,
            )
        )
    return ids


def record_result(
    session: Session,
    row: OutboxMessage,
    *,
    now: datetime,
    error: Exception | None,
    retry_for: timedelta,
) -> None:
    """Mark a claimed row sent, due for a retry with backoff, or failed (not delivered)."""
    row.claimed_by = None
    if error is None:
        row.status = OutboxStatus.SENT
        row.sent_at = now
        row.last_error = None
        return
    reason = describe(error)
    give_up_at = (row.requeued_at or row.created_at) + retry_for
    if isinstance(error, PermanentFailure):
        row.status, row.last_error = OutboxStatus.FAILED, reason
    elif now >= give_up_at:
        row.status = OutboxStatus.FAILED
        row.last_error = f"Not delivered in {_days(retry_for)} of trying. Last error: {reason}"
    else:
        row.status, row.last_error = OutboxStatus.PENDING, reason
        # The last try falls on the end of the window, so the email gets all of it.
        row.next_attempt_at = min(now + backoff(row.attempts), give_up_at)
    row.last_error = row.last_error[:2000]


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:g} day{'' if days == 1 else 's'}"


def backoff(attempts: int) -> timedelta:
    """How long to wait after the given number of failed attempts: 1, 4, 16 minutes, then
    an hour each time (BACKOFF_MAX)."""
    return min(BACKOFF_BASE * 4 ** min(max(attempts - 1, 0), 10), BACKOFF_MAX)


def describe(error: BaseException) -> str:
    """A failure in words a therapist can act on, keeping the mail server's own reply."""
    if isinstance(error, PermanentFailure):
        return str(error)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "The mail server refused the address: " + _replies(error)
    if isinstance(error, smtplib.SMTPResponseException):
        return f"The mail server answered: {error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, smtplib.SMTPException):  # disconnected, no reply ...
        return f"The mail server broke off: {error}"
    if isinstance(error, OSError):  # refused, timed out, unknown host, TLS
        return f"Could not reach the mail server: {type(error).__name__}: {error}"
    return f"{type(error).__name__}: {error}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _replies(error: smtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{code} {_text(text)}" for code, text in error.recipients.values())


def deliver_pending(
    session: Session,
    transport: Transport,
    *,
    sender: str,
    worker: str,
    clock: Callable[[], datetime],
    retry_for: timedelta,
    batch: int = 20,
) -> tuple[int, int]:
    """Claim and send due rows until none are left; returns (sent, failed attempts).

    This runner owns its commits (one per claim and one per result) because a claim has to
    be visible to other senders before the slow network call starts.
    """
    sent = failed = 0
    while True:
        ids = claim_due(session, worker=worker, now=clock(), limit=batch)
        # Publish the claim now, so no other sender takes these rows while this one sends.
        session.commit()
        if not ids:
            return sent, failed
        for row_id in ids:
            row = session.get(OutboxMessage, row_id)
            if row is None or row.claimed_by != worker:
                session.rollback()
                continue
            error: Exception | None = None
            try:
                message = build_message(row, sender)
            except Exception as exc:  # noqa: BLE001 - a row that cannot be built never will
                error = PermanentFailure(
                    f"The portal cannot build this email: {type(exc).__name__}: {exc}")
            # End the transaction before the network call: on SQLite every transaction holds
            # the write lock (BEGIN IMMEDIATE), so the whole app would wait on the mail server.
            session.rollback()
            if error is None:
                try:
                    transport.send(message)
                except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row
                    error = exc
            row = session.get(OutboxMessage, row_id)
            if row is None:
                continue
            record_result(session, row, now=clock(), error=error, retry_for=retry_for)
            # Store each result at once: a crash on the next row must not resend this one.
            session.commit()
            if error is None:
                sent += 1
            else:
                failed += 1


class SmtpTransport:
    """Sends through an SMTP server, with STARTTLS or implicit TLS and optional login."""

    def __init__(self, host: str, port: int, *, username: str = "", password: str = "",
                 use_tls: bool = True, use_ssl: bool = False, timeout: float = 30):
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.use_tls, self.use_ssl, self.timeout = use_tls, use_ssl, timeout

    def send(self, message: EmailMessage) -> None:
        """Deliver one message; PermanentFailure when the server refuses this recipient or
        this message (5xx), every other error is transient.

        A 5xx to the connection, STARTTLS, AUTH or MAIL FROM says the server or our settings
        are wrong (a bad password, a blocked IP), not the message: those rows stay queued
        and go out once the settings are fixed.
        """
        context = ssl.create_default_context()
        try:
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.use_tls and not self.use_ssl:
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentFailure(
                    f"The mail server refused this address for good: {_replies(exc)}"
                ) from exc
            raise
        except smtplib.SMTPDataError as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(
                    "The mail server refused this email for good: "
                    f"{exc.smtp_code} {_text(exc.smtp_error)}"
                ) from exc
            raise


class FileTransport:
    """Development transport: writes each message as an .eml file instead of sending it."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def send(self, message: EmailMessage) -> None:
        """Write the message to <directory>/<timestamp>-<id>.eml."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = message["Message-ID"].strip("<>").replace("@", "_").replace("/", "_")
        (self.directory / f"{stem}.eml").write_bytes(bytes(message))
