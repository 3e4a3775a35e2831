"""The exercise library: exercises with their progression ladders, and uploaded pictures."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow
from portal.models.dose import HOLD_SECONDS, REPS, SETS

# The fixed vocabulary of body areas an exercise can be tagged with, head to toe.
BODY_AREAS: tuple[str, ...] = (
    "neck_shoulders", "upper_back", "lower_back", "hips", "glutes", "hamstrings", "calves",
)
BODY_AREA_LABELS: dict[str, str] = {
    "neck_shoulders": "Neck and shoulders",
    "upper_back": "Upper back",
    "lower_back": "Lower back",
    "hips": "Hips",
    "glutes": "Glutes",
    "hamstrings": "Hamstrings",
    "calves": "Calves",
}


class Sides(enum.StrEnum):
    """Whether a dose is done on each side in turn, both sides at once, or has no sides."""

    EACH_SIDE = "each_side"
    BOTH = "both"
    NONE = "none"

    @property
    def label(self) -> str:
        """Plain words for forms."""
        return {"each_side": "Each side", "both": "Both sides together",
                "none": "No sides"}[self.value]


def sides_type() -> Enum:
    """The column type for Sides: a short string, portable across backends."""
    return Enum(Sides, name="sides", native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])


def dose_checks() -> list[CheckConstraint]:
    """CHECK constraints for the DoseMixin columns (fresh objects for each table)."""
    return [
        HOLD_SECONDS.check("hold_range"),
        REPS.check("reps_range"),
        SETS.check("sets_range"),
        CheckConstraint("hold_seconds > 0 OR reps > 0", name="hold_or_reps"),
    ]


class DoseMixin:
    """Hold, reps, sets and sides: how one session of an exercise is done."""

    hold_seconds: Mapped[int] = mapped_column(default=0)
    reps: Mapped[int] = mapped_column(default=0)
    sets: Mapped[int] = mapped_column(default=1)
    sides: Mapped[Sides] = mapped_column(sides_type(), default=Sides.NONE)


class Picture(Base):
    """An uploaded image, re-encoded and stored under instance/uploads as `stored_name`."""

    __tablename__ = "picture"
    __table_args__ = (
        CheckConstraint("width > 0 AND height > 0", name="size_positive"),
        CheckConstraint("byte_size > 0", name="bytes_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stored_name: Mapped[str] = mapped_column(String(100), unique=True)
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int]
    height: Mapped[int]
    byte_size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Exercise(DoseMixin, Base):
    """A stretch or mobility exercise in the library, with its default dose.

    The picture is either `picture_path` (relative to static/, for the seeded SVG drawings)
    or `picture_id` (an uploaded Picture), never both.
    """

    __tablename__ = "exercise"
    __table_args__ = (
        *dose_checks(),
        CheckConstraint("picture_path IS NULL OR picture_id IS NULL", name="one_picture"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(String(300))
    why_it_helps: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    cues: Mapped[list[str]] = mapped_column(JSON, default=list)
    cautions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Values from BODY_AREAS.
    body_areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    regression: Mapped[str] = mapped_column(Text, default="")
    # The moments of the day it suits (values of programmes.Moment), shown wherever the
    # exercise is described (its page, articles); programmes choose their own per item.
    moments: Mapped[list[str]] = mapped_column(JSON, default=list)
    picture_path: Mapped[str | None] = mapped_column(String(200))
    picture_id: Mapped[int | None] = mapped_column(ForeignKey("picture.id"))
    published: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the services from their `now` (no onupdate: tests and the audit trail control
    # the clock).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    picture: Mapped[Picture | None] = relationship()
    levels: Mapped[list[ExerciseLevel]] = relationship(
        back_populates="exercise", order_by="ExerciseLevel.position",
        cascade="all, delete-orphan", passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<Exercise {self.id} {self.slug}>"


class ExerciseLevel(Base):
    """One rung of an exercise's progression ladder, numbered from 1.

    `criterion` says when the client is ready to move up from this rung to the next one
    ("when 30 s each side feels easy, add the overhead reach"); it is empty on the top rung.
    """

    __tablename__ = "exercise_level"
    __table_args__ = (
        UniqueConstraint("exercise_id", "position", name="uq_exercise_level_position"),
        CheckConstraint("position >= 1", name="position_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[int] = mapped_column(ForeignKey("exercise.id", ondelete="CASCADE"))
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(120))
    instruction: Mapped[str] = mapped_column(Text)
    criterion: Mapped[str] = mapped_column(String(300), default="")

    exercise: Mapped[Exercise] = relationship(back_populates="levels")
