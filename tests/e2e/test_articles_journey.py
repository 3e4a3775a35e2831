"""Reading and asking, in a real browser: a visitor finds the practice's front page, reads
the hip flexor article (no cookie, no request to another site, the schema.org data in place
under the real CSP, a printable page), asks about the stretch, and gets a confirmation; the
therapist sees the enquiry on the dashboard, reads it and replies, and the visitor gets the
reply by email. The therapist's editor is looked at on the way.

Each screen is saved as phone and desktop screenshots under test-results/screenshots/<backend>/;
axe checks every page once in test_accessibility_sweep.py.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Practice, Service, User, utcnow
from portal.seed import demo
from portal.seed.library import seed_library
from portal.services import articles
from portal.services.articles import ArticleInput
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import nav_link, page_problems, sign_in, text_part

pytestmark = pytest.mark.e2e

VISITOR = "maya.collins@example.com"
QUESTION = "My knees don't like kneeling. Is there a way to do this stretch standing up?"
REPLY = "Yes: the standing version works well. Hold a chair and keep the range small."
# Recorded before any page script runs (an init script is run by the browser, not the page,
# so the CSP does not stop it): every violation the page would report.
CSP_LISTENER = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.effectiveDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def practice_with_article(app, make_therapist):
    """A practice with two services, the starter library and the demo's hip flexor article,
    published yesterday."""
    now = utcnow()
    jo = make_therapist(name="Jo Fletcher", email="jo@example.com")
    with app.app_context():
        practice = db.session.scalar(select(Practice))
        practice.name, practice.intro = "Riverside Sports Massage", demo.PRACTICE_INTRO
        practice.address = "12 Mill Lane, London SE1 9XX"
        db.session.add_all([
            Service(name="Initial consultation with massage", duration_minutes=60,
                    price_pence=6500, description="For your first visit.", sort_order=0),
            Service(name="30 minute sports massage", duration_minutes=30, price_pence=4000,
                    description="A focused session on one area.", sort_order=1)])
        therapist = db.session.get(User, jo.id)
        hip = seed_library(db.session, therapist, now - timedelta(days=30))[0]
        article = articles.create_article(db.session, therapist, ArticleInput(
            title=demo.HIP_ARTICLE_TITLE, summary=demo.HIP_ARTICLE_SUMMARY,
            body=demo.HIP_ARTICLE, exercise_id=hip.id, slug=demo.HIP_ARTICLE_SLUG),
            now - timedelta(days=2))
        articles.publish(db.session, therapist, article.id, now - timedelta(days=1))
        db.session.commit()
        steps = list(hip.steps)
    return {"therapist": jo, "steps": steps}


def test_a_visitor_reads_asks_and_the_therapist_replies(app, live_server, new_page, review,
                                                        practice_with_article, smtp_server,
                                                        send_outbox):
    visitor = new_page()
    visitor.context.add_init_script(CSP_LISTENER)
    elsewhere = []
    visitor.on("request", lambda request: None if request.url.startswith(live_server.origin)
               else elsewhere.append(request.url))

    # The front page: the practice, its services and the article.
    visitor.goto(live_server.url("/"))
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Riverside Sports Massage")
    expect(visitor.get_by_text("£65")).to_be_visible()
    expect(visitor.get_by_role("link", name="Book a session")).to_be_visible()
    review(visitor, "articles-01-front-page")

    # The article, from the front page.
    visitor.get_by_role("link", name=demo.HIP_ARTICLE_TITLE).click()
    expect(visitor).to_have_url(live_server.url(f"/articles/{demo.HIP_ARTICLE_SLUG}"))
    expect(visitor.get_by_role("heading", level=1)).to_have_text(demo.HIP_ARTICLE_TITLE)
    expect(visitor.get_by_role("heading", name="Kneeling hip flexor stretch")).to_be_visible()
    expect(visitor.get_by_role("img", name="Illustration: Kneeling hip flexor stretch")
           ).to_be_visible()
    review(visitor, "articles-02-article")

    # The schema.org data is there for search engines, and the browser ran none of it: the
    # page reports no CSP violation (a data block is not a script to the CSP)...
    data = json.loads(visitor.locator('script[type="application/ld+json"]').text_content())
    how_to = next(item for item in data if item["@type"] == "HowTo")
    assert [step["text"] for step in how_to["step"]] == practice_with_article["steps"]
    assert visitor.evaluate("window.__violations") == []
    # ...while an inline script slipped into the page is refused, so the listener works.
    visitor.evaluate("""() => {
        const script = document.createElement('script');
        script.textContent = 'window.__ran = true';
        document.body.append(script);
    }""")
    visitor.wait_for_function("window.__violations.length > 0")
    assert visitor.evaluate("window.__ran === undefined")
    assert visitor.evaluate("window.__violations")[0].startswith("script-src")
    page_problems(visitor).clear()  # the refusal logged on purpose

    # A reader gets no cookie, and on paper the calls to action give way to the address.
    assert visitor.context.cookies() == []
    visitor.emulate_media(media="print")
    expect(visitor.locator(".article-cta")).to_be_hidden()
    expect(visitor.locator(".article__source")).to_contain_text(
        f"/articles/{demo.HIP_ARTICLE_SLUG}")
    visitor.emulate_media(media="screen")

    # Asking about the stretch.
    visitor.get_by_role("link", name="Ask about this stretch").click()
    expect(visitor.get_by_role("heading", name="Ask about this stretch")).to_be_visible()
    expect(visitor.get_by_text(demo.HIP_ARTICLE_TITLE)).to_be_visible()
    visitor.get_by_label("Your name").fill("Maya Collins")
    visitor.get_by_label("Your email").fill(VISITOR)
    visitor.get_by_label("Your question").fill(QUESTION)
    visitor.get_by_label("You may contact me by email about my question").check()
    review(visitor, "articles-03-ask")
    visitor.get_by_role("button", name="Send my question").click()
    expect(visitor.get_by_role("heading", name="Thank you: your question is with us")
           ).to_be_visible()
    review(visitor, "articles-04-sent")
    # The form's CSRF token needed a session cookie, and that is the only one.
    assert [c["name"] for c in visitor.context.cookies()] == ["portal_session"]
    assert elsewhere == []

    assert send_outbox() == (2, 0)
    [confirmation] = smtp_server.to(VISITOR)
    assert "We have your message" in confirmation["Subject"]
    [note] = smtp_server.to("jo@example.com")
    note_text = text_part(note)
    assert QUESTION not in note_text and "Maya" not in note_text
    link = re.search(r"http://\S+/enquiries/\d+", note_text).group(0)

    # The therapist: the dashboard says one is waiting; read it and reply.
    jo = new_page()
    sign_in(jo, live_server, "jo@example.com", TEST_PASSWORD)
    expect(jo.get_by_role("link", name="1 new enquiry, 1 unread")).to_be_visible()
    jo.get_by_role("link", name="1 new enquiry, 1 unread").click()
    expect(jo.get_by_role("heading", name="Enquiries", level=1)).to_be_visible()
    jo.get_by_role("link", name="Maya Collins").click()
    expect(jo).to_have_url(link.replace(re.match(r"http://[^/]+", link).group(0),
                                        live_server.origin))
    expect(jo.get_by_text(QUESTION)).to_be_visible()
    expect(jo.get_by_role("link", name=demo.HIP_ARTICLE_TITLE)).to_be_visible()
    jo.get_by_label("Your reply").fill(REPLY)
    review(jo, "articles-05-enquiry")
    jo.get_by_role("button", name="Send reply").click()
    expect(jo.get_by_role("status")).to_contain_text("Your reply is on its way")
    expect(jo.get_by_text("No new enquiries.")).to_be_visible()

    assert send_outbox() == (1, 0)
    reply = smtp_server.to(VISITOR)[-1]
    assert reply["Subject"] == "Re: your question to Riverside Sports Massage"
    reply_text = text_part(reply)
    assert REPLY in reply_text and QUESTION in reply_text

    # The editor, as the therapist writes the next one.
    nav_link(jo, "Writing").click()
    jo.get_by_role("link", name=demo.HIP_ARTICLE_TITLE).click()
    jo.get_by_role("link", name="Edit", exact=True).click()
    expect(jo.get_by_label("Article")).to_have_value(re.compile("Why tight hip flexors"))
    review(jo, "articles-06-editor")
    jo.get_by_role("button", name="Preview").click()
    expect(jo.get_by_role("heading", name="Preview: not saved yet")).to_be_visible()
    review(jo, "articles-07-preview")
