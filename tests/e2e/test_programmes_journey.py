"""Curating a programme in a real browser: the therapist opens Alex's programme, searches the
library, adds the kneeling hip flexor stretch, tailors it (30 s each side, two rounds, after
training and work break, a personal note), moves it to the top and saves, all in the page
without a round trip until "Save"; Alex, in a second browser, opens Today and sees it with
what changed and the note; Alex logs "mild tension"; the therapist sees that log in the
programme's history. The same programme form also works with JavaScript off.

Each screen is saved as phone and desktop screenshots under test-results/screenshots/<backend>/;
axe checks every page once in test_accessibility_sweep.py.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Feedback, User, utcnow
from portal.seed.library import seed_library
from portal.services import client_day, programmes
from portal.services.programmes import ItemInput
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import DESKTOP, nav_link, sign_in

pytestmark = pytest.mark.e2e

HIP_NAME = "Kneeling hip flexor stretch"
NOTE = "Tuck your tailbone under before you lean in. Mild tension, never a pinch."


def set_up(app, therapist_id: int, client_id: int) -> None:
    """The library, and Alex's first version (cat-cow in the morning, child's pose before
    bed) set two days ago."""
    with app.app_context():
        therapist = db.session.get(User, therapist_id)
        started = utcnow() - timedelta(days=2)
        library = {e.slug: e for e in seed_library(db.session, therapist, started)}
        programmes.save_version(db.session, therapist, db.session.get(User, client_id), [
            ItemInput.from_exercise(library["cat-cow"], moments=("morning",)),
            ItemInput.from_exercise(library["childs-pose"], moments=("before_bed",)),
        ], "", started)
        db.session.commit()
        db.session.remove()


def test_the_therapist_tailors_and_the_client_follows(app, live_server, new_page,
                                                       make_therapist, make_client, review):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.programmes@example.com")
    make_client(name="Sam Patel", email="sam.programmes@example.com")
    set_up(app, therapist.id, alex.id)

    jo = new_page(viewport=DESKTOP)
    sign_in(jo, live_server, therapist.email, TEST_PASSWORD)
    nav_link(jo, "Programmes").click()
    expect(jo).to_have_url(live_server.url("/programmes/"))
    expect(jo.get_by_role("heading", name="Programmes", level=1)).to_be_visible()
    alex_card = jo.locator(".programmes-list__item", has_text="Alex Morgan")
    expect(alex_card).to_contain_text("Version 1")
    expect(jo.locator(".programmes-list__item", has_text="Sam Patel")).to_contain_text(
        "No programme yet")
    review(jo, "programmes-01-list")

    alex_card.get_by_role("link", name="Alex Morgan").click()
    expect(jo).to_have_url(live_server.url(f"/programmes/{alex.id}"))
    expect(jo.get_by_role("heading", name="Alex Morgan", level=1)).to_be_visible()
    rows = jo.locator("#programmes-items > li")
    expect(rows).to_have_count(2)
    # From here on nothing may reload the page until "Save": a marker on the window proves it.
    jo.evaluate("window.programmesPageLoad = 'first'")

    # Search the library as you type: the list narrows without leaving the page.
    library = jo.locator("#library")
    library.get_by_label("Search the library").fill("hip flex")
    results = library.locator("[data-result]")
    expect(results).to_have_count(1)
    expect(library.locator("#programmes-results-count")).to_contain_text(
        "1 exercise matches \u201chip flex\u201d")
    library.get_by_role("button", name=f"Add {HIP_NAME}").click()
    expect(rows).to_have_count(3)
    hip = rows.nth(2)
    expect(hip.get_by_role("heading", name=HIP_NAME)).to_be_focused()
    expect(library.get_by_role("button", name=f"Added {HIP_NAME}")).to_be_disabled()
    expect(jo.locator("[data-unsaved]")).to_be_visible()

    # Tailor it: the plain words follow the fields as they change.
    hip.get_by_label("Hold (s)").fill("45")
    expect(hip.locator("[data-summary]")).to_have_text(
        "45 s each side, 2 rounds · Once a day, every day")
    hip.get_by_label("Hold (s)").fill("30")
    hip.get_by_label("Sides").select_option("each_side")
    hip.get_by_label("Sets or rounds").fill("2")
    hip.get_by_role("group", name="When in the day").get_by_label("Work break").check()
    hip.get_by_role("group", name="When in the day").get_by_label("After training").check()
    hip.get_by_label("Personal note").fill(NOTE)
    expect(hip.locator("[data-summary]")).to_have_text(
        "30 s each side, 2 rounds · Once a day, every day")
    expect(hip.get_by_label("Level")).to_have_value("1")
    for button in ("Up", "Down", "Remove"):
        box = hip.get_by_role("button", name=f"{button} {HIP_NAME}").bounding_box()
        assert box and box["height"] >= 44 and box["width"] >= 44, button

    # Move it to the top, and take child's pose out.
    hip.get_by_role("button", name=f"Up {HIP_NAME}").click()
    jo.locator("#programmes-items > li").nth(1).get_by_role(
        "button", name=f"Up {HIP_NAME}").click()
    expect(rows.locator("h3")).to_have_text([re.compile(HIP_NAME), re.compile("Cat"),
                                             re.compile("Child")])
    expect(rows.first.get_by_role("button", name=f"Up {HIP_NAME}")).to_be_disabled()
    expect(rows.first.get_by_role("button", name=f"Down {HIP_NAME}")).to_be_focused()
    rows.nth(2).get_by_role("button", name="Remove Child's pose").click()
    expect(rows).to_have_count(2)
    expect(jo.locator("[data-announce]")).to_have_text("Removed Child's pose. 2 exercises left.")
    # The fields were renumbered to their new places, as the server would name them.
    expect(rows.first.locator("input[name='items-0-hold_seconds']")).to_have_value("30")
    jo.get_by_label("Message to the client about this version").fill(
        "New: the hip flexor stretch, after runs and in work breaks.")
    assert jo.evaluate("window.programmesPageLoad") == "first"
    review(jo, "programmes-02-editing")

    jo.get_by_role("button", name="Save new version").click()
    expect(jo.locator(".flash--success")).to_contain_text(
        "Saved version 2 of Alex Morgan\u2019s programme: Added Kneeling hip flexor stretch")
    expect(jo.locator("[data-unsaved]")).to_be_hidden()
    expect(rows.locator("h3")).to_have_text([re.compile(HIP_NAME), re.compile("Cat")])
    expect(rows.first.locator("[data-summary]")).to_have_text(
        "30 s each side, 2 rounds · Once a day, every day")
    review(jo, "programmes-03-saved")

    with app.app_context():
        version = programmes.current_version(db.session, db.session.get(User, alex.id))
        assert version.number == 2
        item = version.items[0]
        assert (item.exercise.name, item.hold_seconds, item.sets, item.sides.value) == (
            HIP_NAME, 30, 2, "each_side")
        assert item.moments == ["work_break", "after_training"]
        assert item.personal_note == NOTE
        item_id = item.id
        db.session.remove()

    # Alex, on a phone in another browser, sees the new version on Today.
    phone = new_page()
    sign_in(phone, live_server, alex.email, TEST_PASSWORD)
    nav_link(phone, "Today").click()
    expect(phone).to_have_url(live_server.url("/programme/"))
    after_training = phone.locator(".moment", has=phone.get_by_role(
        "heading", name="After training"))
    expect(after_training).to_contain_text(HIP_NAME)
    expect(after_training).to_contain_text("30 s each side, 2 rounds")
    update = phone.locator(".programme-update")
    expect(update).to_contain_text("Added Kneeling hip flexor stretch")
    expect(update).to_contain_text("Removed Child's pose")
    expect(update).to_contain_text("New: the hip flexor stretch, after runs and in work breaks.")
    # The personal note is on the exercise's own page.
    after_training.get_by_role("link", name=re.compile(f"^{HIP_NAME}")).click()
    expect(phone).to_have_url(re.compile(rf"/programme/items/{item_id}"))
    expect(phone.locator(".therapist-note")).to_contain_text(NOTE)
    expect(phone.get_by_text("30 s each side, 2 rounds").first).to_be_visible()

    # Alex logs it: mild tension on both sides.
    log_card = phone.locator("#log")
    log_card.get_by_role("group", name="Left side").get_by_label("Mild tension").check()
    log_card.get_by_role("group", name="Right side").get_by_label("Mild tension").check()
    log_card.get_by_label("Anything to tell your therapist?").fill("Left hip tighter.")
    log_card.get_by_role("button", name="Log it").click()
    expect(phone).to_have_url(live_server.url("/programme/"))

    # Jo sees the log in the programme's history, beside the versions.
    jo.get_by_role("link", name="History and feedback").click()
    expect(jo).to_have_url(live_server.url(f"/programmes/{alex.id}/versions"))
    logs = jo.locator("#logs")
    expect(logs).to_contain_text(HIP_NAME)
    expect(logs).to_contain_text("Left: mild tension · Right: mild tension")
    expect(logs).to_contain_text("\u201cLeft hip tighter.\u201d")
    versions = jo.locator("#versions")
    expect(versions.locator(".programmes-version").first).to_contain_text("Version 2 Current")
    expect(versions).to_contain_text("Added Kneeling hip flexor stretch")
    expect(versions).to_contain_text("by Jo Fletcher")
    expect(jo.locator("#pain")).to_contain_text("None: nothing hurt")
    review(jo, "programmes-04-history")

    with app.app_context():
        [entry] = client_day.history(db.session, db.session.get(User, alex.id))
        assert (entry.feedback_left, entry.feedback_right) == (Feedback.MILD_TENSION,
                                                               Feedback.MILD_TENSION)
        db.session.remove()

    # Keep it as a template; the templates page lists it.
    jo.get_by_role("link", name="Edit the programme").click()
    templates = jo.locator("#templates")
    templates.get_by_label("Template name").fill("Desk worker's lower back")
    templates.get_by_role("button", name="Save as template").click()
    expect(jo.locator(".flash--success")).to_contain_text(
        "Saved \u201cDesk worker's lower back\u201d as a template with 2 exercises.")
    jo.locator("#templates").get_by_role("link", name="All templates").click()
    expect(jo.get_by_role("heading", name="Desk worker's lower back")).to_be_visible()
    review(jo, "programmes-05-templates")


def test_the_programme_form_without_javascript(app, live_server, new_page, make_therapist,
                                        make_client, review):
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan", email="alex.plain@example.com")
    set_up(app, therapist.id, alex.id)

    plain = new_page(java_script_enabled=False, viewport={"width": 820, "height": 1180})
    sign_in(plain, live_server, therapist.email, TEST_PASSWORD)
    plain.goto(live_server.url(f"/programmes/{alex.id}"))
    rows = plain.locator("#programmes-items > li")
    expect(rows).to_have_count(2)

    # Search, add and move are posts of the whole draft; an unsaved edit survives them.
    rows.first.get_by_label("Hold (s)").fill("0")
    rows.first.get_by_label("Reps").fill("12")
    plain.get_by_label("Search the library").fill("hip flexor")
    plain.get_by_role("button", name="Search", exact=True).click()
    expect(plain.locator("[data-result]")).to_have_count(1)
    plain.get_by_role("button", name=f"Add {HIP_NAME}").click()
    expect(rows).to_have_count(3)
    expect(plain).to_have_url(live_server.url(f"/programmes/{alex.id}#item-2"))
    expect(plain.locator("[data-unsaved]")).to_be_visible()
    expect(rows.first.get_by_label("Reps")).to_have_value("12")
    rows.nth(2).get_by_role("button", name=f"Up {HIP_NAME}").click()
    expect(rows.nth(1).locator("h3")).to_contain_text(HIP_NAME)

    # A mistake is shown next to its field, with the draft kept.
    rows.nth(1).get_by_label("Hold (s)").fill("900")
    plain.get_by_role("button", name="Save new version").click()
    expect(plain.locator(".error-summary")).to_contain_text(
        f"{HIP_NAME}: Hold for 0 to 300 seconds.")
    expect(plain.locator("#items-1-hold_seconds-error")).to_contain_text(
        "Hold for 0 to 300 seconds.")
    expect(rows).to_have_count(3)
    review(plain, "programmes-06-no-script-error")

    rows.nth(1).get_by_label("Hold (s)").fill("30")
    plain.get_by_role("button", name="Save new version").click()
    expect(plain.locator(".flash--success")).to_contain_text("Saved version 2")
    with app.app_context():
        version = programmes.current_version(db.session, db.session.get(User, alex.id))
        assert [i.exercise.name for i in version.items][1] == HIP_NAME
        assert version.items[0].reps == 12
        db.session.remove()
