"""Articles service: who sees what when (drafts, published, scheduled), addresses and their
redirects, the rules for publishing, the exercise of the week switch at once and on the date,
and the Markdown that reaches a page (sanitised)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import Article, ArticleOldSlug, ArticleStatus, AuditEvent, Practice, User
from portal.seed.library import seed_library
from portal.services import articles, library, prose
from portal.services.articles import ArticleInput
from portal.services.errors import InvalidInput, NotFound, PermissionDenied

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HIP = "kneeling-hip-flexor-stretch"
CALF = "wall-calf-stretch"


@pytest.fixture
def therapist(session, practice, make_therapist):
    return session.get(User, make_therapist().id)


@pytest.fixture
def exercises(session, therapist):
    return {e.slug: e for e in seed_library(session, therapist, NOW - timedelta(days=30))}


def write(session, therapist, **overrides) -> Article:
    values = {"title": "Exercise of the week: hip flexor stretch",
              "summary": "Why it helps your back.", "body": "## Why\n\nBecause."}
    return articles.create_article(session, therapist, ArticleInput(**{**values, **overrides}),
                                   NOW)


def featured_id(session) -> int | None:
    return session.scalar(select(Practice.featured_exercise_id))


# --- who sees what, when ---------------------------------------------------------------------


def test_a_new_article_is_a_draft_nobody_can_read(session, therapist):
    article = write(session, therapist)
    assert article.status is ArticleStatus.DRAFT and article.published_at is None
    assert articles.state(article, NOW) == "draft"
    with pytest.raises(NotFound):
        articles.find_live(session, article.slug, NOW)
    assert articles.latest(session, NOW) == []
    assert articles.live_page(session, NOW).total == 0


def test_publishing_now_makes_it_readable_at_once(session, therapist):
    article = write(session, therapist)
    articles.publish(session, therapist, article.id, NOW)
    assert article.published_at == NOW and articles.state(article, NOW) == "published"
    assert articles.find_live(session, article.slug, NOW) is article
    assert articles.latest(session, NOW) == [article]


def test_a_scheduled_article_appears_on_its_date_with_nothing_written(session, therapist):
    article = write(session, therapist)
    monday = NOW + timedelta(days=7)
    articles.publish(session, therapist, article.id, NOW, at=monday)
    session.flush()
    assert articles.state(article, NOW) == "scheduled"
    for before in (NOW, monday - timedelta(seconds=1)):
        with pytest.raises(NotFound):
            articles.find_live(session, article.slug, before)
        assert articles.latest(session, before) == []
    updated = article.updated_at
    # Its date comes: it is there, and nothing had to change in the database for it.
    assert articles.find_live(session, article.slug, monday) is article
    assert articles.state(article, monday) == "published"
    assert article.updated_at == updated and article.status is ArticleStatus.PUBLISHED


def test_the_newest_live_articles_come_first_a_page_at_a_time(session, therapist):
    for n in range(5):
        article = write(session, therapist, title=f"Article {n}")
        articles.publish(session, therapist, article.id, NOW + timedelta(hours=n))
    later = NOW + timedelta(days=1)
    found = articles.live_page(session, later, page=2, per_page=2)
    assert (found.page, found.pages, found.total) == (2, 3, 5)
    assert [a.title for a in found.articles] == ["Article 2", "Article 1"]
    assert articles.live_page(session, later, page=99, per_page=2).page == 3


def test_unpublishing_takes_it_down_and_cancels_a_schedule(session, therapist):
    article = write(session, therapist)
    articles.publish(session, therapist, article.id, NOW, at=NOW + timedelta(days=2))
    articles.unpublish(session, therapist, article.id, NOW)
    assert article.status is ArticleStatus.DRAFT and article.published_at is None
    with pytest.raises(NotFound):
        articles.find_live(session, article.slug, NOW + timedelta(days=3))


# --- publishing rules ---------------------------------------------------------------------


def test_a_date_in_the_past_is_refused(session, therapist):
    article = write(session, therapist)
    with pytest.raises(InvalidInput) as caught:
        articles.publish(session, therapist, article.id, NOW, at=NOW - timedelta(minutes=1))
    assert caught.value.field == "publish_at"
    assert article.status is ArticleStatus.DRAFT


def test_an_article_featuring_a_draft_exercise_cannot_be_published(session, therapist,
                                                                    exercises):
    calf = exercises[CALF]
    article = write(session, therapist, exercise_id=calf.id)
    library.unpublish(session, therapist, calf.id, NOW)
    with pytest.raises(InvalidInput, match="draft in the library"):
        articles.publish(session, therapist, article.id, NOW)


def test_an_empty_article_cannot_be_published(session, therapist):
    article = write(session, therapist, body="")
    with pytest.raises(InvalidInput, match="Write the article"):
        articles.publish(session, therapist, article.id, NOW)


def test_only_a_therapist_writes_articles(session, therapist, make_client):
    client = session.get(User, make_client().id)
    with pytest.raises(PermissionDenied):
        write(session, client)
    article = write(session, therapist)
    with pytest.raises(PermissionDenied):
        articles.publish(session, client, article.id, NOW)


@pytest.mark.parametrize("field, value, message", [
    ("title", "", "Give the article a title."),
    ("title", "x" * 151, "Use at most 150 characters."),
    ("summary", " ", "Add a sentence or two"),
    ("body", "x" * 50_001, "Use at most 50,000 characters."),
    ("body", "a\x00b", "control characters"),
    ("exercise_id", 99_999, "no longer in the library"),
    ("slug", "Not A Slug!", "lower-case letters"),
])
def test_bad_input_names_its_field_and_writes_nothing(session, therapist, field, value,
                                                      message):
    with pytest.raises(InvalidInput, match=message) as caught:
        write(session, therapist, **{field: value})
    assert caught.value.field == field
    assert session.scalar(select(func.count()).select_from(Article)) == 0


# --- addresses ------------------------------------------------------------------------------


def test_the_address_comes_from_the_title_and_never_clashes(session, therapist):
    first = write(session, therapist, title="Child's pose: a rest for the back")
    second = write(session, therapist, title="Child's pose: a rest for the back")
    assert first.slug == "childs-pose-a-rest-for-the-back"
    assert second.slug == "childs-pose-a-rest-for-the-back-2"


def test_a_published_articles_old_address_leads_to_its_new_one(session, therapist):
    article = write(session, therapist, slug="hip-flexor-stretch")
    articles.publish(session, therapist, article.id, NOW)
    articles.update_article(session, therapist, article.id, ArticleInput(
        title=article.title, summary=article.summary, body=article.body,
        slug="hip-flexor-stretch-lower-back"), NOW)
    assert article.slug == "hip-flexor-stretch-lower-back"
    assert articles.find_live(session, "hip-flexor-stretch", NOW) is article
    # Nobody else may take the old address while it redirects...
    with pytest.raises(InvalidInput, match="uses \\(or used\\)"):
        write(session, therapist, slug="hip-flexor-stretch")
    # ...but the article itself may go back to it.
    articles.update_article(session, therapist, article.id, ArticleInput(
        title=article.title, summary=article.summary, body=article.body,
        slug="hip-flexor-stretch"), NOW)
    assert article.slug == "hip-flexor-stretch"
    assert [o.slug for o in article.old_slugs] == ["hip-flexor-stretch-lower-back"]


def test_a_drafts_old_address_is_simply_let_go(session, therapist):
    article = write(session, therapist, slug="first-try")
    articles.update_article(session, therapist, article.id, ArticleInput(
        title=article.title, summary=article.summary, body=article.body, slug="second-try"),
        NOW)
    assert session.scalar(select(func.count()).select_from(ArticleOldSlug)) == 0
    assert write(session, therapist, slug="first-try").slug == "first-try"


# --- the exercise of the week -------------------------------------------------------------


def test_publishing_now_can_make_its_exercise_the_exercise_of_the_week(session, therapist,
                                                                        exercises):
    library.feature_exercise(session, therapist, exercises[CALF].id, NOW - timedelta(days=3))
    article = write(session, therapist, exercise_id=exercises[HIP].id)
    articles.publish(session, therapist, article.id, NOW, feature_exercise=True)
    assert featured_id(session) == exercises[HIP].id
    assert library.featured_exercise(session).slug == HIP
    assert article.featured_applied_at == NOW


def test_without_the_box_the_exercise_of_the_week_stays(session, therapist, exercises):
    library.feature_exercise(session, therapist, exercises[CALF].id, NOW - timedelta(days=3))
    article = write(session, therapist, exercise_id=exercises[HIP].id)
    articles.publish(session, therapist, article.id, NOW)
    assert featured_id(session) == exercises[CALF].id


def test_a_scheduled_article_switches_the_exercise_of_the_week_on_its_date(
        session, therapist, exercises):
    library.feature_exercise(session, therapist, exercises[CALF].id, NOW - timedelta(days=3))
    article = write(session, therapist, exercise_id=exercises[HIP].id)
    monday = NOW + timedelta(days=7)
    articles.publish(session, therapist, article.id, NOW, at=monday, feature_exercise=True)
    assert featured_id(session) == exercises[CALF].id  # not before its date
    assert articles.feature_due(session, monday - timedelta(seconds=1)) == 0
    assert featured_id(session) == exercises[CALF].id

    assert articles.feature_due(session, monday + timedelta(minutes=1)) == 1
    assert featured_id(session) == exercises[HIP].id
    row = session.scalars(select(AuditEvent).where(AuditEvent.action == "exercise.featured")
                          .order_by(AuditEvent.id.desc())).first()
    assert row.actor_id is None and row.details == {"exercise": exercises[HIP].id,
                                                    "article": article.id}
    # Done once: featuring something else by hand afterwards sticks.
    library.feature_exercise(session, therapist, exercises[CALF].id, monday + timedelta(hours=1))
    assert articles.feature_due(session, monday + timedelta(hours=2)) == 0
    assert featured_id(session) == exercises[CALF].id


def test_a_late_duty_does_not_undo_a_choice_made_by_hand_since_the_date(session, therapist,
                                                                          exercises):
    article = write(session, therapist, exercise_id=exercises[HIP].id)
    monday = NOW + timedelta(days=7)
    articles.publish(session, therapist, article.id, NOW, at=monday, feature_exercise=True)
    library.feature_exercise(session, therapist, exercises[CALF].id, monday + timedelta(hours=1))
    assert articles.feature_due(session, monday + timedelta(hours=2)) == 1
    assert featured_id(session) == exercises[CALF].id
    assert article.featured_applied_at is not None


def test_an_exercise_unpublished_before_the_date_is_not_featured(session, therapist,
                                                                  exercises):
    article = write(session, therapist, exercise_id=exercises[CALF].id)
    monday = NOW + timedelta(days=7)
    articles.publish(session, therapist, article.id, NOW, at=monday, feature_exercise=True)
    library.unpublish(session, therapist, exercises[CALF].id, NOW + timedelta(days=1))
    assert articles.feature_due(session, monday) == 1
    assert featured_id(session) is None


def test_changing_the_exercise_cancels_featuring_the_old_one(session, therapist, exercises):
    article = write(session, therapist, exercise_id=exercises[HIP].id)
    articles.publish(session, therapist, article.id, NOW, at=NOW + timedelta(days=1),
                     feature_exercise=True)
    articles.update_article(session, therapist, article.id, ArticleInput(
        title=article.title, summary=article.summary, body=article.body,
        exercise_id=exercises[CALF].id), NOW)
    assert articles.feature_due(session, NOW + timedelta(days=2)) == 0
    assert featured_id(session) is None


# --- the Markdown that reaches a page -------------------------------------------------------


def test_markdown_becomes_html_with_the_title_the_only_h1():
    html = str(prose.to_html("# Why\n\nSome **bold** and a [link](https://example.com).\n\n"
                             "- one\n- two"))
    assert "<h2>Why</h2>" in html and "<h1" not in html
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer">link</a>' in html
    assert "<li>one</li>" in html


@pytest.mark.parametrize("source, forbidden", [
    ("Hello <script>alert(1)</script>", ["<script", "alert(1)"]),
    ('<p onclick="steal()">Tap</p>', ["onclick", "steal()"]),
    # A javascript: link is no link (markdown-it leaves the text; nh3 drops the href).
    ("[tap](javascript:alert(1))", ["<a", "href"]),
    ('<a href="javascript:alert(1)">tap</a>', ["javascript:"]),
    ('<img src="https://tracker.example/pixel.gif" onerror="x()">', ["<img", "tracker", "onerror"]),
    ("![a pixel](https://tracker.example/pixel.gif)", ["<img"]),
    ('<iframe src="https://example.com"></iframe>', ["<iframe"]),
    ('<div style="position:fixed">x</div>', ["style="]),
    ('<svg onload="x()"><circle/></svg>', ["<svg", "onload"]),
    ("<!-- a comment -->visible", ["<!--"]),
])
def test_sanitising_strips_scripts_handlers_and_outside_requests(source, forbidden):
    html = str(prose.to_html(source))
    for text in forbidden:
        assert text not in html, (source, html)


def test_the_exercise_goes_where_the_marker_is():
    before, after = prose.split_at_exercise("Why.\n\n[[exercise]]\n\nWhen.")
    assert (before.strip(), after.strip()) == ("Why.", "When.")
    assert prose.split_at_exercise("No marker.") == ("No marker.", None)
