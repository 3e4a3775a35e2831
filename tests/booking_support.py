"""Helpers for the booking race tests: completed questionnaires, a private engine per thread
and running many callers at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.extensions import configure_sqlite
from portal.models import IntakeForm
from portal.services.booking import EmailLinks
from portal.services.intake import CONSENT_VERSION

T = TypeVar("T")
RACE_TIMEOUT = 60  # seconds for the whole race; a hang fails instead of blocking the suite

# The links a booking email carries when a test calls the service directly (the web layer
# passes portal.web.links.BOOKING_LINKS).
EMAIL_LINKS = EmailLinks(
    appointment=lambda a: f"https://portal.test/appointments/#appointment-{a.id}",
    book_again=lambda a: f"https://portal.test/booking/{a.service_id}",
)


def complete_intake(session: Session, client_id: int, when: datetime) -> None:
    """Give a client a questionnaire with current consent, so they may book."""
    session.add(IntakeForm(client_id=client_id, answers={"complaints": "Tight shoulders"},
                           red_flags=[], consent_version=CONSENT_VERSION,
                           consent_given_at=when, submitted_at=when))


@contextmanager
def own_session(url: str) -> Iterator[Session]:
    """A session on a new engine of its own, configured as the app configures SQLite, as a
    separate process would have. Objects stay loaded after commit so a thread can prepare,
    commit (releasing SQLite's write lock) and then race."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def race(workers: list[Callable[[Callable[[], None]], T]]) -> list[T | BaseException]:
    """Run every worker in its own thread. Each prepares, then calls the start line it is
    given; all are released together. Returns each worker's result or exception, in order."""
    barrier = threading.Barrier(len(workers), timeout=RACE_TIMEOUT)

    def start_line() -> None:
        barrier.wait()

    def run(worker: Callable[[Callable[[], None]], T]) -> T | BaseException:
        try:
            return worker(start_line)
        except BaseException as exc:  # returned to the test, which reports it
            barrier.abort()  # don't leave the others waiting for a runner that fell
            return exc

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        futures = [pool.submit(run, worker) for worker in workers]
        return [future.result(timeout=RACE_TIMEOUT) for future in futures]
