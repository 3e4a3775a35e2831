"""Enquiries: questions sent by anyone through the public "Get in touch" form, and the
therapist's replies to them by email."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.articles import Article
from portal.models.base import Base, utcnow
from portal.models.outbox import OutboxMessage


class EnquiryStatus(enum.StrEnum):
    """Whether the practice still has to deal with an enquiry."""

    NEW = "new"
    DONE = "done"


class Enquiry(Base):
    """One enquiry, kept in the database from the moment it is sent, so none is lost even
    when the emails about it are not delivered."""

    __tablename__ = "enquiry"
    __table_args__ = (
        # The form cannot be sent without it; the row says it was given.
        CheckConstraint("consent", name="consent_given"),
        CheckConstraint("status = 'new' OR done_at IS NOT NULL", name="done_has_date"),
        Index("ix_enquiry_status", "status", "received_at"),
        Index("ix_enquiry_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # Lower-cased, like account emails, so an erasure finds every enquiry from an address.
    email: Mapped[str] = mapped_column(String(254))
    message: Mapped[str] = mapped_column(Text)
    consent: Mapped[bool]
    # The article it was asked from, if any.
    article_id: Mapped[int | None] = mapped_column(ForeignKey("article.id", ondelete="SET NULL"))
    status: Mapped[EnquiryStatus] = mapped_column(
        Enum(EnquiryStatus, name="enquiry_status", native_enum=False, length=20,
             values_callable=lambda e: [m.value for m in e]),
        default=EnquiryStatus.NEW,
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a therapist first opened it (unread until then).
    read_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]

    article: Mapped[Article | None] = relationship()
    replies: Mapped[list[EnquiryReply]] = relationship(
        back_populates="enquiry", order_by="EnquiryReply.sent_at, EnquiryReply.id",
        cascade="all, delete-orphan", passive_deletes=True)


class EnquiryReply(Base):
    """A reply the therapist sent by email, as it was written, with the outbox row that
    carries it (to show whether it was delivered)."""

    __tablename__ = "enquiry_reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    enquiry_id: Mapped[int] = mapped_column(ForeignKey("enquiry.id", ondelete="CASCADE"),
                                            index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    outbox_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_message.id", ondelete="SET NULL"))

    enquiry: Mapped[Enquiry] = relationship(back_populates="replies")
    outbox_message: Mapped[OutboxMessage | None] = relationship()
