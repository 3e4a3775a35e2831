"""Route-walking security checks: every route in app.url_map, including ones added later, is
checked for who may open it, and every form POST for its CSRF token.

A new public route must be added to PUBLIC below; a new therapist-only blueprint to
THERAPIST_BLUEPRINTS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Blueprint, Flask
from werkzeug.routing import Rule

from portal import create_app
from portal.extensions import db
from portal.models import Role, User, utcnow
from portal.services import messages
from portal.web import access
from tests.conftest import (
    TEST_PASSWORD,
    app_code,
    base_config,
    csrf_from,
    form_post,
    login,
    sign_in_directly,
)
from tests.messages_support import make_people

# Endpoints anyone may open without signing in. Keep this list short and deliberate.
PUBLIC = {
    "static",
    "auth.login",
    "auth.forgot",
    "auth.reset",
    "auth.accept_invite",
    "auth.register",
    "home.healthz",
    # The practice's front page: visitors read about the practice, its services and articles,
    # and find "Book a session" (which asks them to sign in); signed-in users get their own
    # home (clients) or the dashboard (therapists), as before.
    "home.index",
    # For search engines: which pages may be crawled (the front page and the articles), and
    # the list of them. Nothing private is in either.
    "home.robots",
    "home.sitemap",
    # The practice's published articles, their Atom feed, and the picture of the exercise a
    # published article features (only that picture: other uploads stay behind sign-in).
    # Drafts and articles whose date is still to come answer 404 (tests/web/test_articles_web.py).
    "articles.index",
    "articles.show",
    "articles.feed",
    "articles.picture",
    # The "Get in touch" form ("Ask about this stretch"): anyone may ask the practice a
    # question. Rate limited, with a honeypot; it stores the enquiry and emails only a note
    # (tests/web/test_enquiries_web.py). "sent" is the thank-you page after it.
    "ask.index",
    "ask.sent",
    # The private calendar feed: the secret token in its address is the credential, because
    # calendar apps cannot sign in. It reveals only its owner's appointments.
    "calendar.feed",
    # The read-only programme link (printed as a QR code): the secret token in its address is
    # the credential. It shows one client's programme, with no navigation, forms or links,
    # sets no session, and opens nothing else (tests/web/test_sheet_web.py).
    "sheet.shared",
    # The moments reminders feed: like calendar.feed, calendar apps fetch it without signing
    # in; the user's calendar secret opens only their own daily stretch reminders.
    "sheet.moments_feed",
    # Signing in with a passkey alone: the passkey's signature is the credential.
    "auth.passkey",
    # The second step of signing in (a code, a recovery code or a passkey): whoever is here is
    # not signed in yet. Each answers only with a note in the session that the password was
    # right a few minutes ago, and sends everyone else to the login page (SECOND_STEP below).
    *(SECOND_STEP := {"auth.second_step", "auth.recovery", "auth.second_step_passkey"}),
    # A browser signed out from elsewhere reports that it forgot its offline Today: it is
    # signed out by definition. It reads and returns nothing; it only drops a note in that
    # browser's own session (CSRF-checked) and tells that browser to clear its storage.
    "auth.device_forgotten",
}
# The pages a therapist who has not set up a second factor may open: setting one up, and
# signing out. Every other page sends them to the first (portal.web.second_factor).
OPEN_DURING_ENROLMENT = {"account.two_factor", "account.app_setup", "account.passkey_add",
                         "auth.logout"}
# Blueprints whose every route is for therapists only.
# "builder" holds only the old /builder/ addresses of Programmes (redirects), guarded the same way.
THERAPIST_BLUEPRINTS = {"dashboard", "clients", "diary", "library", "programmes", "builder",
                        "settings", "writing", "enquiries"}
# The deliberate exceptions inside those blueprints: routes clients may open too. Uploaded
# exercise pictures belong to the library that stores them, but clients see them on their
# home page and exercise pages, so the picture route admits both roles (and nothing else of
# the library does). Keep this set short; each entry must declare exactly CLIENT_AND_THERAPIST.
SHARED_WITH_CLIENTS = {"library.picture"}
CLIENT_AND_THERAPIST = frozenset({Role.CLIENT, Role.THERAPIST})

IGNORED_METHODS = {"HEAD", "OPTIONS"}
DUMMY_VALUES = {"int": "1", "float": "1.5", "uuid": "00000000-0000-4000-8000-000000000001"}
ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
# What a form might carry: enough that a route missing its CSRF check would really write.
FORM_DATA = {
    "email": "someone.new@example.com",
    "name": "Someone New",
    "password": TEST_PASSWORD,
    "confirm": TEST_PASSWORD,
    "current_password": TEST_PASSWORD,
    "new_password": "another quiet harbour",
    "confirm_password": "another quiet harbour",
    "active": "0",
    "timezone": "Europe/London",
}


@dataclass(frozen=True)
class Route:
    endpoint: str
    url: str
    methods: tuple[str, ...]

    @property
    def blueprint(self) -> str:
        return self.endpoint.rpartition(".")[0]

    def __str__(self) -> str:
        return f"{self.endpoint} ({self.url})"


def fill(rule: Rule) -> str:
    """The rule's URL with each converter given a dummy value (int -> 1, string/path -> x)."""

    def value(match: re.Match) -> str:
        converter = match.group("converter") or "default"
        if converter == "any":
            return match.group("args").split(",")[0].strip().strip("'\"")
        return DUMMY_VALUES.get(converter, "x")

    return ARGUMENT.sub(value, rule.rule)


def routes(app: Flask) -> list[Route]:
    """Every route of the app with a concrete URL and the methods worth trying."""
    found = [
        Route(rule.endpoint, fill(rule), tuple(sorted((rule.methods or set()) - IGNORED_METHODS)))
        for rule in app.url_map.iter_rules()
    ]
    assert len(found) > len(PUBLIC), "the URL map looks empty: is the route walk broken?"
    return sorted(found, key=lambda route: (route.endpoint, route.url))


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table, to prove that a request wrote nothing."""
    with app.app_context():
        db.session.remove()
        return {
            table.name: sorted(
                (tuple(map(repr, row)) for row in db.session.execute(sa.select(table))),
            )
            for table in db.metadata.sorted_tables
        }


# --- declarations -----------------------------------------------------------------------


def test_every_endpoint_declares_who_may_open_it(app):
    undeclared = sorted(e for e in app.view_functions if access.access_of(app, e) is None)
    assert undeclared == [], "add @public, @roles(...) or restrict(blueprint, ...) to these"


def test_public_endpoints_are_exactly_the_allow_list(app):
    public = {e for e in app.view_functions if access.access_of(app, e) == access.PUBLIC}
    assert public == PUBLIC, "a route became public (or stopped being): update PUBLIC on purpose"


def test_therapist_blueprints_exist_and_are_for_therapists(app):
    for name in THERAPIST_BLUEPRINTS:
        assert name in app.blueprints
        endpoints = [r.endpoint for r in routes(app) if r.blueprint == name]
        assert endpoints, f"blueprint {name} has no routes"
        for endpoint in endpoints:
            expected = (CLIENT_AND_THERAPIST if endpoint in SHARED_WITH_CLIENTS
                        else frozenset({Role.THERAPIST}))
            assert access.access_of(app, endpoint) == expected, endpoint
    assert set(app.view_functions) >= SHARED_WITH_CLIENTS, "a shared route was renamed"


# --- strangers --------------------------------------------------------------------------


def test_every_private_route_sends_strangers_to_login(app, client, practice):
    problems, checked = [], set()
    for route in routes(app):
        if route.endpoint in PUBLIC:
            continue
        for method in route.methods:
            response = client.open(route.url, method=method)
            checked.add(route.endpoint)
            target = urlsplit(response.location or "")
            if response.status_code != 302 or target.path != "/auth/login" or target.netloc:
                problems.append(f"{method} {route}: {response.status_code} {response.location}")
    assert problems == []
    assert {"account.index", "dashboard.index", "auth.logout", "writing.index",
            "enquiries.index"} <= checked


def test_public_routes_answer_strangers_without_errors(app, client, request):
    public_routes = [r for r in routes(app) if r.endpoint in PUBLIC and "GET" in r.methods]
    # Passkey answers, and a signed-out browser's report that it forgot its offline Today
    # (tests/web/test_forget_device.py), are only ever posted.
    assert {r.endpoint for r in public_routes} == PUBLIC - {"auth.passkey",
                                                            "auth.second_step_passkey",
                                                            "auth.device_forgotten"}

    # Once before the practice is set up (a fresh install), once after.
    for stage in ("no practice", "practice"):
        if stage == "practice":
            request.getfixturevalue("practice")
        for route in public_routes:
            response = client.get(route.url)
            if route.endpoint in SECOND_STEP:
                # Nobody gave a password in this browser: back to the first step.
                assert response.status_code == 302, f"{stage}: GET {route}"
                assert urlsplit(response.location).path == "/auth/login"
                continue
            assert response.status_code in (200, 404), f"{stage}: GET {route}"
            if route.endpoint in {"auth.reset", "auth.accept_invite"}:
                # A junk token gets the friendly page that offers a fresh link.
                assert response.status_code == 404
                assert 'href="/auth/forgot"' in response.get_data(as_text=True), route
    assert client.get("/healthz").get_json() == {"status": "ok"}


# --- half signed in ---------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.CLIENT])
def test_half_signed_in_is_a_stranger_everywhere_but_the_second_step(app, client, make_user,
                                                                     role):
    """After the right password and before the second factor, every route that is not public
    answers as it does a stranger: a redirect to the login page."""
    user = make_user(role=role, two_factor=True)
    first = form_post(client, "/auth/login", {"email": user.email, "password": TEST_PASSWORD})
    assert urlsplit(first.location).path == "/auth/two-factor"
    assert client.get("/auth/two-factor").status_code == 200  # the half state is live

    problems = []
    for route in routes(app):
        if route.endpoint in PUBLIC:
            continue
        for method in route.methods:
            response = client.open(route.url, method=method, data=FORM_DATA)
            target = urlsplit(response.location or "")
            if response.status_code != 302 or target.path != "/auth/login":
                problems.append(f"{method} {route}: {response.status_code} {response.location}")
    assert problems == []
    # Still half signed in, and the code step still finishes the sign-in.
    finished = form_post(client, "/auth/two-factor", {"code": app_code(app, user.email)})
    assert finished.status_code == 302
    assert client.get("/account/").status_code == 200


# --- a therapist without a second factor ---------------------------------------------------


def test_only_setting_up_a_second_factor_is_open_during_enrolment(app):
    open_pages = {e for e in app.view_functions
                  if access.is_open_during_enrolment(app, e) and e not in PUBLIC}
    assert open_pages == OPEN_DURING_ENROLMENT


def test_a_therapist_without_a_second_factor_is_sent_to_set_one_up_from_every_route(
        app, client, make_therapist, first_client):
    therapist = make_therapist(two_factor=False)
    assert login(client, therapist.email).status_code == 302
    before = snapshot(app)

    problems, checked = [], 0
    for route in routes(app):
        if route.endpoint in PUBLIC or route.endpoint in OPEN_DURING_ENROLMENT:
            continue
        for method in route.methods:
            response = client.open(route.url, method=method, data=FORM_DATA)
            checked += 1
            if Role.THERAPIST not in access.access_of(app, route.endpoint):
                # A clients' page refuses every therapist, enrolled or not.
                if response.status_code != 403:
                    problems.append(f"{method} {route}: {response.status_code}")
                continue
            target = urlsplit(response.location or "")
            if response.status_code != 302 or target.path != "/account/two-factor":
                problems.append(f"{method} {route}: {response.status_code} {response.location}")
    assert problems == []
    assert checked > 50
    assert snapshot(app) == before

    for url in ("/account/two-factor", "/account/two-factor/app",
                "/account/two-factor/passkeys/new"):
        assert client.get(url).status_code == 200, url
    assert form_post(client, "/account/two-factor", {}, action="/auth/logout").status_code == 302
    assert urlsplit(client.get("/account/two-factor").location).path == "/auth/login"


# --- the wrong role ---------------------------------------------------------------------


def test_therapist_areas_refuse_signed_in_clients(app, as_client):
    problems, checked = [], set()
    for route in routes(app):
        if route.blueprint not in THERAPIST_BLUEPRINTS or route.endpoint in SHARED_WITH_CLIENTS:
            continue
        for method in route.methods:
            response = as_client.open(route.url, method=method, data=FORM_DATA)
            checked.add(route.blueprint)
            if response.status_code != 403:
                problems.append(f"{method} {route}: {response.status_code}")
    assert problems == []
    assert checked == THERAPIST_BLUEPRINTS
    assert as_client.get("/account/").status_code == 200  # still signed in: refused, not out


def test_client_only_routes_refuse_signed_in_therapists(app, as_therapist):
    """Routes for clients alone (booking, Today, "Download my data", "Delete my account"...)
    answer a therapist 403, whatever the method: a therapist has no data of their own there,
    and must never reach a client-only action by accident."""
    client_only = [r for r in routes(app)
                   if access.access_of(app, r.endpoint) == frozenset({Role.CLIENT})]
    assert {"account.data", "account.data_file", "account.views", "account.delete",
            "booking.index"} <= {r.endpoint for r in client_only}
    problems = []
    for route in client_only:
        for method in route.methods:
            response = as_therapist.open(route.url, method=method, data=FORM_DATA)
            if response.status_code != 403:
                problems.append(f"{method} {route}: {response.status_code}")
    assert problems == []
    assert as_therapist.get("/dashboard/").status_code == 200  # refused, not signed out


# --- CSRF -------------------------------------------------------------------------------


@pytest.fixture
def first_client(make_client):
    """A client created before anyone else, so the dummy id 1 in URLs names a real person."""
    return make_client(email="first.client@example.com")


def test_every_post_without_csrf_token_is_refused_and_writes_nothing(app, first_client,
                                                                    as_therapist):
    """Each POST is sent by a user the route lets in (the therapist where allowed, else the
    client), so it is the CSRF check that answers, not the role check."""
    as_first_client = app.test_client()
    assert login(as_first_client, first_client.email).status_code == 302
    post_routes = [r for r in routes(app) if "POST" in r.methods]
    assert {"auth.logout", "clients.invite", "clients.access"} <= {
        r.endpoint for r in post_routes}
    before = snapshot(app)

    problems = []
    for route in post_routes:
        allowed = access.access_of(app, route.endpoint)
        therapist_may = allowed == access.PUBLIC or Role.THERAPIST in (allowed or ())
        browser = as_therapist if therapist_may else as_first_client
        response = browser.post(route.url, data=FORM_DATA)
        if response.status_code != 400:
            who = "therapist" if therapist_may else "client"
            problems.append(f"POST {route} as {who}: {response.status_code}")
    assert problems == []

    assert snapshot(app) == before
    # Logout was refused too: both are still signed in.
    assert as_therapist.get("/dashboard/").status_code == 200
    assert as_first_client.get("/account/").status_code == 200


# --- forgetting the declaration fails closed ----------------------------------------------


@pytest.fixture
def app_with_forgotten_routes(app, tmp_path) -> Iterator[Flask]:
    """A fresh app on the same database, plus routes that declare no access at all."""
    fresh = create_app(base_config(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path))
    forgotten = Blueprint("forgotten", __name__, url_prefix="/forgotten")

    @forgotten.route("/", methods=["GET", "POST"])
    def page():
        return "the secret page"

    @forgotten.route("/<int:item_id>")
    def item(item_id: int):
        return f"the secret item {item_id}"

    fresh.register_blueprint(forgotten)
    fresh.add_url_rule("/loose-secret", "loose_secret", lambda: "the loose secret")
    yield fresh
    with fresh.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_route_without_declaration_fails_closed(app_with_forgotten_routes, make_therapist,
                                                  make_client):
    fresh = app_with_forgotten_routes
    urls = ["/forgotten/", "/forgotten/7", "/loose-secret"]
    for endpoint in ("forgotten.page", "forgotten.item", "loose_secret"):
        assert access.access_of(fresh, endpoint) is None

    stranger = fresh.test_client()
    for url in urls:
        response = stranger.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response.location).path == "/auth/login"
    assert stranger.post("/forgotten/").status_code == 302

    for user in (make_therapist(), make_client()):
        browser = fresh.test_client()
        assert login(browser, user.email).status_code == 302
        for url in urls:
            response = browser.get(url)
            assert response.status_code == 403, (user.role, url)
            assert "secret" not in response.get_data(as_text=True)
        assert browser.post("/forgotten/").status_code == 403


# --- moved addresses ----------------------------------------------------------------------


def test_a_moved_address_lets_in_exactly_who_its_new_page_does(app):
    moved = {endpoint: view.moved_to for endpoint, view in app.view_functions.items()
             if hasattr(view, "moved_to")}
    assert {"dashboard.moved_clients_index", "dashboard.moved_clients_access",
            "dashboard.moved_settings_index", "diary.moved_diary_days",
            "diary.moved_diary_record_outcome", "builder.moved_programmes_index",
            "builder.moved_programmes_edit"} <= set(moved)
    for old, new in moved.items():
        assert new in app.view_functions, f"{old} redirects to a missing endpoint {new}"
        assert access.access_of(app, old) == access.access_of(app, new), old
        assert access.access_of(app, old) != access.PUBLIC, old


# --- someone else's conversation ---------------------------------------------------------------


def test_no_client_opens_writes_in_or_marks_another_clients_conversation(app, make_client,
                                                                        make_therapist):
    """The route walk for messages: every route that takes a conversation's id (including
    ones added later), by every method, with a valid CSRF token and a message to send, tried
    by one client on another's conversation. Each answers exactly as for a conversation that
    does not exist: 404, or 403 where the route is for the practice only; the same goes for
    starting one about the other client's exercise or session. Nothing is written."""
    with app.app_context():
        people = make_people(db.session, make_therapist, make_client)
        theirs = messages.start_thread(
            db.session, people.bea, topic=messages.topic_for_item(
                db.session, people.bea, people.items[people.bea.id]),
            subject=None, body="Bea's question", now=utcnow(),
            links=messages.MessageLinks(thread=lambda t: "x", account=lambda: "x"))
        db.session.commit()
        bea_thread, bea = theirs.id, people.bea.id
        alex, bea_item = people.alex.id, people.items[bea]
        bea_appointment = people.appointments[bea]
    browser = app.test_client()
    with app.app_context():
        sign_in_directly(browser, db.session.get(User, alex))
    token = csrf_from(browser.get("/messages/").get_data(as_text=True))
    data = {"csrf_token": token, "body": "Alex was here", "subject": "Hello", "then": "done",
            "message_emails": ""}
    thread_rules = [rule for rule in app.url_map.iter_rules() if "thread_id" in rule.arguments]
    assert {r.endpoint for r in thread_rules} >= {"messages.thread", "messages.done",
                                                  "messages.reopen"}
    before = snapshot(app)

    problems, tried = [], 0
    for rule in thread_rules:
        allowed = access.access_of(app, rule.endpoint)
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            answers = [browser.open(rule.rule.replace("<int:thread_id>", str(thread_id)),
                                    method=method, data=data).status_code
                       for thread_id in (bea_thread, 99999)]
            tried += 1
            expected = 404 if Role.CLIENT in allowed else 403
            if answers != [expected, expected]:
                problems.append(f"{method} {rule.rule}: {answers}, expected {expected}")
    for url in (f"/messages/new?item={bea_item}", f"/messages/new?appointment={bea_appointment}"):
        for method in ("GET", "POST"):
            status = browser.open(url, method=method, data=data).status_code
            tried += 1
            if status != 404:
                problems.append(f"{method} {url}: {status}")
    assert problems == []
    assert tried >= 7
    assert snapshot(app) == before
    # The conversation was there all along, for its own client and the practice.
    owner = app.test_client()
    with app.app_context():
        sign_in_directly(owner, db.session.get(User, bea))
    assert owner.get(f"/messages/{bea_thread}").status_code == 200
