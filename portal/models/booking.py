"""Booking: services, working hours, time off, appointments and reminder claims."""

from __future__ import annotations

import enum
from datetime import datetime, time, timedelta

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User
from portal.models.base import Base, utcnow

# The longest session and buffer a service may have, so the longest an appointment keeps its
# therapist busy: a query for a period needs no appointment that started longer before it
# (the database refuses one that would last longer: ck_appointment_busy_limit).
MAX_DURATION_MINUTES = 480
MAX_BUFFER_MINUTES = 240
MAX_BUSY = timedelta(minutes=MAX_DURATION_MINUTES + MAX_BUFFER_MINUTES)


class Service(Base):
    """Something a client can book: a name, a length, a price and a buffer after it."""

    __tablename__ = "service"
    __table_args__ = (
        CheckConstraint(f"duration_minutes BETWEEN 5 AND {MAX_DURATION_MINUTES}",
                        name="duration_range"),
        CheckConstraint(f"buffer_minutes BETWEEN 0 AND {MAX_BUFFER_MINUTES}",
                        name="buffer_range"),
        CheckConstraint("price_pence >= 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    duration_minutes: Mapped[int]
    price_pence: Mapped[int]
    buffer_minutes: Mapped[int] = mapped_column(default=15)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkingHours(Base):
    """One range of working time on a weekday (0 = Monday); breaks are the gaps."""

    __tablename__ = "working_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("end_time > start_time", name="end_after_start"),
        Index("ix_working_hours_therapist", "therapist_id", "weekday"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    weekday: Mapped[int]
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)


class TimeOff(Base):
    """A stretch of time a therapist is unavailable (whole or partial days), in UTC."""

    __tablename__ = "time_off"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="end_after_start"),
        Index("ix_time_off_therapist", "therapist_id", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppointmentStatus(enum.StrEnum):
    """Where an appointment stands."""

    BOOKED = "booked"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class Appointment(Base):
    """A session booked for a client with a therapist.

    `blocked_until` is the end plus the service's buffer: the therapist is busy until then.
    On PostgreSQL an exclusion constraint (added by hand in the migration) forbids two live
    appointments of one therapist whose [starts_at, blocked_until) ranges overlap, unless the
    therapist deliberately overrode it. A CHECK in each backend's date arithmetic (also by
    hand) keeps blocked_until within MAX_BUSY of starts_at.
    """

    __tablename__ = "appointment"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="end_after_start"),
        CheckConstraint("blocked_until >= ends_at", name="buffer_after_end"),
        CheckConstraint("sequence >= 0", name="sequence_positive"),
        Index("ix_appointment_therapist_time", "therapist_id", "starts_at"),
        Index("ix_appointment_client_time", "client_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    therapist_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    blocked_until: Mapped[datetime]
    status: Mapped[AppointmentStatus] = mapped_column(
        Enum(AppointmentStatus, name="appointment_status", native_enum=False, length=20,
             values_callable=lambda e: [m.value for m in e]),
        default=AppointmentStatus.BOOKED,
    )
    price_pence: Mapped[int]
    client_note: Mapped[str] = mapped_column(Text, default="")
    # Set only when a therapist knowingly books over another appointment (audited).
    overlap_override: Mapped[bool] = mapped_column(default=False)
    booked_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    cancelled_at: Mapped[datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    late_cancellation: Mapped[bool] = mapped_column(default=False)
    # iCalendar SEQUENCE: goes up with every change sent to the client's calendar.
    sequence: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    client: Mapped[User] = relationship(foreign_keys=[client_id], lazy="joined")
    therapist: Mapped[User] = relationship(foreign_keys=[therapist_id], lazy="joined")
    service: Mapped[Service] = relationship(lazy="joined")

    @property
    def is_live(self) -> bool:
        """Booked and not yet marked attended or no-show."""
        return self.status is AppointmentStatus.BOOKED


class NotificationClaim(Base):
    """Proof that a notification of one kind was queued for an appointment: the unique
    constraint lets only one of several concurrent senders win."""

    __tablename__ = "notification_claim"
    __table_args__ = (UniqueConstraint("appointment_id", "kind", name="uq_notification_claim"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"))
    kind: Mapped[str] = mapped_column(String(40))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
