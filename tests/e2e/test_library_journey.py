"""The library, in a real browser: the therapist writes an exercise with a progression ladder
and a picture, previews it, publishes and features it; the client sees it on their home page.

Each screen is saved as phone and desktop screenshots under test-results/screenshots/<backend>/;
axe checks every page once in test_accessibility_sweep.py.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import User
from portal.seed.library import seed_library
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import field_of, nav_link, sign_in

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def photo() -> bytes:
    """A 2400 x 1600 JPEG "photo" with EXIF, made here so the test needs no files."""
    image = Image.new("RGB", (2400, 1600), (246, 244, 239))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 1300, 2400, 1600), fill=(217, 212, 199))
    draw.ellipse((1060, 260, 1340, 540), fill=(13, 92, 88))
    draw.line((1200, 540, 1200, 1000, 900, 1300), fill=(13, 92, 88), width=70)
    draw.line((1200, 1000, 1500, 1300), fill=(13, 92, 88), width=70)
    draw.line((1200, 650, 800, 420), fill=(13, 92, 88), width=60)
    draw.line((1200, 650, 1600, 420), fill=(13, 92, 88), width=60)
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88, exif=exif.tobytes())
    return out.getvalue()


def open_from_nav(page, name: str) -> None:
    """Follow a main navigation link once enhance.js has folded the menu (it runs before
    DOMContentLoaded), so the link is not caught moving."""
    page.wait_for_load_state("domcontentloaded")
    nav_link(page, name).click()


def loaded(image) -> bool:
    """True when an <img> finishes loading real pixels within 10 s (a loaded machine may
    still be fetching it when the page's other checks are done)."""
    handle = image.element_handle()
    try:
        handle.owner_frame().wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=handle, timeout=10_000)
    except PlaywrightTimeout:
        return False
    return True


def test_library_journey(app, live_server, page, new_page, make_therapist, make_client, review,
                         tmp_path):
    app.config["PORTAL_CLOCK"] = lambda: NOW
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    jo = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan")
    with app.app_context():
        seed_library(db.session, db.session.get(User, jo.id), NOW)
        db.session.commit()

    # The library, from the main navigation.
    sign_in(page, live_server, jo.email, TEST_PASSWORD)
    expect(page).to_have_url(live_server.url("/dashboard/"))
    open_from_nav(page, "Library")
    expect(page).to_have_url(live_server.url("/library/"))
    expect(page.get_by_role("heading", name="Exercise library")).to_be_visible()
    expect(page.locator(".library-item")).to_have_count(10)
    review(page, "library-01-list")

    # Search by words and body area.
    page.get_by_label("Search by name or summary").fill("stretch")
    page.get_by_label("Body area").select_option(label="Calves")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".library-item")).to_have_count(1)
    expect(page.locator(".library-item")).to_contain_text("Wall calf stretch")
    review(page, "library-02-search")
    page.get_by_role("link", name="Show all").click()
    expect(page.locator(".library-item")).to_have_count(10)

    # A new exercise: sent empty first, every mistake is shown next to its field.
    page.get_by_role("link", name="Add an exercise").click()
    expect(page.get_by_role("heading", name="Add an exercise")).to_be_visible()
    review(page, "library-03-new")
    page.get_by_role("button", name="Save as a draft").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(field_of(page, "name")).to_contain_text("Give the exercise a name.")
    expect(page.locator("#body_areas-error")).to_contain_text("Choose at least one body area.")
    expect(field_of(page, "steps")).to_contain_text("Write at least one step.")
    review(page, "library-04-errors")

    page.get_by_label("Name", exact=True).fill("Thread the needle")
    page.get_by_label("Summary").fill("A gentle twist on hands and knees for a stiff upper back.")
    page.get_by_label("Why it helps").fill(
        "Hours at a desk stiffen the upper back. Turning it gently, with the hips steady, "
        "gets it moving again and eases the shoulders.")
    page.get_by_label("Upper back").check()
    page.get_by_label("Neck and shoulders").check()
    page.get_by_label("Steps").fill(
        "Start on hands and knees, hands under shoulders, knees under hips.\n"
        "Slide your right arm under your body, palm up, and rest your right shoulder down.\n"
        "Hold, breathing slowly, then come back and switch sides.")
    page.get_by_label("Cues").fill("Keep your hips over your knees.\nMild tension, never pain.")
    page.get_by_label("Cautions").fill("Stop if you feel pain in the shoulder or neck.")
    page.get_by_label("Hold, in seconds").fill("30")
    page.get_by_label("Reps").fill("0")
    page.get_by_label("Sets or rounds").fill("2")
    page.get_by_label("Each side").check()

    # The ladder: the first level is open; more levels wait behind "Add more levels".
    page.locator("#levels-0-name").fill("On hands and knees")
    page.locator("#levels-0-instruction").fill("Thread the arm through and rest the shoulder.")
    page.locator("#levels-0-criterion").fill("When 30 s each side feels easy, add the reach.")
    page.get_by_text("Add more levels").click()
    page.locator("#levels-1-name").fill("With an overhead reach")
    page.locator("#levels-1-instruction").fill(
        "After each hold, reach the arm up towards the ceiling and follow it with your eyes.")
    page.get_by_label("Regression").fill("Do it sitting: turn your chest to one side, hands on "
                                         "your knees.")
    page.get_by_label("Upload a picture").set_input_files(
        files=[{"name": "IMG_2041.jpg", "mimeType": "image/jpeg", "buffer": photo()}])
    page.get_by_role("button", name="Save as a draft").click()

    # The preview: as a client will see it, picture and ladder included.
    expect(page).to_have_url(re.compile(re.escape(live_server.url("/library/")) + r"\d+$"))
    expect(page.get_by_role("status")).to_contain_text("Thread the needle saved as a draft")
    expect(page.locator(".library-badges")).to_contain_text("Draft")
    preview = page.get_by_role("region", name="Client preview")
    expect(preview.get_by_role("heading", name="Thread the needle")).to_be_visible()
    expect(preview).to_contain_text("30 s each side, 2 rounds")
    expect(preview.locator(".library-ladder__level")).to_have_count(2)
    expect(preview).to_contain_text("Ready for level 2: When 30 s each side feels easy")
    picture = preview.get_by_role("img", name="Illustration: Thread the needle")
    expect(picture).to_have_attribute("src", re.compile(r"^/library/pictures/\d+$"))
    assert loaded(picture)
    assert picture.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1600, 1067]
    review(page, "library-05-preview-draft")

    # Publish, then feature it as the exercise of the week.
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_contain_text("is published")
    page.get_by_role("button", name="Feature as exercise of the week").click()
    expect(page.get_by_role("status")).to_contain_text("now the exercise of the week")
    expect(page.locator(".library-badges")).to_contain_text("Exercise of the week")
    expect(page.get_by_role("button", name="Stop featuring")).to_be_visible()
    review(page, "library-06-featured")

    # The edit form shows the saved ladder and the current picture.
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.locator("#levels-1-name")).to_have_value("With an overhead reach")
    assert loaded(page.get_by_role("img", name="The current picture"))
    review(page, "library-07-edit")
    page.get_by_role("link", name="Cancel").click()
    open_from_nav(page, "Library")
    thread = page.locator(".library-item", has_text="Thread the needle")
    expect(thread).to_contain_text("Published")
    expect(thread).to_contain_text("Exercise of the week")

    # Deleting asks first (nothing uses it yet); "Keep it" goes back.
    thread.get_by_role("link", name="Thread the needle").click()
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete Thread the needle?")).to_be_visible()
    review(page, "library-08-delete")
    page.get_by_role("link", name="Keep it").click()

    # A seeded exercise: the kneeling hip flexor stretch with its drawing and ladder.
    open_from_nav(page, "Library")
    page.get_by_role("link", name="Kneeling hip flexor stretch").click()
    preview = page.get_by_role("region", name="Client preview")
    drawing = preview.get_by_role("img", name="Illustration: Kneeling hip flexor stretch")
    assert loaded(drawing)
    expect(preview.locator(".library-ladder__level")).to_have_count(3)
    review(page, "library-09-hip-flexor")

    # The client sees it on their home page, picture and all.
    client = new_page()
    sign_in(client, live_server, alex.email, TEST_PASSWORD)
    expect(client).to_have_url(live_server.url("/"))
    card = client.get_by_role("region", name="Exercise of the week")
    expect(card.get_by_role("heading", name="Thread the needle")).to_be_visible()
    expect(card).to_contain_text("A gentle twist on hands and knees")
    assert loaded(card.get_by_role("img", name="Illustration: Thread the needle"))
    card.get_by_text("How to do it").click()
    expect(card).to_contain_text("Slide your right arm under your body")
    review(client, "library-10-client-home")
