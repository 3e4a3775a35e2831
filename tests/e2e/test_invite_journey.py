"""Joining, in a real browser: the therapist invites, the email arrives, the client joins.

Each screen is saved as phone and desktop screenshots under test-results/screenshots/<backend>/;
axe checks every page once in test_accessibility_sweep.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import field_of, nav_link, sign_in, text_part

pytestmark = pytest.mark.e2e

CLIENT_PASSWORD = "kettle bells under a lemon tree"


def test_invite_journey(live_server, page, new_page, make_therapist, smtp_server, send_outbox,
                        review):
    therapist = make_therapist(name="Jo Fletcher")

    # The therapist signs in, first with a typo in the password.
    page.goto(live_server.url("/auth/login"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    review(page, "journey-01-login")
    sign_in(page, live_server, therapist.email, "a quiet harbour at dusk")
    # One message for both fields: the page must not reveal which of the two was wrong.
    expect(page.get_by_role("alert")).to_contain_text("That email and password don't match")
    expect(page.locator(".error-summary")).to_be_focused()
    review(page, "journey-02-login-wrong-password")

    sign_in(page, live_server, therapist.email, TEST_PASSWORD)
    expect(page).to_have_url(live_server.url("/dashboard/"))
    expect(page.get_by_role("heading", name="Good to see you, Jo")).to_be_visible()
    review(page, "journey-03-dashboard")

    # The invitation, from the dashboard.
    invite = page.locator("form", has=page.get_by_role("button", name="Send invitation"))
    invite.get_by_label("Client's name").fill("Sam Rivera")
    invite.get_by_label("Client's email").fill("Sam.Rivera@example.com")
    invite.get_by_role("button", name="Send invitation").click()
    expect(page).to_have_url(live_server.url("/clients/"))
    expect(page.get_by_role("status")).to_contain_text(
        "Invitation sent to Sam Rivera at sam.rivera@example.com")
    sam_row = page.locator(".client-list__item", has_text="Sam Rivera")
    expect(sam_row).to_contain_text("Invited")
    review(page, "journey-04-clients-after-invite")

    # The outbox sender delivers it over SMTP; the link in the text opens on the live server.
    assert send_outbox() == (1, 0)
    [message] = smtp_server.to("sam.rivera@example.com")
    assert "invited you" in message["Subject"]
    match = re.search(r"https?://\S+/auth/invite/\S+", text_part(message))
    assert match, text_part(message)
    link = match.group(0)
    assert link.startswith(live_server.origin + "/auth/invite/"), link

    # The client, in a browser of their own.
    client = new_page()
    client.goto(link)
    expect(client.get_by_role("heading", name="Welcome, Sam")).to_be_visible()
    expect(client.get_by_text("sam.rivera@example.com")).to_be_visible()
    review(client, "journey-05-welcome")

    client.get_by_label("Choose a password").fill(CLIENT_PASSWORD)
    client.get_by_label("Type it again").fill(CLIENT_PASSWORD.replace("lemon", "melon"))
    client.get_by_role("button", name="Save password").click()
    confirm = field_of(client, "confirm")
    expect(confirm.locator(".field__error")).to_have_text(
        re.compile(r"The two passwords don't match\.$"))
    expect(client.locator("#confirm")).to_have_attribute("aria-invalid", "true")
    expect(client.locator("#confirm")).to_have_attribute(
        "aria-describedby", re.compile(r"\bconfirm-error\b"))
    expect(client.locator(".error-summary")).to_be_focused()
    review(client, "journey-06-welcome-mismatch")

    client.get_by_label("Choose a password").fill(CLIENT_PASSWORD)
    client.get_by_label("Type it again").fill(CLIENT_PASSWORD)
    # "Show" lets a phone user check what they typed; sending the form hides it again.
    confirm.get_by_role("button", name="Show password").click()
    expect(client.locator("#confirm")).to_have_attribute("type", "text")
    expect(confirm.get_by_role("button", name="Hide password")).to_have_text("Hide")
    client.get_by_role("button", name="Save password").click()
    expect(client.get_by_role("status")).to_contain_text("Your password is set")
    expect(client.get_by_label("Email")).to_have_value("sam.rivera@example.com")
    review(client, "journey-07-login-after-joining")

    client.get_by_label("Password", exact=True).fill(CLIENT_PASSWORD)
    client.get_by_role("button", name="Sign in", exact=True).click()
    expect(client).to_have_url(live_server.url("/"))
    expect(client.get_by_role("heading", name="Hello, Sam")).to_be_visible()
    expect(nav_link(client, "Home")).to_have_attribute("aria-current", "page")
    review(client, "journey-08-client-home")

    # The therapist sees the client has joined.
    page.reload()
    expect(sam_row).to_contain_text("Active")

    client.get_by_role("button", name="Sign out").click()
    expect(client.get_by_role("status")).to_contain_text("You are signed out.")
    expect(client.get_by_role("heading", name="Sign in")).to_be_visible()
    review(client, "journey-09-signed-out")

    # The link was used once; it is dead now, and the page says what to do next.
    response = client.goto(link)
    assert response.status == 404
    expect(client.get_by_role("heading", name="This link doesn't work any more")).to_be_visible()
    expect(client.get_by_role("link", name="Send me a new link")).to_be_visible()
    review(client, "journey-10-used-invite-link")

    # Signed out means signed out: their pages send them to sign in.
    client.goto(live_server.url("/programme/"))
    expect(client).to_have_url(re.compile(r"/auth/login\?next=%2Fprogramme%2F$"))


def test_public_pages(live_server, page, make_therapist, review):
    therapist = make_therapist()

    # The first Tab shows the skip link, with a visible focus ring.
    page.goto(live_server.url("/auth/forgot"))
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    review(page, "public-01-forgot")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    review(page, "public-02-forgot-empty")
    page.get_by_label("Email").fill(therapist.email)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    review(page, "public-03-forgot-sent")

    response = page.goto(live_server.url("/auth/invite/not-a-real-token"))
    assert response.status == 404
    expect(page.get_by_role("heading", name="This link doesn't work any more")).to_be_visible()
    review(page, "public-04-dead-invite-link")

    response = page.goto(live_server.url("/no/such/page"))
    assert response.status == 404
    expect(page.get_by_role("heading", name="We can't find that page")).to_be_visible()
    review(page, "public-05-not-found")


def test_therapist_pages(live_server, page, make_therapist, make_client, review):
    therapist = make_therapist(name="Jo Fletcher")
    make_client(name="Alex Morgan-Whitfield", email="alex.morgan-whitfield@example.com")
    make_client(name="Priya Natarajan", password=None)
    make_client(name="Chris Doyle", active=False)

    sign_in(page, live_server, therapist.email, TEST_PASSWORD)
    expect(page).to_have_url(live_server.url("/dashboard/"))
    expect(page.get_by_text("2 active")).to_be_visible()
    review(page, "therapist-01-dashboard")

    # On a phone the therapist's links fold behind "Menu"; Escape folds them again.
    menu = page.get_by_role("button", name="Menu")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(main_nav).to_be_hidden()
    menu.click()
    expect(main_nav.get_by_role("link", name="Dashboard")).to_have_attribute(
        "aria-current", "page")
    review(page, "therapist-02-menu-open")
    expect(menu).to_be_visible()  # back at phone width after the desktop screenshot
    expect(main_nav).to_be_visible()
    page.keyboard.press("Escape")
    expect(main_nav).to_be_hidden()
    expect(menu).to_be_focused()
    nav_link(page, "Clients").click()
    expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    expect(page.locator(".client-list__item")).to_have_count(3)
    review(page, "therapist-03-clients")

    # Deactivating asks first; each row's button names its client for screen readers.
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Deactivate Alex Morgan-Whitfield").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Alex Morgan-Whitfield can no longer sign in")
    assert questions and questions[0].startswith("Deactivate Alex Morgan-Whitfield?")
    expect(page.get_by_role("button", name="Reactivate Alex Morgan-Whitfield")).to_be_visible()
    review(page, "therapist-04-client-deactivated")

    page.get_by_role("link", name="Invite a client").click()
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(nav_link(page, "Clients")).to_have_attribute("aria-current", "true")
    review(page, "therapist-05-invite-errors")

    nav_link(page, "Settings").click()
    expect(page.get_by_role("heading", name="Practice settings")).to_be_visible()
    review(page, "therapist-06-settings")
    page.get_by_label("Contact phone").fill("020 7946 0999")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Practice settings saved.")
    expect(page.get_by_role("contentinfo")).to_contain_text("020 7946 0999")
    review(page, "therapist-07-settings-saved")

    nav_link(page, "Account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    review(page, "therapist-08-account")

    page.get_by_role("link", name="Change password").click()
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()
    review(page, "therapist-09-change-password")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password").fill("a brand new quiet harbour")
    page.get_by_label("Type it again").fill("a brand new quiet harbour")
    page.get_by_role("button", name="Change password").click()
    expect(field_of(page, "current_password").locator(".field__error")).to_be_visible()
    review(page, "therapist-10-change-password-error")
