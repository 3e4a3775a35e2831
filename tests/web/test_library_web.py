"""The exercise library through the test client: who may open what, form validation with
nothing written, picture uploads (checked by content, re-encoded, refused with nothing
stored), serving pictures, search with odd input, delete refused when in use, publishing, and
the exercise of the week on the client's home page."""

from __future__ import annotations

import functools
import html
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.extensions import db
from portal.models import AuditEvent, Exercise, ExerciseLevel, Picture, Practice, User
from portal.seed.library import seed_library
from portal.services import library, pictures, programmes
from portal.services.programmes import ItemInput
from tests.conftest import csrf_from, form_post, sign_in_directly, static_url

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HIP = "kneeling-hip-flexor-stretch"
CALF = "wall-calf-stretch"


# --- helpers ------------------------------------------------------------------------------


def text(response) -> str:
    """The response body as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def field_error(page: str, field_id: str) -> str | None:
    """The error message shown next to a field, or None."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(field_id)}-error"[^>]*>(.*?)</\1>', page,
                      re.S)
    if not match:
        return None
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(2)).replace("Error:", "")).strip()


def count(app, model, *where) -> int:
    """Rows of a model matching the conditions."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def files_in(directory: Path) -> list[Path]:
    """Every file under the upload directory (none when it was never made)."""
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


@functools.cache
def image_bytes(fmt: str, size=(1800, 1200), mode="RGB", **save) -> bytes:
    """A real image made with Pillow, with a gradient so it is not trivially compressible
    (made once per set of arguments: bytes cannot be changed by the test that gets them). The
    default size is over the 1,600-pixel side pictures are reduced to, so it is reduced."""
    image = Image.linear_gradient("L").resize(size).convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def secret_exif() -> bytes:
    """EXIF naming a camera and an orientation, to prove metadata is stripped."""
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "SecretSoftware"  # Software
    return exif.tobytes()


def srgb_profile() -> bytes:
    """An ICC profile to embed."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exercise_form(**overrides) -> dict:
    """A valid create/edit form with a two-level ladder."""
    data = {
        "name": "Seated twist",
        "summary": "Turns the upper back gently after long sitting.",
        "why_it_helps": "Moves the upper back through a comfortable range.",
        "body_areas": ["upper_back", "lower_back"],
        "steps": "Sit tall on a chair.\n\nTurn your chest to one side.\nHold, then switch.",
        "cues": "Grow tall before you turn.",
        "cautions": "Stop if it hurts.",
        "hold_seconds": "20",
        "reps": "0",
        "sets": "2",
        "sides": "each_side",
        "regression": "Turn only a little.",
        "levels-0-name": "Seated twist",
        "levels-0-instruction": "Turn with your hands on your knees.",
        "levels-0-criterion": "When 20 s each side feels easy, add the reach.",
        "levels-1-name": "With a reach",
        "levels-1-instruction": "Reach the back arm behind you as you turn.",
        "levels-1-criterion": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def upload(data: bytes, filename: str = "photo.png",
           content_type: str = "image/png") -> FileStorage:
    """A file part for a multipart POST."""
    return FileStorage(io.BytesIO(data), filename=filename, content_type=content_type)


def post_exercise(client, data: dict, *, page: str = "/library/new"):
    """GET the form, then POST it as multipart like a browser. The body is encoded here, in
    memory: the test client would spool a large one to a temporary file it never closes."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    boundary, body = encode_multipart({"csrf_token": token, **data})
    return client.post(page, data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def exercise_by_name(app, name: str) -> Exercise | None:
    """The exercise with that name, ladder and picture loaded, detached."""
    with app.app_context():
        exercise = db.session.scalar(sa.select(Exercise).where(Exercise.name == name))
        if exercise is None:
            return None
        exercise = library.get_exercise(db.session, exercise.id)
        db.session.expunge_all()
        return exercise


@pytest.fixture
def uploads(app, tmp_path) -> Path:
    """Uploaded pictures go to a directory of this test's own."""
    directory = tmp_path / "uploads"
    app.config["UPLOAD_DIR"] = str(directory)
    return directory


@pytest.fixture
def jo(app, client, make_therapist, uploads):
    """A test client signed in as a therapist, with the clock at NOW."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    therapist = make_therapist(name="Jo Fletcher")
    sign_in_directly(client, therapist)
    client.user = therapist
    return client


@pytest.fixture
def alex(app, make_client):
    """A second browser signed in as a client."""
    user = make_client(name="Alex Morgan")
    browser = app.test_client()
    sign_in_directly(browser, user)
    browser.user = user
    return browser


@pytest.fixture
def seeded(app, jo) -> dict[str, int]:
    """The starter library (published), by slug -> id."""
    with app.app_context():
        therapist = db.session.get(User, jo.user.id)
        ids = {e.slug: e.id for e in seed_library(db.session, therapist, NOW)}
        db.session.commit()
    return ids


def create_with_picture(jo, data: bytes, name: str = "Seated twist", **kw) -> int:
    """Create an exercise with an uploaded picture through the form; returns its id."""
    response = post_exercise(jo, exercise_form(name=name, picture=upload(data, **kw)))
    assert response.status_code == 302, field_error(text(response), "picture")
    return int(response.location.rstrip("/").rsplit("/", 1)[1])


# --- who may open what ----------------------------------------------------------------------


def test_clients_are_refused_library_management(app, jo, alex, seeded):
    hip = seeded[HIP]
    for url in ("/library/", "/library/new", f"/library/{hip}", f"/library/{hip}/edit",
                f"/library/{hip}/delete"):
        assert alex.get(url).status_code == 403, url
    token = csrf_from(alex.get("/account/").get_data(as_text=True))
    for action in ("publish", "unpublish", "feature", "unfeature", "delete"):
        response = alex.post(f"/library/{hip}/{action}", data={"csrf_token": token})
        assert response.status_code == 403, action
    response = alex.post("/library/new", data={"csrf_token": token, **exercise_form()},
                         content_type="multipart/form-data")
    assert response.status_code == 403
    assert count(app, Exercise) == len(seeded)
    assert count(app, Exercise, Exercise.published.is_(False)) == 0


def test_strangers_are_sent_to_sign_in(client, practice):
    for url in ("/library/", "/library/pictures/1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.location.startswith("/auth/login")


def test_library_is_in_the_therapist_navigation(jo, seeded):
    page = jo.get("/library/").get_data(as_text=True)
    assert re.search(r'<a href="/library/" aria-current="page">Library</a>', page)


# --- the list and search ------------------------------------------------------------------


def test_list_shows_drafts_and_published_with_badges(app, jo, seeded):
    assert post_exercise(jo, exercise_form()).status_code == 302
    page = text(jo.get("/library/"))
    assert "11 exercises" in page
    assert page.count(">Published<") == 10
    assert page.count(">Draft<") == 1
    twist = re.search(r'<li class="library-item card library-item--draft">(.*?)</li>', page, re.S)
    assert twist and "Seated twist" in twist.group(1)


@pytest.mark.parametrize(("query", "shows_all"), [
    ("x" * 10_000, False),  # far over the box's limit: cut to 100 characters
    ("%", False), ("_", False), ("%%", False), ("*", False), ("?", False), ("[a-z]", False),
    ("\\", False), ("/", False), ("'; DROP TABLE exercise; --", False), ('"', False),
    ("<script>alert(1)</script>", False), ("hip\x1fflexor", False), ("\u202e", False),
    ("😀", False), ("Stretch\u0301", False), ("ＨＩＰ", False),
    ("\x01\x02", True), ("  ", True), ("\t\r\n", True),
])
def test_search_with_odd_input_answers_without_error(app, jo, seeded, query, shows_all):
    """Wildcards match literally, control characters are dropped, long input is cut, and
    whatever was typed is shown back escaped."""
    response = jo.get("/library/", query_string={"q": query})
    assert response.status_code == 200
    page = text(response)
    if shows_all:
        assert "10 exercises." in page
    else:
        assert "No exercises match that search" in page
    assert "<script>alert(1)" not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Exercise)) == 10


@pytest.mark.parametrize("query", ["\x00", "hip\x00flexor"])
def test_a_nul_character_in_the_search_is_a_bad_request_not_a_server_error(jo, seeded, query):
    """PostgreSQL can't compare text with NUL in it; the app refuses such input up front."""
    assert jo.get("/library/", query_string={"q": query}).status_code == 400


def test_search_finds_by_words_and_body_area(app, jo, seeded):
    page = text(jo.get("/library/", query_string={"q": "HIP FLEXOR"}))
    assert "Kneeling hip flexor stretch" in page
    assert "Wall calf stretch" not in page
    assert "1 exercise found" in page

    page = text(jo.get("/library/", query_string={"body_area": "calves"}))
    assert "Wall calf stretch" in page
    assert "Kneeling hip flexor stretch" not in page

    page = text(jo.get("/library/", query_string={"q": "stretch", "body_area": "hips"}))
    assert "Kneeling hip flexor stretch" in page
    assert "Wall calf stretch" not in page

    page = text(jo.get("/library/", query_string={"q": "100%"}))
    assert "No exercises match that search" in page


def test_search_finds_unicode_names(app, jo, seeded):
    assert post_exercise(jo, exercise_form(name="Étirement du mollet 😀",
                                           body_areas=["calves"])).status_code == 302
    page = text(jo.get("/library/", query_string={"q": "Étirement"}))
    assert "Étirement du mollet 😀" in page
    page = text(jo.get("/library/", query_string={"q": "😀"}))
    assert "Étirement du mollet 😀" in page


def test_unknown_body_area_is_explained_and_ignored(jo, seeded):
    response = jo.get("/library/", query_string={"body_area": "elbows' OR 1=1"})
    assert response.status_code == 200
    page = text(response)
    assert field_error(page, "body_area") == "Choose a body area from the list."
    assert "Kneeling hip flexor stretch" in page


# --- the form: validation writes nothing ----------------------------------------------------


def test_empty_form_shows_each_message_next_to_its_field_and_writes_nothing(app, jo, uploads):
    response = post_exercise(jo, {"sides": "none"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_error(page, "name") == "Give the exercise a name."
    assert field_error(page, "summary") == "Add a one-line summary clients see in lists."
    assert field_error(page, "body_areas") == "Choose at least one body area."
    assert field_error(page, "steps") == "Write at least one step."
    assert field_error(page, "hold_seconds") == "Enter the hold in seconds (0 for none)."
    assert 'class="error-summary"' in page
    assert count(app, Exercise) == 0
    assert count(app, AuditEvent) == 0
    assert files_in(uploads) == []


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"hold_seconds": "999"}, "hold_seconds", "Hold for 0 to 300 seconds."),
    ({"hold_seconds": "-5"}, "hold_seconds", "Hold for 0 to 300 seconds."),
    ({"hold_seconds": "thirty"}, "hold_seconds",
     "Enter the hold as a whole number of seconds, for example 30."),
    ({"sets": "0"}, "sets", "Use 1 to 10 sets or rounds."),
    ({"reps": "1000"}, "reps", "Use 0 to 100 reps."),
    # The service's rule, reported against the same field.
    ({"hold_seconds": "0", "reps": "0"}, "hold_seconds", "Give a hold time or a number of reps."),
    ({"body_areas": ["elbows"]}, "body_areas", "Choose body areas from the list."),
    ({"steps": "\n   \n"}, "steps", "Write at least one step."),
    ({"steps": "\n".join(f"Step {n}" for n in range(25))}, "steps", "Use at most 20 lines."),
    ({"name": "x" * 121}, "name", "Use at most 120 characters."),
    ({"sides": "left"}, "sides", "Not a valid choice."),
    # A rung before the top one needs its criterion.
    ({"levels-0-criterion": ""}, "levels-0-criterion",
     "Say when the client is ready for the next level."),
])
def test_invalid_values_are_refused_next_to_their_field(app, jo, uploads, overrides, field,
                                                        message):
    response = post_exercise(jo, exercise_form(**overrides))
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), field) == message
    assert count(app, Exercise) == 0
    assert count(app, ExerciseLevel) == 0


def test_ladder_errors_point_at_the_fieldset_the_therapist_filled(app, jo, uploads):
    """Blank rungs are skipped, so the service's second rung is the form's third fieldset."""
    data = exercise_form(**{"levels-1-name": "", "levels-1-instruction": "",
                            "levels-1-criterion": "", "levels-2-name": "",
                            "levels-2-instruction": "Reach up overhead."})
    response = post_exercise(jo, data)
    page = response.get_data(as_text=True)
    assert field_error(page, "levels-2-name") == "Give this level a name."
    assert field_error(page, "levels-1-name") is None
    # The error summary links to the field.
    assert 'href="#levels-2-name"' in page
    assert count(app, Exercise) == 0


def test_a_form_error_with_a_good_picture_stores_no_file(app, jo, uploads):
    response = post_exercise(jo, exercise_form(name="", picture=upload(image_bytes("PNG"))))
    assert response.status_code == 200
    page = text(response)
    assert "Choose the picture again" in page
    assert count(app, Picture) == 0
    assert files_in(uploads) == []


def test_a_service_error_after_the_upload_removes_the_file_again(app, jo, uploads):
    """The picture is written before the exercise is checked by the service; a refusal there
    rolls back the row and deletes the file."""
    data = exercise_form(hold_seconds="0", reps="0", picture=upload(image_bytes("PNG")))
    response = post_exercise(jo, data)
    assert field_error(response.get_data(as_text=True), "hold_seconds") == (
        "Give a hold time or a number of reps.")
    assert count(app, Picture) == 0
    assert count(app, Exercise) == 0
    assert files_in(uploads) == []


# --- creating, previewing, editing ------------------------------------------------------------


def test_create_with_ladder_saves_a_draft_and_shows_the_preview(app, jo, uploads):
    response = post_exercise(jo, exercise_form())
    assert response.status_code == 302
    exercise = exercise_by_name(app, "Seated twist")
    assert response.location == f"/library/{exercise.id}"
    assert exercise.published is False
    assert exercise.steps == ["Sit tall on a chair.", "Turn your chest to one side.",
                              "Hold, then switch."]
    assert exercise.body_areas == ["upper_back", "lower_back"]
    assert [(lv.position, lv.name, lv.criterion) for lv in exercise.levels] == [
        (1, "Seated twist", "When 20 s each side feels easy, add the reach."),
        (2, "With a reach", "")]

    page = text(jo.get(response.location))
    assert "saved as a draft" in page
    assert ">Draft<" in page
    assert "Client preview" in page
    assert "20 s each side, 2 rounds" in page
    for words in ("Sit tall on a chair.", "Grow tall before you turn.", "Stop if it hurts.",
                  "With a reach", "Ready for level 2:", "Turn only a little."):
        assert words in page, words
    assert "Publish" in page
    assert "Feature as exercise of the week" not in page  # drafts can't be featured


def test_edit_prefills_the_form_and_keeps_the_ladder_when_unchanged(app, jo, seeded):
    hip = seeded[HIP]
    page = text(jo.get(f"/library/{hip}/edit"))
    assert 'value="Kneeling hip flexor stretch"' in page
    assert 'value="With an overhead reach"' in page
    assert re.search(r'value="hips"[^>]*checked', page)
    assert re.search(r'value="each_side"[^>]*checked|checked[^>]*value="each_side"', page)

    with app.app_context():
        exercise = library.get_exercise(db.session, hip)
        data = exercise_form(
            name=exercise.name, summary="A new summary.", why_it_helps=exercise.why_it_helps,
            body_areas=list(exercise.body_areas), steps="\n".join(exercise.steps),
            cues="\n".join(exercise.cues), cautions="\n".join(exercise.cautions),
            hold_seconds=str(exercise.hold_seconds), reps=str(exercise.reps),
            sets=str(exercise.sets), sides=exercise.sides.value,
            regression=exercise.regression, **{"levels-1-criterion": None})
        for i, level in enumerate(exercise.levels):
            data[f"levels-{i}-name"] = level.name
            data[f"levels-{i}-instruction"] = level.instruction
            data[f"levels-{i}-criterion"] = level.criterion
    response = post_exercise(jo, data, page=f"/library/{hip}/edit")
    assert response.status_code == 302
    with app.app_context():
        exercise = library.get_exercise(db.session, hip)
        assert exercise.summary == "A new summary."
        assert len(exercise.levels) == 3
        assert exercise.picture_path == f"img/exercises/{HIP}.svg"  # the drawing is kept
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert "exercise.updated" in actions
    assert "exercise.levels_replaced" not in actions


def test_edit_can_shorten_the_ladder(app, jo, seeded):
    hip = seeded[HIP]
    data = exercise_form(name="Kneeling hip flexor stretch", body_areas=["hips"],
                         **{"levels-1-name": "", "levels-1-instruction": "",
                            "levels-0-criterion": ""})
    assert post_exercise(jo, data, page=f"/library/{hip}/edit").status_code == 302
    with app.app_context():
        assert [lv.name for lv in library.get_exercise(db.session, hip).levels] == [
            "Seated twist"]


def test_unknown_exercise_is_404(jo, seeded):
    assert jo.get("/library/99999").status_code == 404
    assert jo.get("/library/99999/edit").status_code == 404


# --- pictures: accepted, re-encoded, served ---------------------------------------------------


@pytest.mark.parametrize(("fmt", "content_type", "save"), [
    ("PNG", "image/png", {"pnginfo": None, "exif": None}),
    ("JPEG", "image/jpeg", {"exif": None, "icc_profile": None, "quality": 90}),
    ("WEBP", "image/webp", {"exif": None, "icc_profile": None}),
])
def test_upload_is_re_encoded_without_metadata_and_capped_in_size(app, jo, uploads, fmt,
                                                                  content_type, save):
    options = dict(save)
    if "pnginfo" in options:
        info = PngInfo()
        info.add_text("Author", "SecretAuthor")
        options["pnginfo"] = info
    if "exif" in options:
        options["exif"] = secret_exif()
    if "icc_profile" in options:
        options["icc_profile"] = srgb_profile()
    original = image_bytes(fmt, **options)
    assert b"SecretCam" in original

    exercise_id = create_with_picture(jo, original, filename=f"holiday.{fmt.lower()}",
                                      content_type=content_type)

    with app.app_context():
        exercise = library.get_exercise(db.session, exercise_id)
        picture = exercise.picture
        assert exercise.picture_path is None
        assert picture.content_type == "image/webp"
        assert (picture.width, picture.height) == (1600, 1067)
        stored_name = picture.stored_name
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}\.webp", stored_name)
    assert "holiday" not in stored_name
    stored = uploads / stored_name
    assert files_in(uploads) == [stored]
    assert "static" not in stored.parts

    data = stored.read_bytes()
    for secret in (b"SecretCam", b"SecretSoftware", b"SecretAuthor", b"Exif", b"ICCP", b"XMP"):
        assert secret not in data
    with Image.open(io.BytesIO(data)) as result:
        assert result.format == "WEBP"
        assert result.size == (1600, 1067)
        assert not result.getexif()
        assert "icc_profile" not in result.info
        assert "exif" not in result.info


def test_small_pictures_keep_their_size_and_transparency(app, jo, uploads):
    image = Image.new("RGBA", (400, 300), (13, 92, 88, 255))
    image.putalpha(Image.linear_gradient("L").resize((400, 300)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    original = out.getvalue()
    exercise_id = create_with_picture(jo, original)
    with app.app_context():
        picture = library.get_exercise(db.session, exercise_id).picture
        assert (picture.width, picture.height) == (400, 300)
        path = uploads / picture.stored_name
    with Image.open(path) as result:
        assert result.mode == "RGBA"


def test_phone_photos_are_turned_upright(app, jo, uploads):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    original = image_bytes("JPEG", size=(1200, 800), exif=exif.tobytes())
    exercise_id = create_with_picture(jo, original, filename="IMG_0001.JPG",
                                      content_type="image/jpeg")
    with app.app_context():
        picture = library.get_exercise(db.session, exercise_id).picture
        assert (picture.width, picture.height) == (800, 1200)


def test_pictures_are_served_to_signed_in_clients_and_therapists(app, jo, alex):
    exercise_id = create_with_picture(jo, image_bytes("PNG"))
    with app.app_context():
        picture = library.get_exercise(db.session, exercise_id).picture
        url, sha256 = f"/library/pictures/{picture.id}", picture.sha256

    for browser in (jo, alex):
        with browser.get(url) as response:
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "image/webp"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            cache = response.headers["Cache-Control"]
            assert "private" in cache and "no-store" not in cache and "public" not in cache
            assert response.data[:4] == b"RIFF" and response.data[8:12] == b"WEBP"
            etag = response.headers["ETag"]
        assert etag.strip('"') == sha256
        with browser.get(url, headers={"If-None-Match": etag}) as again:
            assert again.status_code == 304

    stranger = app.test_client()
    assert stranger.get(url).status_code == 302
    assert alex.get("/library/pictures/99999").status_code == 404


def test_a_picture_whose_file_is_gone_is_404(app, jo, uploads, alex):
    exercise_id = create_with_picture(jo, image_bytes("PNG"))
    with app.app_context():
        picture = library.get_exercise(db.session, exercise_id).picture
    (uploads / picture.stored_name).unlink()
    assert alex.get(f"/library/pictures/{picture.id}").status_code == 404


def test_upload_replaces_a_drawing_and_can_be_removed(app, jo, seeded, uploads):
    hip = seeded[HIP]

    def edit(**overrides):
        data = exercise_form(name="Kneeling hip flexor stretch", body_areas=["hips"],
                             **overrides)
        return post_exercise(jo, data, page=f"/library/{hip}/edit")

    assert edit(picture=upload(image_bytes("JPEG"), "new.jpg", "image/jpeg")).status_code == 302
    with app.app_context():
        exercise = library.get_exercise(db.session, hip)
        assert exercise.picture_path is None
        assert exercise.picture_id is not None
        picture_id = exercise.picture_id
    page = text(jo.get(f"/library/{hip}"))
    assert f'src="/library/pictures/{picture_id}"' in page
    assert "Remove the current picture" in text(jo.get(f"/library/{hip}/edit"))

    assert edit().status_code == 302  # no new file: the picture is kept
    with app.app_context():
        assert library.get_exercise(db.session, hip).picture_id == picture_id

    assert edit(remove_picture="y").status_code == 302
    with app.app_context():
        exercise = library.get_exercise(db.session, hip)
        assert exercise.picture_id is None and exercise.picture_path is None


# --- pictures: refused with nothing stored ----------------------------------------------------


@functools.cache
def decompression_bomb() -> bytes:
    """A tiny PNG (about 50 KB) that claims 20,000 x 20,000 pixels: 400 million to decode."""
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, format="PNG", optimize=True)
    return out.getvalue()


@functools.cache
def just_over_the_warning_limit() -> bytes:
    """6,500 x 6,500: over MAX_IMAGE_PIXELS (Pillow only warns there) but under twice it."""
    out = io.BytesIO()
    Image.new("1", (6_500, 6_500)).save(out, format="PNG")
    return out.getvalue()


def wide_strip() -> bytes:
    """Few pixels in all, but wider than 6,000."""
    return image_bytes("PNG", size=(7_000, 10))


def truncated_png() -> bytes:
    data = image_bytes("PNG", size=(800, 600))
    return data[: len(data) // 2]


def truncated_jpeg() -> bytes:
    data = image_bytes("JPEG", size=(800, 600))
    return data[: len(data) // 2]


def oversized_file() -> bytes:
    """A real PNG with zero bytes after it, one past the 5 MB cap."""
    data = image_bytes("PNG", size=(100, 100))
    return data + b"\0" * (pictures.MAX_BYTES - len(data) + 1)


def gif() -> bytes:
    return image_bytes("GIF", size=(100, 100), mode="L")


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"


@pytest.mark.parametrize(("make", "filename", "content_type", "message"), [
    (lambda: b"just some notes\n" * 20, "notes.png", "image/png", pictures.NOT_AN_IMAGE),
    (lambda: HTML, "photo.jpg", "image/jpeg", pictures.NOT_AN_IMAGE),
    (lambda: SVG, "drawing.webp", "image/webp", pictures.NOT_AN_IMAGE),
    (gif, "animation.png", "image/png", pictures.NOT_AN_IMAGE),
    (truncated_png, "cut.png", "image/png", pictures.DAMAGED),
    (truncated_jpeg, "cut.jpg", "image/jpeg", pictures.DAMAGED),
    (oversized_file, "huge.png", "image/png", pictures.TOO_BIG_FILE),
    (wide_strip, "wide.png", "image/png", pictures.TOO_MANY_PIXELS),
    (just_over_the_warning_limit, "big.png", "image/png", pictures.TOO_MANY_PIXELS),
    (decompression_bomb, "bomb.png", "image/png", pictures.TOO_MANY_PIXELS),
    (lambda: b"", "empty.png", "image/png", pictures.EMPTY),
    (lambda: b"", "", "application/octet-stream", None),
])
def test_bad_uploads_are_refused_next_to_the_field_with_nothing_stored(
        app, jo, uploads, make, filename, content_type, message):
    data = make()
    response = post_exercise(jo, exercise_form(picture=upload(data, filename, content_type)))
    if message is None:
        # A nameless empty part is what a browser sends when no file was chosen.
        assert response.status_code == 302
        assert exercise_by_name(app, "Seated twist").picture_id is None
        assert count(app, Picture) == 0
        return
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_error(page, "picture") == message
    assert 'href="#picture"' in page
    assert count(app, Picture) == 0
    assert count(app, Exercise) == 0
    assert files_in(uploads) == []


def test_a_bad_upload_on_edit_keeps_the_exercise_as_it_was(app, jo, seeded, uploads):
    hip = seeded[HIP]
    data = exercise_form(name="Renamed", picture=upload(b"GIF89a not really", "x.png"))
    response = post_exercise(jo, data, page=f"/library/{hip}/edit")
    assert field_error(response.get_data(as_text=True), "picture") == pictures.NOT_AN_IMAGE
    with app.app_context():
        exercise = library.get_exercise(db.session, hip)
        assert exercise.name == "Kneeling hip flexor stretch"
        assert exercise.picture_path == f"img/exercises/{HIP}.svg"
    assert count(app, Picture) == 0
    assert files_in(uploads) == []


# --- publishing, deleting -------------------------------------------------------------------


def test_publish_and_unpublish(app, jo, uploads):
    assert post_exercise(jo, exercise_form()).status_code == 302
    exercise_id = exercise_by_name(app, "Seated twist").id
    page = f"/library/{exercise_id}"

    response = form_post(jo, page, {}, action=f"{page}/publish")
    assert response.status_code == 302
    assert exercise_by_name(app, "Seated twist").published is True
    shown = text(jo.get(page))
    assert ">Published<" in shown
    assert "Feature as exercise of the week" in shown

    form_post(jo, page, {}, action=f"{page}/unpublish")
    assert exercise_by_name(app, "Seated twist").published is False
    assert "is a draft again" in text(jo.get(page))


def test_delete_is_refused_while_a_programme_uses_the_exercise(app, jo, seeded, make_client):
    hip = seeded[HIP]
    client_id = make_client(name="Sam Patel").id
    with app.app_context():
        therapist = db.session.get(User, jo.user.id)
        client = db.session.get(User, client_id)
        exercise = db.session.get(Exercise, hip)
        programmes.save_version(db.session, therapist, client,
                                [ItemInput.from_exercise(exercise)], "", NOW)
        db.session.commit()

    confirm = text(jo.get(f"/library/{hip}/delete"))
    assert "is used in 1 client programme, so it can't be deleted" in confirm
    assert "Unpublish it instead" in confirm

    # Posted anyway (say, from a page opened before the exercise was assigned).
    response = form_post(jo, f"/library/{hip}", {}, action=f"/library/{hip}/delete")
    assert response.status_code == 302
    assert response.location == f"/library/{hip}"
    page = text(jo.get(response.location))
    assert ("“Kneeling hip flexor stretch” is used in 1 client programme, so it can't be "
            "deleted. Unpublish it instead to hide it from the library.") in page
    assert count(app, Exercise, Exercise.id == hip) == 1
    assert count(app, ExerciseLevel, ExerciseLevel.exercise_id == hip) == 3


def test_delete_an_unused_exercise(app, jo, seeded):
    calf = seeded[CALF]
    assert "This can't be undone" in text(jo.get(f"/library/{calf}/delete"))
    response = form_post(jo, f"/library/{calf}/delete", {})
    assert response.status_code == 302
    assert response.location == "/library/"
    assert "Wall calf stretch deleted." in text(jo.get("/library/"))
    assert count(app, Exercise, Exercise.id == calf) == 0
    assert count(app, ExerciseLevel, ExerciseLevel.exercise_id == calf) == 0


# --- the exercise of the week ---------------------------------------------------------------


def test_featuring_shows_on_the_client_home_page_and_unfeaturing_removes_it(app, jo, alex,
                                                                           seeded):
    hip = seeded[HIP]
    home = text(alex.get("/"))
    assert "Exercise of the week" not in home

    response = form_post(jo, f"/library/{hip}", {}, action=f"/library/{hip}/feature")
    assert response.status_code == 302
    shown = text(jo.get(f"/library/{hip}"))
    assert "is now the exercise of the week" in shown
    assert "Stop featuring" in shown
    assert re.search(r"Kneeling hip flexor stretch</a></h2>.*?Exercise of the week",
                     text(jo.get("/library/")), re.S)

    home = text(alex.get("/"))
    assert "Exercise of the week" in home
    assert "Kneeling hip flexor stretch" in home
    assert "Opens up the front of the hip" in home
    drawing_url = static_url(app, f"img/exercises/{HIP}.svg")
    assert f'src="{drawing_url}"' in home
    with alex.get(drawing_url) as drawing:
        assert drawing.status_code == 200
        assert drawing.mimetype == "image/svg+xml"

    form_post(jo, f"/library/{hip}", {}, action=f"/library/{hip}/unfeature")
    with app.app_context():
        assert db.session.scalar(sa.select(Practice.featured_exercise_id)) is None
    assert "Exercise of the week" not in text(alex.get("/"))


def test_a_featured_uploaded_picture_shows_on_the_home_page(app, jo, alex):
    exercise_id = create_with_picture(jo, image_bytes("PNG"))
    page = f"/library/{exercise_id}"
    form_post(jo, page, {}, action=f"{page}/publish")
    form_post(jo, page, {}, action=f"{page}/feature")
    with app.app_context():
        picture_id = db.session.get(Exercise, exercise_id).picture_id
    home = text(alex.get("/"))
    assert f'src="/library/pictures/{picture_id}"' in home
    with alex.get(f"/library/pictures/{picture_id}") as response:
        assert response.status_code == 200


def test_drafts_cannot_be_featured_and_unpublishing_stops_featuring(app, jo, alex, seeded):
    assert post_exercise(jo, exercise_form()).status_code == 302
    draft = exercise_by_name(app, "Seated twist").id
    form_post(jo, f"/library/{draft}", {}, action=f"/library/{draft}/feature")
    assert "Publish the exercise before featuring it." in text(jo.get(f"/library/{draft}"))
    with app.app_context():
        assert db.session.scalar(sa.select(Practice.featured_exercise_id)) is None

    hip = seeded[HIP]
    form_post(jo, f"/library/{hip}", {}, action=f"/library/{hip}/feature")
    assert "Kneeling hip flexor stretch" in text(alex.get("/"))
    form_post(jo, f"/library/{hip}", {}, action=f"/library/{hip}/unpublish")
    assert "It is no longer the exercise of the week." in text(jo.get(f"/library/{hip}"))
    assert "Exercise of the week" not in text(alex.get("/"))


def test_the_good_moments_are_chosen_on_the_form_and_shown_on_the_exercise(app, jo, uploads):
    response = post_exercise(jo, exercise_form(moments=["before_bed", "work_break"]))
    assert response.status_code == 302
    exercise = exercise_by_name(app, "Seated twist")
    assert exercise.moments == ["work_break", "before_bed"]
    assert "Work break, before bed." in text(jo.get(f"/library/{exercise.id}"))
    form = jo.get(f"/library/{exercise.id}/edit").get_data(as_text=True)
    checked = re.findall(r'name="moments" value="(\w+)" id="[\w-]+" checked', form)
    assert checked == ["work_break", "before_bed"]
