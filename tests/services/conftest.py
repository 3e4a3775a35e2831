"""Fixtures for service tests: a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.smtp_server import SmtpServer, running_smtp_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 and a free port, recording every message it accepts."""
    with running_smtp_server() as server:
        yield server
