"""A session day in a real browser: the therapist opens the diary's day, opens the next
client's record, reads how they got on since the last visit, writes a private note, marks the
session attended and lengthens a stretch in the programme; the client, on a phone, sees the
change on Today. The dashboard home, the month view and the client list are reviewed on the way.

The server's clock is held at 11:00 in London on today's date, so the session that began at
10:45 has started whatever time the suite runs. Each screen is saved
as phone and desktop screenshots under test-results/screenshots/<backend>/; axe checks every
page once in test_accessibility_sweep.py.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    Exercise,
    Feedback,
    Service,
    SessionNote,
    User,
)
from portal.seed.library import seed_library
from portal.services import client_day, programmes
from portal.services.client_day import FeedbackInput
from portal.services.programmes import ItemInput
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import DESKTOP, nav_link, sign_in

pytestmark = pytest.mark.e2e

LONDON = ZoneInfo("Europe/London")
HIP = "Kneeling hip flexor stretch"
CLIENT_NOTE = "Right hip still tight after Sunday's long run"
SESSION_NOTE = "Right psoas and TFL very tight; eased well. Hold the hip flexor stretch longer."
MESSAGE = "Longer holds on the hip flexor stretch now your hip has calmed down."


@dataclass
class Day:
    """What the test set up: the clock and the rows it looks for."""

    now: datetime
    alex_id: int
    today_id: int
    later_id: int


def at(day, hour: int, minute: int = 0) -> datetime:
    """A London wall-clock time on a day, in UTC."""
    return datetime.combine(day, time(hour, minute), LONDON).astimezone(UTC)


def appointment(session, diary, client_id: int, starts_at: datetime, *,
                status=AppointmentStatus.BOOKED, note: str = "") -> Appointment:
    service = session.get(Service, diary.services["60 minute massage"])
    ends_at = starts_at + timedelta(minutes=60)
    row = Appointment(client_id=client_id, therapist_id=diary.therapist.id, service_id=service.id,
                      starts_at=starts_at, ends_at=ends_at,
                      blocked_until=ends_at + timedelta(minutes=15), status=status,
                      price_pence=service.price_pence, booked_by_id=client_id,
                      client_note=note, created_at=starts_at - timedelta(days=5),
                      updated_at=starts_at - timedelta(days=5))
    session.add(row)
    session.flush()
    return row


def set_up(app, diary, sam_id: int) -> Day:
    """Alex: a visit a week ago, a programme since (cat-cow and the hip flexor stretch), logs
    on most days with one pain report, and today's session at 10:45. Sam comes at 14:00."""
    today = datetime.now(LONDON).date()
    now = at(today, 11)
    with app.app_context():
        session = db.session
        therapist = session.get(User, diary.therapist.id)
        alex = session.get(User, diary.client.id)
        last_visit = at(today - timedelta(days=7), 10, 45)
        appointment(session, diary, alex.id, last_visit, status=AppointmentStatus.ATTENDED)
        library = {e.slug: e for e in seed_library(session, therapist, last_visit)}
        version = programmes.save_version(session, therapist, alex, [
            ItemInput.from_exercise(library["cat-cow"], times_per_day=1, days_per_week=7),
            ItemInput.from_exercise(session.get(Exercise, _hip_id(session)), times_per_day=1,
                                    days_per_week=7),
        ], "", last_visit + timedelta(hours=1))
        cat, hip = version.items
        for days_ago in range(6, 0, -1):
            day = today - timedelta(days=days_ago)
            for item in (cat, hip) if days_ago % 3 else (cat,):
                feel = Feedback.PAIN if (item is hip and days_ago == 2) else Feedback.NOTHING
                client_day.log_completion(
                    session, alex, item.id, FeedbackInput(both=feel, left=feel, right=feel),
                    "Sharp at the front of the hip" if feel is Feedback.PAIN else "",
                    uuid.uuid4().hex, day, at(day, 19))
        booked = appointment(session, diary, alex.id, at(today, 10, 45), note=CLIENT_NOTE)
        later = appointment(session, diary, sam_id, at(today, 14))
        session.commit()
        result = Day(now=now, alex_id=alex.id, today_id=booked.id, later_id=later.id)
        session.remove()
    app.config["PORTAL_CLOCK"] = lambda: now
    return result


def _hip_id(session) -> int:
    return session.scalar(sa.select(Exercise.id).where(Exercise.name == HIP))


def test_a_session_day_from_the_diary_to_the_clients_phone(app, live_server, new_page, diary,
                                                        make_client, review):
    sam = make_client(name="Sam Patel", email="sam.dashboard@example.com")
    day = set_up(app, diary, sam.id)
    alex_email = diary.client.email

    jo = new_page(viewport=DESKTOP)
    sign_in(jo, live_server, diary.therapist.email, TEST_PASSWORD)
    expect(jo).to_have_url(live_server.url("/dashboard/"))
    next_session = jo.locator("#next-session")
    expect(next_session).to_contain_text("Alex Morgan")
    expect(next_session).to_contain_text("10:45")
    review(jo, "dashboard-01-home")

    # The diary for today: Alex's session with how the week went.
    nav_link(jo, "Diary").click()
    jo.get_by_role("navigation", name="Diary").get_by_role("link", name="Day, week, month").click()
    expect(jo).to_have_url(re.compile(r"/diary/days"))
    entry = jo.locator(f"#appointment-{day.today_id}")
    expect(entry).to_contain_text("Alex Morgan")
    expect(entry).to_contain_text(CLIENT_NOTE)
    expect(entry).to_contain_text("Version 1")
    expect(entry.locator(".days-summary")).to_contain_text("since the last visit")
    expect(entry.locator(".days-summary")).to_contain_text(re.compile(r"\d+% \(\d+ of \d+"))
    pain = entry.locator(".days-summary div", has_text="Pain reports to review")
    expect(pain.locator("dd")).to_have_text("1")
    expect(jo.locator(f"#appointment-{day.later_id}")).to_contain_text("Sam Patel")
    review(jo, "dashboard-02-diary-day")

    # Open the client: the record has the same story in more depth.
    entry.get_by_role("link", name="Alex Morgan", exact=True).click()
    expect(jo).to_have_url(live_server.url(f"/clients/{day.alex_id}"))
    expect(jo.get_by_role("heading", name="Alex Morgan", level=1)).to_be_visible()
    expect(jo.get_by_text("Pain reported: 1")).to_be_visible()
    expect(jo.locator("#adherence-table tbody tr")).to_have_count(8)
    expect(jo.get_by_text("Sharp at the front of the hip")).to_be_visible()
    review(jo, "dashboard-03-record")
    jo.go_back()

    # After the massage: a private note, then attended.
    entry = jo.locator(f"#appointment-{day.today_id}")
    who = "Alex Morgan at 10:45"
    entry.get_by_text(f"Add a private note for {who}").click()
    entry.get_by_label(f"Private session note for {who}").fill(SESSION_NOTE)
    entry.get_by_role("button", name=f"Save note for {who}").click()
    expect(jo.locator(".flash--success")).to_contain_text("Note saved for Alex Morgan's session.")
    entry = jo.locator(f"#appointment-{day.today_id}")
    expect(entry.locator(".days-notes")).to_contain_text(SESSION_NOTE)
    entry.get_by_role("button", name=f"Attended {who}").click()
    expect(jo.locator(".flash--success")).to_contain_text(
        "Marked Alex Morgan's session at")
    entry = jo.locator(f"#appointment-{day.today_id}")
    expect(entry.locator(".diary-item__badges")).to_contain_text("Attended")
    expect(entry.get_by_role("button", name=f"Attended {who}")).to_have_count(0)
    review(jo, "dashboard-04-after-the-session")

    # Adjust the programme: a longer hold on the hip flexor stretch.
    entry.get_by_role("link", name=re.compile("Adjust the programme")).click()
    expect(jo).to_have_url(live_server.url(f"/programmes/{day.alex_id}"))
    hip = jo.locator("#programmes-items > li", has=jo.get_by_role("heading", name=HIP))
    hip.get_by_label("Hold (s)").fill("45")
    jo.get_by_label("Message to the client about this version").fill(MESSAGE)
    jo.get_by_role("button", name="Save new version").click()
    expect(jo.locator(".flash--success")).to_contain_text(
        "Saved version 2 of Alex Morgan\u2019s programme")

    # The month: today's square counts both sessions and opens the day.
    nav_link(jo, "Diary").click()
    jo.get_by_role("navigation", name="Diary").get_by_role("link", name="Day, week, month").click()
    jo.get_by_role("link", name="Month", exact=True).click()
    today_square = jo.get_by_role("link", name=re.compile(r"^Today, .*: 2 sessions"))
    expect(today_square).to_be_visible()
    review(jo, "dashboard-05-month")
    today_square.click()
    expect(jo.locator(f"#appointment-{day.today_id}")).to_contain_text("Alex Morgan")

    # The client list, filtered to pain reports, leads back to Alex.
    nav_link(jo, "Clients").click()
    jo.get_by_label("Pain flagged").check()
    jo.get_by_role("button", name="Search").click()
    expect(jo.get_by_text("1 client", exact=False).first).to_be_visible()
    listed = jo.get_by_role("main").get_by_role("link", name="Alex Morgan", exact=True)
    expect(listed).to_be_visible()
    expect(jo.get_by_role("main").get_by_role("link", name="Sam Patel")).to_have_count(0)
    review(jo, "dashboard-06-clients-pain")
    listed.click()

    # The record now tells the whole session: note, attendance, new version.
    expect(jo).to_have_url(live_server.url(f"/clients/{day.alex_id}"))
    history = jo.locator("#appointments")
    expect(history).to_contain_text(SESSION_NOTE)
    expect(history).to_contain_text("Attended")
    expect(jo.locator("#programme")).to_contain_text("version 2")
    review(jo, "dashboard-07-record-after")

    # Download everything held about Alex, then read who did what in the audit trail.
    with jo.expect_download() as download:
        jo.get_by_role("link", name="Download record").click()
    saved = download.value
    assert re.fullmatch(rf"client-{day.alex_id}-record-\d{{4}}-\d{{2}}-\d{{2}}\.json",
                        saved.suggested_filename)
    exported = json.loads(Path(saved.path()).read_text(encoding="utf-8"))
    assert SESSION_NOTE in json.dumps(exported, ensure_ascii=False)
    assert "$argon2" not in json.dumps(exported)  # never the password hash
    jo.get_by_role("link", name="Audit trail").click()
    expect(jo.get_by_role("heading", name="Audit trail: Alex Morgan")).to_be_visible()
    trail = jo.get_by_role("table")
    expect(trail).to_contain_text("Downloaded the whole client record")
    expect(trail).to_contain_text("Jo Fletcher")
    review(jo, "dashboard-08-audit-trail")

    # Alex, on a phone, sees the change on Today.
    phone = new_page()
    sign_in(phone, live_server, alex_email, TEST_PASSWORD)
    nav_link(phone, "Today").click()
    expect(phone).to_have_url(live_server.url("/programme/"))
    update = phone.locator(".programme-update")
    expect(update).to_contain_text(HIP)
    expect(update).to_contain_text(re.compile("hold 30 s \u2192 45 s", re.I))
    expect(update).to_contain_text(MESSAGE)
    expect(phone.locator(".moment", has_text=HIP).first).to_contain_text("45 s")
    expect(phone.get_by_text(SESSION_NOTE)).to_have_count(0)  # private to the therapist
    review(phone, "dashboard-09-client-today")

    with app.app_context():
        stored = db.session.get(Appointment, day.today_id)
        assert stored.status is AppointmentStatus.ATTENDED
        [note] = db.session.scalars(sa.select(SessionNote)).all()
        assert (note.appointment_id, note.body) == (day.today_id, SESSION_NOTE)
        actions = set(db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.subject_user_id == day.alex_id)))
        assert {"client.record_viewed", "session_note.added", "appointment.attended",
                "client.exported"} <= actions
        assert any(a.startswith("programme.") for a in actions)
        db.session.remove()
