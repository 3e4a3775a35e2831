"""Two-factor sign-in, in a real browser: a new therapist is sent to set up an authenticator
app, saves the recovery codes and signs in again with a code; then adds a passkey (Chromium's
virtual authenticator, through the DevTools protocol) and signs in with it alone.

Screenshots of each screen at phone and desktop width; axe checks the pages in
test_accessibility_sweep.py.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def code_after(secret: str, seconds: int = 0) -> str:
    """The app's code `seconds` from now (the step after one just used is accepted, and is
    newer, so it is not a replay)."""
    return pyotp.TOTP(secret).at(time.time() + seconds)


def test_a_new_therapist_sets_up_the_app_then_signs_in_with_a_code(live_server, page,
                                                                   make_therapist, review):
    jo = make_therapist(name="Jo Fletcher", two_factor=False)

    # The password is right; every page leads to setting up a second factor.
    sign_in(page, live_server, jo.email, TEST_PASSWORD)
    expect(page).to_have_url(live_server.url("/account/two-factor"))
    expect(page.get_by_text("asks every therapist to sign in with a second step")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    review(page, "two-factor-01-enrol")
    page.goto(live_server.url("/diary/"))
    expect(page).to_have_url(live_server.url("/account/two-factor"))

    page.get_by_role("link", name="Set up an authenticator app").click()
    expect(page.get_by_role("img", name="QR code to scan with your authenticator app")
           ).to_be_visible()
    review(page, "two-factor-02-app-setup")
    secret = page.locator("#setup-key").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(code_after(secret))
    page.get_by_role("button", name="Turn on").click()

    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    review(page, "two-factor-03-recovery-codes")
    page.get_by_role("link", name="I've saved them, continue").click()
    expect(page).to_have_url(live_server.url("/dashboard/"))

    # Signing in again: the password, then the code step.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(jo.email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_label("Keep me signed in").check()
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Enter the code from your app")).to_be_visible()
    page.get_by_label("Code from your app").fill("000000" if code_after(secret, 30) != "000000"
                                                 else "111111")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".error-summary")).to_be_focused()
    review(page, "two-factor-04-code-step-wrong")
    page.get_by_label("Code from your app").fill(code_after(secret, 30))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(live_server.url("/dashboard/"))
    cookies = {c["name"] for c in page.context.cookies()}
    assert "portal_remember" in cookies  # "Keep me signed in" carried through the code step

    # And with a recovery code, once.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").fill(jo.email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("link", name="Use a recovery code").click()
    review(page, "two-factor-05-recovery-step")
    page.get_by_label("Recovery code").fill(codes[0].upper())
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(live_server.url("/dashboard/"))
    expect(page.get_by_role("status").first).to_contain_text("You have 9 codes left")


def test_a_passkey_added_from_the_account_page_signs_in_alone(live_server, page,
                                                              make_therapist, review):
    jo = make_therapist(name="Jo Fletcher")
    # WebAuthn takes a domain as the relying party, never an IP address: use localhost.
    origin = f"http://localhost:{live_server.port}"
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})

    page.goto(origin + "/auth/login")
    page.get_by_label("Email").fill(jo.email)
    page.get_by_label("Password", exact=True).fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Code from your app").fill(pyotp.TOTP(TEST_TOTP_SECRET).now())
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(origin + "/dashboard/")

    page.goto(origin + "/account/")
    page.get_by_role("link", name="Two-factor sign-in").click()
    page.get_by_role("link", name="Add a passkey").click()
    review(page, "two-factor-06-passkey-add")
    page.get_by_label("Name this passkey").fill("Jo's laptop")
    page.get_by_role("button", name="Add the passkey").click()
    expect(page).to_have_url(origin + "/account/two-factor")
    expect(page.get_by_role("status")).to_contain_text("Your passkey is added.")
    expect(page.locator(".passkey-list")).to_contain_text("Jo's laptop")
    review(page, "two-factor-07-passkey-listed")

    # Signed out, the passkey alone signs in (it verified the person: two factors in one).
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(origin + "/dashboard/")
    page.goto(origin + "/account/two-factor")
    expect(page.locator(".passkey-list")).not_to_contain_text("not used yet")

    # Removing it asks for the password.
    page.get_by_role("link", name=re.compile(r"Remove")).click()
    review(page, "two-factor-08-passkey-remove")
    page.get_by_label("Your password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Remove the passkey").click()
    expect(page.get_by_role("status")).to_contain_text("is removed")
    expect(page.locator(".passkey-list")).to_have_count(0)
