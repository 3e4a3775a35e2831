"""The practice: its name, contact details and the settings that shape the portal."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class Practice(Base):
    """One row: the practice this portal runs."""

    __tablename__ = "practice"
    __table_args__ = (
        CheckConstraint("slot_step_minutes BETWEEN 5 AND 120", name="slot_step_range"),
        CheckConstraint("min_notice_minutes BETWEEN 0 AND 20160", name="notice_range"),
        CheckConstraint("horizon_days BETWEEN 1 AND 366", name="horizon_range"),
        CheckConstraint("cancel_window_hours BETWEEN 0 AND 336", name="cancel_window_range"),
        CheckConstraint("reminder_lead_hours BETWEEN 1 AND 168", name="reminder_lead_range"),
        CheckConstraint("max_upcoming_per_client BETWEEN 1 AND 50", name="upcoming_limit_range"),
        CheckConstraint("retention_years BETWEEN 6 AND 30", name="retention_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(String(300))
    # A few paragraphs for the public front page, in Markdown (portal.services.prose).
    intro: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    self_registration: Mapped[bool] = mapped_column(default=False)
    # Booking rules (defaults from the product brief).
    slot_step_minutes: Mapped[int] = mapped_column(default=15)
    min_notice_minutes: Mapped[int] = mapped_column(default=12 * 60)
    horizon_days: Mapped[int] = mapped_column(default=56)
    cancel_window_hours: Mapped[int] = mapped_column(default=24)
    reminder_lead_hours: Mapped[int] = mapped_column(default=24)
    # The most upcoming booked sessions a client may hold when booking online (the therapist
    # may book beyond it); checked by portal.services.booking.
    max_upcoming_per_client: Mapped[int] = mapped_column(default=4)
    # How many years an erased client's clinical records are kept after their care ended
    # (portal.services.erasure); 8 is the usual guidance for adults' health records in the UK.
    retention_years: Mapped[int] = mapped_column(default=8)
    # "Exercise of the week" on every client's home page; set by portal.services.library.
    featured_exercise_id: Mapped[int | None] = mapped_column(
        ForeignKey("exercise.id", ondelete="SET NULL"))
    featured_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
