"""The programme on paper and in the calendar, in a real browser: the client opens the
printable sheet from Today, creates a read-only link (a QR code appears), prints (the print
stylesheet leaves only the sheet, black on white, on A4), a stranger opens the link (read
only, no links anywhere), and the client picks reminder times and gets the calendar address.

Each screen is saved as screenshots under test-results/screenshots/<backend>/ (axe checks
every page once in test_accessibility_sweep.py); the printed sheet is saved as a PNG and a
PDF there too.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.models import Moment
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import SCREENSHOTS, sign_in
from tests.e2e.test_offline_journey import NOTE, set_up_programme

pytestmark = pytest.mark.e2e


def computed(page, selector: str, prop: str) -> str:
    return page.eval_on_selector(
        selector, f"(el) => getComputedStyle(el).getPropertyValue('{prop}')")


def test_print_share_and_reminders(app, live_server, page, new_page, make_therapist,
                                   make_client, review, database):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    _item_id, name = set_up_programme(app, therapist.id, alex.id)
    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Alex")).to_be_visible()

    # From Today to the printable sheet.
    page.goto(live_server.url("/programme/"))
    page.get_by_role("link", name="Print or share").click()
    expect(page).to_have_url(live_server.url("/sheet/"))
    expect(page.get_by_role("heading", level=1, name="Your programme to print")).to_be_visible()
    cards = page.locator(".sheet-card")
    expect(cards).to_have_count(2)
    hip = cards.filter(has_text=name)
    expect(hip).to_contain_text("30 s each side, 2 rounds")
    expect(hip).to_contain_text(NOTE)
    expect(hip.locator("img")).to_have_attribute("alt", re.compile("Drawing of the"))
    expect(page.get_by_role("button", name="Print this sheet")).to_be_visible()
    review(page, "sheet-01-no-link")

    # A read-only link: its QR code appears on the sheet.
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    share_url = page.get_by_label("The read-only address").input_value()
    assert re.fullmatch(re.escape(live_server.url("/sheet/s/")) + r"[A-Za-z0-9_-]{43}",
                        share_url)
    expect(page.locator(".sheet-qr__url")).to_have_text(share_url)
    # The code scales as a whole (a viewBox, no fixed size): nothing of it is cropped.
    qr = page.locator(".sheet-qr__code")
    assert qr.get_attribute("viewBox").startswith("0 0 ")
    box = qr.bounding_box()
    assert box["width"] == box["height"] and box["width"] >= 100
    review(page, "sheet-02-link")

    # Printed: only the sheet, black on white, no navigation or buttons, on A4.
    page.emulate_media(media="print")
    for hidden in (".site-header", ".site-footer", ".sheet-screen", ".flashes"):
        assert computed(page, hidden, "display") == "none", hidden
    assert computed(page, ".sheet", "box-shadow") == "none"
    assert computed(page, ".sheet-card__name", "color") == "rgb(0, 0, 0)"
    assert computed(page, "body", "background-color") == "rgb(255, 255, 255)"
    qr_box = qr.bounding_box()
    assert qr_box["width"] == qr_box["height"] >= 100  # about 32 mm
    directory = SCREENSHOTS / database.backend
    directory.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    page.screenshot(path=str(directory / "sheet-03-print.png"), full_page=True)
    pdf = page.pdf(path=str(directory / "sheet-03-print.pdf"), format="A4",
                   print_background=True, prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF")
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 390, "height": 844})

    # A stranger opens the link: the programme, read only, with nothing to click.
    stranger = new_page()
    response = stranger.goto(share_url)
    assert response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in response.headers["x-robots-tag"]
    expect(stranger.get_by_role("heading", level=1, name="Home programme")).to_be_visible()
    expect(stranger.locator(".sheet-card")).to_have_count(2)
    expect(stranger.locator(".sheet-card").filter(has_text=name)).to_contain_text(NOTE)
    expect(stranger.locator("a, form, button, input, nav")).to_have_count(0)
    assert stranger.context.cookies() == []
    review(stranger, "sheet-04-shared")

    # Turned off: the link shows a dead end, still with nothing to click.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Turn off link").click()
    expect(page.get_by_text("The link is turned off")).to_be_visible()
    expect(page.locator(".sheet-qr")).to_have_count(0)
    gone = stranger.goto(share_url)
    assert gone.status == 404
    expect(stranger.get_by_role("heading", name="This link doesn't work any more")).to_be_visible()
    expect(stranger.locator("a, form, button")).to_have_count(0)
    review(stranger, "sheet-05-shared-gone")

    # Reminders: a time for each moment, then the private calendar address.
    page.goto(live_server.url("/programme/"))
    page.get_by_role("link", name="Calendar reminders").click()
    expect(page).to_have_url(live_server.url("/sheet/moments"))
    expect(page.get_by_role("heading", level=1, name="Reminders for your moments")).to_be_visible()
    review(page, "sheet-06-moments")
    page.get_by_label("Morning").fill("07:30")
    page.get_by_label("Work break").fill("12:30")
    page.get_by_label("Before bed").fill("22:00")
    page.get_by_role("button", name="Save times").click()
    expect(page.get_by_text("Your reminder times are saved")).to_be_visible()
    expect(page.get_by_label("Morning")).to_have_value("07:30")
    page.get_by_role("button", name="Create my reminders address").click()
    feed = page.get_by_label("Your reminders address")
    expect(feed).to_have_value(re.compile(r"/sheet/moments/[A-Za-z0-9_-]+\.ics$"))
    expect(page.get_by_role("link", name="Subscribe in your calendar app")).to_have_attribute(
        "href", re.compile(r"^webcal://"))
    review(page, "sheet-07-moments-saved")

    calendar = page.request.get(feed.input_value())
    assert calendar.status == 200
    body = calendar.text()
    assert f"SUMMARY:{Moment.MORNING.label} stretches: Cat" in body
    assert "DTSTART;TZID=Europe/London:" in body and "RRULE:FREQ=DAILY" in body
