"""The therapist's Programmes: every client's programme at a glance, a client's programme
as one editable form, its version history with the client's logs, and templates.

The programme form is one big form that works without JavaScript: adding, removing and moving an
exercise are submit buttons (name "action") that post the whole draft back, and the page is
rendered again from what was posted, so nothing is kept in the server session and nothing is
written until "Save". static/js/programmes.js does the same moves in the page without a round
trip and leaves saving to the same form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.models import MOMENTS, CompletionLog, Exercise, Role, Sides, User
from portal.models.library import BODY_AREA_LABELS
from portal.services import adherence, client_day, clients, dose, library, programmes
from portal.services.errors import Conflict, InvalidInput
from portal.services.programmes import ItemInput
from portal.web import transactions
from portal.web.access import restrict
from portal.web.deps import client_ip, now, practice_zone
from portal.web.forms import apply_error, choice, int_or_none
from portal.web.programmes.forms import MAX_ITEMS, SEARCH_MAX, ItemForm, ProgrammeForm, TemplateForm

bp = Blueprint("programmes", __name__, url_prefix="/programmes")
restrict(bp, Role.THERAPIST)

LIBRARY_LIMIT = 100
HISTORY_LIMIT = 60
ROW_FIELDS = ("exercise_id", "hold_seconds", "reps", "sets", "sides", "times_per_day",
              "days_per_week", "level", "personal_note")
ITEM_FIELD = re.compile(r"^items-(\d{1,6})-(\w+)$")
ACTION = re.compile(r"^(add|remove|up|down):(\d{1,9})$")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
NO_LADDER = "No other levels"
# The fields the plain words of a row are made from, in describe_draft's order.
WORDS_FIELDS = ("hold_seconds", "reps", "sets", "sides", "times_per_day", "days_per_week")
UNSAVED = "Not saved yet: press \u201cSave new version\u201d to keep these changes."


def _me() -> User:
    """The signed-in therapist (the real object, not the proxy)."""
    return current_user._get_current_object()


def _client_or_404(client_id: int) -> User:
    """A client by id; 404 for anyone else (a therapist's id, an unknown number)."""
    client = db.session.get(User, client_id)
    if client is None or not client.is_client:
        abort(404)
    return client


def _today() -> date:
    """Today in the practice's zone."""
    return now().astimezone(practice_zone()).date()


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _search_words(raw: str | None) -> str:
    """Search text without control characters, trimmed and capped."""
    return CONTROL_CHARS.sub("", raw or "").strip()[:SEARCH_MAX]


@bp.context_processor
def programmes_helpers():
    """Plain words for doses and schedules in the programmes templates."""
    return {"describe_dose": dose.describe_dose,
            "describe_schedule": dose.describe_schedule,
            "describe_moments": dose.describe_moments,
            "starting_item": ItemInput.from_exercise,
            "draft_words": _draft_words,
            "area_labels": BODY_AREA_LABELS,
            "moment_choices": [(m.value, m.label) for m in MOMENTS]}


# --- the programmes list------------------------------------------------------------------------


@bp.route("/")
def index():
    """Every client with their programme's version, this week's adherence and pain reports."""
    rows = clients.programme_overview(db.session, practice_zone(), _today())
    return render_template("programmes/index.html", rows=rows)


# --- the draft: rows of raw strings, exactly as posted ----------------------------------------


def _rows_from_form(formdata) -> list[dict]:
    """The posted items in index order, every value kept as typed (so a mistake is shown
    back as it was, not as a blank)."""
    indices = sorted({int(m.group(1)) for key in formdata if (m := ITEM_FIELD.match(key))})
    rows = []
    for index in indices:
        prefix = f"items-{index}-"
        row = {name: formdata.get(prefix + name, "") for name in ROW_FIELDS}
        row["moments"] = formdata.getlist(prefix + "moments")
        rows.append(row)
    return rows


def _row_from(source: ItemInput) -> dict:
    """A draft row from a saved item or the library's default dose."""
    row = {name: str(getattr(source, name)) for name in ROW_FIELDS}
    row["sides"] = Sides(source.sides).value
    row["personal_note"] = source.personal_note or ""
    row["moments"] = [str(m) for m in source.moments]
    return row


def _formdata(rows: list[dict], *, base_version, note: str, q: str) -> MultiDict:
    """The programme form's data for these rows, numbered from 0 in their order."""
    data = MultiDict({"base_version": str(base_version), "note": note, "q": q})
    for index, row in enumerate(rows):
        for name in ROW_FIELDS:
            data[f"items-{index}-{name}"] = row[name]
        for moment in row["moments"]:
            data.add(f"items-{index}-moments", moment)
    return data


def _load_exercises(ids) -> dict[int, Exercise]:
    """Exercises with their ladders and pictures (two queries, none for an empty list)."""
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    return {e.id: e for e in db.session.scalars(
        select(Exercise).where(Exercise.id.in_(ids))
        .options(selectinload(Exercise.levels), selectinload(Exercise.picture)))}


def _apply_action(action: str, rows: list[dict], form_errors: list[str]) -> tuple[list, str]:
    """Add, remove or move a row as the pressed button asks; returns the rows and the
    fragment to show (the row that moved, or the library after a search)."""
    match = ACTION.match(action or "")
    if not match:
        return rows, "library" if action == "search" else ""
    verb, number = match.group(1), int(match.group(2))
    if verb == "add":
        found = db.session.scalar(select(Exercise).where(Exercise.id == number,
                                                         Exercise.published))
        if found is None:
            form_errors.append("That exercise isn't in the library any more.")
            return rows, "library"
        if any(int_or_none(r["exercise_id"]) == number for r in rows):
            form_errors.append(f"\u201c{found.name}\u201d is already in the programme.")
            return rows, "library"
        if len(rows) >= MAX_ITEMS:
            form_errors.append(f"A programme can have at most {MAX_ITEMS} exercises.")
            return rows, "library"
        return [*rows, _row_from(ItemInput.from_exercise(found))], f"item-{len(rows)}"
    if number >= len(rows):
        return rows, ""
    rows = list(rows)
    if verb == "remove":
        rows.pop(number)
        return rows, f"item-{min(number, len(rows) - 1)}" if rows else "programme"
    target = number - 1 if verb == "up" else number + 1
    if 0 <= target < len(rows):
        rows[number], rows[target] = rows[target], rows[number]
        return rows, f"item-{target}"
    return rows, f"item-{number}"


# --- rendering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowView:
    """What the template needs to draw one item of the draft."""

    index: int
    form: ItemForm
    exercise: Exercise
    summary: str
    schedule: str


def _summaries(form: ItemForm) -> tuple[str, str]:
    """The dose and how often in plain words, when the typed values make sense."""
    return dose.describe_draft(*(form[name].data if name == "sides"
                                 else int_or_none(form[name].data) for name in WORDS_FIELDS))


def _draft_words(item) -> str:
    """A row's plain words as the page shows them: "30 s each side · Once a day, every day"."""
    summary, schedule = dose.describe_draft(*(getattr(item, name) for name in WORDS_FIELDS))
    return " \u00b7 ".join(words for words in (summary, schedule) if words)


@bp.route("/words")
def words():
    """The plain words for a row as typed, so programmes.js shows the server's wording live."""
    typed = {name: request.args.get(name, "") for name in WORDS_FIELDS}
    values = {name: raw if name == "sides" else int_or_none(raw) for name, raw in typed.items()}
    return jsonify(words=_draft_words(SimpleNamespace(**values)))


def _level_choices(exercise: Exercise | None) -> list:
    levels = list(exercise.levels) if exercise is not None else []
    if not levels:
        return [choice(1, NO_LADDER)]
    return [choice(level.position, f"{level.position}. {level.name}") for level in levels]


def _row_views(form: ProgrammeForm, exercises: dict[int, Exercise]) -> list[RowView]:
    views = []
    for index, entry in enumerate(form.items.entries):
        sub: ItemForm = entry.form
        exercise = exercises[int_or_none(sub.exercise_id.data)]
        sub.level.choices = _level_choices(exercise)
        summary, schedule = _summaries(sub)
        views.append(RowView(index=index, form=sub, exercise=exercise, summary=summary,
                             schedule=schedule))
    return views


def _row_template() -> ItemForm:
    """A blank row for programmes.js to copy when an exercise is added in the page; `__i__`
    stands for its position."""
    blank = ItemForm(prefix="items-__i__-")
    blank.level.choices = []
    return blank


def _programme_page(client: User, form: ProgrammeForm, exercises: dict[int, Exercise], *,
                  status: int = 200, draft: bool = False, conflict=None,
                  template_form: TemplateForm | None = None, fragment: str = "",
                  picked: Picked | None = None):
    """Render the programme form for a client from a filled form (saved or draft)."""
    today = _today()
    version = programmes.current_version(db.session, client, with_ladders=False)
    words = _search_words(form.q.data)
    form.q.data = words  # shown back as searched: trimmed, capped, no control characters
    results = library.search_exercises(db.session, words, published_only=True,
                                       limit=LIBRARY_LIMIT)
    ladders = programmes.ladders(db.session, [e.id for e in results])
    week = adherence.client_week(db.session, client, _week_start(today), today=today)
    pain = client_day.pain_flags(db.session, client)
    rows = _row_views(form, exercises)
    in_draft = {row.exercise.id for row in rows}
    return render_template(
        "programmes/edit.html", client=client, form=form, rows=rows, version=version,
        results=results, ladders=ladders, words=words, limited=len(results) >= LIBRARY_LIMIT,
        in_draft=in_draft, week=week, pain=pain, draft=draft, conflict=conflict,
        templates=programmes.list_templates(db.session),
        template_form=template_form or TemplateForm(prefix="template", formdata=None),
        blank=_row_template(), fragment=fragment, unsaved=UNSAVED, picked=picked,
        action_url=url_for("programmes.edit", client_id=client.id),
    ), status


@dataclass(frozen=True)
class Picked:
    """The exercise the therapist came to adjust (from a client's message about it, with
    ?exercise=): its row in the form, or None when it is not in the programme now."""

    exercise: Exercise
    index: int | None


def _picked(form: ProgrammeForm, exercise_id: int | None) -> Picked | None:
    """The picked exercise and its row; one no longer in the programme is searched for in
    the library instead (unless the address asks for another search), ready to add."""
    exercise = db.session.get(Exercise, exercise_id) if exercise_id is not None else None
    if exercise is None:
        return None
    index = next((n for n, entry in enumerate(form.items.entries)
                  if int_or_none(entry.form.exercise_id.data) == exercise.id), None)
    if index is None and not form.q.data:
        form.q.data = exercise.name
    return Picked(exercise=exercise, index=index)


def _saved_form(client: User, q: str = "") -> tuple[ProgrammeForm, dict[int, Exercise]]:
    """The programme form filled from the client's current version."""
    version = programmes.current_version(db.session, client)
    items = version.items if version else []
    rows = [_row_from(ItemInput.from_item(item)) for item in items]
    data = _formdata(rows, base_version=version.number if version else 0,
                     note=version.note if version else "", q=q)
    return ProgrammeForm(formdata=data), {item.exercise_id: item.exercise for item in items}


# --- the programme form---------------------------------------------------------------------------


@bp.route("/<int:client_id>", methods=["GET", "POST"])
def edit(client_id: int):
    """The client's programme as one form: edit, add, remove, move, then save a version."""
    client = _client_or_404(client_id)
    if request.method == "GET":
        form, exercises = _saved_form(client, q=request.args.get("q", ""))
        picked = _picked(form, int_or_none(request.args.get("exercise")))
        return _programme_page(client, form, exercises, fragment="", picked=picked)

    form_errors: list[str] = []
    rows = _rows_from_form(request.form)
    action = request.form.get("action", "search")
    rows, fragment = _apply_action(action, rows, form_errors)
    exercises = _load_exercises(int_or_none(r["exercise_id"]) for r in rows)
    kept = [r for r in rows if int_or_none(r["exercise_id"]) in exercises]
    if len(kept) != len(rows):
        form_errors.append("An exercise in your changes is no longer in the library, so it "
                           "was left out.")
    form = ProgrammeForm(formdata=_formdata(
        kept, base_version=request.form.get("base_version", ""),
        note=request.form.get("note", ""), q=request.form.get("q", "")))
    form.form_errors.extend(form_errors)
    if action != "save" or form_errors:
        return _programme_page(client, form, exercises, draft=True, fragment=fragment)
    return _save(client, form, exercises)


def _save(client: User, form: ProgrammeForm, exercises: dict[int, Exercise]):
    """Save the draft as a new version; one commit, or a rollback and the draft shown again
    with the reason next to the field it concerns."""
    if not form.validate():
        return _programme_page(client, form, exercises, status=422, draft=True)
    base = int_or_none(form.base_version.data) or 0
    items = [ItemInput(
        exercise_id=int_or_none(sub.exercise_id.data), hold_seconds=sub.hold_seconds.data,
        reps=sub.reps.data, sets=sub.sets.data, sides=sub.sides.data or "",
        times_per_day=sub.times_per_day.data, days_per_week=sub.days_per_week.data,
        moments=tuple(sub.moments.data or ()), level=sub.level.data,
        personal_note=sub.personal_note.data or "",
    ) for sub in (entry.form for entry in form.items.entries)]
    try:
        version = programmes.save_version(db.session, _me(), client, items,
                                          form.note.data or "", now(), base_version=base,
                                          ip=client_ip())
    except InvalidInput as error:
        transactions.mark_failed()
        _item_error(form, error)
        return _programme_page(client, form, exercises, status=422, draft=True)
    except Conflict:
        transactions.mark_failed()
        history = programmes.version_history(db.session, client)
        newer = [v for v in history if v.number > base]
        # The draft is kept; saving it again now replaces the newer version on purpose.
        form.base_version.data = str(history[0].number if history else 0)
        return _programme_page(client, form, exercises, status=409, draft=True,
                             conflict=newer or history[:1])
    if version.number == base:
        flash("Nothing had changed, so no new version was saved.", "info")
    else:
        changes = [c["text"] for c in version.changes or []]
        listed = "; ".join(changes[:3]) + ("; and more" if len(changes) > 3 else "")
        flash(f"Saved version {version.number} of {client.name}\u2019s programme"
              + (f": {listed}." if listed else "."), "success")
    return redirect(url_for("programmes.edit", client_id=client.id))


def _item_error(form: ProgrammeForm, error: InvalidInput) -> None:
    """Show a service error next to its item's field ("items-2-hold_seconds"), or above the
    form when it is about the whole programme."""
    match = ITEM_FIELD.match(error.field or "")
    if match:
        index, name = int(match.group(1)), match.group(2)
        if index < len(form.items.entries) and name in form.items.entries[index].form:
            field = form.items.entries[index].form[name]
            if field.type != "HiddenField":
                field.errors = [*field.errors, error.message]
                return
    if error.field == "items":
        form.form_errors.append(error.message)
        return
    apply_error(form, error)


def error_links(form: ProgrammeForm, rows: list[RowView]) -> list[tuple[str, str]]:
    """(field id, message) for the error summary; an item's errors name the exercise."""
    links = []
    for row in rows:
        for field in row.form:
            if field.errors:
                links.append((field.id, f"{row.exercise.name}: {field.errors[0]}"))
    for field in (form.note,):
        if field.errors:
            links.append((field.id, field.errors[0]))
    return links


bp.add_app_template_global(error_links, "programme_error_links")


# --- templates --------------------------------------------------------------------------------


@bp.route("/<int:client_id>/template", methods=["POST"])
def save_template(client_id: int):
    """Save the client's programme, as last saved, as a named template."""
    client = _client_or_404(client_id)
    template_form = TemplateForm(prefix="template")
    if template_form.validate():
        try:
            template = programmes.save_as_template(
                db.session, _me(), client, template_form.name.data, now(),
                description=template_form.description.data or "", ip=client_ip())
        except InvalidInput as error:
            apply_error(template_form, error)
        except Conflict as error:
            transactions.mark_failed()
            template_form.name.errors = [*template_form.name.errors, error.message]
        else:
            flash(f"Saved \u201c{template.name}\u201d as a template with "
                  f"{len(template.items)} exercise{'s' if len(template.items) != 1 else ''}.",
                  "success")
            return redirect(url_for("programmes.edit", client_id=client.id))
    form, exercises = _saved_form(client)
    return _programme_page(client, form, exercises, status=422, template_form=template_form,
                         fragment="templates")


@bp.route("/<int:client_id>/apply", methods=["POST"])
def apply_template(client_id: int):
    """Replace the client's items with a template's, as a new version to tailor."""
    client = _client_or_404(client_id)
    template_id = int_or_none(request.form.get("template_id"))
    if template_id is None:
        flash("Choose a template to apply.", "error")
        return redirect(url_for("programmes.edit", client_id=client.id) + "#templates")
    try:
        version = programmes.apply_template(
            db.session, _me(), client, template_id, now(),
            base_version=int_or_none(request.form.get("base_version")) or 0, ip=client_ip())
    except (Conflict, InvalidInput) as error:
        transactions.mark_failed()
        flash(error.message, "error")
        return redirect(url_for("programmes.edit", client_id=client.id) + "#templates")
    flash(f"Applied the template as version {version.number}. Tailor it for "
          f"{client.name} below, then save.", "success")
    return redirect(url_for("programmes.edit", client_id=client.id))


@bp.route("/templates")
def templates():
    """Every template with its exercises."""
    return render_template("programmes/templates.html",
                           templates=programmes.list_templates(db.session))


@bp.route("/templates/<int:template_id>/delete", methods=["POST"])
def delete_template(template_id: int):
    """Delete a template; programmes made from it keep their exercises."""
    template = programmes.get_template(db.session, template_id)
    name = template.name
    programmes.delete_template(db.session, _me(), template_id, now(), ip=client_ip())
    flash(f"Deleted the template \u201c{name}\u201d. Programmes made from it are unchanged.",
          "success")
    return redirect(url_for("programmes.templates"))


# --- history and feedback ---------------------------------------------------------------------


@bp.route("/<int:client_id>/versions")
def versions(client_id: int):
    """Every version with who saved it, its session and what changed; the client's recent
    logs and the pain reports still to look at."""
    client = _client_or_404(client_id)
    today = _today()
    return render_template(
        "programmes/versions.html", client=client,
        history=programmes.version_history(db.session, client),
        logs=client_day.history(db.session, client, limit=HISTORY_LIMIT),
        pain=client_day.pain_flags(db.session, client),
        week=adherence.client_week(db.session, client, _week_start(today), today=today),
        limit=HISTORY_LIMIT,
    )


@bp.route("/<int:client_id>/logs/<int:log_id>/acknowledge", methods=["POST"])
def acknowledge(client_id: int, log_id: int):
    """Mark a pain report as seen: it leaves the list of reports to look at."""
    client = _client_or_404(client_id)
    log = db.session.get(CompletionLog, log_id)
    if log is None or log.client_id != client.id:
        abort(404)
    client_day.acknowledge_pain(db.session, _me(), log_id, now(), ip=client_ip())
    flash(f"Pain report on {log.exercise.name} marked as seen.", "success")
    return redirect(url_for("programmes.versions", client_id=client.id) + "#pain")
