"""Messages between a client and the practice: threads, and the messages in them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User
from portal.models.base import Base, utcnow
from portal.models.booking import Appointment
from portal.models.library import Exercise
from portal.models.programmes import ProgrammeVersion

SUBJECT_MAX = 120
BODY_MAX = 5000


class ThreadStatus(enum.StrEnum):
    """Whether the practice still has something to do about a thread."""

    OPEN = "open"
    DONE = "done"


class MessageThread(Base):
    """A conversation between one client and the practice (any therapist answers).

    It may be about an exercise of the client's programme, with the programme version they
    were on when they asked, or about one of their appointments; a general question is about
    neither. The therapist marks it done; the client writing again opens it.
    """

    __tablename__ = "message_thread"
    __table_args__ = (
        # An exercise is always asked about from a programme: both or neither.
        CheckConstraint("(exercise_id IS NULL) = (programme_version_id IS NULL)",
                        name="exercise_with_version"),
        CheckConstraint("exercise_id IS NULL OR appointment_id IS NULL", name="one_topic"),
        CheckConstraint("length(subject) > 0", name="subject_not_empty"),
        CheckConstraint("(status = 'done') = (done_at IS NOT NULL)", name="done_when"),
        Index("ix_message_thread_client", "client_id", "last_message_at"),
        Index("ix_message_thread_inbox", "status", "last_message_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    exercise_id: Mapped[int | None] = mapped_column(ForeignKey("exercise.id"))
    programme_version_id: Mapped[int | None] = mapped_column(ForeignKey("programme_version.id"))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"))
    status: Mapped[ThreadStatus] = mapped_column(
        Enum(ThreadStatus, name="thread_status", native_enum=False, length=10,
             values_callable=lambda e: [m.value for m in e]),
        default=ThreadStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The newest message's time: the inboxes sort by it.
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    client: Mapped[User] = relationship(foreign_keys=[client_id])
    exercise: Mapped[Exercise | None] = relationship()
    programme_version: Mapped[ProgrammeVersion | None] = relationship()
    appointment: Mapped[Appointment | None] = relationship()
    messages: Mapped[list[Message]] = relationship(
        back_populates="thread", order_by="Message.created_at, Message.id")

    @property
    def is_done(self) -> bool:
        """True when the practice marked the thread done."""
        return self.status is ThreadStatus.DONE


class Message(Base):
    """One message in a thread. Rows are only ever inserted, except `read_at`: when the
    other side (the client for the practice's messages, any therapist for the client's)
    first opened the thread after it arrived."""

    __tablename__ = "message"
    __table_args__ = (
        CheckConstraint("length(body) > 0", name="body_not_empty"),
        Index("ix_message_thread", "thread_id", "created_at"),
        # Unread messages from clients (the therapist's counts) or to them: a range of the
        # index, however many messages were read before.
        Index("ix_message_unread", "from_client", "read_at", "thread_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("message_thread.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    # Written by the thread's client (else by a therapist): which side has to read it.
    from_client: Mapped[bool]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    thread: Mapped[MessageThread] = relationship(back_populates="messages")
    author: Mapped[User] = relationship()
