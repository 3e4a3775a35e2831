"""A real SMTP server on loopback (aiosmtpd) that records what it receives.

It can be told to refuse the next DATA commands with a given reply (a 451 to test retries, a
550 to test permanent failures), to refuse one recipient at RCPT TO, and to take a little time
per message (for concurrency tests).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

TRY_LATER = "451 4.3.0 try again later"
NO_SUCH_USER = "550 5.1.1 no such user"


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class RecordingHandler:
    """aiosmtpd handler: accepts and records messages, or answers with queued refusals."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: list[str] = []
        self.received: list[Received] = []
        self.refused = 0
        self.delay = 0.0
        self.refused_recipients: dict[str, str] = {}

    def refuse_next(self, count: int, reply: str) -> None:
        """Answer the next `count` DATA commands with `reply` instead of accepting them."""
        with self._lock:
            self._replies.extend([reply] * count)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        reply = self.refused_recipients.get(address)
        if reply:
            with self._lock:
                self.refused += 1
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        with self._lock:
            reply = self._replies.pop(0) if self._replies else None
            if reply:
                self.refused += 1
        if reply:
            return reply
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), message)
            )
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """A running server: host, port and the handler that records messages."""

    def __init__(self, handler: RecordingHandler, host: str, port: int):
        self.handler, self.host, self.port = handler, host, port

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, in arrival order."""
        return [item.message for item in self.handler.received]

    def refuse_next(self, count: int, reply: str) -> None:
        """See RecordingHandler.refuse_next."""
        self.handler.refuse_next(count, reply)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _refuse_every_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=False, handled=False)


@contextmanager
def running_smtp_server(*, refuse_logins: bool = False) -> Iterator[SmtpServer]:
    """Start aiosmtpd on a free loopback port; stop it afterwards.

    With refuse_logins the server offers AUTH without TLS and answers every login with 535.
    """
    handler = RecordingHandler()
    extra = {}
    if refuse_logins:
        extra = {"authenticator": _refuse_every_login, "auth_require_tls": False}
    last_error: Exception | None = None
    for _ in range(3):  # another process may take the free port before we bind it
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **extra)
        try:
            controller.start()
        except Exception as error:  # noqa: BLE001 - retried with another port
            last_error = error
            continue
        try:
            yield SmtpServer(handler, "127.0.0.1", port)
        finally:
            controller.stop()
        return
    raise RuntimeError(f"could not start the SMTP server: {last_error}")
