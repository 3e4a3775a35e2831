"""The public pages through the test client: the front page, the article list and pages
(drafts and scheduled articles unseen, canonical addresses, what search engines and link
previews read, the exercise drawn live from the library, sanitised text), the feed, the
sitemap and robots.txt, no cookie for a reader; and the therapist's Writing pages (preview,
publish now or on a date, the exercise of the week switch, unpublish)."""

from __future__ import annotations

import html
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from portal.extensions import db
from portal.models import Article, ArticleStatus, Exercise, Practice, Service, User
from portal.seed.library import seed_library
from portal.services import articles, library, pictures
from portal.services.articles import ArticleInput
from tests.conftest import form_post, sign_in_directly, static_url

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HIP = "kneeling-hip-flexor-stretch"
CALF = "wall-calf-stretch"
LIVE = "hip-flexor-stretch"
ATOM = "{http://www.w3.org/2005/Atom}"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def set_clock(app, when: datetime) -> None:
    app.config["PORTAL_CLOCK"] = lambda: when


@pytest.fixture
def world(app, practice, make_therapist):
    """The starter library; a live article featuring the hip flexor stretch, a draft, and one
    scheduled for a week ahead (featuring the calf stretch); two services."""
    set_clock(app, NOW)
    jo = make_therapist(name="Jo Fletcher")
    with app.app_context():
        therapist = db.session.get(User, jo.id)
        exercises = {e.slug: e for e in seed_library(db.session, therapist,
                                                     NOW - timedelta(days=30))}

        def write(slug, title, exercise, body="## Why\n\nIt helps.\n\n[[exercise]]\n\nDaily."):
            return articles.create_article(db.session, therapist, ArticleInput(
                title=title, summary=f"All about {title.lower()}.", body=body,
                exercise_id=exercises[exercise].id, slug=slug), NOW - timedelta(days=2))

        live = write(LIVE, "Exercise of the week: hip flexor stretch", HIP)
        articles.publish(db.session, therapist, live.id, NOW - timedelta(days=1))
        draft = write("draft-article", "A draft about calves", CALF)
        scheduled = write("next-week", "Next week: calf stretch", CALF)
        articles.publish(db.session, therapist, scheduled.id, NOW - timedelta(days=1),
                         at=NOW + timedelta(days=7), feature_exercise=True)
        db.session.add_all([
            Service(name="60 minute sports massage", duration_minutes=60, price_pence=6000,
                    description="Our most booked session.", sort_order=1),
            Service(name="Hidden service", duration_minutes=30, price_pence=1000, active=False),
        ])
        db.session.commit()
        ids = {"live": live.id, "draft": draft.id, "scheduled": scheduled.id,
               "hip": exercises[HIP].id, "calf": exercises[CALF].id, "therapist": jo.id}
    return ids


def json_ld(page: str) -> list[dict]:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert match, "no JSON-LD on the page"
    return json.loads(match.group(1))


def meta(page: str, key: str) -> str | None:
    match = re.search(rf'<meta (?:name|property)="{re.escape(key)}" content="([^"]*)"', page)
    return html.unescape(match.group(1)) if match else None


# --- who sees what --------------------------------------------------------------------------


def test_a_reader_sees_only_live_articles(client, world, app):
    assert client.get(f"/articles/{LIVE}").status_code == 200
    for slug in ("draft-article", "next-week", "no-such-article", "UPPER_and_odd!"):
        assert client.get(f"/articles/{slug}").status_code == 404, slug
    listing = text(client.get("/articles/"))
    assert "Exercise of the week: hip flexor stretch" in listing
    assert "draft about calves" not in listing and "Next week" not in listing

    # The scheduled one appears on its date, with nothing else happening.
    set_clock(app, NOW + timedelta(days=7))
    assert client.get("/articles/next-week").status_code == 200
    assert "Next week: calf stretch" in text(client.get("/articles/"))


def test_an_old_or_odd_address_redirects_permanently_to_the_canonical_one(client, world, app):
    with app.app_context():
        therapist = db.session.get(User, world["therapist"])
        article = db.session.get(Article, world["live"])
        articles.update_article(db.session, therapist, article.id, ArticleInput(
            title=article.title, summary=article.summary, body=article.body,
            exercise_id=article.exercise_id, slug="hip-flexor-stretch-lower-back-pain"), NOW)
        db.session.commit()
    for old in (f"/articles/{LIVE}", f"/articles/{LIVE.upper()}"):
        response = client.get(old)
        assert response.status_code == 301, old
        assert response.location == "/articles/hip-flexor-stretch-lower-back-pain"
    page = client.get("/articles/hip-flexor-stretch-lower-back-pain").get_data(as_text=True)
    assert ('<link rel="canonical" href="http://localhost/articles/'
            'hip-flexor-stretch-lower-back-pain">') in page


# --- what the page says -----------------------------------------------------------------------


def test_the_article_page_has_title_description_open_graph_and_json_ld(client, world, app):
    response = client.get(f"/articles/{LIVE}")
    page = response.get_data(as_text=True)
    assert "<title>Exercise of the week: hip flexor stretch · Test Practice</title>" in page
    assert meta(page, "description") == "All about exercise of the week: hip flexor stretch."
    assert meta(page, "og:type") == "article"
    assert meta(page, "og:title") == "Exercise of the week: hip flexor stretch"
    assert meta(page, "og:url") == f"http://localhost/articles/{LIVE}"
    assert meta(page, "og:image") == "http://localhost" + static_url(
        client.application, "img/exercises/kneeling-hip-flexor-stretch.svg")
    assert meta(page, "article:published_time") == "2026-03-01T09:00:00+00:00"

    posting, how_to = json_ld(page)
    assert posting["@type"] == "BlogPosting" and posting["url"] == meta(page, "og:url")
    assert how_to["@type"] == "HowTo" and how_to["name"] == "Kneeling hip flexor stretch"
    with app.app_context():
        steps = db.session.get(Exercise, world["hip"]).steps
    assert [s["text"] for s in how_to["step"]] == steps
    assert [s["position"] for s in how_to["step"]] == list(range(1, len(steps) + 1))
    # The CSP the page is served with allows no inline script at all.
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_json_ld_cannot_end_its_script_element(client, world, app):
    with app.app_context():
        therapist = db.session.get(User, world["therapist"])
        article = db.session.get(Article, world["live"])
        articles.update_article(db.session, therapist, article.id, ArticleInput(
            title="Stretch </script><script>alert(1)</script>", summary=article.summary,
            body=article.body, exercise_id=article.exercise_id), NOW)
        db.session.commit()
    page = client.get(f"/articles/{LIVE}").get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert json_ld(page)[0]["headline"] == "Stretch </script><script>alert(1)</script>"


def test_the_exercise_is_drawn_live_from_the_library(client, world, app):
    page = text(client.get(f"/articles/{LIVE}")).split("<main", 1)[1]
    # Where the marker is: after "Why", before "Daily".
    assert page.index("It helps.") < page.index("Kneeling hip flexor stretch") < page.index(
        "Daily.")
    for words in ("Step by step", "Progression", "With an overhead reach", "Tips",
                  "Tailbone down", "Take care", "Good moments:",
                  "Morning, work break, after training, before bed", "30 s each side"):
        assert words in page, words
    with app.app_context():
        therapist = db.session.get(User, world["therapist"])
        exercise = db.session.get(Exercise, world["hip"])
        exercise.steps = [*exercise.steps, "Finish with three slow breaths."]
        db.session.commit()
        library.unpublish(db.session, therapist, world["hip"], NOW)
        db.session.commit()
    # A library exercise taken back to a draft is not shown to readers.
    assert "Step by step" not in text(client.get(f"/articles/{LIVE}"))
    with app.app_context():
        library.publish(db.session, db.session.get(User, world["therapist"]), world["hip"], NOW)
        db.session.commit()
    assert "Finish with three slow breaths." in text(client.get(f"/articles/{LIVE}"))


def test_what_the_therapist_writes_is_sanitised_on_the_page(client, world, app):
    with app.app_context():
        article = db.session.get(Article, world["live"])
        article.body = ('Hello <script>steal()</script>\n\n<p onclick="steal()">Tap</p>\n\n'
                        '[bad](javascript:steal()) <img src="https://tracker.example/p.gif">')
        db.session.commit()
    page = client.get(f"/articles/{LIVE}").get_data(as_text=True)
    main = page.split('<main', 1)[1]
    assert "steal()" not in main.replace("[bad](javascript:steal())", "")
    assert "onclick" not in main and "tracker.example" not in main
    assert "<p>Tap</p>" in main


def test_calls_to_action_lead_to_asking_and_booking(client, world):
    page = client.get(f"/articles/{LIVE}").get_data(as_text=True)
    assert f'href="/ask?article={LIVE}">Ask about this stretch</a>' in page
    assert 'href="/booking/">Book a session</a>' in page


# --- no cookie, no tracking ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/articles/", f"/articles/{LIVE}", "/articles/feed.atom",
                                  "/sitemap.xml", "/robots.txt"])
def test_reading_sets_no_cookie(client, world, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert client.get_cookie("portal_session") is None
    assert client.get_cookie("portal_device") is None
    # Nothing is loaded from another site: every picture, script and stylesheet is ours.
    loaded = re.findall(r'<(?:img|script|link rel="stylesheet"|link rel="icon")\b[^>]*'
                        r'\b(?:src|href)="([^"]+)"', response.get_data(as_text=True))
    assert all(url.startswith("/") and not url.startswith("//") for url in loaded), loaded


def test_the_enquiry_form_is_the_one_public_page_that_sets_a_cookie(client, world):
    response = client.get(f"/ask?article={LIVE}")
    assert "Set-Cookie" in response.headers  # the CSRF token's session
    assert client.get_cookie("portal_device") is None


# --- the front page -------------------------------------------------------------------------


def test_the_front_page_shows_the_practice_services_and_latest_articles(client, world, app):
    with app.app_context():
        practice = db.session.scalar(sa.select(Practice))
        practice.address = "12 Mill Lane, London"
        practice.intro = "We **treat** runners.\n\n<script>x()</script>"
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert "<title>Test Practice</title>" in page
    assert "We <strong>treat</strong> runners." in page and "x()" not in page
    assert "60 minute sports massage" in page and "60 minutes" in page and "£60" in page
    assert "Hidden service" not in page
    assert "Exercise of the week: hip flexor stretch" in page
    assert "Next week" not in page and "A draft about calves" not in page
    assert "12 Mill Lane, London" in page and "020 7946 0000" in page
    assert 'href="/booking/">Book a session</a>' in page
    assert 'href="/ask">Get in touch</a>' in page


def test_signed_in_people_still_get_their_own_home(app, world, make_client):
    therapist = app.test_client()
    with app.app_context():
        sign_in_directly(therapist, db.session.get(User, world["therapist"]))
    assert therapist.get("/").location == "/dashboard/"
    alex = app.test_client()
    sign_in_directly(alex, make_client(name="Alex Morgan"))
    assert "Hello, Alex" in text(alex.get("/"))


# --- feed, sitemap, robots ------------------------------------------------------------------


def test_the_feed_lists_live_articles_with_their_whole_text(client, world):
    response = client.get("/articles/feed.atom")
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.get_data())  # noqa: S314 - our own response
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "Exercise of the week: hip flexor stretch"]
    entry = entries[0]
    assert entry.find(f"{ATOM}link").get("href") == f"http://localhost/articles/{LIVE}"
    assert entry.findtext(f"{ATOM}id").startswith("tag:localhost,2026:article-")
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html"
    assert "Kneeling hip flexor stretch" in content.text and "<h2>Why</h2>" in content.text
    assert feed.findtext(f"{ATOM}updated") == entry.findtext(f"{ATOM}updated")


def test_the_sitemap_lists_the_public_pages_only(client, world):
    response = client.get("/sitemap.xml")
    assert response.mimetype == "application/xml"
    root = ET.fromstring(response.get_data())  # noqa: S314 - our own response
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    locations = [u.findtext(f"{ns}loc") for u in root.findall(f"{ns}url")]
    assert locations == ["http://localhost/", "http://localhost/articles/",
                         f"http://localhost/articles/{LIVE}"]


def test_robots_allows_the_public_pages_and_names_the_sitemap(client, world):
    body = client.get("/robots.txt").get_data(as_text=True)
    assert "Allow: /$\nAllow: /articles/\nAllow: /static/\nDisallow: /\n" in body
    assert "Sitemap: http://localhost/sitemap.xml" in body


# --- the exercise's uploaded picture ---------------------------------------------------------


def test_an_uploaded_picture_is_public_only_through_a_live_article(client, world, app,
                                                                    tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    image = io.BytesIO()
    Image.new("RGB", (64, 40), (10, 90, 80)).save(image, format="PNG")
    with app.app_context():
        stored = pictures.store(image.getvalue(), Path(app.config["UPLOAD_DIR"]))
        picture = library.record_picture(
            db.session, db.session.get(User, world["therapist"]),
            stored_name=stored.stored_name, content_type=stored.content_type,
            width=stored.width, height=stored.height, byte_size=stored.byte_size,
            sha256=stored.sha256, now=NOW)
        for key in ("hip", "calf"):
            exercise = db.session.get(Exercise, world[key])
            exercise.picture_path, exercise.picture_id = None, picture.id
        db.session.commit()
        picture_id = picture.id
    page = client.get(f"/articles/{LIVE}").get_data(as_text=True)
    assert f'src="/articles/{LIVE}/picture"' in page
    response = client.get(f"/articles/{LIVE}/picture")
    assert response.status_code == 200 and response.mimetype == "image/webp"
    assert "Set-Cookie" not in response.headers
    response.close()
    assert client.get("/articles/next-week/picture").status_code == 404  # not live yet
    assert client.get(f"/library/pictures/{picture_id}").status_code == 302  # still private


# --- Writing: the therapist's side -----------------------------------------------------------


@pytest.fixture
def jo(app, world):
    browser = app.test_client()
    with app.app_context():
        sign_in_directly(browser, db.session.get(User, world["therapist"]))
    return browser


def article_named(app, title: str) -> Article | None:
    with app.app_context():
        found = db.session.scalar(sa.select(Article).where(Article.title == title))
        if found is not None:
            db.session.expunge(found)
        return found


def test_preview_shows_the_unsaved_article_and_saves_nothing(jo, app, world):
    data = {"title": "Calf stretch for runners", "summary": "Why calves tighten.",
            "exercise_id": str(world["calf"]),
            "body": "Runners' calves work hard.\n\n<script>x()</script>", "action": "preview"}
    response = form_post(jo, "/writing/new", data)
    page = response.get_data(as_text=True)
    preview = html.unescape(page.split('class="writing-preview"', 1)[1].split("</section>")[0])
    assert response.status_code == 200
    assert "Preview: not saved yet" in preview and "Runners' calves work hard." in preview
    assert "Wall calf stretch" in preview and "x()" not in preview
    assert article_named(app, "Calf stretch for runners") is None

    saved = form_post(jo, "/writing/new", {**data, "action": "save"})
    article = article_named(app, "Calf stretch for runners")
    assert saved.location == f"/writing/{article.id}"
    assert article.status is ArticleStatus.DRAFT and article.slug == "calf-stretch-for-runners"


def test_a_refused_form_says_why_and_saves_nothing(jo, app):
    response = form_post(jo, "/writing/new", {"title": "", "summary": "", "body": "Text",
                                              "action": "save"})
    page = text(response)
    assert "Give the article a title." in page and "Add a sentence or two" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Article)) == 3


def test_publishing_with_the_box_ticked_makes_it_the_exercise_of_the_week(jo, app, world,
                                                                          make_client):
    with app.app_context():
        library.feature_exercise(db.session, db.session.get(User, world["therapist"]),
                                 world["hip"], NOW - timedelta(days=5))
        db.session.commit()
    page = f"/writing/{world['draft']}"
    response = form_post(jo, page, {"when": "now", "feature_exercise": "y"},
                         action=f"{page}/publish")
    assert response.status_code == 302
    assert "is now the exercise of the week" in text(jo.get(page))
    assert jo.application.test_client().get("/articles/draft-article").status_code == 200
    alex = app.test_client()
    sign_in_directly(alex, make_client())
    home = text(alex.get("/"))
    assert "Exercise of the week" in home and "Wall calf stretch" in home


def test_scheduling_uses_the_practices_time_zone(jo, app, world):
    page = f"/writing/{world['draft']}"
    # 9 March 2026, 08:00 in London is 08:00 UTC (GMT); after 29 March it is BST.
    response = form_post(jo, page, {"when": "later", "day": "2026-04-06", "time": "08:00"},
                         action=f"{page}/publish")
    assert response.status_code == 302
    article = article_named(app, "A draft about calves")
    assert article.published_at == datetime(2026, 4, 6, 7, 0, tzinfo=UTC)
    assert "Scheduled for Monday 6 April at 08:00" in text(jo.get(page))

    refused = form_post(jo, page, {"when": "later", "day": "2026-03-01", "time": "08:00"},
                        action=f"{page}/publish")
    assert "Choose a date and time still to come" in text(refused)
    missing = form_post(jo, page, {"when": "later"}, action=f"{page}/publish")
    assert "Choose the date it goes live." in text(missing)
    assert article_named(app, "A draft about calves").published_at == datetime(
        2026, 4, 6, 7, 0, tzinfo=UTC)


def test_unpublishing_takes_the_article_off_the_site(jo, app, world):
    page = f"/writing/{world['live']}"
    assert form_post(jo, page, {}, action=f"{page}/unpublish").status_code == 302
    assert app.test_client().get(f"/articles/{LIVE}").status_code == 404
    assert "A draft: only you can see it." in text(jo.get(page))


def test_the_therapist_previews_the_front_page_and_can_edit_from_an_article(jo, world):
    assert "Your front page as visitors see it" in text(jo.get("/writing/front-page"))
    page = jo.get(f"/articles/{LIVE}").get_data(as_text=True)
    assert f'href="/writing/{world["live"]}">Edit this article</a>' in page


def test_clients_cannot_open_writing(app, world, make_client):
    alex = app.test_client()
    sign_in_directly(alex, make_client())
    for path in ("/writing/", "/writing/new", f"/writing/{world['live']}"):
        assert alex.get(path).status_code == 403
    assert "Edit this article" not in text(alex.get(f"/articles/{LIVE}"))


def test_the_article_page_reads_a_fixed_number_of_rows(client, world, app):
    """However many articles the practice has written, a page costs the same queries."""
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        client.get(f"/articles/{LIVE}")
        first = len(statements)
        with app.app_context():
            therapist = db.session.get(User, world["therapist"])
            for n in range(10):
                extra = articles.create_article(db.session, therapist, ArticleInput(
                    title=f"Extra {n}", summary="More.", body="Text."), NOW)
                articles.publish(db.session, therapist, extra.id, NOW - timedelta(hours=n))
            db.session.commit()
        statements.clear()
        client.get(f"/articles/{LIVE}")
        assert len(statements) == first
        statements.clear()
        client.get("/")
        front = len(statements)
        assert front <= 6, statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_a_scheduled_articles_form_starts_from_its_date_and_choice(jo, world):
    page = jo.get(f"/writing/{world['scheduled']}").get_data(as_text=True)
    assert re.search(r'<input checked id="when-1"[^>]*value="later"', page)
    assert 'value="2026-03-09"' in page and 'value="09:00"' in page
    assert re.search(r'<input checked id="feature_exercise"', page)
