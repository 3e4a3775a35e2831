"""Asking about a stretch, in real browsers: Alex, on a phone, opens the kneeling hip flexor
stretch from Today and asks about it; the therapist is emailed that a message is waiting (and
nothing more), opens the conversation from the dashboard, sees Alex's programme beside it,
replies and goes straight on to the programme form with the stretch picked out, eases the
hold and saves a new version; Alex sees the reply marked new and reads it, and the therapist
sees when.

Each screen is saved as phone and desktop screenshots under test-results/screenshots/<backend>/;
axe checks every page once in test_accessibility_sweep.py.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import AuditEvent, MessageThread, User, utcnow
from portal.seed.library import seed_library
from portal.services import programmes
from portal.services.programmes import ItemInput
from tests.conftest import TEST_PASSWORD, link_in
from tests.e2e.conftest import DESKTOP, nav_link, sign_in

pytestmark = pytest.mark.e2e

HIP_NAME = "Kneeling hip flexor stretch"
QUESTION = "I feel a pinch at the front of my left hip when I lean in. Should I stop?"
ANSWER = "Don't stop: lean less and tuck your tailbone under. I've made the hold shorter."


def set_up(app, therapist_id: int, client_id: int) -> None:
    """The library, and Alex's programme (the hip flexor stretch in work breaks, cat-cow in
    the morning) set two days ago."""
    with app.app_context():
        therapist = db.session.get(User, therapist_id)
        started = utcnow() - timedelta(days=2)
        library = {e.slug: e for e in seed_library(db.session, therapist, started)}
        programmes.save_version(db.session, therapist, db.session.get(User, client_id), [
            ItemInput.from_exercise(library["kneeling-hip-flexor-stretch"],
                                    hold_seconds=30, moments=("work_break",)),
            ItemInput.from_exercise(library["cat-cow"], moments=("morning",)),
        ], "", started)
        db.session.commit()
        db.session.remove()


def test_a_client_asks_from_the_stretch_and_the_therapist_answers_and_adjusts(
        app, live_server, new_page, make_therapist, make_client, outbox, review):
    therapist = make_therapist(name="Jo Fletcher", email="jo.messages@example.com")
    alex = make_client(name="Alex Morgan", email="alex.messages@example.com")
    set_up(app, therapist.id, alex.id)

    # Alex, on a phone, asks from the stretch's own page.
    phone = new_page()
    sign_in(phone, live_server, alex.email, TEST_PASSWORD)
    nav_link(phone, "Today").click()
    phone.get_by_role("link", name=re.compile(HIP_NAME)).first.click()
    expect(phone).to_have_url(re.compile(r"/programme/items/\d+"))
    phone.get_by_role("link", name="Ask about this stretch").click()
    expect(phone.get_by_role("heading", name="Ask about this stretch", level=1)).to_be_visible()
    expect(phone.locator(".message-topic")).to_contain_text(
        f"About {HIP_NAME}, as it is in version 1 of your programme")
    review(phone, "messages-01-ask")
    phone.get_by_label("Your message").fill(QUESTION)
    phone.get_by_role("button", name="Send message").click()
    expect(phone.get_by_role("heading", name=HIP_NAME, level=1)).to_be_visible()
    expect(phone.locator(".flash--success")).to_contain_text("Your message is sent")
    expect(phone.locator(".message")).to_contain_text(QUESTION)
    review(phone, "messages-02-sent")

    # The therapist's email says only that a message is waiting, with the way to it.
    [email] = outbox("message_waiting")
    assert email.to_addr == therapist.email
    for secret in ("pinch", "hip", "Alex"):
        assert secret not in email.text_body + email.subject, secret
    thread_path = link_in(email.text_body, "/messages/")

    # The therapist opens it from the dashboard.
    jo = new_page(viewport=DESKTOP)
    sign_in(jo, live_server, therapist.email, TEST_PASSWORD)
    card = jo.locator(".dashboard-messages")
    expect(card).to_contain_text("1 unread message")
    review(jo, "messages-03-dashboard")
    card.get_by_role("link", name=re.compile(HIP_NAME)).click()
    expect(jo).to_have_url(live_server.url(thread_path))
    expect(jo.locator(".message--new")).to_contain_text(QUESTION)
    aside = jo.locator(".thread-aside")
    expect(aside).to_contain_text("Version 1")
    expect(aside).to_contain_text("30 s each side")
    review(jo, "messages-04-thread")
    with app.app_context():
        reads = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "message_thread.read", AuditEvent.subject_user_id == alex.id))
        assert reads == 1
        db.session.remove()

    # Reply, and go on to the programme form with the stretch picked out.
    jo.get_by_label("Your message").fill(ANSWER)
    jo.get_by_role("button", name="Send and adjust the programme").click()
    expect(jo).to_have_url(re.compile(rf"/programmes/{alex.id}\?exercise=\d+#exercise-picked$"))
    expect(jo.locator(".flash--success")).to_contain_text("Reply sent")
    picked = jo.locator(".programmes-item--picked")
    expect(picked).to_have_count(1)
    expect(picked.get_by_role("heading", name=re.compile(HIP_NAME))).to_be_focused()
    expect(picked).to_contain_text("Asked about in a message")
    review(jo, "messages-05-builder")
    picked.get_by_label("Hold (s)").fill("20")
    expect(picked.locator("[data-summary]")).to_contain_text("20 s each side")
    jo.get_by_role("button", name="Save new version").click()
    expect(jo.locator(".flash--success")).to_contain_text("Saved version 2 of Alex Morgan")

    # Alex is told, sees the reply marked new, and reads it.
    assert [m.to_addr for m in outbox("message_waiting")] == [therapist.email, alex.email]
    nav_link(phone, "Home").click()
    expect(phone.locator(".home-messages")).to_contain_text("1 new reply")
    phone.locator(".home-messages").get_by_role("link").click()
    expect(phone.locator(".thread-list__item--unread")).to_contain_text("1 new reply")
    review(phone, "messages-06-inbox")
    phone.get_by_role("link", name=re.compile(HIP_NAME)).click()
    reply = phone.locator(".message--new")
    expect(reply).to_contain_text(ANSWER)
    expect(reply).to_contain_text("Jo Fletcher")
    review(phone, "messages-07-reply")

    # The therapist sees when Alex read it; the programme Alex follows is the new version.
    jo.goto(live_server.url(thread_path))
    expect(jo.locator(".message__receipt")).to_contain_text("Read by Alex")
    with app.app_context():
        thread = db.session.scalar(sa.select(MessageThread))
        assert thread.programme_version.number == 1  # what Alex asked about
        version = programmes.current_version(db.session, db.session.get(User, alex.id))
        assert version.number == 2
        assert next(i for i in version.items if i.exercise_id == thread.exercise_id
                    ).hold_seconds == 20
        db.session.remove()
