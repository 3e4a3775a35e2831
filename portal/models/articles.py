"""Articles: what the practice publishes for anyone to read, and the addresses they once had."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow
from portal.models.library import Exercise


class ArticleStatus(enum.StrEnum):
    """Whether the therapist has let the article out.

    Only two are stored. A published article whose `published_at` is still to come is
    *scheduled*: it appears on its date with nothing changing in the database (the public pages
    ask for `published_at <= now`), so no job has to flip a status on time.
    """

    DRAFT = "draft"
    PUBLISHED = "published"


class Article(Base):
    """One article: a title, a one-line summary, a Markdown body and, optionally, an exercise
    from the library whose picture, steps, tips and cautions are shown live from the library
    entry (never copied)."""

    __tablename__ = "article"
    __table_args__ = (
        CheckConstraint("status = 'draft' OR published_at IS NOT NULL",
                        name="published_has_date"),
        Index("ix_article_live", "status", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(150))
    # One or two sentences: the lists, the meta description and the feed's summary.
    summary: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ArticleStatus] = mapped_column(
        Enum(ArticleStatus, name="article_status", native_enum=False, length=20,
             values_callable=lambda e: [m.value for m in e]),
        default=ArticleStatus.DRAFT,
    )
    # When it is (or will be) public; set on publishing, kept while it stays published.
    published_at: Mapped[datetime | None]
    exercise_id: Mapped[int | None] = mapped_column(
        ForeignKey("exercise.id", ondelete="SET NULL"))
    # "Make the exercise the exercise of the week when this goes live": done at once when it
    # is published now, by the reminders duty when its date comes (featured_applied_at then
    # records that it was done, so it happens once).
    feature_exercise: Mapped[bool] = mapped_column(default=False)
    featured_applied_at: Mapped[datetime | None]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the services from their `now` whenever what readers see changes.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    exercise: Mapped[Exercise | None] = relationship()
    old_slugs: Mapped[list[ArticleOldSlug]] = relationship(
        back_populates="article", cascade="all, delete-orphan", passive_deletes=True)

    def is_live(self, now: datetime) -> bool:
        """Whether readers can see it at `now`."""
        return (self.status is ArticleStatus.PUBLISHED and self.published_at is not None
                and self.published_at <= now)

    def __repr__(self) -> str:
        return f"<Article {self.id} {self.slug}>"


class ArticleOldSlug(Base):
    """An address the article had before its slug was changed: it answers with a permanent
    redirect to the current one, so links shared earlier keep working."""

    __tablename__ = "article_old_slug"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"),
                                            index=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship(back_populates="old_slugs")
