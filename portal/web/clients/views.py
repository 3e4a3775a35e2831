"""The therapist's Clients: the list, each client's record, audit trail and export, their
access, and invitations."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.extensions import db, limiter
from portal.models import Role
from portal.services import accounts, adherence, erasure
from portal.services import client_record as record_service
from portal.services import clients as client_service
from portal.services import messages as message_service
from portal.services.errors import InvalidInput
from portal.web.access import restrict
from portal.web.deps import client_ip, now, passwords
from portal.web.downloads import json_attachment
from portal.web.erasure_form import EraseForm
from portal.web.forms import apply_error
from portal.web.invite_form import InviteForm
from portal.web.links import invite_link
from portal.web.rate_limits import email_limit, login_limit

bp = Blueprint("clients", __name__, url_prefix="/clients")
restrict(bp, Role.THERAPIST)


@bp.route("/")
def index():
    """Every client, searchable and filterable, by name, a page at a time."""
    query = client_service.clean_query(request.args.get("q"), request.args.getlist("filter"),
                                       request.args.get("page"))
    result = client_service.list_clients(db.session, current_user._get_current_object(),
                                         query, now())
    return render_template("clients/index.html", result=result, clients=result.rows,
                           filters=client_service.FILTERS)


@bp.route("/<int:client_id>")
def record(client_id: int):
    """One client's record; reading it is audited."""
    actor = current_user._get_current_object()
    client = record_service.get_client(db.session, actor, client_id)
    record = record_service.client_record(db.session, actor, client, now(), ip=client_ip())
    threads = message_service.record_threads(db.session, actor, client)
    # The page is rendered here and the audit row committed after (transactions.finish):
    # a commit first would expire every loaded row, and the template would then reload each
    # appointment and log one by one. If the commit fails, an error page goes out instead.
    return render_template("clients/record.html", record=record, client=client,
                           chart=_chart(record.weeks), threads=threads)


@bp.route("/<int:client_id>/audit")
def audit(client_id: int):
    """Who did what to and about one client, newest first."""
    actor = current_user._get_current_object()
    client = record_service.get_client(db.session, actor, client_id)
    trail = record_service.audit_trail(db.session, actor, client,
                                       client_service.parse_page(request.args.get("page")))
    return render_template("clients/audit.html", client=client, trail=trail)


@bp.route("/<int:client_id>/export")
def export(client_id: int):
    """Everything held about one client as a JSON file (a subject access request answer);
    the export is audited, and the audit row is stored before the file is sent."""
    actor = current_user._get_current_object()
    client = record_service.get_client(db.session, actor, client_id)
    record = record_service.export_record(db.session, actor, client, now(), ip=client_ip())
    return json_attachment(
        record, f"client-{client.id}-record-{record['exported_at_local'][:10]}.json")


CHART_HEIGHT = 120
CHART_BAR = 28
CHART_GAP = 16


def _chart(weeks: list[adherence.Week]) -> dict:
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
            apply_error(form, error)
        else:
            verb = "Invitation sent" if created else "A new invitation link was sent"
            flash(f"{verb} to {user.name} at {user.email}.", "success")
            return redirect(url_for("clients.index"))
    return render_template("clients/invite.html", form=form)


@bp.route("/<int:client_id>/erase", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def erase(client_id: int):
    """Erase a client's account for them (asked by phone or in person, say): the same as the
    client's own "Delete my account", confirmed with the therapist's password."""
    actor = current_user._get_current_object()
    client = record_service.get_client(db.session, actor, client_id)
    done = erasure.erasure_of(db.session, client)
    form = EraseForm()
    form.confirm.label.text = (f"I understand that {client.name}'s account is erased at once "
                               "and cannot be restored")
    if done is None and form.validate_on_submit():
        name = client.name
        try:
            done = erasure.erase_client(db.session, passwords(), actor, client,
                                        password=form.password.data, now=now(),
                                        ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            flash(f"{name}'s account is erased: they are now {client.name} in the portal. "
                  "Their clinical records are kept until the date shown below.", "success")
            return redirect(url_for("clients.erasures"))
    plan = None if done else erasure.plan(db.session, client, now())
    return render_template("clients/erase.html", client=client, form=form, plan=plan,
                           done=done)


@bp.route("/erasures")
def erasures():
    """Every erased account: who, requested when and by whom, records kept until when, and
    purged when."""
    result = erasure.list_erasures(db.session, current_user._get_current_object(),
                                   client_service.parse_page(request.args.get("page")))
    return render_template("clients/erasures.html", result=result)


@bp.route("/<int:client_id>/access", methods=["POST"])
def access(client_id: int):
    """Deactivate or reactivate a client's access."""
    actor = current_user._get_current_object()
    client = record_service.get_client(db.session, actor, client_id)
    active = request.form.get("active") == "1"
    accounts.set_active(db.session, actor, client,
                        active=active, now=now(), ip=client_ip())
    if active:
        flash(f"{client.name} can sign in again.", "success")
    else:
        flash(f"{client.name} can no longer sign in. Their records are kept.", "success")
    return redirect(url_for("clients.index"))
