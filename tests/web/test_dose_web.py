"""Dose limits and dose wording each have one home: the forms' validators, the inputs' min
and max (which programmes.js reads), the programme form's live words and the starting values of an
added row all come from portal/models/dose.py and portal/services/dose.py.

Nothing here changes the table: the tests read its bounds and compare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.models import Exercise, User
from portal.seed.library import seed_library
from portal.services import dose, programmes
from portal.services.programmes import ItemInput
from portal.web.library.forms import ExerciseForm
from portal.web.programmes.forms import ItemForm
from tests.conftest import sign_in_directly

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
SCRIPT = Path(__file__).resolve().parents[2] / "static" / "js" / "programmes.js"


class Tags(HTMLParser):
    """Every start tag's attributes, in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(page: str, tag: str) -> list[dict[str, str | None]]:
    reader = Tags()
    reader.feed(page)
    return [attrs for name, attrs in reader.tags if name == tag]


@pytest.fixture
def jo(app, client, make_therapist, make_client):
    """Signed in as the therapist; Alex has a two-item programme. Returns (client, alex id)."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan")
    with app.app_context():
        me = db.session.get(User, therapist.id)
        exercises = seed_library(db.session, me, NOW - timedelta(days=8))
        programmes.save_version(db.session, me, db.session.get(User, alex.id), [
            ItemInput.from_exercise(exercises[0]), ItemInput.from_exercise(exercises[1]),
        ], "", NOW - timedelta(days=7))
        db.session.commit()
    sign_in_directly(client, therapist)
    return client, alex.id


def _bounds(inputs: list[dict], field: str) -> set[tuple[str | None, str | None]]:
    return {(i.get("min"), i.get("max")) for i in inputs
            if (i.get("name") or "").endswith(f"-{field}") or i.get("name") == field}


def test_the_programme_forms_inputs_carry_the_tables_bounds(jo):
    client, alex = jo
    page = client.get(f"/programmes/{alex}").get_data(as_text=True)
    inputs = tags(page, "input")
    for field, limit in dose.LIMITS.items():
        # Two saved rows and the blank row programmes.js copies: all the same bounds.
        named = [i for i in inputs if (i.get("name") or "").endswith(f"-{field}")]
        assert len(named) == 3, field
        assert _bounds(inputs, field) == {(str(limit.low), str(limit.high))}, field


def test_the_library_form_carries_the_tables_bounds(jo):
    client, _ = jo
    page = client.get("/library/new").get_data(as_text=True)
    inputs = tags(page, "input")
    for field, limit in dose.DOSE_LIMITS.items():
        assert _bounds(inputs, field) == {(str(limit.low), str(limit.high))}, field


def _item_form(**values) -> ItemForm:
    data = {"hold_seconds": "30", "reps": "0", "sets": "2", "sides": "each_side",
            "times_per_day": "1", "days_per_week": "7", **values}
    return ItemForm(formdata=MultiDict({f"items-0-{k}": v for k, v in data.items()}),
                    prefix="items-0-")


@pytest.mark.parametrize("field", list(dose.LIMITS))
def test_the_programme_form_form_refuses_just_outside_with_the_tables_message(app, field):
    limit = dose.LIMITS[field]
    with app.test_request_context():
        for inside in (limit.low, limit.high):
            form = _item_form(**{field: str(inside)})
            assert form[field].validate(form), (field, inside, form[field].errors)
        for outside in (limit.low - 1, limit.high + 1):
            form = _item_form(**{field: str(outside)})
            assert not form[field].validate(form)
            assert form[field].errors == [limit.message]


@pytest.mark.parametrize("field", list(dose.DOSE_LIMITS))
def test_the_library_form_refuses_just_outside_with_the_tables_message(app, field):
    limit = dose.LIMITS[field]
    with app.test_request_context(method="POST"):
        for value, ok in ((limit.low, True), (limit.high, True), (limit.low - 1, False),
                          (limit.high + 1, False)):
            form = ExerciseForm(formdata=MultiDict({field: str(value)}), meta={"csrf": False})
            assert form[field].validate(form) is ok, (field, value)
            assert form[field].errors == ([] if ok else [limit.message])


def _words(client, **values) -> str:
    query = {"hold_seconds": "30", "reps": "0", "sets": "2", "sides": "each_side",
             "times_per_day": "1", "days_per_week": "7", **values}
    response = client.get("/programmes/words", query_string=query)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()["words"]


def test_the_live_words_are_the_services_wording(jo):
    client, _ = jo
    assert _words(client) == "30 s each side, 2 rounds \u00b7 Once a day, every day"
    assert _words(client, hold_seconds=" 45 ", sides="both", times_per_day="2",
                  days_per_week="5") == "Hold 45 s, 2 rounds \u00b7 Twice a day, 5 days a week"
    assert _words(client, hold_seconds="0", reps="12", sets="3", sides="none") == (
        "12 reps, 3 sets \u00b7 Once a day, every day")
    # Nothing worth wording yet: no hold or reps, a blank or odd number, an unknown side.
    assert _words(client, hold_seconds="0") == ""
    assert _words(client, sets="") == ""
    assert _words(client, sets="two") == ""
    assert _words(client, sides="sideways") == ""


@pytest.mark.parametrize("field", list(dose.LIMITS))
def test_the_live_words_stop_at_the_tables_bounds(jo, field):
    client, _ = jo
    limit = dose.LIMITS[field]
    # Reps of 0 with no hold is a rule of its own: give the other one a value.
    other = {"reps": "1"} if field == "hold_seconds" else {}
    for inside in (limit.low, limit.high):
        assert _words(client, **other, **{field: str(inside)}), (field, inside)
    for outside in (limit.low - 1, limit.high + 1):
        assert _words(client, **other, **{field: str(outside)}) == "", (field, outside)


def test_an_added_row_starts_from_server_rendered_values_and_words(app, jo):
    client, alex = jo
    page = client.get(f"/programmes/{alex}").get_data(as_text=True)
    form = next(f for f in tags(page, "form") if "data-programmes" in f)
    assert form["data-words-url"] == "/programmes/words"
    results = [li for li in tags(page, "li") if "data-result" in li]
    assert results
    with app.app_context():
        for result in results:
            start = ItemInput.from_exercise(db.session.get(Exercise,
                                                           int(result["data-exercise-id"])))
            assert result["data-hold"] == str(start.hold_seconds)
            assert result["data-reps"] == str(start.reps)
            assert result["data-sets"] == str(start.sets)
            assert result["data-sides"] == start.sides.value
            assert result["data-times-per-day"] == str(start.times_per_day)
            assert result["data-days-per-week"] == str(start.days_per_week)
            summary, schedule = dose.describe_draft(
                start.hold_seconds, start.reps, start.sets, start.sides, start.times_per_day,
                start.days_per_week)
            assert summary and schedule
            assert result["data-words"] == f"{summary} \u00b7 {schedule}"


def test_the_programmes_script_has_no_wording_or_dose_numbers_of_its_own():
    script = SCRIPT.read_text()
    for phrase in ("each side", "rounds", "holding", "Hold ", "a day", "every day", "a week",
                   "rep${"):
        assert phrase not in script, phrase
    # The starting schedule of an added row comes from the page, not from the script.
    assert 'value = "1"' not in script and 'value = "7"' not in script
