"""A client's appointments: upcoming and past, reschedule and cancel within the policy."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus, Role
from portal.services import accounts, booking, calendar, wording
from portal.services.errors import InvalidInput, NotFound, PermissionDenied
from portal.web import transactions
from portal.web.access import restrict
from portal.web.appointments.forms import CancelForm
from portal.web.changes_closed import closed_page
from portal.web.deps import client_ip, now, practice_zone
from portal.web.errors import render_error
from portal.web.forms import apply_error
from portal.web.links import BOOKING_LINKS

bp = Blueprint("appointments", __name__, url_prefix="/appointments")
restrict(bp, Role.CLIENT)

STATUS_LABELS = {
    AppointmentStatus.BOOKED: "Booked",
    AppointmentStatus.CANCELLED: "Cancelled",
    AppointmentStatus.ATTENDED: "Attended",
    AppointmentStatus.NO_SHOW: "No-show",
}


@bp.app_context_processor
def _status_labels():
    return {"appointment_status_labels": STATUS_LABELS}


@bp.route("/")
def index():
    """Upcoming sessions (soonest first) and past ones (newest first)."""
    user = current_user._get_current_object()
    practice = accounts.get_practice(db.session)
    current = now()
    everything = booking.client_appointments(db.session, user)  # newest first
    upcoming = [a for a in reversed(everything) if a.ends_at > current]
    past = [a for a in everything if a.ends_at <= current]
    changeable = {a.id for a in upcoming if booking.can_change(user, a, practice, current)}
    deadlines = {a.id: booking.policy_deadline(practice, a) for a in upcoming}
    return render_template("appointments/index.html", upcoming=upcoming, past=past,
                           changeable=changeable, deadlines=deadlines)


@bp.route("/<int:appointment_id>/cancel", methods=["GET", "POST"])
def cancel(appointment_id: int):
    """Ask before cancelling (GET); cancel while the policy window is open (POST)."""
    user = current_user._get_current_object()
    practice = accounts.get_practice(db.session)
    try:
        appointment = booking.get_appointment(db.session, user, appointment_id)
    except NotFound:
        return render_error(404)
    if appointment.status is AppointmentStatus.CANCELLED:
        flash("That session is already cancelled.", "info")
        return redirect(url_for("appointments.index"))
    if not booking.can_change(user, appointment, practice, now()):
        return closed_page(appointment, practice)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            booking.cancel(db.session, user, appointment, now=now(), links=BOOKING_LINKS,
                           reason=form.reason.data or "", ip=client_ip())
        except PermissionDenied:
            transactions.mark_failed()
            return closed_page(appointment, practice)
        except InvalidInput as error:
            apply_error(form, error)
        else:
            flash(f"Your {appointment.service.name} on "
                  f"{_when(appointment)} is cancelled. We've emailed you a confirmation.",
                  "success")
            return redirect(url_for("appointments.index"))
    return render_template("appointments/cancel.html", appointment=appointment, form=form)


@bp.route("/<int:appointment_id>/calendar.ics")
def ics(appointment_id: int):
    """Download one appointment as an .ics file."""
    user = current_user._get_current_object()
    try:
        appointment = booking.get_appointment(db.session, user, appointment_id)
    except NotFound:
        return render_error(404)
    practice = accounts.get_practice(db.session)
    body = calendar.appointment_calendar([appointment], practice, method="PUBLISH")
    local = appointment.starts_at.astimezone(practice_zone())
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'attachment; filename="session-{local:%Y-%m-%d-%H%M}.ics"',
    })


def _when(appointment: Appointment) -> str:
    """'Wednesday 4 March at 10:00', as the email about the same change says it."""
    return wording.day_and_time(appointment.starts_at, practice_zone())
