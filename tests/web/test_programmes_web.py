"""The therapist's Programmes without JavaScript: who may open it, saving a version
with what changed, a stale page, dose mistakes next to their fields, adding, removing and
moving exercises by posting the draft, the library search, templates, pain reports, and
fixed query counts."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    AuditEvent,
    CompletionLog,
    Exercise,
    Feedback,
    ProgrammeTemplate,
    ProgrammeVersion,
    User,
)
from portal.seed.library import seed_library
from portal.services import adherence, client_day, clients, library, programmes
from portal.services.client_day import FeedbackInput
from portal.services.library import ExerciseInput
from portal.services.programmes import ItemInput
from portal.web.deps import practice_zone
from tests.conftest import csrf_from, login, sign_in_directly, static_url

# Wednesday 4 March 2026, noon in London (GMT); the programme was set the week before.
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TODAY = date(2026, 3, 4)
STARTED = datetime(2026, 2, 25, 10, 0, tzinfo=UTC)
HIP, CHILD, CAT, CALF = ("kneeling-hip-flexor-stretch", "childs-pose", "cat-cow",
                         "wall-calf-stretch")
NOTE = "Keep your ribs down and don't chase depth."


@dataclass
class Setup:
    """A therapist; Alex with a two-item programme (version 1); Sam with none."""

    therapist: User
    alex: User
    sam: User
    exercises: dict[str, int]  # slug -> id


@pytest.fixture
def setup(app, make_therapist, make_client) -> Setup:
    app.config["PORTAL_CLOCK"] = lambda: NOW
    therapist = make_therapist(name="Jo Fletcher")
    alex = make_client(name="Alex Morgan")
    sam = make_client(name="Sam Patel")
    with app.app_context():
        jo = db.session.get(User, therapist.id)
        exercises = {e.slug: e for e in seed_library(db.session, jo, STARTED - timedelta(days=1))}
        programmes.save_version(db.session, jo, db.session.get(User, alex.id), [
            ItemInput.from_exercise(exercises[HIP], moments=("work_break",), personal_note=NOTE),
            ItemInput.from_exercise(exercises[CHILD], moments=("before_bed",)),
        ], "Little and often.", STARTED)
        db.session.commit()
        ids = {slug: e.id for slug, e in exercises.items()}
    return Setup(therapist, alex, sam, ids)


@pytest.fixture
def jo(client, setup):
    """The test client signed in as the therapist."""
    sign_in_directly(client, setup.therapist)
    return client


# --- reading the page like a browser -----------------------------------------------------------


class FormReader(HTMLParser):
    """The name/value pairs a browser would send for one form (buttons left out), and
    nothing from inside <template>."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.in_template = 0
        self.pairs: list[tuple[str, str]] = []
        self.select: str | None = None
        self.select_options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        if tag == "template":
            self.in_template += 1
        if self.in_template:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.pairs.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self.select, self.select_options = a.get("name"), []
        elif tag == "option" and self.select:
            self.select_options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self.textarea, self.text = a.get("name"), ""

    def handle_endtag(self, tag):
        if not self.inside:
            return
        if tag == "template":
            self.in_template -= 1
        elif self.in_template:
            return
        elif tag == "select" and self.select:
            chosen = [v for v, s in self.select_options if s] or [
                v for v, _ in self.select_options[:1]]
            self.pairs.extend((self.select, v) for v in chosen)
            self.select = None
        elif tag == "textarea" and self.textarea:
            # A browser drops the one newline that follows <textarea>.
            self.pairs.append((self.textarea, re.sub(r"^\r?\n", "", self.text)))
            self.textarea = None
        elif tag == "form":
            self.inside = False

    def handle_data(self, data):
        if self.textarea and not self.in_template:
            self.text += data


def form_of(body: str, form_id: str = "programmes-form") -> dict[str, list[str]]:
    """The form's values as {name: [values]} in page order."""
    reader = FormReader(form_id)
    reader.feed(body)
    values: dict[str, list[str]] = {}
    for name, value in reader.pairs:
        values.setdefault(name, []).append(value)
    return values


def post(browser, url: str, values: dict[str, list[str]], action: str, **changes):
    """Post the form's values with some changed (None removes one) and a button pressed."""
    data = {k: list(v) for k, v in values.items()}
    for name, value in changes.items():
        name = name.replace("__", "-")
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value if isinstance(value, list) else [str(value)]
    data["action"] = [action]
    return browser.post(url, data=data)


def words(response) -> str:
    """The page's text: tags dropped, entities decoded, whitespace squeezed."""
    body = response.get_data(as_text=True)
    main = body[body.index("<main"):body.index("</main>")]
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())
    return re.sub(r" ([,:.])", r"\1", text)


def item_names(body: str) -> list[str]:
    """The exercise names of the draft's rows, in order (not the blank row template)."""
    body = body.split('<template id="programmes-row-template">')[0]
    return [html.unescape(n) for n in re.findall(
        r'<h3 class="programmes-item__name"[^>]*><span[^>]*>\d+</span> <span data-name>([^<]+)',
        body)]


def versions_of(app, client_id: int) -> list[ProgrammeVersion]:
    with app.app_context():
        rows = list(db.session.scalars(
            sa.select(ProgrammeVersion).join(ProgrammeVersion.programme)
            .where(ProgrammeVersion.programme.has(client_id=client_id))
            .order_by(ProgrammeVersion.number)))
        for row in rows:
            row.items  # noqa: B018 - load before leaving the session
            db.session.expunge(row)
        return rows


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- who may open it ---------------------------------------------------------------------------


def test_clients_are_refused_and_strangers_sent_to_sign_in(app, setup, client):
    urls = ["/programmes/", f"/programmes/{setup.alex.id}", f"/programmes/{setup.alex.id}/versions",
            "/programmes/templates"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login" in response.location
    assert login(client, setup.alex.email).status_code == 302
    for url in urls:
        assert client.get(url).status_code == 403, url
    page = client.get("/programme/")
    csrf = csrf_from(page.get_data(as_text=True))
    for url in (f"/programmes/{setup.alex.id}", f"/programmes/{setup.alex.id}/template",
                f"/programmes/{setup.alex.id}/apply"):
        assert client.post(url, data={"csrf_token": csrf, "action": "save"}).status_code == 403
    assert len(versions_of(app, setup.alex.id)) == 1


def test_unknown_clients_and_therapists_are_not_found(app, setup, jo):
    for client_id in (9999, setup.therapist.id):
        for url in (f"/programmes/{client_id}", f"/programmes/{client_id}/versions"):
            assert jo.get(url).status_code == 404, url
    csrf = csrf_from(jo.get("/programmes/").get_data(as_text=True))
    assert jo.post("/programmes/9999", data={"csrf_token": csrf, "action": "save"}
                   ).status_code == 404
    assert jo.post("/programmes/9999/apply", data={"csrf_token": csrf, "template_id": "1"}
                   ).status_code == 404
    assert jo.post("/programmes/templates/9999/delete", data={"csrf_token": csrf}
                   ).status_code == 404


def test_the_nav_leads_to_the_programmes_list(setup, jo):
    body = jo.get("/dashboard/").get_data(as_text=True)
    assert '<a href="/programmes/"' in body and ">Programmes</a>" in body


# --- the programmes list--------------------------------------------------------------------------


def log(app, client_id: int, slug_item: int, day: date, *, pain: bool = False,
        key: str | None = None) -> int:
    """Log one item as the client through the service; returns the log id."""
    with app.app_context():
        who = db.session.get(User, client_id)
        feeling = Feedback.PAIN if pain else Feedback.MILD_TENSION
        result = client_day.log_completion(
            db.session, who, slug_item, FeedbackInput(left=feeling, right=Feedback.NOTHING,
                                                      both=feeling),
            "Tight on the left" if pain else "", key or uuid.uuid4().hex, day, NOW)
        db.session.commit()
        return result.log.id


def current_item_ids(app, client_id: int) -> dict[int, int]:
    """exercise id -> item id in the client's current version."""
    with app.app_context():
        version = programmes.current_version(db.session, db.session.get(User, client_id))
        return {i.exercise_id: i.id for i in version.items}


def test_programmes_list_lists_clients_with_version_adherence_and_pain(app, setup, jo):
    items = current_item_ids(app, setup.alex.id)
    hip = items[setup.exercises[HIP]]
    log(app, setup.alex.id, hip, TODAY - timedelta(days=1))
    log(app, setup.alex.id, hip, TODAY, pain=True)
    page = words(jo.get("/programmes/"))
    assert "Alex Morgan Version 1 · updated Wed 25 February 2026 · 2 exercises" in page
    # Monday to Wednesday: two items once a day for three days; two logs of one item.
    assert "This week 33% 2 of 6" in page
    assert "1 to look at" in page
    assert "Sam Patel No programme yet" in page
    body = jo.get("/programmes/").get_data(as_text=True)
    assert f'href="/programmes/{setup.alex.id}"' in body
    assert f'href="/programmes/{setup.alex.id}/versions#pain"' in body


def test_programmes_list_adherence_agrees_with_the_programme_service(app, setup):
    items = current_item_ids(app, setup.alex.id)
    for day in range(10):
        log(app, setup.alex.id, items[setup.exercises[CHILD]], TODAY - timedelta(days=day % 9))
    with app.app_context(), app.test_request_context():
        rows = {r.client.id: r for r in clients.programme_overview(
            db.session, practice_zone(), TODAY)}
        for who in (setup.alex, setup.sam):
            expected = adherence.client_week(db.session, db.session.get(User, who.id),
                                             date(2026, 3, 2), today=TODAY)
            row = rows[who.id]
            assert (row.prescribed, row.done, row.percent) == (
                expected.prescribed, expected.done, expected.percent)


# --- saving ------------------------------------------------------------------------------------


def test_the_programme_form_shows_the_current_programme(setup, jo):
    response = jo.get(f"/programmes/{setup.alex.id}")
    body = response.get_data(as_text=True)
    assert item_names(body) == ["Kneeling hip flexor stretch", "Child's pose"]
    values = form_of(body)
    assert values["base_version"] == ["1"]
    assert values["items-0-hold_seconds"] == ["30"]
    assert values["items-0-sides"] == ["each_side"]
    assert values["items-0-moments"] == ["work_break"]
    assert values["items-0-personal_note"] == [NOTE]
    assert values["note"] == ["Little and often."]
    page = words(response)
    assert "30 s each side, 2 rounds · Once a day, every day" in page
    assert "Version 1, saved Wed 25 February 2026, 10:00 by Jo Fletcher" in page
    # The ladder of the hip flexor stretch is offered as levels.
    assert re.search(r'<select[^>]*id="items-0-level"[^>]*>\s*<option selected value="1">1\. ',
                     body)
    # The printable sheet (with its QR link) is one click away.
    assert f'href="/sheet/client/{setup.alex.id}"' in body
    assert jo.get(f"/sheet/client/{setup.alex.id}").status_code == 200


def test_save_creates_a_version_with_what_changed(app, setup, jo):
    url = f"/programmes/{setup.alex.id}"
    values = form_of(jo.get(url).get_data(as_text=True))
    response = post(jo, url, values, "save", items__0__hold_seconds=45,
                    items__0__moments=["work_break", "after_training"],
                    note="Add the after-training one.")
    assert response.status_code == 302 and response.location.endswith(url)
    saved = versions_of(app, setup.alex.id)
    assert [v.number for v in saved] == [1, 2]
    texts = [c["text"] for c in saved[-1].changes]
    assert texts == ["Kneeling hip flexor stretch: hold 30 s \u2192 45 s; when: work break "
                     "\u2192 work break, after training", "New message from your therapist"]
    assert saved[-1].created_by_id == setup.therapist.id
    page = jo.get(url)
    assert "Saved version 2 of Alex Morgan\u2019s programme: Kneeling hip flexor stretch: " \
           "hold 30 s \u2192 45 s" in words(page)
    assert form_of(page.get_data(as_text=True))["base_version"] == ["2"]
    history = words(jo.get(f"{url}/versions"))
    assert "Version 2 Current" in history
    assert "Kneeling hip flexor stretch: hold 30 s \u2192 45 s" in history
    assert "\u201cAdd the after-training one.\u201d" in history


def test_saving_nothing_new_keeps_the_version(app, setup, jo):
    url = f"/programmes/{setup.alex.id}"
    values = form_of(jo.get(url).get_data(as_text=True))
    response = post(jo, url, values, "save")
    assert response.status_code == 302
    assert [v.number for v in versions_of(app, setup.alex.id)] == [1]
    assert "Nothing had changed" in words(jo.get(url))


def test_a_first_programme_for_a_new_client(app, setup, jo):
    url = f"/programmes/{setup.sam.id}"
    body = jo.get(url).get_data(as_text=True)
    assert "No exercises yet" in body
    values = form_of(body)
    assert values["base_version"] == ["0"]
    body = post(jo, url, values, f"add:{setup.exercises[CALF]}").get_data(as_text=True)
    assert item_names(body) == ["Wall calf stretch"]
    response = post(jo, url, form_of(body), "save")
    assert response.status_code == 302
    [version] = versions_of(app, setup.sam.id)
    assert [c["text"] for c in version.changes] == ["Added Wall calf stretch"]


def test_a_stale_page_gets_a_clear_message_and_keeps_the_draft(app, setup, jo):
    url = f"/programmes/{setup.alex.id}"
    stale = form_of(jo.get(url).get_data(as_text=True))
    # A colleague saves while the page is open.
    with app.app_context():
        jo_user = db.session.get(User, setup.therapist.id)
        alex = db.session.get(User, setup.alex.id)
        version = programmes.current_version(db.session, alex)
        programmes.save_version(db.session, jo_user, alex, [
            *[ItemInput.from_item(i) for i in version.items],
            ItemInput.from_exercise(db.session.get(Exercise, setup.exercises[CAT])),
        ], version.note, NOW - timedelta(minutes=5))
        db.session.commit()
    response = post(jo, url, stale, "save", items__0__hold_seconds=25,
                    items__1__personal_note="Breathe out as you sink back.")
    assert response.status_code == 409
    page = words(response)
    assert "Someone else saved this programme while you were editing" in page
    assert "Nothing of yours is lost" in page
    assert "Version 2, Wed 4 March 2026, 11:55, by Jo Fletcher: Added Cat\u2013cow." in page
    kept = form_of(response.get_data(as_text=True))
    assert kept["items-0-hold_seconds"] == ["25"]
    assert kept["items-1-personal_note"] == ["Breathe out as you sink back."]
    assert kept["base_version"] == ["2"]
    assert [v.number for v in versions_of(app, setup.alex.id)] == [1, 2]
    # Saving the kept draft now is deliberate: it becomes version 3.
    assert post(jo, url, kept, "save").status_code == 302
    latest = versions_of(app, setup.alex.id)[-1]
    assert latest.number == 3
    assert "Removed Cat\u2013cow" in [c["text"] for c in latest.changes]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("hold_seconds", "999", "Hold for 0 to 300 seconds."),
    ("hold_seconds", "-5", "Hold for 0 to 300 seconds."),
    ("hold_seconds", "thirty", "Enter the hold as a whole number of seconds (0 for none)."),
    ("reps", "1000", "Use 0 to 100 reps."),
    ("sets", "0", "Use 1 to 10 sets or rounds."),
    ("times_per_day", "12", "Use 1 to 6 times a day."),
    ("days_per_week", "8", "Use 1 to 7 days a week."),
    ("days_per_week", "", "Enter how many days a week as a whole number."),
])
def test_a_bad_dose_is_shown_next_to_its_field_and_nothing_is_written(app, setup, jo, field,
                                                                      value, message):
    url = f"/programmes/{setup.alex.id}"
    values = form_of(jo.get(url).get_data(as_text=True))
    audits = count(app, AuditEvent)
    response = post(jo, url, values, "save", **{f"items__1__{field}": value,
                                                "items__0__hold_seconds": 40})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    error = re.search(rf'<p class="field__error" id="items-1-{field}-error">(.*?)</p>', body)
    assert error and message in html.unescape(error.group(1))
    assert f'href="#items-1-{field}"' in body  # the summary links to the field
    assert "Child&#39;s pose: " + html.escape(message, quote=True) in body \
        or f"Child's pose: {message}" in html.unescape(body)
    kept = form_of(body)
    assert kept[f"items-1-{field}"] == [value]
    assert kept["items-0-hold_seconds"] == ["40"]
    assert [v.number for v in versions_of(app, setup.alex.id)] == [1]
    assert count(app, AuditEvent) == audits


def test_rules_the_service_checks_land_on_the_right_row(app, setup, jo):
    url = f"/programmes/{setup.alex.id}"
    values = form_of(jo.get(url).get_data(as_text=True))
    # No hold and no reps: only the programme service knows that rule.
    response = post(jo, url, values, "save", items__1__hold_seconds=0, items__1__reps=0)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert re.search(r'id="items-1-hold_seconds-error">.*Give a hold time or a number of reps',
                     body)
    # A level above the ladder and a moment that does not exist.
    for changes, field, message in [
        ({"items__0__level": "9"}, "items-0-level", "Choose a level from 1 to"),
        ({"items__1__moments": ["midnight"]}, "items-1-moments", "Choose moments from the list"),
        ({"items__0__sides": "sideways"}, "items-0-sides", "Choose each side, both sides"),
    ]:
        response = post(jo, url, values, "save", **changes)
        assert response.status_code == 422, changes
        assert re.search(rf'id="{field}-error">.*{message}', response.get_data(as_text=True))
    assert [v.number for v in versions_of(app, setup.alex.id)] == [1]


# --- editing the draft without JavaScript --------------------------------------------------------


def test_add_move_and_remove_post_the_draft_and_write_nothing(app, setup, jo):
    url = f"/programmes/{setup.alex.id}"
    values = form_of(jo.get(url).get_data(as_text=True))
    # An unsaved edit survives every step.
    response = post(jo, url, values, f"add:{setup.exercises[CAT]}",
                    items__0__personal_note="Squeeze the glute of the kneeling side.")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert item_names(body) == ["Kneeling hip flexor stretch", "Child's pose", "Cat\u2013cow"]
    assert "Not saved yet" in body and 'data-unsaved hidden' not in body
    draft = form_of(body)
    assert draft["items-2-exercise_id"] == [str(setup.exercises[CAT])]
    # The new row starts from the library's default dose.
    with app.app_context():
        cat = db.session.get(Exercise, setup.exercises[CAT])
        assert draft["items-2-reps"] == [str(cat.reps)]
    # The library marks it as added.
    assert re.search(rf'value="add:{setup.exercises[CAT]}"[^>]*disabled', body)

    body = post(jo, url, draft, "up:2").get_data(as_text=True)
    assert item_names(body) == ["Kneeling hip flexor stretch", "Cat\u2013cow", "Child's pose"]
    draft = form_of(body)
    assert draft["items-0-personal_note"] == ["Squeeze the glute of the kneeling side."]
    assert draft["items-2-moments"] == ["before_bed"]  # moved with its row

    body = post(jo, url, draft, "down:0").get_data(as_text=True)
    assert item_names(body) == ["Cat\u2013cow", "Kneeling hip flexor stretch", "Child's pose"]
    body = post(jo, url, form_of(body), "remove:2").get_data(as_text=True)
    assert item_names(body) == ["Cat\u2013cow", "Kneeling hip flexor stretch"]
    # Moving past either end and unknown rows change nothing.
    for action in ("up:0", "down:1", "remove:7", "up:99999999", "bogus", "add:nope"):
        again = post(jo, url, form_of(body), action)
        assert again.status_code == 200, action
        assert item_names(again.get_data(as_text=True)) == ["Cat\u2013cow",
                                                            "Kneeling hip flexor stretch"]
    assert [v.number for v in versions_of(app, setup.alex.id)] == [1]

    assert post(jo, url, form_of(body), "save").status_code == 302
    latest = versions_of(app, setup.alex.id)[-1]
    assert [c["text"] for c in latest.changes] == [
        "Added Cat\u2013cow", "Kneeling hip flexor stretch: new note from your therapist",
        "Removed Child's pose"]


def test_adding_twice_or_an_unpublished_exercise_is_refused(app, setup, jo):
    url = f"/programmes/{setup.alex.id}"
    values = form_of(jo.get(url).get_data(as_text=True))
    body = post(jo, url, values, f"add:{setup.exercises[HIP]}").get_data(as_text=True)
    assert "\u201cKneeling hip flexor stretch\u201d is already in the programme." in \
        html.unescape(body)
    assert len(item_names(body)) == 2
    with app.app_context():
        draft = library.create_exercise(
            db.session, db.session.get(User, setup.therapist.id), ExerciseInput(
                name="Secret draft", summary="Not ready.", body_areas=["hips"],
                steps=["Wait."], hold_seconds=20), NOW)
        db.session.commit()
        draft_id = draft.id
    body = post(jo, url, values, f"add:{draft_id}").get_data(as_text=True)
    assert "That exercise isn't in the library any more." in html.unescape(body)
    assert "Secret draft" not in body


@pytest.mark.parametrize("tampered", ["424242", "99999999999999999999"])
def test_a_tampered_or_deleted_exercise_in_the_draft_is_left_out(app, setup, jo, tampered):
    url = f"/programmes/{setup.alex.id}"
    values = form_of(jo.get(url).get_data(as_text=True))
    # The second is past what any id can be: the query must not even be tried with it.
    response = post(jo, url, values, "search", items__1__exercise_id=tampered)
    assert response.status_code == 200
    assert item_names(response.get_data(as_text=True)) == ["Kneeling hip flexor stretch"]
    assert "was left out" in words(response)


# --- searching the library ----------------------------------------------------------------------


def result_names(body: str) -> list[str]:
    return [html.unescape(n) for n in re.findall(
        r'<span class="programmes-result__name">([^<]+)</span>', body)]


def test_search_finds_exercises_by_words(setup, jo):
    url = f"/programmes/{setup.alex.id}"
    everything = result_names(jo.get(url).get_data(as_text=True))
    assert len(everything) == 10
    body = jo.get(url, query_string={"q": "calf"}).get_data(as_text=True)
    assert result_names(body) == ["Wall calf stretch"]
    assert "1 exercise matches \u201ccalf\u201d" in html.unescape(body)


@pytest.mark.parametrize("odd", ["%", "_", "\\", "' OR 1=1 --", "<script>alert(1)</script>",
                                 "\u0001\u001f", "x" * 5000, "\U0001f9d8 stretch", "   ",
                                 "hip%", "[a-z]*"])
def test_odd_search_input_behaves(setup, jo, odd):
    response = jo.get(f"/programmes/{setup.alex.id}", query_string={"q": odd})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<script>alert" not in body
    if odd.strip() in ("%", "_", "\\", "' OR 1=1 --", "hip%", "[a-z]*"):
        assert result_names(body) == []  # matched literally, not as a pattern


def test_a_nul_in_the_search_is_refused(setup, jo):
    assert jo.get(f"/programmes/{setup.alex.id}", query_string={"q": "a\x00b"}).status_code == 400


def test_searching_from_the_draft_keeps_it(setup, jo):
    url = f"/programmes/{setup.alex.id}"
    values = form_of(jo.get(url).get_data(as_text=True))
    response = post(jo, url, values, "search", q="neck", items__0__hold_seconds=20)
    body = response.get_data(as_text=True)
    assert result_names(body) == ["Side neck stretch"]
    assert form_of(body)["items-0-hold_seconds"] == ["20"]
    assert form_of(body)["q"] == ["neck"]


# --- templates ---------------------------------------------------------------------------------


def test_save_a_template_then_apply_it_to_another_client(app, setup, jo):
    url = f"/programmes/{setup.alex.id}"
    body = jo.get(url).get_data(as_text=True)
    values = form_of(body, form_id="")  # the page has no form with an empty id
    assert values == {}
    csrf = csrf_from(body)
    response = jo.post(f"{url}/template", data={
        "csrf_token": csrf, "template-name": "  Desk worker's   lower back ",
        "template-description": "For long days at a desk."})
    assert response.status_code == 302
    with app.app_context():
        template = db.session.scalar(sa.select(ProgrammeTemplate))
        assert template.name == "Desk worker's lower back"
        template_id = template.id
    listing = words(jo.get("/programmes/templates"))
    assert "Desk worker's lower back" in listing
    assert "Kneeling hip flexor stretch: 30 s each side, 2 rounds · once a day, every day " \
           "· work break" in listing

    # A duplicate name is refused next to the field, and nothing is stored.
    response = jo.post(f"{url}/template", data={"csrf_token": csrf,
                                                "template-name": "Desk worker's lower back"})
    assert response.status_code == 422
    error = re.search(r'id="template-name-error">(.*?)</p>', response.get_data(as_text=True))
    assert error and "There is already a template called \u201cDesk worker's lower back\u201d" \
        in html.unescape(error.group(1))
    assert count(app, ProgrammeTemplate) == 1
    response = jo.post(f"{url}/template", data={"csrf_token": csrf, "template-name": "  "})
    assert response.status_code == 422 and "Give the template a name." in words(response)

    # Sam has no programme: applying the template makes version 1 to tailor.
    sam_url = f"/programmes/{setup.sam.id}"
    sam_page = jo.get(sam_url).get_data(as_text=True)
    assert f'<option value="{template_id}">Desk worker&#39;s lower back (2 exercises)' in sam_page
    response = jo.post(f"{sam_url}/apply", data={"csrf_token": csrf, "template_id": template_id,
                                                 "base_version": "0"})
    assert response.status_code == 302
    [version] = versions_of(app, setup.sam.id)
    assert [c["text"] for c in version.changes][0] == \
        "Started from the template \u201cDesk worker's lower back\u201d"
    page = jo.get(sam_url)
    assert "Applied the template as version 1" in words(page)
    assert item_names(page.get_data(as_text=True)) == ["Kneeling hip flexor stretch",
                                                       "Child's pose"]

    # Applying from a stale page is refused with the service's sentence.
    response = jo.post(f"{sam_url}/apply", data={"csrf_token": csrf, "template_id": template_id,
                                                 "base_version": "0"}, follow_redirects=True)
    assert "changed by someone else since you opened it" in words(response)
    assert len(versions_of(app, setup.sam.id)) == 1
    for junk in ("junk", "99999999999999999999"):  # the second found by `make campaign`
        response = jo.post(f"{sam_url}/apply", data={"csrf_token": csrf, "template_id": junk},
                           follow_redirects=True)
        assert "Choose a template to apply." in words(response)

    # Deleting the template leaves Sam's programme alone.
    response = jo.post(f"/programmes/templates/{template_id}/delete", data={"csrf_token": csrf})
    assert response.status_code == 302
    assert count(app, ProgrammeTemplate) == 0
    assert "No templates yet" in words(jo.get("/programmes/templates"))
    assert len(versions_of(app, setup.sam.id)[0].items) == 2


def test_an_empty_programme_cannot_become_a_template(app, setup, jo):
    csrf = csrf_from(jo.get("/programmes/").get_data(as_text=True))
    response = jo.post(f"/programmes/{setup.sam.id}/template",
                       data={"csrf_token": csrf, "template-name": "Nothing"})
    assert response.status_code == 422
    assert "This client's programme is empty" in words(response)
    assert count(app, ProgrammeTemplate) == 0


# --- history and pain reports ------------------------------------------------------------------


def test_history_shows_versions_logs_and_pain_to_acknowledge(app, setup, jo):
    items = current_item_ids(app, setup.alex.id)
    hip = items[setup.exercises[HIP]]
    log(app, setup.alex.id, hip, TODAY - timedelta(days=2))
    pain_id = log(app, setup.alex.id, hip, TODAY, pain=True)
    url = f"/programmes/{setup.alex.id}/versions"
    page = words(jo.get(url))
    assert "Pain reports to look at" in page
    assert "Kneeling hip flexor stretch · Wed 4 March Left: pain · Right: nothing " \
           "\u201cTight on the left\u201d" in page
    # Logs by day, newest first, each with how it felt.
    assert "Wednesday 4 March Kneeling hip flexor stretch Left: pain · Right: nothing Pain " \
           "\u201cTight on the left\u201d Monday 2 March Kneeling hip flexor stretch Left: mild " \
           "tension · Right: nothing" in page
    assert "Version 1 Current Wed 25 February 2026, 10:00 · by Jo Fletcher" in page
    assert "Added Kneeling hip flexor stretch" in page

    body = jo.get(url).get_data(as_text=True)
    csrf = csrf_from(body)
    # Another client's log can't be acknowledged through Alex's page, nor by URL guessing.
    assert jo.post(f"/programmes/{setup.sam.id}/logs/{pain_id}/acknowledge",
                   data={"csrf_token": csrf}).status_code == 404
    assert jo.post(f"/programmes/{setup.alex.id}/logs/987654/acknowledge",
                   data={"csrf_token": csrf}).status_code == 404
    response = jo.post(f"/programmes/{setup.alex.id}/logs/{pain_id}/acknowledge",
                       data={"csrf_token": csrf})
    assert response.status_code == 302 and response.location.endswith("/versions#pain")
    with app.app_context():
        assert db.session.get(CompletionLog, pain_id).pain_acknowledged_at == NOW
    page = words(jo.get(url))
    assert "None: nothing hurt since you last looked." in page
    assert "Pain, seen" in page


def test_a_version_names_the_session_it_was_set_in(app, setup, jo, diary):
    # diary: a therapist with hours, services and their own client "Alex Morgan".
    from portal.models import Appointment, AppointmentStatus, Service

    with app.app_context():
        service = db.session.get(Service, diary.services["60 minute massage"])
        starts = NOW - timedelta(days=1, hours=2)
        db.session.add(Appointment(
            client_id=setup.alex.id, therapist_id=setup.therapist.id, service_id=service.id,
            starts_at=starts, ends_at=starts + timedelta(hours=1),
            blocked_until=starts + timedelta(hours=1, minutes=15),
            status=AppointmentStatus.ATTENDED, price_pence=5500, booked_by_id=setup.alex.id))
        db.session.commit()
    url = f"/programmes/{setup.alex.id}"
    assert post(jo, url, form_of(jo.get(url).get_data(as_text=True)), "save",
                items__0__sets=3).status_code == 302
    page = words(jo.get(f"{url}/versions"))
    assert "Version 2 Current Wed 4 March 2026, 12:00 · by Jo Fletcher · session on " \
           "Tue 3 March 2026 (60 minute massage)" in page
    assert "Kneeling hip flexor stretch: rounds 2 \u2192 3" in page


# --- fixed query counts ------------------------------------------------------------------------


def statements_for(app, browser, url: str) -> int:
    """How many SQL statements one GET runs."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def counter(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", counter)
    try:
        response = browser.get(url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", counter)
    assert response.status_code == 200, url
    return len(seen)


def add_clients(app, setup: Setup, n: int) -> None:
    """n more clients, each with a one-item programme, a log this week and a pain report."""
    with app.app_context():
        jo_user = db.session.get(User, setup.therapist.id)
        calf = db.session.get(Exercise, setup.exercises[CALF])
        for _ in range(n):
            who = User(email=f"c{uuid.uuid4().hex[:10]}@example.com", name="Client",
                       role=setup.alex.role)
            db.session.add(who)
            db.session.flush()
            version = programmes.save_version(db.session, jo_user, who,
                                              [ItemInput.from_exercise(calf)], "", STARTED)
            client_day.log_completion(
                db.session, who, version.items[0].id, FeedbackInput(
                    left=Feedback.PAIN, right=Feedback.NOTHING), "", uuid.uuid4().hex, TODAY,
                NOW)
        db.session.commit()


def test_programmes_list_queries_stay_the_same_at_ten_times_the_clients(app, setup, jo):
    add_clients(app, setup, 2)
    small = statements_for(app, jo, "/programmes/")
    add_clients(app, setup, 18)
    large = statements_for(app, jo, "/programmes/")
    assert large == small
    assert small <= 12, small
    assert words(jo.get("/programmes/")).count("1 to look at") == 20


def test_programme_form_and_history_queries_stay_the_same_at_ten_times_the_items(app, setup, jo):
    url = f"/programmes/{setup.alex.id}"
    with app.app_context():
        jo_user = db.session.get(User, setup.therapist.id)
        alex = db.session.get(User, setup.alex.id)
        ids = list(setup.exercises.values())
        programmes.save_version(db.session, jo_user, alex, [
            ItemInput.from_exercise(db.session.get(Exercise, ids[0]))], "", STARTED)
        db.session.commit()
    items = current_item_ids(app, setup.alex.id)
    log(app, setup.alex.id, next(iter(items.values())), TODAY, pain=True)
    small = {u: statements_for(app, jo, u) for u in (url, f"{url}/versions", f"{url}?q=s")}
    with app.app_context():
        jo_user = db.session.get(User, setup.therapist.id)
        alex = db.session.get(User, setup.alex.id)
        for n in range(9):  # ten versions, the last with all ten exercises
            programmes.save_version(db.session, jo_user, alex, [
                ItemInput.from_exercise(db.session.get(Exercise, i), sets=1 + n % 3)
                for i in ids[:n + 2]], f"v{n}", STARTED + timedelta(hours=n + 1))
        db.session.commit()
    items = current_item_ids(app, setup.alex.id)
    for n, item_id in enumerate(list(items.values()) * 2):
        log(app, setup.alex.id, item_id, TODAY - timedelta(days=n % 6), pain=n % 4 == 0)
    large = {u: statements_for(app, jo, u) for u in (url, f"{url}/versions", f"{url}?q=s")}
    assert large == small
    assert len(item_names(jo.get(url).get_data(as_text=True))) == 10
    assert small[url] <= 20, small


def test_the_page_carries_no_inline_script_or_style(app, setup, jo):
    body = jo.get(f"/programmes/{setup.alex.id}").get_data(as_text=True)
    assert "<script>" not in body and "<style" not in body and " style=" not in body
    assert "onclick" not in body
    assert f'src="{static_url(app, "js/programmes.js")}"' in body
