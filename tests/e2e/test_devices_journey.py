"""Devices in a real browser: a client signed in on a phone and a laptop signs the phone out
from the laptop's "Your devices", and the phone's next page is the sign-in page. Signing out
on a phone with a log still kept offline sends the log first (once), then the browser
forgets the site's storage: the kept Today is gone, offline and online. A phone signed out
from the laptop forgets its kept Today (and the logs it can no longer send, saying how many)
as soon as it next reaches the server, whichever page it opens, or when a kept page left open
finds the connection back."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import DESKTOP, axe_check, sign_in
from tests.e2e.test_offline_journey import (
    LONDON,
    NOTE,
    logs,
    set_up_programme,
    wait_for_logs,
)

pytestmark = pytest.mark.e2e

LAPTOP_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Version/18.1 Safari/605.1.15")
PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36")

# The log form of an exercise page, as offline.js would keep it (without sending it).
ENTRY_FROM_FORM = """([user, localDate]) => {
  const form = document.querySelector('form[method="post"][action$="/log"]');
  for (const name of ["feedback_left", "feedback_right"]) {
    form.querySelector(`input[name="${name}"][value="nothing"]`).checked = true;
  }
  const fields = [...new FormData(form)]
    .filter(([name, value]) => typeof value === "string" && name !== "local_date");
  const data = Object.fromEntries(fields);
  return {client_key: data.client_key, user, action: new URL(form.action).pathname,
          local_date: localDate, queued_at: new Date().toISOString(), fields};
}"""

KEEP = """async (entry) => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("portal-offline", 1);
    request.onupgradeneeded = () =>
      request.result.createObjectStore("logs", {keyPath: "client_key"});
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  await new Promise((resolve) => {
    const tx = db.transaction("logs", "readwrite");
    tx.objectStore("logs").put(entry);
    tx.oncomplete = resolve;
  });
  db.close();
}"""

WHAT_IS_KEPT = """async () => ({
  caches: await caches.keys(),
  workers: (await navigator.serviceWorker.getRegistrations()).length,
  databases: (await indexedDB.databases()).map((db) => db.name),
  local: localStorage.length,
})"""


def test_a_device_signed_out_from_another_is_signed_out(live_server, new_page, make_client,
                                                        review):
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    phone = new_page(user_agent=PHONE_UA)
    laptop = new_page(user_agent=LAPTOP_UA, viewport=DESKTOP)
    sign_in(phone, live_server, alex.email, TEST_PASSWORD)
    expect(phone.get_by_role("heading", name="Hello, Alex")).to_be_visible()
    sign_in(laptop, live_server, alex.email, TEST_PASSWORD)
    expect(laptop.get_by_role("heading", name="Hello, Alex")).to_be_visible()

    laptop.goto(live_server.url("/account/"))
    devices = laptop.get_by_role("region", name="Your devices")
    rows = devices.get_by_role("listitem")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Safari on Mac")
    expect(rows.first).to_contain_text("This device")
    expect(rows.nth(1)).to_contain_text("Chrome on Android")
    expect(rows.nth(1)).to_contain_text("127.0.0.0/24")
    review(laptop, "devices-01-list")

    rows.nth(1).get_by_role("button", name=re.compile(r"^Sign out Chrome on Android")).click()
    expect(laptop.get_by_role("status")).to_have_text("Chrome on Android is signed out.")
    expect(devices.get_by_role("listitem")).to_have_count(1)
    review(laptop, "devices-02-phone-signed-out")

    # The phone was on its home page: signed out, it gets what any visitor gets there (the
    # practice's front page), and a private page sends it to sign in.
    phone.reload()
    expect(phone.get_by_role("heading", name=re.compile("Hello"))).to_have_count(0)
    phone.goto(live_server.url("/account/"))
    expect(phone).to_have_url(re.compile(r"/auth/login\?next=%2Faccount%2F$"))
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    laptop.reload()
    expect(laptop.get_by_role("heading", name="Your account")).to_be_visible()


def test_signing_out_sends_kept_logs_then_forgets_the_site(app, live_server, page,
                                                           make_therapist, make_client):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    item_id, _ = set_up_programme(app, therapist.id, alex.id)
    sign_outs = []
    page.on("response", lambda response: sign_outs.append(response)
            if response.url.endswith("/auth/logout") else None)

    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    page.goto(live_server.url("/programme/"))
    expect(page.locator("html")).to_have_attribute("data-offline-ready", re.compile(r"^[1-9]"))
    assert page.evaluate(WHAT_IS_KEPT)["workers"] == 1
    # A log kept on this phone while offline and not sent yet (made here without sending).
    page.goto(live_server.url(f"/programme/items/{item_id}?moment=work_break"))
    entry = page.evaluate(ENTRY_FROM_FORM, [str(alex.id), datetime.now(LONDON).date().isoformat()])
    page.goto(live_server.url("/account/"))  # no offline.js here: nothing sends it by itself
    page.evaluate(KEEP, entry)
    assert logs(app, alex.id) == []

    page.get_by_role("button", name="Sign out", exact=True).first.click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")

    [log] = wait_for_logs(app, alex.id, 1)
    assert log.client_key == entry["client_key"]
    assert [r.all_headers().get("clear-site-data") for r in sign_outs] == ['"cache", "storage"']
    kept = page.evaluate(WHAT_IS_KEPT)
    assert not [name for name in kept["caches"] if name.startswith("portal-programme-")]
    assert kept["workers"] == 0
    assert "portal-offline" not in kept["databases"]

    # The phone goes offline: Today is not on it any more.
    page.context.set_offline(True)
    with pytest.raises(Exception, match="ERR_INTERNET_DISCONNECTED"):
        page.goto(live_server.url("/programme/"))
    page.context.set_offline(False)
    assert [r.client_key for r in logs(app, alex.id)] == [entry["client_key"]]


def test_a_phone_signed_out_from_elsewhere_forgets_today_on_its_next_page(
        app, live_server, new_page, make_therapist, make_client, review):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    item_id, name = set_up_programme(app, therapist.id, alex.id)
    phone = new_page(user_agent=PHONE_UA)
    sign_in(phone, live_server, alex.email, TEST_PASSWORD)
    phone.goto(live_server.url("/programme/"))
    expect(phone.locator("html")).to_have_attribute("data-offline-ready", re.compile(r"^[1-9]"))
    stretch = phone.locator(".moment").get_by_role("link", name=re.compile(name))
    expect(stretch.first).to_be_visible()

    # Offline on the train: the stretch is logged and kept on the phone, not sent.
    phone.context.set_offline(True)
    phone.goto(live_server.url(f"/programme/items/{item_id}?moment=work_break"))
    log_card = phone.locator("#log")
    log_card.get_by_role("group", name="Left side").get_by_label("Nothing").check()
    log_card.get_by_role("group", name="Right side").get_by_label("Nothing").check()
    log_card.get_by_role("button", name="Log it").click()
    expect(phone.locator(".offline-saved")).to_contain_text("Saved on this phone")
    phone.goto(live_server.url("/programme/"))
    expect(stretch.first).to_be_visible()  # the kept Today, offline
    # Put away (an open kept page has a test of its own, below).
    context = phone.context
    phone.close()

    # Meanwhile the laptop signs the phone out ("I left it on the train").
    laptop = new_page(user_agent=LAPTOP_UA, viewport=DESKTOP)
    sign_in(laptop, live_server, alex.email, TEST_PASSWORD)
    laptop.goto(live_server.url("/account/"))
    laptop.get_by_role("region", name="Your devices").get_by_role(
        "button", name=re.compile(r"^Sign out Chrome on Android")).click()
    expect(laptop.get_by_role("status")).to_have_text("Chrome on Android is signed out.")

    # The phone is back online and opens any page: the server says the session is gone, and
    # the phone forgets Today, telling whoever holds it about the log it could not send.
    context.set_offline(False)
    phone = context.new_page()
    phone.goto(live_server.url("/account/"))
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    notice = phone.locator("[data-forgotten]")
    expect(notice).to_contain_text("This device was signed out of your account")
    expect(notice).to_contain_text("1 log made offline hadn't been sent")
    axe_check(phone, "Sign-in page of a phone signed out elsewhere")
    review(phone, "devices-03-phone-forgot-today")
    assert logs(app, alex.id) == []
    kept = phone.evaluate(WHAT_IS_KEPT)
    assert not [cache for cache in kept["caches"] if cache.startswith("portal-programme-")]
    assert kept["workers"] == 0
    assert "portal-offline" not in kept["databases"]
    # Told once: the next page says nothing more about it.
    phone.goto(live_server.url("/auth/login"))
    expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(phone.locator("[data-forgotten]")).to_have_count(0)

    # Offline again: Today is not on the phone any more.
    phone.context.set_offline(True)
    try:
        phone.goto(live_server.url("/programme/"))
    except Exception as error:  # no service worker left: the browser's own offline error
        assert "ERR_INTERNET_DISCONNECTED" in str(error)
    else:
        expect(phone.get_by_text("You're offline")).to_be_visible()
    expect(phone.get_by_text(name)).to_have_count(0)
    expect(phone.get_by_text(NOTE)).to_have_count(0)


def test_a_kept_page_left_open_gives_way_when_the_connection_returns(
        app, live_server, new_page, make_therapist, make_client):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    item_id, name = set_up_programme(app, therapist.id, alex.id)
    phone = new_page(user_agent=PHONE_UA)
    sign_in(phone, live_server, alex.email, TEST_PASSWORD)
    phone.goto(live_server.url("/programme/"))
    expect(phone.locator("html")).to_have_attribute("data-offline-ready", re.compile(r"^[1-9]"))
    phone.goto(live_server.url(f"/programme/items/{item_id}?moment=work_break"))
    expect(phone.get_by_role("heading", level=1, name=name)).to_be_visible()
    phone.context.set_offline(True)
    log_card = phone.locator("#log")
    log_card.get_by_role("group", name="Left side").get_by_label("Nothing").check()
    log_card.get_by_role("group", name="Right side").get_by_label("Nothing").check()
    log_card.get_by_role("button", name="Log it").click()
    expect(phone.locator(".offline-saved")).to_contain_text("Saved on this phone")

    laptop = new_page(user_agent=LAPTOP_UA, viewport=DESKTOP)
    sign_in(laptop, live_server, alex.email, TEST_PASSWORD)
    laptop.goto(live_server.url("/account/"))
    laptop.get_by_role("button", name="Sign out everywhere").click()
    expect(laptop.get_by_role("heading", name="Sign in")).to_be_visible()

    # The connection returns with the stretch page still open: sending the kept log finds
    # the phone signed out, and the page gives way to the sign-in page at once.
    phone.context.set_offline(False)
    expect(phone).to_have_url(re.compile(r"/auth/login\?next="))
    expect(phone.locator("[data-forgotten]")).to_contain_text(
        "1 log made offline hadn't been sent")
    expect(phone.get_by_role("heading", level=1, name=name)).to_have_count(0)
    assert logs(app, alex.id) == []
    assert not [cache for cache in phone.evaluate(WHAT_IS_KEPT)["caches"]
                if cache.startswith("portal-programme-")]
