"""Messages through the pages: a client asks from an exercise, an appointment or their inbox;
the therapist sees unread counts on the dashboard and the client list, opens a conversation
(audited every time), replies, marks it done or goes on to the programme form at the exercise;
read receipts, the emails setting, bad input, the rate limit, an erased client, the exports,
and fixed query counts."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Exercise,
    Message,
    MessageThread,
    ProgrammeVersion,
    ThreadStatus,
    User,
)
from portal.models.messages import BODY_MAX
from portal.services import erasure, messages, programmes
from portal.services.programmes import ItemInput
from tests.clients_support import NOW
from tests.conftest import TEST_PASSWORD, csrf_from, form_post, sign_in_directly
from tests.messages_support import LINKS, SECRET, ask, make_people
from tests.web.test_clients_web import text
from tests.web.test_diary_days_web import queries_for

ALEX_IP = "198.51.100.20"
JO_IP = "203.0.113.10"


@pytest.fixture
def people(app, make_therapist, make_client):
    """Jo, Alex and Bea (each client with a programme and an appointment), by id; the clock
    at NOW."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    with app.app_context():
        found = make_people(db.session, make_therapist, make_client)
        return {"jo": found.jo.id, "alex": found.alex.id, "bea": found.bea.id,
                "items": found.items, "appointments": found.appointments}


def signed_in(app, user_id: int, ip: str):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = ip
    with app.app_context():
        sign_in_directly(browser, db.session.get(User, user_id))
    return browser


@pytest.fixture
def alex(app, people):
    return signed_in(app, people["alex"], ALEX_IP)


@pytest.fixture
def jo(app, people):
    return signed_in(app, people["jo"], JO_IP)


def threads(app) -> list[MessageThread]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(MessageThread).order_by(MessageThread.id)))
        for thread in found:
            db.session.expunge(thread)
        return found


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def start(app, client_id: int, body: str = SECRET, **kwargs) -> int:
    """A conversation started through the service, as the client; its id."""
    with app.app_context():
        thread = ask(db.session, db.session.get(User, client_id), body, **kwargs)
        db.session.commit()
        return thread.id


# --- the client writes ------------------------------------------------------------------------


def test_a_client_asks_about_a_stretch_from_its_page(app, people, alex, outbox):
    item = people["items"][people["alex"]]
    page = alex.get(f"/programme/items/{item}").get_data(as_text=True)
    assert f'href="/messages/new?item={item}"' in page
    form = alex.get(f"/messages/new?item={item}")
    assert form.status_code == 200
    assert "version 1 of your programme" in text(form)
    assert 'name="subject"' not in form.get_data(as_text=True)  # the exercise is the subject

    response = form_post(alex, f"/messages/new?item={item}", {"body": "Is a pinch normal?"})
    [thread] = threads(app)
    assert response.status_code == 302
    assert response.location == f"/messages/{thread.id}"
    with app.app_context():
        version = db.session.get(ProgrammeVersion, thread.programme_version_id)
        exercise = db.session.get(Exercise, thread.exercise_id)
        assert (version.programme.client_id, version.number) == (people["alex"], 1)
        assert thread.subject == exercise.name
    page = text(alex.get(response.location))
    assert "Is a pinch normal?" in page and "Programme version 1" in page
    assert "We'll email you when there's a reply" in page
    assert [m.to_addr for m in outbox("message_waiting")] == ["jo@example.com"]


def test_a_client_asks_about_an_appointment_from_their_appointments(app, people, alex):
    appointment = people["appointments"][people["alex"]]
    assert f'href="/messages/new?appointment={appointment}"' in alex.get(
        "/appointments/").get_data(as_text=True)
    assert "Friday 6 March at 12:00" in text(alex.get(f"/messages/new?appointment={appointment}"))
    response = form_post(alex, f"/messages/new?appointment={appointment}",
                         {"body": "Can I come straight from a run?"})
    assert response.status_code == 302
    [thread] = threads(app)
    assert (thread.appointment_id, thread.subject) == (
        appointment, "Session on Friday 6 March at 12:00")


def test_the_inbox_lists_the_clients_own_conversations_and_a_general_one(app, people, alex):
    assert "No messages yet" in text(alex.get("/messages/"))
    response = form_post(alex, "/messages/new", {"subject": "Stiff after work",
                                                  "body": "Line one\nLine <two>"})
    assert response.status_code == 302
    start(app, people["bea"], "Bea's question", subject="Bea's own")
    inbox = alex.get("/messages/")
    assert "Stiff after work" in text(inbox) and "Bea's own" not in text(inbox)
    body = alex.get(response.location).get_data(as_text=True)
    assert "Line one<br>Line &lt;two&gt;" in body


@pytest.mark.parametrize(("data", "message"), [
    ({"subject": "", "body": "Hello"}, "Give your message a subject, in a few words."),
    ({"subject": "Hello", "body": "  \n "}, "Write your message."),
    ({"subject": "Hello", "body": "x" * (BODY_MAX + 1)},
     f"Keep your message under {BODY_MAX:,} characters, or send it in two parts."),
    ({"subject": "y" * 121, "body": "Hello"}, "Keep the subject under 120 characters."),
])
def test_bad_input_gets_a_clear_message_and_writes_nothing(app, people, alex, outbox, data,
                                                           message):
    response = form_post(alex, "/messages/new", data)
    assert response.status_code == 200
    assert message in text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert threads(app) == [] and count(app, Message) == 0 and outbox() == []


def test_a_bad_reply_gets_a_clear_message_and_writes_nothing(app, people, alex, jo):
    thread = start(app, people["alex"])
    for browser in (alex, jo):
        response = form_post(browser, f"/messages/{thread}", {"body": " "})
        assert response.status_code == 200
        assert "Write your message." in text(response)
    assert count(app, Message) == 1


def test_someone_elses_item_or_appointment_is_not_found(app, people, alex):
    bea = people["bea"]
    for url in (f"/messages/new?item={people['items'][bea]}",
                f"/messages/new?appointment={people['appointments'][bea]}",
                "/messages/new?item=nonsense", "/messages/new?appointment="):
        assert alex.get(url).status_code == 404, url
        response = form_post(alex, "/messages/new", {"subject": "x", "body": "Hello"},
                             action=url)
        assert response.status_code == 404, url
    assert threads(app) == []


# --- the therapist ----------------------------------------------------------------------------


def test_the_dashboard_shows_unread_conversations_and_each_reading_is_audited(
        app, people, alex, jo):
    thread = start(app, people["alex"], "First question", subject="Hip pinch")
    start(app, people["alex"], "Second question", subject="Calf")
    dashboard = jo.get("/dashboard/")
    assert "2 unread messages in 2 conversations" in text(dashboard)
    assert f'href="/messages/{thread}"' in dashboard.get_data(as_text=True)
    listed = text(jo.get("/clients/"))
    assert "2 unread messages from Alex Morgan" in listed

    page = jo.get(f"/messages/{thread}")
    assert "First question" in text(page) and "New" in text(page)
    assert "Reply to Alex" in text(page)
    jo.get(f"/messages/{thread}")
    with app.app_context():
        reads = list(db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "message_thread.read")))
        assert [(r.actor_id, r.subject_user_id, r.ip, r.at) for r in reads] == [
            (people["jo"], people["alex"], JO_IP, NOW)] * 2
        assert all(r.details == {"thread": thread} for r in reads)
    assert "1 unread message" in text(jo.get("/dashboard/"))
    # The client opening their own conversation is no audited reading.
    alex.get(f"/messages/{thread}")
    assert count(app, AuditEvent, AuditEvent.action == "message_thread.read") == 2


def test_a_reply_is_read_by_the_client_and_the_therapist_sees_when(app, people, alex, jo,
                                                                    outbox):
    thread = start(app, people["alex"], subject="Hip pinch")
    jo.get(f"/messages/{thread}")
    response = form_post(jo, f"/messages/{thread}", {"body": "Tuck the pelvis under."})
    assert response.status_code == 302
    assert re.fullmatch(rf"/messages/{thread}#message-\d+", response.location)
    assert "Not read yet" in text(jo.get(f"/messages/{thread}"))
    assert [m.to_addr for m in outbox("message_waiting")] == ["jo@example.com",
                                                              "alex@example.com"]

    assert "1 new reply from Test Practice in Messages" in text(alex.get("/"))
    assert "1 new reply" in text(alex.get("/messages/"))
    app.config["PORTAL_CLOCK"] = lambda: NOW + timedelta(hours=2)
    alex, jo = signed_in(app, people["alex"], ALEX_IP), signed_in(app, people["jo"], JO_IP)
    page = text(alex.get(f"/messages/{thread}"))
    assert "Tuck the pelvis under." in page and "New" in page
    assert "new reply" not in text(alex.get("/"))
    assert "Read by Alex Wed 4 March 2026, 14:00" in text(jo.get(f"/messages/{thread}"))


def test_send_and_mark_done_then_the_client_writing_opens_it_again(app, people, alex, jo):
    thread = start(app, people["alex"], subject="Hip pinch")
    jo.get(f"/messages/{thread}")
    response = form_post(jo, f"/messages/{thread}", {"body": "All fine.", "then": "done"})
    assert response.status_code == 302 and response.location == "/messages/"
    assert threads(app)[0].status is ThreadStatus.DONE
    assert "Nothing open" in text(jo.get("/messages/"))
    assert "Hip pinch" in text(jo.get("/messages/?filter=done"))

    form_post(alex, f"/messages/{thread}", {"body": "One more question"})
    assert threads(app)[0].status is ThreadStatus.OPEN
    assert "Hip pinch" in text(jo.get("/messages/"))

    token = csrf_from(jo.get(f"/messages/{thread}").get_data(as_text=True))
    assert jo.post(f"/messages/{thread}/done", data={"csrf_token": token}).status_code == 302
    assert threads(app)[0].is_done
    assert jo.post(f"/messages/{thread}/reopen", data={"csrf_token": token}).status_code == 302
    assert not threads(app)[0].is_done


def test_a_reply_can_go_on_to_the_programme_form_at_the_exercise(app, people, alex, jo):
    item = people["items"][people["alex"]]
    form_post(alex, f"/messages/new?item={item}", {"body": "Is a pinch normal?"})
    [thread] = threads(app)
    page = jo.get(f"/messages/{thread.id}").get_data(as_text=True)
    builder = (f"/programmes/{people['alex']}?exercise={thread.exercise_id}"
               "#exercise-picked")
    assert f'href="{html.escape(builder)}"' in page
    response = form_post(jo, f"/messages/{thread.id}", {"body": "Let's ease it off.",
                                                        "then": "programme"})
    assert response.status_code == 302 and response.location == builder
    form = jo.get(builder).get_data(as_text=True)
    row = form.split('id="item-0"', 1)[1].split("</legend>", 1)[0]
    assert "programmes-item--picked" in form.split('id="item-0"', 1)[0][-200:]
    assert 'id="exercise-picked" tabindex="-1" data-focus-on-load' in row
    assert "Asked about in a message" in row

    # Taken out of the programme since: the library is searched for it instead.
    with app.app_context():
        client = db.session.get(User, people["alex"])
        other = db.session.scalar(sa.select(Exercise).where(
            Exercise.slug == "childs-pose"))
        programmes.save_version(db.session, db.session.get(User, people["jo"]), client,
                                [ItemInput.from_exercise(other)], "", NOW, base_version=1)
        db.session.commit()
        name = db.session.get(Exercise, thread.exercise_id).name
    page = jo.get(builder)
    assert f"{name} isn’t in Alex Morgan’s programme now" in text(page)
    assert f'value="{html.escape(name)}"' in page.get_data(as_text=True)  # the search
    assert "Asked about in a message" not in text(page)


def test_the_record_lists_the_clients_conversations(app, people, jo):
    thread = start(app, people["alex"], subject="Hip pinch")
    start(app, people["bea"], subject="Bea's own")
    page = jo.get(f"/clients/{people['alex']}")
    section = page.get_data(as_text=True).split('id="messages"', 1)[1].split("</section>")[0]
    assert f'href="/messages/{thread}"' in section and "Bea's own" not in section
    assert "1 unread" in section
    # Opening the record is not reading the conversation.
    assert count(app, AuditEvent, AuditEvent.action == "message_thread.read") == 0
    inbox = text(jo.get(f"/messages/?client={people['alex']}&filter=all"))
    assert "Hip pinch" in inbox and "Bea's own" not in inbox
    assert jo.get("/messages/?client=99999").status_code == 404
    assert jo.get(f"/messages/?client={people['jo']}").status_code == 404
    assert jo.get("/messages/?client=x").status_code == 404


# --- emails, limits, erasure, exports ---------------------------------------------------------


def test_a_client_turns_the_emails_off_on_their_account_page(app, people, alex, jo, outbox):
    page = alex.get("/account/")
    assert "Emails about messages" in text(page)
    response = form_post(alex, "/account/", {"message_emails": ""}, action="/messages/emails")
    assert response.status_code == 302 and response.location == "/account/#message-emails"
    assert "Off: we don't email you about messages" in text(alex.get("/account/"))
    thread = start(app, people["alex"])
    jo.get(f"/messages/{thread}")
    form_post(jo, f"/messages/{thread}", {"body": "Answer"})
    assert [m.to_addr for m in outbox("message_waiting")] == ["jo@example.com"]
    # The therapist has the same setting.
    form_post(jo, "/account/", {"message_emails": ""}, action="/messages/emails")
    start(app, people["bea"])
    assert [m.to_addr for m in outbox("message_waiting")] == ["jo@example.com"]
    form_post(alex, "/account/", {"message_emails": "y"}, action="/messages/emails")
    with app.app_context():
        assert db.session.get(User, people["alex"]).message_emails


def test_posting_is_rate_limited_per_person(app, people, alex):
    app.config["RATELIMIT_MESSAGE"] = "3 per minute"
    thread = start(app, people["alex"])
    token = csrf_from(alex.get(f"/messages/{thread}").get_data(as_text=True))
    statuses = [alex.post(f"/messages/{thread}", data={"csrf_token": token,
                                                        "body": f"Message {n}"}).status_code
                for n in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert count(app, Message) == 4  # the first, and three replies
    # Another person's allowance is their own.
    bea = signed_in(app, people["bea"], ALEX_IP)
    assert form_post(bea, "/messages/new", {"subject": "Hi", "body": "Hello"}).status_code == 302


def test_an_erased_clients_conversation_is_kept_and_cannot_be_answered(app, people, jo):
    thread = start(app, people["alex"], subject="Hip pinch")
    with app.app_context():
        alex = db.session.get(User, people["alex"])
        erasure.erase_client(db.session, app.extensions["portal.passwords"], alex, alex,
                             password=TEST_PASSWORD, now=NOW)
        db.session.commit()
    page = jo.get(f"/messages/{thread}")
    assert SECRET in text(page)
    assert "account was erased" in text(page)
    assert 'name="body"' not in page.get_data(as_text=True)
    response = jo.post(f"/messages/{thread}", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "body": "Hello?"})
    assert response.status_code == 200
    assert "can no longer read messages" in text(response)
    assert count(app, Message) == 1


def test_the_exports_hold_the_messages(app, people, alex, jo):
    thread = start(app, people["alex"], "My own words", subject="Hip pinch")
    jo.get(f"/messages/{thread}")
    form_post(jo, f"/messages/{thread}", {"body": "Jo's answer"})
    exported = json.loads(jo.get(f"/clients/{people['alex']}/export").get_data(as_text=True))
    [entry] = exported["message_threads"]
    assert [m["text"] for m in entry["messages"]] == ["My own words", "Jo's answer"]
    page = text(alex.get("/account/data"))
    assert "Hip pinch" in page and "My own words" in page and "Jo's answer" in page


# --- fixed work ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3])
def test_the_pages_run_the_same_queries_at_n_and_10n_conversations(app, people, jo,
                                                                   make_client, n):
    alex_thread = start(app, people["alex"], subject="Hip pinch")

    def grow(first: int, last: int) -> None:
        with app.app_context():
            therapist = db.session.get(User, people["jo"])
            for i in range(first, last):
                client = db.session.get(User, make_client(name=f"Client {i:03}").id)
                thread = ask(db.session, client, f"Question {i}")
                messages.reply(db.session, client, thread, "And another", now=NOW,
                               links=LINKS)
                if i % 2:
                    messages.read_thread(db.session, therapist, thread, now=NOW)
                    messages.reply(db.session, therapist, thread, "Answer", now=NOW,
                                   links=LINKS, mark_done=i % 4 == 1)
                messages.reply(db.session, db.session.get(User, people["alex"]),
                               db.session.get(MessageThread, alex_thread), f"More {i}",
                               now=NOW, links=LINKS)
            db.session.commit()

    urls = ["/dashboard/", "/clients/", "/messages/", "/messages/?filter=all",
            f"/clients/{people['alex']}", f"/messages/{alex_thread}"]
    grow(0, n)
    for url in urls:
        queries_for(app, jo, url)  # warm up: every row read once
    small = {url: queries_for(app, jo, url) for url in urls}
    grow(n, 10 * n)
    for url in urls:
        queries_for(app, jo, url)  # the new messages are marked read once, in one update
    large = {url: queries_for(app, jo, url) for url in urls}
    assert large == small
    assert f"More {10 * n - 1}" in text(jo.get(f"/messages/{alex_thread}"))
