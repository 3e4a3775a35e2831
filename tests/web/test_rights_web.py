"""A client's rights over their data, through the pages: "Download my data" (a file and a
printable page, each audited), "Who has seen my record", "Delete my account", and the
therapist's side (erasing for a client, the erased accounts page)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    ClientErasure,
    CompletionLog,
    IntakeForm,
    OutboxMessage,
    SessionNote,
    User,
)
from portal.services import calendar as calendar_service
from tests.clients_support import NOW, TODAY, add_note, book, give_programme, log, set_up_practice
from tests.conftest import TEST_PASSWORD, csrf_from, form_post, login
from tests.web.test_clients_web import text

ALEX_IP = "198.51.100.20"
JO_IP = "203.0.113.10"


@pytest.fixture
def world(app, make_therapist, make_client):
    """Jo; Alex with a questionnaire, an attended session with a note, a programme, logs, a
    session to come and a calendar feed; Bea, another client, with her own note; the clock at
    NOW."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    jo_id = make_therapist(name="Jo Fletcher", email="jo@example.com").id
    alex_id = make_client(name="Alex Morgan", email="alex@example.com").id
    bea_id = make_client(name="Bea Lund", email="bea@example.com").id
    with app.app_context():
        jo, alex, bea = (db.session.get(User, i) for i in (jo_id, alex_id, bea_id))
        practice = set_up_practice(db.session, jo)
        for n, who in enumerate((alex, bea)):
            db.session.add(IntakeForm(
                client_id=who.id, submitted_at=NOW - timedelta(days=20),
                answers={"complaints": f"Stiff back ({who.first_name})",
                         "phone": "07700 900999", "emergency_contact": "Sam 07700 900111"},
                red_flags=["night_pain"], consent_version="2026-11",
                consent_given_at=NOW - timedelta(days=20)))
            visit = book(db.session, practice, who, NOW - timedelta(days=2, hours=n),
                         status=AppointmentStatus.ATTENDED)
            add_note(db.session, jo.id, visit, f"Tight psoas, {who.first_name}'s left side",
                     NOW - timedelta(days=2))
            item = give_programme(db.session, practice, who)
            log(db.session, who, item, TODAY - timedelta(days=1), note=f"Easy ({who.first_name})")
            book(db.session, practice, who, NOW + timedelta(days=3, hours=n))
        feed = calendar_service.feed_token(db.session, alex)
        db.session.commit()
    return {"jo": jo_id, "alex": alex_id, "bea": bea_id, "feed": feed}


def browser(app, email: str, ip: str):
    """A signed-in test client with its own address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    assert login(client, email).status_code == 302
    return client


@pytest.fixture
def alex(app, world):
    return browser(app, "alex@example.com", ALEX_IP)


@pytest.fixture
def jo(app, world):
    return browser(app, "jo@example.com", JO_IP)


def audit_rows(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def user(app, user_id: int) -> User:
    with app.app_context():
        row = db.session.get(User, user_id)
        db.session.expunge(row)
        return row


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


# --- download my data ------------------------------------------------------------------


def test_the_account_page_links_to_each_right(alex):
    page = alex.get("/account/").get_data(as_text=True)
    for href in ("/account/data", "/account/views", "/account/delete"):
        assert f'href="{href}"' in page


def test_my_data_as_a_file_holds_mine_and_no_one_elses_and_is_audited(app, world, alex):
    response = alex.get("/account/data.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="my-data-2026-03-04.json"')
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["email"] == "alex@example.com"
    assert data["questionnaires"][0]["answers"]["complaints"] == "Stiff back (Alex)"
    notes = [n["text"] for a in data["appointments"] for n in a["session_notes"]]
    assert notes == ["Tight psoas, Alex's left side"]
    assert [log["note"] for log in data["completion_logs"]] == ["Easy (Alex)"]
    assert data["account"]["calendar_feed_issued"] is True
    body = response.get_data(as_text=True)
    assert "Bea" not in body and world["feed"] not in body
    [row] = audit_rows(app, "account.data_exported")
    assert (row.actor_id, row.subject_user_id, row.ip, row.details) == (
        world["alex"], world["alex"], ALEX_IP, {"shown_as": "file"})


def test_my_data_as_a_page_to_read_and_print_is_audited(app, world, alex):
    response = alex.get("/account/data")
    assert response.status_code == 200
    page = text(response)
    for expected in ("Your account", "alex@example.com", "Stiff back (Alex)",
                     "Do you have pain that is worse at night", "Tight psoas, Alex's left side",
                     "Session note, Mon 2 March 2026, 12:00 , Jo Fletcher", "Cat–cow",
                     "Once a day, every day", "Easy (Alex)", "Tuesday 3 March 2026",
                     "All data downloaded (the client's own copy)", "Print this page"):
        assert expected in page, expected
    assert "Bea" not in page
    html = response.get_data(as_text=True)
    assert 'href="/account/data.json" download' in html
    assert 'media="print"' in html  # the print stylesheet
    [row] = audit_rows(app, "account.data_exported")
    assert row.details == {"shown_as": "page"} and row.ip == ALEX_IP


def test_the_rights_pages_are_for_clients_only(app, world, jo, client):
    for url in ("/account/data", "/account/data.json", "/account/views", "/account/delete"):
        assert jo.get(url).status_code == 403, url
        assert jo.post(url).status_code in (400, 403, 405), url
        stranger = client.get(url)
        assert stranger.status_code == 302 and "/auth/login" in stranger.location
    assert audit_rows(app, "account.data_exported") == []


# --- who has seen my record --------------------------------------------------------------


def test_who_has_seen_my_record_lists_the_practices_views_of_mine_only(app, world, alex, jo):
    assert "No one at the practice has opened your record yet" in text(alex.get("/account/views"))
    jo.get(f"/clients/{world['alex']}")
    jo.get(f"/clients/{world['bea']}")
    jo.get(f"/clients/{world['alex']}/export")
    alex.get("/account/data.json")  # their own download is not a view by the practice
    page = text(alex.get("/account/views"))
    assert page.count("Jo Fletcher") == 2
    assert "Opened your record" in page and "Downloaded your whole record" in page
    assert "Wed 4 March 2026, 12:00" in page
    bea = browser(app, "bea@example.com", "192.0.2.1")
    assert text(bea.get("/account/views")).count("Jo Fletcher") == 1


def test_who_has_seen_my_record_goes_a_page_at_a_time(app, world, alex):
    from portal.services import audit
    from portal.services.client_record import AUDIT_PAGE_SIZE

    with app.app_context():
        jo, me = db.session.get(User, world["jo"]), db.session.get(User, world["alex"])
        for n in range(AUDIT_PAGE_SIZE + 1):
            audit.record(db.session, actor=jo, subject=me, action="client.record_viewed",
                         now=NOW - timedelta(minutes=n))
        db.session.commit()
    first = alex.get("/account/views")
    assert "Page 1 of 2" in text(first)
    assert 'rel="next" href="/account/views?page=2"' in first.get_data(as_text=True)
    last = alex.get("/account/views?page=9")
    assert "Page 2 of 2" in text(last) and text(last).count("Opened your record") == 1
    assert 'rel="prev" href="/account/views?page=1"' in last.get_data(as_text=True)


# --- delete my account -------------------------------------------------------------------


def test_the_delete_page_says_what_goes_now_and_what_is_kept_until_when(alex):
    response = alex.get("/account/delete")
    page = text(response)
    assert "Erased now" in page
    # Care ended with the last log (3 March, stamped NOW by the helper): kept 8 years.
    assert "Kept until Sat 4 March 2034" in page
    assert "Saturday 7 March at 12:00, 60 minute massage" in page  # the session cancelled
    html = response.get_data(as_text=True)
    assert 'name="password"' in html and 'type="checkbox"' in html and 'name="confirm"' in html


@pytest.mark.parametrize("data, field, message", [
    ({"password": "not my password", "confirm": "y"}, "password", "That is not your password."),
    ({"password": TEST_PASSWORD}, "confirm", "Tick the box to confirm."),
    ({"confirm": "y"}, "password", "Enter your password."),
])
def test_deleting_needs_the_password_and_the_tick(app, world, alex, data, field, message):
    response = form_post(alex, "/account/delete", data)
    assert response.status_code == 200
    assert message in text(response)
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert user(app, world["alex"]).name == "Alex Morgan"
    assert count(app, ClientErasure) == 0
    assert audit_rows(app, "account.erased") == []
    assert alex.get("/account/").status_code == 200  # still signed in


def test_deleting_my_account(app, world, alex, client):
    response = form_post(alex, "/account/delete", {"password": TEST_PASSWORD, "confirm": "y"})
    assert response.status_code == 302 and response.location == "/auth/login"
    # The browser drops its offline copy of Today and anything else it kept for the site.
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'
    page = text(alex.get(response.location))
    assert "Your account is deleted and you are signed out" in page
    assert "kept until Sat 4 March 2034" in page and f"reference #{world['alex']}" in page

    # Signed out everywhere, and can't sign in again.
    assert alex.get("/account/").status_code == 302
    assert login(client, "alex@example.com").status_code == 200
    assert client.get(f"/calendar/{world['feed']}.ics").status_code == 404

    # The row keeps only the id; the audit rows lost the name, email and address.
    row = user(app, world["alex"])
    assert (row.name, row.email, row.phone, row.password_hash, row.active) == (
        f"Erased client #{row.id}", f"erased-{row.id}@erased.invalid", None, None, False)
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).where(
            (AuditEvent.subject_user_id == row.id) | (AuditEvent.actor_id == row.id))).all()
        trail = json.dumps([[e.action, e.ip, e.details] for e in events])
    assert "Alex" not in trail and "alex@example.com" not in trail and ALEX_IP not in trail
    [erased] = audit_rows(app, "account.erased")
    assert (erased.actor_id, erased.subject_user_id, erased.ip) == (row.id, row.id, None)

    # The clinical records are kept; the session to come is cancelled and Jo is told.
    assert count(app, IntakeForm, IntakeForm.client_id == row.id) == 1
    assert count(app, CompletionLog, CompletionLog.client_id == row.id) == 1
    assert count(app, SessionNote) == 2
    assert count(app, Appointment, Appointment.client_id == row.id,
                 Appointment.status == AppointmentStatus.CANCELLED) == 1
    assert count(app, Appointment, Appointment.client_id == row.id) == 2
    [told] = [m for m in list_outbox(app) if m.kind == "erasure_cancelled"]
    assert told.to_addr == "jo@example.com" and "Alex" not in told.text_body
    assert not [m for m in list_outbox(app) if m.to_addr == "alex@example.com"]


def list_outbox(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(OutboxMessage)))
        for row in rows:
            db.session.expunge(row)
        return rows


# --- the therapist's side ----------------------------------------------------------------


def test_a_therapist_erases_an_account_for_a_client(app, world, jo):
    url = f"/clients/{world['alex']}/erase"
    assert 'href="/clients/{}/erase"'.format(world["alex"]) in jo.get(
        f"/clients/{world['alex']}").get_data(as_text=True)
    page = text(jo.get(url))
    assert "Erase Alex Morgan's account" in page and "Kept until Sat 4 March 2034" in page

    wrong = form_post(jo, url, {"password": "not my password", "confirm": "y"})
    assert "That is not your password." in text(wrong)
    assert count(app, ClientErasure) == 0

    done = form_post(jo, url, {"password": TEST_PASSWORD, "confirm": "y"},
                     follow_redirects=True)
    assert done.request.path == "/clients/erasures"
    page = text(done)
    assert f"Alex Morgan's account is erased: they are now Erased client #{world['alex']}" in page
    assert "Jo Fletcher" in page and "Sat 4 March 2034" in page and "Kept" in page
    [erased] = audit_rows(app, "account.erased")
    assert (erased.actor_id, erased.ip, erased.details["by"]) == (world["jo"], JO_IP,
                                                                    "therapist")
    assert login(app.test_client(), "alex@example.com").status_code == 200  # can't sign in

    # The record says so, the list leaves them out, and they can't be reactivated.
    record = text(jo.get(f"/clients/{world['alex']}"))
    assert "This account was erased Wed 4 March 2026 by the practice" in record
    assert "Tight psoas, Alex's left side" in record  # the clinical record is kept
    for listing in ("/clients/", "/programmes/", "/dashboard/"):
        assert "Erased client" not in text(jo.get(listing)), listing
    assert "Bea Lund" in text(jo.get("/programmes/"))
    page = jo.get(f"/clients/{world['alex']}").get_data(as_text=True)
    response = jo.post(f"/clients/{world['alex']}/access",
                       data={"csrf_token": csrf_from(page), "active": "1"})
    assert response.status_code == 409
    assert not user(app, world["alex"]).active
    # A second erasure is not offered.
    assert "is erased" in text(jo.get(url))
    assert count(app, ClientErasure) == 1


def test_the_erased_accounts_page_is_for_therapists(app, world, alex, jo, client):
    assert "No accounts have been erased" in text(jo.get("/clients/erasures"))
    assert alex.get("/clients/erasures").status_code == 403
    assert alex.get(f"/clients/{world['bea']}/erase").status_code == 403
    stranger = client.get("/clients/erasures")
    assert stranger.status_code == 302 and "/auth/login" in stranger.location
    form_post(alex, "/account/delete", {"password": TEST_PASSWORD, "confirm": "y"})
    page = text(jo.get("/clients/erasures"))
    assert f"Erased client #{world['alex']}" in page and "The client" in page
    assert "1 of 1 still has records kept" in page


def test_the_therapists_export_of_an_erased_client_still_works(app, world, alex, jo):
    form_post(alex, "/account/delete", {"password": TEST_PASSWORD, "confirm": "y"})
    data = jo.get(f"/clients/{world['alex']}/export").get_json()
    assert data["account"]["name"] == f"Erased client #{world['alex']}"
    assert data["erasure"]["by"] == "client"
    assert data["erasure"]["records_kept_until"] == "2034-03-04T12:00:00Z"
    assert len(data["appointments"]) == 2
