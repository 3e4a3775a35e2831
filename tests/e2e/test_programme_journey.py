"""Following the programme, in a real browser on a phone: the therapist sets the kneeling hip
flexor stretch (30 s each side, two rounds, a personal note); the client opens Today, opens
the stretch, runs the guided timer to the end with the browser's clock driven by Playwright
(get ready, left side, "Switch sides", right side, rest, round two), logs "Mild tension" on
both sides, and sees the day's progress and this week's adherence.

Logging in three taps at most, counting every click: "Done, felt fine" on the home page (one
tap), "Tell us how it felt" after it (pain, which flags the therapist), the guided timer
opened from the home page and ended with "Done, felt fine" (three), and Today (two, or three
with the menu folded); each tap logs in place, without a reload.

Each screen is saved as phone and desktop screenshots under test-results/screenshots/<backend>/;
axe checks every page once in test_accessibility_sweep.py, and here the exercise page while
the timer runs (a state only this journey reaches).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Feedback, User, utcnow
from portal.seed.library import seed_library
from portal.services import client_day, programmes
from portal.services.programmes import ItemInput
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import DESKTOP, PHONE, axe_check, nav_link, sign_in

pytestmark = pytest.mark.e2e

HIP = "kneeling-hip-flexor-stretch"
NOTE = ("Do this one after every run and in your lunch break. Keep your tailbone tucked "
        "and don't chase depth.")


def set_up_programme(app, therapist_id: int, client_id: int) -> dict[str, int]:
    """The therapist's programme for the client, saved through the services; returns the
    item ids by exercise slug."""
    with app.app_context():
        therapist = db.session.get(User, therapist_id)
        client = db.session.get(User, client_id)
        started = utcnow() - timedelta(days=2)
        library = {e.slug: e for e in seed_library(db.session, therapist, started)}
        version = programmes.save_version(db.session, therapist, client, [
            ItemInput.from_exercise(library[HIP], hold_seconds=30, sets=2, sides="each_side",
                                    moments=("work_break", "after_training"),
                                    personal_note=NOTE),
            ItemInput.from_exercise(library["cat-cow"], moments=("morning",)),
            ItemInput.from_exercise(library["childs-pose"], moments=("before_bed",)),
        ], "Little and often: the hip flexor stretch matters most.", started)
        db.session.commit()
        items = {i.exercise.slug: i.id for i in version.items}
        db.session.remove()
        return items


def review_running_timer(page, name: str, screenshot, pause_until: datetime) -> None:
    """Screenshots of the timer as it runs, then axe on the same page with the timer paused:
    axe needs the page's own timers, which the test is holding still, so the browser clock
    runs again while the timer is paused (it keeps its time exactly) and stops again after."""
    timer = page.locator("[data-timer]")
    screenshot(page, name)
    timer.get_by_role("button", name="Pause").click()
    page.clock.resume()
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        axe_check(page, f"{name} at {size['width']}px")
    page.set_viewport_size(PHONE)
    page.clock.pause_at(pause_until)
    timer.get_by_role("button", name="Resume").click()


def test_following_the_programme(app, live_server, page, make_therapist, make_client,
                                 review, screenshot):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    item_id = set_up_programme(app, therapist.id, alex.id)[HIP]
    # The browser's clock is Playwright's from the first page on; it runs normally until the
    # timer starts, then only moves when the test moves it.
    start = datetime.now().replace(microsecond=0)
    page.clock.install(time=start)

    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Alex")).to_be_visible()
    card = page.locator(".home-programme")
    expect(card).to_contain_text("0 of 3 done today")
    expect(card.get_by_role("link", name="Open today's programme")).to_be_visible()

    # Today, grouped by moment.
    nav_link(page, "Today").click()
    expect(page).to_have_url(live_server.url("/programme/"))
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()
    headings = page.locator(".moment__title")
    expect(headings).to_have_text(["Morning", "Work break", "After training", "Before bed"])
    work_break = page.locator(".moment", has=page.get_by_role("heading", name="Work break"))
    expect(work_break).to_contain_text("30 s each side, 2 rounds")
    expect(work_break).to_contain_text("To do")
    expect(page.get_by_text("What changed:")).to_be_visible()
    review(page, "programme-01-today")

    # The stretch: the note, the steps, the level and the next one.
    work_break.get_by_role("link", name=re.compile("^Kneeling hip flexor stretch")).click()
    expect(page).to_have_url(live_server.url(f"/programme/items/{item_id}?moment=work_break"))
    expect(page.get_by_role("heading", name="Kneeling hip flexor stretch", level=1)
           ).to_be_visible()
    expect(page.locator(".therapist-note")).to_contain_text(NOTE)
    expect(page.get_by_role("heading", name="How to do it")).to_be_visible()
    expect(page.get_by_text("When 30 s each side feels easy, add the overhead reach.")
           ).to_be_visible()
    timer = page.locator("[data-timer]")
    expect(timer).to_be_visible()  # the module took the section over
    review(page, "programme-02-exercise")

    phase = timer.locator("[data-timer-phase]")
    count = timer.locator("[data-timer-count]")
    live = timer.locator("[data-timer-announce]")
    active_side = timer.locator("[data-side][data-active]")

    # From here on the browser's time stands still unless the test runs it.
    page.clock.pause_at(start + timedelta(hours=1))
    timer.get_by_role("button", name="Start").click()
    expect(phase).to_have_text("Get ready")
    expect(count).to_have_text("5")
    expect(live).to_contain_text("Get ready. Left side first.")
    expect(timer.get_by_role("button", name="Pause")).to_be_focused()
    for button in ("Pause", "Stop"):
        box = timer.get_by_role("button", name=button).bounding_box()
        assert box and box["height"] >= 44 and box["width"] >= 44, button

    page.clock.run_for(5_000)
    expect(phase).to_have_text("Hold · left side")
    expect(count).to_have_text("30")
    expect(active_side).to_have_text("Left")
    expect(live).to_contain_text("Hold, left side: 30 seconds. Round 1 of 2.")
    page.clock.run_for(12_000)
    expect(count).to_have_text("18")
    review_running_timer(page, "programme-03-timer-hold", screenshot,
                         start + timedelta(hours=2))
    expect(count).to_have_text("18")

    page.clock.run_for(8_000)
    expect(live).to_have_text("10 seconds left.")  # the last seconds, not every second
    page.clock.run_for(10_000)  # 35 s in: the left side is done
    expect(phase).to_have_text("Switch sides")
    expect(live).to_have_text("Switch sides. Right side next.")
    expect(active_side).to_have_text("Right")
    review_running_timer(page, "programme-04-timer-switch-sides", screenshot,
                         start + timedelta(hours=3))

    page.clock.run_for(5_000)
    expect(phase).to_have_text("Hold · right side")
    expect(count).to_have_text("30")
    # Pausing stops the count; resuming carries on from where it was.
    page.clock.run_for(10_000)
    timer.get_by_role("button", name="Pause").click()
    expect(phase).to_have_text("Paused · Hold · right side")
    expect(live).to_have_text("Paused.")
    page.clock.run_for(60_000)
    expect(count).to_have_text("20")
    timer.get_by_role("button", name="Resume").click()
    page.clock.run_for(20_000)
    expect(phase).to_have_text("Rest")
    expect(timer.locator("[data-timer-round]")).to_have_text("Round 2 of 2")
    expect(live).to_contain_text("Rest for 15 seconds. Round 2 of 2 next.")

    page.clock.run_for(15_000)
    expect(phase).to_have_text("Hold · left side")
    page.clock.run_for(30_000 + 5_000 + 30_000)
    expect(phase).to_have_text("All done")
    expect(live).to_contain_text("All done. Well done!")
    # "Done, felt fine" in one tap, or say how it felt.
    expect(timer.get_by_role("button", name="Done, felt fine")).to_be_focused()
    tell = timer.get_by_role("link", name="Tell us how it felt")
    expect(tell).to_be_visible()
    page.clock.resume()
    review(page, "programme-05-timer-done")

    # Tell us how it felt: mild tension on both sides.
    tell.click()
    log_card = page.locator("#log")
    expect(log_card).to_be_focused()
    log_card.get_by_role("group", name="Left side").get_by_label("Mild tension").check()
    log_card.get_by_role("group", name="Right side").get_by_label("Mild tension").check()
    log_card.get_by_label("Anything to tell your therapist?").fill("Right side is tighter.")
    log_card.get_by_role("button", name="Log it").click()

    expect(page).to_have_url(live_server.url("/programme/"))
    expect(page.get_by_role("status")).to_contain_text("Logged: Kneeling hip flexor stretch")
    expect(page.locator(".programme-progress")).to_contain_text("1 of 3 done today")
    expect(page.locator(".programme-progress")).to_contain_text("This week")
    expect(page.locator(".programme-progress")).to_contain_text("1 day in a row")
    work_break = page.locator(".moment", has=page.get_by_role("heading", name="Work break"))
    expect(work_break.locator(".today-item__status")).to_have_text("Done")
    review(page, "programme-06-today-logged")

    with app.app_context():
        [entry] = client_day.history(db.session, db.session.get(User, alex.id))
        assert entry.exercise.slug == HIP
        assert (entry.feedback_left, entry.feedback_right) == (Feedback.MILD_TENSION,
                                                               Feedback.MILD_TENSION)
        assert entry.note == "Right side is tighter." and not entry.pain
        assert entry.moment.value == "work_break"
        db.session.remove()

    page.get_by_role("link", name="Your history").click()
    expect(page.get_by_role("heading", name="Your history")).to_be_visible()
    expect(page.locator(".history-entry")).to_contain_text("Left: Mild tension")
    review(page, "programme-07-history")


def test_the_exercise_page_without_javascript_or_motion(app, live_server, new_page,
                                                        make_therapist, make_client, review):
    therapist = make_therapist()
    alex = make_client(email="alex.still@example.com")
    items = set_up_programme(app, therapist.id, alex.id)
    item_id = items[HIP]

    # Without JavaScript: no timer, the steps and the log form, and logging works.
    plain = new_page(java_script_enabled=False)
    sign_in(plain, live_server, alex.email, TEST_PASSWORD)
    plain.goto(live_server.url(f"/programme/items/{item_id}"))
    expect(plain.locator("[data-timer]")).to_be_hidden()
    expect(plain.get_by_role("button", name="Start")).to_have_count(0)
    expect(plain.locator(".steps li").first).to_be_visible()
    plain.get_by_role("group", name="Left side").get_by_label("Pain").check()
    plain.get_by_role("group", name="Right side").get_by_label("Nothing").check()
    plain.get_by_role("button", name="Log it").click()
    expect(plain.get_by_role("heading", name="Stop: that shouldn't hurt")).to_be_visible()
    expect(plain.get_by_text("Do it standing instead")).to_be_visible()
    review(plain, "programme-08-pain")
    # "Done, felt fine" on Today, without JavaScript: the page comes back at the item, done,
    # with "Tell us how it felt" after it.
    plain.goto(live_server.url("/programme/"))
    morning = plain.locator(".moment", has=plain.get_by_role("heading", name="Morning"))
    morning.get_by_role("button", name="Done, felt fine").click()
    expect(plain).to_have_url(live_server.url(f"/programme/#entry-{items['cat-cow']}-morning"))
    expect(plain.get_by_role("status")).to_contain_text("Logged: Cat–cow, felt fine.")
    expect(morning.locator(".today-item__status")).to_have_text("Done")
    expect(morning.get_by_role("link", name=re.compile("^Tell us how it felt"))).to_be_visible()

    # Reduced motion: the ring is not drawn; the numbers still count.
    still = new_page(reduced_motion="reduce")
    still.clock.install()
    sign_in(still, live_server, alex.email, TEST_PASSWORD)
    still.goto(live_server.url(f"/programme/items/{item_id}"))
    still.clock.pause_at(datetime.now() + timedelta(hours=1))
    still.get_by_role("button", name="Start").click()
    still.clock.run_for(7_000)
    timer = still.locator("[data-timer]")
    expect(timer.locator("[data-timer-count]")).to_have_text("28")
    expect(timer.locator(".timer__ring")).to_be_hidden()
    # Stop puts it back to the start.
    timer.get_by_role("button", name="Stop").click()
    expect(timer.get_by_role("button", name="Start")).to_be_focused()
    expect(timer.locator("[data-timer-phase]")).to_have_text("Ready when you are")

    # A reps exercise: a "Do N reps" step with a Done button instead of a countdown.
    still.goto(live_server.url(f"/programme/items/{items['cat-cow']}"))
    still.clock.pause_at(datetime.now() + timedelta(hours=2))
    timer = still.locator("[data-timer]")
    phase = timer.locator("[data-timer-phase]")
    expect(timer.locator("[data-timer-hint]")).to_contain_text("10 reps, 2 sets: press Done")
    timer.get_by_role("button", name="Start").click()
    still.clock.run_for(5_000)
    expect(phase).to_have_text("Reps")
    expect(timer.locator("[data-timer-count]")).to_have_text("10")
    expect(timer.locator("[data-timer-sides]")).to_be_hidden()
    done = timer.get_by_role("button", name="Done", exact=True)
    expect(done).to_be_focused()
    expect(timer.locator("[data-timer-announce]")).to_have_text(
        "Do 10 reps. Press Done when you've finished.")
    still.clock.run_for(60_000)  # no countdown: it waits for the client
    expect(phase).to_have_text("Reps")
    done.click()
    expect(phase).to_have_text("Rest")
    still.clock.run_for(15_000)
    expect(phase).to_have_text("Reps")
    expect(timer.locator("[data-timer-round]")).to_have_text("Round 2 of 2")
    done.click()
    expect(phase).to_have_text("All done")
    expect(timer.get_by_role("button", name="Done, felt fine")).to_be_focused()


class Taps:
    """Clicks the client makes, counted: every click of the journey goes through here."""

    def __init__(self, page):
        self.page = page
        self.count = 0

    def __call__(self, locator) -> None:
        self.count += 1
        locator.click()

    def nav(self, name: str) -> None:
        """A main navigation link, opening the folded menu first when it is folded."""
        toggle = self.page.get_by_role("button", name="Menu")
        if toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false":
            self(toggle)
        self(self.page.get_by_role("navigation", name="Main").get_by_role(
            "link", name=name, exact=True))


def still_the_same_page(page) -> bool:
    """True while the document marked by mark_page() is still the one shown (no reload)."""
    return page.evaluate("() => window.__notReloaded === true")


def mark_page(page) -> None:
    page.evaluate("() => { window.__notReloaded = true; }")


def logs_of(app, client_id: int) -> list:
    with app.app_context():
        rows = client_day.history(db.session, db.session.get(User, client_id))
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
        return rows[::-1]  # oldest first


def test_logging_from_the_home_page_in_three_taps_at_most(app, live_server, page,
                                                          make_therapist, make_client,
                                                          review, screenshot):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.taps@example.com")
    items = set_up_programme(app, therapist.id, alex.id)
    start = datetime.now().replace(microsecond=0)
    page.clock.install(time=start)
    sign_in(page, live_server, alex.email, TEST_PASSWORD)
    expect(page.get_by_role("heading", name="Hello, Alex")).to_be_visible()
    card = page.locator(".home-programme")
    expect(card).to_contain_text("0 of 3 done today")

    # 1. The hip flexor stretch from the home page: one tap, logged in place.
    taps = Taps(page)
    mark_page(page)
    hip_row = page.locator(f"#home-item-{items[HIP]}")
    taps(hip_row.get_by_role("button", name="Done, felt fine"))
    message = hip_row.locator(".flashes")
    expect(message).to_contain_text("Logged: Kneeling hip flexor stretch, felt fine.")
    expect(message).to_be_focused()
    assert taps.count == 1
    assert still_the_same_page(page) and page.url == live_server.url("/")
    expect(card).to_contain_text("1 of 3 done today")
    expect(card.locator(".programme-stats")).to_contain_text("1 day in a row")
    expect(hip_row.locator(".today-item__status")).to_have_text("Done")
    expect(hip_row).to_contain_text("felt fine.")
    [hip_log] = logs_of(app, alex.id)
    assert (hip_log.exercise.slug, hip_log.feedback_left, hip_log.feedback_right) == (
        HIP, Feedback.FINE, Feedback.FINE)
    assert hip_log.moment.value == "work_break" and not hip_log.pain
    review(page, "taps-01-home-logged")
    page.clock.resume()
    axe_check(page, "Home after a one-tap log")

    # How it felt is one tap away: it said pain on the left after all. The same log takes
    # the detail, and the therapist is told.
    taps(hip_row.get_by_role("link", name="Tell us how it felt"))
    expect(page).to_have_url(re.compile(
        rf"/programme/items/{items[HIP]}\?log={hip_log.client_key}#log$"))
    log_card = page.locator("#log")
    expect(log_card.get_by_role("heading", name="Tell us how it felt")).to_be_visible()
    expect(log_card).to_contain_text("felt fine.")
    taps(log_card.get_by_role("group", name="Left side").get_by_label("Pain"))
    taps(log_card.get_by_role("group", name="Right side").get_by_label("Mild tension"))
    taps(log_card.get_by_role("button", name="Save how it felt"))
    expect(page.get_by_role("heading", name="Stop: that shouldn't hurt")).to_be_visible()
    [told] = logs_of(app, alex.id)
    assert (told.id, told.feedback_left, told.pain) == (hip_log.id, Feedback.PAIN, True)
    with app.app_context():
        assert [f.id for f in client_day.pain_flags(db.session)] == [told.id]
        db.session.remove()

    # 2. Child's pose with the guided timer, from the home page: open it, Start, and
    # "Done, felt fine" at the end. Three taps.
    page.goto(live_server.url("/"))
    taps = Taps(page)
    child_row = page.locator(f"#home-item-{items['childs-pose']}")
    taps(child_row.get_by_role("link", name=re.compile("^Child's pose")))
    timer = page.locator("[data-timer]")
    expect(timer).to_be_visible()
    page.clock.pause_at(start + timedelta(hours=1))
    taps(timer.get_by_role("button", name="Start"))
    page.clock.run_for(5_000 + 30_000 + 15_000 + 30_000)  # ready, hold, rest, hold
    expect(timer.locator("[data-timer-phase]")).to_have_text("All done")
    done = timer.get_by_role("button", name="Done, felt fine")
    expect(done).to_be_focused()
    mark_page(page)
    taps(done)
    message = timer.locator(".flashes")
    expect(message).to_contain_text("Logged: Child's pose, felt fine.")
    expect(message).to_be_focused()
    assert taps.count == 3
    assert still_the_same_page(page)
    expect(timer).to_contain_text("Logged at")
    expect(timer.locator("[data-timer-hint]")).to_contain_text("Logged. If it didn't feel fine")
    expect(timer.get_by_role("button", name="Done, felt fine")).to_have_count(0)
    expect(page.locator(".exercise-dose__status")).to_have_text("Done today")
    # The log card now tells this log how it felt, and a reload keeps it that way.
    expect(page.locator("#log").get_by_role("heading", name="Tell us how it felt")
           ).to_be_visible()
    child_log = logs_of(app, alex.id)[-1]
    assert page.url.endswith(f"log={child_log.client_key}")
    assert (child_log.exercise.slug, child_log.feedback) == ("childs-pose", Feedback.FINE)
    page.clock.resume()
    review(page, "taps-02-timer-logged")
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        axe_check(page, f"The timer's end after a one-tap log at {size['width']}px")
    page.set_viewport_size(PHONE)

    # 3. Cat-cow from Today: the navigation, then the tap. Two taps (three if the menu is
    # folded).
    page.goto(live_server.url("/"))
    taps = Taps(page)
    taps.nav("Today")
    expect(page).to_have_url(live_server.url("/programme/"))
    morning = page.locator(".moment", has=page.get_by_role("heading", name="Morning"))
    mark_page(page)
    taps(morning.get_by_role("button", name="Done, felt fine"))
    expect(morning.locator(".flashes")).to_contain_text("Logged: Cat–cow, felt fine.")
    expect(morning.locator(".flashes")).to_be_focused()
    assert taps.count <= 3
    assert still_the_same_page(page)
    expect(page.locator(".programme-progress")).to_contain_text("All done today: 3 of 3")
    expect(morning.locator(".today-item__status")).to_have_text("Done")
    review(page, "taps-03-today-logged")
    axe_check(page, "Today after a one-tap log")
    assert [entry.exercise.slug for entry in logs_of(app, alex.id)] == [
        HIP, "childs-pose", "cat-cow"]
