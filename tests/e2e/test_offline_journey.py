"""Offline, in a real browser on a phone: the client opens Today and an exercise page online
(the service worker keeps them), loses the connection, reloads Today and the exercise page
(served from the kept copies, with the "You're offline" banner and the guided timer still
working), logs the stretch offline ("Saved on this phone"), and when the connection returns
the log reaches the server exactly once, even when the same kept entry is sent twice more.
The same for "Done, felt fine" tapped offline on Today, and for "Tell us how it felt" after
such a tap: the detail replaces the kept tap, and one log arrives.

Playwright's context.set_offline(True) cuts the page and its service worker off the network
(navigator.onLine turns false), as a phone in a tunnel would be.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import CompletionLog, Feedback, User, utcnow
from portal.seed.library import seed_library
from portal.services import programmes
from portal.services.programmes import ItemInput
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import axe_check, sign_in

pytestmark = pytest.mark.e2e

HIP = "kneeling-hip-flexor-stretch"
NOTE = "Tuck your tailbone under and breathe out as you sink in."
LONDON = ZoneInfo("Europe/London")

# What offline.js keeps, read straight from IndexedDB.
READ_KEPT = """async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("portal-offline", 1);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const store = db.transaction("logs", "readonly").objectStore("logs");
  const all = await new Promise((resolve) => {
    const request = store.getAll();
    request.onsuccess = () => resolve(request.result);
  });
  db.close();
  return all;
}"""

# The log form's client_key in the kept copy of a page, as the service worker stored it.
KEPT_CLIENT_KEY = """async (url) => {
  const name = (await caches.keys()).find((key) => key.startsWith("portal-programme-"));
  const kept = await (await caches.open(name)).match(url);
  const match = /id="client_key"[^>]*value="([^"]+)"/.exec(await kept.text());
  return match && match[1];
}"""

# Send a kept entry the way offline.js replays it: the same form fields plus its date.
SEND_AGAIN = """async (entry) => {
  const body = new URLSearchParams(entry.fields);
  body.set("local_date", entry.local_date);
  const response = await fetch(entry.action, {method: "POST", body, credentials: "same-origin"});
  return [response.status, new URL(response.url).pathname, response.redirected];
}"""


def set_up_programme(app, therapist_id: int, client_id: int) -> tuple[int, str]:
    """The hip flexor stretch (30 s each side, work break) and cat-cow (morning); returns the
    hip flexor item's id and the exercise's name."""
    with app.app_context():
        therapist = db.session.get(User, therapist_id)
        client = db.session.get(User, client_id)
        started = utcnow() - timedelta(days=2)
        library = {e.slug: e for e in seed_library(db.session, therapist, started)}
        version = programmes.save_version(db.session, therapist, client, [
            ItemInput.from_exercise(library[HIP], hold_seconds=30, sets=2, sides="each_side",
                                    moments=("work_break",), personal_note=NOTE),
            ItemInput.from_exercise(library["cat-cow"], moments=("morning",)),
        ], "", started)
        db.session.commit()
        item = next(i for i in version.items if i.exercise.slug == HIP)
        result = item.id, item.exercise.name
        db.session.remove()
        return result


def logs(app, client_id: int) -> list[CompletionLog]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(CompletionLog)
                                       .where(CompletionLog.client_id == client_id)))
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
        return rows


def wait_for_logs(app, client_id: int, count: int, timeout: float = 10) -> list[CompletionLog]:
    deadline = time.monotonic() + timeout
    while True:
        found = logs(app, client_id)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_the_programme_works_offline_and_the_log_arrives_once(app, live_server, page,
                                                              make_therapist, make_client,
                                                              screenshot):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    item_id, name = set_up_programme(app, therapist.id, alex.id)
    context = page.context

    # Online: Today, then the stretch. Opening Today hands the service worker its pages.
    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Alex")).to_be_visible()
    page.goto(live_server.url("/programme/"))
    expect(page.locator("html")).to_have_attribute("data-offline-ready", re.compile(r"^[1-9]"))
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")
    work_break = page.locator(".moment", has=page.get_by_role("heading", name="Work break"))
    work_break.get_by_role("link", name=re.compile(f"^{name}")).click()
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    expect(page.locator("#timer")).to_be_visible()  # timer.js took over
    page.get_by_role("link", name="Today").first.click()
    expect(page).to_have_url(live_server.url("/programme/"))
    expect(page.get_by_text("You're offline")).to_have_count(0)

    # The connection drops. Today reloads from the kept copy, and says so.
    context.set_offline(True)
    assert page.evaluate("() => navigator.onLine") is False
    page.reload()
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
    assert page.locator("html").get_attribute("data-offline-copy")  # served by the worker
    banner = page.locator(".offline-notice--offline")
    expect(banner).to_contain_text("You're offline — showing your programme as of")
    expect(work_break).to_contain_text("30 s each side, 2 rounds")
    expect(page.locator("[data-online-only]")).to_be_hidden()
    axe_check(page, "Today offline")
    screenshot(page, "offline-01-today")

    # The stretch page opens from its kept copy too, with the guided timer working.
    work_break.get_by_role("link", name=re.compile(f"^{name}")).click()
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    expect(page.locator(".therapist-note")).to_contain_text(NOTE)
    expect(page.locator("#timer")).to_be_visible()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("[data-timer-phase]")).not_to_have_text("Ready when you are")
    page.get_by_role("button", name="Stop").click()
    cached_key = page.evaluate(KEPT_CLIENT_KEY, page.url)
    assert cached_key and page.locator("#client_key").input_value() != cached_key

    # Log it offline: kept on the phone, nothing reaches the server.
    log_card = page.locator("#log")
    log_card.get_by_role("group", name="Left side").get_by_label("Mild tension").check()
    log_card.get_by_role("group", name="Right side").get_by_label("Nothing").check()
    log_card.get_by_label("Anything to tell your therapist? (optional)").fill("On the train")
    log_card.get_by_role("button", name="Log it").click()
    saved = page.locator(".offline-saved")
    expect(saved).to_have_text(re.compile(
        "Saved on this phone — it will be sent when you're back online"))
    expect(saved).to_be_focused()
    # Both ways of logging are put away: another would be a second log.
    expect(log_card.locator("form[action$='/log']")).to_be_hidden()
    expect(log_card.get_by_role("button", name="Done, felt fine")).to_be_hidden()
    axe_check(page, "Exercise page, log saved offline")
    screenshot(page, "offline-02-log-saved")
    [entry] = page.evaluate(READ_KEPT)
    assert entry["user"] == str(alex.id)
    assert entry["item_id"] == str(item_id)
    assert entry["feedback"] == {"left": "mild_tension", "right": "nothing", "both": ""}
    assert entry["note"] == "On the train"
    assert entry["moment"] == "work_break"
    today = datetime.now(LONDON).date()
    assert entry["local_date"] == today.isoformat()
    assert re.fullmatch(r"[0-9a-f]{32}", entry["client_key"])
    # Each opening of a kept page is a new log, so it gets a new key.
    assert entry["client_key"] != cached_key
    assert logs(app, alex.id) == []

    # Back online: the kept log is sent by itself, once.
    context.set_offline(False)
    expect(page.locator(".offline-notice--sent")).to_contain_text(
        "Your log saved on this phone has been sent.")
    [log] = wait_for_logs(app, alex.id, 1)
    assert log.client_key == entry["client_key"]
    assert log.item_id == item_id and log.local_date == today
    assert (log.feedback_left, log.feedback_right) == (Feedback.MILD_TENSION, Feedback.NOTHING)
    assert log.note == "On the train"
    assert page.evaluate(READ_KEPT) == []

    # The same kept entry sent twice more (another tab, a flaky retry): still one log.
    # Each fetch resolves only after the server has handled the POST and answered with its
    # redirect (the transaction is over by then), and the kept queue is already empty, so
    # nothing else is in flight: the count below is final, however slow the machine.
    for _ in range(2):
        status, path, redirected = page.evaluate(SEND_AGAIN, entry)
        assert (status, path, redirected) == (200, "/programme/", True)
    assert page.evaluate(READ_KEPT) == []
    assert [r.client_key for r in logs(app, alex.id)] == [entry["client_key"]]

    # Today, online again, counts it.
    page.goto(live_server.url("/programme/"))
    expect(page.get_by_text("You're offline")).to_have_count(0)
    expect(work_break.locator(".today-item__status")).to_have_text("Done")


def test_a_log_kept_offline_is_sent_on_the_next_page_load(app, live_server, page,
                                                           make_therapist, make_client):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    item_id, name = set_up_programme(app, therapist.id, alex.id)
    context = page.context
    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Alex")).to_be_visible()
    page.goto(live_server.url("/programme/"))
    expect(page.locator("html")).to_have_attribute("data-offline-ready", re.compile(r"^[1-9]"))
    page.goto(live_server.url(f"/programme/items/{item_id}?moment=work_break"))
    expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()

    # The connection drops while the page is open (no reload): the log is kept.
    context.set_offline(True)
    expect(page.locator(".offline-notice--offline")).to_contain_text("You're offline")
    log_card = page.locator("#log")
    # Offline, a missing answer is explained here (the server can't be asked).
    log_card.get_by_role("button", name="Log it").click()
    expect(page.locator(".offline-notice--form")).to_have_text("Say how the left side felt.")
    log_card.get_by_role("group", name="Left side").get_by_label("Nothing").check()
    log_card.get_by_role("group", name="Right side").get_by_label("Nothing").check()
    log_card.get_by_role("button", name="Log it").click()
    expect(page.locator(".offline-saved")).to_contain_text("Saved on this phone")
    expect(page.locator(".offline-notice--form")).to_have_count(0)
    # A double tap is one entry (the key is the same).
    assert len(page.evaluate(READ_KEPT)) == 1

    # The connection comes back while the phone is elsewhere; the next Today sends it.
    page.close()
    context.set_offline(False)
    today = context.new_page()
    today.goto(live_server.url("/programme/"))
    expect(today.locator(".offline-notice--sent")).to_contain_text(
        "Your log saved on this phone has been sent.")
    [log] = wait_for_logs(app, alex.id, 1)
    assert log.feedback_left == Feedback.NOTHING
    work_break = today.locator(".moment", has=today.get_by_role("heading", name="Work break"))
    expect(work_break.locator(".today-item__status")).to_have_text("Done")
    assert today.evaluate(READ_KEPT) == []


def test_one_tap_logs_made_offline_are_sent_once(app, live_server, page, make_therapist,
                                                 make_client, screenshot):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    item_id, name = set_up_programme(app, therapist.id, alex.id)
    context = page.context
    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Alex")).to_be_visible()
    page.goto(live_server.url("/programme/"))
    expect(page.locator("html")).to_have_attribute("data-offline-ready", re.compile(r"^[1-9]"))

    # Offline on Today: "Done, felt fine" under Work break is kept on the phone.
    context.set_offline(True)
    expect(page.locator(".offline-notice--offline")).to_contain_text("You're offline")
    work_break = page.locator(".moment", has=page.get_by_role("heading", name="Work break"))
    work_break.get_by_role("button", name="Done, felt fine").click()
    saved = work_break.locator(".quick-log__saved")
    expect(saved).to_contain_text("Saved on this phone — it will be sent when you're back online")
    expect(saved).to_be_focused()
    expect(work_break.get_by_role("button", name="Done, felt fine")).to_have_count(0)
    expect(page.locator(".offline-notice--offline")).to_contain_text(
        "1 log is saved on this phone")
    axe_check(page, "Today, a one-tap log saved offline")
    screenshot(page, "offline-03-tap-saved")
    [hip_entry] = page.evaluate(READ_KEPT)
    assert hip_entry["action"] == f"/programme/items/{item_id}/done"
    assert hip_entry["feedback"] == {"left": "", "right": "", "both": "fine"}
    assert (hip_entry["moment"], hip_entry["user"]) == ("work_break", str(alex.id))
    assert hip_entry["local_date"] == datetime.now(LONDON).date().isoformat()
    assert dict(hip_entry["fields"])["back"] == "today"
    assert logs(app, alex.id) == []

    # Cat-cow too, and then how it felt, still offline: the kept copy of its page opens
    # with the tap's key, and the detail replaces the kept tap (one log, not two).
    morning = page.locator(".moment", has=page.get_by_role("heading", name="Morning"))
    morning.get_by_role("button", name="Done, felt fine").click()
    expect(morning.locator(".quick-log__saved")).to_be_focused()
    cat_entry = next(e for e in page.evaluate(READ_KEPT) if e["moment"] == "morning")
    morning.locator(".quick-log__saved").get_by_role("link", name="Tell us how it felt").click()
    expect(page.get_by_role("heading", level=1, name="Cat–cow")).to_be_visible()
    assert page.locator("html").get_attribute("data-offline-copy")
    assert page.locator("#client_key").input_value() == cat_entry["client_key"]
    assert page.locator("#moment").input_value() == "morning"
    log_card = page.locator("#log")
    log_card.get_by_role("group", name="How did it feel?").get_by_label("Mild tension").check()
    log_card.get_by_role("button", name="Log it").click()
    expect(page.locator(".offline-saved")).to_contain_text("Saved on this phone")
    kept = page.evaluate(READ_KEPT)
    assert sorted(e["client_key"] for e in kept) == sorted(
        [hip_entry["client_key"], cat_entry["client_key"]])
    cat_kept = next(e for e in kept if e["client_key"] == cat_entry["client_key"])
    assert cat_kept["feedback"]["both"] == "mild_tension"
    assert logs(app, alex.id) == []

    # Back online: both are sent, once each.
    context.set_offline(False)
    expect(page.locator(".offline-notice--sent")).to_contain_text(
        "Your 2 logs saved on this phone have been sent.")
    sent = {log.client_key: log for log in wait_for_logs(app, alex.id, 2)}
    assert set(sent) == {hip_entry["client_key"], cat_entry["client_key"]}
    hip_log, cat_log = sent[hip_entry["client_key"]], sent[cat_entry["client_key"]]
    assert (hip_log.item_id, hip_log.feedback_left, hip_log.feedback_right) == (
        item_id, Feedback.FINE, Feedback.FINE)
    assert (cat_log.feedback, cat_log.moment.value) == (Feedback.MILD_TENSION, "morning")
    assert page.evaluate(READ_KEPT) == []

    # The tap sent twice more (another tab, a flaky retry): still one log each.
    for _ in range(2):
        status, path, redirected = page.evaluate(SEND_AGAIN, hip_entry)
        assert (status, path, redirected) == (200, "/programme/", True)
    assert sorted(r.client_key for r in logs(app, alex.id)) == sorted(sent)

    page.goto(live_server.url("/programme/"))
    expect(work_break.locator(".today-item__status")).to_have_text("Done")
    expect(work_break).to_contain_text("felt fine.")
    expect(page.locator(".programme-progress")).to_contain_text("All done today: 2 of 2")


# Every address kept by the service worker for this client.
KEPT_URLS = """async () => {
  const name = (await caches.keys()).find((key) => key.startsWith("portal-programme-"));
  return (await (await caches.open(name)).keys()).map((request) => request.url);
}"""

# An asset of an earlier release, as a phone would still hold it after a deploy.
KEEP_OLD_ASSET = """async (url) => {
  const name = (await caches.keys()).find((key) => key.startsWith("portal-programme-"));
  const headers = {"Content-Type": "text/css",
                   "Cache-Control": "public, max-age=31536000, immutable"};
  await (await caches.open(name)).put(url, new Response("body {}", {headers}));
}"""

HASHED_ASSET = re.compile(r"/static/.+\.[0-9a-f]{12}\.\w+$")


def test_kept_assets_follow_each_release_and_the_offline_page_keeps_its_styles(
        app, live_server, page, make_therapist, make_client, screenshot):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    set_up_programme(app, therapist.id, alex.id)
    context = page.context
    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Alex")).to_be_visible()
    page.goto(live_server.url("/programme/"))
    expect(page.locator("html")).to_have_attribute("data-offline-ready", re.compile(r"^[1-9]"))

    # The phone still holds a stylesheet of an earlier release; Today is opened again once
    # its last precache is old (the note that holds precaches back is forgotten).
    old = live_server.url("/static/css/portal.0123456789ab.css")
    page.evaluate(KEEP_OLD_ASSET, old)
    assert old in page.evaluate(KEPT_URLS)
    page.evaluate("() => localStorage.removeItem('portal-offline-precached')")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-offline-ready", re.compile(r"^[1-9]"))

    # What stays on the phone: the pages, and the hashed assets they use, nothing older.
    kept = page.evaluate(KEPT_URLS)
    assert old not in kept
    assets = [url for url in kept if "/programme/" not in url]
    assert assets and all(HASHED_ASSET.search(url) for url in assets), assets
    stylesheet = page.locator('link[rel="stylesheet"]').first.get_attribute("href")
    assert live_server.url(stylesheet) in assets

    # Offline, a page that was never kept says so, in the site's own styles.
    context.set_offline(True)
    page.goto(live_server.url("/programme/items/999999"))
    expect(page.get_by_role("heading", name="You're offline")).to_be_visible()
    assert page.locator('link[rel="stylesheet"]').get_attribute("href") == stylesheet
    button = page.get_by_role("link", name="Open Today")
    assert button.evaluate("(el) => getComputedStyle(el).backgroundColor") not in (
        "rgba(0, 0, 0, 0)", "transparent")
    screenshot(page, "offline-03-page-not-kept")
    button.click()
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
    context.set_offline(False)
