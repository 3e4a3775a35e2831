"""Enquiries service: an enquiry is stored with its emails queued (which carry nothing the
sender wrote), confirmations to one address are capped, replies go out through the outbox
and are kept, and enquiries are deleted when done a year, when asked, and when the sender's
client account is erased."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import (
    Enquiry,
    EnquiryReply,
    EnquiryStatus,
    OutboxMessage,
    Role,
    User,
)
from portal.services import articles, enquiries, erasure
from portal.services.articles import ArticleInput
from portal.services.enquiries import EnquiryInput, EnquiryLinks
from portal.services.errors import InvalidInput, PermissionDenied

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MESSAGE = "My knees don't like kneeling. Is there another way to do this stretch?"
LINKS = EnquiryLinks(enquiry=lambda e: f"https://portal.test/enquiries/{e.id}",
                     article=lambda a: f"https://portal.test/articles/{a.slug}",
                     front_page="https://portal.test/")


@pytest.fixture
def therapist(session, practice, make_therapist):
    return session.get(User, make_therapist(name="Jo Fletcher").id)


def ask(session, now=NOW, **overrides) -> Enquiry:
    values = {"name": "Maya Collins", "email": "Maya.Collins@Example.com", "message": MESSAGE,
              "consent": True}
    return enquiries.submit(session, EnquiryInput(**{**values, **overrides}), now, LINKS)


def mail(session, kind: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(session.scalars(query))


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# --- taking one in --------------------------------------------------------------------------


def test_an_enquiry_is_stored_and_both_emails_are_queued(session, therapist, make_therapist):
    other = session.get(User, make_therapist(name="Sam Other").id)
    gone = session.get(User, make_therapist(name="Left Already").id)
    gone.active = False
    enquiry = ask(session)
    assert (enquiry.name, enquiry.email, enquiry.message) == ("Maya Collins",
                                                              "maya.collins@example.com", MESSAGE)
    assert enquiry.status is EnquiryStatus.NEW and enquiry.read_at is None and enquiry.consent
    notes = mail(session, "enquiry_received")
    assert sorted(m.to_addr for m in notes) == sorted([therapist.email, other.email])
    assert f"https://portal.test/enquiries/{enquiry.id}" in notes[0].text_body
    [confirmation] = mail(session, "enquiry_confirmation")
    assert confirmation.to_addr == "maya.collins@example.com"


def test_the_emails_carry_nothing_the_sender_wrote(session, therapist):
    ask(session, name="Buy cheap pills at spam.example", message="Visit spam.example now")
    for row in mail(session):
        for part in (row.subject, row.text_body, row.html_body):
            assert "spam.example" not in part, row.kind


def test_an_article_asked_from_is_named(session, therapist):
    article = articles.create_article(session, therapist, ArticleInput(
        title="Hip flexor stretch", summary="Why and how.", body="Text."), NOW)
    articles.publish(session, therapist, article.id, NOW)
    enquiry = ask(session, article_slug=article.slug)
    assert enquiry.article_id == article.id
    [confirmation] = mail(session, "enquiry_confirmation")
    assert "Hip flexor stretch" in confirmation.text_body
    assert f"https://portal.test/articles/{article.slug}" in confirmation.text_body
    # An article that is not (or no longer) public is not named, and the question still counts.
    assert ask(session, article_slug="not-published-anywhere").article_id is None


def test_confirmations_to_one_address_stop_after_three_a_day(session, therapist):
    for n in range(5):
        ask(session, now=NOW + timedelta(minutes=n))
    assert count(session, Enquiry) == 5
    assert len(mail(session, "enquiry_confirmation")) == enquiries.CONFIRMATIONS_PER_DAY
    ask(session, now=NOW + timedelta(days=1, minutes=1))
    assert len(mail(session, "enquiry_confirmation")) == enquiries.CONFIRMATIONS_PER_DAY + 1


@pytest.mark.parametrize("field, overrides, message", [
    ("name", {"name": "  "}, "Enter your name."),
    ("email", {"email": "not an address"}, "Enter an email address"),
    ("message", {"message": ""}, "Write your question"),
    ("message", {"message": "x" * 3001}, "Use at most 3,000 characters."),
    ("consent", {"consent": False}, "Tick the box"),
])
def test_bad_input_is_refused_and_nothing_is_kept(session, therapist, field, overrides,
                                                  message):
    with pytest.raises(InvalidInput, match=message) as caught:
        ask(session, **overrides)
    assert caught.value.field == field
    assert count(session, Enquiry) == 0 and count(session, OutboxMessage) == 0


# --- the inbox ------------------------------------------------------------------------------


def test_opening_marks_it_read_and_the_counts_follow(session, therapist):
    first, second = ask(session), ask(session, email="sam@example.com")
    assert enquiries.counts(session) == enquiries.Counts(unread=2, new=2)
    enquiries.open_enquiry(session, therapist, first.id, NOW + timedelta(hours=1))
    assert first.read_at == NOW + timedelta(hours=1)
    enquiries.open_enquiry(session, therapist, first.id, NOW + timedelta(hours=2))
    assert first.read_at == NOW + timedelta(hours=1)  # the first reading is kept
    assert enquiries.counts(session) == enquiries.Counts(unread=1, new=2)
    enquiries.set_done(session, therapist, second.id, True, NOW + timedelta(hours=3))
    assert enquiries.counts(session) == enquiries.Counts(unread=0, new=1)
    listing = enquiries.listing(session, therapist, EnquiryStatus.DONE)
    assert [e.id for e in listing.enquiries] == [second.id]


def test_a_reply_is_emailed_kept_and_can_close_the_enquiry(session, therapist):
    enquiry = ask(session)
    answer = enquiries.reply(session, therapist, enquiry.id,
                             "Yes: try the standing version first.\r\n\r\nJo", NOW,
                             mark_done=True)
    assert answer.body == "Yes: try the standing version first.\n\nJo"
    [sent] = mail(session, "enquiry_reply")
    assert sent.to_addr == "maya.collins@example.com" and answer.outbox_message_id == sent.id
    assert "Yes: try the standing version first." in sent.text_body
    assert "> " + MESSAGE in sent.text_body  # their question, quoted
    assert enquiry.status is EnquiryStatus.DONE and enquiry.done_at == NOW
    with pytest.raises(InvalidInput, match="Write your reply"):
        enquiries.reply(session, therapist, enquiry.id, "  ", NOW)


def test_only_a_therapist_reads_enquiries(session, therapist, make_client):
    enquiry = ask(session)
    client = session.get(User, make_client().id)
    assert client.role is Role.CLIENT
    for call in (lambda: enquiries.get(session, client, enquiry.id),
                 lambda: enquiries.reply(session, client, enquiry.id, "Hi", NOW),
                 lambda: enquiries.listing(session, client, EnquiryStatus.NEW)):
        with pytest.raises(PermissionDenied):
            call()


# --- how long they are kept -----------------------------------------------------------------


def test_done_enquiries_are_deleted_a_year_after_they_were_done(session, therapist):
    done = ask(session, email="done@example.com")
    enquiries.reply(session, therapist, done.id, "Answered.", NOW, mark_done=True)
    waiting = ask(session, email="waiting@example.com")
    year = timedelta(days=enquiries.DONE_KEPT_DAYS)
    assert enquiries.purge_done(session, NOW + year - timedelta(minutes=1)) == 0
    assert enquiries.purge_done(session, NOW + year + timedelta(minutes=1)) == 1
    assert [e.id for e in session.scalars(select(Enquiry))] == [waiting.id]
    assert count(session, EnquiryReply) == 0
    # The copies of the emails to that sender went with it; the others stay.
    assert {m.to_addr for m in mail(session) if m.kind != "enquiry_received"} == {
        "waiting@example.com"}


def test_deleting_one_on_request_takes_its_replies_and_their_emails(session, therapist):
    enquiry = ask(session)
    enquiries.reply(session, therapist, enquiry.id, "Answered.", NOW)
    enquiries.delete_enquiry(session, therapist, enquiry.id, NOW)
    assert count(session, Enquiry) == count(session, EnquiryReply) == 0
    assert [m.kind for m in mail(session)] == ["enquiry_received"]


def test_erasing_a_client_deletes_the_enquiries_from_their_address(session, app, therapist,
                                                                   make_client):
    client = session.get(User, make_client(email="maya.collins@example.com").id)
    ask(session)
    ask(session, email="someone.else@example.com")
    erasure.erase_client(session, app.extensions["portal.passwords"], therapist, client,
                         password="a quiet harbour at dawn", now=NOW)
    assert [e.email for e in session.scalars(select(Enquiry))] == ["someone.else@example.com"]
