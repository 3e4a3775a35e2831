"""Flask extensions, created unbound and initialised in create_app()."""

from __future__ import annotations

from functools import cached_property

import click
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.models.base import Base

db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
login_manager = LoginManager()
# Storage errors arrive as limits' StorageError whatever the store (Redis in production), so
# the web layer can answer them with its outage page (portal/web/errors.py).
limiter = Limiter(key_func=get_remote_address, default_limits=[],
                  storage_options={"wrap_exceptions": True})


def configure_sqlite(engine: Engine) -> None:
    """Make SQLite behave under several writers: WAL, a busy timeout and BEGIN IMMEDIATE.

    pysqlite opens transactions lazily and SQLAlchemy's FOR UPDATE is a no-op on SQLite, so a
    read-then-write could interleave with another process. Taking the write lock at BEGIN
    serialises writers; WAL keeps readers unblocked meanwhile.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def init_app(app) -> None:
    """Bind every extension to the app."""
    from portal.services.passwords import HashParams, Passwords
    from portal.services.secret_box import SecretBox

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
    app.extensions["migrate"] = Migrations(
        db, directory=str(app.config.get("MIGRATIONS_DIR") or _migrations_dir()),
        render_as_batch=True, compare_type=True)
    app.cli.add_command(MigrationsCommand("db"))
    login_manager.init_app(app)
    limiter.init_app(app)
    app.extensions["portal.passwords"] = Passwords(
        HashParams(
            time_cost=app.config["PASSWORD_HASH_TIME_COST"],
            memory_cost=app.config["PASSWORD_HASH_MEMORY_COST"],
            parallelism=app.config["PASSWORD_HASH_PARALLELISM"],
        )
    )
    app.extensions["portal.secret_box"] = SecretBox(
        app.config["TWO_FACTOR_KEY"] or app.config["SECRET_KEY"])


def _migrations_dir():
    from portal.config import PROJECT_ROOT

    return PROJECT_ROOT / "migrations"


# --- migrations, loaded only by the commands that use them ------------------------------------
#
# Flask-Migrate imports Alembic (about 10 MB of memory) as soon as it is imported, and every web
# worker would carry it for `flask db`, which no request runs. So the app registers what
# Flask-Migrate's init_app would, without importing it: the configuration its functions and
# migrations/env.py read from app.extensions["migrate"], and a `db` command group that loads
# Flask-Migrate's own when it is run.


class Migrations:
    """app.extensions["migrate"] as Flask-Migrate reads it (db, directory, configure_args,
    and its Migrate object, made on first use)."""

    def __init__(self, db: SQLAlchemy, *, directory: str, **configure_args):
        self.db = db
        self.directory = directory
        self.configure_args = configure_args

    @property
    def metadata(self):
        """The models' metadata (older env.py files read it here)."""
        return self.db.metadata

    @cached_property
    def migrate(self):
        """Flask-Migrate's Migrate for this app (not init_app: this object is the config)."""
        from flask_migrate import Migrate

        return Migrate(db=self.db, directory=self.directory, **self.configure_args)


class MigrationsCommand(click.Group):
    """`flask db`: Flask-Migrate's command group, imported when the command is run."""

    def __init__(self, name: str):
        super().__init__(name, help="Perform database migrations (Flask-Migrate).")

    def make_context(self, info_name, args, parent=None, **extra):
        """Hand the arguments to Flask-Migrate's own group, which then runs as usual."""
        from flask_migrate.cli import db as migrations

        return migrations.make_context(info_name, args, parent=parent, **extra)
