"""The "Get in touch" form and the therapist's enquiries through the test client: a question
is stored and both emails queued, the honeypot drops a bot silently, the rate limit holds,
bad input writes nothing; the therapist sees the unread count, reads, replies by email,
marks done and deletes; clients are kept out."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Enquiry, EnquiryReply, EnquiryStatus, OutboxMessage, User
from portal.seed.library import seed_library
from portal.services import articles
from portal.services.articles import ArticleInput
from tests.conftest import form_post, sign_in_directly

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SLUG = "hip-flexor-stretch"
QUESTION = "My knees don't like kneeling. Is there another way to do the stretch?"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def world(app, practice, make_therapist):
    app.config["PORTAL_CLOCK"] = lambda: NOW
    jo = make_therapist(name="Jo Fletcher", email="jo@example.com")
    with app.app_context():
        therapist = db.session.get(User, jo.id)
        hip = seed_library(db.session, therapist, NOW - timedelta(days=9))[0]
        article = articles.create_article(db.session, therapist, ArticleInput(
            title="Exercise of the week: hip flexor stretch", summary="Why and how.",
            body="Text.", exercise_id=hip.id, slug=SLUG), NOW - timedelta(days=2))
        articles.publish(db.session, therapist, article.id, NOW - timedelta(days=1))
        db.session.commit()
        return {"therapist": jo, "article": article.id}


def send(client, *, environ_base=None, **overrides):
    data = {"name": "Maya Collins", "email": "maya@example.com", "message": QUESTION,
            "consent": "y", "article": SLUG, "website": ""}
    data.update(overrides)
    return form_post(client, f"/ask?article={SLUG}", data, action="/ask",
                     environ_base=environ_base or {})


def rows(app, model, *where) -> list:
    with app.app_context():
        found = list(db.session.scalars(sa.select(model).where(*where)))
        for row in found:
            db.session.expunge(row)
        return found


# --- asking ---------------------------------------------------------------------------------


def test_the_form_names_the_article_it_came_from(client, world):
    page = text(client.get(f"/ask?article={SLUG}"))
    assert "Ask about this stretch" in page
    assert (f'About <a href="/articles/{SLUG}">Exercise of the week: hip flexor stretch</a>'
            in page)
    assert f'<input id="article" name="article" type="hidden" value="{SLUG}">' in page
    assert "<h1>Get in touch</h1>" in text(client.get("/ask?article=not-an-article"))


def test_a_question_is_stored_and_both_emails_are_queued(client, world, app, outbox):
    response = send(client)
    assert response.status_code == 302
    assert response.location == f"/ask/sent?article={SLUG}"
    assert "your question is with us" in text(client.get(response.location))
    [enquiry] = rows(app, Enquiry)
    assert (enquiry.name, enquiry.email, enquiry.message, enquiry.article_id) == (
        "Maya Collins", "maya@example.com", QUESTION, world["article"])
    assert [(m.kind, m.to_addr) for m in outbox()] == [
        ("enquiry_received", "jo@example.com"), ("enquiry_confirmation", "maya@example.com")]
    note = outbox("enquiry_received")[0]
    assert f"http://localhost/enquiries/{enquiry.id}" in note.text_body
    assert QUESTION not in note.text_body and "Maya" not in note.text_body


def test_a_bot_filling_the_honeypot_is_thanked_and_forgotten(client, world, app, outbox):
    response = send(client, website="https://spam.example")
    assert response.status_code == 302 and response.location.startswith("/ask/sent")
    assert rows(app, Enquiry) == [] and outbox() == []


def test_the_honeypot_is_hidden_from_people_and_keyboards(client, world):
    page = client.get("/ask").get_data(as_text=True)
    trap = page.split('class="ask-trap" aria-hidden="true"', 1)[1].split("</div>")[0]
    assert 'name="website"' in trap and 'tabindex="-1"' in trap and 'autocomplete="off"' in trap


@pytest.mark.parametrize("overrides, message", [
    ({"name": ""}, "Enter your name."),
    ({"email": "not an address"}, "Enter an email address like name@example.com."),
    ({"message": ""}, "Write your question or message."),
    ({"consent": ""}, "Tick the box so that we may reply to you."),
])
def test_bad_input_gets_a_message_and_writes_nothing(client, world, app, outbox, overrides,
                                                     message):
    response = send(client, **overrides)
    assert response.status_code == 200
    assert message in text(response)
    assert QUESTION in text(response) or overrides.get("message") == ""  # kept for a retry
    assert rows(app, Enquiry) == [] and outbox() == []


def test_too_many_questions_from_one_address_are_refused(client, world, app):
    # The default allows 3 a minute from one address.
    for n in range(3):
        assert send(client, email=f"maya{n}@example.com").status_code == 302, n
    response = send(client, email="maya9@example.com")
    assert response.status_code == 429
    assert "Too many tries" in text(response)
    assert len(rows(app, Enquiry)) == 3
    other = send(client, email="sam@example.com", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 302


def test_without_a_csrf_token_nothing_is_taken(client, world, app):
    response = client.post("/ask", data={"name": "Maya", "email": "maya@example.com",
                                         "message": QUESTION, "consent": "y"})
    assert response.status_code == 400
    assert rows(app, Enquiry) == []


def test_a_signed_in_client_finds_their_name_and_email_filled_in(app, world, make_client):
    alex = app.test_client()
    sign_in_directly(alex, make_client(name="Alex Morgan", email="alex@example.com"))
    page = alex.get("/ask").get_data(as_text=True)
    assert 'value="Alex Morgan"' in page and 'value="alex@example.com"' in page


# --- the therapist's side -------------------------------------------------------------------


@pytest.fixture
def jo(app, world):
    browser = app.test_client()
    sign_in_directly(browser, world["therapist"])
    return browser


def test_the_dashboard_counts_unread_enquiries_until_one_is_opened(client, jo, world, app):
    assert "No new enquiries" in text(jo.get("/dashboard/"))
    send(client)
    [enquiry] = rows(app, Enquiry)
    assert "1 new enquiry, 1 unread" in text(jo.get("/dashboard/"))
    listing = text(jo.get("/enquiries/"))
    assert "Maya Collins" in listing and "Unread" in listing
    assert "about “Exercise of the week: hip flexor stretch”" in listing
    page = text(jo.get(f"/enquiries/{enquiry.id}"))
    assert QUESTION in page and "maya@example.com" in page
    dashboard = text(jo.get("/dashboard/"))
    assert "1 new enquiry" in dashboard and "1 new enquiry, 1 unread" not in dashboard


def test_a_reply_goes_by_email_is_kept_and_marks_it_done(client, jo, world, app, outbox):
    send(client)
    [enquiry] = rows(app, Enquiry)
    page = f"/enquiries/{enquiry.id}"
    response = form_post(jo, page, {"body": "Try the standing version first.\n\nJo",
                                    "mark_done": "y"}, action=f"{page}/reply")
    assert response.status_code == 302 and response.location == "/enquiries/"
    [sent] = outbox("enquiry_reply")
    assert sent.to_addr == "maya@example.com"
    assert "Try the standing version first." in sent.text_body and QUESTION in sent.text_body
    [answer] = rows(app, EnquiryReply)
    assert answer.outbox_message_id == sent.id
    [enquiry] = rows(app, Enquiry)
    assert enquiry.status is EnquiryStatus.DONE
    shown = text(jo.get(page))
    assert "Try the standing version first." in shown and "being sent" in shown
    assert "Maya Collins" in text(jo.get("/enquiries/?status=done"))
    assert "Maya Collins" not in text(jo.get("/enquiries/"))


def test_an_empty_reply_is_refused_with_nothing_sent(client, jo, world, app, outbox):
    send(client)
    [enquiry] = rows(app, Enquiry)
    page = f"/enquiries/{enquiry.id}"
    response = form_post(jo, page, {"body": ""}, action=f"{page}/reply")
    assert response.status_code == 200 and "Write your reply." in text(response)
    assert outbox("enquiry_reply") == [] and rows(app, EnquiryReply) == []


def test_marking_done_reopening_and_deleting(client, jo, world, app):
    send(client)
    [enquiry] = rows(app, Enquiry)
    page = f"/enquiries/{enquiry.id}"
    assert form_post(jo, page, {}, action=f"{page}/done").status_code == 302
    assert rows(app, Enquiry)[0].status is EnquiryStatus.DONE
    assert form_post(jo, page, {}, action=f"{page}/reopen").status_code == 302
    assert rows(app, Enquiry)[0].status is EnquiryStatus.NEW
    assert "deleted for good" in text(jo.get(f"{page}/delete"))
    assert form_post(jo, f"{page}/delete", {}).status_code == 302
    assert rows(app, Enquiry) == []
    assert rows(app, OutboxMessage, OutboxMessage.kind == "enquiry_confirmation") == []
    assert jo.get(page).status_code == 404


def test_clients_cannot_open_enquiries(client, app, world, make_client):
    send(client)
    [enquiry] = rows(app, Enquiry)
    alex = app.test_client()
    sign_in_directly(alex, make_client())
    for path in ("/enquiries/", f"/enquiries/{enquiry.id}", f"/enquiries/{enquiry.id}/delete"):
        assert alex.get(path).status_code == 403, path
