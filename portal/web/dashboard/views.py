"""The therapist's dashboard: the day at a glance."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Role, User
from portal.services import clients as client_service
from portal.services import diary_days, enquiries, undelivered
from portal.services import messages as message_service
from portal.web.access import restrict
from portal.web.deps import now, practice_zone
from portal.web.invite_form import InviteForm
from portal.web.moved import moved

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
restrict(bp, Role.THERAPIST)

# The client pages moved to their own surface, Clients (/clients/).
moved(bp, "/clients", "clients.index")
moved(bp, "/clients/<int:client_id>", "clients.record")
moved(bp, "/clients/<int:client_id>/audit", "clients.audit")
moved(bp, "/clients/<int:client_id>/export", "clients.export")
moved(bp, "/clients/<int:client_id>/access", "clients.access", methods=["POST"])
moved(bp, "/invite", "clients.invite", methods=["GET", "POST"])
# The practice settings are their own surface, Settings (/settings/).
moved(bp, "/settings", "settings.index", methods=["GET", "POST"])


@bp.route("/")
def index():
    """The therapist's starting point."""
    counts = dict(
        db.session.execute(
            select(User.active, func.count())
            .where(User.role == Role.CLIENT, client_service.not_erased())
            .group_by(User.active)
        ).all()
    )
    recent = db.session.scalars(
        select(User).where(User.role == Role.CLIENT, client_service.not_erased())
        .order_by(User.created_at.desc()).limit(5)
    ).all()
    me, current = current_user._get_current_object(), now()
    day = diary_days.overview(db.session, me, practice_zone(), now=current)
    attention = client_service.count_by_filter(db.session, me, ("pain", "low_adherence"),
                                               current)
    return render_template("dashboard/index.html", active_count=counts.get(True, 0),
                           inactive_count=counts.get(False, 0), recent=recent,
                           form=InviteForm(), day=day, attention=attention, now=current,
                           low_percent=client_service.LOW_ADHERENCE_PERCENT,
                           undelivered=undelivered.count(db.session),
                           unread=message_service.unread_summary(db.session, me),
                           enquiries=enquiries.counts(db.session))
