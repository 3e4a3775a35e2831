"""The exercise library: search, write, preview, publish, feature and delete exercises, and
serve uploaded pictures to signed-in users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from portal.extensions import db
from portal.models import Exercise, Picture, Practice, Role, User
from portal.models.library import BODY_AREA_LABELS
from portal.services import accounts, library, pictures
from portal.services.dose import describe_dose
from portal.services.errors import Conflict, InvalidInput
from portal.services.library import ExerciseInput, LevelInput
from portal.web import transactions
from portal.web.access import restrict, roles
from portal.web.deps import now
from portal.web.forms import apply_error
from portal.web.library.forms import SEARCH_MAX, ExerciseForm, LevelForm, SearchForm
from portal.web.pictures import DRAWING_SIZE

bp = Blueprint("library", __name__, url_prefix="/library")
restrict(bp, Role.THERAPIST)

LIST_LIMIT = 200
# Uploaded pictures never change under an id (a new upload is a new row), so the browser
# may keep them a week; "private" keeps them out of shared caches.
PICTURE_CACHE = "private, max-age=604800"
LEVEL_FIELD = re.compile(r"^levels-(\d+)-(name|instruction|criterion)$")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _me() -> User:
    """The signed-in therapist (the real object, not the proxy)."""
    return current_user._get_current_object()


def _practice() -> Practice:
    """The practice row."""
    return accounts.get_practice(db.session)


def _upload_dir() -> Path:
    """Where uploaded pictures are kept (outside static/)."""
    return Path(current_app.config["UPLOAD_DIR"])


# --- template helpers (app-wide: the client's home page shows pictures too) ------------------


@dataclass(frozen=True)
class PictureRef:
    """What an <img> needs to show an exercise's picture."""

    url: str
    width: int
    height: int
    alt: str


@bp.app_template_global()
def exercise_picture(exercise: Exercise) -> PictureRef | None:
    """The exercise's drawing (static) or uploaded picture (signed-in users only), or None."""
    alt = f"Illustration: {exercise.name}"
    if exercise.picture_id is not None and exercise.picture is not None:
        return PictureRef(url_for("library.picture", picture_id=exercise.picture_id),
                          exercise.picture.width, exercise.picture.height, alt)
    if exercise.picture_path:
        return PictureRef(url_for("static", filename=exercise.picture_path), *DRAWING_SIZE, alt)
    return None


def moment_names(exercise: Exercise) -> list[str]:
    """The labels of the moments an exercise suits, in the order of the day."""
    return [moment.label for moment in library.good_moments(exercise)]


@bp.context_processor
def library_helpers():
    """Labels and plain-words doses for the library templates."""
    def area_names(exercise: Exercise) -> str:
        return ", ".join(BODY_AREA_LABELS.get(a, a) for a in exercise.body_areas or [])

    return {"area_labels": BODY_AREA_LABELS, "area_names": area_names,
            "describe_dose": describe_dose, "moment_names": moment_names}


# --- the list ---------------------------------------------------------------------------


@bp.route("/")
def index():
    """Every exercise, drafts included, filtered by words and body area."""
    form = SearchForm(formdata=request.args)
    # Control characters can't be stored or searched (PostgreSQL refuses NUL); drop them.
    words = CONTROL_CHARS.sub("", form.q.data or "").strip()[:SEARCH_MAX]
    area = form.body_area.data or None
    try:
        exercises = library.search_exercises(db.session, words, area, published_only=False,
                                             limit=LIST_LIMIT)
    except InvalidInput as error:
        apply_error(form, error)
        area = None
        exercises = library.search_exercises(db.session, words, None, published_only=False,
                                             limit=LIST_LIMIT)
    return render_template("library/index.html", form=form, exercises=exercises,
                           searching=bool(words or area), limited=len(exercises) >= LIST_LIMIT,
                           featured_id=_practice().featured_exercise_id)


# --- writing ----------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Write a new exercise (saved as a draft)."""
    return _form_page(None)


@bp.route("/<int:exercise_id>/edit", methods=["GET", "POST"])
def edit(exercise_id: int):
    """Change an exercise; programmes that use it show the new text at once."""
    return _form_page(library.get_exercise(db.session, exercise_id))


def _form_page(exercise: Exercise | None):
    """The create/edit form; one commit, and an uploaded file is removed again if the save
    fails."""
    form = ExerciseForm()
    if exercise is not None and not form.is_submitted():
        _fill(form, exercise)
    valid = form.validate_on_submit()
    encoded = _check_picture(form) if form.is_submitted() else None
    if valid and not form.picture.errors:
        stored = None
        try:
            current = now()
            picture_id = None
            if encoded is not None:
                stored = pictures.save(encoded, _upload_dir())
                picture_id = library.record_picture(
                    db.session, _me(), stored_name=stored.stored_name,
                    content_type=stored.content_type, width=stored.width, height=stored.height,
                    byte_size=stored.byte_size, sha256=stored.sha256, now=current).id
            saved = _save(form, exercise, picture_id, current)
        except InvalidInput as error:
            transactions.mark_failed()
            _discard(stored)
            _apply_error(form, error)
        except Exception:
            _discard(stored)
            raise
        else:
            # The file stays only if the row that names it is committed.
            transactions.on_failure(lambda: _discard(stored))
            if exercise is None:
                flash(f"{saved.name} saved as a draft. Check the preview, then publish it when "
                      "it's ready.", "success")
            else:
                flash(f"{saved.name} saved.", "success")
            return redirect(url_for("library.show", exercise_id=saved.id))
    chose_file = form.is_submitted() and _upload(form) is not None
    return render_template("library/form.html", form=form, exercise=exercise,
                           errors=_error_links(form), chose_file=chose_file,
                           open_levels=_open_levels(form))


def _fill(form: ExerciseForm, exercise: Exercise) -> None:
    """Put a saved exercise into the form (lists become one line each)."""
    form.name.data = exercise.name
    form.summary.data = exercise.summary
    form.why_it_helps.data = exercise.why_it_helps
    form.body_areas.data = list(exercise.body_areas or [])
    form.steps.data = "\n".join(exercise.steps or [])
    form.cues.data = "\n".join(exercise.cues or [])
    form.cautions.data = "\n".join(exercise.cautions or [])
    form.hold_seconds.data = exercise.hold_seconds
    form.reps.data = exercise.reps
    form.sets.data = exercise.sets
    form.sides.data = str(exercise.sides.value)
    form.regression.data = exercise.regression
    form.moments.data = list(exercise.moments or [])
    for entry, level in zip(form.levels.entries, exercise.levels, strict=False):
        entry.form.name.data = level.name
        entry.form.instruction.data = level.instruction
        entry.form.criterion.data = level.criterion
    while len(form.levels.entries) < len(exercise.levels):
        level = exercise.levels[len(form.levels.entries)]
        form.levels.append_entry({"name": level.name, "instruction": level.instruction,
                                  "criterion": level.criterion})


def _upload(form: ExerciseForm):
    """The uploaded file, or None when no file was chosen."""
    upload = form.picture.data
    if upload is None or isinstance(upload, str) or not getattr(upload, "filename", ""):
        return None
    return upload


def _check_picture(form: ExerciseForm) -> pictures.Encoded | None:
    """Read, check and re-encode the uploaded picture in memory (nothing is written yet); a
    refusal becomes the picture field's error."""
    upload = _upload(form)
    if upload is None:
        return None
    # Read one byte past the cap, so an oversized file is refused without reading it all.
    data = upload.stream.read(pictures.MAX_BYTES + 1)
    try:
        return pictures.encode(data)
    except InvalidInput as error:
        form.picture.errors = [error.message]
        return None


def _discard(stored: pictures.Stored | None) -> None:
    """Remove a file written for a save that did not happen."""
    if stored is not None:
        pictures.discard(_upload_dir(), stored.stored_name)


def _ladder(form: ExerciseForm) -> tuple[list[LevelInput], list[int]]:
    """The rungs the therapist filled in, and for each one its slot on the form (blank slots
    are skipped, so service errors about rung n point at the right fieldset)."""
    levels, slots = [], []
    for slot, entry in enumerate(form.levels.entries):
        sub: LevelForm = entry.form
        if sub.is_blank():
            continue
        levels.append(LevelInput(name=sub.name.data or "", instruction=sub.instruction.data or "",
                                 criterion=sub.criterion.data or ""))
        slots.append(slot)
    return levels, slots


def _save(form: ExerciseForm, exercise: Exercise | None, picture_id: int | None,
          current) -> Exercise:
    """Create or update through the library service; the ladder is replaced only when it
    changed (so an unchanged save writes no audit row for it)."""
    me = _me()
    if picture_id is not None:
        picture_path, keep_id = None, picture_id
    elif exercise is not None and not form.remove_picture.data:
        picture_path, keep_id = exercise.picture_path, exercise.picture_id
    else:
        picture_path, keep_id = None, None
    data = ExerciseInput(
        name=form.name.data or "", summary=form.summary.data or "",
        body_areas=list(form.body_areas.data or []),
        steps=(form.steps.data or "").splitlines(), cues=(form.cues.data or "").splitlines(),
        cautions=(form.cautions.data or "").splitlines(),
        hold_seconds=form.hold_seconds.data, reps=form.reps.data, sets=form.sets.data,
        sides=form.sides.data, why_it_helps=form.why_it_helps.data or "",
        regression=form.regression.data or "", picture_path=picture_path, picture_id=keep_id,
        moments=list(form.moments.data or []),
    )
    levels, _ = _ladder(form)
    if exercise is None:
        return library.create_exercise(db.session, me, data, current, levels=levels)
    saved = library.update_exercise(db.session, me, exercise.id, data, current)
    before = [(lv.name, lv.instruction, lv.criterion) for lv in saved.levels]
    after = [(lv.name.strip(), lv.instruction.strip(), lv.criterion.strip()) for lv in levels]
    if before != after:
        library.replace_levels(db.session, me, exercise.id, levels, current)
    return saved


def _apply_error(form: ExerciseForm, error: InvalidInput) -> None:
    """Show a service error next to its field, including the fields of a ladder rung."""
    match = LEVEL_FIELD.match(error.field or "")
    if match:
        _, slots = _ladder(form)
        index = int(match.group(1))
        if index < len(slots):
            field = form.levels.entries[slots[index]].form[match.group(2)]
            field.errors = [*field.errors, error.message]
            return
    if error.field == "levels":
        form.form_errors.append(error.message)
        return
    apply_error(form, error)


def _error_links(form: ExerciseForm) -> list[tuple[str, str]]:
    """(field id, first message) for the error summary, ladder fields included."""
    links = []
    for field in form:
        if field.name == "levels":
            for entry in field.entries:
                links.extend((sub.id, sub.errors[0]) for sub in entry.form if sub.errors)
        elif field.errors and field.type not in ("CSRFTokenField", "HiddenField"):
            links.append((field.id, field.errors[0]))
    return links


def _open_levels(form: ExerciseForm) -> int:
    """How many ladder fieldsets to show open: the filled ones and one more (at least one);
    the rest wait behind "Add more levels" (a <details>, so no JavaScript is needed)."""
    last = 0
    for slot, entry in enumerate(form.levels.entries):
        if not entry.form.is_blank() or any(sub.errors for sub in entry.form):
            last = slot + 1
    return min(max(last + 1, 1), len(form.levels.entries))


# --- preview and actions ------------------------------------------------------------------


@bp.route("/<int:exercise_id>")
def show(exercise_id: int):
    """The exercise as a client sees it, with the therapist's actions."""
    exercise = library.get_exercise(db.session, exercise_id)
    return render_template("library/show.html", exercise=exercise,
                           usage=library.exercise_usage(db.session, exercise.id),
                           featured=_practice().featured_exercise_id == exercise.id)


@bp.route("/<int:exercise_id>/publish", methods=["POST"])
def publish(exercise_id: int):
    """Make the exercise visible in the library and assignable."""
    exercise = library.publish(db.session, _me(), exercise_id, now())
    flash(f"{exercise.name} is published: you can add it to programmes and feature it.",
          "success")
    return redirect(url_for("library.show", exercise_id=exercise_id))


@bp.route("/<int:exercise_id>/unpublish", methods=["POST"])
def unpublish(exercise_id: int):
    """Turn the exercise back into a draft (programmes that use it keep it)."""
    was_featured = _practice().featured_exercise_id == exercise_id
    exercise = library.unpublish(db.session, _me(), exercise_id, now())
    extra = " It is no longer the exercise of the week." if was_featured else ""
    flash(f"{exercise.name} is a draft again: it can't be added to programmes. Programmes "
          f"that already use it keep it.{extra}", "success")
    return redirect(url_for("library.show", exercise_id=exercise_id))


@bp.route("/<int:exercise_id>/feature", methods=["POST"])
def feature(exercise_id: int):
    """Show the exercise on every client's home page as the exercise of the week."""
    try:
        exercise = library.feature_exercise(db.session, _me(), exercise_id, now())
    except InvalidInput as error:
        transactions.mark_failed()
        flash(error.message, "error")
    else:
        flash(f"{exercise.name} is now the exercise of the week on every client's home page.",
              "success")
    return redirect(url_for("library.show", exercise_id=exercise_id))


@bp.route("/<int:exercise_id>/unfeature", methods=["POST"])
def unfeature(exercise_id: int):
    """Stop featuring the exercise (a no-op when another one is featured)."""
    exercise = library.get_exercise(db.session, exercise_id)
    if _practice().featured_exercise_id == exercise.id:
        library.feature_exercise(db.session, _me(), None, now())
        flash(f"{exercise.name} is no longer the exercise of the week.", "success")
    return redirect(url_for("library.show", exercise_id=exercise_id))


@bp.route("/<int:exercise_id>/delete", methods=["GET", "POST"])
def delete(exercise_id: int):
    """Ask, then delete an exercise nobody uses; one in a programme is refused."""
    exercise = library.get_exercise(db.session, exercise_id)
    if request.method == "POST":
        name = exercise.name
        try:
            library.delete_exercise(db.session, _me(), exercise_id, now())
        except Conflict as error:
            transactions.mark_failed()
            flash(error.message, "error")
            return redirect(url_for("library.show", exercise_id=exercise_id))
        flash(f"{name} deleted.", "success")
        return redirect(url_for("library.index"))
    return render_template("library/delete.html", exercise=exercise,
                           usage=library.exercise_usage(db.session, exercise.id))


# --- pictures -------------------------------------------------------------------------------


@bp.route("/pictures/<int:picture_id>")
@roles(Role.CLIENT, Role.THERAPIST)
def picture(picture_id: int):
    """An uploaded picture, for any signed-in user (clients see them on exercise pages).

    Served from the upload directory by its recorded name and type, never by anything the
    request says; the app-wide nosniff header stops a browser guessing another type.
    """
    row = db.session.get(Picture, picture_id)
    path = pictures.path_of(_upload_dir(), row.stored_name) if row else None
    if path is None or not path.is_file():
        abort(404)
    response = send_file(path, mimetype=row.content_type, conditional=True, etag=row.sha256,
                         max_age=None)
    response.headers["Cache-Control"] = PICTURE_CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
