"""Sixteen clients press "Book" for one slot at the same moment, through a real multi-process
server (gunicorn, 4 workers) on PostgreSQL and on SQLite: one booking, fifteen clear refusals,
never a 500, and the same again on every repeat."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time as clock
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from http.cookiejar import CookieJar
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus
from tests.booking_support import complete_intake, race
from tests.conftest import ROOT, TEST_PASSWORD, TEST_SECRET

CONCURRENCY = 16
WORKERS = 4
REQUEST_TIMEOUT = 30  # seconds, for every HTTP request
STARTUP_TIMEOUT = 60  # four workers importing the app on a busy machine
LONDON = ZoneInfo("Europe/London")
TAKEN = "Sorry, that slot was just taken"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# --- the server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _gunicorn() -> str:
    path = Path(sys.executable).with_name("gunicorn")
    assert path.exists(), f"gunicorn is a dependency but isn't installed beside {sys.executable}"
    return str(path)


def _server_environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
    env.update(
        DATABASE_URL=database_url,
        # development: no Secure cookies over plain http, but a real secret and real rules.
        PORTAL_ENV="development",
        FLASK_SECRET_KEY=TEST_SECRET,
        # Read by from_prefixed_env, which JSON-parses them into ints.
        FLASK_PASSWORD_HASH_TIME_COST="1",
        FLASK_PASSWORD_HASH_MEMORY_COST="8",
        FLASK_PASSWORD_HASH_PARALLELISM="1",
        FLASK_RATELIMIT_LOGIN="1000 per minute",
        FLASK_MAIL_FILE_DIR=str(tmp_path / "mail"),
        RATELIMIT_STORAGE_URI="memory://",
        PYTHONUNBUFFERED="1",
    )
    return env


def _stop(process: subprocess.Popen) -> None:
    """Kill the server with its workers (the process group this test started). The race is
    over and its rows are read from the database; a graceful stop would only cost each idle
    worker seconds of tearing down the interpreter on a busy machine."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture
def live_server(app, tmp_path) -> Iterator[str]:
    """gunicorn with 4 workers on 127.0.0.1, serving the app on the test's database."""
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            # --preload: the app is imported once and the workers forked from it (separate
            # processes all the same), which spares the machine's two cores three imports.
            [_gunicorn(), "--workers", str(WORKERS), "--preload", "--bind", f"127.0.0.1:{port}",
             "--timeout", "60", "--no-control-socket", "portal:create_app()"],
            cwd=ROOT, env=_server_environment(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, base, log_path)
        yield base
    finally:
        _stop(process)
    output = log_path.read_text(errors="replace")
    assert "Traceback" not in output, output[-4000:]


def _wait_until_serving(process: subprocess.Popen, base: str, log_path: Path) -> None:
    deadline = clock.monotonic() + STARTUP_TIMEOUT
    while clock.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("gunicorn exited:\n" + log_path.read_text(errors="replace"))
        try:
            with urllib.request.urlopen(f"{base}/auth/login", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        clock.sleep(0.2)
    pytest.fail(f"gunicorn did not answer within {STARTUP_TIMEOUT} seconds:\n" +
                log_path.read_text(errors="replace"))


# --- a browser without JavaScript -----------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # let the test see the 302 itself


@dataclass
class Response:
    status: int
    body: str
    location: str


class Browser:
    """One client's cookie jar and the two requests a browser makes."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect())

    def _send(self, request: urllib.request.Request) -> Response:
        try:
            with self.opener.open(request, timeout=REQUEST_TIMEOUT) as response:
                return Response(response.status, response.read().decode(),
                                response.headers.get("Location", ""))
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, error.read().decode(errors="replace"),
                                error.headers.get("Location", ""))

    def _request(self, path: str, **kwargs) -> urllib.request.Request:
        assert path.startswith("/")  # always the local server, never another scheme or host
        return urllib.request.Request(self.base + path, **kwargs)  # noqa: S310

    def get(self, path: str) -> Response:
        return self._send(self._request(path))

    def post(self, path: str, data: dict[str, str]) -> Response:
        body = urllib.parse.urlencode(data).encode()
        return self._send(self._request(path, data=body, method="POST"))

    def csrf_token(self, path: str) -> str:
        page = self.get(path)
        assert page.status == 200, (path, page.status, page.body[:500])
        match = CSRF.search(page.body)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def sign_in(self, email: str) -> None:
        token = self.csrf_token("/auth/login")
        answer = self.post("/auth/login", {"csrf_token": token, "email": email,
                                           "password": TEST_PASSWORD})
        assert answer.status == 302, (email, answer.status, answer.body[:500])


# --- the race -------------------------------------------------------------------------------


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=LONDON).astimezone(UTC)


def _race_day() -> date:
    """A Monday to Thursday at least two days ahead (the diary works weekdays; the next day
    is a weekday too), well inside the notice and the horizon, in real time: the server
    uses the real clock."""
    day = datetime.now(LONDON).date() + timedelta(days=2)
    while day.weekday() > 3:
        day += timedelta(days=1)
    return day


def _confirm_path(service_id: int, start: datetime) -> str:
    return f"/booking/{service_id}/confirm?start={urllib.parse.quote(_iso(start))}"


def _press_book(browser: Browser, service_id: int, start: datetime, start_line) -> Response:
    """Open the confirmation page, wait for everyone, press "Book this session"."""
    token = browser.csrf_token(_confirm_path(service_id, start))
    start_line()
    return browser.post(f"/booking/{service_id}/confirm",
                        {"csrf_token": token, "start": _iso(start), "note": ""})


def _assert_one_booking_and_clear_refusals(responses: list) -> None:
    failures = [r for r in responses if not isinstance(r, Response)]
    assert not failures, failures
    statuses = Counter(r.status for r in responses)
    assert statuses == {302: 1, 409: CONCURRENCY - 1}, statuses
    [winner] = [r for r in responses if r.status == 302]
    assert winner.location.endswith("/appointments/"), winner.location
    for refusal in (r for r in responses if r.status == 409):
        assert TAKEN in refusal.body
        assert "Nothing has been booked or changed." in refusal.body


def _booked(app) -> list[tuple[datetime, int]]:
    with app.app_context():
        rows = db.session.execute(
            select(Appointment.starts_at, Appointment.service_id).order_by(Appointment.starts_at)
            .where(Appointment.status == AppointmentStatus.BOOKED)
        ).all()
        assert db.session.scalar(select(func.count()).select_from(Appointment)) == len(rows)
        db.session.remove()
    return [tuple(row) for row in rows]


@pytest.fixture
def racers(app, diary, make_client, live_server) -> list[Browser]:
    """Sixteen signed-in clients with completed questionnaires, each with its own cookies."""
    users = [make_client(name=f"Racer {n:02d}") for n in range(CONCURRENCY)]
    with app.app_context():
        for user in users:
            complete_intake(db.session, user.id, datetime.now(UTC))
        db.session.commit()
    browsers = [Browser(live_server) for _ in users]
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        signed_in = [pool.submit(browser.sign_in, user.email)
                     for browser, user in zip(browsers, users, strict=True)]
        for future in signed_in:
            future.result(timeout=2 * REQUEST_TIMEOUT)
    return browsers


def test_sixteen_concurrent_bookings_of_one_slot_through_gunicorn(app, diary, racers):
    day = _race_day()
    service_id = diary.services["60 minute massage"]
    expected = []
    for hour in (9, 11, 14):  # three fresh slots: repeated runs stay clean
        start = _local(day, hour)
        responses = race([partial(_press_book, browser, service_id, start)
                          for browser in racers])
        _assert_one_booking_and_clear_refusals(responses)
        expected.append((start, service_id))
        assert _booked(app) == expected

    # Overlapping services of different lengths: 90 minutes at 10:00 against 30 at 11:00.
    long_id, short_id = diary.services["90 minute massage"], diary.services["30 minute massage"]
    long_start, short_start = _local(day + timedelta(days=1), 10), _local(day + timedelta(days=1),
                                                                           11)
    responses = race([
        partial(_press_book, browser, *((long_id, long_start) if n % 2 else
                                        (short_id, short_start)))
        for n, browser in enumerate(racers)
    ])
    _assert_one_booking_and_clear_refusals(responses)
    booked = _booked(app)
    assert booked[:3] == expected
    assert booked[3:] in ([(long_start, long_id)], [(short_start, short_id)])
