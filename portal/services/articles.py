"""Articles: writing, publishing (now or on a date), unpublishing and reading them.

What readers may see is decided in one place, `live()`: a published article whose date has
come. A scheduled article is a published one whose date is still to come, so it appears on
its date with nothing written to the database then; only "make the exercise the exercise of
the week when it goes live" needs doing on time, and `feature_due` (run by the reminders
duty) does it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, joinedload

from portal.models import Article, ArticleOldSlug, ArticleStatus, Exercise, User
from portal.services import audit, library
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput, NotFound, PermissionDenied
from portal.services.validation import clean_text

TITLE_MAX = 150
SUMMARY_MAX = 300
BODY_MAX = 50_000
SLUG_MAX = 80
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PAGE_SIZE = 20
FEATURE_BATCH = 20


@dataclass(frozen=True)
class ArticleInput:
    """An article as the therapist wrote it. `slug` None keeps the current one (a new article
    takes one from its title)."""

    title: str
    summary: str
    body: str = ""
    exercise_id: int | None = None
    slug: str | None = None


@dataclass(frozen=True)
class ArticlePage:
    """One page of live articles, newest first."""

    articles: list[Article]
    page: int
    pages: int
    total: int


# --- who sees what --------------------------------------------------------------------------


def live(now: datetime) -> ColumnElement[bool]:
    """The SQL condition for an article readers may see at `now` (Article.is_live in SQL)."""
    return and_(Article.status == ArticleStatus.PUBLISHED, Article.published_at <= now)


def state(article: Article, now: datetime) -> str:
    """"draft", "scheduled" or "published", for the therapist's pages."""
    if article.status is ArticleStatus.DRAFT:
        return "draft"
    return "published" if article.is_live(now) else "scheduled"


def changed_at(article: Article) -> datetime:
    """When readers last saw the article change: its last edit, or its publication if that
    came later (a scheduled article edited before its date)."""
    if article.published_at is not None and article.published_at > article.updated_at:
        return article.published_at
    return article.updated_at


def _require_therapist(actor: User) -> None:
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can write articles.")


# --- reading --------------------------------------------------------------------------------


def _with_exercise(query):
    """Load the featured exercise with its picture and ladder (what the page shows of it)."""
    return query.options(
        joinedload(Article.exercise).joinedload(Exercise.picture),
        joinedload(Article.exercise).selectinload(Exercise.levels),
    )


def get_article(session: Session, article_id: int) -> Article:
    """Any article, drafts included (the therapist's pages), or NotFound."""
    article = session.scalar(_with_exercise(select(Article).where(Article.id == article_id)))
    if article is None:
        raise NotFound("No such article.")
    return article


def find_live(session: Session, slug: str, now: datetime) -> Article:
    """The live article at this address, current or former (the caller redirects when the
    article's slug is not the one asked for), or NotFound (two queries at most)."""
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug) or len(slug) > SLUG_MAX:
        raise NotFound("No such article.")
    article = session.scalar(_with_exercise(
        select(Article).where(Article.slug == slug, live(now))))
    if article is None:
        article = session.scalar(_with_exercise(
            select(Article).join(ArticleOldSlug, ArticleOldSlug.article_id == Article.id)
            .where(ArticleOldSlug.slug == slug, live(now))))
    if article is None:
        raise NotFound("No such article.")
    return article


def live_page(session: Session, now: datetime, page: int = 1,
              per_page: int = PAGE_SIZE) -> ArticlePage:
    """Live articles, newest first, a page at a time (two queries)."""
    total = session.scalar(select(func.count()).select_from(Article).where(live(now))) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), pages)
    articles = list(session.scalars(
        select(Article).where(live(now))
        .order_by(Article.published_at.desc(), Article.id.desc())
        .offset((page - 1) * per_page).limit(per_page)))
    return ArticlePage(articles=articles, page=page, pages=pages, total=total)


def latest(session: Session, now: datetime, limit: int = 3) -> list[Article]:
    """The newest live articles (one query), for the front page, the feed and the sitemap."""
    return list(session.scalars(
        select(Article).where(live(now))
        .order_by(Article.published_at.desc(), Article.id.desc()).limit(limit)))


def all_articles(session: Session) -> list[Article]:
    """Every article for the therapist, most recently changed first (one query)."""
    return list(session.scalars(
        select(Article).options(joinedload(Article.exercise))
        .order_by(Article.updated_at.desc(), Article.id.desc())))


def featurable_exercises(session: Session) -> list[Exercise]:
    """The published exercises an article may feature, by name (one query)."""
    return library.search_exercises(session, published_only=True, limit=500)


# --- writing --------------------------------------------------------------------------------


def _clean(session: Session, data: ArticleInput) -> dict:
    title = " ".join(clean_text(data.title, "title", TITLE_MAX,
                                required="Give the article a title.").split())
    summary = " ".join(clean_text(
        data.summary, "summary", SUMMARY_MAX,
        required="Add a sentence or two that sums the article up.").split())
    body = (data.body or "").replace("\r\n", "\n")
    if len(body) > BODY_MAX:
        raise InvalidInput("body", f"Use at most {BODY_MAX:,} characters.")
    for field, value in (("title", title), ("summary", summary), ("body", body)):
        if "\x00" in value:
            raise InvalidInput(field, "Remove the invisible control characters.")
    exercise_id = data.exercise_id or None
    if exercise_id is not None and session.get(Exercise, exercise_id) is None:
        raise InvalidInput("exercise_id", "That exercise is no longer in the library.")
    return {"title": title, "summary": summary, "body": body.strip(),
            "exercise_id": exercise_id}


def _slug_taken(session: Session, slug: str, article_id: int | None) -> bool:
    """Whether another article has, or once had, this address."""
    other = article_id or 0
    current = session.scalar(select(Article.id).where(Article.slug == slug, Article.id != other))
    former = session.scalar(select(ArticleOldSlug.id).where(
        ArticleOldSlug.slug == slug, ArticleOldSlug.article_id != other))
    return current is not None or former is not None


def _check_slug(session: Session, slug: str, article_id: int | None) -> str:
    slug = slug.strip().lower()
    if not slug:
        raise InvalidInput("slug", "Give the article a web address.")
    if not SLUG_RE.match(slug) or len(slug) > SLUG_MAX:
        raise InvalidInput("slug", "Use lower-case letters, digits and single hyphens only, "
                                   f"up to {SLUG_MAX} characters.")
    if _slug_taken(session, slug, article_id):
        raise InvalidInput("slug", "Another article uses (or used) this web address.")
    return slug


def _unique_slug(session: Session, title: str) -> str:
    base = library.slugify(title)[:70].strip("-") or "article"
    slug, n = base, 2
    while _slug_taken(session, slug, None):
        slug, n = f"{base}-{n}", n + 1
    return slug


def create_article(session: Session, therapist: User, data: ArticleInput,
                   now: datetime) -> Article:
    """Start an article, as a draft."""
    _require_therapist(therapist)
    values = _clean(session, data)
    slug = (_check_slug(session, data.slug, None) if data.slug
            else _unique_slug(session, values["title"]))
    article = Article(slug=slug, status=ArticleStatus.DRAFT, author_id=therapist.id,
                      created_at=now, updated_at=now, **values)
    session.add(article)
    session.flush()
    audit.record(session, actor=therapist, action="article.created", now=now,
                 article=article.id)
    return article


def update_article(session: Session, therapist: User, article_id: int, data: ArticleInput,
                   now: datetime) -> Article:
    """Save changes; a published article shows them at once. A new address keeps the old one
    working as a redirect once readers may have seen it."""
    _require_therapist(therapist)
    article = get_article(session, article_id)
    values = _clean(session, data)
    if data.slug is not None and data.slug.strip().lower() != article.slug:
        values["slug"] = _check_slug(session, data.slug, article.id)
    changed = sorted(k for k, v in values.items() if getattr(article, k) != v)
    if "slug" in changed:
        _move_address(session, article, values["slug"], now)
    for key, value in values.items():
        setattr(article, key, value)
    if "exercise_id" in changed:
        # A new exercise (or none) cancels featuring the old one on a date still to come.
        article.feature_exercise = False
    if changed:
        article.updated_at = now
        audit.record(session, actor=therapist, action="article.updated", now=now,
                     article=article.id, fields=changed)
    session.flush()
    return article


def _move_address(session: Session, article: Article, new_slug: str, now: datetime) -> None:
    """Keep the old address as a redirect (if readers may have seen it) and free the new one
    from the article's own former addresses."""
    for old in list(article.old_slugs):
        if old.slug == new_slug:
            article.old_slugs.remove(old)
    session.flush()
    if article.published_at is not None:
        article.old_slugs.append(ArticleOldSlug(slug=article.slug, created_at=now))


def publish(session: Session, therapist: User, article_id: int, now: datetime, *,
            at: datetime | None = None, feature_exercise: bool = False) -> Article:
    """Publish now (`at` None) or from a later date (scheduled). With `feature_exercise` the
    article's exercise becomes the exercise of the week on every client's home page when the
    article goes live: at once, or on its date (see feature_due)."""
    _require_therapist(therapist)
    article = get_article(session, article_id)
    if at is not None and at <= now:
        raise InvalidInput("publish_at", "Choose a date and time still to come, or publish now.")
    if not article.body and article.exercise_id is None:
        raise InvalidInput(None, "Write the article, or choose an exercise for it, before "
                                 "publishing it.")
    exercise = article.exercise
    if exercise is not None and not exercise.published:
        raise InvalidInput(None, f"\u201c{exercise.name}\u201d is a draft in the library. "
                                 "Publish it there first, or choose another exercise.")
    if feature_exercise and exercise is None:
        raise InvalidInput("feature_exercise", "Choose an exercise for the article first.")
    if at is None and article.is_live(now) and not feature_exercise:
        return article  # already out: its date stays
    if at is not None or not article.is_live(now):
        article.published_at = at or now
    article.status = ArticleStatus.PUBLISHED
    article.feature_exercise = feature_exercise
    article.featured_applied_at = None
    article.updated_at = now
    session.flush()
    if feature_exercise and article.is_live(now):
        library.feature_exercise(session, therapist, exercise.id, now)
        article.featured_applied_at = now
    audit.record(session, actor=therapist, now=now, article=article.id,
                 action="article.published" if at is None else "article.scheduled",
                 featured=exercise.id if feature_exercise else None)
    session.flush()
    return article


def unpublish(session: Session, therapist: User, article_id: int, now: datetime) -> Article:
    """Take the article back to a draft (a scheduled one stays unpublished). The exercise of
    the week stays as it is: it belongs to the library."""
    _require_therapist(therapist)
    article = get_article(session, article_id)
    if article.status is ArticleStatus.DRAFT:
        return article
    article.status = ArticleStatus.DRAFT
    article.published_at = None
    article.feature_exercise = False
    article.featured_applied_at = None
    article.updated_at = now
    session.flush()
    audit.record(session, actor=therapist, action="article.unpublished", now=now,
                 article=article.id)
    return article


# --- the duty -------------------------------------------------------------------------------


def feature_due(session: Session, now: datetime, *, limit: int = FEATURE_BATCH) -> int:
    """Make the exercise of each article that has gone live since it was scheduled (with
    "make it the exercise of the week") the exercise of the week; returns how many articles
    were dealt with. The oldest first, so the newest article's exercise is the one left
    featured. Safe on several hosts at once: each claims its rows (FOR UPDATE SKIP LOCKED;
    SQLite writers queue)."""
    due = list(session.scalars(
        select(Article)
        .where(live(now), Article.feature_exercise, Article.featured_applied_at.is_(None))
        .order_by(Article.published_at, Article.id)
        .limit(limit).with_for_update(skip_locked=True)))
    practice = practice_service.current(session) if due else None
    for article in due:
        article.featured_applied_at = now
        # Featured by hand since this article's date (the duty ran late): that choice stays.
        if practice is not None and practice.featured_at is not None and (
                practice.featured_at > article.published_at):
            continue
        library.feature_from_article(session, article.exercise_id, now, article_id=article.id)
    session.flush()
    return len(due)

