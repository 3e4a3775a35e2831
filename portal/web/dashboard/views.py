"""The therapist's dashboard: the day at a glance and the practice settings."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Role, User
from portal.services import accounts, diary
from portal.services import agenda as agenda_service
from portal.services import clients as client_service
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput
from portal.web.access import restrict
from portal.web.dashboard.forms import SettingsForm, zone_choices
from portal.web.deps import client_ip, now
from portal.web.formatting import practice_zone
from portal.web.forms import apply_error
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


@bp.route("/")
def index():
    """The therapist's starting point."""
    counts = dict(
        db.session.execute(
            select(User.active, func.count()).where(User.role == Role.CLIENT)
            .group_by(User.active)
        ).all()
    )
    recent = db.session.scalars(
        select(User).where(User.role == Role.CLIENT).order_by(User.created_at.desc()).limit(5)
    ).all()
    me, current = current_user._get_current_object(), now()
    day = agenda_service.overview(db.session, me, practice_zone(), now=current)
    attention = client_service.count_by_filter(db.session, me, ("pain", "low_adherence"),
                                               current)
    return render_template("dashboard/index.html", active_count=counts.get(True, 0),
                           inactive_count=counts.get(False, 0), recent=recent,
                           form=InviteForm(), day=day, attention=attention, now=current,
                           low_percent=client_service.LOW_ADHERENCE_PERCENT)


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """Every practice setting: name, contact details, time zone, registration and the booking
    rules. One form saved in one commit, so a mistake anywhere keeps everything typed."""
    practice = accounts.get_practice(db.session)
    form = SettingsForm(obj=None if request.method == "POST" else practice)
    form.timezone.choices = zone_choices(practice.timezone)
    if not form.is_submitted():
        form.fill(practice)
    if form.validate_on_submit():
        me, errors = current_user._get_current_object(), []
        try:
            practice_service.update(
                db.session, me, practice,
                name=form.name.data, email=form.email.data, phone=form.phone.data,
                address=form.address.data, timezone=form.timezone.data,
                self_registration=form.self_registration.data, now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            errors.append(error)
        try:
            diary.update_rules(
                db.session, me, practice, slot_step_minutes=form.slot_step_minutes.data,
                min_notice_hours=form.min_notice_hours.data,
                horizon_value=form.horizon_value.data, horizon_unit=form.horizon_unit.data,
                cancel_window_hours=form.cancel_window_hours.data,
                reminder_lead_hours=form.reminder_lead_hours.data, now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            errors.append(error)
        if errors:
            db.session.rollback()
            for error in errors:
                apply_error(form, error)
        else:
            db.session.commit()
            flash("Practice settings saved.", "success")
            return redirect(url_for("dashboard.settings"))
    return render_template("dashboard/settings.html", form=form)
