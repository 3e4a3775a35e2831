"""Every page and every HTML email is valid HTML, by the Nu Html Checker (vnu.jar, the W3C's).

On the demo practice, Flask's test client walks the site as each kind of visitor (the
therapist, a client, a client who has not filled in the health questionnaire, a stranger):
from a few entry points it follows every same-site link, GET only, a few pages of each kind
(paths that differ only in numbers, such as ids and dates, are one kind). It also brings up
the states a link does not reach: forms sent empty or wrong, a missing CSRF token, pages
that answer 403 or 404, a pain report, registration closed. Every kind of email is
composed through the code that sends it. All the documents go to the checker in one run
(starting Java is the slow part). Any error fails, naming the page; warnings are advice (the
emails' table attributes, kept for old mail clients), printed but not failures.

Every page template must be among those rendered, so a new page is either reached by the
walk or added to the states below; every email template must be among the emails.

Runs once, on SQLite: the markup does not depend on the database. Skipped (a failure in CI)
without Java or vnu.jar: `make tools` installs it.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import sqlalchemy as sa
from flask import template_rendered

from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    Article,
    ArticleStatus,
    Enquiry,
    MessageThread,
    OutboxMessage,
    Passkey,
    Practice,
    Role,
    Service,
    User,
    utcnow,
)
from portal.seed import demo
from portal.services import booking
from portal.web.links import BOOKING_LINKS
from tests.conftest import (
    ROOT,
    TEST_PASSWORD,
    answer_reset_requests,
    app_code,
    csrf_from,
    link_in,
    login,
)
from tests.tools import vnu_command

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

PAGES_PER_ROLE = 150
PAGES_PER_KIND = 2
NEWCOMER = ("newcomer@example.com", TEST_PASSWORD)
ALEX = demo.CLIENTS[0][1:]  # email, password
# Never fetched: files, feeds, downloads and pictures (not HTML), and signing out.
SKIP = re.compile(r"^/static/|\.ics$|/export$|^/library/pictures/|^/sheet/sw\.js$|logout")
ENTRY_POINTS = {
    "therapist": ["/", "/diary/days?view=day", "/diary/days?view=month", "/diary/book",
                  "/diary/services/new", "/diary/hours", "/diary/time-off",
                  "/clients/?filter=pain", "/clients/invite", "/programmes/templates",
                  "/library/new", "/library/?q=stretch&body_area=calves", "/settings/",
                  "/account/password", "/messages/?filter=all", "/writing/", "/writing/new",
                  "/enquiries/", "/enquiries/?status=done"],
    "client": ["/", "/appointments/", "/booking/", "/programme/", "/programme/history",
               "/sheet/", "/sheet/moments", "/account/password", "/messages/",
               "/dashboard/", "/no/such/page"],  # 403 and 404 for a client
    "newcomer": ["/", "/intake/?next=/booking/", "/booking/", "/account/"],
    "anonymous": ["/", "/articles/", f"/ask?article={demo.HIP_ARTICLE_SLUG}",
                  "/auth/login?next=/", "/auth/forgot", "/auth/register",
                  "/no/such/page", "/auth/invite/not-a-real-token",
                  "/auth/reset/not-a-real-token", "/sheet/s/not-a-real-token"],
}
# Forms that must come back with their errors, sent after the walk: (page, data).
REFUSED_FORMS = {
    "therapist": [("/library/new", {}), ("/writing/new", {"action": "save"}),
                  ("/clients/invite", {}), ("/diary/services/new", {}),
                  ("/diary/time-off", {}), ("/diary/book", {}), ("/settings/", {}),
                  ("/account/password", {})],
    "client": [("/account/password", {}), ("/sheet/moments", {"morning": "25:99"}),
               ("/messages/new", {})],
    "newcomer": [("/intake/", {})],
    "anonymous": [("/auth/login", {}),
                  ("/auth/login", {"email": demo.THERAPIST[1], "password": "not it at all"}),
                  ("/auth/forgot", {}), ("/auth/register", {}), ("/ask", {})],
}
# Templates that are parts of pages or emails, rendered inside others.
PARTS = re.compile(r"(^|/)_|^email/|^base\.html$")
HIDDEN_INPUT = re.compile(r'<input\b[^>]*\btype="hidden"[^>]*>')
NAME, VALUE = re.compile(r'\bname="([^"]*)"'), re.compile(r'\bvalue="([^"]*)"')
LINK = re.compile(r"<a\b([^>]*)>")
HREF = re.compile(r'\bhref="([^"]*)"')


@dataclass(frozen=True)
class Document:
    """One HTML document to check, and where it came from."""

    source: str  # "therapist GET /diary/days" or "email invite: <subject>"
    html: str


def hidden_fields(body: str) -> dict[str, str]:
    """The name and value of every hidden input on a page."""
    fields = {}
    for tag in HIDDEN_INPUT.findall(body):
        name, value = NAME.search(tag), VALUE.search(tag)
        if name:
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return fields


def kind_of(path: str) -> str:
    """Paths that differ only in numbers (ids, dates) are one kind of page."""
    parts = urlsplit(path)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    return re.sub(r"\d+", "#", parts.path + "?" + "&".join(f"{k}={v}" for k, v in query))


def links(here: str, body: str) -> list[str]:
    """The same-site paths of the page's <a href> links, less downloads and SKIP."""
    paths = []
    for attributes in LINK.findall(body):
        href = HREF.search(attributes)
        if href is None or re.search(r"\bdownload\b", attributes):
            continue
        url = urlsplit(urljoin(f"http://localhost{here}", html.unescape(href.group(1))))
        if url.scheme == "http" and url.netloc == "localhost" and not SKIP.search(url.path):
            paths.append(url.path + (f"?{url.query}" if url.query else ""))
    return paths


class Visitor:
    """One visitor with a test client: what they fetch is kept for the checker."""

    def __init__(self, role: str, browser, documents: list[Document], failures: list[str]):
        self.role, self.browser = role, browser
        self.documents, self.failures = documents, failures
        self.seen: set[str] = set()

    def get(self, path: str):
        """GET a page; keep it if HTML."""
        response = self.browser.get(path)
        self._keep(f"{self.role} GET {path}", response)
        return response

    def post(self, page: str, data: dict, action: str | None = None, *, csrf: bool = True):
        """POST a page's form with its CSRF token (unless told not to); keep the answer."""
        token = csrf_from(self.browser.get(page).get_data(as_text=True)) if csrf else None
        response = self.browser.post(action or page, data={
            **({"csrf_token": token} if token else {}), **data})
        shown = {k: v for k, v in data.items() if k not in ("csrf_token", "client_key")}
        self._keep(f"{self.role} POST {action or page} {shown or '(empty)'}", response)
        return response

    def refused(self, page: str, data: dict, action: str | None = None) -> None:
        """Send a form that must be refused: the page comes back with its errors."""
        status = self.post(page, data, action).status_code
        assert status < 300 or 400 <= status < 500, (
            f"{self.role} POST {action or page} {data}: HTTP {status}, expected the form back")

    def _keep(self, source: str, response) -> None:
        if response.status_code >= 500:
            self.failures.append(f"{source}: HTTP {response.status_code}")
        elif response.mimetype == "text/html":
            self.documents.append(Document(source, response.get_data(as_text=True)))

    def walk(self, entry_points: list[str]) -> int:
        """Follow links breadth first from the entry points, at most PAGES_PER_KIND pages of
        a kind and PAGES_PER_ROLE in all; returns how many were fetched."""
        queue, kinds, fetched = deque(entry_points), Counter(), 0
        while queue and fetched < PAGES_PER_ROLE:
            path = queue.popleft()
            if path in self.seen or kinds[kind_of(path)] >= PAGES_PER_KIND:
                continue
            self.seen.add(path)
            kinds[kind_of(path)] += 1
            fetched += 1
            response = self.get(path)
            if response.status_code in (301, 302, 303, 307, 308):
                queue.append(response.location)
            elif response.mimetype == "text/html":
                queue.extend(links(path, response.get_data(as_text=True)))
        return fetched


def prepare(app) -> None:
    """The demo practice (registration closed, as the demo has it) and a newcomer who has not
    filled in the questionnaire."""
    now = utcnow()
    passwords = app.extensions["portal.passwords"]
    with app.app_context():
        demo.seed(db.session, passwords, box=app.extensions["portal.secret_box"], now=now,
                  timezone="Europe/London")
        db.session.add(User(email=NEWCOMER[0], name="Nia Newcomer", role=Role.CLIENT,
                            password_hash=passwords.hash(NEWCOMER[1]),
                            password_changed_at=now))
        db.session.commit()


def open_registration(app) -> None:
    with app.app_context():
        db.session.scalar(sa.select(Practice)).self_registration = True
        db.session.commit()


def signed_in(app, email: str, password: str):
    browser = app.test_client()
    assert login(browser, email, password).status_code == 302, email
    return browser


def alex_ids(app) -> dict[str, int]:
    """A service, and an appointment of Alex's that is over (it can no longer be changed)."""
    with app.app_context():
        alex = db.session.scalar(sa.select(User).where(User.email == ALEX[0]))
        past = db.session.scalars(sa.select(Appointment).where(
            Appointment.client_id == alex.id,
            Appointment.status.in_([AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW])
        )).first()
        return {"service": db.session.scalar(sa.select(Service.id).order_by(Service.id)),
                "past": past.id}


def alex_thread(app) -> int:
    """A conversation of Alex's from the demo."""
    with app.app_context():
        alex = db.session.scalar(sa.select(User.id).where(User.email == ALEX[0]))
        return db.session.scalar(sa.select(MessageThread.id).where(
            MessageThread.client_id == alex).order_by(MessageThread.id))


def latest_email_text(app, kind: str) -> str:
    with app.app_context():
        return db.session.scalars(sa.select(OutboxMessage.text_body)
                                  .where(OutboxMessage.kind == kind)
                                  .order_by(OutboxMessage.id.desc())).first()


def compose_appointment_emails(app) -> None:
    """Confirmation, change, reminder and cancellation (with a message) of the next session,
    composed by the code that sends them."""
    # A request context, as when a client books: the emails carry their real links.
    with app.test_request_context():
        practice = db.session.scalar(sa.select(Practice))
        appointment = db.session.scalars(
            sa.select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED,
                                         Appointment.starts_at > utcnow())
            .order_by(Appointment.starts_at)).first()
        for kind in ("confirmed", "rescheduled"):
            booking.notify(db.session, practice, appointment, kind, utcnow(),
                           links=BOOKING_LINKS)
        # The reminder duty runs outside any request and sends no links.
        booking.notify(db.session, practice, appointment, "reminder", utcnow(), links=None)
        booking.notify(db.session, practice, appointment, "cancelled", utcnow(),
                       links=BOOKING_LINKS,
                       message="Sorry, the practice is closed that day.\nCall us to rebook.")
        db.session.commit()


def one_email_of_each_kind(app) -> list[Document]:
    with app.app_context():
        first = {}
        for email in db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)):
            first.setdefault(email.kind, Document(f"email {email.kind}: {email.subject}",
                                                  email.html_body))
    return list(first.values())


def first_id(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(model.id).where(*where).order_by(model.id))


def client_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.email == email))


def walk_every_role(app, documents: list[Document], failures: list[str]) -> dict[str, int]:
    """Walk as the therapist, a client, a newcomer and a stranger, then bring up the states
    links do not reach; returns how many pages each walk fetched."""
    walked = {}
    jo = Visitor("therapist", signed_in(app, *demo.THERAPIST[1:]), documents, failures)
    walked[jo.role] = jo.walk(ENTRY_POINTS[jo.role])
    for page, data in REFUSED_FORMS[jo.role]:
        jo.refused(page, data)
    # A reply refused, then sent to a client's conversation: the email that tells the client
    # a message is waiting (the demo's conversations send none).
    thread = alex_thread(app)
    jo.refused(f"/messages/{thread}", {"body": " "})
    jo.post(f"/messages/{thread}", {"body": "Yes: 30 seconds each side, twice."})
    # An invitation (its link is opened below) and the page with the notice after it.
    sent = jo.post("/clients/invite", {"name": "Rhea Walker", "email": "rhea@example.com"})
    jo.get(sent.location)
    # Two-factor pages no link reaches: removing a passkey, new recovery codes (shown once,
    # as the answer to the form, and told by the security_notice email), and the recovery
    # code step of signing in.
    with app.app_context():
        therapist = db.session.scalar(sa.select(User.id).where(
            User.email == demo.THERAPIST[1]))
        passkey = Passkey(user_id=therapist, name="Jo's laptop", credential_id="a2V5",
                          public_key=b"not used by any page", transports=["internal"])
        db.session.add(passkey)
        db.session.commit()
        passkey_id = passkey.id
    jo.get(f"/account/two-factor/passkeys/{passkey_id}/remove")
    codes = jo.post("/account/two-factor/recovery-codes", {
        "password": demo.THERAPIST[2], "code": app_code(app, demo.THERAPIST[1])})
    assert codes.status_code == 200, "the new recovery codes are shown"
    halfway = Visitor("anonymous", app.test_client(), documents, failures)
    halfway.post("/auth/login", {"email": demo.THERAPIST[1], "password": demo.THERAPIST[2]})
    halfway.get("/auth/two-factor/recovery")

    alex = Visitor("client", signed_in(app, *ALEX), documents, failures)
    ids = alex_ids(app)
    alex.get("/account/")  # before the calendar feed exists; the walk sees it after
    alex.post("/account/", {}, action="/calendar/feed")
    alex.post("/sheet/moments", {}, action="/sheet/moments/feed")
    sheet = alex.get(urlsplit(alex.post("/sheet/", {}, action="/sheet/link").location).path)
    share = re.search(r'id="share-url" type="url" value="([^"]+)"', sheet.get_data(as_text=True))
    walked[alex.role] = alex.walk([
        *ENTRY_POINTS[alex.role], f"/appointments/{ids['past']}/cancel",  # 403: closed
        f"/booking/{ids['service']}/confirm?start=tomorrow"])  # 400: not a time
    for page, data in REFUSED_FORMS[alex.role]:
        alex.refused(page, data)
    item = next(urlsplit(p).path for p in sorted(alex.seen)
                if re.fullmatch(r"/programme/items/\d+", urlsplit(p).path))
    log = f"{item}/log"
    alex.refused(item, {}, action=log)
    form = hidden_fields(alex.browser.get(item).get_data(as_text=True))
    pain = alex.post(item, {**form, "feedback": "pain", "feedback_left": "pain",
                            "feedback_right": "pain"}, action=log)
    assert pain.status_code == 200, "a pain report shows the easier version"
    # "Done, felt fine" on Today: Today and the home page with "Tell us how it felt" after
    # it, and the exercise page telling that log how it felt (log=<its key>).
    tap = re.search(r'<form class="quick-log__form"[^>]*action="([^"]+)"[^>]*>(.*?)</form>',
                    alex.browser.get("/programme/").get_data(as_text=True), re.S)
    fields = hidden_fields(tap.group(2))
    tapped = alex.browser.post(html.unescape(tap.group(1)), data=fields)
    assert tapped.status_code == 302, "the tap was logged"
    alex.get("/programme/")
    alex.get("/")
    told = alex.get(f"{html.unescape(tap.group(1)).removesuffix('/done')}"
                    f"?log={fields['client_key']}")
    assert "Save how it felt" in told.get_data(as_text=True), "the form tells the tap"
    # At the practice's limit of upcoming sessions the booking page says so instead.
    with app.app_context():
        db.session.scalar(sa.select(Practice)).max_upcoming_per_client = 1
        db.session.commit()
    assert alex.get(f"/booking/{ids['service']}").status_code == 409
    # Alex's phone, signed out by "Sign out everywhere" on another browser: its next page
    # asks it to forget the Today it kept for offline use (static/js/forget.js).
    phone = Visitor("client's phone", signed_in(app, *ALEX), documents, failures)
    alex.post("/account/", {}, action="/account/sign-out-everywhere")
    assert "data-forget=" in phone.get("/auth/login").get_data(as_text=True)

    nia = Visitor("newcomer", signed_in(app, *NEWCOMER), documents, failures)
    walked[nia.role] = nia.walk(ENTRY_POINTS[nia.role])
    for page, data in REFUSED_FORMS[nia.role]:
        nia.refused(page, data)

    stranger = Visitor("anonymous", app.test_client(), documents, failures)
    stranger.get("/auth/register")  # closed
    open_registration(app)
    stranger.post("/auth/forgot", {"email": ALEX[0]})
    # Wrong passwords until sign-ins from new devices pause: the page that says so, and the
    # email that tells the account holder.
    app.config["LOGIN_UNTRUSTED_FAILURES"] = 2
    for _ in range(3):
        stranger.refused("/auth/login", {"email": ALEX[0], "password": "a wrong guess"})
    stranger.post("/auth/register", {"name": "Ola Newman", "email": "ola@example.com"})
    stranger.post("/auth/register", {"name": "Alex Again", "email": ALEX[0]})
    answer_reset_requests(app)
    invite = link_in(latest_email_text(app, "invite"), "/auth/invite/")
    reset = link_in(latest_email_text(app, "reset"), "/auth/reset/")
    walked[stranger.role] = stranger.walk([*ENTRY_POINTS[stranger.role], invite, reset,
                                           urlsplit(html.unescape(share.group(1))).path])
    for page, data in REFUSED_FORMS[stranger.role]:
        stranger.refused(page, data)
    stranger.refused(invite, {"password": "short", "confirm": "other"})

    # A question through the public form (the therapist's note and the sender's confirmation,
    # and the page after it), and the therapist's reply to the demo's enquiry.
    sent = stranger.post(f"/ask?article={demo.HIP_ARTICLE_SLUG}", {
        "name": "Maya Collins", "email": "maya@example.com", "consent": "y",
        "message": "Is the kneeling stretch all right with sore knees?",
        "article": demo.HIP_ARTICLE_SLUG}, action="/ask")
    assert sent.status_code == 302, "the question was taken"
    stranger.get(sent.location)
    enquiry = first_id(app, Enquiry)
    jo.post(f"/enquiries/{enquiry}", {"body": "Yes: pad the knee, or try it standing.\n\nJo"},
            action=f"/enquiries/{enquiry}/reply")
    # Writing: the preview of an unsaved article, and publishing refused (a date gone by).
    jo.post("/writing/new", {"title": "Calf raises", "summary": "Why calves matter.",
                             "body": "## Why\n\nStrong calves.\n\n- one\n- two",
                             "action": "preview"})
    draft = first_id(app, Article, Article.status == ArticleStatus.DRAFT)
    jo.refused(f"/writing/{draft}", {"when": "later", "day": "2020-01-06", "time": "08:00"},
               action=f"/writing/{draft}/publish")

    # The therapist erases a client with sessions to come: the erasures list, and the email
    # telling the therapist which sessions were cancelled.
    sam = client_id(app, demo.CLIENTS[1][1])
    erased = jo.post(f"/clients/{sam}/erase", {"password": demo.THERAPIST[2], "confirm": "y"})
    assert erased.status_code == 302, "the erasure went through"
    jo.get("/clients/erasures")
    assert stranger.post("/auth/login", {"email": ALEX[0]}, csrf=False).status_code == 400
    return walked


def check_with_vnu(documents: list[Document], folder: Path) -> tuple[list[str], Counter]:
    """Every error the Nu Html Checker finds, each naming its document; and the warnings."""
    command = vnu_command()
    sources = {}
    for n, document in enumerate(documents):
        path = folder / f"{n:04d}.html"
        path.write_text(document.html, encoding="utf-8")
        sources[path.name] = document
    # Language detection only ever warns, and costs a second.
    done = subprocess.run([*command, "--no-langdetect", "--format", "json", "--stdout",
                           "--exit-zero-always", str(folder)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    errors, warnings = [], Counter()
    for message in json.loads(done.stdout)["messages"]:
        if message["type"] == "info":
            if message.get("subType") == "warning":
                warnings[message["message"]] += 1
            continue
        # "error", and "non-document-error" (the checker could not read a document).
        document = sources.get(Path(message.get("url", "")).name)
        where = document.source if document else message.get("url", "?")
        extract = " ".join(message.get("extract", "").split())
        errors.append(f"{where} (line {message.get('lastLine', '?')}): {message['message']}"
                      f"  [{extract}]")
    return errors, warnings


def test_every_page_and_email_is_valid_html(app, tmp_path):
    vnu_command()  # skip before any setup when it is missing
    prepare(app)
    documents: list[Document] = []
    failures: list[str] = []
    rendered: set[str] = set()

    def record(sender, template, context, **extra):
        rendered.add(template.name)

    template_rendered.connect(record, app)
    try:
        walked = walk_every_role(app, documents, failures)
    finally:
        template_rendered.disconnect(record, app)
    compose_appointment_emails(app)
    emails = one_email_of_each_kind(app)
    assert not failures, "\n".join(failures)

    templates = {p.relative_to(ROOT / "templates").as_posix()
                 for p in (ROOT / "templates").rglob("*.html")}
    missed = {t for t in templates if not PARTS.search(t)} - rendered
    assert not missed, f"page templates no visit rendered (add a visit): {sorted(missed)}"
    composed = {doc.source.split()[1].removesuffix(":") for doc in emails}
    missed = {Path(t).stem for t in templates
              if t.startswith("email/") and not PARTS.search(Path(t).name)} - composed
    assert not missed, f"emails never composed (add them): {sorted(missed)}"

    errors, warnings = check_with_vnu([*documents, *emails], tmp_path)
    print(f"\n{len(documents)} pages ({walked} walked) and {len(emails)} emails checked; "
          f"{sum(warnings.values())} warnings: {dict(warnings)}")
    assert not errors, f"{len(errors)} HTML errors:\n" + "\n".join(errors)
