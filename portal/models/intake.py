"""The health questionnaire and consent, kept as a history of submissions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class IntakeForm(Base):
    """One submission of the questionnaire; the newest per client is the current one."""

    __tablename__ = "intake_form"
    __table_args__ = (Index("ix_intake_form_client", "client_id", "submitted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The answers, keyed by question; see portal.services.intake.QUESTIONS.
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    red_flags: Mapped[list] = mapped_column(JSON, default=list)
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_given_at: Mapped[datetime]
