"""Loading the signed-in user and enforcing idle and absolute session timeouts."""

from __future__ import annotations

from flask import current_app, flash, request, session
from flask_login import current_user, logout_user

from portal.extensions import db, login_manager
from portal.models import User
from portal.web.deps import now


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Accept a session only when its version matches the user's current one."""
    raw_id, _, raw_version = user_id.partition(":")
    if not raw_id.isdigit() or not raw_version.isdigit():
        return None
    user = db.session.get(User, int(raw_id))
    if user is None or not user.is_active or user.session_version != int(raw_version):
        return None
    return user


def start(user: User, *, remember: bool) -> None:
    """A fresh session for a user who just proved who they are."""
    from flask_login import login_user

    # A new session on every login: nothing from before survives (no fixation).
    session.clear()
    login_user(user, remember=remember)
    session.permanent = True
    stamp = now().timestamp()
    session["login_at"] = stamp
    session["seen_at"] = stamp
    session["remember"] = remember


def end() -> None:
    """Sign the current browser out and forget everything in its session."""
    logout_user()
    session.clear()
    # logout_user() asks Flask-Login to delete the remember-me cookie through a session flag
    # that clear() just wiped; without it the browser would keep a (dead) cookie.
    session["_remember"] = "clear"


def enforce_timeouts():
    """before_request: sign out sessions idle or old beyond the configured limits."""
    # Stylesheets and scripts need no user: loading one from the database for each file
    # would cost a query apiece, and while the database is down, the outage page's own
    # styles would fail with it.
    if request.endpoint == "static" or not current_user.is_authenticated:
        return
    current = now().timestamp()
    if "login_at" not in session:
        # Restored from a remember-me cookie: this is a new session.
        session["login_at"] = current
        session["remember"] = True
    elif not session.get("remember"):
        idle = current_app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
        absolute = current_app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds()
        was_idle = current - session.get("seen_at", 0) > idle
        if was_idle or current - session["login_at"] > absolute:
            end()
            # Someone signed out mid-task must not be told they were inactive.
            flash("You were signed out after a period of inactivity. Please sign in again."
                  if was_idle else
                  "For your security, sessions end after a few hours. Please sign in again.",
                  "info")
            return
    # Writing on every request would reissue the cookie each time; a minute is plenty.
    if current - session.get("seen_at", 0) > 60:
        session["seen_at"] = current

