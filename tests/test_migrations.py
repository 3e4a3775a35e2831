"""`flask db upgrade` builds the schema from nothing on SQLite and PostgreSQL, `downgrade base`
takes it all away again, and the migrations describe exactly the models."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from portal import create_app
from portal.extensions import db
from portal.models import Practice, Role, User
from portal.services import adherence, adherence_summary, client_day
from portal.services.client_day import FeedbackInput
from tests.clients_support import give_programme, set_up_practice
from tests.conftest import (
    base_config,
    create_postgres_database,
    drop_postgres_database,
    postgres_server_url,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path: Path) -> Iterator[str]:
    """The URL of a brand-new database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    server = postgres_server_url()
    if server is None:
        pytest.skip("PostgreSQL not configured: set TEST_DATABASE_URL to run these")
    url = create_postgres_database(server)
    try:
        yield url
    finally:
        drop_postgres_database(server, url)


@pytest.fixture
def fresh_app(empty_database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app pointed at the empty database."""
    application = create_app(base_config(empty_database_url, tmp_path))
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def flask_db(app: Flask, *args: str) -> None:
    """Run `flask db <args>` through the app's CLI and insist it worked."""
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exception is None, result.output
    assert result.exit_code == 0, result.output


def tables(app: Flask) -> set[str]:
    """The tables that exist in the database now."""
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


def current_revision(app: Flask) -> str | None:
    """The revision alembic_version records."""
    with app.app_context(), db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def script_directory(app: Flask) -> ScriptDirectory:
    """The migrations folder the app uses."""
    with app.app_context():
        return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def schema_diff(app: Flask) -> list:
    """What autogenerate would put in a new revision: empty when migrations match models."""
    with app.app_context(), db.engine.connect() as conn, warnings.catch_warnings():
        # Indexes the models declare for PostgreSQL only (`info["dialects"]`, created by
        # .ddl_if) are on expressions, which Alembic says it cannot compare on SQLite.
        for table in db.metadata.tables.values():
            for index in table.indexes:
                if conn.dialect.name not in index.info.get("dialects", (conn.dialect.name,)):
                    warnings.filterwarnings("ignore", message=(
                        "autogenerate skipping metadata-specified expression-based index "
                        f"'{index.name}'"))
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "render_as_batch": conn.dialect.name == "sqlite",
        })
        return compare_metadata(context, db.metadata)


def model_tables() -> set[str]:
    return set(db.metadata.tables) | {"alembic_version"}


def test_migrations_form_one_line_of_history(tmp_path):
    app = create_app(base_config(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path))
    script = script_directory(app)
    assert len(script.get_heads()) == 1, f"several heads, merge them: {script.get_heads()}"
    assert len(script.get_bases()) == 1
    with app.app_context():
        db.engine.dispose()


def test_upgrade_from_empty_builds_the_models_schema(fresh_app):
    assert tables(fresh_app) == set()

    flask_db(fresh_app, "upgrade")

    assert tables(fresh_app) == model_tables()
    assert current_revision(fresh_app) == script_directory(fresh_app).get_current_head()
    assert schema_diff(fresh_app) == []


def test_downgrade_to_base_then_upgrade_again(fresh_app):
    flask_db(fresh_app, "upgrade")

    flask_db(fresh_app, "downgrade", "base")

    assert tables(fresh_app) <= {"alembic_version"}
    assert current_revision(fresh_app) is None

    flask_db(fresh_app, "upgrade")

    assert tables(fresh_app) == model_tables()
    assert schema_diff(fresh_app) == []


def test_each_revision_downgrades_and_upgrades_on_its_own(fresh_app):
    flask_db(fresh_app, "upgrade")
    revisions = [rev.revision for rev in script_directory(fresh_app).walk_revisions()]

    for target in revisions[1:]:  # newest first
        flask_db(fresh_app, "downgrade", target)
        assert current_revision(fresh_app) == target
    flask_db(fresh_app, "downgrade", "base")
    assert current_revision(fresh_app) is None

    for target in reversed(revisions):
        flask_db(fresh_app, "upgrade", target)
        assert current_revision(fresh_app) == target
    assert schema_diff(fresh_app) == []


def test_the_client_upcoming_limit_reaches_existing_practices_as_four(fresh_app):
    """A practice that existed before the setting gets the default, and the database keeps
    the value between 1 and 50 whatever writes it."""
    flask_db(fresh_app, "upgrade", "260db7097d98")
    with fresh_app.app_context(), db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO practice (name, timezone, self_registration, slot_step_minutes, "
            "min_notice_minutes, horizon_days, cancel_window_hours, reminder_lead_hours, "
            "created_at, updated_at) VALUES ('Old Practice', 'Europe/London', false, 15, 720, "
            "56, 24, 24, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))

    flask_db(fresh_app, "upgrade")

    with fresh_app.app_context():
        with db.engine.begin() as conn:
            assert conn.scalar(text("SELECT max_upcoming_per_client FROM practice")) == 4
            conn.execute(text("UPDATE practice SET max_upcoming_per_client = 50"))
        for bad in (0, 51):
            with pytest.raises(IntegrityError), db.engine.begin() as conn:
                conn.execute(text("UPDATE practice SET max_upcoming_per_client = :n"),
                             {"n": bad})
        with db.engine.connect() as conn:
            assert conn.scalar(text("SELECT max_upcoming_per_client FROM practice")) == 50


def test_the_adherence_summary_is_filled_from_the_programmes_and_logs_already_there(fresh_app):
    """A practice with programmes and logs before the summary existed gets it filled by the
    migration that adds it, as the rule computes it."""
    flask_db(fresh_app, "upgrade")
    with fresh_app.app_context():
        session = db.session
        therapist = User(email="jo@example.com", name="Jo Fletcher", role=Role.THERAPIST)
        session.add_all([therapist, Practice(name="Old Practice", timezone="Europe/London")])
        session.flush()
        practice = set_up_practice(session, therapist)
        now = datetime.now(UTC)
        today = now.astimezone(ZoneInfo("Europe/London")).date()
        for n in range(3):
            client = User(email=f"client{n}@example.com", name=f"Client {n}", role=Role.CLIENT)
            session.add(client)
            session.flush()
            item_id = give_programme(session, practice, client)
            for days_ago in range(0, 10, n + 1):
                client_day.log_completion(session, client, item_id, FeedbackInput(both="nothing"),
                                          "", f"migration-key-{n}-{days_ago}",
                                          today - timedelta(days=days_ago), now)
        session.commit()
        expected = {client_id: (sum(w.prescribed for w in weeks), sum(w.done for w in weeks))
                    for client_id, weeks in adherence.weekly(
                        session, ZoneInfo("Europe/London"), today, 2).items()}
        session.remove()
    assert len(expected) == 3 and all(done for _, done in expected.values())

    flask_db(fresh_app, "downgrade", "325a8a426829")
    assert "adherence_week" not in tables(fresh_app)
    flask_db(fresh_app, "upgrade")

    with fresh_app.app_context():
        today = datetime.now(UTC).astimezone(ZoneInfo("Europe/London")).date()
        summary = {row.client_id: (row.prescribed, row.done) for row in
                   db.session.execute(adherence_summary.totals(today, 2))}
        db.session.remove()
    assert summary == expected
