"""The practice settings: name, contact details, time zone, registration, booking rules and
how long records are kept; and the emails that could not be delivered."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Role
from portal.services import accounts, diary, erasure, undelivered
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput
from portal.web.access import restrict
from portal.web.deps import client_ip, now
from portal.web.forms import apply_error
from portal.web.settings.forms import SettingsForm, zone_choices

bp = Blueprint("settings", __name__, url_prefix="/settings")
restrict(bp, Role.THERAPIST)


@bp.route("/", methods=["GET", "POST"])
def index():
    """Every practice setting: name, contact details, time zone, registration, the booking
    rules and how long records are kept. One form saved in one commit, so a mistake anywhere
    keeps everything typed."""
    practice = accounts.get_practice(db.session)
    form = SettingsForm(obj=None if request.method == "POST" else practice)
    form.timezone.choices = zone_choices(practice.timezone)
    if not form.is_submitted():
        form.fill(practice)
        form.fill_records(practice)
    if form.validate_on_submit():
        me, errors = current_user._get_current_object(), []
        try:
            practice_service.update(
                db.session, me, practice,
                name=form.name.data, email=form.email.data, phone=form.phone.data,
                address=form.address.data, timezone=form.timezone.data,
                self_registration=form.self_registration.data, now=now(), ip=client_ip(),
                # Left as it is by a post without the field (not from this page).
                intro=form.intro.data if form.intro.raw_data else None,
            )
        except InvalidInput as error:
            errors.append(error)
        try:
            diary.update_rules(
                db.session, me, practice, slot_step_minutes=form.slot_step_minutes.data,
                min_notice_hours=form.min_notice_hours.data,
                horizon_value=form.horizon_value.data, horizon_unit=form.horizon_unit.data,
                cancel_window_hours=form.cancel_window_hours.data,
                reminder_lead_hours=form.reminder_lead_hours.data,
                max_upcoming_per_client=form.max_upcoming_per_client.data, now=now(),
                ip=client_ip(),
            )
        except InvalidInput as error:
            errors.append(error)
        try:
            erasure.update_retention(db.session, me, practice,
                                     years=form.retention_years.data, now=now(), ip=client_ip())
        except InvalidInput as error:
            errors.append(error)
        if errors:
            for error in errors:
                apply_error(form, error)
        else:
            flash("Practice settings saved.", "success")
            return redirect(url_for("settings.index"))
    return render_template("settings/index.html", form=form,
                           undelivered=undelivered.count(db.session))


@bp.route("/emails")
def emails():
    """Emails not delivered: recipient, subject, when, attempts and why, with "Send again"."""
    found = undelivered.listing(db.session, current_user._get_current_object())
    return render_template("settings/emails.html", found=found)


@bp.route("/emails/<int:message_id>/send-again", methods=["POST"])
def send_again(message_id: int):
    """Put one undelivered email back in the queue (audited)."""
    row = undelivered.send_again(db.session, current_user._get_current_object(), message_id,
                                 now=now(), ip=client_ip())
    if row is None:
        flash("That email is already back in the queue, or has been sent.", "info")
    else:
        flash(f"The email to {row.to_addr} is back in the queue and will be sent in a moment.",
              "success")
    return redirect(url_for("settings.emails"))
