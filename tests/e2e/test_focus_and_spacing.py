"""Where focus lands, that it can be seen, and text spacing on a 320px screen (issue 14).

- Places focus is moved to rather than tabbed to (<main> after the skip link, the booking
  panel's heading, an error summary and the group of answers it links to, the messages after
  a form is sent) show a ring: solid, at least 2px, at 3:1 or more against what is around it,
  and not cut off by the sides of the screen (WCAG 2.4.7, and Focus Appearance's 2px and 3:1).
- A confirmation is present when the page loads, where screen readers would not announce it:
  focus moves to it, and after a redirect to part of a page it is shown, and focused, there.
- With the text spacing of WCAG 1.4.12 (line height 1.5, paragraphs 2em apart, letters 0.12em
  and words 0.16em) the main pages of a client and of the therapist stay 320px wide.

The spacing is a constructed stylesheet adopted by the document: the CSP (`style-src 'self'`)
refuses <style> elements and style attributes, so page.add_style_tag() would be blocked, but
it does not govern style sheets built through the CSSOM. One browser context per role.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Service, User, utcnow
from portal.seed import demo
from tests.e2e.conftest import DESKTOP, set_viewport, sign_in

pytestmark = pytest.mark.e2e

NARROW = {"width": 320, "height": 640}
TEXT_SPACING = """
* { line-height: 1.5 !important; letter-spacing: 0.12em !important;
    word-spacing: 0.16em !important; }
p { margin-bottom: 2em !important; }
"""
# The therapist's pages checked besides the dashboard, where signing in lands. (The client's
# are those the focus checks pass through: home, a booking week, appointments, account, Today
# and an exercise.)
THERAPIST_PAGES = ["/diary/days?view=week", "/clients/{client}", "/programmes/{client}"]

# The focused element's outline; the colour behind it (the nearest background that is not
# transparent, from the element itself for a ring drawn inside, with a negative offset, else
# from its parent); and whether the ring is within the sides of the screen.
RING = """element => {
  const style = getComputedStyle(element);
  let under = parseFloat(style.outlineOffset) < 0 ? element : element.parentElement;
  let behind = "rgb(255, 255, 255)";
  for (; under; under = under.parentElement) {
    const colour = getComputedStyle(under).backgroundColor;
    if (colour !== "transparent" && !colour.endsWith(", 0)")) { behind = colour; break; }
  }
  const box = element.getBoundingClientRect();
  const out = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth);
  return { style: style.outlineStyle, width: parseFloat(style.outlineWidth),
           colour: style.outlineColor, behind,
           inside: box.left - out >= 0 && box.right + out <= document.documentElement.clientWidth };
}"""


def _luminance(colour: str) -> float:
    red, green, blue = (int(v) / 255 for v in re.findall(r"\d+", colour)[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(one: str, other: str) -> float:
    """WCAG contrast ratio of two rgb() colours."""
    high, low = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def expect_ring(locator) -> None:
    """The element has focus and a ring anyone can see around it."""
    expect(locator).to_be_focused()
    ring = locator.evaluate(RING)
    assert ring["style"] == "solid" and ring["width"] >= 2, ring
    assert contrast(ring["colour"], ring["behind"]) >= 3, ring
    assert ring["inside"], f"the ring is cut off by the sides of the screen: {ring}"


def too_wide_with_text_spacing(page) -> list[str]:
    """Space out the text of the page as it is now; its address and width if that makes it
    wider than 320px (nothing otherwise)."""
    page.evaluate("""css => {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      document.adoptedStyleSheets = [sheet];
    }""", TEXT_SPACING)
    width = page.evaluate("document.documentElement.scrollWidth")
    return [] if width <= NARROW["width"] else [f"{page.url}: {width}px wide"]


@pytest.fixture
def demo_practice(app, live_server) -> dict[str, int]:
    """The demo practice: Alex's id and the first service's."""
    with app.app_context():
        demo.seed(db.session, app.extensions["portal.passwords"],
                  box=app.extensions["portal.secret_box"], now=utcnow(),
                  timezone="Europe/London")
        db.session.commit()
        ids = {
            "client": db.session.scalar(sa.select(User.id).where(
                User.email == demo.CLIENTS[0][1])),
            "service": db.session.scalar(sa.select(Service.id).order_by(Service.sort_order,
                                                                        Service.id)),
        }
        db.session.remove()
    return ids


def test_focus_is_seen_and_heard_and_text_spacing_fits_320px(demo_practice, live_server,
                                                             new_page):
    # Everything happens on a 320px screen; each page, once checked, gets its text spaced out.
    page = new_page(viewport=NARROW)
    sign_in(page, live_server, demo.CLIENTS[0][1], demo.CLIENTS[0][2])
    expect(page).to_have_url(live_server.url("/"))

    # The skip link takes the keyboard to <main>, which shows that it has focus.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect_ring(page.locator("main"))
    too_wide = too_wide_with_text_spacing(page)

    # Choosing a time by keyboard focuses the panel's heading; booking lands on the
    # appointments with the confirmation focused, so a screen reader reads it out.
    page.goto(live_server.url(f"/booking/{demo_practice['service']}"))
    for _ in range(6):  # the first week with a free time
        if page.locator("a.slot").count():
            break
        page.goto(page.locator("a[rel=next]").first.evaluate("link => link.href"))
    page.locator("a.slot").first.focus()
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="Confirm your session")
    expect_ring(heading)
    # Wider (a tablet turned), the panel moves beside the week and keeps the focus.
    set_viewport(page, DESKTOP)
    expect_ring(heading)
    set_viewport(page, NARROW)
    too_wide += too_wide_with_text_spacing(page)
    page.get_by_role("button", name="Book this session").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(live_server.url("/appointments/"))
    expect(page.get_by_role("status")).to_contain_text("Booked:")
    expect_ring(page.locator(".flashes"))
    expect(page.locator(".flashes:focus").get_by_role("status")).to_contain_text("Booked:")
    too_wide += too_wide_with_text_spacing(page)

    # After a redirect to part of a page the message is shown, and focused, right there.
    page.goto(live_server.url("/account/"))
    page.get_by_role("button", name="Create my calendar address").click()
    expect(page).to_have_url(re.compile(r"/account/#calendar-feed$"))
    message = page.locator("#calendar-feed > .flashes")
    expect(message).to_contain_text("Your calendar address is ready")
    expect_ring(message)
    expect(message).to_be_in_viewport()
    too_wide += too_wide_with_text_spacing(page)

    # A log sent without how it felt: the error summary has focus, and its link takes the
    # keyboard to the question, which shows it has focus.
    page.goto(live_server.url("/programme/"))
    too_wide += too_wide_with_text_spacing(page)
    page.locator("a[href*='/programme/items/']").first.click()
    expect(page).to_have_url(re.compile(r"/programme/items/\d+"))
    page.get_by_role("button", name="Log it", exact=True).click()
    summary = page.locator(".error-summary")
    expect_ring(summary)
    summary.get_by_role("link").first.focus()
    page.keyboard.press("Enter")
    expect_ring(page.locator("fieldset.field--error").first)
    too_wide += too_wide_with_text_spacing(page)

    # The therapist's main pages.
    therapist = new_page(viewport=NARROW)
    sign_in(therapist, live_server, demo.THERAPIST[1], demo.THERAPIST[2])
    expect(therapist).to_have_url(live_server.url("/dashboard/"))
    too_wide += too_wide_with_text_spacing(therapist)
    for path in THERAPIST_PAGES:
        therapist.goto(live_server.url(path.format(**demo_practice)))
        too_wide += too_wide_with_text_spacing(therapist)
    assert too_wide == []
