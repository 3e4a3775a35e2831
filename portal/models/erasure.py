"""Erasure: a client's account closed for good, and how long their clinical records stay."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class ClientErasure(Base):
    """One client's account erased, at their request or the practice's.

    Sign-in, contact details and calendar feeds went at once (the user row keeps only its id
    under a pseudonym); the clinical records stay until `retain_until`, when the purge duty
    deletes them and sets `purged_at`. The row itself holds no personal data, so it stays as
    the proof that both steps happened.
    """

    __tablename__ = "client_erasure"
    __table_args__ = (
        CheckConstraint("retention_years >= 1", name="retention_positive"),
        CheckConstraint("cancelled_appointments >= 0", name="cancelled_positive"),
        Index("ix_client_erasure_due", "purged_at", "retain_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"), unique=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The client themselves, or the therapist who erased the account for them.
    erased_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    # The practice's setting when the account was erased; later changes do not move the date.
    retention_years: Mapped[int]
    # When the care ended (the last session or record entry); retention runs from it.
    care_ended_at: Mapped[datetime]
    retain_until: Mapped[datetime]
    cancelled_appointments: Mapped[int] = mapped_column(default=0)
    purged_at: Mapped[datetime | None]

    @property
    def by_client(self) -> bool:
        """True when the client erased their own account."""
        return self.erased_by_id == self.client_id

    @property
    def purged(self) -> bool:
        """True once the clinical records are deleted."""
        return self.purged_at is not None
