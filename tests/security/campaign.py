"""`make campaign`: an attacker's campaign against the demo practice, on each database.

Not part of the suite (it sends thousands of requests and takes a minute or two per
database); the suite holds the rules it probes (tests/web/test_route_security.py and the
tests of each area). This re-runs the campaign that issue 10's figures came from, so they can
be measured again after a change:

- cross-client: signed in as Sam, every client route with an id is opened (GET) and sent
  (POST, with Sam's own CSRF token) for every id of Alex's rows; no page may show anything
  of Alex's and no request may change anything of his;
- CSRF: every POST route, as a user it lets in, without a token, with another session's
  token, with a broken token and with the token in the query string; each must be refused
  (400) and write nothing;
- fuzz: every form each role can reach by following links is sent with hostile values in
  each field in turn; no answer may be a server error;
- escaping: what the fuzz stored (markup in every field that kept it) is looked for,
  unescaped, on every page each role can reach and in every email the portal composed;
- open redirect: every page with a hostile `next`, and the login form with one; no answer
  may send the browser to another site.

Rate limits are off for the campaign (they would stop it early; they have their own tests).
Exit status 1 when anything is found.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from werkzeug.routing import Rule  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import OutboxMessage, Practice, Role, User, utcnow  # noqa: E402
from portal.seed import demo  # noqa: E402
from portal.web import access  # noqa: E402
from tests.conftest import (  # noqa: E402
    base_config,
    create_postgres_database,
    csrf_from,
    drop_postgres_database,
    login,
    postgres_server_url,
)
from tests.web.test_route_security import ARGUMENT, fill  # noqa: E402
from tests.web.test_valid_html import compose_appointment_emails  # noqa: E402

MARKUP = '<b data-campaign="x">'
HOSTILE = [
    "", " ", "x" * 5000, "a\x00b", MARKUP, "<script>alert(1)</script>", "' OR '1'='1' --",
    "-1", "0", "99999999999999999999", "1e309", "NaN", "2026-02-30", "24:61",
    "../../etc/passwd", "\u202egnp.exe", "\U0001f600" * 40, "%s%n%x", "{{7*7}}",
    "javascript:alert(1)",
]
ELSEWHERE = ["//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
             "http:evil.example", "/%2F%2Fevil.example", "javascript:alert(1)"]
# Tables that refused requests may legitimately write to: the audit trail (a refusal can be
# recorded), sign-in bookkeeping and the login throttle.
BOOKKEEPING = {"audit_event", "device", "login_throttle", "reset_request"}
# Forms the fuzz leaves alone: signing out ends the campaign's session (it signs in again,
# but every later form would be sent signed out first).
NOT_FUZZED = re.compile(r"/auth/logout|/sign-out|/devices/")


@dataclass
class Tally:
    """What was tried and what was found, by attack."""

    tried: Counter = field(default_factory=Counter)
    found: list[str] = field(default_factory=list)

    def fail(self, attack: str, message: str) -> None:
        self.found.append(f"{attack}: {message}")


# --- reading pages ----------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    fields: dict[str, str]  # name -> value the page gave (first one wins)
    fuzzed: list[str]  # names the fuzz tries: all but the CSRF token (hidden ones too)


class _Page(HTMLParser):
    """Links and POST forms of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "form":
            if (a.get("method") or "get").lower() == "post":
                self._form = Form(a.get("action") or "", {}, [])
                self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "select", "textarea", "button"):
            name = a.get("name")
            if not name:
                return
            kind = (a.get("type") or "").lower()
            if tag == "button" or kind in ("submit", "button", "image"):
                self._form.fields.setdefault(name, a.get("value") or "")
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                self._form.fields.setdefault(name, "")
            else:
                self._form.fields.setdefault(name, a.get("value") or "")
            if name != "csrf_token" and name not in self._form.fuzzed:
                self._form.fuzzed.append(name)
            if kind in ("checkbox", "radio") and not self._form.fields[name]:
                self._form.fields[name] = a.get("value") or "y"

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def local_path(href: str, base: str) -> str | None:
    """The site path a link leads to, or None for another site, a download or a fragment."""
    url = urlsplit(urljoin("http://localhost" + base, href))
    if url.netloc != "localhost" or url.scheme != "http":
        return None
    return url.path + (f"?{url.query}" if url.query else "")


def crawl(browser: FlaskClient, start: list[str], limit: int = 160) -> Iterator[tuple[str, str]]:
    """(path, html) of each page reachable from start by links, each path once; query strings
    vary per page only in a few values, so at most three paths share a route."""
    seen, queue, per_route = set(), list(start), Counter()
    while queue and len(seen) < limit:
        path = queue.pop(0)
        route = re.sub(r"\d+", "N", path.split("?")[0])
        if path in seen or per_route[route] >= 3:
            continue
        seen.add(path)
        per_route[route] += 1
        response = browser.get(path)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        yield path, html
        for href in parse(html).links:
            target = local_path(href, path)
            if target and not re.search(r"/auth/logout|\.(ics|json|png|jpe?g|webp|svg)$|"
                                        r"/feed|/download|\.csv", target):
                queue.append(target)


# --- the world ----------------------------------------------------------------------------------


def build(backend: str, tmp: Path) -> tuple[Flask, str | None]:
    """A migrated database with the demo practice; returns the app and the database to drop."""
    if backend == "sqlite":
        url, drop = f"sqlite:///{tmp / 'campaign.sqlite3'}", None
    else:
        server = postgres_server_url()
        url = drop = create_postgres_database(server)
    config = base_config(url, tmp)
    config.update(RATELIMIT_ENABLED=False, TESTING=False, PORTAL_ENV="testing")
    app = create_app(config)
    with app.app_context():
        upgrade()
        demo.seed(db.session, app.extensions["portal.passwords"],
                  box=app.extensions["portal.secret_box"], now=utcnow(), timezone="Europe/London")
        db.session.commit()
    return app, drop


def signed_in(app: Flask, who: tuple[str, str, str]) -> FlaskClient:
    browser = app.test_client()
    response = login(browser, who[1], who[2])
    assert response.status_code == 302, f"{who[1]} could not sign in"
    return browser


def snapshot(app: Flask, *, skip: set[str] = BOOKKEEPING) -> dict[str, list]:
    """Every row of every table but the bookkeeping ones."""
    with app.app_context():
        db.session.remove()
        return {t.name: sorted(map(repr, db.session.execute(sa.select(t))))
                for t in db.metadata.sorted_tables if t.name not in skip}


def rows_of(app: Flask, user_id: int) -> dict[str, list[int]]:
    """Ids of rows in every table with a client_id or user_id column pointing at the user."""
    found: dict[str, list[int]] = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            owner = table.c.get("client_id") if "client_id" in table.c else table.c.get("user_id")
            if owner is None or "id" not in table.c:
                continue
            ids = db.session.scalars(sa.select(table.c.id).where(owner == user_id)).all()
            if ids:
                found[table.name] = list(ids)
    return found


def secrets_of(app: Flask, user_id: int) -> list[str]:
    """Strings only this client's pages should ever show: name, email, phone, and the longer
    answers of their questionnaire."""
    with app.app_context():
        user = db.session.get(User, user_id)
        found = [user.name, user.email]
        from portal.models import IntakeForm

        for answers in db.session.scalars(
                sa.select(IntakeForm.answers).where(IntakeForm.client_id == user_id)):
            found += [v for v in (answers or {}).values() if isinstance(v, str) and len(v) > 12]
    return [s for s in found if s]


def csrf_of(browser: FlaskClient, path: str = "/account/") -> str:
    return csrf_from(browser.get(path).get_data(as_text=True))


def client_routes(app: Flask) -> list[tuple[str, set[str]]]:
    """(rule, methods) of every route with an id that a client may open."""
    found = []
    for rule in app.url_map.iter_rules():
        declared = access.access_of(app, rule.endpoint)
        if declared == access.PUBLIC or declared is None or Role.CLIENT not in declared:
            continue
        if "<int:" in rule.rule:
            found.append((rule.rule, set(rule.methods or ()) & {"GET", "POST"}))
    return found


# --- attacks ------------------------------------------------------------------------------------


def cross_client(app: Flask, tally: Tally, alex: int, sam: int) -> None:
    """Sam opens and sends every client route with each id of Alex's rows."""
    browser = signed_in(app, demo.CLIENTS[1])
    token = csrf_of(browser)
    secrets = secrets_of(app, alex)
    ids = sorted({i for ids in rows_of(app, alex).values() for i in ids})
    before = snapshot(app)
    for rule, methods in client_routes(app):
        for value in ids:
            # Each id in the int parts; the other parts as the route walk fills them.
            url = fill(Rule(ARGUMENT.sub(lambda m, v=value: str(v) if m.group("converter")
                                         == "int" else m.group(0), rule)))
            if "GET" in methods:
                tally.tried["cross-client"] += 1
                response = browser.get(url)
                body = response.get_data(as_text=True)
                shown = [s for s in secrets if s in body]
                if response.status_code >= 500 or shown:
                    tally.fail("cross-client", f"GET {url} as Sam: {response.status_code} "
                                               f"{shown[:2]}")
            if "POST" in methods:
                tally.tried["cross-client"] += 1
                response = browser.post(url, data={"csrf_token": token})
                if response.status_code >= 500:
                    tally.fail("cross-client", f"POST {url} as Sam: {response.status_code}")
    after = snapshot(app)
    for table, rows in before.items():
        if after[table] != rows:
            tally.fail("cross-client", f"Sam's requests changed {table}")


def csrf(app: Flask, tally: Tally) -> None:
    """Every POST route, four ways without a valid token for the session."""
    jo, sam, alex = (signed_in(app, demo.THERAPIST), signed_in(app, demo.CLIENTS[1]),
                     signed_in(app, demo.CLIENTS[0]))
    foreign = csrf_of(alex)
    own = csrf_of(sam)
    before = snapshot(app)
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()):
            continue
        declared = access.access_of(app, rule.endpoint)
        therapist = declared == access.PUBLIC or Role.THERAPIST in (declared or ())
        browser = jo if therapist else sam
        url = fill(rule)
        for variant, data, query in (("none", {}, ""),
                                     ("another session's", {"csrf_token": foreign}, ""),
                                     ("broken", {"csrf_token": own[:-4] + "AAAA"}, ""),
                                     ("in the query", {}, "?" + urlencode({"csrf_token": own}))):
            tally.tried["csrf"] += 1
            response = browser.post(url + query, data={**data, "name": "x", "email":
                                                       "x@example.com"})
            if response.status_code != 400:
                tally.fail("csrf", f"POST {url} with {variant} token: {response.status_code}")
    after = snapshot(app)
    for table, rows in before.items():
        if after[table] != rows:
            tally.fail("csrf", f"refused POSTs changed {table}")


def fuzz(app: Flask, tally: Tally) -> None:
    """Each reachable form, each field in turn set to each hostile value."""
    for who, start in ((None, ["/auth/login", "/auth/forgot", "/auth/register"]),
                       (demo.CLIENTS[0], ["/", "/booking/", "/programme/", "/account/",
                                          "/appointments/", "/sheet/", "/intake/"]),
                       (demo.THERAPIST, ["/dashboard/", "/dashboard/clients", "/diary/days",
                                         "/programmes/", "/library/", "/dashboard/settings",
                                         "/account/"])):
        browser = signed_in(app, who) if who else app.test_client()
        forms: dict[tuple[str, tuple[str, ...]], tuple[str, Form]] = {}
        for path, html in crawl(browser, start):
            for form in parse(html).forms:
                action = local_path(form.action or path, path)
                if action and not NOT_FUZZED.search(action) and form.fuzzed:
                    forms.setdefault((re.sub(r"\d+", "N", action), tuple(form.fuzzed)),
                                     (path, form))
        for (_, _), (path, form) in forms.items():
            action = local_path(form.action or path, path)
            if who and browser.get("/account/").status_code != 200:
                browser = signed_in(app, who)  # a form signed us out: sign in again
            token = csrf_of(browser, path) if "csrf_token" in form.fields else None
            for name in form.fuzzed:
                for value in HOSTILE:
                    data = {**form.fields, name: value}
                    if token:
                        data["csrf_token"] = token
                    tally.tried["fuzz"] += 1
                    response = browser.post(action, data=data)
                    if response.status_code >= 500:
                        tally.fail("fuzz", f"POST {action} {name}={value[:20]!r} as "
                                           f"{who[1] if who else 'a stranger'}: "
                                           f"{response.status_code}")
        tally.tried["forms"] += len(forms)


def escaping(app: Flask, tally: Tally) -> None:
    """The fuzz's markup, unescaped, on any page or in any email."""
    with app.app_context():  # the therapist's fuzz may have turned off a client's access
        db.session.execute(sa.update(User).values(active=True))
        db.session.commit()
    for who, start in ((demo.CLIENTS[0], ["/", "/booking/", "/programme/", "/account/",
                                          "/appointments/", "/account/data"]),
                       (demo.CLIENTS[1], ["/", "/programme/", "/account/"]),
                       (demo.THERAPIST, ["/dashboard/", "/dashboard/clients", "/diary/days",
                                         "/programmes/", "/library/", "/clients/erasures",
                                         "/settings/emails"])):
        browser = signed_in(app, who)
        for path, html in crawl(browser, start, limit=200):
            tally.tried["escaping pages"] += 1
            tally.tried["pages with it escaped"] += "&lt;b data-campaign=" in html
            if MARKUP in html or "<script>alert(1)" in html:
                tally.fail("escaping", f"{path} as {who[1]} shows stored markup unescaped")
    # Names everywhere in the emails: every person's and the practice's now carry markup, and
    # the session emails (confirmation, change, reminder, cancellation with a message) are
    # composed by the code that sends them, as the HTML check composes them.
    with app.app_context():
        db.session.execute(sa.update(User).values(name=User.name + MARKUP))
        db.session.execute(sa.update(Practice).values(name=Practice.name + MARKUP))
        db.session.commit()
    compose_appointment_emails(app)
    with app.app_context():
        for message in db.session.scalars(sa.select(OutboxMessage)):
            tally.tried["escaping emails"] += 1
            # The check means something only where the markup reached the email, escaped.
            tally.tried["emails with it escaped"] += "&lt;b data-campaign=" in message.html_body
            if MARKUP in message.html_body or "<script>alert(1)" in message.html_body:
                tally.fail("escaping", f"email {message.kind} to {message.to_addr}")


def redirects(app: Flask, tally: Tally) -> None:
    """A hostile `next` on every page each role reaches, and on the login form."""
    def offsite(response) -> bool:
        if not 300 <= response.status_code < 400:
            return False
        target = urlsplit(urljoin("http://localhost/", response.location))
        return target.netloc not in ("", "localhost") or target.scheme not in ("http", "")

    for who, start in ((None, ["/auth/login"]), (demo.CLIENTS[0], ["/", "/booking/"]),
                       (demo.THERAPIST, ["/dashboard/", "/diary/days"])):
        browser = signed_in(app, who) if who else app.test_client()
        for path, _ in crawl(browser, start, limit=60):
            base, _, query = path.partition("?")
            for target in ELSEWHERE:
                tally.tried["open redirect"] += 1
                params = dict(parse_qsl(query)) | {"next": target}
                response = browser.get(f"{base}?{urlencode(params)}")
                if offsite(response):
                    tally.fail("open redirect", f"{path} next={target} -> {response.location}")
    for target in ELSEWHERE:
        stranger = app.test_client()
        tally.tried["open redirect"] += 1
        token = csrf_of(stranger, "/auth/login")
        response = stranger.post(f"/auth/login?{urlencode({'next': target})}", data={
            "csrf_token": token, "email": demo.CLIENTS[1][1], "password": demo.CLIENTS[1][2],
            "next": target})
        if offsite(response):
            tally.fail("open redirect", f"login next={target} -> {response.location}")


def campaign(backend: str) -> Tally:
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix=f"campaign-{backend}-") as tmp:
        app, drop = build(backend, Path(tmp))
        try:
            with app.app_context():
                alex, sam = (db.session.scalar(sa.select(User.id).where(User.email == c[1]))
                             for c in demo.CLIENTS)
            for attack in (lambda: cross_client(app, tally, alex, sam), lambda: csrf(app, tally),
                           lambda: fuzz(app, tally), lambda: escaping(app, tally),
                           lambda: redirects(app, tally)):
                attack()
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            if drop:
                drop_postgres_database(postgres_server_url(), drop)
    return tally


def main() -> int:
    backends = ["sqlite"] + (["postgresql"] if postgres_server_url() else [])
    found = 0
    for backend in backends:
        started = time.monotonic()
        tally = campaign(backend)
        print(f"\n{backend} ({time.monotonic() - started:.0f} s)")
        for attack, count in tally.tried.items():
            print(f"  {attack:<24} {count:>6}")
        print(f"  {'findings':<24} {len(tally.found):>6}")
        for line in tally.found[:40]:
            print(f"    {line}")
        found += len(tally.found)
    if len(backends) == 1:
        print("\n(PostgreSQL not tried: set TEST_DATABASE_URL to include it)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
