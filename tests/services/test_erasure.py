"""Erasing a client's account and purging their records: what goes at once, what stays until
the retention date, who may do it, the audit rows both steps leave, and the client's own
export and "who has seen my record"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    ClientErasure,
    CompletionLog,
    IntakeForm,
    Message,
    MessageThread,
    MomentTime,
    OutboxMessage,
    Passkey,
    Programme,
    ProgrammeItem,
    ProgrammeShare,
    ProgrammeVersion,
    RecoveryCode,
    SessionNote,
    TwoFactor,
    User,
)
from portal.services import accounts, audit, erasure, programme_shares, two_factor
from portal.services import calendar as calendar_service
from portal.services import client_record as records
from portal.services.emails import Email
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.services.outbox import queue
from portal.services.secret_box import SecretBox
from tests.clients_support import NOW, add_note, book, give_programme, log, set_up_practice
from tests.conftest import TEST_PASSWORD, TEST_SECRET

LAST_VISIT = NOW - timedelta(days=5)  # after the programme started (STARTED)


@pytest.fixture
def passwords(app):
    return app.extensions["portal.passwords"]


@pytest.fixture
def world(session, make_therapist, make_client):
    """Jo; Alex with everything the practice keeps (questionnaire with contact answers, a past
    session with a note, a programme, logs, a session to come, a share link, a calendar feed,
    reminder times, emails) and Bea, another client, with her own."""
    jo = session.get(User, make_therapist(name="Jo Fletcher").id)
    alex = session.get(User, make_client(name="Alex Morgan", email="alex@example.com",
                                         phone="07700 900123").id)
    bea = session.get(User, make_client(name="Bea Lund", email="bea@example.com").id)
    practice = set_up_practice(session, jo)
    for n, who in enumerate((alex, bea)):
        session.add(IntakeForm(client_id=who.id, submitted_at=LAST_VISIT - timedelta(days=30),
                               answers={"complaints": "Stiff back", "phone": "07700 900999",
                                        "emergency_contact": "Sam Morgan 07700 900111",
                                        "gp_details": "Dr Patel"},
                               red_flags=[], consent_version="2026-11",
                               consent_given_at=LAST_VISIT - timedelta(days=30)))
        visit = book(session, practice, who, LAST_VISIT - timedelta(hours=2 * n),
                     status=AppointmentStatus.ATTENDED)
        add_note(session, jo.id, visit, f"Tight hips ({who.name})", LAST_VISIT)
        item = give_programme(session, practice, who)
        log(session, who, item, (LAST_VISIT + timedelta(days=1)).date())
        book(session, practice, who, NOW + timedelta(days=3 + who.id))
        session.add(MomentTime(client_id=who.id, moment="morning", local_time=time(7, 30)))
        thread = MessageThread(client_id=who.id, subject="Sore after the session",
                               created_at=LAST_VISIT, last_message_at=LAST_VISIT)
        session.add(thread)
        session.flush()
        session.add_all([Message(thread_id=thread.id, author_id=who.id, from_client=True,
                                 body="Is it normal to be sore?", created_at=LAST_VISIT),
                         Message(thread_id=thread.id, author_id=jo.id, from_client=False,
                                 body="Yes, for a day or two.", created_at=LAST_VISIT)])
    # The logs are stamped NOW by the helper; move them back to the day after the visit.
    for row in session.scalars(select(CompletionLog)):
        row.logged_at = LAST_VISIT + timedelta(days=1)
    alex_share = programme_shares.create_share(session, alex, alex, NOW - timedelta(days=2))
    feed = calendar_service.feed_token(session, alex)
    mail = Email(subject="Reminder", text="Hello Alex Morgan", html="<p>Hello Alex</p>")
    queue(session, to="alex@example.com", email=mail, kind="appointment_reminder", now=NOW)
    queue(session, to="bea@example.com", email=mail, kind="appointment_reminder", now=NOW)
    audit.record(session, actor=alex, subject=alex, action="account.password_changed",
                 now=NOW - timedelta(days=5), ip="198.51.100.20")
    audit.record(session, actor=jo, subject=alex, action="client.record_viewed",
                 now=NOW - timedelta(days=4), ip="203.0.113.10")
    audit.record(session, actor=jo, subject=alex, action="account.invited",
                 now=NOW - timedelta(days=60), ip="203.0.113.10",
                 note="Invited Alex Morgan <alex@example.com>", nested={"to": ["alex@example.com"]})
    session.commit()
    return {"jo": jo, "alex": alex, "bea": bea, "share": alex_share, "feed": feed,
            "practice": practice}


def count(session, model, **where) -> int:
    query = select(func.count()).select_from(model)
    for key, value in where.items():
        query = query.where(getattr(model, key) == value)
    return session.scalar(query)


def clinical_counts(session, client_id: int) -> dict[str, int]:
    versions = select(ProgrammeVersion.id).join(Programme).where(Programme.client_id == client_id)
    return {
        "questionnaires": count(session, IntakeForm, client_id=client_id),
        "appointments": count(session, Appointment, client_id=client_id),
        "notes": session.scalar(select(func.count()).select_from(SessionNote).join(Appointment)
                                .where(Appointment.client_id == client_id)),
        "versions": session.scalar(select(func.count()).select_from(versions.subquery())),
        "items": session.scalar(select(func.count()).select_from(ProgrammeItem)
                                .where(ProgrammeItem.version_id.in_(versions))),
        "logs": count(session, CompletionLog, client_id=client_id),
        "threads": count(session, MessageThread, client_id=client_id),
        "messages": session.scalar(select(func.count()).select_from(Message)
                                   .join(MessageThread)
                                   .where(MessageThread.client_id == client_id)),
    }


# --- erasure ----------------------------------------------------------------------------


def test_a_wrong_password_erases_nothing(session, world, passwords):
    alex = world["alex"]
    with pytest.raises(InvalidInput) as error:
        erasure.erase_client(session, passwords, alex, alex, password="not my password",
                             now=NOW)
    assert error.value.field == "password"
    session.rollback()
    assert session.get(User, alex.id).name == "Alex Morgan"
    assert count(session, ClientErasure) == 0


def test_erasure_removes_sign_in_and_contact_details_at_once(session, world, passwords):
    alex, bea = world["alex"], world["bea"]
    kept_before = clinical_counts(session, alex.id)
    result = erasure.erase_client(session, passwords, alex, alex, password=TEST_PASSWORD,
                                  now=NOW, ip="198.51.100.20")
    session.commit()

    row = session.get(User, alex.id)
    assert row.name == f"Erased client #{alex.id}"
    assert row.email == f"erased-{alex.id}@erased.invalid"
    assert (row.phone, row.password_hash, row.calendar_token, row.active) == (
        None, None, None, False)
    assert row.session_version > 1
    with pytest.raises(InvalidInput):
        accounts.authenticate(session, passwords, email="alex@example.com",
                              password=TEST_PASSWORD, now=NOW)
    assert calendar_service.feed_for_token(session, world["feed"], None) is None
    with pytest.raises(NotFound):
        programme_shares.resolve_share(session, world["share"])
    assert count(session, ProgrammeShare, client_id=alex.id, revoked_at=None) == 0
    assert count(session, MomentTime, client_id=alex.id) == 0
    assert count(session, MomentTime, client_id=bea.id) == 1

    # The clinical records stay, less the upcoming session (cancelled, not deleted).
    assert clinical_counts(session, alex.id) == kept_before
    statuses = sorted(a.status.value for a in session.scalars(
        select(Appointment).where(Appointment.client_id == alex.id)))
    assert statuses == ["attended", "cancelled"]
    answers = session.scalars(select(IntakeForm).where(IntakeForm.client_id == alex.id)).one()
    assert answers.answers == {"complaints": "Stiff back", "phone": "",
                               "emergency_contact": "", "gp_details": "Dr Patel"}
    bea_answers = session.scalars(select(IntakeForm).where(IntakeForm.client_id == bea.id)).one()
    assert bea_answers.answers["phone"] == "07700 900999"

    assert (result.client_id, result.erased_by_id, result.by_client) == (alex.id, alex.id, True)
    assert result.care_ended_at == LAST_VISIT + timedelta(days=1)  # the last log
    assert result.retain_until == datetime(2034, 2, 28, 12, 0, tzinfo=UTC)
    assert result.retention_years == 8 and result.cancelled_appointments == 1
    assert result.purged_at is None


def test_erasure_removes_every_second_factor_of_the_client_only(session, world, passwords):
    alex, bea = world["alex"], world["bea"]
    box = SecretBox(TEST_SECRET)
    for who in (alex, bea):
        secret = two_factor.begin_app(session, box, who, NOW)
        assert two_factor.confirm_app(session, box, who, code=pyotp.TOTP(secret).at(NOW),
                                      now=NOW)
        session.add(Passkey(user_id=who.id, name="Phone", credential_id=f"key-{who.id}",
                            public_key=b"public", transports=["internal"]))
    session.commit()
    erasure.erase_client(session, passwords, alex, alex, password=TEST_PASSWORD, now=NOW)
    session.commit()
    for factor in (TwoFactor, RecoveryCode, Passkey):
        assert count(session, factor, user_id=alex.id) == 0, factor.__name__
        assert count(session, factor, user_id=bea.id) > 0, factor.__name__


def test_erasure_tells_the_therapist_and_drops_the_clients_emails(session, world, passwords):
    alex = world["alex"]
    erasure.erase_client(session, passwords, alex, alex, password=TEST_PASSWORD, now=NOW)
    session.commit()
    rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [r.to_addr for r in rows] == ["bea@example.com", world["jo"].email]
    told = rows[-1]
    assert told.kind == "erasure_cancelled"
    assert f"Erased client #{alex.id}" in told.text_body
    assert "Alex" not in told.text_body + told.html_body + told.subject
    assert "60 minute massage" in told.text_body


def test_erasure_scrubs_the_audit_rows_and_leaves_one_without_personal_data(session, world,
                                                                          passwords):
    alex = world["alex"]
    erasure.erase_client(session, passwords, alex, alex, password=TEST_PASSWORD, now=NOW,
                         ip="198.51.100.20")
    session.commit()
    events = session.scalars(select(AuditEvent).where(
        (AuditEvent.subject_user_id == alex.id) | (AuditEvent.actor_id == alex.id))).all()
    text = json.dumps([[e.action, e.ip, e.details] for e in events])
    for personal in ("Alex", "alex@example.com", "198.51.100.20", "07700 900123"):
        assert personal not in text, personal
    invited = next(e for e in events if e.action == "account.invited")
    assert invited.details == {"note": f"Erased client #{alex.id}",
                               "nested": {"to": [f"Erased client #{alex.id}"]}}
    assert invited.ip == "203.0.113.10"  # the therapist's own address stays
    erased = next(e for e in events if e.action == "account.erased")
    assert (erased.actor_id, erased.subject_user_id, erased.ip) == (alex.id, alex.id, None)
    assert erased.details == {"by": "client", "retain_until": "2034-02-28T12:00:00+00:00",
                              "cancelled": 1}
    cancelled = next(e for e in events if e.action == "appointment.cancelled")
    assert cancelled.details["erasure"] is True and cancelled.ip is None


def test_a_therapist_erases_with_their_own_password(session, world, passwords):
    jo, alex = world["jo"], world["alex"]
    with pytest.raises(InvalidInput):
        erasure.erase_client(session, passwords, jo, alex, password="wrong one", now=NOW)
    session.rollback()
    result = erasure.erase_client(session, passwords, jo, alex, password=TEST_PASSWORD,
                                  now=NOW, ip="203.0.113.10")
    session.commit()
    assert (result.erased_by_id, result.by_client) == (jo.id, False)
    assert session.get(User, alex.id).name == f"Erased client #{alex.id}"
    row = session.scalars(select(AuditEvent).where(AuditEvent.action == "account.erased")).one()
    assert (row.actor_id, row.ip, row.details["by"]) == (jo.id, "203.0.113.10", "therapist")
    with pytest.raises(Conflict):
        erasure.erase_client(session, passwords, jo, alex, password=TEST_PASSWORD, now=NOW)
    with pytest.raises(Conflict):
        accounts.set_active(session, jo, session.get(User, alex.id), active=True, now=NOW)


def test_no_one_else_may_erase_a_client(session, world, passwords):
    with pytest.raises(PermissionDenied):
        erasure.erase_client(session, passwords, world["bea"], world["alex"],
                             password=TEST_PASSWORD, now=NOW)
    assert count(session, ClientErasure) == 0


def test_care_ends_with_the_later_of_the_last_session_and_the_last_entry(session, world,
                                                                         make_client):
    alex = world["alex"]
    assert erasure.care_ended_at(session, alex, NOW) == LAST_VISIT + timedelta(days=1)
    # A session today that took place counts; one still to come does not.
    book(session, world["practice"], alex, NOW - timedelta(hours=2),
         status=AppointmentStatus.ATTENDED)
    assert erasure.care_ended_at(session, alex, NOW) == NOW - timedelta(hours=2)
    newcomer = session.get(User, make_client().id)
    assert erasure.care_ended_at(session, newcomer, NOW) == NOW


def test_retention_counts_whole_years_and_29_february():
    leap = datetime(2028, 2, 29, 9, 0, tzinfo=UTC)
    assert erasure.add_years(leap, 8) == datetime(2036, 2, 29, 9, 0, tzinfo=UTC)
    assert erasure.add_years(leap, 7) == datetime(2035, 2, 28, 9, 0, tzinfo=UTC)


def test_the_retention_setting_is_checked_and_audited(session, world):
    from portal.models import Practice

    jo = world["jo"]
    practice = session.scalar(select(Practice))
    for bad in (None, 5, 31):
        with pytest.raises(InvalidInput):
            erasure.update_retention(session, jo, practice, years=bad, now=NOW)
    with pytest.raises(PermissionDenied):
        erasure.update_retention(session, world["alex"], practice, years=10, now=NOW)
    erasure.update_retention(session, jo, practice, years=10, now=NOW)
    assert practice.retention_years == 10
    row = session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.updated")).one()
    assert row.details == {"previous": 8, "retention_years": 10}
    assert erasure.plan(session, world["alex"], NOW).retain_until.year == 2036


# --- the purge --------------------------------------------------------------------------


def test_the_purge_deletes_only_records_past_their_date(session, world, passwords):
    jo, alex, bea = world["jo"], world["alex"], world["bea"]
    erasure.erase_client(session, passwords, alex, alex, password=TEST_PASSWORD, now=NOW)
    erasure.erase_client(session, passwords, jo, bea, password=TEST_PASSWORD, now=NOW)
    # Bea's records are kept ten years, Alex's eight.
    session.scalars(select(ClientErasure).where(ClientErasure.client_id == bea.id)).one() \
        .retain_until = datetime(2036, 2, 28, 12, 0, tzinfo=UTC)
    session.commit()
    before = clinical_counts(session, alex.id)
    assert all(before.values())

    assert erasure.purge_due(session, datetime(2034, 2, 28, 11, 59, tzinfo=UTC)) == 0
    assert clinical_counts(session, alex.id) == before

    purged_at = datetime(2034, 2, 28, 12, 0, tzinfo=UTC)
    assert erasure.purge_due(session, purged_at) == 1
    session.commit()
    assert set(clinical_counts(session, alex.id).values()) == {0}
    assert count(session, ProgrammeShare, client_id=alex.id) == 0
    assert all(clinical_counts(session, bea.id).values())
    done = session.scalars(select(ClientErasure).where(ClientErasure.client_id == alex.id)).one()
    assert done.purged_at == purged_at
    row = session.scalars(select(AuditEvent)
                          .where(AuditEvent.action == "account.records_purged")).one()
    assert (row.actor_id, row.subject_user_id, row.ip) == (None, alex.id, None)
    assert row.details == {"logs": 1, "programme_versions": 1, "session_notes": 1,
                           "appointments": 2, "questionnaires": 1, "messages": 2,
                           "message_threads": 1}
    # The pseudonymous row and the trail stay; a second run has nothing to do.
    assert session.get(User, alex.id).name == f"Erased client #{alex.id}"
    assert erasure.purge_due(session, purged_at + timedelta(days=1)) == 0


def test_the_erasures_list_is_for_therapists(session, world, passwords):
    jo, alex, bea = world["jo"], world["alex"], world["bea"]
    erasure.erase_client(session, passwords, alex, alex, password=TEST_PASSWORD, now=NOW)
    erasure.erase_client(session, passwords, jo, bea, password=TEST_PASSWORD,
                         now=NOW + timedelta(minutes=1))
    page = erasure.list_erasures(session, jo, 1)
    assert [(r.erasure.client_id, r.erased_by) for r in page.rows] == [
        (bea.id, "Jo Fletcher"), (alex.id, None)]
    assert (page.total, page.pending) == (2, 2)
    with pytest.raises(PermissionDenied):
        erasure.list_erasures(session, world["bea"], 1)


# --- the client's own export and "who has seen my record" --------------------------------


def test_a_client_exports_their_own_record_and_no_one_elses(session, world):
    alex, bea = world["alex"], world["bea"]
    data = records.export_record(session, alex, alex, NOW, ip="198.51.100.20", shown_as="page")
    session.commit()
    text = json.dumps(data)
    assert data["account"]["email"] == "alex@example.com"
    assert "Tight hips (Alex Morgan)" in text and "Bea" not in text
    assert data["audit_trail"][-1]["action"] == "account.data_exported"
    row = session.scalars(select(AuditEvent)
                          .where(AuditEvent.action == "account.data_exported")).one()
    assert (row.actor_id, row.subject_user_id, row.details) == (alex.id, alex.id,
                                                                 {"shown_as": "page"})
    with pytest.raises(PermissionDenied):
        records.export_record(session, bea, alex, NOW)


def test_who_has_seen_my_record_lists_only_the_practices_views_of_mine(session, world):
    jo, alex, bea = world["jo"], world["alex"], world["bea"]
    records.client_record(session, jo, bea, NOW - timedelta(days=1))
    records.export_record(session, jo, alex, NOW - timedelta(hours=3))
    records.export_record(session, alex, alex, NOW - timedelta(hours=2))
    session.commit()
    page = records.record_views(session, alex, alex, 1)
    assert [(r.event.action, r.actor_name) for r in page.rows] == [
        ("client.exported", "Jo Fletcher"), ("client.record_viewed", "Jo Fletcher")]
    assert page.total == 2
    with pytest.raises(PermissionDenied):
        records.record_views(session, bea, alex, 1)


def test_the_therapists_export_of_an_erased_client_says_so(session, world, passwords):
    jo, alex = world["jo"], world["alex"]
    erasure.erase_client(session, passwords, alex, alex, password=TEST_PASSWORD, now=NOW)
    data = records.export_record(session, jo, alex, NOW)
    assert data["account"]["name"] == f"Erased client #{alex.id}"
    assert data["erasure"] == {"erased_at": "2026-03-04T12:00:00Z", "by": "client",
                               "records_kept_until": "2034-02-28T12:00:00Z",
                               "records_purged_at": None}
    assert "Alex" not in json.dumps(data["audit_trail"])
