"""The page a client gets when an appointment can no longer be changed online: the cancel page
(appointments) and the reschedule flow (booking) both answer with it."""

from __future__ import annotations

from flask import render_template

from portal.models import Appointment, Practice
from portal.services import booking


def closed_page(appointment: Appointment, practice: Practice):
    """403: why this appointment can't be changed online any more, and who to contact."""
    return render_template("appointments/closed.html", appointment=appointment,
                           deadline=booking.policy_deadline(practice, appointment)), 403
