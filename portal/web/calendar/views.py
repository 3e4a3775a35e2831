"""Private calendar feeds: a secret, revocable address per user."""

from __future__ import annotations

import re

from flask import Blueprint, Response, flash, redirect, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Role
from portal.services import accounts, calendar
from portal.services.errors import NotFound
from portal.web.access import public, restrict
from portal.web.errors import render_error

bp = Blueprint("calendar", __name__, url_prefix="/calendar")
restrict(bp, Role.CLIENT, Role.THERAPIST)

# What secrets.token_urlsafe makes. Anything else (a NUL byte breaks a PostgreSQL query) is
# refused before it reaches the database.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


@bp.route("/<token>.ics")
@public
def feed(token: str):
    """The feed itself: calendar apps fetch it without a session; the token is the key."""
    if not TOKEN_SHAPE.fullmatch(token):
        return render_error(404)
    try:
        practice = accounts.get_practice(db.session)
    except NotFound:
        return render_error(404)
    body = calendar.feed_for_token(db.session, token, practice)
    if body is None:
        return render_error(404)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": 'inline; filename="sessions.ics"',
    })


@bp.route("/feed", methods=["POST"])
def create():
    """Make (or keep) the user's feed address."""
    calendar.feed_token(db.session, current_user._get_current_object())
    flash("Your calendar address is ready. Add it to your calendar app once; new and "
          "changed sessions then appear by themselves.", "success")
    return redirect(url_for("account.index", _anchor="calendar-feed"))


@bp.route("/feed/renew", methods=["POST"])
def renew():
    """A new secret address; the old one stops working at once."""
    calendar.feed_token(db.session, current_user._get_current_object(), renew=True)
    flash("You have a new calendar address. The old one no longer works: replace it in your "
          "calendar app.", "success")
    return redirect(url_for("account.index", _anchor="calendar-feed"))


@bp.route("/feed/off", methods=["POST"])
def turn_off():
    """Switch the feed off."""
    calendar.revoke_feed(db.session, current_user._get_current_object())
    flash("Your calendar feed is turned off. Calendar apps can no longer read your sessions.",
          "success")
    return redirect(url_for("account.index", _anchor="calendar-feed"))
