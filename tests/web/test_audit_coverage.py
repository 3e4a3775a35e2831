"""Audit coverage: every view of a client record and of a conversation with a client, and every
change to session notes, programmes, the questionnaire, appointments and messages, driven
through the web pages as the therapist and the client would, leaves an append-only audit row
naming the action, who did it, which client it concerns, when (UTC) and from where (the
request's address)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Appointment,
    AuditEvent,
    CompletionLog,
    ProgrammeTemplate,
    ProgrammeVersion,
    User,
)
from portal.seed.library import seed_library
from portal.services import programmes
from portal.services.intake import RED_FLAGS
from portal.services.programmes import ItemInput
from tests.conftest import csrf_from, form_post, login
from tests.web.test_programmes_web import form_of
from tests.web.test_programmes_web import post as post_programme

# Monday 2 March 2026, 08:00 UTC (GMT in London).
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
THERAPIST_IP = "203.0.113.10"
CLIENT_IP = "198.51.100.20"
HIP = "kneeling-hip-flexor-stretch"
CHILD = "childs-pose"


@pytest.fixture
def world(app, diary, make_client):
    """The diary's therapist and client, each in their own browser with their own address;
    Alex has a programme (version 1) and Sam, a second client, has none."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    sam = make_client(name="Sam Patel")
    with app.app_context():
        jo = db.session.get(User, diary.therapist.id)
        exercises = {e.slug: e for e in seed_library(db.session, jo, NOW - timedelta(days=7))}
        programmes.save_version(db.session, jo, db.session.get(User, diary.client.id), [
            ItemInput.from_exercise(exercises[HIP], moments=("work_break",)),
            ItemInput.from_exercise(exercises[CHILD], moments=("before_bed",)),
        ], "Little and often.", NOW - timedelta(days=6))
        db.session.commit()
    therapist = app.test_client()
    therapist.environ_base["REMOTE_ADDR"] = THERAPIST_IP
    assert login(therapist, diary.therapist.email).status_code == 302
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = CLIENT_IP
    assert login(client, diary.client.email).status_code == 302
    return {"app": app, "diary": diary, "jo": therapist, "alex": client, "sam": sam,
            "jo_id": diary.therapist.id, "alex_id": diary.client.id}


def set_clock(app, when: datetime) -> None:
    app.config["PORTAL_CLOCK"] = lambda: when


def rows(app, action: str) -> list[AuditEvent]:
    """Audit rows of one action, oldest first."""
    with app.app_context():
        found = list(db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        for row in found:
            db.session.expunge(row)
        return found


def assert_audited(app, action: str, *, actor: int, subject: int, ip: str,
                   at: datetime | None = None) -> AuditEvent:
    """The newest row of the action names the actor, the client and the address."""
    found = rows(app, action)
    assert found, f"no audit row for {action}"
    row = found[-1]
    assert (row.actor_id, row.subject_user_id, row.ip) == (actor, subject, ip), action
    assert row.ip  # "from where" is never empty for a change made through the site
    if at is not None:
        stamp = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
        assert stamp == at, action
    return row


def csrf(browser, page: str = "/") -> str:
    return csrf_from(browser.get(page).get_data(as_text=True))


def appointment_at(app, client_id: int, start: datetime) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Appointment.id).where(
            Appointment.client_id == client_id, Appointment.starts_at == start))


def current_item(app, client_id: int, slug: str) -> int:
    with app.app_context():
        version = programmes.current_version(db.session, db.session.get(User, client_id))
        return next(i.id for i in version.items if i.exercise.slug == slug)


# --- the client record ------------------------------------------------------------------------


def test_opening_a_client_record_is_audited(world):
    app, jo = world["app"], world["jo"]
    assert jo.get(f"/clients/{world['alex_id']}").status_code == 200
    assert_audited(app, "client.record_viewed", actor=world["jo_id"],
                   subject=world["alex_id"], ip=THERAPIST_IP, at=NOW)


# --- appointments and session notes, by the therapist ------------------------------------------


def test_therapist_booking_moving_and_cancelling_are_audited(world):
    app, jo, diary, alex = world["app"], world["jo"], world["diary"], world["alex_id"]
    service = diary.services["60 minute massage"]
    response = form_post(jo, f"/diary/book?client={alex}&service={service}&day=2026-03-04", {
        "client": alex, "service": service, "day": "2026-03-04",
        "start": "2026-03-04T10:00:00+00:00"}, action="/diary/book")
    assert response.status_code == 302
    appointment = appointment_at(app, alex, datetime(2026, 3, 4, 10, tzinfo=UTC))
    row = assert_audited(app, "appointment.booked", actor=world["jo_id"], subject=alex,
                         ip=THERAPIST_IP, at=NOW)
    assert row.details["appointment"] == appointment

    url = f"/diary/appointments/{appointment}/reschedule?day=2026-03-06"
    assert form_post(jo, url, {"start": "2026-03-06T15:00:00+00:00"}).status_code == 302
    assert_audited(app, "appointment.rescheduled", actor=world["jo_id"], subject=alex,
                   ip=THERAPIST_IP)

    response = form_post(jo, f"/diary/appointments/{appointment}/cancel",
                         {"message": "Sorry, I'm unwell."})
    assert response.status_code == 302
    assert_audited(app, "appointment.cancelled", actor=world["jo_id"], subject=alex,
                   ip=THERAPIST_IP)


def test_marking_sessions_and_adding_notes_are_audited(world):
    app, jo, diary, alex = world["app"], world["jo"], world["diary"], world["alex_id"]
    service = diary.services["60 minute massage"]
    for start in ("2026-03-02T09:00:00+00:00", "2026-03-02T11:00:00+00:00"):
        response = form_post(jo, f"/diary/book?client={alex}&service={service}&day=2026-03-02",
                             {"client": alex, "service": service, "day": "2026-03-02",
                              "start": start}, action="/diary/book")
        assert response.status_code == 302, start
    first = appointment_at(app, alex, datetime(2026, 3, 2, 9, tzinfo=UTC))
    second = appointment_at(app, alex, datetime(2026, 3, 2, 11, tzinfo=UTC))
    later = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    set_clock(app, later)
    login(jo, diary.therapist.email)  # hours later: the idle session has ended
    token = csrf(jo, "/settings/")

    assert jo.post(f"/diary/appointments/{first}/attended",
                   data={"csrf_token": token}).status_code == 302
    assert_audited(app, "appointment.attended", actor=world["jo_id"], subject=alex,
                   ip=THERAPIST_IP, at=later)
    assert jo.post(f"/diary/appointments/{second}/no-show",
                   data={"csrf_token": token}).status_code == 302
    assert_audited(app, "appointment.no_show", actor=world["jo_id"], subject=alex,
                   ip=THERAPIST_IP, at=later)
    jo.post(f"/diary/appointments/{first}/notes",
            data={"csrf_token": token, "body": "Left hip flexor much freer."})
    row = assert_audited(app, "session_note.added", actor=world["jo_id"], subject=alex,
                         ip=THERAPIST_IP, at=later)
    assert "Left hip" not in str(row.details)  # the note's text stays out of the trail


# --- appointments and the questionnaire, by the client ---------------------------------------


def test_client_booking_moving_and_cancelling_are_audited(world):
    app, alex_browser, diary, alex = (world["app"], world["alex"], world["diary"],
                                      world["alex_id"])
    service = diary.services["60 minute massage"]
    token = csrf(alex_browser, "/appointments/")
    response = alex_browser.post(f"/booking/{service}/confirm",
                                 data={"csrf_token": token, "start": "2026-03-05T10:00:00+00:00"})
    assert response.status_code == 302
    assert_audited(app, "appointment.booked", actor=alex, subject=alex, ip=CLIENT_IP, at=NOW)

    appointment = appointment_at(app, alex, datetime(2026, 3, 5, 10, tzinfo=UTC))
    response = alex_browser.post(f"/booking/{service}/confirm?reschedule={appointment}",
                                 data={"csrf_token": token, "start": "2026-03-05T14:00:00+00:00"})
    assert response.status_code == 302
    assert_audited(app, "appointment.rescheduled", actor=alex, subject=alex, ip=CLIENT_IP)

    response = form_post(alex_browser, f"/appointments/{appointment}/cancel", {"reason": ""})
    assert response.status_code == 302
    assert_audited(app, "appointment.cancelled", actor=alex, subject=alex, ip=CLIENT_IP)


def test_submitting_the_questionnaire_is_audited(world):
    app, alex = world["app"], world["alex_id"]
    answers = {"phone": "07700 900123", "emergency_contact": "Robin, 07700 900456",
               "gp_details": "", "complaints": "Stiff lower back.", "conditions": "",
               "medication": "", "activity": "Runs twice a week", "red_flag_details": "",
               "consent": "y", **{f"flag_{flag.key}": "no" for flag in RED_FLAGS}}
    response = form_post(world["alex"], "/intake/", answers)
    assert response.status_code == 302
    assert_audited(app, "intake.submitted", actor=alex, subject=alex, ip=CLIENT_IP, at=NOW)


# --- programmes ------------------------------------------------------------------------------


def test_therapist_programme_changes_are_audited(world):
    app, jo, alex, sam = world["app"], world["jo"], world["alex_id"], world["sam"].id
    url = f"/programmes/{alex}"
    values = form_of(jo.get(url).get_data(as_text=True))
    response = post_programme(jo, url, values, "save", items__0__hold_seconds=45)
    assert response.status_code == 302
    row = assert_audited(app, "programme.saved", actor=world["jo_id"], subject=alex,
                         ip=THERAPIST_IP, at=NOW)
    assert row.details["version"] == 2

    token = csrf(jo, url)
    response = jo.post(f"{url}/template", data={"csrf_token": token,
                                                "template-name": "Desk back"})
    assert response.status_code == 302
    assert_audited(app, "template.saved", actor=world["jo_id"], subject=alex, ip=THERAPIST_IP)

    with app.app_context():
        template_id = db.session.scalar(sa.select(ProgrammeTemplate.id))
    response = jo.post(f"/programmes/{sam}/apply", data={"csrf_token": token,
                                                      "template_id": template_id,
                                                      "base_version": "0"})
    assert response.status_code == 302
    assert_audited(app, "programme.template_applied", actor=world["jo_id"], subject=sam,
                   ip=THERAPIST_IP)

    sheet = f"/sheet/client/{alex}"
    token = csrf(jo, sheet)
    assert jo.post(f"{sheet}/link", data={"csrf_token": token}).status_code == 302
    assert_audited(app, "programme.share_created", actor=world["jo_id"], subject=alex,
                   ip=THERAPIST_IP)
    assert jo.post(f"{sheet}/link/off", data={"csrf_token": token}).status_code == 302
    assert_audited(app, "programme.share_revoked", actor=world["jo_id"], subject=alex,
                   ip=THERAPIST_IP)


def test_pain_reported_by_the_client_and_seen_by_the_therapist_is_audited(world):
    app, alex = world["app"], world["alex_id"]
    item = current_item(app, alex, HIP)
    page = world["alex"].get(f"/programme/items/{item}").get_data(as_text=True)
    key = (re.search(r'name="client_key"[^>]*value="([^"]+)"', page)
           or re.search(r'value="([^"]+)"[^>]*name="client_key"', page)).group(1)
    response = world["alex"].post(f"/programme/items/{item}/log", data={
        "csrf_token": csrf_from(page), "client_key": key, "feedback_left": "pain",
        "feedback_right": "nothing"})
    assert response.status_code == 200
    assert_audited(app, "programme.pain_reported", actor=alex, subject=alex, ip=CLIENT_IP,
                   at=NOW)

    with app.app_context():
        log_id = db.session.scalar(sa.select(CompletionLog.id).where(CompletionLog.pain))
    token = csrf(world["jo"], f"/programmes/{alex}/versions")
    response = world["jo"].post(f"/programmes/{alex}/logs/{log_id}/acknowledge",
                                data={"csrf_token": token})
    assert response.status_code == 302
    assert_audited(app, "programme.pain_acknowledged", actor=world["jo_id"], subject=alex,
                   ip=THERAPIST_IP)


def test_client_share_links_and_moment_times_are_audited(world):
    app, browser, alex = world["app"], world["alex"], world["alex_id"]
    token = csrf(browser, "/sheet/")
    assert browser.post("/sheet/link", data={"csrf_token": token}).status_code == 302
    assert_audited(app, "programme.share_created", actor=alex, subject=alex, ip=CLIENT_IP)
    assert browser.post("/sheet/link/off", data={"csrf_token": token}).status_code == 302
    assert_audited(app, "programme.share_revoked", actor=alex, subject=alex, ip=CLIENT_IP)

    response = form_post(browser, "/sheet/moments", {
        "morning": "07:30", "work_break": "", "after_training": "", "before_bed": ""})
    assert response.status_code == 302
    row = assert_audited(app, "programme.moment_time_set", actor=alex, subject=alex,
                         ip=CLIENT_IP)
    assert row.details == {"moment": "morning", "time": "07:30"}
    # Saving the same times again changes nothing and adds no row.
    form_post(browser, "/sheet/moments", {
        "morning": "07:30", "work_break": "", "after_training": "", "before_bed": ""})
    assert len(rows(app, "programme.moment_time_set")) == 1


# --- messages -------------------------------------------------------------------------------


def test_every_reading_of_a_conversation_by_the_practice_and_every_message_are_audited(world):
    app, alex_browser, jo, alex = world["app"], world["alex"], world["jo"], world["alex_id"]
    item = current_item(app, alex, HIP)
    response = form_post(alex_browser, f"/programme/items/{item}", {
        "body": "It pinches at the front of my hip."}, action=f"/messages/new?item={item}")
    assert response.status_code == 302
    thread = int(response.location.rsplit("/", 1)[1])
    started = assert_audited(app, "message_thread.started", actor=alex, subject=alex,
                             ip=CLIENT_IP, at=NOW)
    assert started.details == {"thread": thread, "about": "exercise"}
    sent = assert_audited(app, "message.sent", actor=alex, subject=alex, ip=CLIENT_IP, at=NOW)
    assert "pinch" not in str(sent.details)

    for _ in range(2):
        assert jo.get(f"/messages/{thread}").status_code == 200
    assert len(rows(app, "message_thread.read")) == 2
    assert_audited(app, "message_thread.read", actor=world["jo_id"], subject=alex,
                   ip=THERAPIST_IP, at=NOW)
    response = form_post(jo, f"/messages/{thread}", {"body": "Tuck under first.",
                                                     "then": "done"})
    assert response.status_code == 302
    assert_audited(app, "message.sent", actor=world["jo_id"], subject=alex, ip=THERAPIST_IP)
    assert_audited(app, "message_thread.done", actor=world["jo_id"], subject=alex,
                   ip=THERAPIST_IP)

    form_post(alex_browser, f"/messages/{thread}", {"body": "Better now, thanks."})
    assert_audited(app, "message_thread.reopened", actor=alex, subject=alex, ip=CLIENT_IP)
    # The client reading their own conversation is not a reading by the practice.
    alex_browser.get(f"/messages/{thread}")
    assert len(rows(app, "message_thread.read")) == 3  # and the page she replied from
    page = html.unescape(jo.get(f"/clients/{alex}/audit").get_data(as_text=True))
    assert "Conversation read" in page and "Message sent" in page


# --- the trail itself -------------------------------------------------------------------------


def test_the_trail_is_append_only_and_reads_in_plain_words(world):
    app, jo, alex = world["app"], world["jo"], world["alex_id"]
    jo.get(f"/clients/{alex}")
    form_post(world["alex"], "/sheet/moments", {
        "morning": "07:30", "work_break": "", "after_training": "", "before_bed": ""})
    page = html.unescape(jo.get(f"/clients/{alex}/audit").get_data(as_text=True))
    assert "Viewed the client record" in page
    assert "Reminder time for a moment changed" in page
    assert THERAPIST_IP in page and CLIENT_IP in page
    # Nothing in the site edits or deletes a row: the count only grows.
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    jo.get(f"/clients/{alex}")
    with app.app_context():
        after = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        assert after == before + 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ProgrammeVersion)) == 1
