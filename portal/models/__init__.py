"""Typed SQLAlchemy models, one module per aggregate. Importing this registers them all."""

from portal.models.accounts import Role, User
from portal.models.audit import AuditEvent
from portal.models.booking import (Appointment, AppointmentStatus, NotificationClaim, Service,
                                   TimeOff, WorkingHours)
from portal.models.intake import IntakeForm
from portal.models.base import Base, utcnow
from portal.models.outbox import OutboxMessage, OutboxStatus
from portal.models.practice import Practice

__all__ = [
    "Appointment",
    "AppointmentStatus",
    "IntakeForm",
    "NotificationClaim",
    "Service",
    "TimeOff",
    "WorkingHours",
    "AuditEvent",
    "Base",
    "OutboxMessage",
    "OutboxStatus",
    "Practice",
    "Role",
    "User",
    "utcnow",
]
