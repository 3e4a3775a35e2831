"""The therapist's dashboard: overview, clients, invitations and practice settings."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.extensions import db, limiter
from portal.models import Role, User
from portal.services import accounts, diary
from portal.services import agenda as agenda_service
from portal.services import clients as client_service
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput
from portal.web.access import restrict
from portal.web.dashboard.forms import InviteForm, SettingsForm, zone_choices
from portal.web.deps import client_ip, now
from portal.web.formatting import practice_zone
from portal.web.forms import apply_error
from portal.web.limits import email_limit
from portal.web.links import invite_link

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
restrict(bp, Role.THERAPIST)


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


@bp.route("/clients")
def clients():
    """Every client, searchable and filterable, by name, a page at a time."""
    query = client_service.clean_query(request.args.get("q"), request.args.getlist("filter"),
                                       request.args.get("page"))
    result = client_service.list_clients(db.session, current_user._get_current_object(),
                                         query, now())
    return render_template("dashboard/clients.html", result=result, clients=result.rows,
                           filters=client_service.FILTERS)


@bp.route("/clients/<int:client_id>")
def client_record(client_id: int):
    """One client's record; reading it is audited."""
    actor = current_user._get_current_object()
    client = client_service.get_client(db.session, actor, client_id)
    record = client_service.client_record(db.session, actor, client, now(), ip=client_ip())
    # Render before committing: a commit expires every loaded row, and the template would
    # then reload each appointment and log one by one. Nothing is sent unless the audit row
    # is stored.
    page = render_template("dashboard/client.html", record=record, client=client,
                           chart=_chart(record.weeks))
    db.session.commit()
    return page


@bp.route("/clients/<int:client_id>/audit")
def client_audit(client_id: int):
    """Who did what to and about one client, newest first."""
    actor = current_user._get_current_object()
    client = client_service.get_client(db.session, actor, client_id)
    trail = client_service.audit_trail(db.session, actor, client,
                                       client_service.parse_page(request.args.get("page")))
    return render_template("dashboard/client_audit.html", client=client, trail=trail)


@bp.route("/clients/<int:client_id>/export")
def client_export(client_id: int):
    """Everything held about one client as a JSON file (a subject access request answer);
    the export is audited, and the audit row is stored before the file is sent."""
    actor = current_user._get_current_object()
    client = client_service.get_client(db.session, actor, client_id)
    record = client_service.export_record(db.session, actor, client, now(), ip=client_ip())
    body = json.dumps(record, ensure_ascii=False, indent=2)
    filename = f"client-{client.id}-record-{record['exported_at_local'][:10]}.json"
    db.session.commit()
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


CHART_HEIGHT = 120
CHART_BAR = 28
CHART_GAP = 16


def _chart(weeks: list[client_service.Week]) -> dict:
    """Bar geometry for the adherence chart, worked out here so the template only draws."""
    bars = []
    for n, week in enumerate(weeks):
        percent = week.percent or 0
        height = round(CHART_HEIGHT * percent / 100)
        x = CHART_GAP + n * (CHART_BAR + CHART_GAP)
        bars.append({"week": week, "x": x, "y": 20 + CHART_HEIGHT - height, "height": height,
                     "label_x": x + CHART_BAR // 2})
    width = CHART_GAP + len(weeks) * (CHART_BAR + CHART_GAP)
    return {"bars": bars, "width": width, "height": CHART_HEIGHT + 60,
            "baseline": 20 + CHART_HEIGHT, "bar": CHART_BAR}


@bp.route("/invite", methods=["GET", "POST"])
@limiter.limit(email_limit, methods=["POST"])
def invite():
    """Invite a client by email."""
    form = InviteForm()
    if form.validate_on_submit():
        try:
            user, created = accounts.invite_client(
                db.session, current_user._get_current_object(), email=form.email.data,
                name=form.name.data, link_for=invite_link, now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            db.session.rollback()
            apply_error(form, error)
        else:
            db.session.commit()
            verb = "Invitation sent" if created else "A new invitation link was sent"
            flash(f"{verb} to {user.name} at {user.email}.", "success")
            return redirect(url_for("dashboard.clients"))
    return render_template("dashboard/invite.html", form=form)


@bp.route("/clients/<int:client_id>/access", methods=["POST"])
def client_access(client_id: int):
    """Deactivate or reactivate a client's access."""
    actor = current_user._get_current_object()
    client = client_service.get_client(db.session, actor, client_id)
    active = request.form.get("active") == "1"
    accounts.set_active(db.session, actor, client,
                        active=active, now=now(), ip=client_ip())
    db.session.commit()
    if active:
        flash(f"{client.name} can sign in again.", "success")
    else:
        flash(f"{client.name} can no longer sign in. Their records are kept.", "success")
    return redirect(url_for("dashboard.clients"))


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
