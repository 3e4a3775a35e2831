"""`make bench`: every busy page served by gunicorn (2 workers) on PostgreSQL, driven over
HTTP by wrk (8 connections), at the sizes of issue 11.

For each scale (BENCH_SCALES, default "1x 10x"; 1x = 5,000 clients, 10x = 50,000, any "<n>x"
works) it:

1. makes sure the database `bench_<scale>` holds a practice of that size built by
   `flask seed-scale` (created and seeded once; reused while it has the right number of
   clients and is under BENCH_MAX_AGE_DAYS old, since a practice seeded weeks ago has an empty
   diary ahead and nobody logging; BENCH_RESEED=1 builds it again);
2. starts gunicorn (2 sync workers, production settings) and reads each worker's memory
   from /proc once the app is loaded, before any request;
3. signs in the demo therapist (password, then the code their authenticator app shows now,
   from the demo's published key) and a generated client of hers, over HTTP;
4. for each page: checks it answers 200, warms it, runs wrk for BENCH_DURATION seconds
   (default 10) and counts the SQL statements it runs (the same page through the app
   in-process, on the same database and cookies, with a before_cursor_execute listener);
5. races 16 clients booking one slot through the server, BENCH_RACES times (default 3):
   exactly one booking must win each race; the winners are deleted afterwards, with their
   audit rows and emails, so the database stays as seeded;
6. prints one table per scale (and 10x against 1x), and writes it as JSON to
   test-results/bench/<scale>.json.

It is a measurement, not a test: it never fails on a number, and pytest does not collect it.
Numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time as clock
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import delete, event, func, select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    Appointment,
    AppointmentStatus,
    AuditEvent,
    CompletionLog,
    IntakeForm,
    OutboxMessage,
    Practice,
    Programme,
    Role,
    Service,
    TwoFactor,
    User,
)
from portal.seed import demo, scale  # noqa: E402
from portal.services import booking, intake, programmes, two_factor  # noqa: E402
from portal.services.secret_box import SecretBox, SecretUnreadable  # noqa: E402

CLIENTS_AT_1X = 5_000
WORKERS = 2
CONNECTIONS = 8
RACERS = 16
REQUEST_TIMEOUT = 300  # a page can take half a minute alone at 10x
BENCH_SECRET = "bench-secret-key-not-for-production-0123456789abcdef"  # noqa: S105
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SEARCH = "patel"  # a surname about one generated client in sixty has


def env(name: str, default: str) -> str:
    return os.environ.get(name) or default


SERVER_URL = env("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DURATION = int(env("BENCH_DURATION", "10"))
MAX_DURATION = 120
RACES = int(env("BENCH_RACES", "3"))
MAX_AGE = timedelta(days=int(env("BENCH_MAX_AGE_DAYS", "7")))


def say(text: str = "") -> None:
    print(text, flush=True)


# --- the database ---------------------------------------------------------------------------


def clients_for(scale_name: str) -> int:
    """5,000 clients per x: "1x", "10x", "0.2x"."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)x", scale_name)
    if not match:
        raise SystemExit(f"BENCH_SCALES: {scale_name!r} is not like 1x or 10x")
    return max(1, round(float(match.group(1)) * CLIENTS_AT_1X))


def database_url(scale_name: str) -> str:
    name = "bench_" + scale_name.replace(".", "_")
    return sa.make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


def flask(url: str, *args: str) -> None:
    """Run a flask command on the database (development: seed-scale is refused otherwise)."""
    # The server's key: the demo therapist's authenticator key is sealed with it.
    environment = {**os.environ, "DATABASE_URL": url, "PORTAL_ENV": "development",
                   "FLASK_APP": "portal", "PYTHONUNBUFFERED": "1",
                   "FLASK_SECRET_KEY": BENCH_SECRET, "FLASK_TWO_FACTOR_KEY": BENCH_SECRET}
    subprocess.run([str(Path(sys.executable).with_name("flask")), *args], cwd=ROOT,
                   env=environment, check=True)


def opens(sealed: str | None) -> bool:
    """True when the benchmark's key opens the demo therapist's sealed authenticator key."""
    try:
        SecretBox(BENCH_SECRET).open(sealed or "")
    except SecretUnreadable:
        return False
    return True


def ready_database(scale_name: str) -> tuple[str, float | None]:
    """The scale's database, seeded; returns its URL and the seeding time (None if reused)."""
    url = database_url(scale_name)
    wanted = clients_for(scale_name)
    name = sa.make_url(url).database
    admin = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                             {"n": name})
    reason = None
    if exists:
        flask(url, "db", "upgrade")  # new indexes from later migrations apply as they would
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            has = conn.scalar(select(func.count()).select_from(User).where(
                User.email.like(f"%@{scale.DOMAIN}"), User.role == Role.CLIENT))
            newest = conn.scalar(select(func.max(CompletionLog.logged_at)))
            consent = conn.scalar(select(IntakeForm.consent_version).join(
                User, User.id == IntakeForm.client_id).where(User.email.like(f"%@{scale.DOMAIN}"))
                .order_by(IntakeForm.id.desc()).limit(1))
            sealed = conn.scalar(select(TwoFactor.totp_secret).join(
                User, User.id == TwoFactor.user_id).where(User.email == demo.THERAPIST[1]))
        engine.dispose()
        if os.environ.get("BENCH_RESEED") == "1":
            reason = "BENCH_RESEED=1"
        elif has != wanted:
            reason = f"it has {has:,} generated clients, not {wanted:,}"
        elif newest is None or datetime.now(UTC) - newest > MAX_AGE:
            reason = f"it was seeded more than {MAX_AGE.days} days ago"
        elif consent != intake.CONSENT_VERSION:
            # Clients who consented to an older text are sent to the questionnaire first.
            reason = f"its clients consented to version {consent}, not {intake.CONSENT_VERSION}"
        elif not opens(sealed):
            reason = "it was seeded with another secret key (the therapist could not sign in)"
        else:
            say(f"Reusing {name}: {has:,} generated clients, seeded {newest:%Y-%m-%d}.")
            admin.dispose()
            return url, None
        say(f"Rebuilding {name}: {reason}.")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    started = clock.monotonic()
    flask(url, "db", "upgrade")
    flask(url, "seed-scale", "--clients", str(wanted))
    seconds = clock.monotonic() - started
    say(f"Seeded {name} in {seconds:.0f} s.")
    return url, seconds


# --- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(url: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("FLASK_")}
    environment.update(
        DATABASE_URL=url, PORTAL_ENV="production", FLASK_SECRET_KEY=BENCH_SECRET,
        # 17 sign-ins from one address in a minute (the racers): not what is measured.
        FLASK_RATELIMIT_LOGIN="1000 per minute", RATELIMIT_STORAGE_URI="memory://",
        FLASK_MAIL_FILE_DIR=str(Path(tempfile.gettempdir()) / "portal-bench-mail"),
    )
    return environment


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    log: Path

    def workers(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def worker_rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.workers():
            status = Path(f"/proc/{pid}/status").read_text()
            kilobytes = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
            sizes.append(round(kilobytes / 1024, 1))
        return sizes

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the group this script started
                self.process.wait(timeout=5)


def start_server(url: str, work: Path) -> Server:
    port = free_port()
    ready = work / "ready"
    ready.mkdir()
    log = work / "gunicorn.log"
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    with log.open("wb") as output:
        process = subprocess.Popen(
            [gunicorn, "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
             "--timeout", "120", "--config", str(Path(__file__).with_name("gunicorn_conf.py")),
             "portal:create_app()"],
            cwd=ROOT, env={**server_environment(url), "BENCH_READY_DIR": str(ready)},
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = clock.monotonic() + 120
    while len(list(ready.iterdir())) < WORKERS:
        if process.poll() is not None or clock.monotonic() > deadline:
            server.stop()
            raise SystemExit("gunicorn did not start:\n" + log.read_text(errors="replace"))
        clock.sleep(0.1)
    return server


# --- a browser without JavaScript -----------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Response:
    status: int
    body: str
    location: str
    seconds: float


class Browser:
    """Cookies kept by hand: production cookies are Secure and __Host- prefixed, which a
    cookie jar would not send over the plain HTTP of 127.0.0.1."""

    def __init__(self, base: str):
        self.base = base
        self.cookies: dict[str, str] = {}
        self.opener = urllib.request.build_opener(_NoRedirect())

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def _send(self, path: str, data: dict[str, str] | None = None) -> Response:
        assert path.startswith("/")  # only ever the local server
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body)  # noqa: S310
        if self.cookies:
            request.add_header("Cookie", self.cookie_header)
        started = clock.perf_counter()
        try:
            with self.opener.open(request, timeout=REQUEST_TIMEOUT) as answer:
                status, text, headers = answer.status, answer.read().decode(), answer.headers
        except urllib.error.HTTPError as error:
            with error:
                status, text, headers = error.code, error.read().decode("utf-8", "replace"), \
                    error.headers
        seconds = clock.perf_counter() - started
        for line in headers.get_all("Set-Cookie") or []:
            parsed = SimpleCookie()
            parsed.load(line)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return Response(status, text, headers.get("Location", ""), seconds)

    def get(self, path: str) -> Response:
        return self._send(path)

    def post(self, path: str, data: dict[str, str]) -> Response:
        return self._send(path, data)

    def csrf(self, path: str) -> str:
        page = self.get(path)
        match = CSRF.search(page.body)
        if page.status != 200 or not match:
            raise SystemExit(f"{path} answered {page.status} without a form")
        return match.group(1)

    def sign_in(self, email: str, password: str) -> Response:
        token = self.csrf("/auth/login")
        return self.post("/auth/login", {"csrf_token": token, "email": email,
                                         "password": password})


def sign_in_therapist(base: str) -> Browser:
    """Jo: password, then the code her authenticator app shows now. A code works once, so
    after a refusal (this step's code was used by an earlier run) wait for the next step."""
    browser = Browser(base)
    answer = browser.sign_in(demo.THERAPIST[1], demo.THERAPIST[2])
    if answer.status != 302:
        raise SystemExit(f"the therapist's password was refused ({answer.status})")
    for _ in range(3):
        step = int(clock.time()) // two_factor.STEP_SECONDS
        token = browser.csrf("/auth/two-factor")
        code = two_factor.current_code(demo.THERAPIST_TOTP_SECRET, datetime.now(UTC))
        answer = browser.post("/auth/two-factor", {"csrf_token": token, "code": code})
        if answer.status == 302:
            return browser
        while int(clock.time()) // two_factor.STEP_SECONDS == step:
            clock.sleep(0.5)
    raise SystemExit("the therapist's second factor was refused three times")


def sign_in_client(base: str, email: str) -> Browser:
    browser = Browser(base)
    answer = browser.sign_in(email, scale.CLIENT_PASSWORD)
    if answer.status != 302:
        raise SystemExit(f"{email} could not sign in ({answer.status})")
    return browser


# --- what to measure ------------------------------------------------------------------------


@dataclass
class Subjects:
    """The ids the pages need, read from the database."""

    therapist_id: int
    client_id: int
    client_email: str
    item_id: int
    service_id: int
    racers: list[str]


def pick_subjects(app) -> Subjects:
    """A generated client of the demo therapist with a programme and one or two sessions
    booked ahead (room to book more), and sixteen more like them to race."""
    now = datetime.now(UTC)
    with app.app_context():
        session = db.session
        therapist = session.scalar(select(User).where(User.email == demo.THERAPIST[1]))
        ahead = (select(func.count()).where(
            Appointment.client_id == User.id, Appointment.starts_at > now,
            Appointment.status == AppointmentStatus.BOOKED).correlate(User).scalar_subquery())
        theirs = select(Appointment.id).where(Appointment.client_id == User.id,
                                              Appointment.therapist_id == therapist.id)
        candidates = list(session.execute(
            select(User.id, User.email).join(Programme, Programme.client_id == User.id)
            .where(User.email.like(f"%@{scale.DOMAIN}"), User.role == Role.CLIENT,
                   theirs.exists(), ahead.between(1, 2))
            .order_by(User.id).limit(1 + RACERS)))
        if len(candidates) < 1 + RACERS:
            raise SystemExit("not enough generated clients of the demo therapist to measure")
        client_id, email = candidates[0]
        client = session.get(User, client_id)
        version = programmes.current_version(session, client, with_ladders=False)
        service = session.scalar(select(Service).where(Service.active,
                                                       Service.duration_minutes == 60)
                                 .order_by(Service.sort_order))
        subjects = Subjects(therapist.id, client_id, email, version.items[0].id, service.id,
                            [row.email for row in candidates[1:]])
        session.rollback()
    return subjects


def pages(s: Subjects) -> list[tuple[str, str, str]]:
    """(who, label, path): the bare endpoint, then the therapist's and the client's pages."""
    return [
        ("-", "/healthz", "/healthz"),
        ("therapist", "therapist home /dashboard/", "/dashboard/"),
        ("therapist", "client list", "/clients/"),
        ("therapist", "clients, low adherence", "/clients/?filter=low_adherence"),
        ("therapist", "clients, pain + upcoming", "/clients/?filter=pain&filter=upcoming"),
        ("therapist", f"clients, search \u201c{SEARCH}\u201d", f"/clients/?q={SEARCH}"),
        ("therapist", "diary, this (busy) week", "/diary/days?view=week"),
        ("therapist", "programme builder", f"/programmes/{s.client_id}"),
        ("therapist", "client record", f"/clients/{s.client_id}"),
        ("client", "client home", "/"),
        ("client", "Today", "/programme/"),
        ("client", "Today item", f"/programme/items/{s.item_id}"),
        ("client", "appointments", "/appointments/"),
        ("client", "week of slots", f"/booking/{s.service_id}"),
    ]


def run_wrk(base: str, path: str, cookie: str, seconds: int) -> dict:
    command = ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{seconds}s",
               "--timeout", f"{MAX_DURATION}s",
               "-s", str(Path(__file__).with_name("report.lua"))]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command + [base + path], capture_output=True, text=True,
                            check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("{"))
    return json.loads(line)


def count_statements(app, path: str, cookie: str) -> int:
    """SQL statements one request of the page runs: the fewer of two requests, since a
    signed-in request also notes the device's last use once a minute (an UPDATE that is not
    the page's), and a first request may fill a cache."""
    # Without its own cookie jar, the test client sends the server's cookies as given.
    client = app.test_client(use_cookies=False)
    with app.app_context():
        engine = db.engine
    headers = {"Cookie": cookie} if cookie else {}
    counts = []
    for _ in range(2):
        counted = []
        listener = lambda *args, counted=counted: counted.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            answer = client.get(path, headers=headers)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        if answer.status_code != 200:
            raise SystemExit(f"{path} answered {answer.status_code} in-process")
        counts.append(len(counted))
    return min(counts)


def wait_until_idle(app) -> None:
    """When wrk stops, the workers still finish the requests queued on their sockets (minutes
    of them for a page that takes half a minute): wait until no connection of theirs is in
    a statement or a transaction, twice in a row, so the next page starts on idle workers."""
    with app.app_context():
        engine = db.engine
    quiet = 0
    deadline = clock.monotonic() + 900
    while quiet < 2 and clock.monotonic() < deadline:
        with engine.connect() as conn:
            busy = conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state <> 'idle' AND pid <> pg_backend_pid()"))
        quiet = quiet + 1 if busy == 0 else 0
        clock.sleep(0.5)


@dataclass
class PageResult:
    who: str
    label: str
    path: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    statements: int
    single_ms: float = 0.0
    seconds: int = 0
    ratio: float = 0.0
    errors: int = 0


@dataclass
class ScaleResult:
    scale: str
    clients: int
    seeded_seconds: float | None
    pages: list[PageResult] = field(default_factory=list)
    rss_before_mb: list[float] = field(default_factory=list)
    rss_after_mb: list[float] = field(default_factory=list)
    race: dict = field(default_factory=dict)
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)


def measure_pages(server: Server, app, subjects: Subjects, result: ScaleResult) -> None:
    browsers = {"therapist": sign_in_therapist(server.base),
                "client": sign_in_client(server.base, subjects.client_email)}
    healthz = []
    for who, label, path in [*pages(subjects), ("-", "/healthz (again, at the end)",
                                                "/healthz")]:
        browser = browsers.get(who) or Browser(server.base)
        check = browser.get(path)
        if check.status != 200:
            raise SystemExit(f"{label}: {path} answered {check.status} {check.location}")
        # Alone, one request takes this long (the first request warmed a worker).
        single = statistics.median(browser.get(path).seconds for _ in range(2))
        # A slow page gets long enough for each connection to finish a few requests.
        seconds = max(DURATION, min(MAX_DURATION, math.ceil(
            3 * single * CONNECTIONS / WORKERS)))
        numbers = run_wrk(server.base, path, browser.cookie_header, seconds)
        wait_until_idle(app)
        errors = sum(numbers[k] for k in ("connect_errors", "read_errors", "write_errors",
                                          "status_errors", "timeouts"))
        page = PageResult(
            who, label, path,
            requests_per_second=numbers["requests"] / (numbers["duration_us"] / 1e6),
            p50_ms=numbers["p50_us"] / 1000, p99_ms=numbers["p99_us"] / 1000,
            single_ms=single * 1000, seconds=seconds,
            statements=count_statements(app, path, browser.cookie_header), errors=errors)
        if path == "/healthz":
            healthz.append(page.requests_per_second)
        result.pages.append(page)
        say(f"  {label:<34} {page.requests_per_second:8.1f} req/s  p50 {page.p50_ms:8.1f} ms"
            f"  p99 {page.p99_ms:8.1f} ms  alone {page.single_ms:7.1f} ms"
            f"  {page.statements:3d} SQL  ({seconds} s)"
            + (f"  {errors} errors" if errors else ""))
    bare = statistics.mean(healthz)
    for page in result.pages:
        page.ratio = page.requests_per_second / bare


# --- the booking race -----------------------------------------------------------------------


def free_starts(app, subjects: Subjects, count: int) -> list[datetime]:
    """Free 60 minute slots of the demo therapist, a week or more ahead."""
    now = datetime.now(UTC)
    with app.app_context():
        session = db.session
        practice = session.scalar(select(Practice))
        therapist = session.get(User, subjects.therapist_id)
        service = session.get(Service, subjects.service_id)
        first, last = booking.booking_window(practice, now)
        starts = booking.free_slots(session, practice, therapist, service, now=now,
                                    first=first + timedelta(days=7), last=last)
        session.rollback()
    # Spread out, so no race's winner blocks the next race's slot.
    chosen = []
    for start in starts:
        if all(abs(start - other) >= timedelta(hours=3) for other in chosen):
            chosen.append(start)
        if len(chosen) == count:
            return chosen
    raise SystemExit("no free slots left to race for")


def run_races(server: Server, app, subjects: Subjects) -> dict:
    racers = list(ThreadPoolExecutor(RACERS).map(
        lambda email: sign_in_client(server.base, email), subjects.racers))
    latencies: list[float] = []
    outcomes = []
    started = datetime.now(UTC)
    starts = free_starts(app, subjects, RACES)
    try:
        for start in starts:
            iso = start.strftime("%Y-%m-%dT%H:%M:%SZ")
            page = f"/booking/{subjects.service_id}/confirm?start={urllib.parse.quote(iso)}"
            barrier = threading.Barrier(RACERS, timeout=REQUEST_TIMEOUT)

            def press(browser: Browser, page=page, iso=iso, barrier=barrier) -> Response:
                token = browser.csrf(page)
                barrier.wait()
                return browser.post(f"/booking/{subjects.service_id}/confirm",
                                    {"csrf_token": token, "start": iso, "note": ""})

            with ThreadPoolExecutor(RACERS) as pool:
                answers = list(pool.map(press, racers))
            latencies += [a.seconds * 1000 for a in answers]
            won = sum(a.status == 302 and a.location.endswith("/appointments/")
                      for a in answers)
            refused = sum(a.status == 409 for a in answers)
            other = [a.status for a in answers if a.status not in (302, 409)]
            outcomes.append({"start": iso, "won": won, "refused": refused, "other": other})
    finally:
        removed = forget_race_bookings(app, subjects, started)
    latencies.sort()
    return {
        "races": len(outcomes), "racers": RACERS, "outcomes": outcomes,
        "exactly_one_each_time": all(o["won"] == 1 and o["refused"] == RACERS - 1
                                     for o in outcomes),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[max(0, round(0.99 * len(latencies)) - 1)], 1),
        "max_ms": round(latencies[-1], 1), "bookings_removed": removed,
    }


def forget_race_bookings(app, subjects: Subjects, since: datetime) -> int:
    """Delete what the races wrote (the winning bookings, their audit rows and emails), so
    the next run meets the database as seeded."""
    with app.app_context():
        session = db.session
        racers = list(session.scalars(select(User.id).where(User.email.in_(subjects.racers))))
        booked = list(session.scalars(select(Appointment.id).where(
            Appointment.client_id.in_(racers), Appointment.created_at >= since)))
        session.execute(delete(AuditEvent).where(
            AuditEvent.subject_user_id.in_(racers), AuditEvent.at >= since,
            AuditEvent.action == "appointment.booked"))
        session.execute(delete(OutboxMessage).where(
            OutboxMessage.to_addr.in_(subjects.racers), OutboxMessage.created_at >= since))
        session.execute(delete(Appointment).where(Appointment.id.in_(booked)))
        session.commit()
    return len(booked)


# --- the run --------------------------------------------------------------------------------


def bench(scale_name: str) -> ScaleResult:
    started = clock.monotonic()
    say(f"\n== {scale_name}: {clients_for(scale_name):,} generated clients ==")
    url, seeded = ready_database(scale_name)
    result = ScaleResult(scale_name, clients_for(scale_name), seeded)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PORTAL_ENV": "production",
                      "SECRET_KEY": BENCH_SECRET, "RATELIMIT_ENABLED": False,
                      "MAIL_FILE_DIR": str(Path(tempfile.gettempdir()) / "portal-bench-mail")})
    subjects = pick_subjects(app)
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    server = start_server(url, work)
    try:
        result.rss_before_mb = server.worker_rss_mb()
        say(f"gunicorn on {server.base}, workers {server.workers()}: "
            f"{result.rss_before_mb} MB before the first request")
        measure_pages(server, app, subjects, result)
        result.rss_after_mb = server.worker_rss_mb()
        result.race = run_races(server, app, subjects)
    finally:
        server.stop()
        with app.app_context():
            db.engine.dispose()
    log = server.log.read_text(errors="replace")
    if "Traceback" in log:
        say("The server logged errors:\n" + log[-4000:])
    shutil.rmtree(work, ignore_errors=True)
    result.seconds = clock.monotonic() - started
    result.load = (load_before, os.getloadavg()[0])
    return result


def table(result: ScaleResult) -> str:
    lines = [
        f"### {result.scale}: {result.clients:,} generated clients "
        f"(gunicorn, {WORKERS} workers; wrk, {CONNECTIONS} connections, {DURATION} s a page)",
        "",
        "| page | req/s | ratio to /healthz | p50 ms | p99 ms | one request alone, ms "
        "| SQL statements |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in result.pages:
        errors = f" ({p.errors} errors)" if p.errors else ""
        lines.append(f"| {p.label}{errors} | {p.requests_per_second:.1f} | {p.ratio:.4f} | "
                     f"{p.p50_ms:.1f} | {p.p99_ms:.1f} | {p.single_ms:.1f} | {p.statements} |")
    race = result.race
    lines += [
        "",
        f"Worker RSS: {', '.join(f'{m:.0f}' for m in result.rss_before_mb)} MB before the "
        f"first request; {', '.join(f'{m:.0f}' for m in result.rss_after_mb)} MB after the "
        "pages.",
        f"Booking race ({race['racers']} clients, one slot, {race['races']} times): "
        f"{'exactly one booking won each time' if race['exactly_one_each_time'] else 'NOT one winner: ' + json.dumps(race['outcomes'])}; "  # noqa: E501
        f"p50 {race['p50_ms']} ms, p99 {race['p99_ms']} ms, max {race['max_ms']} ms.",
        f"Run took {result.seconds:.0f} s"
        + (f", seeding {result.seeded_seconds:.0f} s of it" if result.seeded_seconds
           else " (database reused)")
        + f"; load average {result.load[0]:.1f} before, {result.load[1]:.1f} after "
        f"({os.cpu_count()} cores: other work on the machine lowers every number).",
    ]
    return "\n".join(lines)


def comparison(small: ScaleResult, large: ScaleResult) -> str:
    lines = [f"### {large.scale} against {small.scale}", "",
             f"| page | {large.scale} req/s \u00f7 {small.scale} req/s |", "|---|---:|"]
    before = {p.path: p for p in small.pages}
    for p in large.pages:
        if p.path in before and not p.label.startswith("/healthz (again"):
            ratio = p.requests_per_second / max(before[p.path].requests_per_second, 1e-9)
            lines.append(f"| {p.label} | {ratio:.2f} |")
    return "\n".join(lines)


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    scales = env("BENCH_SCALES", "1x 10x").split()
    results = []
    out = ROOT / "test-results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    for name in scales:
        result = bench(name)
        results.append(result)
        (out / f"{name}.json").write_text(json.dumps(asdict(result), indent=2, default=str))
        say("\n" + table(result))
    if len(results) > 1:
        say("\n" + comparison(results[0], results[-1]))


if __name__ == "__main__":
    main()
