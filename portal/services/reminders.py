"""Reminder emails before sessions, queued exactly once per appointment and time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal.models import Appointment, AppointmentStatus, NotificationClaim
from portal.services import booking
from portal.services import practice as practice_service


def claim_kind(appointment: Appointment) -> str:
    """One reminder per version of the appointment: a reschedule earns a new reminder."""
    return f"reminder:{appointment.sequence}"


def queue_due(session: Session, *, now: datetime) -> int:
    """Queue the reminder for every booked appointment starting within the lead time and
    not yet reminded; returns how many were queued. Safe to run on several hosts at once:
    the unique claim lets one win. Catches up after downtime; never reminds after the start.
    """
    practice = practice_service.current(session)
    if practice is None:
        return 0
    lead = timedelta(hours=practice.reminder_lead_hours)
    due = list(session.scalars(
        select(Appointment)
        .where(Appointment.status == AppointmentStatus.BOOKED,
               Appointment.starts_at > now, Appointment.starts_at <= now + lead)
        .options(joinedload(Appointment.client), joinedload(Appointment.service),
                 joinedload(Appointment.therapist))
        # A total order, so concurrent senders claim in the same order and cannot deadlock.
        .order_by(Appointment.starts_at, Appointment.id)
    ))
    if not due:
        return 0
    claimed = {
        (row.appointment_id, row.kind)
        for row in session.execute(
            select(NotificationClaim.appointment_id, NotificationClaim.kind)
            .where(NotificationClaim.appointment_id.in_([a.id for a in due]))
        )
    }
    queued = 0
    for appointment in due:
        kind = claim_kind(appointment)
        if (appointment.id, kind) in claimed:
            continue
        try:
            with session.begin_nested():
                session.add(NotificationClaim(appointment_id=appointment.id, kind=kind,
                                              claimed_at=now))
        except IntegrityError:
            continue  # another sender claimed it first
        # No links: this duty runs without a request, so it knows no site address.
        booking.notify(session, practice, appointment, "reminder", now, links=None)
        queued += 1
    session.flush()
    return queued
