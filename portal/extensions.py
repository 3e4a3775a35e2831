"""Flask extensions, created unbound and initialised in create_app()."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine

from portal.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
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
    migrate.init_app(
        app, db, directory=str(app.config.get("MIGRATIONS_DIR") or _migrations_dir()),
        render_as_batch=True, compare_type=True,
    )
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
