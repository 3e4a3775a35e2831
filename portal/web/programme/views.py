"""The client's home programme: Today, an exercise with its guided timer, logging how it
felt (or in one tap: "Done, felt fine"), and the history of logs.

"Today" is the practice's local date, not the server's or the browser's: a log at 00:30 in
London belongs to the London day.
"""

from __future__ import annotations

import uuid
from datetime import date

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from portal.extensions import db
from portal.models import (
    CompletionLog,
    Moment,
    ProgrammeItem,
    ProgrammeVersion,
    Role,
    Sides,
    User,
)
from portal.models.programmes import ANY_TIME_LABEL
from portal.services import adherence, client_day, dose, library
from portal.services.client_day import FeedbackInput
from portal.services.errors import InvalidInput, NotFound
from portal.web import transactions
from portal.web.access import restrict
from portal.web.deps import client_ip, now
from portal.web.errors import render_error
from portal.web.pictures import picture_of
from portal.web.programme.forms import LogForm, QuickLogForm
from portal.web.today import item_anchor, local_today, log_key, week_start

bp = Blueprint("programme", __name__, url_prefix="/programme")
restrict(bp, Role.CLIENT)
# For the one-tap forms (templates/programme/_quick_log.html), which the home page shows too.
bp.add_app_template_global(log_key)
bp.add_app_template_global(item_anchor)

# The guided timer's fixed phases, in seconds.
GET_READY_SECONDS = 5
SWITCH_SECONDS = 5
REST_SECONDS = 15
HISTORY_LIMIT = 100
# Where the last programme version the client has seen is remembered (per browser session).
SEEN_KEY = "programme_seen_version"


# --- helpers --------------------------------------------------------------------------------


def _client() -> User:
    return current_user._get_current_object()


def _timer_data(item: ProgrammeItem) -> dict[str, str]:
    """The data-* attributes the guided timer (static/js/timer.js) reads."""
    return {
        "data-timer": "",
        "data-name": item.exercise.name,
        "data-dose": dose.describe_dose(item),
        "data-hold": str(item.hold_seconds),
        "data-reps": str(item.reps),
        "data-sets": str(item.sets),
        "data-sides": Sides(item.sides).value,
        "data-get-ready": str(GET_READY_SECONDS),
        "data-switch": str(SWITCH_SECONDS),
        "data-rest": str(REST_SECONDS),
    }


def _moment_arg(raw: str | None) -> str:
    """A moment value from the query string, or "" when it is missing or not a moment."""
    try:
        return Moment(raw).value if raw else ""
    except ValueError:
        return ""


def _item_page(item: ProgrammeItem, form: LogForm, status: int = 200, *,
               one_tap: CompletionLog | None = None):
    """The exercise page: picture, steps, cues, cautions, note, dose, ladder, timer, log.
    With `one_tap` (a "Done, felt fine" log of this exercise) the log form tells that log
    how it felt rather than making another."""
    day = client_day.today(db.session, _client(), local_today())
    entries = [e for g in day.groups for e in g.entries if e.item.id == item.id]
    done_today = entries[0].done_today if entries else 0
    return render_template(
        "programme/item.html", item=item, exercise=item.exercise, form=form, one_tap=one_tap,
        dose=dose.describe_dose(item), schedule=dose.describe_schedule(item),
        moments=dose.describe_moments(item.moments or []),
        ladder=library.ladder_step(item.exercise, item.level),
        picture=picture_of(item.exercise), done_today=done_today,
        timer=_timer_data(item), each_side=Sides(item.sides) is Sides.EACH_SIDE,
    ), status


def _hidden_error(form: LogForm, error: InvalidInput) -> None:
    """Show a service error on the form: next to a visible field, else above the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None and field.type != "HiddenField":
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def _hidden_field_errors(form: LogForm) -> None:
    # Hidden fields have no place on the page to show an error: lift theirs above the form.
    for field in (form.client_key, form.moment, form.local_date):
        for message in field.errors:
            if message not in form.form_errors:
                form.form_errors.append(message)


# --- pages ----------------------------------------------------------------------------------


@bp.route("/")
def index():
    """Today: the items grouped by moment, progress for the day, this week's adherence."""
    client = _client()
    today = local_today()
    day = client_day.today(db.session, client, today)
    version: ProgrammeVersion | None = day.version
    if version is None:
        return render_template("programme/index.html", day=day, version=None)
    week = adherence.client_week(db.session, client, week_start(today), today=today)
    # "What changed" opens by itself the first time a client sees a new version.
    seen = session.get(SEEN_KEY)
    is_new = not isinstance(seen, int) or seen < version.number
    if seen != version.number:
        session[SEEN_KEY] = version.number
    return render_template("programme/index.html", day=day, version=version, week=week,
                           changes=version.changes or [], is_new=is_new,
                           any_time=ANY_TIME_LABEL)


@bp.route("/items/<int:item_id>")
def item(item_id: int):
    """One exercise of the programme, with the guided timer and the log forms. `log` (the
    key of a "Done, felt fine" log of this exercise) makes the form tell that log how it
    felt."""
    client = _client()
    try:
        found = client_day.get_item(db.session, client, item_id)
    except NotFound as error:
        return render_error(404, error.message or None)
    one_tap = None
    key = request.args.get("log", "")
    if key:
        one_tap = client_day.one_tap_log(db.session, client, found, key)
    form = LogForm.for_item(found.sides, formdata=None,
                            client_key=one_tap.client_key if one_tap else uuid.uuid4().hex,
                            moment=_moment_arg(request.args.get("moment")))
    return _item_page(found, form, one_tap=one_tap)


@bp.route("/items/<int:item_id>/log", methods=["POST"])
def log(item_id: int):
    """Record that the item was done and how it felt (or tell a one-tap log how it felt);
    pain shows the easier version."""
    client = _client()
    try:
        found = client_day.get_item(db.session, client, item_id)
    except NotFound as error:
        return render_error(404, error.message or None)
    form = LogForm.for_item(found.sides)
    one_tap = (client_day.one_tap_log(db.session, client, found, form.client_key.data)
               if form.client_key.data else None)
    if not form.validate_on_submit():
        _hidden_field_errors(form)
        return _item_page(found, form, 400, one_tap=one_tap)
    try:
        local_date = (date.fromisoformat(form.local_date.data) if form.local_date.data
                      else local_today())
    except ValueError:
        form.form_errors.append("That date isn't valid.")
        return _item_page(found, form, 400, one_tap=one_tap)
    if Sides(found.sides) is Sides.EACH_SIDE:
        feedback = FeedbackInput(left=form.feedback_left.data, right=form.feedback_right.data)
    else:
        feedback = FeedbackInput(both=form.feedback.data)
    try:
        result = client_day.log_completion(
            db.session, client, found.id, feedback, form.note.data or "",
            form.client_key.data, local_date, now(), moment=form.moment.data or None,
            ip=client_ip())
    except InvalidInput as error:
        transactions.mark_failed()
        _hidden_error(form, error)
        return _item_page(found, form, 400, one_tap=one_tap)
    except NotFound as error:
        return render_error(404, error.message or None)
    name = result.log.exercise.name
    if result.pain:
        return render_template("programme/pain.html", result=result, name=name, item=found)
    if result.told:
        flash(f"Thanks: we've noted how {name} felt.", "success")
    elif result.created:
        flash(f"Logged: {name}. Well done!", "success")
    else:
        flash(f"{name} was already logged: we kept it once.", "info")
    return redirect(url_for("programme.index"))


@bp.route("/items/<int:item_id>/done", methods=["POST"])
def done(item_id: int):
    """ "Done, felt fine": log the item in one tap, then go back where the tap was made, to
    the item showing done with "Tell us how it felt"."""
    client = _client()
    try:
        found = client_day.get_item(db.session, client, item_id)
    except NotFound as error:
        return render_error(404, error.message or None)
    form = QuickLogForm()
    if not form.validate_on_submit():
        return render_error(400, form.first_error())
    try:
        local_date = (date.fromisoformat(form.local_date.data) if form.local_date.data
                      else local_today())
    except ValueError:
        return render_error(400, "That date isn't valid.")
    try:
        result = client_day.log_fine(db.session, client, found.id, form.client_key.data,
                                     local_date, now(), moment=form.moment.data or None,
                                     ip=client_ip())
    except InvalidInput as error:
        return render_error(400, error.message)
    except NotFound as error:
        return render_error(404, error.message or None)
    log = result.log
    name = log.exercise.name
    if result.created:
        flash(f"Logged: {name}, felt fine. Well done!", "success")
    else:
        flash(f"{name} was already logged: we kept it once.", "info")
    return redirect(_back_after_tap(form.back.data or "today", found, log))


def _back_after_tap(back: str, item: ProgrammeItem, log: CompletionLog) -> str:
    """Where a one-tap log goes back to: the place it was made, at the item (the page's
    messages join that part of the page; see enhance.js)."""
    moment = log.moment.value if log.moment else None
    if back == "home":
        return url_for("home.index", _anchor=item_anchor("home", item.id))
    if back in ("item", "timer"):
        # The exercise page that tells this log how it felt (log=...).
        return url_for("programme.item", item_id=item.id, moment=moment, log=log.client_key,
                       _anchor="timer" if back == "timer" else "log")
    return url_for("programme.index", _anchor=item_anchor("today", item.id, moment))


@bp.route("/history")
def history():
    """The client's logs, newest first, grouped by day."""
    logs = client_day.history(db.session, _client(), limit=HISTORY_LIMIT)
    days: list[tuple[date, list]] = []
    for entry in logs:
        if not days or days[-1][0] != entry.local_date:
            days.append((entry.local_date, []))
        days[-1][1].append(entry)
    return render_template("programme/history.html", days=days, limit=HISTORY_LIMIT,
                           count=len(logs), today=local_today())
