"""Booking, in a real browser on a phone: questionnaire, a slot chosen with JavaScript, the
email with its .ics, reschedule, cancel, and a change refused inside the policy window.

The clock is fixed (PORTAL_CLOCK) on a Monday in the past, so the week is known and the
outbox rows are already due for the SMTP sender. Each screen is saved as
phone and desktop screenshots under test-results/screenshots/<backend>/; axe checks every
page once in test_accessibility_sweep.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import User
from portal.services import booking
from portal.services.intake import RED_FLAGS
from tests.booking_support import EMAIL_LINKS
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import text_part

pytestmark = pytest.mark.e2e

# Monday 2 November 2026, 07:00 GMT: Tuesday is the first day with free times.
NOW = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)


def sign_in(page, live_server, email: str) -> None:
    """Sign in through the login page."""
    page.goto(live_server.url("/auth/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def ics_attachment(message) -> str:
    """The text of the .ics file attached to a delivered email."""
    for part in message.iter_attachments():
        if (part.get_filename() or "").endswith(".ics"):
            content = part.get_content()
            return content.decode() if isinstance(content, bytes) else content
    raise AssertionError(f"no .ics attachment in {message['Subject']!r}")


def email_link(message, path: str) -> str:
    """The absolute link in a delivered email's text part whose path starts with `path`."""
    match = re.search(r"https?://[^/\s]+" + re.escape(path) + r"\S*", text_part(message))
    assert match, f"no link to {path} in {message['Subject']!r}"
    return match.group(0)


def test_booking_journey(app, live_server, page, diary, make_client, smtp_server, send_outbox,
                         review):
    app.config["PORTAL_CLOCK"] = lambda: NOW
    sam = make_client(name="Sam Rivera", email="sam.rivera@example.com")
    sixty = diary.services["60 minute massage"]

    # Home: no questionnaire yet, so that is the first step.
    sign_in(page, live_server, sam.email)
    expect(page.get_by_role("heading", name="Hello, Sam")).to_be_visible()
    expect(page.get_by_role("link", name="Start the questionnaire")).to_be_visible()
    review(page, "booking-01-home-newcomer")

    # Booking sends them to the questionnaire first, and says why. (The main navigation's
    # "Book" link is folded behind a menu on a phone; its test belongs to the layout.)
    page.goto(live_server.url("/booking/"))
    expect(page).to_have_url(live_server.url("/intake/?next=/booking/"))
    expect(page.get_by_role("status")).to_contain_text("Before your first booking")
    review(page, "booking-02-questionnaire")

    page.get_by_role("button", name="Save and continue to booking").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.locator("#complaints-error")).to_contain_text("Tell us briefly")
    expect(page.locator("#complaints")).to_have_attribute("aria-invalid", "true")
    review(page, "booking-03-questionnaire-errors")

    page.get_by_label("What would you like help with?").fill(
        "Tight hips and a stiff lower back after long days at the desk.")
    page.get_by_label("Work and activity").fill("Desk job; runs 10k twice a week.")
    for flag in RED_FLAGS:
        page.get_by_role("group", name=flag.question).get_by_label("No").check()
    page.get_by_label("I agree to the practice keeping my health information").check()
    page.get_by_role("button", name="Save and continue to booking").click()

    # Services, then the week.
    expect(page).to_have_url(live_server.url("/booking/"))
    expect(page.get_by_role("status")).to_contain_text("Your health questionnaire is saved")
    review(page, "booking-04-services")
    page.get_by_role("link", name="60 minute massage").click()
    expect(page).to_have_url(live_server.url(f"/booking/{sixty}"))
    expect(page.get_by_text("This week: 2 – 8 November 2026")).to_be_visible()
    expect(page.locator("#day-2026-11-02")).to_contain_text("No free times")
    review(page, "booking-05-week")

    # With JavaScript, choosing a time opens the confirmation on the same page.
    slot = page.get_by_role("link", name="Tuesday 3 November, 09:00")
    slot.click()
    expect(page).to_have_url(live_server.url(f"/booking/{sixty}"))
    panel = page.locator("[data-booking-panel]")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading", name="Confirm your session")).to_be_focused()
    expect(panel).to_contain_text("Tuesday 3 November")
    expect(panel).to_contain_text("09:00")
    expect(panel).to_contain_text("£55")
    expect(slot).to_have_attribute("aria-current", "true")
    # On a phone the panel sits right under the chosen day.
    assert panel.evaluate("p => p.previousElementSibling.id") == "day-2026-11-03"
    review(page, "booking-06-week-time-chosen")

    # Another time moves the choice.
    page.get_by_role("link", name="Tuesday 3 November, 09:15").click()
    expect(panel).to_contain_text("09:15")
    expect(slot).not_to_have_attribute("aria-current", "true")
    slot.click()
    panel.get_by_label("Anything your therapist should know?").fill("Mostly the left hip.")
    panel.get_by_role("button", name="Book this session").click()

    expect(page).to_have_url(live_server.url("/appointments/"))
    expect(page.get_by_role("status")).to_contain_text(
        "Booked: 60 minute massage on Tuesday 3 November at 09:00")
    upcoming = page.locator(".appointment")
    expect(upcoming).to_have_count(1)
    expect(upcoming).to_contain_text("Tuesday 3 November")
    expect(upcoming).to_contain_text("Booked")
    review(page, "booking-07-appointments")

    # The confirmation email arrives with the calendar file.
    assert send_outbox() == (1, 0)
    [message] = smtp_server.to(sam.email)
    assert message["Subject"].startswith("Booked: 60 minute massage")
    assert "Tuesday 3 November at 09:00" in text_part(message)
    ics = ics_attachment(message)
    assert "BEGIN:VEVENT" in ics and "DTSTART;TZID=Europe/London:20261103T090000" in ics
    # Its link opens the appointment, marked as the one the email is about.
    page.goto(live_server.url("/"))
    page.goto(email_link(message, "/appointments/#appointment-"))
    expect(page.locator(".appointment:target")).to_contain_text("Tuesday 3 November")
    review(page, "booking-07-email-link")

    # Reschedule to Wednesday 10:00.
    upcoming.get_by_role("link", name=re.compile("^Reschedule")).click()
    expect(page.get_by_role("heading", name="Move your session")).to_be_visible()
    expect(page.locator(".slot--current")).to_contain_text("09:00")
    page.locator("#day-2026-11-04 summary").click()
    page.get_by_role("link", name="Wednesday 4 November, 10:00").click()
    expect(panel.get_by_role("heading", name="Move to this time?")).to_be_focused()
    review(page, "booking-08-reschedule-chosen")
    panel.get_by_role("button", name="Move my session").click()
    expect(page.get_by_role("status")).to_contain_text("is now on Wednesday 4 November at 10:00")
    expect(upcoming).to_contain_text("Wednesday 4 November")
    assert send_outbox() == (1, 0)
    moved = smtp_server.to(sam.email)[-1]
    assert moved["Subject"].startswith("Moved:")
    assert "SEQUENCE:1" in ics_attachment(moved)

    # Cancel it.
    upcoming.get_by_role("link", name=re.compile("^Cancel")).click()
    expect(page.get_by_role("heading", name="Cancel this session?")).to_be_visible()
    review(page, "booking-09-cancel-confirm")
    page.get_by_role("button", name="Cancel this session").click()
    expect(page.get_by_role("status")).to_contain_text("is cancelled")
    expect(upcoming).to_contain_text("Cancelled")
    expect(upcoming.get_by_role("link", name=re.compile("^Cancel"))).to_have_count(0)
    review(page, "booking-10-cancelled")
    assert send_outbox() == (1, 0)
    cancelled = smtp_server.to(sam.email)[-1]
    assert "METHOD:CANCEL" in ics_attachment(cancelled)
    # Its link leads to booking the same treatment again.
    page.goto(email_link(cancelled, f"/booking/{sixty}"))
    expect(page.get_by_role("heading", name="Choose a time")).to_be_visible()
    expect(page.locator(".booking-service")).to_contain_text("60 minute massage")
    page.goto(live_server.url("/appointments/"))

    # The therapist books Sam in this afternoon, 8 hours away: inside the 24-hour window.
    with app.app_context():
        therapist = db.session.get(User, diary.therapist.id)
        soon = booking.book(db.session, therapist, client=db.session.get(User, sam.id),
                            therapist=therapist, service_id=sixty,
                            starts_at=datetime(2026, 11, 2, 15, 0, tzinfo=UTC), now=NOW,
                            links=EMAIL_LINKS)
        db.session.commit()
        soon_id = soon.id
        db.session.remove()
    page.reload()
    soon_card = page.locator(".appointment", has_text="Monday 2 November")
    expect(soon_card).to_contain_text("Online changes for this session have closed")
    expect(soon_card.get_by_role("link", name="020 7946 0000")).to_be_visible()
    expect(soon_card.get_by_role("link", name=re.compile("^Cancel"))).to_have_count(0)
    review(page, "booking-11-inside-window")

    response = page.goto(live_server.url(f"/appointments/{soon_id}/cancel"))
    assert response.status == 403
    expect(page.get_by_role("heading", name="This session can't be changed online")).to_be_visible()
    expect(page.get_by_text("Nothing has been changed.")).to_be_visible()
    expect(page.get_by_role("link", name="desk@example.com").first).to_be_visible()
    review(page, "booking-12-cancel-refused")

    # Home shows the next session.
    page.goto(live_server.url("/"))
    expect(page.get_by_text("Monday 2 November, 15:00")).to_be_visible()
    review(page, "booking-13-home-next-session")


def test_confirmation_and_calendar_pages(app, live_server, page, diary, review):
    """The pages a browser without JavaScript goes through (each time is a plain link), a
    stale time, and the calendar feed on the account page."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    sign_in(page, live_server, diary.client.email)
    sixty = diary.services["60 minute massage"]
    page.goto(live_server.url(f"/booking/{sixty}/confirm?start=2026-11-03T09:00:00Z"))
    expect(page.get_by_role("heading", name="Confirm your session")).to_be_visible()
    expect(page.get_by_text("09:00 to 10:00")).to_be_visible()
    review(page, "booking-20-confirm-page")
    page.get_by_role("button", name="Book this session").click()
    expect(page.get_by_role("status")).to_contain_text("Booked: 60 minute massage")

    # A stale page: 09:15 now overlaps the session just booked.
    page.goto(live_server.url(f"/booking/{sixty}/confirm?start=2026-11-03T09:15:00Z"))
    expect(page.get_by_role("heading", name="Sorry, that time isn't available")).to_be_visible()
    alternatives = page.locator(".slots a.slot")
    expect(alternatives.first).to_be_visible()
    review(page, "booking-21-time-taken")
    alternatives.first.click()
    expect(page.get_by_role("heading", name="Confirm your session")).to_be_visible()

    # A tampered time.
    page.goto(live_server.url(f"/booking/{sixty}/confirm?start=tomorrow"))
    expect(page.get_by_role("heading", name="That time can't be booked")).to_be_visible()
    review(page, "booking-22-bad-time")

    page.goto(live_server.url("/account/"))
    page.get_by_role("button", name="Create my calendar address").click()
    address = page.get_by_label("Your calendar address")
    expect(address).to_have_value(
        re.compile(r"^http://127\.0\.0\.1:\d+/calendar/[\w-]+\.ics$"))
    review(page, "booking-23-calendar-feed")
    feed = page.request.get(address.input_value())
    assert feed.status == 200 and "BEGIN:VEVENT" in feed.text()
