"""Messages between clients and the practice, without HTTP: who may read and write which
conversation, what a new one records about its topic, bad input, read receipts, unread counts
and the inbox order, marking done and reopening, the "message waiting" emails (never the
text), erased clients, and fixed query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.models import (
    AuditEvent,
    Message,
    MessageThread,
    OutboxMessage,
    ProgrammeVersion,
    ThreadStatus,
    User,
)
from portal.models.messages import BODY_MAX, SUBJECT_MAX
from portal.services import client_record, clients, erasure, messages
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.clients_support import NOW, counting_statements
from tests.conftest import TEST_PASSWORD
from tests.messages_support import LINKS, SECRET, ask, make_people


@pytest.fixture
def people(session, make_therapist, make_client):
    return make_people(session, make_therapist, make_client)


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def actions(session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                .order_by(AuditEvent.id)))


def emails(session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "message_waiting").order_by(OutboxMessage.id)))


# --- who may do what ----------------------------------------------------------------------


def test_a_client_reads_and_writes_only_their_own_threads_and_a_therapist_all(session, people):
    alex_thread = ask(session, people.alex)
    for user, view, done in [(people.alex, True, False), (people.bea, False, False),
                             (people.jo, True, True)]:
        assert messages.can_view(user, alex_thread) is view, user.name
        assert messages.can_write(user, alex_thread) is view, user.name
        assert messages.can_mark_done(user, alex_thread) is done, user.name


def test_someone_elses_thread_is_not_found_for_every_action_and_nothing_is_written(
        session, people):
    thread = ask(session, people.alex)
    session.commit()
    before = (count(session, Message), count(session, AuditEvent), thread.status)
    bea = people.bea
    with pytest.raises(NotFound):
        messages.get_thread(session, bea, thread.id)
    with pytest.raises(NotFound):
        messages.read_thread(session, bea, thread, now=NOW)
    with pytest.raises(NotFound):
        messages.reply(session, bea, thread, "Hello", now=NOW, links=LINKS)
    with pytest.raises(NotFound):
        messages.mark_done(session, bea, thread, now=NOW)
    with pytest.raises(NotFound):
        messages.reopen(session, bea, thread, now=NOW)
    # Alex may read and write it, but only the practice marks it done.
    with pytest.raises(PermissionDenied):
        messages.mark_done(session, people.alex, thread, now=NOW)
    with pytest.raises(PermissionDenied):
        messages.reply(session, people.alex, thread, "Done now", now=NOW, links=LINKS,
                       mark_done=True)
    session.rollback()
    assert (count(session, Message), count(session, AuditEvent), thread.status) == before
    with pytest.raises(NotFound):
        messages.get_thread(session, people.alex, thread.id + 1000)


def test_only_a_client_starts_a_thread_and_only_about_their_own_things(session, people):
    alex, bea = people.alex, people.bea
    with pytest.raises(PermissionDenied):
        messages.start_thread(session, people.jo, topic=messages.GENERAL, subject="Hi",
                              body="Hello", now=NOW, links=LINKS)
    with pytest.raises(NotFound):
        messages.topic_for_item(session, alex, people.items[bea.id])
    with pytest.raises(NotFound):
        messages.topic_for_appointment(session, alex, people.appointments[bea.id])
    with pytest.raises(NotFound):
        messages.topic_for_appointment(session, people.jo, people.appointments[bea.id])


# --- what a thread records --------------------------------------------------------------------


def test_asking_about_a_stretch_names_the_exercise_and_the_version_the_client_was_on(
        session, people):
    alex = people.alex
    topic = messages.topic_for_item(session, alex, people.items[alex.id])
    thread = ask(session, alex, "Is the pinch normal?", subject="ignored", topic=topic)
    version = session.scalars(select(ProgrammeVersion)
                              .where(ProgrammeVersion.id == thread.programme_version_id)).one()
    assert thread.exercise.slug == "cat-cow"
    assert thread.subject == thread.exercise.name
    assert version.programme.client_id == alex.id and version.number == 1
    assert thread.appointment_id is None and thread.status is ThreadStatus.OPEN
    [message] = thread.messages
    assert (message.author_id, message.from_client, message.body) == (
        alex.id, True, "Is the pinch normal?")
    started = actions(session, "message_thread.started")[-1]
    assert started.details == {"thread": thread.id, "about": "exercise"}
    sent = actions(session, "message.sent")[-1]
    assert (sent.actor_id, sent.subject_user_id) == (alex.id, alex.id)
    assert "pinch" not in str(sent.details)  # the text stays out of the trail


def test_asking_about_a_session_names_it_in_the_practices_time(session, people):
    alex = people.alex
    topic = messages.topic_for_appointment(session, alex, people.appointments[alex.id])
    thread = ask(session, alex, "Can I come straight from a run?", topic=topic)
    assert thread.appointment_id == people.appointments[alex.id]
    # Friday 6 March 2026, 12:00 UTC is 12:00 in London (GMT).
    assert thread.subject == "Session on Friday 6 March at 12:00"
    assert thread.exercise_id is None and thread.programme_version_id is None


def test_a_general_question_needs_a_subject_of_its_own(session, people):
    with pytest.raises(InvalidInput) as missing:
        ask(session, people.alex, subject="   ")
    assert missing.value.field == "subject"
    with pytest.raises(InvalidInput) as long:
        ask(session, people.alex, subject="x" * (SUBJECT_MAX + 1))
    assert long.value.field == "subject"
    thread = ask(session, people.alex, subject="  Sore   after\tmy run  ")
    assert thread.subject == "Sore after my run"


@pytest.mark.parametrize("body", ["", "   \n\t  ", "x" * (BODY_MAX + 1)])
def test_an_empty_or_too_long_message_is_refused_and_nothing_is_written(session, people, body):
    thread = ask(session, people.alex)
    session.commit()
    before = (count(session, MessageThread), count(session, Message),
              count(session, OutboxMessage), count(session, AuditEvent))
    with pytest.raises(InvalidInput) as error:
        ask(session, people.alex, body)
    assert error.value.field == "body"
    for author in (people.alex, people.jo):
        with pytest.raises(InvalidInput):
            messages.reply(session, author, thread, body, now=NOW, links=LINKS)
    session.rollback()
    assert (count(session, MessageThread), count(session, Message),
            count(session, OutboxMessage), count(session, AuditEvent)) == before


def test_a_message_keeps_its_lines_and_loses_only_the_blank_ends(session, people):
    thread = ask(session, people.alex, "\r\n  First line\r\nSecond line\n\n", subject="Lines")
    assert thread.messages[0].body == "First line\nSecond line"
    assert ask(session, people.alex, "y" * BODY_MAX).messages[0].body == "y" * BODY_MAX


# --- reading, read receipts and unread counts ---------------------------------------------------


def test_opening_a_thread_marks_the_other_sides_messages_read_and_audits_a_therapist(
        session, people):
    alex, jo = people.alex, people.jo
    thread = ask(session, alex, "First")
    messages.reply(session, alex, thread, "Second", now=NOW + timedelta(minutes=1), links=LINKS)
    assert messages.unread_summary(session, jo).messages == 2
    assert messages.client_unread(session, alex) == 0

    seen = NOW + timedelta(hours=1)
    view = messages.read_thread(session, jo, thread, now=seen, ip="203.0.113.10")
    assert [m.body for m in view.messages] == ["First", "Second"]
    assert view.new == {m.id for m in view.messages}
    assert all(m.read_at == seen for m in view.messages)  # the page shows the receipt
    session.commit()
    assert set(session.scalars(select(Message.read_at))) == {seen}
    assert messages.unread_summary(session, jo).messages == 0
    [read] = actions(session, "message_thread.read")
    assert (read.actor_id, read.subject_user_id, read.ip, read.at) == (
        jo.id, alex.id, "203.0.113.10", seen)
    assert read.details == {"thread": thread.id}

    # Every reading is audited, even with nothing new; nothing is new the second time.
    again = messages.read_thread(session, jo, thread, now=seen + timedelta(minutes=5))
    assert again.new == frozenset()
    assert len(actions(session, "message_thread.read")) == 2
    assert all(m.read_at == seen for m in again.messages)  # the first reading stays

    answer = messages.reply(session, jo, thread, "Answer", now=seen, links=LINKS)
    assert messages.client_unread(session, alex) == 1
    assert [r.unread for r in messages.client_threads(session, alex).rows] == [1]
    # The client's own reading marks the reply read (the therapist's receipt), unaudited.
    later = seen + timedelta(hours=2)
    mine = messages.read_thread(session, alex, thread, now=later)
    assert mine.new == {answer.id}
    assert answer.read_at == later
    assert messages.client_unread(session, alex) == 0
    assert len(actions(session, "message_thread.read")) == 2


def test_the_inbox_puts_unread_first_then_the_newest_and_counts_each_filter(session, people):
    alex, bea, jo = people.alex, people.bea, people.jo
    old_unread = ask(session, alex, when=NOW - timedelta(days=3), subject="Old, unread")
    read = ask(session, bea, when=NOW - timedelta(days=1), subject="Newer, read")
    messages.read_thread(session, jo, read, now=NOW)
    done = ask(session, bea, when=NOW - timedelta(days=2), subject="Done")
    messages.reply(session, jo, done, "Answered", now=NOW, links=LINKS, mark_done=True)
    newest = ask(session, alex, when=NOW - timedelta(hours=1), subject="Newest, unread")

    page = messages.inbox(session, jo)
    assert page.filter == "open"
    assert [r.thread.subject for r in page.rows] == [
        "Newest, unread", "Old, unread", "Newer, read"]
    assert [r.unread for r in page.rows] == [1, 1, 0]
    assert page.counts == {"open": 3, "unread": 2, "done": 1, "all": 4}
    assert [r.thread.subject for r in messages.inbox(session, jo, filter="done").rows] == [
        "Done"]
    assert [r.thread.subject for r in messages.inbox(session, jo, filter="unread").rows] == [
        "Newest, unread", "Old, unread"]
    assert messages.inbox(session, jo, filter="nonsense").filter == "open"
    only_bea = messages.inbox(session, jo, filter="all", client=bea)
    # Jo's answer is the newest message of all.
    assert [r.thread.subject for r in only_bea.rows] == ["Done", "Newer, read"]
    assert only_bea.counts == {"open": 1, "unread": 0, "done": 1, "all": 2}

    summary = messages.unread_summary(session, jo)
    assert (summary.messages, summary.threads) == (2, 2)
    assert [r.thread.id for r in summary.rows] == [newest.id, old_unread.id]
    record = messages.record_threads(session, jo, alex)
    assert (record.total, [r.unread for r in record.rows]) == (2, [1, 1])
    with pytest.raises(PermissionDenied):
        messages.inbox(session, alex)
    with pytest.raises(PermissionDenied):
        messages.unread_summary(session, alex)


def test_the_client_list_counts_unread_messages_per_client(session, people):
    ask(session, people.alex)
    ask(session, people.alex, "Another")
    thread = ask(session, people.bea)
    messages.read_thread(session, people.jo, thread, now=NOW)
    rows = clients.list_clients(session, people.jo, clients.ClientQuery(), NOW).rows
    assert {r.client.name: r.unread_messages for r in rows} == {"Alex Morgan": 2,
                                                               "Bea Lund": 0}


# --- done and reopened ------------------------------------------------------------------------


def test_done_by_the_practice_and_open_again_when_the_client_writes(session, people):
    alex, jo = people.alex, people.jo
    thread = ask(session, alex)
    assert messages.mark_done(session, jo, thread, now=NOW, ip="203.0.113.10")
    assert (thread.status, thread.done_at, thread.done_by_id) == (ThreadStatus.DONE, NOW, jo.id)
    assert not messages.mark_done(session, jo, thread, now=NOW)  # already done: no new row
    assert len(actions(session, "message_thread.done")) == 1

    # A therapist's reply leaves it done; the client's opens it.
    messages.reply(session, jo, thread, "One more thing", now=NOW, links=LINKS)
    assert thread.is_done
    messages.reply(session, alex, thread, "Thanks, and...", now=NOW, links=LINKS)
    assert (thread.status, thread.done_at, thread.done_by_id) == (ThreadStatus.OPEN, None, None)
    [reopened] = actions(session, "message_thread.reopened")
    assert (reopened.actor_id, reopened.subject_user_id) == (alex.id, alex.id)

    messages.reply(session, jo, thread, "Answered", now=NOW, links=LINKS, mark_done=True)
    assert thread.is_done
    assert messages.reopen(session, jo, thread, now=NOW)
    assert not thread.is_done
    assert not messages.reopen(session, jo, thread, now=NOW)
    session.commit()  # the database's own check: done exactly when done_at is set


# --- the emails -------------------------------------------------------------------------------


def test_a_clients_message_emails_each_therapist_once_until_they_read_it(
        session, people, make_therapist):
    jo, alex = people.jo, people.alex
    kim = make_therapist(name="Kim Ode", email="kim@example.com")
    make_therapist(name="Lee Off", email="lee@example.com", message_emails=False)
    make_therapist(name="Max Gone", email="max@example.com", active=False)
    thread = ask(session, alex)
    assert sorted(e.to_addr for e in emails(session)) == ["jo@example.com", "kim@example.com"]
    messages.reply(session, alex, thread, "And another thing", now=NOW, links=LINKS)
    assert len(emails(session)) == 2  # the first one is still unread: no more email

    messages.read_thread(session, session.get(User, kim.id), thread, now=NOW)
    messages.reply(session, alex, thread, "Sorry, one more", now=NOW, links=LINKS)
    assert len(emails(session)) == 4
    assert jo.message_emails


def test_the_email_says_only_that_a_message_is_waiting(session, people):
    alex, jo = people.alex, people.jo
    thread = ask(session, alex, SECRET, subject="Hip pinch on the left")
    messages.read_thread(session, jo, thread, now=NOW)
    messages.reply(session, jo, thread, "Tuck the pelvis under first", now=NOW, links=LINKS)
    to_jo, to_alex = emails(session)
    assert to_jo.to_addr == jo.email and to_alex.to_addr == alex.email
    assert to_jo.subject == "A client sent you a message"
    assert to_alex.subject == "A new message from Test Practice"
    for email, secrets in ((to_jo, ("Alex", "Morgan", "alex@")), (to_alex, ("Jo", "Fletcher"))):
        everything = " ".join([email.subject, email.text_body, email.html_body])
        for secret in ("pinch", "Hip", "hip", "pelvis", *secrets):
            assert secret not in everything, (email.to_addr, secret)
        assert f"https://portal.test/messages/{thread.id}" in email.text_body
        assert f'href="https://portal.test/messages/{thread.id}"' in email.html_body
        assert "https://portal.test/account/#message-emails" in email.text_body


def test_a_client_who_turned_the_emails_off_or_cannot_sign_in_gets_none(session, people):
    alex, jo = people.alex, people.jo
    thread = ask(session, alex)
    assert messages.set_message_emails(session, alex, False, now=NOW, ip="198.51.100.20")
    assert not messages.set_message_emails(session, alex, False, now=NOW)
    [changed] = actions(session, "account.message_emails_changed")
    assert changed.details == {"on": False}
    messages.reply(session, jo, thread, "Answer", now=NOW, links=LINKS)
    assert [e.to_addr for e in emails(session)] == [jo.email]

    bea_thread = ask(session, people.bea)
    people.bea.active = False
    messages.reply(session, jo, bea_thread, "Answer", now=NOW, links=LINKS)
    assert "bea@example.com" not in [e.to_addr for e in emails(session)]


# --- erasure and the record -------------------------------------------------------------------


def test_an_erased_clients_messages_stay_with_the_records_and_cannot_be_answered(
        session, people, app):
    alex, jo = people.alex, people.jo
    thread = ask(session, alex, when=NOW - timedelta(days=1))
    session.commit()
    # The last entry in the record is now the message, a day after the programme started.
    assert erasure.care_ended_at(session, alex, NOW) == NOW - timedelta(days=1)
    erasure.erase_client(session, app.extensions["portal.passwords"], alex, alex,
                         password=TEST_PASSWORD, now=NOW)
    assert messages.get_thread(session, jo, thread.id).messages[0].body == SECRET
    with pytest.raises(Conflict):
        messages.reply(session, jo, thread, "Hello?", now=NOW, links=LINKS)
    assert messages.thread_context(session, jo, thread, now=NOW).erased
    assert count(session, Message) == 1


def test_the_record_export_holds_every_message_with_when_it_was_read(session, people):
    alex, jo = people.alex, people.jo
    topic = messages.topic_for_item(session, alex, people.items[alex.id])
    thread = ask(session, alex, "Line one\nline two", topic=topic)
    messages.read_thread(session, jo, thread, now=NOW + timedelta(minutes=5))
    messages.reply(session, jo, thread, "Answer", now=NOW + timedelta(minutes=6), links=LINKS,
                   mark_done=True)
    ask(session, people.bea, "Bea's own")
    for actor in (jo, alex):
        exported = client_record.export_record(session, actor, alex, NOW + timedelta(hours=1))
        [entry] = exported["message_threads"]
        assert entry["subject"] == entry["about_exercise"] == thread.exercise.name
        assert entry["programme_version"] == 1
        assert entry["status"] == "done" and entry["done_at"] == "2026-03-04T12:06:00Z"
        assert entry["messages"] == [
            {"sent_at": "2026-03-04T12:00:00Z", "sent_at_local": "2026-03-04T12:00:00+00:00",
             "from": "client", "author": "Alex Morgan", "text": "Line one\nline two",
             "read_at": "2026-03-04T12:05:00Z"},
            {"sent_at": "2026-03-04T12:06:00Z", "sent_at_local": "2026-03-04T12:06:00+00:00",
             "from": "therapist", "author": "Jo Fletcher", "text": "Answer",
             "read_at": None}]


def test_a_therapists_reading_is_one_of_the_views_the_client_sees(session, people):
    thread = ask(session, people.alex)
    messages.read_thread(session, people.jo, thread, now=NOW)
    views = client_record.record_views(session, people.alex, people.alex, 1)
    assert [r.event.action for r in views.rows] == ["message_thread.read"]


# --- fixed work ---------------------------------------------------------------------------------


def _grow(session, people, make_client, threads: int) -> None:
    for n in range(threads):
        client = session.get(User, make_client(name=f"Client {n:03}").id)
        thread = ask(session, client, f"Question {n}", when=NOW - timedelta(minutes=n))
        if n % 2:
            messages.read_thread(session, people.jo, thread, now=NOW)
            messages.reply(session, people.jo, thread, "Answer", now=NOW, links=LINKS,
                           mark_done=n % 4 == 1)
        ask(session, people.alex, f"Alex {n}", when=NOW - timedelta(minutes=n))
    session.commit()


def _statements(session, people) -> dict[str, int]:
    jo, alex = people.jo, people.alex
    found = {}
    calls = {
        "inbox": lambda: messages.inbox(session, jo, filter="all"),
        "unread": lambda: messages.unread_summary(session, jo),
        "client": lambda: messages.client_threads(session, alex),
        "record": lambda: messages.record_threads(session, jo, alex),
        "client_unread": lambda: messages.client_unread(session, alex),
    }
    for name, call in calls.items():
        session.expire_all()
        _ = (jo.role, alex.role)  # the actors as a request would have them, loaded
        with counting_statements() as seen:
            result = call()
            # Reading what the templates show runs no more queries.
            for row in getattr(result, "rows", []):
                _ = (row.thread.client.name, row.thread.subject,
                     row.thread.exercise and row.thread.exercise.name,
                     row.thread.programme_version and row.thread.programme_version.number,
                     row.thread.appointment and row.thread.appointment.starts_at)
        found[name] = len(seen)
    return found


def test_the_lists_run_the_same_queries_at_n_and_10n_threads(session, people, make_client):
    _grow(session, people, make_client, 3)
    small = _statements(session, people)
    _grow(session, people, make_client, 27)
    assert _statements(session, people) == small
    assert small == {"inbox": 2, "unread": 2, "client": 2, "record": 2, "client_unread": 1}
