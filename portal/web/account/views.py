"""The signed-in user's own account: details and password; for clients, their rights over
their data too: download it, see who at the practice has seen their record, delete the
account."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from portal.extensions import db, limiter
from portal.models import MOMENTS, Feedback, Role
from portal.services import accounts, dose, erasure, intake, wording
from portal.services import client_record as record_service
from portal.services.clients import parse_page
from portal.services.errors import InvalidInput
from portal.web import sessions
from portal.web.access import restrict, roles
from portal.web.account.forms import ChangePasswordForm
from portal.web.deps import client_ip, now, passwords, practice_zone
from portal.web.downloads import json_attachment
from portal.web.erasure_form import EraseForm
from portal.web.forms import apply_error
from portal.web.rate_limits import login_limit

bp = Blueprint("account", __name__, url_prefix="/account")
restrict(bp, Role.CLIENT, Role.THERAPIST)


@bp.route("/")
def index():
    """The user's details and what they can change."""
    return render_template("account/index.html")


@bp.route("/password", methods=["GET", "POST"])
def password():
    """Change password; every other device is signed out, this one stays in."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(
                db.session, passwords(), user, current=form.current_password.data,
                new=form.new_password.data, now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            apply_error(form, error)
        else:
            sessions.start(user, remember=bool(session.get("remember")))
            flash("Your password is changed. Other devices have been signed out.", "success")
            return redirect(url_for("account.index"))
    return render_template("account/password.html", form=form)


# --- the client's rights over their data ---------------------------------------------------


@bp.route("/data")
@roles(Role.CLIENT)
def data():
    """Everything the practice holds about the client, as a page to read or print; each
    showing is audited (and listed on the page itself)."""
    me = current_user._get_current_object()
    record = record_service.export_record(db.session, me, me, now(), ip=client_ip(),
                                          shown_as="page")
    return render_template(
        "account/data.html", data=record, red_flags={f.key: f.question for f in intake.RED_FLAGS},
        describe=dose.describe_draft, moments=dose.describe_moments,
        moment_labels={m.value: m.label for m in MOMENTS},
        feedback_labels={f.value: f.label for f in Feedback})


@bp.route("/data.json")
@roles(Role.CLIENT)
def data_file():
    """The same as a JSON file to keep or take elsewhere; audited."""
    me = current_user._get_current_object()
    record = record_service.export_record(db.session, me, me, now(), ip=client_ip(),
                                          shown_as="file")
    return json_attachment(record, f"my-data-{record['exported_at_local'][:10]}.json")


@bp.route("/views")
@roles(Role.CLIENT)
def views():
    """Each time someone at the practice opened or downloaded the client's record."""
    me = current_user._get_current_object()
    trail = record_service.record_views(db.session, me, me, parse_page(request.args.get("page")))
    return render_template("account/views.html", trail=trail,
                           labels=record_service.PRACTICE_VIEWS)


@bp.route("/delete", methods=["GET", "POST"])
@roles(Role.CLIENT)
@limiter.limit(login_limit, methods=["POST"])
def delete():
    """Delete the account: sign-in and contact details go now, clinical records stay until
    the retention date. Asks for the password and a tick; signs the client out."""
    me = current_user._get_current_object()
    form = EraseForm()
    form.confirm.label.text = ("I understand that my account is deleted at once and cannot be "
                               "restored")
    if form.validate_on_submit():
        try:
            done = erasure.erase_client(db.session, passwords(), me, me,
                                        password=form.password.data, now=now(),
                                        ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            kept_until = wording.date_with_year(done.retain_until, practice_zone())
            sessions.end()
            flash(f"Your account is deleted and you are signed out. Your health records are "
                  f"kept until {kept_until}, then deleted for good. If you ever need them, "
                  f"contact the practice and quote reference #{done.client_id}.", "success")
            response = redirect(url_for("auth.login"))
            # The browser forgets what it kept for this site: the offline copy of Today and
            # anything stored for it (the session cookie stays, to carry the message).
            response.headers["Clear-Site-Data"] = '"cache", "storage"'
            return response
    plan = erasure.plan(db.session, me, now())
    return render_template("account/delete.html", form=form, plan=plan)
