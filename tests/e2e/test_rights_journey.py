"""A client's rights, in a real browser: they download their data (the printable page and the
JSON file) and delete their account; after that they can't sign in and their calendar feed is
gone.

Each screen is saved as phone and desktop screenshots under test-results/screenshots/<backend>/;
axe checks every page once in test_accessibility_sweep.py.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import AppointmentStatus, IntakeForm, User, utcnow
from portal.services import calendar
from tests.clients_support import add_note, book, set_up_practice
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import nav_link, sign_in

pytestmark = pytest.mark.e2e

NOTE = "Tight left psoas; worked the glutes."


def test_a_client_downloads_their_data_and_deletes_their_account(
        app, live_server, page, make_therapist, make_client, review):
    jo = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex@example.com")
    bea = make_client(name="Bea Lund", email="bea@example.com")
    now = utcnow()
    with app.app_context():
        practice = set_up_practice(db.session, db.session.get(User, jo.id))
        for n, who in enumerate((alex, bea)):
            db.session.add(IntakeForm(client_id=who.id, answers={"complaints": "Stiff back"},
                                      red_flags=[], consent_version="2026-11",
                                      consent_given_at=now, submitted_at=now))
            visit = book(db.session, practice, db.session.get(User, who.id),
                         now - timedelta(days=3, hours=n), status=AppointmentStatus.ATTENDED)
            add_note(db.session, jo.id, visit, f"{NOTE} ({who.name})", now - timedelta(days=3))
        feed = calendar.feed_token(db.session, db.session.get(User, alex.id))
        db.session.commit()

    # Alex finds "Your data" on the account page and reads everything held about them.
    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    expect(page).to_have_url(live_server.url("/"))
    nav_link(page, "Account").click()
    page.get_by_role("link", name="Download my data").click()
    expect(page.get_by_role("heading", name="Your data", exact=True)).to_be_visible()
    expect(page.locator("#appointments")).to_contain_text(f"{NOTE} (Alex Morgan)")
    expect(page.get_by_role("button", name="Print this page")).to_be_visible()
    expect(page.get_by_role("main")).not_to_contain_text("Bea")
    review(page, "rights-01-your-data")

    # The same as a file to keep.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as a file (JSON)").click()
    saved = download.value
    assert re.fullmatch(r"my-data-\d{4}-\d{2}-\d{2}\.json", saved.suggested_filename)
    data = json.loads(Path(saved.path()).read_text(encoding="utf-8"))
    assert data["account"]["email"] == "alex@example.com"
    assert f"{NOTE} (Alex Morgan)" in json.dumps(data, ensure_ascii=False)
    assert "Bea" not in json.dumps(data) and feed not in json.dumps(data)

    # Then deletes the account: the page says what goes now and what is kept until when.
    nav_link(page, "Account").click()
    page.get_by_role("link", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Erased now")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Kept until "))).to_be_visible()
    page.get_by_label("Your password").fill(TEST_PASSWORD)
    page.get_by_label("I understand").check()
    review(page, "rights-02-delete")
    page.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(live_server.url("/auth/login"))
    expect(page.get_by_role("status")).to_contain_text(
        "Your account is deleted and you are signed out")
    review(page, "rights-03-deleted")

    # Gone: the password no longer opens anything, and the calendar feed answers 404.
    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("That email and password don't match")
    assert page.request.get(live_server.url(f"/calendar/{feed}.ics")).status == 404
