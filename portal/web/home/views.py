"""The front door: the practice's public front page (each signed-in role's home page
instead), robots.txt and the sitemap for search engines, and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.models import AppointmentStatus
from portal.services import articles, booking, intake, library
from portal.services import messages as message_service
from portal.web import front_page
from portal.web.access import public
from portal.web.deps import now
from portal.web.today import summary as programme_summary

bp = Blueprint("home", __name__, url_prefix="/")

SITEMAP_ARTICLES = 5000


@bp.route("/")
@public
def index():
    """Visitors get the practice's front page; clients their home page; therapists go to
    the dashboard. The front page touches no session: it sets no cookie."""
    if not current_user.is_authenticated:
        return front_page.render()
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


@bp.route("/robots.txt")
@public
def robots():
    """Crawlers may read the front page and the articles, and nothing else."""
    body = render_template("home/robots.txt",
                           sitemap=url_for("home.sitemap", _external=True))
    return current_app.response_class(body, mimetype="text/plain")


@bp.route("/sitemap.xml")
@public
def sitemap():
    """The public pages, for search engines (sitemaps.org protocol)."""
    found = articles.latest(db.session, now(), SITEMAP_ARTICLES)
    body = render_template("home/sitemap.xml", articles=found, changed_at=articles.changed_at)
    return current_app.response_class(body, mimetype="application/xml")


@bp.route("/healthz")
@public
def healthz():
    """200 when the database answers, 503 otherwise; nothing else is revealed."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return {"status": "unavailable"}, 503
    return {"status": "ok"}, 200
