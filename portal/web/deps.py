"""Small accessors the views share: the clock, the practice and its time zone, the password
hasher, the two-factor keys, tokens, client IP."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.models import Practice, utcnow
from portal.services import practice as practice_service
from portal.services.passwords import Passwords
from portal.services.secret_box import SecretBox
from portal.services.tokens import Tokens
from portal.web import transactions


def now() -> datetime:
    """The current time (aware UTC); tests may replace PORTAL_CLOCK in the config."""
    clock = current_app.config.get("PORTAL_CLOCK")
    return clock() if clock else utcnow()


def practice() -> Practice | None:
    """The practice row, read once per request; None when it is missing or the database is
    down (error pages must still render)."""
    if "practice" not in g:
        try:
            g.practice = practice_service.current(db.session)
        except SQLAlchemyError:
            transactions.mark_failed()
            g.practice = None
    return g.practice


def practice_zone() -> ZoneInfo:
    """The practice's time zone for this request, worked out once (the fallback lives in
    practice_service.zone_of, so pages, emails and rules agree)."""
    if "practice_zone" not in g:
        g.practice_zone = practice_service.zone_of(practice())
    return g.practice_zone


def passwords() -> Passwords:
    """The app's configured password hasher."""
    return current_app.extensions["portal.passwords"]


def secret_box() -> SecretBox:
    """The app's keys for two-factor secrets and recovery codes."""
    return current_app.extensions["portal.secret_box"]


def tokens() -> Tokens:
    """Link tokens signed with the app's secret key."""
    return Tokens(current_app.secret_key)


def client_ip() -> str | None:
    """The caller's address as seen after any trusted proxy."""
    return request.remote_addr
