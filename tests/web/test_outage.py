"""Graceful failure: while the database or the rate-limit store is not answering, every page
is the portal's own 503 page (security headers, Retry-After, no traceback), never a 500.

The database goes away mid-test: the app's engine is swapped for one of the same backend that
cannot connect (PostgreSQL on a port nothing listens on, SQLite in a folder that does not
exist), so the errors are the drivers' own. The rate-limit store is Redis on such a port.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask, url_for
from limits.errors import StorageError
from limits.storage import storage_from_string
from sqlalchemy.orm import Session

from portal import config, create_app
from portal.extensions import db, limiter
from portal.models import Role, User
from portal.services import library
from portal.web import access
from portal.web.errors import DATABASE_DOWN, LIMITS_DOWN, NOT_SAVED, NOT_USED
from portal.web.headers import CSP
from tests.conftest import TEST_PASSWORD, base_config, csrf_from, login

NOBODY_LISTENS = "127.0.0.1:1"
DEAD_REDIS = f"redis://{NOBODY_LISTENS}/0"


def assert_outage_page(response, wording=DATABASE_DOWN, *, sent: bool = False,
                       retry: str | None = None) -> str:
    """The portal's 503 page: every security header, Retry-After, its sentences, the site's
    styles, and nothing about what broke."""
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 503, page[:500]
    headers = response.headers
    assert headers["Retry-After"] == "60"
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in headers["Permissions-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert response.mimetype == "text/html"
    title, text = wording
    assert f"<h1>{title}</h1>" in page
    assert text in page
    # After a form: whether what was sent is lost (the database) or untouched (the limits).
    assert (NOT_SAVED in page) is (sent and wording is DATABASE_DOWN)
    assert (NOT_USED in page) is (sent and wording is LIMITS_DOWN)
    if retry:
        assert f'href="{retry}">Try again</a>' in page
    else:
        assert "Try again</a>" not in page
    assert 'class="site-header"' in page
    assert re.search(r'href="/static/css/portal\.[0-9a-f]{12}\.css"', page)
    assert "Sign out" not in page  # drawn without asking the database who is signed in
    for leak in ("Traceback", "Error:", "psycopg", "sqlite", "redis", NOBODY_LISTENS,
                 "Internal Server Error"):
        assert leak not in page, leak
    return page


@pytest.fixture
def stop_database(app: Flask, tmp_path) -> Iterator[Callable[[], None]]:
    """stop_database(): from then on the app's database cannot be reached."""
    engines = db._app_engines[app]  # Flask-SQLAlchemy's engine per bind, as conftest swaps it
    working = engines[None]
    url = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        url = url.set(host="127.0.0.1", port=1)
    else:
        url = url.set(database=str(tmp_path / "no-such-folder" / "portal.sqlite3"))
    unreachable = sa.create_engine(url)

    def stop() -> None:
        engines[None] = unreachable

    yield stop
    engines[None] = working
    unreachable.dispose()


@pytest.fixture
def stop_rate_limit_store(app: Flask, monkeypatch) -> Callable[[], None]:
    """stop_rate_limit_store(): from then on the limiter counts in a Redis that is down,
    built with the options the app gave its own store."""

    def stop() -> None:
        storage = storage_from_string(DEAD_REDIS, **limiter._storage_options)
        monkeypatch.setattr(limiter, "_storage", storage)
        monkeypatch.setattr(limiter, "_limiter", type(limiter._limiter)(storage))

    return stop


# --- the database -------------------------------------------------------------------------


def test_a_stranger_gets_the_503_page_for_the_sign_in_page(client, practice, stop_database):
    stop_database()
    assert_outage_page(client.get("/auth/login"), retry="/auth/login")
    with client.get("/static/css/portal.css") as response:
        assert response.status_code == 200
    assert client.get("/healthz").status_code == 503


def test_a_signed_in_client_gets_the_503_page_everywhere(as_client, stop_database):
    """Loading the user from the session fails first (enforce_timeouts, load_user), so even a
    missing page or a refused request is the 503 page; the styles still arrive."""
    stop_database()
    assert_outage_page(as_client.get("/?from=home"), retry="/?from=home")
    for path in ("/account/", "/programme/", "/healthz"):
        assert_outage_page(as_client.get(path), retry=path)
    assert_outage_page(as_client.get("/no-such-page"), retry=None)
    # A NUL byte is refused with a 400 before the user is loaded; the 400 page would load
    # them, and gets the 503 page instead of failing.
    assert_outage_page(as_client.get("/account/?q=%00"), retry="/account/?q=%00")
    with as_client.get("/static/css/portal.css") as response:
        assert response.status_code == 200
    with as_client.get("/static/js/enhance.js") as response:
        assert response.status_code == 200


def test_forms_sent_while_the_database_is_down_say_they_were_not_saved(
        client, make_client, stop_database):
    user = make_client()
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    stop_database()
    assert_outage_page(client.post("/auth/login", data={
        "csrf_token": token, "email": user.email, "password": TEST_PASSWORD}),
        sent=True, retry="/auth/login")


def test_a_signed_in_form_gets_the_503_page(as_client, stop_database):
    token = csrf_from(as_client.get("/account/").get_data(as_text=True))
    stop_database()
    assert_outage_page(as_client.post("/calendar/feed", data={"csrf_token": token}), sent=True)
    assert_outage_page(as_client.post("/auth/logout", data={"csrf_token": token}), sent=True)


def test_a_commit_that_loses_the_connection_is_503_and_saves_nothing(
        app, as_client, monkeypatch):
    """The after_request commit (portal/web/transactions.py) answers an outage with the 503
    page, not a success page for something unsaved, and not the 500 page."""
    token = csrf_from(as_client.get("/account/").get_data(as_text=True))

    def lost(self):
        raise sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Session, "commit", lost)
    response = as_client.post("/calendar/feed", data={"csrf_token": token})
    monkeypatch.undo()
    assert_outage_page(response, sent=True)
    with app.app_context():
        assert db.session.get(User, as_client.user.id).calendar_token is None


@pytest.mark.parametrize(("error", "status"), [
    (sa.exc.OperationalError("SELECT", {}, Exception("terminating connection")), 503),
    # Another class, when SQLAlchemy found the connection gone (psycopg: "the connection is
    # closed")...
    (sa.exc.InterfaceError("SELECT", {}, Exception("the connection is closed"),
                           connection_invalidated=True), 503),
    # ...and not when the connection is fine: bugs, the 500 page.
    (sa.exc.InterfaceError("SELECT", {}, Exception("type 'dict' is not supported")), 500),
    (sa.exc.ProgrammingError("SELECT", {}, Exception("syntax error")), 500),
])
def test_only_database_outages_are_503(app, as_client, monkeypatch, error, status):
    """An error raised while a view reads: an outage is answered by the app's 503 page; any
    other goes on as unhandled, which a test sees raised and production answers with the 500
    page. Either way with the headers, and nothing reaches the server."""

    def broken(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(library, "featured_exercise", broken)
    if status == 503:
        assert_outage_page(as_client.get("/"), retry="/")
        return
    with pytest.raises(type(error)):
        as_client.get("/")
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production
    response = as_client.get("/")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    assert response.headers["Content-Security-Policy"] == CSP
    assert "Retry-After" not in response.headers


# --- the rate-limit store -----------------------------------------------------------------


def test_an_outage_met_after_the_view_still_gets_the_503_page(app, client, practice,
                                                              monkeypatch):
    """Redis going away between the limit check and the rate-limit headers, which
    Flask-Limiter adds in an after_request hook: no handler sees that error, and yet the
    answer is the 503 page with every header (production settings)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))

    def gone(*_args, **_kwargs):
        raise StorageError(ConnectionError("Connection refused"))

    monkeypatch.setattr(limiter.storage, "get_expiry", gone)
    response = client.post("/auth/login", data={
        "csrf_token": token, "email": "nobody@example.com", "password": "a guess"})
    assert_outage_page(response, LIMITS_DOWN, sent=True, retry="/auth/login")


def rate_limited_rules(app: Flask) -> list:
    """Every route whose view carries a @limiter.limit (Flask-Limiter marks its wrapper with
    a proxy of the limiter, hence == rather than is)."""
    return [rule for rule in app.url_map.iter_rules()
            if getattr(app.view_functions[rule.endpoint], "__wrapper-limiter-instance", None)
            == limiter]


def test_every_rate_limited_form_waits_while_the_limit_store_is_down(
        app, as_therapist, make_client, stop_rate_limit_store):
    """Failing closed: no form that the limits guard is handled without its count."""
    rules = rate_limited_rules(app)
    assert {rule.endpoint for rule in rules} >= {
        "auth.login", "auth.forgot", "auth.reset", "auth.accept_invite", "auth.register",
        "clients.invite", "messages.new", "messages.thread"}
    token = csrf_from(as_therapist.get("/clients/invite").get_data(as_text=True))
    # Forms only a client may send (deleting one's account, writing to the practice) are
    # sent by a client.
    alex = app.test_client()
    assert login(alex, make_client().email).status_code == 302
    alex_token = csrf_from(alex.get("/account/").get_data(as_text=True))
    stop_rate_limit_store()
    for rule in rules:
        with app.test_request_context():
            path = url_for(rule.endpoint, **dict.fromkeys(rule.arguments, 1))
        client_only = access.access_of(app, rule.endpoint) == frozenset({Role.CLIENT})
        sender, csrf = ((alex, alex_token) if client_only or rule.endpoint.startswith("account.")
                        else (as_therapist, token))
        response = sender.post(path, data={
            "csrf_token": csrf, "email": "someone@example.com", "name": "Some One",
            "password": "whatever it is", "confirm": "y"})
        # "Try again" leads to the form's page; a form with no page of its own (the passkey
        # sign-in is posted from the login page) offers none.
        assert_outage_page(response, LIMITS_DOWN, sent=True,
                           retry=path if "GET" in rule.methods else None)
    # Pages without a limit carry on, and so do forms without one.
    assert as_therapist.get("/dashboard/").status_code == 200
    assert as_therapist.get("/clients/invite").status_code == 200
    assert as_therapist.post("/auth/logout", data={"csrf_token": token}).status_code == 302


def test_sign_in_waits_even_with_the_right_password(
        client, make_client, outbox, stop_rate_limit_store):
    """While the count can't be kept, nobody is let in (or sent email) uncounted."""
    user = make_client()
    page = client.get("/auth/login")
    token = csrf_from(page.get_data(as_text=True))
    stop_rate_limit_store()
    assert client.get("/auth/login").status_code == 200  # only sending is limited
    response = client.post("/auth/login", data={
        "csrf_token": token, "email": user.email, "password": TEST_PASSWORD})
    assert_outage_page(response, LIMITS_DOWN, sent=True, retry="/auth/login")
    assert client.get("/account/").status_code == 302  # still signed out
    response = client.post("/auth/forgot", data={"csrf_token": token, "email": user.email})
    assert_outage_page(response, LIMITS_DOWN, sent=True, retry="/auth/forgot")
    assert outbox() == []


def test_a_configured_redis_that_is_down_gives_the_503_page(tmp_path):
    """The real wiring: RATELIMIT_STORAGE_URI pointing at a Redis that refuses connections.
    The limit is checked before the view touches the (here also unreachable) database."""
    saved = limiter._storage, limiter._limiter
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'portal.sqlite3'}"
    app = create_app({**base_config(url, tmp_path), "RATELIMIT_STORAGE_URI": DEAD_REDIS,
                      "WTF_CSRF_ENABLED": False})
    try:
        response = app.test_client().post("/auth/login", data={
            "email": "someone@example.com", "password": "a guess"})
        assert_outage_page(response, LIMITS_DOWN, sent=True, retry="/auth/login")
    finally:
        limiter._storage, limiter._limiter = saved
        with app.app_context():
            db.engine.dispose()


# --- servers that accept and never answer -------------------------------------------------


def loaded_config(tmp_path, **settings) -> dict:
    """The configuration create_app would build from these settings."""
    probe = Flask("probe", instance_path=str(tmp_path))
    config.load(probe, {**base_config("sqlite://", tmp_path), **settings})
    return probe.config


def test_silent_database_and_redis_hosts_are_given_up_on_in_seconds(tmp_path):
    """A host that accepts the connection and then says nothing would hold every request past
    gunicorn's 30 s. Against a local socket that never answers, the 503 page came after 5 s
    (PostgreSQL) and 2 s (Redis); without these settings the request waited on."""
    settings = loaded_config(tmp_path, SQLALCHEMY_DATABASE_URI="postgresql://db.internal/portal",
                             RATELIMIT_STORAGE_URI="redis://cache.internal:6379/0")
    assert settings["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"connect_timeout": 5}
    assert settings["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    assert settings["RATELIMIT_STORAGE_OPTIONS"] == {"socket_connect_timeout": 2,
                                                     "socket_timeout": 2}
    # What the deployer wrote wins.
    settings = loaded_config(
        tmp_path, SQLALCHEMY_DATABASE_URI="postgresql://db.internal/portal?connect_timeout=20",
        RATELIMIT_STORAGE_URI="rediss://cache.internal:6379/0",
        RATELIMIT_STORAGE_OPTIONS={"socket_timeout": 5})
    assert "connect_args" not in settings["SQLALCHEMY_ENGINE_OPTIONS"]
    assert settings["RATELIMIT_STORAGE_OPTIONS"] == {"socket_connect_timeout": 2,
                                                     "socket_timeout": 5}
    # Neither SQLite nor the in-memory counter waits on a network.
    settings = loaded_config(tmp_path)
    assert "connect_args" not in settings["SQLALCHEMY_ENGINE_OPTIONS"]
    assert "RATELIMIT_STORAGE_OPTIONS" not in settings


def test_a_failed_statement_never_quotes_its_values(app):
    """Errors reach the server's log: the values of the failing statement (health data) must
    not be in their text."""
    with app.app_context():
        with pytest.raises(sa.exc.DBAPIError) as error:
            db.session.execute(sa.text("SELECT * FROM no_such_table WHERE note = :note"),
                               {"note": "sharp pain in the left knee"})
        db.session.rollback()
    assert "sharp pain" not in str(error.value)
    assert "hidden due to hide_parameters" in str(error.value)
