"""The front door: each role's home page, and the health check."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.models import AppointmentStatus, Role
from portal.services import booking, intake, library
from portal.services import messages as message_service
from portal.web.access import public, roles
from portal.web.deps import now
from portal.web.today import summary as programme_summary

bp = Blueprint("home", __name__, url_prefix="/")


@bp.route("/")
@roles(Role.CLIENT, Role.THERAPIST)
def index():
    """Clients get their home page; therapists go to the dashboard."""
    if current_user.is_therapist:
        return redirect(url_for("dashboard.index"))
    user = current_user._get_current_object()
    current = now()
    upcoming = [a for a in booking.client_appointments(db.session, user)
                if a.status is AppointmentStatus.BOOKED and a.ends_at > current]
    return render_template("home/client.html",
                           next_appointment=min(upcoming, key=lambda a: a.starts_at,
                                                default=None),
                           intake_done=intake.is_complete(db.session, user),
                           programme=programme_summary(user),
                           featured_exercise=library.featured_exercise(db.session),
                           unread_replies=message_service.client_unread(db.session, user))


@bp.route("/healthz")
@public
def healthz():
    """200 when the database answers, 503 otherwise; nothing else is revealed."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return {"status": "unavailable"}, 503
    return {"status": "ok"}, 200
