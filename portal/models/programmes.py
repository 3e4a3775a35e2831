"""Home programmes: versioned programmes of items, templates, completion logs, moment
reminder times and read-only share links."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from portal.models.accounts import User
from portal.models.base import Base, utcnow
from portal.models.booking import Appointment
from portal.models.dose import DAYS_PER_WEEK, TIMES_PER_DAY
from portal.models.library import DoseMixin, Exercise, dose_checks


class Moment(enum.StrEnum):
    """A moment of the client's day an item belongs to; the order is the order of the day."""

    MORNING = "morning"
    WORK_BREAK = "work_break"
    AFTER_TRAINING = "after_training"
    BEFORE_BED = "before_bed"

    @property
    def label(self) -> str:
        """Plain words for headings and forms."""
        return MOMENT_LABELS[self]


MOMENTS: tuple[Moment, ...] = tuple(Moment)
MOMENT_LABELS: dict[Moment, str] = {
    Moment.MORNING: "Morning",
    Moment.WORK_BREAK: "Work break",
    Moment.AFTER_TRAINING: "After training",
    Moment.BEFORE_BED: "Before bed",
}
ANY_TIME_LABEL = "Any time"


class Feedback(enum.StrEnum):
    """How a side (or the whole exercise) felt.

    FINE is what "Done, felt fine" records: one tap, no detail (the client didn't say
    whether it was nothing or mild tension, only that it didn't hurt). The log form asks for
    one of ANSWERS instead.
    """

    NOTHING = "nothing"
    MILD_TENSION = "mild_tension"
    PAIN = "pain"
    FINE = "fine"

    @property
    def label(self) -> str:
        """Plain words for forms."""
        return {"nothing": "Nothing", "mild_tension": "Mild tension", "pain": "Pain",
                "fine": "Fine"}[self.value]


# The answers the log form offers for each side (FINE is the one-tap log's, never asked).
ANSWERS: tuple[Feedback, ...] = (Feedback.NOTHING, Feedback.MILD_TENSION, Feedback.PAIN)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])


def prescription_checks() -> list[CheckConstraint]:
    """CHECK constraints for PrescriptionMixin tables (fresh objects for each table)."""
    return [
        *dose_checks(),
        TIMES_PER_DAY.check("times_per_day_range"),
        DAYS_PER_WEEK.check("days_per_week_range"),
        CheckConstraint("level >= 1", name="level_positive"),
        CheckConstraint("position >= 0", name="position_positive"),
    ]


class PrescriptionMixin(DoseMixin):
    """An exercise with a tailored dose, how often, when in the day, and at which level."""

    position: Mapped[int]
    times_per_day: Mapped[int] = mapped_column(default=1)
    days_per_week: Mapped[int] = mapped_column(default=7)
    # Moment values, in the order of the day; empty means "any time".
    moments: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Rung on the exercise's ladder (ExerciseLevel.position); 1 when it has no ladder.
    level: Mapped[int] = mapped_column(default=1)
    personal_note: Mapped[str] = mapped_column(Text, default="")

    @declared_attr
    def exercise_id(cls) -> Mapped[int]:
        """The exercise (indexed: the library checks usage before deleting)."""
        return mapped_column(ForeignKey("exercise.id"), index=True)

    @declared_attr
    def exercise(cls) -> Mapped[Exercise]:
        """The library exercise this item tailors."""
        return relationship(Exercise)

    @property
    def moment_list(self) -> list[Moment]:
        """The item's moments as enum members, in the order of the day."""
        return [m for m in MOMENTS if m.value in (self.moments or [])]


class Programme(Base):
    """A client's home programme: one per client, changed only by adding versions."""

    __tablename__ = "programme"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[User] = relationship()
    versions: Mapped[list[ProgrammeVersion]] = relationship(
        back_populates="programme", order_by="ProgrammeVersion.number")


class ProgrammeVersion(Base):
    """One saved state of a programme; the highest number is the current one.

    `changes` lists what changed against the previous version, as dicts with `kind` (added,
    removed, dose, schedule, moments, level, note, order, template, version_note), `text`
    (a plain sentence for the client) and `exercise_id` (or None).
    """

    __tablename__ = "programme_version"
    __table_args__ = (
        UniqueConstraint("programme_id", "number", name="uq_programme_version_number"),
        CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    number: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    # The client's most recent appointment when the version was saved, if any.
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"))
    changes: Mapped[list[dict]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")

    programme: Mapped[Programme] = relationship(back_populates="versions")
    created_by: Mapped[User] = relationship()
    appointment: Mapped[Appointment | None] = relationship()
    items: Mapped[list[ProgrammeItem]] = relationship(
        back_populates="version", order_by="ProgrammeItem.position", cascade="all")


class ProgrammeItem(PrescriptionMixin, Base):
    """An exercise in one version of a programme, as tailored for the client."""

    __tablename__ = "programme_item"
    __table_args__ = (
        *prescription_checks(),
        UniqueConstraint("version_id", "position", name="uq_programme_item_position"),
        UniqueConstraint("version_id", "exercise_id", name="uq_programme_item_exercise"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("programme_version.id"))

    version: Mapped[ProgrammeVersion] = relationship(back_populates="items")


class ProgrammeTemplate(Base):
    """A reusable set of items ("Desk worker's lower back") to start a programme from."""

    __tablename__ = "programme_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list[TemplateItem]] = relationship(
        back_populates="template", order_by="TemplateItem.position",
        cascade="all, delete-orphan", passive_deletes=True)


class TemplateItem(PrescriptionMixin, Base):
    """An exercise with its dose in a template."""

    __tablename__ = "template_item"
    __table_args__ = (
        *prescription_checks(),
        UniqueConstraint("template_id", "position", name="uq_template_item_position"),
        UniqueConstraint("template_id", "exercise_id", name="uq_template_item_exercise"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("programme_template.id", ondelete="CASCADE"))

    template: Mapped[ProgrammeTemplate] = relationship(back_populates="items")


class CompletionLog(Base):
    """The client did an item once on a local date, and said how it felt.

    Feedback is per side (`feedback_left`, `feedback_right`) for each-side items and
    `feedback` otherwise. `client_key` is made by the client's device, so a double tap or an
    offline replay of the same log is stored once.
    """

    __tablename__ = "completion_log"
    __table_args__ = (
        UniqueConstraint("client_id", "client_key", name="uq_completion_log_client_key"),
        CheckConstraint(
            "(feedback IS NOT NULL AND feedback_left IS NULL AND feedback_right IS NULL) OR "
            "(feedback IS NULL AND feedback_left IS NOT NULL AND feedback_right IS NOT NULL)",
            name="feedback_shape",
        ),
        Index("ix_completion_log_client_date", "client_id", "local_date"),
        Index("ix_completion_log_pain", "pain", "logged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("programme_version.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("programme_item.id"))
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercise.id"))
    local_date: Mapped[date] = mapped_column(Date)
    moment: Mapped[Moment | None] = mapped_column(_enum(Moment, "moment"))
    logged_at: Mapped[datetime] = mapped_column(default=utcnow)
    feedback: Mapped[Feedback | None] = mapped_column(_enum(Feedback, "feedback"))
    feedback_left: Mapped[Feedback | None] = mapped_column(_enum(Feedback, "feedback"))
    feedback_right: Mapped[Feedback | None] = mapped_column(_enum(Feedback, "feedback"))
    # True when any side hurt: the therapist sees it until they acknowledge it.
    pain: Mapped[bool] = mapped_column(default=False)
    pain_acknowledged_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")
    client_key: Mapped[str] = mapped_column(String(64))

    client: Mapped[User] = relationship()
    exercise: Mapped[Exercise] = relationship()
    item: Mapped[ProgrammeItem] = relationship()

    @property
    def feedback_by_side(self) -> dict[str, Feedback]:
        """{"left": ..., "right": ...} for each-side items, else {"both": ...}."""
        if self.feedback is not None:
            return {"both": self.feedback}
        return {"left": self.feedback_left, "right": self.feedback_right}

    @property
    def told_in_one_tap(self) -> bool:
        """Logged with "Done, felt fine" and not told in more detail since."""
        return all(value is Feedback.FINE for value in self.feedback_by_side.values())


class MomentTime(Base):
    """The local time of day a client wants reminding of one moment (morning 07:30)."""

    __tablename__ = "moment_time"
    __table_args__ = (UniqueConstraint("client_id", "moment", name="uq_moment_time_moment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    moment: Mapped[Moment] = mapped_column(_enum(Moment, "moment"))
    local_time: Mapped[time] = mapped_column(Time)


class ProgrammeShare(Base):
    """A revocable read-only link to a client's programme; only the token's SHA-256 is
    kept, so a database leak does not leak working links."""

    __tablename__ = "programme_share"
    __table_args__ = (Index("ix_programme_share_client", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
