"""The printable sheet, its read-only link and QR code, moments as calendar reminders, and the
service worker route: who may open what, what the share token reaches (only the shared page),
revocation, bad input, and the feed parsed back with icalendar."""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import segno
import sqlalchemy as sa
from dateutil.rrule import rrulestr
from icalendar import Calendar

from portal.extensions import db
from portal.models import CompletionLog, Moment, ProgrammeShare, User
from portal.seed.library import seed_library
from portal.services import calendar, moment_reminders, programme_shares, programmes
from portal.services.programmes import ItemInput
from tests.conftest import csrf_from, login, sign_in_directly, static_url

# Wednesday 4 March 2026, noon in London (GMT); the programme was set the week before.
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
STARTED = datetime(2026, 2, 25, 10, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
HIP, CHILD, CAT = "kneeling-hip-flexor-stretch", "childs-pose", "cat-cow"
NOTE = "Keep your ribs down and don't chase depth: little and often."
SHARE_URL = re.compile(r'id="share-url" type="url" value="([^"]+)"')


@dataclass
class Setup:
    """A therapist; Alex with a three-item programme; Sam with one item."""

    therapist: User
    client: User
    other: User
    items: dict[str, int]
    names: dict[str, str]


@pytest.fixture
def setup(app, make_therapist, make_client) -> Setup:
    """The hip flexor stretch (morning and work break, with a note), child's pose before bed
    and cat-cow at any time for Alex; the hip flexor stretch in the morning for Sam."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    therapist = make_therapist(name="Jo Fletcher")
    client = make_client(name="Alex Morgan")
    other = make_client(name="Sam Patel")
    with app.app_context():
        jo = db.session.get(User, therapist.id)
        exercises = {e.slug: e for e in seed_library(db.session, jo, STARTED - timedelta(days=1))}
        version = programmes.save_version(db.session, jo, db.session.get(User, client.id), [
            ItemInput.from_exercise(exercises[HIP], moments=("morning", "work_break"),
                                    personal_note=NOTE),
            ItemInput.from_exercise(exercises[CHILD], moments=("before_bed",)),
            ItemInput.from_exercise(exercises[CAT]),
        ], "Little and often this week.", STARTED)
        programmes.save_version(db.session, jo, db.session.get(User, other.id), [
            ItemInput.from_exercise(exercises[HIP], moments=("morning",)),
        ], "", STARTED)
        db.session.commit()
        slugs = {e.id: slug for slug, e in exercises.items()}
        items = {slugs[i.exercise_id]: i.id for i in version.items}
        names = {slug: e.name for slug, e in exercises.items()}
    return Setup(therapist, client, other, items, names)


@pytest.fixture
def as_alex(client, setup):
    """The test client signed in as Alex."""
    sign_in_directly(client, setup.client)
    return client


def signed_in(app, user: User):
    """A fresh browser signed in as the user."""
    browser = app.test_client()
    assert login(browser, user.email).status_code == 302
    return browser


def words(body: str) -> str:
    """The page's text: tags dropped, entities decoded, whitespace squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def post(browser, page: str, action: str, data: dict | None = None):
    """POST a form of a page with that page's CSRF token."""
    token = csrf_from(browser.get(page).get_data(as_text=True))
    return browser.post(action, data={"csrf_token": token, **(data or {})})


def create_link(browser, page: str = "/sheet/", action: str = "/sheet/link") -> str:
    """Press "Create link"; returns the read-only address the sheet then shows."""
    response = post(browser, page, action)
    assert response.status_code == 302
    assert response.location.endswith("#share")
    body = browser.get(page).get_data(as_text=True)
    match = SHARE_URL.search(body)
    assert match, "no read-only address on the sheet after creating a link"
    return html.unescape(match.group(1))


def token_of(url: str) -> str:
    path = urlsplit(url).path
    assert path.startswith("/sheet/s/")
    return path.removeprefix("/sheet/s/")


def shares(app) -> list[ProgrammeShare]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(ProgrammeShare).order_by(ProgrammeShare.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


# --- the sheet ------------------------------------------------------------------------------


def test_the_client_sees_their_programme_as_a_printable_sheet(app, setup, as_alex):
    response = as_alex.get("/sheet/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    page = words(body)
    assert "Your programme to print" in page
    assert "Home programme for Alex Morgan" in page
    # One card per exercise, in programme order, with dose, schedule, moments and steps.
    cards = body.split('<li class="sheet-card">')[1:]
    assert len(cards) == 3
    hip = words(cards[0])
    assert setup.names[HIP] in hip
    assert "30 s each side" in hip
    assert "Once a day, every day · Morning, work break" in hip
    assert "How to do it" in hip and "Take care" in hip
    assert "A note from your therapist " + NOTE in hip
    assert re.search(r'<img class="sheet-card__picture" src="/static/img/exercises/[a-z-]+'
                     r'\.[0-9a-f]{12}\.svg"', cards[0])
    assert "Any time" in words(cards[2])
    # The day at a glance.
    assert f"Morning {setup.names[HIP]}" in page
    assert f"Before bed {setup.names[CHILD]}" in page
    # A print stylesheet, and no QR code until a link exists.
    assert f'href="{static_url(app, "css/print.css")}" media="print"' in body
    assert "sheet-qr" not in body
    assert "Create link" in page
    assert "<script>" not in body and " style=" not in body


def test_who_may_open_which_sheet(app, setup, client, as_alex):
    alex, sam = setup.client.id, setup.other.id
    stranger = app.test_client()
    for url in ("/sheet/", f"/sheet/client/{alex}", "/sheet/moments", "/sheet/sw.js"):
        response = stranger.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response.location).path == "/auth/login"

    # The client: their own sheet only; the therapist's route is refused.
    assert as_alex.get("/sheet/").status_code == 200
    assert as_alex.get(f"/sheet/client/{sam}").status_code == 403
    assert as_alex.get(f"/sheet/client/{alex}").status_code == 403

    # The therapist: any client's sheet; not a therapist's or a missing user's.
    jo = signed_in(app, setup.therapist)
    assert jo.get("/sheet/").status_code == 403
    response = jo.get(f"/sheet/client/{sam}")
    assert response.status_code == 200
    assert "Sam Patel's programme to print" in words(response.get_data(as_text=True))
    assert jo.get(f"/sheet/client/{setup.therapist.id}").status_code == 404
    assert jo.get("/sheet/client/999999").status_code == 404
    assert jo.get("/sheet/moments").status_code == 403
    assert jo.get("/sheet/sw.js").status_code == 403


# --- the read-only link and its QR code -----------------------------------------------------


def test_creating_a_link_shows_a_qr_code_that_encodes_it(app, setup, as_alex):
    url = create_link(as_alex)
    assert url.startswith("http://localhost/sheet/s/")
    body = as_alex.get("/sheet/").get_data(as_text=True)
    svg = re.search(r"<svg\b.*?</svg>", body, re.S)
    assert svg, "no inline QR code"
    assert 'role="img"' in svg.group(0) and "<title>" in svg.group(0)
    assert 'viewBox="0 0 ' in svg.group(0) and "width=" not in svg.group(0)
    assert "data:" not in body  # the CSP allows no data: images
    # The same URL encoded independently draws exactly the same modules.
    def modules(svg_text: str) -> str:
        # The dark modules' path (the other path is the white background square).
        return max(re.findall(r' d="([^"]+)"', svg_text), key=len)

    drawn = modules(svg.group(0))
    assert modules(segno.make(url, error="m", micro=False).svg_inline()) == drawn
    # ...and a different address would not.
    assert modules(segno.make(url[:-1] + "x", error="m", micro=False).svg_inline()) != drawn

    # The link opens Alex's programme.
    with app.app_context():
        assert programme_shares.resolve_share(db.session, token_of(url)).id == setup.client.id


def test_only_a_fingerprint_of_the_token_is_stored(app, setup, as_alex):
    token = token_of(create_link(as_alex))
    [row] = shares(app)
    assert row.client_id == setup.client.id and row.revoked_at is None
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(vars(row))
    # Knowing the stored fingerprint opens nothing: the lookup hashes what it is given, so it
    # compares SHA-256 digests (no timing clue about the token) and a leaked table is useless.
    stranger = app.test_client()
    assert stranger.get(f"/sheet/s/{row.token_hash}").status_code == 404
    assert stranger.get(f"/sheet/s/{token}").status_code == 200


def test_the_shared_page_is_read_only_and_reaches_nothing_else(app, setup, as_alex):
    token = token_of(create_link(as_alex))
    stranger = app.test_client()
    response = stranger.get(f"/sheet/s/{token}")
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers  # no session for whoever holds the link
    body = response.get_data(as_text=True)
    page = words(body)
    assert setup.names[HIP] in page and setup.names[CHILD] in page and NOTE in page
    assert "30 s each side" in page and "Morning, work break" in page
    # No navigation, forms, scripts or links into the site; not even the client's name.
    for tag in ("<a ", "<form", "<nav", "<script", "<button", "<input"):
        assert tag not in body, tag
    assert "Alex Morgan" not in page and setup.client.email not in body
    assert 'name="robots" content="noindex' in body
    assert stranger.get_cookie("portal_session") is None

    # The token is the key to this one page and nothing else.
    for url in (f"/sheet/s/{token}/", f"/sheet/s/{token}/edit", f"/sheet/s/{token}.ics",
                f"/calendar/{token}.ics", f"/sheet/moments/{token}.ics",
                f"/programme/items/{setup.items[HIP]}?token={token}"):
        response = stranger.get(url)
        assert response.status_code in (302, 404), url
        if response.status_code == 302:
            assert urlsplit(response.location).path == "/auth/login", url
    # (The front page, "/", is public: it shows nothing of anyone's.)
    assert "Alex" not in words(stranger.get(f"/?token={token}").get_data(as_text=True))
    for url in ("/programme/", "/sheet/", "/account/", "/programme/history"):
        response = stranger.get(f"{url}?token={token}")
        assert response.status_code == 302, url
        assert urlsplit(response.location).path == "/auth/login", url
    response = stranger.post("/sheet/link/off", data={"token": token})
    assert response.status_code == 302 and "/auth/login" in response.location
    assert len([s for s in shares(app) if s.revoked_at is None]) == 1


def test_turning_the_link_off_makes_it_404(app, setup, as_alex):
    token = token_of(create_link(as_alex))
    stranger = app.test_client()
    assert stranger.get(f"/sheet/s/{token}").status_code == 200

    response = post(as_alex, "/sheet/", "/sheet/link/off")
    assert response.status_code == 302
    followed = as_alex.get("/sheet/").get_data(as_text=True)
    assert "The link is turned off" in words(followed)
    assert "sheet-qr" not in followed and "Create link" in words(followed)

    gone = stranger.get(f"/sheet/s/{token}")
    assert gone.status_code == 404
    assert gone.headers["Referrer-Policy"] == "no-referrer"
    body = gone.get_data(as_text=True)
    assert "This link doesn't work any more" in words(body)
    assert "<a " not in body and "<form" not in body
    assert all(s.revoked_at is not None for s in shares(app))


@pytest.mark.parametrize("token", [
    "x", "not-a-real-token", "A" * 43, "a" * 129, "..%2F..%2Fetc", "abc def" * 5, "é" * 30,
])
def test_garbage_tokens_404(app, setup, token):
    response = app.test_client().get(f"/sheet/s/{token}")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers


def test_a_nul_byte_in_the_token_is_refused_before_the_database(app, setup):
    # The app-wide hygiene check answers first (PostgreSQL can't take NUL in a query).
    assert app.test_client().get("/sheet/s/" + "%00" * 30).status_code == 400


def test_a_token_only_opens_its_own_clients_programme(app, setup, as_alex):
    alex_token = token_of(create_link(as_alex))
    sam = signed_in(app, setup.other)
    sam_token = token_of(create_link(sam))
    stranger = app.test_client()
    alex_page = words(stranger.get(f"/sheet/s/{alex_token}").get_data(as_text=True))
    sam_page = words(stranger.get(f"/sheet/s/{sam_token}").get_data(as_text=True))
    assert setup.names[CHILD] in alex_page and NOTE in alex_page
    assert setup.names[CHILD] not in sam_page and NOTE not in sam_page
    # Sam can't turn Alex's links on or off.
    assert post(sam, "/sheet/", f"/sheet/client/{setup.client.id}/link").status_code == 403
    assert post(sam, "/sheet/", f"/sheet/client/{setup.client.id}/link/off").status_code == 403
    # Sam turning off Sam's own link leaves Alex's working.
    post(sam, "/sheet/", "/sheet/link/off")
    assert stranger.get(f"/sheet/s/{alex_token}").status_code == 200
    assert stranger.get(f"/sheet/s/{sam_token}").status_code == 404


def test_a_deactivated_clients_link_stops_working(app, setup, as_alex):
    token = token_of(create_link(as_alex))
    with app.app_context():
        db.session.get(User, setup.client.id).active = False
        db.session.commit()
    assert app.test_client().get(f"/sheet/s/{token}").status_code == 404


def test_the_therapist_creates_and_turns_off_a_clients_link(app, setup, as_alex):
    alex = setup.client.id
    jo = signed_in(app, setup.therapist)
    page = f"/sheet/client/{alex}"
    url = create_link(jo, page, f"/sheet/client/{alex}/link")
    token = token_of(url)
    assert "sheet-qr" in jo.get(page).get_data(as_text=True)
    stranger = app.test_client()
    assert stranger.get(f"/sheet/s/{token}").status_code == 200

    # Alex's own sheet knows a link exists, but only the browser that made it has the code.
    own = words(as_alex.get("/sheet/").get_data(as_text=True))
    assert "There is 1 working link" in own
    assert "Turn off link" in own

    response = post(jo, page, f"/sheet/client/{alex}/link/off")
    assert response.status_code == 302 and response.location.endswith(f"{page}#share")
    assert stranger.get(f"/sheet/s/{token}").status_code == 404
    assert "sheet-qr" not in jo.get(page).get_data(as_text=True)


def test_the_client_can_turn_off_a_link_the_therapist_made(app, setup, as_alex):
    jo = signed_in(app, setup.therapist)
    alex = setup.client.id
    token = token_of(create_link(jo, f"/sheet/client/{alex}", f"/sheet/client/{alex}/link"))
    post(as_alex, "/sheet/", "/sheet/link/off")
    assert app.test_client().get(f"/sheet/s/{token}").status_code == 404
    # The therapist's page no longer offers the dead code.
    assert "sheet-qr" not in jo.get(f"/sheet/client/{alex}").get_data(as_text=True)


def test_sheet_for_a_client_without_a_programme(app, make_client, client, practice):
    nobody = make_client()
    login(client, nobody.email)
    response = client.get("/sheet/")
    assert response.status_code == 200
    assert "You have no programme yet" in words(response.get_data(as_text=True))
    token = token_of(create_link(client))
    shared = app.test_client().get(f"/sheet/s/{token}")
    assert shared.status_code == 200
    assert "There are no exercises in this programme yet" in words(shared.get_data(as_text=True))


# --- moments as reminders -------------------------------------------------------------------


def times_of(app, user_id: int) -> dict[Moment, time]:
    with app.app_context():
        return moment_reminders.moment_times(db.session, db.session.get(User, user_id))


def test_the_moments_page_lists_each_moment_with_its_stretches(setup, as_alex):
    response = as_alex.get("/sheet/moments")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for name in ("morning", "work_break", "after_training", "before_bed"):
        assert re.search(rf'<input[^>]*id="{name}"[^>]*type="time"', body) or re.search(
            rf'<input[^>]*type="time"[^>]*id="{name}"', body), name
    page = words(body)
    assert f"Morning Stretches: {setup.names[HIP]}" in page
    assert f"Before bed Stretches: {setup.names[CHILD]}" in page
    assert "After training No stretches at this moment yet" in page
    assert "Create my reminders address" in page


def test_saving_moment_times(app, setup, as_alex):
    response = post(as_alex, "/sheet/moments", "/sheet/moments", {
        "morning": "07:30", "work_break": "12:30", "after_training": "", "before_bed": "22:00",
    })
    assert response.status_code == 302
    assert times_of(app, setup.client.id) == {
        Moment.MORNING: time(7, 30), Moment.WORK_BREAK: time(12, 30),
        Moment.BEFORE_BED: time(22, 0)}
    page = as_alex.get("/sheet/moments").get_data(as_text=True)
    assert "Your reminder times are saved" in words(page)
    assert re.search(r'id="morning"[^>]*value="07:30"|value="07:30"[^>]*id="morning"', page)

    # Changing one, clearing one; seconds and a single-digit hour are fine.
    post(as_alex, "/sheet/moments", "/sheet/moments", {
        "morning": "6:45:00", "work_break": "", "after_training": "18:00", "before_bed": "22:00",
    })
    assert times_of(app, setup.client.id) == {
        Moment.MORNING: time(6, 45), Moment.AFTER_TRAINING: time(18, 0),
        Moment.BEFORE_BED: time(22, 0)}


@pytest.mark.parametrize(("field", "value"), [
    ("morning", "25:00"), ("morning", "7:60"), ("work_break", "lunch"), ("before_bed", "-1:00"),
    ("after_training", "12:30pm"), ("morning", "07:30:00:00"), ("morning", "0730"),
])
def test_bad_times_are_refused_and_nothing_is_written(app, setup, as_alex, field, value):
    post(as_alex, "/sheet/moments", "/sheet/moments", {"morning": "07:30", "before_bed": "22:00"})
    before = times_of(app, setup.client.id)
    data = {"morning": "08:00", "work_break": "12:00", "after_training": "18:00",
            "before_bed": "21:30", field: value}
    response = post(as_alex, "/sheet/moments", "/sheet/moments", data)
    assert response.status_code == 400
    page = words(response.get_data(as_text=True))
    label = Moment(field).label.lower()
    assert f"Enter the {label} time as hours and minutes, like" in page
    assert "or leave it empty" in page
    # A type="time" input may only carry a real time: the bad text is not echoed back, the
    # good ones are, and nothing a time input does not allow is rendered.
    html = response.get_data(as_text=True)
    inputs = re.findall(r'<input[^>]*type="time"[^>]*>', html)
    assert len(inputs) == 4
    assert not [tag for tag in inputs if "maxlength" in tag or "placeholder" in tag]
    assert f'value="{value}"' not in html
    assert all(re.search(r'value="(\d\d:\d\d)?"', tag) for tag in inputs)
    assert times_of(app, setup.client.id) == before  # the valid ones weren't saved either


def test_moments_without_csrf_write_nothing(app, setup, as_alex):
    response = as_alex.post("/sheet/moments", data={"morning": "07:30"})
    assert response.status_code == 400
    assert times_of(app, setup.client.id) == {}


def feed_url_of(browser) -> str:
    body = browser.get("/sheet/moments").get_data(as_text=True)
    match = re.search(r'id="reminders-url" type="url" value="([^"]+)"', body)
    assert match, "no reminders address on the page"
    return html.unescape(match.group(1))


def test_the_reminders_feed_has_a_daily_event_per_moment(app, setup, as_alex):
    post(as_alex, "/sheet/moments", "/sheet/moments", {
        "morning": "07:30", "work_break": "12:30", "after_training": "18:00",
        "before_bed": "22:00"})
    response = post(as_alex, "/sheet/moments", "/sheet/moments/feed")
    assert response.status_code == 302 and response.location.endswith("#reminders-feed")
    url = feed_url_of(as_alex)
    path = urlsplit(url).path
    assert re.fullmatch(r"/sheet/moments/[A-Za-z0-9_-]{40,64}\.ics", path)
    page = as_alex.get("/sheet/moments").get_data(as_text=True)
    assert f'href="webcal://localhost{path}"' in page

    stranger = app.test_client()
    response = stranger.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert "Set-Cookie" not in response.headers
    text = response.get_data(as_text=True)
    # Hints for how often calendar apps fetch it again (Apple/Outlook, and Google's own).
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT12H\r\n" in text
    assert "X-PUBLISHED-TTL:PT12H\r\n" in text
    cal = Calendar.from_ical(response.get_data())
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]).startswith("-//Portal//")
    zones = list(cal.walk("VTIMEZONE"))
    assert [str(z["TZID"]) for z in zones] == ["Europe/London"]
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    # After training has a time but no stretches: no empty reminder.
    assert len(events) == 3
    by_summary = {str(e["SUMMARY"]): e for e in events.values()}
    assert set(by_summary) == {
        f"Morning stretches: {setup.names[HIP]}",
        f"Work break stretches: {setup.names[HIP]}",
        f"Before bed stretches: {setup.names[CHILD]}",
    }
    morning = by_summary[f"Morning stretches: {setup.names[HIP]}"]
    raw = morning.to_ical().decode()
    assert "DTSTART;TZID=Europe/London:20260225T073000" in raw
    start = morning.decoded("DTSTART")
    assert start.tzinfo is not None and start.time() == time(7, 30)
    assert morning["RRULE"]["FREQ"] == ["DAILY"]
    assert morning.decoded("DTSTAMP") == NOW
    assert morning.decoded("DURATION") == timedelta(minutes=10)
    assert "30 s each side" in str(morning["DESCRIPTION"])
    assert "http://localhost/programme/" in str(morning["DESCRIPTION"])
    assert str(morning["URL"]) == "http://localhost/programme/"
    [alarm] = morning.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY" and alarm.decoded("TRIGGER") == timedelta(0)
    assert str(alarm["DESCRIPTION"])
    for event in events.values():
        assert {"UID", "DTSTAMP", "DTSTART", "RRULE", "SUMMARY"} <= set(event)
        assert f"client-{setup.client.id}" in str(event["UID"])
    assert len({str(e["UID"]) for e in events.values()}) == 3

    # The time stays 07:30 in London across the change to summer time (29 March 2026).
    rule = rrulestr(morning["RRULE"].to_ical().decode(), dtstart=start)
    before, after = rule.between(datetime(2026, 3, 28, tzinfo=LONDON),
                                 datetime(2026, 3, 31, tzinfo=LONDON))[0::2]
    assert before.astimezone(UTC).hour == 7 and after.astimezone(UTC).hour == 6
    assert after.astimezone(LONDON).time() == time(7, 30)

    # Stable UIDs: changing a time moves the same event.
    post(as_alex, "/sheet/moments", "/sheet/moments", {
        "morning": "08:15", "work_break": "", "after_training": "", "before_bed": "22:00"})
    again = Calendar.from_ical(stranger.get(path).get_data())
    moved = {str(e["UID"]): e for e in again.walk("VEVENT")}
    assert set(moved) < set(events)
    morning_uid = str(morning["UID"])
    assert moved[morning_uid].decoded("DTSTART").time() == time(8, 15)


def test_reminders_feed_with_no_times_is_an_empty_valid_calendar(app, setup, as_alex):
    post(as_alex, "/sheet/moments", "/sheet/moments/feed")
    response = app.test_client().get(urlsplit(feed_url_of(as_alex)).path)
    assert response.status_code == 200
    cal = Calendar.from_ical(response.get_data())
    assert cal.walk("VEVENT") == [] and str(cal["VERSION"]) == "2.0"


def test_the_reminders_feed_shares_the_calendar_secret_and_nothing_more(app, setup, as_alex):
    post(as_alex, "/sheet/moments", "/sheet/moments", {"morning": "07:30"})
    post(as_alex, "/sheet/moments", "/sheet/moments/feed")
    path = urlsplit(feed_url_of(as_alex)).path
    token = path.removeprefix("/sheet/moments/").removesuffix(".ics")
    with app.app_context():
        assert db.session.get(User, setup.client.id).calendar_token == token
        jo = db.session.get(User, setup.therapist.id)
        therapist_token = calendar.feed_token(db.session, jo)
        db.session.commit()
    stranger = app.test_client()
    # The sessions feed on the same secret works too; a therapist's secret opens no reminders.
    assert stranger.get(f"/calendar/{token}.ics").status_code == 200
    assert stranger.get(f"/sheet/moments/{therapist_token}.ics").status_code == 404
    for bad in ("x", "A" * 43, token[:-1], "a" * 65):
        assert stranger.get(f"/sheet/moments/{bad}.ics").status_code == 404, bad
    # Turning the calendar address off on the account page stops the reminders too.
    response = post(as_alex, "/account/", "/calendar/feed/off")
    assert response.status_code == 302
    assert stranger.get(path).status_code == 404


# --- offline ----------------------------------------------------------------------------------


def test_the_service_worker_is_served_for_the_programme_scope(setup, as_alex):
    response = as_alex.get("/sheet/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/programme/"
    assert response.headers["Cache-Control"] == "no-store"
    assert "addEventListener(\"fetch\"" in response.get_data(as_text=True)


def test_today_and_exercise_pages_carry_the_offline_hook(app, setup, as_alex):
    today = as_alex.get("/programme/").get_data(as_text=True)
    item = as_alex.get(f"/programme/items/{setup.items[HIP]}").get_data(as_text=True)
    for body in (today, item):
        hook = re.search(r"<script[^>]*data-offline[^>]*>", body, re.S)
        assert hook, "no offline hook"
        tag = hook.group(0)
        assert f'src="{static_url(app, "js/offline.js")}"' in tag and 'type="module"' in tag
        assert 'data-offline-sw="/sheet/sw.js"' in tag
        assert 'data-offline-scope="/programme/"' in tag
        assert f'data-offline-user="{setup.client.id}"' in tag
        assert 'data-offline-timezone="Europe/London"' in tag
    assert 'href="/sheet/"' in today and 'href="/sheet/moments"' in today


def test_a_replayed_offline_log_is_stored_once_on_its_own_day(app, setup, as_alex):
    """The server side of offline.js: it sends the kept form fields plus local_date, maybe
    more than once; one log is stored, dated the day it was made."""
    page = as_alex.get(f"/programme/items/{setup.items[CHILD]}?moment=before_bed")
    body = page.get_data(as_text=True)
    fields = {
        "csrf_token": csrf_from(body),
        "client_key": uuid.uuid4().hex,
        "moment": "before_bed",
        "feedback": "mild_tension",
        "note": "Done on the train, offline",
        "local_date": (NOW.date() - timedelta(days=1)).isoformat(),
    }
    for _ in range(2):
        response = as_alex.post(f"/programme/items/{setup.items[CHILD]}/log", data=fields)
        assert response.status_code == 302
        assert urlsplit(response.location).path == "/programme/"
    with app.app_context():
        logs = list(db.session.scalars(sa.select(CompletionLog)))
        assert len(logs) == 1
        assert logs[0].local_date == date(2026, 3, 3)
        assert logs[0].client_key == fields["client_key"]
        assert logs[0].note == "Done on the train, offline"
