"""Typed SQLAlchemy models, one module per aggregate. Importing this registers them all."""

from portal.models.accounts import Role, User
from portal.models.audit import AuditEvent
from portal.models.base import Base, utcnow
from portal.models.outbox import OutboxMessage, OutboxStatus
from portal.models.practice import Practice

__all__ = [
    "AuditEvent",
    "Base",
    "OutboxMessage",
    "OutboxStatus",
    "Practice",
    "Role",
    "User",
    "utcnow",
]
