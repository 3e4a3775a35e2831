"""The portal scaled out as the README's production section runs it: two app servers
(gunicorn, on two ports), two reminder runners and two outbox senders, on one PostgreSQL and
one Redis; one server, one runner and one sender reach PostgreSQL through PgBouncer in
transaction pooling mode. Across all of them:

- sixteen clients press "Book" for one slot at once, half on each server: one booking;
- the login limits hold across both servers: the per-address limit in Redis, and the
  per-account pause in the database;
- two reminder runners started together queue every due reminder exactly once;
- two outbox senders started together deliver every email exactly once (counted by a real
  SMTP server).

The pairs are made to overlap, not hoped to: each pair waits on a table lock the test holds
until both have reached the database, then both are let go at the same instant.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time as clock
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from portal import config
from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    NotificationClaim,
    OutboxMessage,
    OutboxStatus,
)
from tests.booking_support import complete_intake, race
from tests.conftest import ROOT, TEST_PASSWORD, TEST_SECRET, base_config
from tests.smtp_server import free_port, running_smtp_server
from tests.test_gunicorn_race import (
    CONCURRENCY,
    Browser,
    _assert_one_booking_and_clear_refusals,
    _local,
    _press_book,
    _race_day,
)

# Its subject is PostgreSQL, PgBouncer and Redis; every test here commits for real.
pytestmark = [pytest.mark.postgresql_only, pytest.mark.fresh_db]

STARTUP_TIMEOUT = 60  # seconds for servers to answer, on a busy 2-core machine
WORK_TIMEOUT = 60  # seconds for a runner or a sender to finish
# Sessions starting within the reminder lead time: their reminders and the two emails
# the site writes fill the outbox sender's first batch (20) and start a second.
REMINDERS = 20
LOGIN_LIMIT = 10  # RATELIMIT_LOGIN's "10 per minute", and LOGIN_UNTRUSTED_FAILURES
WRONG = "That email and password don"  # the login form's refusal (the apostrophe is escaped)
PAUSED = "signing in from a new device is paused"


# --- the services the portal shares: Redis and PgBouncer ----------------------------------


def _redis_url() -> str:
    """TEST_REDIS_URL, one database lower per xdist worker (gw1 uses 14 when it says 15).

    tests/web/test_ratelimit_redis.py empties database 15 - N on worker gwN. With CI's
    TEST_REDIS_URL (database 15) this test lands on the same database as that file on the
    same worker, where the two run one after the other, never on the other worker's; and it
    reads and deletes only keys of its own prefix."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("Redis not configured: set TEST_REDIS_URL to run the scale-out test")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(number - index) % 16}"))


@dataclass
class SharedRedis:
    """The Redis database the servers share, the key prefix they are given, a client."""

    url: str
    prefix: str
    client: object

    def own_keys(self) -> list:
        """This test's keys."""
        return list(self.client.scan_iter(match=f"*{self.prefix}*"))


@pytest.fixture
def shared_redis() -> Iterator[SharedRedis]:
    """This test's Redis database and key prefix; its keys are deleted afterwards."""
    redis = pytest.importorskip("redis")
    url = _redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        client.close()
        pytest.skip(f"Redis not reachable at {url}: {error}")
    shared = SharedRedis(url, f"scale-out-{uuid.uuid4().hex[:12]}", client)
    yield shared
    for key in shared.own_keys():
        client.delete(key)
    client.close()


@pytest.fixture
def pgbouncer() -> str:
    """The pgbouncer program (Debian's is in /usr/sbin, off a non-root PATH)."""
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.access(found, os.X_OK):
        pytest.skip("PgBouncer is not installed (apt-get install pgbouncer; .ci/run does)")
    return found


PGBOUNCER_INI = """\
[databases]
{name} = host={host} port={port} dbname={name} user={user}{password}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
; The test's own loopback instance: no client authentication (production: scram-sha-256
; with an auth_file or auth_query, see the README).
auth_type = any
pool_mode = transaction
; Fewer server connections than clients (two workers, a runner, a sender, each with its
; own connection): transactions take turns on them.
default_pool_size = 3
max_client_conn = 100
"""


@contextmanager
def running_pgbouncer(program: str, database_url: str, workdir: Path) -> Iterator[str]:
    """PgBouncer in transaction pooling mode in front of the test database, on a free
    loopback port; yields the database URL through it."""
    target = sa.make_url(database_url)
    for _ in range(3):  # another process may take the free port first
        listen = free_port()
        ini = workdir / "pgbouncer.ini"
        ini.write_text(PGBOUNCER_INI.format(
            name=target.database, host=target.host or "127.0.0.1", port=target.port or 5432,
            user=target.username or "postgres", listen=listen,
            password=f" password={target.password}" if target.password else ""))
        log = workdir / "pgbouncer.log"
        # PgBouncer refuses to run as root; -u drops to another user once it has read its
        # file (it opens no other: it logs to the output it is given and has no socket file).
        command = [program, *(["-u", "nobody"] if os.geteuid() == 0 else []), str(ini)]
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        url = target.set(port=listen).render_as_string(hide_password=False)
        try:
            if _answers_through(url, process):
                yield url
                return
        finally:
            process.terminate()  # PgBouncer's immediate shutdown
            process.wait(timeout=15)
    pytest.fail("PgBouncer did not start:\n" + log.read_text(errors="replace"))


def _answers_through(url: str, process: subprocess.Popen) -> bool:
    """Wait until a query goes through PgBouncer; False when it exited (port taken)."""
    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    deadline = clock.monotonic() + STARTUP_TIMEOUT
    while clock.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with psycopg.connect(conninfo, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
                return True
        except psycopg.OperationalError:
            clock.sleep(0.05)
    pytest.fail(f"PgBouncer did not answer within {STARTUP_TIMEOUT} seconds")


# --- the portal's processes -----------------------------------------------------------------


@dataclass
class Process:
    """A running process and its log."""

    name: str
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        """Everything it has printed so far."""
        return self.log.read_text(errors="replace")

    def finish(self) -> str:
        """Wait for it to exit by itself; its output, which must hold no error."""
        try:
            code = self.popen.wait(timeout=WORK_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not finish:\n{self.output()}")
        assert code == 0, f"{self.name} exited with {code}:\n{self.output()}"
        assert "Traceback" not in self.output(), self.output()
        return self.output()


def _program(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    assert path.exists(), f"{name} is a dependency but isn't installed beside {sys.executable}"
    return str(path)


@dataclass
class Deployment:
    """Starts the portal's processes with the README's production settings (test passwords,
    loopback services), each either straight on PostgreSQL or through PgBouncer; stops them
    when `stack` closes."""

    direct: str  # the database URL
    pooled: str  # the same database through PgBouncer
    redis: SharedRedis
    smtp_port: int
    workdir: Path
    stack: ExitStack
    processes: list[Process] = field(default_factory=list)

    def environment(self, *, through_pgbouncer: bool) -> dict[str, str]:
        """What a process is started with."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
        env.update(
            DATABASE_URL=self.pooled if through_pgbouncer else self.direct,
            # development: no Secure cookies over plain http; the rules are production's.
            PORTAL_ENV="development",
            FLASK_SECRET_KEY=TEST_SECRET,
            FLASK_PASSWORD_HASH_TIME_COST="1",
            FLASK_PASSWORD_HASH_MEMORY_COST="8",
            FLASK_PASSWORD_HASH_PARALLELISM="1",
            RATELIMIT_STORAGE_URI=self.redis.url,
            FLASK_RATELIMIT_KEY_PREFIX=self.redis.prefix,
            # A proxy in front names each visitor's address (X-Forwarded-For), so the racers
            # and the guessers below come from addresses of their own, as on the internet.
            FLASK_TRUSTED_PROXIES="1",
            FLASK_MAIL_SERVER="127.0.0.1",
            FLASK_MAIL_PORT=str(self.smtp_port),
            FLASK_MAIL_USE_TLS="false",
            FLASK_MAIL_FILE_DIR=str(self.workdir / "mail"),
            PYTHONUNBUFFERED="1",
        )
        if through_pgbouncer:
            env["FLASK_DATABASE_PREPARED_STATEMENTS"] = "false"  # the README's PgBouncer part
        return env

    def start(self, name: str, command: list[str], *, through_pgbouncer: bool,
              extra: dict[str, str] | None = None) -> Process:
        """Start one process, its output in workdir/<name>.log."""
        log = self.workdir / f"{name}.log"
        env = {**self.environment(through_pgbouncer=through_pgbouncer), **(extra or {})}
        with log.open("wb") as output:
            popen = subprocess.Popen(
                command, cwd=ROOT, env=env,
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Kill whatever still runs, with its process group (gunicorn's workers). The test has
        seen all it needs; a graceful stop would cost each idle worker seconds of tearing
        down the interpreter on a busy machine, past gunicorn's graceful timeout anyway."""
        running = [process.popen for process in self.processes if process.popen.poll() is None]
        for popen in running:
            os.killpg(popen.pid, signal.SIGKILL)
        for popen in running:
            popen.wait(timeout=15)

    def show_logs_on_failure(self, failure, *_) -> None:
        """On the way out of a failed test, print each process's log (pytest shows it)."""
        if failure is not None:
            for process in self.processes:
                print(f"--- {process.name}\n{process.output()[-4000:]}")

    def server(self, name: str, *, through_pgbouncer: bool) -> tuple[Process, str]:
        """An app server with two workers: (process, base URL). --preload imports the app
        once and forks the workers: the same app, less of the machine's two cores."""
        port = free_port()
        process = self.start(name, [
            _program("gunicorn"), "--workers", "2", "--preload", "--bind", f"127.0.0.1:{port}",
            # Several gunicorns on one host would share ~/.gunicorn/gunicorn.ctl.
            "--timeout", "60", "--no-control-socket", "portal:create_app()",
        ], through_pgbouncer=through_pgbouncer, extra={
            # Static files as in production: content-hashed names, each server building its
            # own copies in its own folder, as two hosts would.
            "FLASK_STATIC_HASHED_NAMES": "true",
            "FLASK_STATIC_BUILD_DIR": str(self.workdir / f"{name}-static")})
        return process, f"http://127.0.0.1:{port}"

    def command(self, name: str, *args: str, through_pgbouncer: bool) -> Process:
        """One run of a `flask` command, as cron or a worker host would start it."""
        return self.start(name, [_program("flask"), "--app", "portal", *args],
                          through_pgbouncer=through_pgbouncer)


def wait_until(condition: Callable[[], bool], what: str, running: list[Process]) -> None:
    """Poll until condition() holds; fail naming `what`, with the logs, after
    STARTUP_TIMEOUT or as soon as one of the processes that should be running has exited."""
    deadline = clock.monotonic() + STARTUP_TIMEOUT
    while clock.monotonic() < deadline:
        if condition():
            return
        for process in running:
            if process.popen.poll() is not None:
                pytest.fail(f"{process.name} exited while waiting for {what}:\n"
                            f"{process.output()}")
        clock.sleep(0.05)
    logs = "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in running)
    pytest.fail(f"no {what} within {STARTUP_TIMEOUT} seconds\n{logs}")


def serving(base: str) -> bool:
    """True once the server answers /healthz with 200 (its database path included)."""
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


# --- the starting gate ----------------------------------------------------------------------

BLOCKED_BY = sa.text("""
    WITH RECURSIVE blocked(pid) AS (
        SELECT pid FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))
        UNION
        SELECT waiting.pid FROM pg_stat_activity waiting JOIN blocked
            ON blocked.pid = ANY(pg_blocking_pids(waiting.pid)))
    SELECT count(*) FROM blocked""")


@contextmanager
def gate(engine: sa.Engine, table: str) -> Iterator[Callable[[int], bool]]:
    """Hold `table` in EXCLUSIVE mode (reads pass; inserts, updates, deletes and FOR UPDATE,
    even with SKIP LOCKED, wait) until the block ends, which lets whoever waits go at one
    instant; yields waiting(n): True once n sessions wait behind it."""
    with engine.connect() as holder, engine.connect() as watcher:
        watcher.execution_options(isolation_level="AUTOCOMMIT")
        with holder.begin():
            holder.execute(sa.text(f"LOCK TABLE {table} IN EXCLUSIVE MODE"))
            pid = holder.scalar(sa.text("SELECT pg_backend_pid()"))
            yield lambda count: watcher.scalar(BLOCKED_BY, {"holder": pid}) >= count


# --- the practice -----------------------------------------------------------------------------


class ForwardedBrowser(Browser):
    """A browser behind the proxy, from its own address (X-Forwarded-For)."""

    def __init__(self, base: str, address: str):
        super().__init__(base)
        self.address = address

    def _request(self, path: str, **kwargs) -> urllib.request.Request:
        request = super()._request(path, **kwargs)
        request.add_header("X-Forwarded-For", self.address)
        return request

    def attempt(self, base: str, email: str, password: str) -> tuple[int, str]:
        """One sign-in on the server at base: (status, page)."""
        self.base = base
        token = self.csrf_token("/auth/login")
        answer = self.post("/auth/login", {"csrf_token": token, "email": email,
                                           "password": password})
        return answer.status, answer.body


def _seed(app, diary, make_client, now: datetime) -> tuple[list, list[int]]:
    """Sixteen clients who may book and REMINDERS sessions due a reminder; returns (racers,
    the due sessions' ids)."""
    racers = [make_client(name=f"Racer {n:02d}") for n in range(CONCURRENCY)]
    thirty = diary.services["30 minute massage"]
    first = now.replace(second=0, microsecond=0) + timedelta(hours=1)
    with app.app_context():
        for racer in racers:
            complete_intake(db.session, racer.id, now)
        due = []
        for n in range(REMINDERS):  # 30 minutes and 15 of buffer, back to back
            start = first + timedelta(minutes=45 * n)
            due.append(Appointment(
                client_id=racers[n % CONCURRENCY].id, therapist_id=diary.therapist.id,
                service_id=thirty, starts_at=start, ends_at=start + timedelta(minutes=30),
                blocked_until=start + timedelta(minutes=45), price_pence=3500,
                booked_by_id=diary.therapist.id))
        db.session.add_all(due)
        db.session.commit()
        ids = [appointment.id for appointment in due]
        db.session.remove()
    return racers, ids


def _book_across_servers(racers, bases: list[str], service_id: int, start: datetime) -> None:
    """Each racer signs in on one server and presses "Book" on the other, all at once."""
    browsers = [ForwardedBrowser(bases[n % 2], f"10.0.0.{n + 1}") for n in range(len(racers))]
    with ThreadPoolExecutor(max_workers=len(browsers)) as pool:
        for signed_in in [pool.submit(browser.sign_in, user.email)
                          for browser, user in zip(browsers, racers, strict=True)]:
            signed_in.result(timeout=WORK_TIMEOUT)
    for n, browser in enumerate(browsers):
        browser.base = bases[(n + 1) % 2]  # the session cookie works on either server
    responses = race([partial(_press_book, browser, service_id, start) for browser in browsers])
    _assert_one_booking_and_clear_refusals(responses)


def _guess_across_servers(bases: list[str], email: str) -> None:
    """Wrong passwords from one address, alternately on each server."""
    guesser = ForwardedBrowser(bases[0], "203.0.113.7")
    for n in range(LOGIN_LIMIT):  # each server sees half of them
        status, page = guesser.attempt(bases[n % 2], email, f"guess number {n}")
        assert (status, WRONG in page) == (200, True), (n, status, page[:300])
    # The address's limit (Redis) is used up on both servers, although each saw only five.
    for base in bases:
        status, _ = guesser.attempt(base, email, "one more guess")
        assert status == 429, (base, status)
    # The account's allowance for new devices (the database) is used up as well: the right
    # password from a fresh address, on either server, waits.
    for n, base in enumerate(bases):
        owner = ForwardedBrowser(base, f"198.51.100.{n + 1}")
        status, page = owner.attempt(base, email, TEST_PASSWORD)
        assert (status, PAUSED in page) == (200, True), (base, status, page[:300])


def _delivered_ids(messages) -> Counter:
    """How many times each outbox row reached the SMTP server (its id is in Message-ID)."""
    ids = Counter()
    for message in messages:
        match = re.search(r"outbox-(\d+)@", message["Message-ID"])
        assert match, message["Message-ID"]
        ids[int(match.group(1))] += 1
    return ids


def _reported(outputs: list[str], pattern: str) -> list[int]:
    """The numbers each process reported, e.g. "reminders: 20 queued"."""
    return [sum(int(n) for n in re.findall(pattern, output)) for output in outputs]


def test_two_servers_two_runners_two_senders_on_one_postgresql_and_redis(
        app, diary, make_client, shared_redis, pgbouncer, tmp_path):
    racers, due_ids = _seed(app, diary, make_client, datetime.now(UTC))
    direct = app.config["SQLALCHEMY_DATABASE_URI"]
    with ExitStack() as stack:
        pooled = stack.enter_context(running_pgbouncer(pgbouncer, direct, tmp_path))
        smtp = stack.enter_context(running_smtp_server())
        stack.enter_context(app.app_context())
        # Everything starts at once. The runners wait at a gate on the table their claims
        # go in. The senders first wait in a pen: the table of password reset requests,
        # which `send-outbox` answers before it sends (the site's pages keep writing
        # emails meanwhile); then at a gate on the outbox itself.
        runners_gate, senders_pen, senders_gate = (
            stack.enter_context(ExitStack()) for _ in range(3))
        runners_waiting = runners_gate.enter_context(gate(db.engine, "notification_claim"))
        senders_penned = senders_pen.enter_context(gate(db.engine, "reset_request"))

        # Every pair: one process straight on PostgreSQL, one through PgBouncer.
        deployment = Deployment(direct, pooled, shared_redis, smtp.port, tmp_path, stack)
        stack.push(deployment.show_logs_on_failure)
        stack.callback(deployment.stop)
        servers = [deployment.server(f"server-{n}", through_pgbouncer=n == 1)
                   for n in range(2)]
        runners = [deployment.command(f"reminders-{n}", "send-reminders",
                                      through_pgbouncer=n == 1) for n in range(2)]
        senders = [deployment.command(f"sender-{n}", "send-outbox", through_pgbouncer=n == 1)
                   for n in range(2)]
        bases = [base for _, base in servers]
        running = [process for process, _ in servers] + senders

        wait_until(lambda: runners_waiting(2), "two reminder runners at their gate",
                   [*running, *runners])
        runners_gate.close()
        wait_until(lambda: all(serving(base) for base in bases), "two servers", running)
        _check_static_files(bases)

        # The booking race and the login limits, while the runners queue reminders.
        slot = _local(_race_day(), 11)
        _book_across_servers(racers, bases, diary.services["60 minute massage"], slot)
        _guess_across_servers(bases, diary.client.email)
        assert shared_redis.own_keys(), "the login limit's counts should be in Redis"
        _check_reminders([runner.finish() for runner in runners], due_ids)
        emails = _check_queue(slot)

        # Nothing writes emails now: from the pen to the gate, then both go at once.
        wait_until(lambda: senders_penned(2), "two outbox senders in their pen", running)
        senders_waiting = senders_gate.enter_context(gate(db.engine, "outbox_message"))
        senders_pen.close()
        wait_until(lambda: senders_waiting(2), "two outbox senders at their gate", running)
        senders_gate.close()
        _check_delivery([sender.finish() for sender in senders], emails, smtp.messages)
    # All stopped: whatever a process logged on its way out is in its log now.
    for process in deployment.processes:
        assert "Traceback" not in process.output(), f"{process.name}:\n{process.output()}"


def _check_static_files(bases: list[str]) -> None:
    """Both servers, each with its own build, name the stylesheet alike and serve it for a
    year, compressed, with the bytes of static/ (a page from one host works on the other)."""
    names = set()
    for base in bases:
        with urllib.request.urlopen(f"{base}/auth/login", timeout=30) as response:  # noqa: S310
            page = response.read().decode()
        names.add(re.search(r'<link rel="stylesheet" href="([^"]+)">', page).group(1))
    [name] = names
    assert re.fullmatch(r"/static/css/portal\.[0-9a-f]{12}\.css", name), name
    for base in bases:
        request = urllib.request.Request(base + name, headers={"Accept-Encoding": "gzip"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(response.read()) == (ROOT / "static/css/portal.css").read_bytes()


def _check_reminders(outputs: list[str], due_ids: list[int]) -> None:
    """Every due session has one reminder claim and one reminder email, from either runner."""
    queued = _reported(outputs, r"reminders: (\d+) queued")
    assert sum(queued) == REMINDERS, queued
    claims = db.session.execute(sa.select(NotificationClaim.appointment_id,
                                          NotificationClaim.kind)).all()
    assert sorted(claims) == sorted((i, "reminder:0") for i in due_ids)
    subjects = db.session.scalars(sa.select(OutboxMessage.subject).where(
        OutboxMessage.kind == "appointment_reminder")).all()
    assert len(subjects) == len(set(subjects)) == REMINDERS, subjects  # one per session
    db.session.remove()


def _check_queue(slot: datetime) -> int:
    """One booking of the raced slot and its confirmation, one warning to the account holder
    and the reminders: how many emails there are to send."""
    booked = db.session.scalars(sa.select(Appointment.id).where(
        Appointment.starts_at == slot, Appointment.status == AppointmentStatus.BOOKED)).all()
    assert len(booked) == 1, booked
    kinds = Counter(db.session.scalars(sa.select(OutboxMessage.kind)))
    assert kinds == {"appointment_reminder": REMINDERS, "appointment_confirmed": 1,
                     "sign_in_attempts": 1}, kinds
    db.session.remove()
    return kinds.total()


def _check_delivery(outputs: list[str], emails: int, messages) -> None:
    """Both senders sent some; the SMTP server received every email once; every row says
    sent, after one attempt."""
    sent = _reported(outputs, r"outbox: (\d+) sent")
    assert sum(sent) == emails and min(sent) > 0, sent
    rows = db.session.execute(sa.select(OutboxMessage.id, OutboxMessage.status,
                                        OutboxMessage.attempts)).all()
    assert _delivered_ids(messages) == Counter(row_id for row_id, _, _ in rows)
    assert {(status, attempts) for _, status, attempts in rows} == {(OutboxStatus.SENT, 1)}
    db.session.remove()


def test_prepared_statements_can_be_turned_off_for_a_transaction_pool(tmp_path, monkeypatch):
    """The README's setting for PgBouncer reaches psycopg beside the connect timeout; by
    default, and on SQLite, nothing changes."""

    def engine_options(url: str) -> dict:
        probe = Flask("probe", instance_path=str(tmp_path))
        config.load(probe, {**base_config("sqlite://", tmp_path), "SQLALCHEMY_DATABASE_URI": url})
        return probe.config["SQLALCHEMY_ENGINE_OPTIONS"]

    postgresql = "postgresql://portal@127.0.0.1:6432/portal"
    assert engine_options(postgresql)["connect_args"] == {"connect_timeout": 5}
    monkeypatch.setenv("FLASK_DATABASE_PREPARED_STATEMENTS", "false")
    assert engine_options(postgresql)["connect_args"] == {"connect_timeout": 5,
                                                          "prepare_threshold": None}
    assert "connect_args" not in engine_options(f"sqlite:///{tmp_path / 'p.sqlite3'}")
