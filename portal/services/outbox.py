"""The transactional outbox: queue emails with the change that causes them; deliver later.

Delivery is at most once per row: a sender claims rows (FOR UPDATE SKIP LOCKED on PostgreSQL,
BEGIN IMMEDIATE on SQLite) and commits the claim before it talks to the mail server, so a
second sender never sees them. A row whose sender died mid-way is released after a lease.
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
# Without a ceiling a large OUTBOX_MAX_ATTEMPTS would push next_attempt_at past year 9999.
BACKOFF_MAX = timedelta(hours=12)


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
    max_attempts: int,
) -> None:
    """Mark a claimed row sent, due for a retry with backoff, or failed for good."""
    row.claimed_by = None
    if error is None:
        row.status = OutboxStatus.SENT
        row.sent_at = now
        row.last_error = None
        return
    row.last_error = f"{type(error).__name__}: {error}"[:2000]
    if isinstance(error, PermanentFailure) or row.attempts >= max_attempts:
        row.status = OutboxStatus.FAILED
        return
    row.status = OutboxStatus.PENDING
    row.next_attempt_at = now + backoff(row.attempts)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the given number of failed attempts: 1, 4, 16 ... minutes."""
    return min(BACKOFF_BASE * 4 ** min(max(attempts - 1, 0), 10), BACKOFF_MAX)


def deliver_pending(
    session: Session,
    transport: Transport,
    *,
    sender: str,
    worker: str,
    clock: Callable[[], datetime],
    max_attempts: int,
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
                error = PermanentFailure(f"cannot build the message: {type(exc).__name__}: {exc}")
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
            record_result(session, row, now=clock(), error=error, max_attempts=max_attempts)
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
                raise PermanentFailure(str(exc)) from exc
            raise
        except smtplib.SMTPDataError as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
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
