"""The client's programme pages: Today grouped by moment, the exercise page, logging how it
felt (idempotent, per side, pain), logging in one tap ("Done, felt fine" on the home page,
Today and the exercise page, and "Tell us how it felt" after it), bad input, who may see
what, and fixed query counts."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import CompletionLog, Exercise, Feedback, Moment, User
from portal.seed.library import seed_library
from portal.services import client_day, programmes
from portal.services.client_day import FeedbackInput
from portal.services.programmes import ItemInput
from tests.conftest import csrf_from, login, sign_in_directly, static_url

# Wednesday 4 March 2026, noon in London (GMT); the programme was set the week before.
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TODAY = date(2026, 3, 4)
STARTED = datetime(2026, 2, 25, 10, 0, tzinfo=UTC)
HIP, CHILD, CAT = "kneeling-hip-flexor-stretch", "childs-pose", "cat-cow"
NOTE = "Keep your ribs down and don't chase depth: little and often."


@dataclass
class Setup:
    """A therapist, a client with a three-item programme, and another client with one."""

    therapist: User
    client: User
    other: User
    items: dict[str, int]  # slug -> item id in the client's current version
    other_item: int
    exercises: dict[str, int]  # slug -> exercise id


@pytest.fixture
def setup(app, make_therapist, make_client) -> Setup:
    """The hip flexor stretch (morning and work break, twice a day, with a note), child's
    pose before bed and cat-cow at any time; the other client has the hip flexor stretch."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    therapist = make_therapist(name="Jo Fletcher")
    client = make_client(name="Alex Morgan")
    other = make_client(name="Sam Patel")
    with app.app_context():
        jo = db.session.get(User, therapist.id)
        exercises = {e.slug: e for e in seed_library(db.session, jo, STARTED - timedelta(days=1))}
        version = programmes.save_version(db.session, jo, db.session.get(User, client.id), [
            ItemInput.from_exercise(exercises[HIP], moments=("morning", "work_break"),
                                    times_per_day=2, personal_note=NOTE),
            ItemInput.from_exercise(exercises[CHILD], moments=("before_bed",)),
            ItemInput.from_exercise(exercises[CAT]),
        ], "Little and often this week.", STARTED)
        theirs = programmes.save_version(db.session, jo, db.session.get(User, other.id), [
            ItemInput.from_exercise(exercises[HIP], moments=("morning",)),
        ], "", STARTED)
        db.session.commit()
        by_exercise = {e.id: slug for slug, e in exercises.items()}
        items = {by_exercise[i.exercise_id]: i.id for i in version.items}
        other_item = theirs.items[0].id
        exercise_ids = {slug: e.id for slug, e in exercises.items()}
    return Setup(therapist, client, other, items, other_item, exercise_ids)


@pytest.fixture
def as_alex(client, setup):
    """The test client signed in as the client with the programme."""
    sign_in_directly(client, setup.client)
    return client


def text(response) -> str:
    """The words of the page's main content: tags dropped, entities decoded, whitespace
    squeezed."""
    body = response.get_data(as_text=True)
    main = body.split("<main", 1)[-1].split("</main>", 1)[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main.split(">", 1)[-1])).split())


def logs(app, client_id: int | None = None) -> list[CompletionLog]:
    """Every completion log (of one client), oldest first, detached."""
    with app.app_context():
        query = sa.select(CompletionLog).order_by(CompletionLog.id)
        if client_id is not None:
            query = query.where(CompletionLog.client_id == client_id)
        rows = list(db.session.scalars(query))
        for row in rows:
            db.session.expunge(row)
        return rows


def item_form(browser, item_id: int, **query) -> tuple[str, str, str]:
    """Open an exercise page; (csrf token, client_key, page text)."""
    response = browser.get(f"/programme/items/{item_id}", query_string=query)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    key = re.search(r'name="client_key"[^>]*value="([^"]+)"', body)
    if key is None:
        key = re.search(r'value="([^"]+)"[^>]*name="client_key"', body)
    assert key, "no client_key on the exercise page"
    return csrf_from(body), key.group(1), body


def log_in_service(app, setup: Setup, slug: str, day: date, moment=None) -> None:
    """A log made through the service, with "nothing" on every side."""
    with app.app_context():
        client = db.session.get(User, setup.client.id)
        client_day.log_completion(db.session, client, setup.items[slug],
                                  FeedbackInput(both=Feedback.NOTHING), "", uuid.uuid4().hex,
                                  day, NOW, moment=moment)
        db.session.commit()


def sections(body: str) -> list[str]:
    """The text of each moment section on Today, in page order."""
    parts = [p.split(">", 1)[1] for p in body.split('<section class="moment"')[1:]]
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", p.split("</section>")[0])).split())
            for p in parts]


# --- Today ----------------------------------------------------------------------------------


def test_today_groups_items_by_moment_with_the_dose_in_plain_words(app, setup, as_alex):
    log_in_service(app, setup, HIP, TODAY, moment=Moment.MORNING)

    response = as_alex.get("/programme/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    groups = sections(body)
    assert [g.split(" ")[0] for g in groups] == ["Morning", "Work", "Before", "Any"]
    morning, work_break, before_bed, any_time = groups
    assert morning.startswith("Morning 1 of 1 done")
    assert "Kneeling hip flexor stretch 30 s each side, 2 rounds" in morning
    assert "Twice a day, every day · 1 of 2 today Done" in morning
    assert work_break.startswith("Work break 0 of 1 done")
    assert "To do" in work_break
    assert "Child's pose Hold 30 s, 2 rounds Once a day, every day To do" in before_bed
    assert "Cat–cow 10 reps, 2 sets" in any_time
    page = text(response)
    # Progress for the day: the hip flexor counts twice (twice a day), the others once.
    assert "1 of 4 done today" in page
    assert re.search(r'<progress[^>]*max="4"[^>]*value="1"', body)
    assert 'aria-labelledby="day-progress-label"' in body
    # This week: 1 of 3 sessions a day x 3 days so far (Monday to Wednesday) -> 1 of 12.
    assert "This week 8% done" in page
    assert "Streak 1 day in a row" in page
    assert 'href="/programme/history"' in body
    # Each item links to its page, carrying the moment it is listed under.
    assert f'href="/programme/items/{setup.items[HIP]}?moment=work_break"' in body
    assert f'href="/programme/items/{setup.items[CAT]}"' in body


def test_today_shows_the_update_and_what_changed_opened_once(app, setup, as_alex):
    first = text(as_alex.get("/programme/"))
    assert "New Updated on Wed 25 February 2026" in first
    assert "Little and often this week." in first
    assert "What changed: Added Kneeling hip flexor stretch" in first

    again = as_alex.get("/programme/").get_data(as_text=True)
    assert "<details" in again and "badge--warn\">New" not in again

    with app.app_context():
        jo = db.session.get(User, setup.therapist.id)
        alex = db.session.get(User, setup.client.id)
        current = programmes.current_version(db.session, alex)
        changed = [ItemInput.from_item(i, hold_seconds=45) if i.exercise_id ==
                   setup.exercises[HIP] else ItemInput.from_item(i) for i in current.items]
        programmes.save_version(db.session, jo, alex, changed, current.note,
                                NOW - timedelta(hours=1))
        db.session.commit()
    updated = text(as_alex.get("/programme/"))
    assert "New Updated on Wed 4 March 2026" in updated
    assert "Kneeling hip flexor stretch: hold 30 s → 45 s" in updated


def test_no_programme_yet_is_a_friendly_page(app, make_client, client, practice):
    alex = make_client()
    login(client, alex.email)
    response = client.get("/programme/")
    assert response.status_code == 200
    assert "hasn't set you a home programme yet" in text(response)
    assert "Your therapist hasn't shared a home programme here yet" in text(client.get("/"))
    assert client.get("/programme/history").status_code == 200


def test_home_page_sums_up_today_and_the_week(app, setup, as_alex):
    log_in_service(app, setup, CHILD, TODAY)
    page = text(as_alex.get("/"))
    assert "Today's programme 1 of 4 done today" in page
    assert "This week 8% done" in page
    assert "Streak 1 day in a row" in page
    assert 'href="/programme/">Open today\'s programme' in as_alex.get("/").get_data(
        as_text=True)
    nav = as_alex.get("/").get_data(as_text=True).split('aria-label="Main"')[1].split("</nav>")[0]
    assert 'href="/programme/">Today</a>' in nav


# --- the exercise page ----------------------------------------------------------------------


def test_exercise_page_has_note_steps_level_regression_timer_and_log_form(app, setup, as_alex):
    csrf, key, body = item_form(as_alex, setup.items[HIP], moment="morning")
    page = " ".join(html.unescape(body).split())
    assert "<h1>Kneeling hip flexor stretch</h1>" in page
    assert "30 s each side, 2 rounds" in page
    assert "Twice a day, every day · Morning, work break" in page
    assert re.search(r'<aside class="therapist-note"[^>]*> <h2[^>]*>A note from your therapist'
                     rf'</h2> <p class="therapist-note__text">{re.escape(NOTE)}</p>', page)
    assert "Tuck your pelvis under a little" in page  # a step
    assert "Tailbone down" in page  # a cue
    assert "Don't force it or bounce into the stretch." in page  # a caution
    assert "Level 1 of 3: <strong>Kneeling stretch</strong>" in page
    assert "Next: With an overhead reach" in page
    assert "When 30 s each side feels easy, add the overhead reach." in page
    assert "Do it standing instead" in page  # the regression
    # The timer reads its dose from data attributes and is hidden until the module runs.
    timer = re.search(r'<section class="card timer"[^>]*>', body).group(0)
    for attribute in ('hidden', 'data-hold="30"', 'data-reps="0"', 'data-sets="2"',
                      'data-sides="each_side"', 'data-get-ready="5"'):
        assert attribute in timer
    assert f'<script type="module" src="{static_url(app, "js/timer.js")}"></script>' in body
    assert "<script>" not in body and "style=" not in body
    # One feedback group per side, with the three answers; the moment rides along.
    assert body.count('type="radio"') == 6
    for name in ("feedback_left", "feedback_right"):
        assert re.search(rf'name="{name}"[^>]*value="mild_tension"', body) or re.search(
            rf'value="mild_tension"[^>]*name="{name}"', body)
    assert 'name="feedback"' not in body
    assert re.search(r'name="moment"[^>]*value="morning"|value="morning"[^>]*name="moment"', body)
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    # A fresh key on every visit, so two real sessions are two logs.
    assert item_form(as_alex, setup.items[HIP])[1] != key


def test_a_both_sides_item_asks_once(app, setup, as_alex):
    body = item_form(as_alex, setup.items[CHILD])[2]
    assert body.count('type="radio"') == 3
    assert 'name="feedback"' in body and "feedback_left" not in body
    assert 'data-sides="both"' in body
    cat = item_form(as_alex, setup.items[CAT])[2]
    assert 'data-reps="10"' in cat and 'data-hold="0"' in cat


def test_picture_is_shown_only_when_the_file_exists(app, setup, as_alex):
    with app.app_context():
        exercise = db.session.get(Exercise, setup.exercises[HIP])
        exercise.picture_path = "img/favicon.svg"  # any real static file will do
        db.session.commit()
    body = item_form(as_alex, setup.items[HIP])[2]
    assert f'src="{static_url(app, "img/favicon.svg")}"' in body
    assert 'alt="Drawing of the kneeling hip flexor stretch"' in body
    with app.app_context():
        exercise = db.session.get(Exercise, setup.exercises[HIP])
        exercise.picture_path = "img/exercises/not-drawn-yet.svg"
        db.session.commit()
    body = item_form(as_alex, setup.items[HIP])[2]
    assert "not-drawn-yet" not in body and "<img" not in body.split("<main")[1]


# --- logging --------------------------------------------------------------------------------


def test_logging_redirects_to_today_with_a_tick(app, setup, as_alex):
    csrf, key, _ = item_form(as_alex, setup.items[HIP], moment="work_break")
    response = as_alex.post(f"/programme/items/{setup.items[HIP]}/log", data={
        "csrf_token": csrf, "client_key": key, "moment": "work_break",
        "feedback_left": "mild_tension", "feedback_right": "nothing", "note": "Left is tighter",
    })
    assert response.status_code == 302
    assert response.location.endswith("/programme/")
    today = as_alex.get("/programme/")
    assert "Logged: Kneeling hip flexor stretch. Well done!" in text(today)
    assert sections(today.get_data(as_text=True))[1].startswith("Work break 1 of 1 done")
    [row] = logs(app)
    assert (row.client_id, row.item_id, row.local_date) == (setup.client.id,
                                                            setup.items[HIP], TODAY)
    assert (row.feedback_left, row.feedback_right, row.feedback) == (
        Feedback.MILD_TENSION, Feedback.NOTHING, None)
    assert row.moment is Moment.WORK_BREAK and row.note == "Left is tighter"
    history = text(as_alex.get("/programme/history"))
    assert "Today Kneeling hip flexor stretch Work break · 12:00" in history
    assert "Left: Mild tension Right: Nothing" in history
    assert "“Left is tighter”" in history


def test_the_log_date_is_the_practices_local_day(app, setup, client):
    # 23:30 UTC on 31 March is 00:30 on 1 April in London (BST).
    app.config["PORTAL_CLOCK"] = lambda: datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    as_alex = client
    login(as_alex, setup.client.email)
    csrf, key, _ = item_form(as_alex, setup.items[CHILD])
    as_alex.post(f"/programme/items/{setup.items[CHILD]}/log",
                 data={"csrf_token": csrf, "client_key": key, "feedback": "nothing"})
    assert [r.local_date for r in logs(app)] == [date(2026, 4, 1)]


def test_a_double_submit_with_the_same_key_is_one_log(app, setup, as_alex):
    csrf, key, _ = item_form(as_alex, setup.items[CHILD])
    data = {"csrf_token": csrf, "client_key": key, "feedback": "mild_tension"}
    first = as_alex.post(f"/programme/items/{setup.items[CHILD]}/log", data=data)
    second = as_alex.post(f"/programme/items/{setup.items[CHILD]}/log", data=data)
    assert first.status_code == second.status_code == 302
    assert len(logs(app)) == 1
    assert "was already logged: we kept it once" in text(as_alex.get("/programme/"))


def test_pain_shows_the_regression_and_flags_the_therapist(app, setup, as_alex):
    csrf, key, _ = item_form(as_alex, setup.items[HIP])
    data = {"csrf_token": csrf, "client_key": key, "feedback_left": "pain",
            "feedback_right": "mild_tension"}
    response = as_alex.post(f"/programme/items/{setup.items[HIP]}/log", data=data)
    assert response.status_code == 200
    page = text(response)
    assert "Stop: that shouldn't hurt" in page
    assert "Stretching should feel like mild tension, never pain." in page
    assert "Next time, try the easier version Do it standing instead" in page
    assert "We've told your therapist." in page
    assert 'role="alert"' in response.get_data(as_text=True)
    # Sent again (a double tap): the same page, still one log.
    again = as_alex.post(f"/programme/items/{setup.items[HIP]}/log", data=data)
    assert "Do it standing instead" in text(again)
    assert len(logs(app)) == 1
    with app.app_context():
        flags = client_day.pain_flags(db.session, db.session.get(User, setup.client.id))
        assert [(f.client_id, f.exercise.slug, f.feedback_left) for f in flags] == [
            (setup.client.id, HIP, Feedback.PAIN)]
    assert "Pain reported" in text(as_alex.get("/programme/history"))


LONG_NOTE = "x" * 1001


@pytest.mark.parametrize(("slug", "fields", "message"), [
    (HIP, {"feedback_left": "agony", "feedback_right": "nothing"},
     "Choose nothing, mild tension or pain."),
    (HIP, {"feedback_left": "nothing"}, "Say how the right side felt."),
    (HIP, {"feedback": "nothing"}, "Say how the left side felt."),
    (CHILD, {"feedback": "PAIN"}, "Choose nothing, mild tension or pain."),
    (CHILD, {}, "Say how it felt."),
    (CHILD, {"feedback": "nothing", "client_key": "bad key!"},
     "The form is out of date. Reload the page."),
    (CHILD, {"feedback": "nothing", "client_key": ""},
     "The form is out of date. Reload the page."),
    (CHILD, {"feedback": "nothing", "local_date": "2026-03-05"},
     "You can't log a day that hasn't happened yet."),
    (CHILD, {"feedback": "nothing", "local_date": "2026-02-30"}, "That date isn't valid."),
    (CHILD, {"feedback": "nothing", "local_date": "yesterday"}, "That date isn't valid."),
    (CHILD, {"feedback": "nothing", "local_date": "2025-01-01"},
     "That day is too long ago to log."),
    (CHILD, {"feedback": "nothing", "moment": "midnight"}, "Choose a moment from the list."),
    (CHILD, {"feedback": "nothing", "note": LONG_NOTE}, "Keep the note under 1,000 characters."),
])
def test_bad_input_is_refused_with_a_message_and_nothing_written(app, setup, as_alex, slug,
                                                                 fields, message):
    csrf, key, _ = item_form(as_alex, setup.items[slug])
    data = {"csrf_token": csrf, "client_key": key, **fields}
    response = as_alex.post(f"/programme/items/{setup.items[slug]}/log", data=data)
    assert response.status_code == 400
    page = text(response)
    assert "Please check the form" in page
    assert message in page
    assert logs(app) == []


def test_the_log_form_keeps_answers_after_an_error(app, setup, as_alex):
    csrf, key, _ = item_form(as_alex, setup.items[HIP])
    response = as_alex.post(f"/programme/items/{setup.items[HIP]}/log", data={
        "csrf_token": csrf, "client_key": key, "feedback_left": "mild_tension",
        "note": "Tight today"})
    body = response.get_data(as_text=True)
    assert re.search(r'value="mild_tension"[^>]*checked|checked[^>]*value="mild_tension"', body)
    assert "Tight today" in body and f'value="{key}"' in body
    assert 'href="#feedback_right"' in body  # the summary links to the group to fix


# --- one tap: "Done, felt fine" -------------------------------------------------------------

QUICK_FORM = re.compile(r'<form class="quick-log__form"[^>]*action="([^"]+)"[^>]*>(.*?)</form>',
                        re.S)


@dataclass
class Tap:
    """One "Done, felt fine" form as a page shows it."""

    action: str
    fields: dict[str, str]  # csrf_token, client_key, moment, back


def taps(body: str) -> list[Tap]:
    """Every one-tap form on a page, in page order."""
    found = []
    for action, inside in QUICK_FORM.findall(body):
        fields = {}
        for tag in re.findall(r"<input\b[^>]*>", inside):
            name, value = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
        found.append(Tap(html.unescape(action), fields))
    return found


def tap_on(browser, page: str, item_id: int, moment: str | None = None) -> Tap:
    """The one-tap form of an item (at a moment, on Today) on a page."""
    body = browser.get(page).get_data(as_text=True)
    matches = [t for t in taps(body) if t.action == f"/programme/items/{item_id}/done"
               and (moment is None or t.fields.get("moment") == moment)]
    assert matches, f"no one-tap form for item {item_id} at {moment} on {page}"
    return matches[0]


def test_done_felt_fine_on_today_logs_once_and_comes_back_to_the_item(app, setup, as_alex):
    hip = setup.items[HIP]
    found = tap_on(as_alex, "/programme/", hip, "work_break")
    assert found.fields["back"] == "today" and re.fullmatch(r"[0-9a-f]{32}",
                                                             found.fields["client_key"])
    # Every form on the page has a key of its own (two taps are two logs).
    keys = [t.fields["client_key"] for t in taps(as_alex.get("/programme/").get_data(
        as_text=True))]
    assert len(keys) == 4 and len(set(keys)) == 4

    response = as_alex.post(found.action, data=found.fields)
    assert response.status_code == 302
    assert response.location == f"/programme/#entry-{hip}-work_break"
    today = as_alex.get("/programme/")
    body = today.get_data(as_text=True)
    assert "Logged: Kneeling hip flexor stretch, felt fine. Well done!" in text(today)
    work_break = sections(body)[1]
    assert work_break.startswith("Work break 1 of 1 done")
    # (The exercise's name is in the link's name, unseen: several items share the page.)
    assert "Done ✓ Done at 12:00, felt fine. Tell us how it felt : Kneeling hip flexor stretch" in (
        work_break)
    key = found.fields["client_key"]
    assert f'href="/programme/items/{hip}?moment=work_break&amp;log={key}#log"' in body
    # The other moment still offers the tap (twice a day), with a new key.
    assert tap_on(as_alex, "/programme/", hip, "morning").fields["client_key"] != key
    [row] = logs(app)
    assert (row.item_id, row.local_date, row.moment, row.note) == (hip, TODAY,
                                                                   Moment.WORK_BREAK, "")
    assert (row.feedback_left, row.feedback_right, row.feedback) == (Feedback.FINE,
                                                                     Feedback.FINE, None)
    assert not row.pain

    # The same tap again (a double tap, a resend): still one log.
    again = as_alex.post(found.action, data=found.fields)
    assert again.status_code == 302 and len(logs(app)) == 1
    assert "was already logged: we kept it once" in text(as_alex.get("/programme/"))
    history = text(as_alex.get("/programme/history"))
    assert "Today Kneeling hip flexor stretch Work break · 12:00 Left: Fine Right: Fine" in (
        history)


def test_a_replayed_tap_is_dated_the_day_it_was_made_and_logged_once(app, setup, as_alex):
    found = tap_on(as_alex, "/programme/", setup.items[CHILD])
    data = {**found.fields, "local_date": "2026-03-03"}
    for _ in range(2):
        assert as_alex.post(found.action, data=data).status_code == 302
    [row] = logs(app)
    assert (row.local_date, row.feedback) == (date(2026, 3, 3), Feedback.FINE)


@pytest.mark.parametrize("how", ["tap", "form"])
def test_the_home_page_logs_in_one_tap_and_counts_it_as_the_form_does(app, setup, as_alex, how):
    child = setup.items[CHILD]
    home = as_alex.get("/").get_data(as_text=True)
    # Each exercise once, in the order of the programme, each with its tap and its form.
    assert [t.action for t in taps(home)] == [
        f"/programme/items/{setup.items[slug]}/done" for slug in (HIP, CHILD, CAT)]
    assert [t.fields.get("moment") for t in taps(home)] == ["morning", "before_bed", None]
    assert f'href="/programme/items/{child}?moment=before_bed#log"' in home
    if how == "tap":
        found = tap_on(as_alex, "/", child)
        response = as_alex.post(found.action, data=found.fields)
        assert response.location == f"/#home-item-{child}"
    else:
        csrf, key, _ = item_form(as_alex, child, moment="before_bed")
        response = as_alex.post(f"/programme/items/{child}/log", data={
            "csrf_token": csrf, "client_key": key, "moment": "before_bed",
            "feedback": "mild_tension"})
    assert response.status_code == 302
    page = text(as_alex.get("/"))
    # The same progress, adherence and streak whichever way it was logged.
    assert "Today's programme 1 of 4 done today" in page
    assert "This week 8% done" in page
    assert "Streak 1 day in a row" in page
    assert ("Child's pose Hold 30 s, 2 rounds Done ✓ Done at 12:00, felt fine. "
            "Tell us how it felt : Child's pose" in page) is (how == "tap")
    assert len(taps(as_alex.get("/").get_data(as_text=True))) == 2
    [row] = logs(app)
    assert row.moment is Moment.BEFORE_BED


def test_tell_us_how_it_felt_after_a_tap_with_pain_flags_the_therapist(app, setup, as_alex):
    hip = setup.items[HIP]
    found = tap_on(as_alex, "/", hip)
    as_alex.post(found.action, data=found.fields)
    key = found.fields["client_key"]

    page = as_alex.get(f"/programme/items/{hip}?log={key}")
    body = page.get_data(as_text=True)
    assert "Tell us how it felt ✓ Logged at 12:00, felt fine. If it felt different" in text(page)
    assert re.search(rf'name="client_key"[^>]*value="{key}"|value="{key}"[^>]*name="client_key"',
                     body)
    assert "Save how it felt" in body and body.count('type="radio"') == 6
    # It stays one log: no second "Done, felt fine" here.
    assert taps(body) == []

    csrf = csrf_from(body)
    response = as_alex.post(f"/programme/items/{hip}/log", data={
        "csrf_token": csrf, "client_key": key, "feedback_left": "pain",
        "feedback_right": "mild_tension", "note": "Sharp at the front of the hip"})
    assert response.status_code == 200
    assert "Stop: that shouldn't hurt" in text(response)
    assert "Do it standing instead" in text(response)
    [row] = logs(app)
    assert (row.feedback_left, row.feedback_right, row.pain, row.moment) == (
        Feedback.PAIN, Feedback.MILD_TENSION, True, Moment.MORNING)
    assert row.note == "Sharp at the front of the hip"
    with app.app_context():
        flags = client_day.pain_flags(db.session)
        assert [(f.client_id, f.id) for f in flags] == [(setup.client.id, row.id)]
    # The therapist sees it among clients with pain reported.
    sign_in_directly(as_alex, setup.therapist)
    assert "Alex Morgan" in text(as_alex.get("/clients/?filter=pain"))


def test_telling_a_tap_without_an_answer_keeps_the_key_and_writes_nothing(app, setup, as_alex):
    child = setup.items[CHILD]
    found = tap_on(as_alex, "/programme/", child)
    as_alex.post(found.action, data=found.fields)
    key = found.fields["client_key"]
    csrf = csrf_from(as_alex.get(f"/programme/items/{child}?log={key}").get_data(as_text=True))
    response = as_alex.post(f"/programme/items/{child}/log",
                            data={"csrf_token": csrf, "client_key": key})
    assert response.status_code == 400
    assert "Say how it felt." in text(response) and "Tell us how it felt" in text(response)
    [row] = logs(app)
    assert row.feedback is Feedback.FINE
    # An old or strange key opens the page as usual, with a fresh key.
    for odd in ("not a key!", uuid.uuid4().hex):
        _, fresh, body = item_form(as_alex, child, log=odd)
        assert fresh != odd and "Log it" in body


def test_the_exercise_page_logs_in_one_tap_from_the_log_card_and_the_timer(app, setup,
                                                                           as_alex):
    cat = setup.items[CAT]
    body = as_alex.get(f"/programme/items/{cat}").get_data(as_text=True)
    timer, card = taps(body)
    assert (timer.fields["back"], card.fields["back"]) == ("timer", "item")
    # The timer's end is hidden with the timer until timer.js shows it.
    assert re.search(r'<div class="timer__end" data-timer-end hidden>', body)

    response = as_alex.post(timer.action, data=timer.fields)
    key = timer.fields["client_key"]
    assert response.location == f"/programme/items/{cat}?log={key}#timer"
    page = as_alex.get(f"/programme/items/{cat}?log={key}")
    assert "✓ Logged at 12:00, felt fine. Tell us how it felt Back to Today" in text(page)
    assert "Done today" in text(page)
    response = as_alex.post(card.action, data=card.fields)
    assert response.location == f"/programme/items/{cat}?log={card.fields['client_key']}#log"
    assert len(logs(app)) == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"client_key": "bad key!"}, "The form is out of date. Reload the page."),
    ({"client_key": ""}, "The form is out of date. Reload the page."),
    ({"moment": "midnight"}, "Choose a moment from the list."),
    ({"back": "https://example.com/"}, "The form is out of date. Reload the page."),
    ({"local_date": "2026-03-05"}, "You can't log a day that hasn't happened yet."),
    ({"local_date": "2026-02-30"}, "That date isn't valid."),
    ({"local_date": "2025-01-01"}, "That day is too long ago to log."),
])
def test_a_refused_tap_says_why_and_writes_nothing(app, setup, as_alex, fields, message):
    found = tap_on(as_alex, "/programme/", setup.items[CHILD])
    response = as_alex.post(found.action, data={**found.fields, **fields})
    assert response.status_code == 400
    assert message in text(response)
    assert logs(app) == []


def test_a_tap_on_another_clients_item_is_not_found_and_writes_nothing(app, setup, as_alex):
    found = tap_on(as_alex, "/programme/", setup.items[CHILD])
    for item_id in (setup.other_item, 999_999):
        response = as_alex.post(f"/programme/items/{item_id}/done", data=found.fields)
        assert response.status_code == 404
    no_csrf = {k: v for k, v in found.fields.items() if k != "csrf_token"}
    assert as_alex.post(found.action, data=no_csrf).status_code == 400
    sign_in_directly(as_alex, setup.therapist)
    therapist_csrf = csrf_from(as_alex.get("/dashboard/").get_data(as_text=True))
    response = as_alex.post(found.action, data={**found.fields, "csrf_token": therapist_csrf})
    assert response.status_code == 403
    assert logs(app) == []
    with app.app_context():
        assert client_day.pain_flags(db.session) == []


# --- who may see what -----------------------------------------------------------------------


def test_another_clients_item_is_not_found_for_view_and_log(app, setup, as_alex):
    csrf = item_form(as_alex, setup.items[HIP])[0]
    for item_id in (setup.other_item, 999_999):
        assert as_alex.get(f"/programme/items/{item_id}").status_code == 404
        response = as_alex.post(f"/programme/items/{item_id}/log", data={
            "csrf_token": csrf, "client_key": uuid.uuid4().hex,
            "feedback_left": "nothing", "feedback_right": "nothing"})
        assert response.status_code == 404
    assert logs(app) == []


def test_an_item_from_an_older_version_is_not_found(app, setup, as_alex):
    old_item = setup.items[CAT]
    with app.app_context():
        jo = db.session.get(User, setup.therapist.id)
        alex = db.session.get(User, setup.client.id)
        current = programmes.current_version(db.session, alex)
        programmes.save_version(db.session, jo, alex,
                                [ItemInput.from_item(i) for i in current.items[:2]], "", NOW)
        db.session.commit()
    assert as_alex.get(f"/programme/items/{old_item}").status_code == 404


def test_therapists_are_refused(app, setup, client):
    login(client, setup.therapist.email)
    for url in ("/programme/", f"/programme/items/{setup.items[HIP]}", "/programme/history"):
        assert client.get(url).status_code == 403, url
    html_page = client.get("/dashboard/").get_data(as_text=True)
    response = client.post(f"/programme/items/{setup.items[HIP]}/log", data={
        "csrf_token": csrf_from(html_page), "client_key": uuid.uuid4().hex,
        "feedback_left": "nothing", "feedback_right": "nothing"})
    assert response.status_code == 403
    assert logs(app) == []


def test_strangers_go_to_the_login_page(app, setup, client):
    for url in ("/programme/", f"/programme/items/{setup.items[HIP]}", "/programme/history"):
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login" in response.location


# --- fixed query counts ---------------------------------------------------------------------


def add_logs(app, setup: Setup, count: int) -> None:
    """`count` logs spread over the last three weeks and every item."""
    slugs = [HIP, CHILD, CAT]
    with app.app_context():
        alex = db.session.get(User, setup.client.id)
        for n in range(count):
            client_day.log_completion(
                db.session, alex, setup.items[slugs[n % 3]], FeedbackInput(
                    left=Feedback.NOTHING, right=Feedback.MILD_TENSION, both=Feedback.NOTHING),
                f"note {n}", uuid.uuid4().hex, TODAY - timedelta(days=n % 21), NOW)
        db.session.commit()


def statements_for(app, browser, url: str) -> int:
    """How many SQL statements one GET runs (counted on the engine during the request)."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        response = browser.get(url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, url
    return len(seen)


def test_query_counts_stay_the_same_with_ten_times_the_logs(app, setup, as_alex):
    urls = ["/programme/", f"/programme/items/{setup.items[HIP]}", "/programme/history", "/"]
    as_alex.get("/programme/")  # the first visit also marks the version as seen
    add_logs(app, setup, 5)
    small = {url: statements_for(app, as_alex, url) for url in urls}
    add_logs(app, setup, 45)
    large = {url: statements_for(app, as_alex, url) for url in urls}
    assert large == small
    assert small["/programme/"] <= 12, small
