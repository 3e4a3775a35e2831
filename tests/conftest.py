"""Shared fixtures: the app on SQLite and PostgreSQL, clients, factories and login helpers.

Every test that uses `app` runs once per database backend. SQLite always runs; PostgreSQL runs
when TEST_DATABASE_URL is set. With PORTAL_STRICT_TESTS=1 (CI) a skip counts as a failure, so
a green CI means every test really ran.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask, url_for
from flask.testing import FlaskClient
from flask_migrate import upgrade
from jinja2 import FileSystemBytecodeCache

from portal import create_app
from portal.extensions import db as _db
from portal.extensions import limiter as _limiter
from portal.models import OutboxMessage, Practice, Role, TwoFactor, User, utcnow
from portal.services import two_factor

TEST_PASSWORD = "a quiet harbour at dawn"
# The authenticator-app key every factory therapist signs in with (see make_user).
TEST_TOTP_SECRET = "KRSXG5CUIRBTMYLMMFXGIY3PMRSXGMZQ"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
ROOT = Path(__file__).resolve().parent.parent


# --- strict mode: no silent skips in CI ---------------------------------------------------


def strict_mode(config: pytest.Config) -> bool:
    """True when skips must fail (CI)."""
    return bool(config.getoption("--no-skips")) or os.environ.get("PORTAL_STRICT_TESTS") == "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--no-skips", action="store_true",
                     help="turn every skip (missing database, browser, Redis) into a failure")


def pytest_collection_modifyitems(config, items):
    """Browser journeys run on PostgreSQL only (the production database); what differs between
    the backends is covered below them, where every web and service test runs on both. So do
    tests marked `postgresql_only`, whose subject does not touch the database's engine (the
    rate-limit counts that several servers share through Redis).

    Order the browser tests, the slowest: last in one process (the fast suites report
    first), first under xdist (long tests handed out early keep both workers busy to the end).
    """
    on_sqlite = [item for item in items
                 if ("/e2e/" in item.path.as_posix() or item.get_closest_marker("postgresql_only"))
                 and getattr(item, "callspec", None)
                 and item.callspec.params.get("database") == "sqlite"]
    if on_sqlite:
        config.hook.pytest_deselected(items=on_sqlite)
        items[:] = [item for item in items if item not in on_sqlite]
    parallel = hasattr(config, "workerinput") or bool(getattr(config.option, "numprocesses", 0))
    if not parallel:
        items.sort(key=lambda item: "/e2e/" in item.path.as_posix())
        return
    # Under xdist the slowest go first: the browser tests, then the files of long tests
    # (generated practices, seeded demos, real servers and races), so no worker is left with
    # a long test at the end while the other sits idle. `make test` adds --dist worksteal:
    # each worker is first handed a block of the queue, and a worker that finishes its own
    # takes from the other's, so the block of browser tests is shared out too.
    items.sort(key=lambda item: (
        "/e2e/" not in item.path.as_posix(),
        not item.path.as_posix().endswith(SLOW_FILES)))


SLOW_FILES = ("test_client_filters.py", "test_demo.py", "test_gunicorn_race.py",
              "test_no_double_booking.py", "test_outbox.py", "test_cli.py", "test_adherence.py",
              "test_valid_html.py", "test_backup.py", "test_scale_out.py",
              "test_seed_scale.py")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and strict_mode(item.config):
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode (PORTAL_STRICT_TESTS=1): {report.longrepr}"


# --- databases ----------------------------------------------------------------------------


def base_config(database_url: str, tmp_path: Path) -> dict:
    """Test configuration: fast hashing, mail to files, everything else as in production."""
    return {
        "TESTING": True,
        "PORTAL_ENV": "testing",
        "SECRET_KEY": TEST_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "PASSWORD_HASH_TIME_COST": 1,
        "PASSWORD_HASH_MEMORY_COST": 8,
        "PASSWORD_HASH_PARALLELISM": 1,
        "MAIL_FILE_DIR": str(tmp_path / "mail"),
        "RATELIMIT_STORAGE_URI": "memory://",
    }


@dataclass
class Database:
    """A migrated database for one backend, and how to give each test a clean copy."""

    backend: str
    template: str  # SQLite: path of a migrated file; PostgreSQL: the database URL

    def url_for(self, tmp_path: Path) -> str:
        if self.backend == "sqlite":
            target = tmp_path / "portal.sqlite3"
            shutil.copyfile(self.template, target)
            return f"sqlite:///{target}"
        return self.template

    def reset(self, app: Flask) -> None:
        """Empty every table after a PostgreSQL test and start every id at 1 again (SQLite
        files are thrown away).

        DELETE, children first, rather than TRUNCATE: a test leaves a few rows, and TRUNCATE
        replaces the files of every table and index (about 0.4 s for this schema against a
        few milliseconds)."""
        if self.backend != "postgresql":
            return
        with app.app_context():
            _db.session.remove()
            with _db.engine.begin() as conn:
                for table in reversed(_db.metadata.sorted_tables):
                    conn.execute(table.delete())
                conn.execute(sa.text(
                    "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind = 'S' AND n.nspname = current_schema()"))
            _db.engine.dispose()


def migrate_to_head(url: str, tmp_path: Path) -> None:
    """Run every migration against the database at url."""
    app = create_app(base_config(url, tmp_path))
    with app.app_context():
        upgrade()
        _db.engine.dispose()


def postgres_server_url() -> str | None:
    """TEST_DATABASE_URL normalised for psycopg 3, or None."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    from portal.config import normalise_database_url

    return normalise_database_url(url)


def create_postgres_database(server_url: str) -> str:
    """A new empty database beside the one in server_url; returns its URL."""
    name = f"portal_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        # A throwaway database need not wait for its commits to reach the disk; the tests
        # that really commit (browser, CLI, races) then run at the server's speed, not the
        # disk's.
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    engine.dispose()
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, url: str) -> None:
    """Drop a database made by create_postgres_database."""
    name = sa.make_url(url).database
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory) -> Iterator[Database]:
    """A migrated database per backend, made once per test session."""
    tmp = tmp_path_factory.mktemp(f"db-{request.param}")
    if request.param == "sqlite":
        path = tmp / "template.sqlite3"
        migrate_to_head(f"sqlite:///{path}", tmp)
        yield Database("sqlite", str(path))
        return
    server = postgres_server_url()
    if server is None:
        pytest.skip("PostgreSQL not configured: set TEST_DATABASE_URL to run these")
    url = create_postgres_database(server)
    try:
        migrate_to_head(url, tmp)
        yield Database("postgresql", url)
    finally:
        drop_postgres_database(server, url)


# Tests that need commits other connections can see (a live server's threads, a second
# engine, another process, racing threads, migrations, the CLI's own transactions) get a
# freshly built app on a database emptied afterwards. Mark a test `fresh_db`, or list its file
# here. Every other test shares one app per backend and runs inside a transaction that is
# rolled back (see `app`).
FRESH_DB_FILES = (
    "tests/e2e/",
    "tests/test_cli.py",
    "tests/test_backup.py",
    "tests/test_migrations.py",
    "tests/test_gunicorn_race.py",
    "tests/services/test_outbox.py",
    "tests/services/test_no_double_booking.py",
    "tests/web/test_ratelimit_redis.py",
)
# Fixtures that open a second app or engine on the test's database.
FRESH_DB_FIXTURES = ("live_server", "production_app", "app_with_forgotten_routes")


def needs_fresh_db(item: pytest.Item) -> bool:
    """True for a test that must see real commits (see FRESH_DB_FILES)."""
    if item.get_closest_marker("fresh_db"):
        return True
    if any(name in getattr(item, "fixturenames", ()) for name in FRESH_DB_FIXTURES):
        return True
    path = Path(str(item.path)).resolve().relative_to(ROOT).as_posix()
    return any(path.startswith(prefix) for prefix in FRESH_DB_FILES)


@pytest.fixture(scope="session")
def shared_app(database: Database, tmp_path_factory) -> Iterator[Flask]:
    """One app per backend for the session (per xdist worker): templates are compiled and the
    URL map is built once. Only the `app` fixture uses it, inside a rolled-back transaction."""
    tmp = tmp_path_factory.mktemp(f"app-{database.backend}")
    application = create_app(base_config(database.url_for(tmp), tmp))
    # A session bound to a connection already in a transaction works in a SAVEPOINT (only
    # `app`'s rolled-back tests bind one; sessions bound to an engine are unaffected).
    _db.session.session_factory.configure(join_transaction_mode="create_savepoint")
    application.extensions["tests.limiter_storage"] = (_limiter._storage, _limiter._limiter)
    with application.app_context():
        application.extensions["tests.engine"] = _db.engine
    yield application
    with application.app_context():
        _db.engine.dispose()


@pytest.fixture(scope="session")
def compiled_templates(tmp_path_factory) -> FileSystemBytecodeCache:
    """Templates compiled once per worker for every freshly built app: a browser test's new
    app would otherwise compile each page's templates again (Jinja checks each template's
    source file is unchanged before using its compiled form)."""
    return FileSystemBytecodeCache(str(tmp_path_factory.mktemp("jinja")))


@contextmanager
def _rolled_back(application: Flask, tmp_path: Path) -> Iterator[Flask]:
    """Run the block inside one database transaction that is rolled back afterwards.

    Every session the app opens (one per app context: each request, each factory call) is
    bound to one connection whose outer transaction never commits; with
    join_transaction_mode="create_savepoint" a session's commit() releases a SAVEPOINT and
    its rollback() returns to one, so views and services commit and roll back as in
    production while nothing reaches the database. The config, the rate-limit counters and
    the engine are restored afterwards, so nothing leaks into the next test.
    """
    saved_config = dict(application.config)
    application.config["MAIL_FILE_DIR"] = str(tmp_path / "mail")
    storage, strategy = application.extensions["tests.limiter_storage"]
    _limiter._storage, _limiter._limiter = storage, strategy
    storage.reset()
    engine = application.extensions["tests.engine"]
    engines = _db._app_engines[application]
    connection = engine.connect()
    outer = connection.begin()
    engines[None] = connection
    try:
        yield application
    finally:
        engines[None] = engine
        if outer.is_active:
            outer.rollback()
        connection.close()
        application.config.clear()
        application.config.update(saved_config)


@pytest.fixture
def app(request, database: Database, tmp_path: Path) -> Iterator[Flask]:
    """The application bound to a clean database of the current backend.

    Usually the backend's shared app inside a transaction that is rolled back after the test;
    for tests that need real commits (`needs_fresh_db`) a new app on a database that is
    emptied after the test.
    """
    if not needs_fresh_db(request.node):
        with _rolled_back(request.getfixturevalue("shared_app"), tmp_path) as application:
            yield application
        return
    application = create_app(base_config(database.url_for(tmp_path), tmp_path))
    application.jinja_env.bytecode_cache = request.getfixturevalue("compiled_templates")
    yield application
    database.reset(application)
    with application.app_context():
        _db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client (a browser without JavaScript)."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    """A runner for the app's CLI commands."""
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask):
    """The database session inside an app context, for service tests without HTTP."""
    with app.app_context():
        yield _db.session
        _db.session.rollback()


# --- factories ----------------------------------------------------------------------------


@pytest.fixture
def practice(app: Flask) -> Practice:
    """The practice row (most pages need one)."""
    with app.app_context():
        row = Practice(name="Test Practice", timezone="Europe/London", email="desk@example.com",
                       phone="020 7946 0000")
        _db.session.add(row)
        _db.session.commit()
        _db.session.refresh(row)
        _db.session.expunge(row)
        return row


@pytest.fixture
def make_user(app: Flask, practice: Practice) -> Callable[..., User]:
    """Factory: make_user(role=Role.CLIENT, email=..., name=..., password=TEST_PASSWORD,
    two_factor=...). Therapists must sign in with a second factor, so by default a therapist
    has an authenticator app set up with TEST_TOTP_SECRET (the `login` helper gives its code);
    two_factor=False makes one who still has to set it up, two_factor=True gives a client
    the app too."""
    counter = iter(range(1, 10_000))

    def factory(**overrides) -> User:
        n = next(counter)
        role = overrides.pop("role", Role.CLIENT)
        password = overrides.pop("password", TEST_PASSWORD)
        with_app = overrides.pop("two_factor", role is Role.THERAPIST)
        with app.app_context():
            passwords = app.extensions["portal.passwords"]
            user = User(
                email=overrides.pop("email", f"{role.value}{n}@example.com"),
                name=overrides.pop("name", f"{role.value.title()} Number{n}"),
                role=role,
                password_hash=passwords.hash(password) if password else None,
                password_changed_at=utcnow() if password else None,
                **overrides,
            )
            _db.session.add(user)
            _db.session.flush()
            if with_app:
                two_factor.enrol_app(_db.session, app.extensions["portal.secret_box"], user,
                                     secret=TEST_TOTP_SECRET, now=utcnow())
            _db.session.commit()
            _db.session.refresh(user)
            _db.session.expunge(user)
            return user

    return factory


@pytest.fixture
def make_client(make_user) -> Callable[..., User]:
    """Factory for client users."""
    return lambda **kw: make_user(role=Role.CLIENT, **kw)


@pytest.fixture
def make_therapist(make_user) -> Callable[..., User]:
    """Factory for therapist users."""
    return lambda **kw: make_user(role=Role.THERAPIST, **kw)


# --- web helpers --------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def static_url(app: Flask, filename: str) -> str:
    """The address pages give a file of static/: its content-hashed name
    (portal/web/static_files.py; tests/web/test_static_files.py checks the names)."""
    with app.test_request_context():
        return url_for("static", filename=filename)


def csrf_from(html: str) -> str:
    """The first CSRF token in a page."""
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def form_post(client: FlaskClient, page: str, data: dict, *, action: str | None = None,
              **kwargs):
    """GET a page, then POST its form with data plus the page's CSRF token (like a browser)."""
    html = client.get(page).get_data(as_text=True)
    return client.post(action or page, data={"csrf_token": csrf_from(html), **data}, **kwargs)


def login(client: FlaskClient, email: str, password: str = TEST_PASSWORD, remember=False):
    """Sign in through the login form, and through the code step for someone with two-factor
    (as a person with the app would); returns the response to the last POST."""
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    response = form_post(client, "/auth/login", data)
    if response.status_code == 302 and urlsplit(response.location).path == SECOND_STEP:
        response = form_post(client, SECOND_STEP, {"code": app_code(client.application, email)})
    return response


SECOND_STEP = "/auth/two-factor"


def app_code(app: Flask, email: str) -> str:
    """The code the user's authenticator app shows now (by the app's clock).

    Tests sign one user in many times within one 30-second step, and a code is accepted once
    only, so the user's last used step is forgotten first; the replay rule has its own tests
    (tests/web/test_two_factor_web.py)."""
    with app.app_context():
        user = _db.session.scalar(sa.select(User).where(User.email == email.lower()))
        row = _db.session.get(TwoFactor, user.id)
        secret = app.extensions["portal.secret_box"].open(row.totp_secret)
        row.totp_last_step = None
        _db.session.commit()
        clock = app.config.get("PORTAL_CLOCK")
        return two_factor.current_code(secret, clock() if clock else utcnow())


def sign_in_directly(client: FlaskClient, user: User) -> None:
    """Give the test client the session a sign-in would (sessions.start: a device row and the
    session's keys) without going through the login form and the code step. For tests about
    something else; signing in itself is tested through the forms (login() above)."""
    from flask import session

    from portal.web import sessions

    app = client.application
    with app.test_request_context("/auth/login", method="POST"):
        sessions.start(_db.session.get(User, user.id), remember=False)
        _db.session.commit()
        values = dict(session)
    with client.session_transaction() as browser_session:
        browser_session.clear()
        browser_session.update(values)


@pytest.fixture
def as_client(client, make_client):
    """A test client signed in as a new client user; the user is client.user."""
    user = make_client()
    sign_in_directly(client, user)
    client.user = user
    return client


@pytest.fixture
def as_therapist(client, make_therapist):
    """A test client signed in as a new therapist; the user is client.user."""
    user = make_therapist()
    sign_in_directly(client, user)
    client.user = user
    return client


@pytest.fixture
def outbox(app: Flask) -> Callable[..., list[OutboxMessage]]:
    """outbox(kind=None): the queued emails, oldest first."""

    def rows(kind: str | None = None) -> list[OutboxMessage]:
        with app.app_context():
            query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
            if kind:
                query = query.where(OutboxMessage.kind == kind)
            result = list(_db.session.scalars(query))
            for row in result:
                _db.session.expunge(row)
            return result

    return rows


def answer_reset_requests(app: Flask) -> int:
    """Turn waiting "forgot password" requests into emails, as the outbox sender does."""
    from portal.services import accounts
    from portal.services.tokens import Tokens

    with app.app_context():
        answered = accounts.answer_reset_requests(_db.session, Tokens(app.secret_key),
                                                  now=utcnow())
        _db.session.commit()
        return answered


def link_in(text: str, path_fragment: str) -> str:
    """The first URL in an email text that contains path_fragment, as a local path."""
    match = re.search(r"https?://[^/\s]+(\S*" + re.escape(path_fragment) + r"\S*)", text)
    assert match, f"no link containing {path_fragment!r} in:\n{text}"
    return match.group(1)


# --- booking ------------------------------------------------------------------------------


@dataclass
class Diary:
    """A bookable practice: a therapist with weekday hours, services and a client."""

    therapist: User
    client: User
    services: dict[str, int]  # name -> id


@pytest.fixture
def diary(app: Flask, make_therapist, make_client) -> Diary:
    """Monday to Friday 09:00-13:00 and 14:00-18:00, Saturday 09:00-13:00; 30/60/90 minute
    massages with 15 minutes of buffer; a client who has completed the questionnaire."""
    from datetime import time as _time

    from portal.models import IntakeForm, Service, WorkingHours
    from portal.services.intake import CONSENT_VERSION

    therapist = make_therapist(name="Jo Fletcher")
    client = make_client(name="Alex Morgan")
    with app.app_context():
        for weekday in range(5):
            _db.session.add(WorkingHours(therapist_id=therapist.id, weekday=weekday,
                                         start_time=_time(9), end_time=_time(13)))
            _db.session.add(WorkingHours(therapist_id=therapist.id, weekday=weekday,
                                         start_time=_time(14), end_time=_time(18)))
        _db.session.add(WorkingHours(therapist_id=therapist.id, weekday=5,
                                     start_time=_time(9), end_time=_time(13)))
        services = {}
        for order, (name, minutes, price) in enumerate(
            [("30 minute massage", 30, 3500), ("60 minute massage", 60, 5500),
             ("90 minute massage", 90, 7500)]
        ):
            service = Service(name=name, duration_minutes=minutes, price_pence=price,
                              buffer_minutes=15, sort_order=order, description="")
            _db.session.add(service)
            _db.session.flush()
            services[name] = service.id
        _db.session.add(IntakeForm(client_id=client.id, answers={"complaints": "Stiff back"},
                                   red_flags=[], consent_version=CONSENT_VERSION,
                                   consent_given_at=utcnow(), submitted_at=utcnow()))
        _db.session.commit()
    return Diary(therapist=therapist, client=client, services=services)
