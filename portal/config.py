"""Configuration: defaults, then instance/config.py, then the environment, then test overrides."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """Raised when the app would start in an unsafe configuration."""


def defaults(instance_path: Path) -> dict:
    """Settings that suit development on a laptop; production overrides them by environment."""
    return {
        # "production" unless told otherwise: forgetting a variable must fail safe.
        "PORTAL_ENV": "production",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance_path / 'portal.sqlite3'}",
        # hide_parameters: an error's message in the log never quotes the values of the
        # statement that failed (a note, a pain report, an email address).
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        # False behind a pooler that hands each transaction to any server connection
        # (PgBouncer's pool_mode = transaction before 1.21): see _without_prepared_statements.
        "DATABASE_PREPARED_STATEMENTS": True,
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "SESSION_COOKIE_NAME": "portal_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_NAME": "portal_remember",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        # Idle and absolute limits for a login without "remember me".
        "SESSION_IDLE_TIMEOUT": timedelta(hours=1),
        "SESSION_ABSOLUTE_TIMEOUT": timedelta(hours=12),
        "PERMANENT_SESSION_LIFETIME": timedelta(days=30),
        "INVITE_MAX_AGE": timedelta(days=7),
        "RESET_MAX_AGE": timedelta(hours=2),
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_LOGIN": "10 per minute;60 per hour",
        "RATELIMIT_EMAIL": "5 per minute;30 per hour",
        # Messages sent by one signed-in person: room for a conversation, not for a script.
        "RATELIMIT_MESSAGE": "6 per minute;40 per hour",
        # The public "Get in touch" form: a person asks a question or two, not dozens.
        "RATELIMIT_ENQUIRY": "3 per minute;20 per hour",
        # Wrong passwords allowed per LOGIN_LOCKOUT: shared by browsers that have never signed
        # in to the account, and for each browser that has (its device cookie); a bucket that
        # uses its allowance up is paused for LOGIN_LOCKOUT (services/throttle.py).
        "LOGIN_UNTRUSTED_FAILURES": 10,
        "LOGIN_DEVICE_FAILURES": 10,
        "LOGIN_LOCKOUT": timedelta(hours=1),
        # At most one "someone is trying to sign in" email per account this often.
        "LOGIN_ALERT_EVERY": timedelta(hours=6),
        "DEVICE_COOKIE_NAME": "portal_device",
        "DEVICE_COOKIE_SECURE": False,
        "DEVICE_COOKIE_DURATION": timedelta(days=365),
        # Two-factor sign-in. The key that encrypts authenticator secrets and hashes recovery
        # codes is derived from TWO_FACTOR_KEY, or from SECRET_KEY when that is empty.
        "TWO_FACTOR_KEY": "",
        # How long someone who gave the right password has to give the second factor.
        "SECOND_FACTOR_TIMEOUT": timedelta(minutes=10),
        # Passkeys: the site's domain and origin (https://portal.example.com). Development
        # takes them from the address in the browser; production needs both set, or offers
        # no passkeys (a forged Host header must not pick the domain passkeys are checked for).
        "WEBAUTHN_RP_ID": "",
        "WEBAUTHN_ORIGIN": "",
        # Argon2id cost; tests lower it to keep the suite quick.
        "PASSWORD_HASH_TIME_COST": 3,
        "PASSWORD_HASH_MEMORY_COST": 64 * 1024,
        "PASSWORD_HASH_PARALLELISM": 4,
        "PRACTICE_TIMEZONE": "Europe/London",
        "MAIL_SERVER": "",
        "MAIL_PORT": 587,
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_USE_TLS": True,
        "MAIL_USE_SSL": False,
        "MAIL_TIMEOUT": 30,
        "MAIL_FROM": "Portal <no-reply@localhost>",
        "MAIL_FILE_DIR": str(instance_path / "mail"),
        # Uploaded exercise pictures: outside static/, served only to signed-in users.
        "UPLOAD_DIR": str(instance_path / "uploads"),
        # Days an email is retried (at most an hour apart) before it is marked not delivered
        # and shown to the therapist; "Send again" gives it as long again.
        "OUTBOX_RETRY_DAYS": 7,
        # `flask backup`: where archives go, how many to keep, the encryption key (URL-safe
        # base64 of 32 bytes, from PORTAL_BACKUP_KEY; none: archives are not encrypted) and
        # the PostgreSQL client programs (found on PATH when empty).
        "BACKUP_DIR": str(instance_path / "backups"),
        "BACKUP_KEEP": 14,
        "BACKUP_KEY": "",
        "PG_DUMP": "",
        "PG_RESTORE": "",
        "TRUSTED_PROXIES": 0,
        # Static files (portal/web/static_files.py): content-hashed names with compressed
        # copies, built at start into STATIC_BUILD_DIR; None means on except in development,
        # where edited files are served as they are, under their own names.
        "STATIC_HASHED_NAMES": None,
        "STATIC_BUILD_DIR": str(instance_path / "static"),
    }


def load(app: Flask, test_config: dict | None) -> None:
    """Fill app.config in the documented order and refuse unsafe production settings."""
    instance_path = Path(app.instance_path)
    app.config.update(defaults(instance_path))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("FLASK")
    if os.environ.get("PORTAL_ENV"):
        app.config["PORTAL_ENV"] = os.environ["PORTAL_ENV"]
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if os.environ.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = os.environ["RATELIMIT_STORAGE_URI"]
    if os.environ.get("PRACTICE_TIMEZONE"):
        app.config["PRACTICE_TIMEZONE"] = os.environ["PRACTICE_TIMEZONE"]
    for variable, setting in (("PORTAL_BACKUP_KEY", "BACKUP_KEY"), ("PORTAL_PG_DUMP", "PG_DUMP"),
                              ("PORTAL_PG_RESTORE", "PG_RESTORE")):
        if os.environ.get(variable):
            app.config[setting] = os.environ[variable]
    if test_config:
        app.config.update(test_config)

    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        app.config["SQLALCHEMY_DATABASE_URI"]
    )
    _give_up_on_silent_servers(app)
    _without_prepared_statements(app)
    if app.config["PORTAL_ENV"] == "production":
        _harden_for_production(app)
    elif not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _development_secret(instance_path)


def normalise_database_url(url: str) -> str:
    """Accept the postgres:// spelling hosting platforms hand out and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


# A database or Redis host that stops answering, rather than refusing, would hold every request
# until the operating system gives up (minutes), long after gunicorn (30 s) has killed the
# worker and the visitor has seen a bare error. Give up sooner and show the outage page.
DATABASE_CONNECT_TIMEOUT = 5
REDIS_TIMEOUT = 2


def _give_up_on_silent_servers(app: Flask) -> None:
    """Connection timeouts for PostgreSQL and Redis, unless their URLs set their own."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options["connect_args"] = {"connect_timeout": DATABASE_CONNECT_TIMEOUT,
                                   **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis://", "rediss://")):
        # redis-py lets options in the URL win over these.
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {
            "socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT,
            **app.config.get("RATELIMIT_STORAGE_OPTIONS", {}),
        }


def _without_prepared_statements(app: Flask) -> None:
    """Turn psycopg's server-side prepared statements off when DATABASE_PREPARED_STATEMENTS
    is false.

    psycopg prepares a statement on its connection once it has run it prepare_threshold (5)
    times. A prepared statement lives in one server session, but PgBouncer in transaction
    mode gives each transaction whichever server connection is free: the next run finds
    "prepared statement _pg3_0 does not exist" (or "already exists") and the page is a 500.
    PgBouncer 1.18 (Debian 12) cannot track them; None makes psycopg never prepare.
    """
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql" or app.config["DATABASE_PREPARED_STATEMENTS"]:
        return
    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    options["connect_args"] = {**options.get("connect_args", {}), "prepare_threshold": None}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def is_sqlite(url: str) -> bool:
    """True for SQLite database URLs."""
    return url.startswith("sqlite")


def _harden_for_production(app: Flask) -> None:
    secret = app.config.get("SECRET_KEY")
    if not secret or len(str(secret)) < 32:
        raise ConfigError(
            "FLASK_SECRET_KEY must be set to a random value of at least 32 characters in "
            "production (python -c 'import secrets; print(secrets.token_hex(32))'). "
            "Set PORTAL_ENV=development to run locally."
        )
    # The __Host- prefix makes the browser refuse the cookie unless it is Secure, host-only
    # and for path /, so a sibling subdomain cannot plant or overwrite it.
    app.config.update(
        SESSION_COOKIE_SECURE=True,
        REMEMBER_COOKIE_SECURE=True,
        SESSION_COOKIE_NAME="__Host-portal_session",
        REMEMBER_COOKIE_NAME="__Host-portal_remember",
        DEVICE_COOKIE_SECURE=True,
        DEVICE_COOKIE_NAME="__Host-portal_device",
        SESSION_COOKIE_DOMAIN=None,
        REMEMBER_COOKIE_DOMAIN=None,
        PREFERRED_URL_SCHEME="https",
    )


def _development_secret(instance_path: Path) -> str:
    """A per-checkout random key kept under instance/, so dev logins survive restarts."""
    instance_path.mkdir(parents=True, exist_ok=True)
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
