"""The accessibility sweep: every page the browser journeys show, as the role that sees it,
checked by axe at phone (390x844) and desktop (1280x800) width. A serious or critical finding
fails, as does any console error, CSP violation or failed subresource on the way.

The journeys used to run axe at both widths on each of their screens, on both databases;
they now only take their screenshots and leave accessibility to this sweep, which visits
each distinct page once (PostgreSQL, with the demo practice for realistic content). Besides
the plain pages it keeps the states whose markup differs: forms sent empty (server-side
errors with aria-invalid), a wrong password, the therapist's folded menu opened on a phone,
and the pages that must work without JavaScript. The offline journey still checks its two
offline screens itself (only a journey can take the connection away).

Pages are named by path; a journey that reaches a new page should add it here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import OutboxStatus, Passkey, Practice, Role, Service, User, utcnow
from portal.seed import demo
from portal.services import outbox as outbox_service
from portal.services.emails import Email
from tests.conftest import link_in
from tests.e2e.conftest import DESKTOP, PHONE, axe_findings, set_viewport, sign_in

pytestmark = pytest.mark.e2e

THERAPIST_EMAIL, THERAPIST_PASSWORD = demo.THERAPIST[1], demo.THERAPIST[2]
CLIENT_EMAIL, CLIENT_PASSWORD = demo.CLIENTS[0][1], demo.CLIENTS[0][2]
NEWCOMER_EMAIL, NEWCOMER_PASSWORD = "newcomer@example.com", "a quiet harbour at dawn"

NO_SCRIPT = "no-script"  # the page's context runs no JavaScript


@dataclass(frozen=True)
class Visit:
    """One page to check: a path (with {placeholders}), or a step run on the open page."""

    path: str
    state: str = ""  # name of a step in STATES run after loading the path
    javascript: bool = True
    status: int | None = 200  # None: whatever the page answers (but no server error)


ANONYMOUS = [
    Visit("/"),
    Visit("/articles/"),
    Visit(f"/articles/{demo.HIP_ARTICLE_SLUG}"),
    Visit(f"/ask?article={demo.HIP_ARTICLE_SLUG}"),
    Visit("/ask", state="send_empty"),
    Visit("/ask/sent"),
    Visit("/auth/login"),
    Visit("/auth/login", state="wrong_password"),
    Visit("/auth/forgot"),
    Visit("/auth/forgot", state="send_empty"),
    Visit("/auth/invite/{invite_token}"),
    Visit("/auth/invite/not-a-real-token", status=404),
    Visit("/no/such/page", status=404),
    Visit("/sheet/s/{share_token}"),
    Visit("/sheet/s/not-a-real-token", status=None),
    # Half signed in (the therapist's password given, the second step not yet): these come
    # last, as the login page itself abandons a half-done sign-in.
    Visit("/auth/login", state="password_only"),
    Visit("/auth/two-factor", state="wrong_code"),
    Visit("/auth/two-factor/recovery"),
]
NEWCOMER = [  # a client who has not filled in the health questionnaire yet
    Visit("/"),
    Visit("/intake/?next=/booking/"),
    Visit("/intake/?next=/booking/", state="send_empty"),
]
CLIENT = [
    Visit("/"),
    Visit("/booking/"),
    Visit("/booking/{service}"),
    Visit("{week}"),
    Visit("{reschedule}"),
    Visit("{confirm}"),
    Visit("/booking/{service}/confirm?start=tomorrow", status=None),
    Visit("/appointments/"),
    Visit("/appointments/{appointment}/cancel"),
    Visit("/account/"),
    Visit("/account/password"),
    Visit("/programme/"),
    Visit("{item}"),
    Visit("{item}", javascript=False),
    Visit("/programme/history"),
    Visit("/sheet/"),
    Visit("/sheet/moments"),
    Visit("/account/two-factor"),
    Visit("/account/two-factor/app"),
    Visit("/messages/"),
    Visit("/messages/new"),
    Visit("/messages/new", state="send_empty"),
    Visit("/messages/new?item={item_id}"),
    Visit("/messages/new?appointment={appointment}"),
    Visit("{thread}"),
    Visit("{thread}", state="send_empty"),
    Visit("/account/data"),
    Visit("/account/data", javascript=False),
    Visit("/account/views"),
    Visit("/account/delete"),
    Visit("/account/delete", state="send_empty"),
    Visit(f"/articles/{demo.HIP_ARTICLE_SLUG}"),
]
CLIENT_AT_LIMIT = [  # the same client once the practice allows one upcoming session
    Visit("/booking/"),
    Visit("/booking/{service}", status=409),
]
THERAPIST = [
    Visit("/dashboard/"),
    Visit("/dashboard/", state="open_menu"),
    Visit("/dashboard/", state="invite_empty"),
    Visit("/dashboard/clients"),
    Visit("/dashboard/clients?q=&filter=pain"),
    Visit("/dashboard/clients/{client}"),
    Visit("/dashboard/clients/{client}/audit"),
    Visit("/messages/"),
    Visit("/messages/?filter=all"),
    Visit("{thread}"),
    Visit("{thread}", state="send_empty"),
    Visit("{thread}", javascript=False),
    Visit("{builder_picked}"),
    Visit("/dashboard/settings"),
    Visit("/settings/emails"),
    Visit("/diary/days"),
    Visit("/diary/days?view=day"),
    Visit("/diary/days?view=month"),
    Visit("/programmes/"),
    Visit("/programmes/{client}"),
    Visit("/programmes/{client}", javascript=False),
    Visit("/programmes/{client}/versions"),
    Visit("/programmes/templates"),
    Visit("/library/"),
    Visit("/library/?q=stretch&body_area=calves"),
    Visit("/library/new"),
    Visit("/library/new", state="send_empty"),
    Visit("/library/{exercise}"),
    Visit("/library/{exercise}/edit"),
    Visit("/library/{exercise}/delete"),
    Visit("/writing/"),
    Visit("/writing/new"),
    Visit("/writing/new", state="send_empty"),
    Visit("/writing/{article}"),
    Visit("/writing/{draft}"),
    Visit("/writing/{article}/edit"),
    Visit("/writing/{article}/edit", state="preview"),
    Visit("/writing/front-page"),
    Visit("/enquiries/"),
    Visit("/enquiries/{enquiry}"),
    Visit("/enquiries/{enquiry}", state="reply_empty"),
    Visit("/enquiries/{enquiry}/delete"),
    Visit("/enquiries/?status=done"),
    Visit("/account/"),
    Visit("/account/password"),
    Visit("/account/password", state="send_empty"),
    Visit("/account/two-factor"),
    Visit("/account/two-factor/app/off"),
    Visit("/account/two-factor/app/off", state="send_empty"),
    Visit("/account/two-factor/passkeys/new"),
    Visit("/account/two-factor/passkeys/{passkey}/remove"),
    Visit("/account/two-factor/recovery-codes"),
    Visit("/account/two-factor/recovery-codes", state="new_codes"),
    Visit("/clients/erasures"),
    Visit("/clients/{other}/erase"),
    Visit("/clients/{other}/erase", state="send_empty"),
    Visit("/clients/{other}/erase", state="erase"),  # erases Sam: the pages below show it
    Visit("/clients/erasures"),
    Visit("/clients/{other}"),
]


# --- states ---------------------------------------------------------------------------------


def _send_empty(page) -> None:
    """Send the page's main form empty, past the browser's own checks, to see the server's
    error messages."""
    page.evaluate("() => document.querySelectorAll('form').forEach(f => f.noValidate = true)")
    form = page.locator("main form", has=page.locator("input:not([type=hidden]), textarea"))
    form.first.locator("button[type=submit], button:not([type])").last.click()
    expect(page.locator("[aria-invalid=true]").first).to_be_attached()


def _wrong_password(page) -> None:
    page.get_by_label("Email").fill(THERAPIST_EMAIL)
    page.get_by_label("Password", exact=True).fill("not the password at all")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("[aria-invalid=true], .flash, [role=alert]").first).to_be_attached()


def _open_menu(page) -> None:
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")


def _invite_empty(page) -> None:
    invite = page.locator("form", has=page.get_by_role("button", name="Send invitation"))
    page.evaluate("() => document.querySelectorAll('form').forEach(f => f.noValidate = true)")
    invite.get_by_role("button", name="Send invitation").click()
    expect(page.locator("[aria-invalid=true]").first).to_be_attached()


def _erase(page) -> None:
    page.get_by_label("Your password").fill(THERAPIST_PASSWORD)
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Erase the account").click()
    expect(page.get_by_role("heading", name="Erased accounts")).to_be_visible()


def _next_code() -> str:
    """The demo therapist's code for the next 30-second step: accepted (one step of drift is),
    and newer than the one sign_in just used."""
    return pyotp.TOTP(demo.THERAPIST_TOTP_SECRET).at(time.time() + 30)


def _password_only(page) -> None:
    page.get_by_label("Email").fill(THERAPIST_EMAIL)
    page.get_by_label("Password", exact=True).fill(THERAPIST_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Enter the code from your app")).to_be_visible()


def _wrong_code(page) -> None:
    page.get_by_label("Code from your app").fill(
        "000000" if _next_code() != "000000" else "111111")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("[aria-invalid=true]").first).to_be_attached()


def _new_codes(page) -> None:
    """New recovery codes: the page that shows them once (only a form's answer shows it)."""
    page.get_by_label("Your password").fill(THERAPIST_PASSWORD)
    page.get_by_label("Code", exact=True).fill(_next_code())
    page.get_by_role("button", name="Make new codes").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()


def _preview(page) -> None:
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview: not saved yet")).to_be_visible()


def _reply_empty(page) -> None:
    page.evaluate("() => document.querySelectorAll('form').forEach(f => f.noValidate = true)")
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("[aria-invalid=true]").first).to_be_attached()


STATES: dict[str, Callable] = {
    "preview": _preview,
    "reply_empty": _reply_empty,
    "send_empty": _send_empty,
    "erase": _erase,
    "wrong_password": _wrong_password,
    "open_menu": _open_menu,
    "invite_empty": _invite_empty,
    "password_only": _password_only,
    "wrong_code": _wrong_code,
    "new_codes": _new_codes,
}


# --- the world ------------------------------------------------------------------------------


@pytest.fixture
def practice_world(app, live_server) -> dict[str, object]:
    """The demo practice (a busy diary, programmes, logs and notes) plus a client who has not
    filled in the questionnaire, and a passkey for the therapist (its pages only list it);
    returns ids for the paths."""
    with app.app_context():
        passwords = app.extensions["portal.passwords"]
        demo.seed(db.session, passwords, box=app.extensions["portal.secret_box"], now=utcnow(),
                  timezone="Europe/London")
        db.session.add(User(email=NEWCOMER_EMAIL, name="Nia Newcomer", role=Role.CLIENT,
                            password_hash=passwords.hash(NEWCOMER_PASSWORD),
                            password_changed_at=utcnow()))
        # An email the mail server refused, for the dashboard's notice and its own page.
        refused = outbox_service.queue(
            db.session, to="alex.typo@exmaple.com", kind="invite", now=utcnow(),
            email=Email("You're invited", "Hello\n", "<p>Hello</p>"))
        refused.status, refused.attempts = OutboxStatus.FAILED, 1
        refused.last_error = ("The mail server refused this address for good: 550 5.1.1 "
                              "<alex.typo@exmaple.com>: Recipient address rejected")
        jo = db.session.scalar(sa.select(User.id).where(User.email == THERAPIST_EMAIL))
        passkey = Passkey(user_id=jo, name="Jo's laptop", credential_id="c3dlZXAtcGFzc2tleQ",
                          public_key=b"not used by any page", transports=["internal"])
        db.session.add(passkey)
        db.session.commit()
        alex = db.session.scalar(sa.select(User.id).where(User.email == CLIENT_EMAIL))
        sam = db.session.scalar(sa.select(User.id).where(User.email == demo.CLIENTS[1][1]))
        service = db.session.scalar(sa.select(Service.id).order_by(Service.sort_order,
                                                                   Service.id))
        ids = {"client": alex, "service": service, "passkey": passkey.id}
        db.session.remove()
    return {**ids, "other": sam}


def _href(page, selector: str, pattern: str) -> str:
    """The first link on the page matching selector whose path matches pattern."""
    for href in page.locator(selector).evaluate_all("links => links.map(a => a.href)"):
        path = re.sub(r"^https?://[^/]+", "", href)
        if re.search(pattern, path):
            return path
    raise AssertionError(f"no link like {pattern!r} on {page.url}")


def _client_ids(page, live_server, ids: dict) -> dict:
    """Ids only the client's own pages reveal: a programme item, a booked appointment and a
    free time."""
    page.goto(live_server.url("/programme/"))
    found = {"item": _href(page, "a", r"^/programme/items/\d+")}
    found["item_id"] = re.search(r"\d+", found["item"]).group(0)
    page.goto(live_server.url("/messages/"))
    found["thread"] = _href(page, "a", r"^/messages/\d+$")
    page.goto(live_server.url("/appointments/"))
    found["appointment"] = re.search(
        r"\d+", _href(page, "a", r"^/appointments/\d+/cancel$")).group(0)
    found["reschedule"] = _href(page, "a", r"^/booking/\d+\?(.*&)?reschedule=\d+")
    page.goto(live_server.url(f"/booking/{ids['service']}"))
    for _ in range(6):  # the first week with a free time
        if page.locator("a.slot").count():
            break
        page.locator("a[rel=next]").first.click()
    found["week"] = re.sub(r"^https?://[^/]+", "", page.url)
    found["confirm"] = _href(page, "a.slot", r"/confirm\?start=")
    return found


def _therapist_ids(page, live_server) -> dict:
    """An exercise in the library (its page, edit and delete pages), the published article and
    the draft in Writing, and the enquiry waiting."""
    page.goto(live_server.url("/library/"))
    found = {"exercise": re.search(r"\d+", _href(page, "a", r"^/library/\d+$")).group(0)}
    # Alex's conversation about the hip flexor stretch, and the programme form it leads to
    # with the exercise picked out.
    page.goto(live_server.url("/messages/"))
    page.get_by_role("link", name=re.compile("Kneeling hip flexor")).first.click()
    found["thread"] = re.sub(r"^https?://[^/]+", "", page.url)
    found["builder_picked"] = _href(page, ".thread-aside a", r"^/programmes/\d+\?exercise=")
    page.goto(live_server.url("/writing/"))
    found["article"] = _href(page, "li:has(.badge--ok) a", r"^/writing/\d+$").rsplit("/", 1)[1]
    found["draft"] = _href(page, "li:has(.badge--muted) a", r"^/writing/\d+$").rsplit("/", 1)[1]
    page.goto(live_server.url("/enquiries/"))
    found["enquiry"] = _href(page, "a", r"^/enquiries/\d+$").rsplit("/", 1)[1]
    return found


def _anonymous_ids(new_page, live_server, outbox) -> dict:
    """An unused invitation link (sent by the therapist) and a shared programme sheet (made
    by the client), each got the way their users get them."""
    therapist = new_page()
    sign_in(therapist, live_server, THERAPIST_EMAIL, THERAPIST_PASSWORD)
    invite = therapist.locator("form", has=therapist.get_by_role("button",
                                                                  name="Send invitation"))
    invite.get_by_label("Client's name").fill("Rhea Sweep")
    invite.get_by_label("Client's email").fill("rhea.sweep@example.com")
    invite.get_by_role("button", name="Send invitation").click()
    expect(therapist.get_by_role("status")).to_contain_text("Invitation sent to Rhea Sweep")
    [message] = [m for m in outbox() if m.to_addr == "rhea.sweep@example.com"]
    token = link_in(message.text_body, "/auth/invite/").rsplit("/", 1)[1]

    client = new_page()
    sign_in(client, live_server, CLIENT_EMAIL, CLIENT_PASSWORD)
    client.goto(live_server.url("/sheet/"))
    client.get_by_role("button", name="Create link").click()
    share = client.get_by_label("The read-only address").input_value()
    return {"invite_token": token, "share_token": share.rsplit("/", 1)[1]}


# --- the sweep ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["anonymous", "newcomer", "client", "client_at_limit",
                                  "therapist"])
def test_every_page_passes_axe_at_phone_and_desktop_width(role, app, practice_world,
                                                          live_server, new_page, outbox):
    ids = dict(practice_world)
    visits = {"anonymous": ANONYMOUS, "newcomer": NEWCOMER, "client": CLIENT,
              "client_at_limit": CLIENT_AT_LIMIT, "therapist": THERAPIST}[role]
    login = {"newcomer": (NEWCOMER_EMAIL, NEWCOMER_PASSWORD),
             "client": (CLIENT_EMAIL, CLIENT_PASSWORD),
             "client_at_limit": (CLIENT_EMAIL, CLIENT_PASSWORD),
             "therapist": (THERAPIST_EMAIL, THERAPIST_PASSWORD)}.get(role)
    if role == "client_at_limit":
        with app.app_context():
            db.session.scalar(sa.select(Practice)).max_upcoming_per_client = 1
            db.session.commit()
            db.session.remove()
    pages = {True: new_page(), False: new_page(java_script_enabled=False)}
    if login:
        for page in pages.values():
            sign_in(page, live_server, *login)
            expect(page).not_to_have_url(re.compile("/auth/login"))
    if role == "client":
        ids.update(_client_ids(pages[True], live_server, ids))
    if role == "therapist":
        ids.update(_therapist_ids(pages[True], live_server))
    if role == "anonymous":
        ids.update(_anonymous_ids(new_page, live_server, outbox))

    findings = []
    for visit in visits:
        page = pages[visit.javascript]
        path = visit.path.format(**ids)
        name = f"{role} {path}" + (f" ({visit.state})" if visit.state else "") + (
            "" if visit.javascript else " (no JavaScript)")
        set_viewport(page, PHONE)
        response = page.goto(live_server.url(path))
        assert response is not None, name
        expected = visit.status or response.status
        assert response.status == expected and response.status < 500, (
            f"{name}: HTTP {response.status}")
        if login:
            assert "/auth/login" not in page.url, f"{name}: sent to the login page"
        if visit.state:
            STATES[visit.state](page)
        for size in (PHONE, DESKTOP):
            set_viewport(page, size)
            findings += axe_findings(page, f"{name} at {size['width']}px")
    assert not findings, "\n".join(findings)
    if role == "anonymous":
        _would_catch_a_violation(pages[True])


def _would_catch_a_violation(page) -> None:
    """The harness itself: axe, loaded under the real CSP, reports an unlabelled field and an
    image without a text alternative (a sweep whose axe never ran would find nothing too)."""
    page.evaluate("""() => {
        const main = document.querySelector('main');
        main.append(document.createElement('input'));
        main.append(document.createElement('img'));
    }""")
    findings = "\n".join(axe_findings(page, "a page with a broken field"))
    assert "label" in findings and "image-alt" in findings, findings

