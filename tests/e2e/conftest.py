"""Browser fixtures: a live server per test, Chromium, an SMTP sink, axe and screenshots.

The live server serves the very `app` of tests/conftest.py (so each e2e test runs once per
database backend) from a background thread. Chromium is Debian's (PORTAL_CHROMIUM overrides
the path); `playwright install` is not needed.

How axe gets past the CSP: the app sends `script-src 'self'`, which forbids inline scripts,
so `page.add_script_tag(content=...)` is refused (tried: Chromium reports a CSP violation).
`_run_axe` instead calls `page.evaluate(axe_source)` (axe-core as axe_playwright_python ships
it, loaded once per document), which Playwright sends over
the DevTools protocol (Runtime.evaluate); CSP governs what the page itself loads and runs,
not what the debugger evaluates, so axe loads and `axe.run()` works (tried: an injected
unlabelled input and an image without alt fail the check). The contexts therefore keep the
real CSP (bypass_csp stays off) and each page is checked under the policy users get; the
console listener also turns any CSP violation (an inline style or script slipping into a
template) into a failure.

The browser is session-scoped: while it is open, Playwright's event loop counts as running in
the main thread, so a test that calls asyncio.run() there would fail. No test does today; one
that must should make `browser` package-scoped instead.
"""

from __future__ import annotations

import email
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import utcnow
from portal.services import outbox
from tests.conftest import ROOT, SECOND_STEP, Database, app_code

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
SCREENSHOTS = ROOT / "test-results" / "screenshots"
# PORTAL_SCREENSHOTS=0 (CI, where nobody looks at them) skips writing the PNGs; the page is
# still resized to each width and back, so the journeys run exactly the same steps.
WRITE_SCREENSHOTS = os.environ.get("PORTAL_SCREENSHOTS", "1") != "0"
BLOCKING_IMPACTS = ("serious", "critical")


# --- live server --------------------------------------------------------------------------


@dataclass
class LiveServer:
    """A running server; `live_server.url("/auth/login")` is an absolute URL on it."""

    app: Flask
    host: str
    port: int

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path


class _ClosedWhenDropped:
    """A response body that is closed even when the browser drops the connection.

    Werkzeug's development server closes the body only after draining the socket, and a
    connection reset while draining skips that close: a static file then stays open until
    the garbage collector finds it, and its ResourceWarning fails whichever test is running
    (pytest runs with warnings as errors). Closing the body here, when the iterator runs out
    or is released, keeps every file closed. Production servers (gunicorn) close it anyway.
    """

    def __init__(self, body):
        self._body = body

    def __iter__(self):
        return iter(self._body)

    def close(self) -> None:
        body, self._body = self._body, ()
        if hasattr(body, "close"):
            body.close()

    def __del__(self):
        self.close()


def _closing(app: Flask):
    def serve(environ, start_response):
        return _ClosedWhenDropped(app(environ, start_response))
    return serve


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The test's app served on 127.0.0.1 at a free port by a threaded werkzeug server."""
    # Port 0: the OS picks a free port and the socket is bound at once, so there is no race
    # between finding a port and using it.
    server = make_server("127.0.0.1", 0, _closing(app), threaded=True)
    host, port = "127.0.0.1", server.server_port
    # Links built outside a request (url_for(_external=True) in the CLI or in a test's app
    # context) must open on this server, like those built while handling a browser request.
    app.config.update(SERVER_NAME=f"{host}:{port}", PREFERRED_URL_SCHEME="http")
    # The loop looks for shutdown() every poll_interval: socketserver's default of 0.5 s made
    # every browser test wait about 0.4 s at the end for nothing.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name=f"live-server-{port}", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, host=host, port=port)
    finally:
        if thread.is_alive():  # shutdown() would wait forever for a loop that died
            server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        # Connections the request threads returned to the pool must not block the
        # PostgreSQL DELETEs in the `app` fixture's teardown. Request threads are daemons
        # that server_close() does not wait for: wait until a request still finishing has
        # given its connection back, or dispose() would miss it and it would be garbage
        # collected open later (a ResourceWarning failing whichever test runs then).
        with app.app_context():
            db.session.remove()
            engine = db.engine
            deadline = time.monotonic() + 10
            while getattr(engine.pool, "checkedout", lambda: 0)() and (
                    time.monotonic() < deadline):
                time.sleep(0.05)
            engine.dispose()


# --- browser ------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for the browser tests, closed when they are done (its event loop
    must not outlive them: later tests may run asyncio in the main thread)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


# Console errors (CSP violations, failed loads, uncaught exceptions) seen by each page.
_PROBLEMS: dict[int, list[str]] = {}
# Pages whose context runs no JavaScript (axe needs a twin page for them; see axe_check).
_NO_SCRIPT: set[int] = set()


def page_problems(page) -> list[str]:
    """Console errors and uncaught exceptions seen so far on this page."""
    return _PROBLEMS.get(id(page), [])


@pytest.fixture
def new_page(browser) -> Iterator[Callable[..., object]]:
    """Factory: a page in a fresh browser context (its own cookies), phone-sized at first."""
    contexts = []
    pages = []

    def factory(**context_options):
        options = {"viewport": PHONE, "locale": "en-GB", "timezone_id": "Europe/London",
                   **context_options}
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        problems = _PROBLEMS.setdefault(id(page), [])
        if options.get("java_script_enabled") is False:
            _NO_SCRIPT.add(id(page))

        def on_console(message):
            # A document answered with 404 on purpose logs "Failed to load resource" too;
            # failed subresources are caught by on_response instead.
            if message.type == "error" and not message.text.startswith("Failed to load"):
                problems.append(f"console error: {message.text}")

        def on_response(response):
            if response.status >= 400 and response.request.resource_type != "document":
                problems.append(f"{response.status} for {response.url}")

        page.on("console", on_console)
        page.on("response", on_response)
        page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
        pages.append(page)
        return page

    yield factory
    for context in contexts:
        context.close()
    leftovers = {}
    for page in pages:
        problems = _PROBLEMS.pop(id(page), [])
        _NO_SCRIPT.discard(id(page))
        if problems:
            leftovers[page.url] = problems
    assert not leftovers, f"browser console errors: {leftovers}"


@pytest.fixture
def page(new_page):
    """A page in a new browser context for this test."""
    return new_page()


# --- checks -------------------------------------------------------------------------------


def _clock_held(page) -> bool:
    """True when the test drives the page's timers (page.clock): they may never fire."""
    return page.evaluate("'__pwClock' in globalThis")


def set_viewport(page, size: dict) -> None:
    """Resize the page and wait until its scripts have seen the new size.

    The browser reports a resize at its next frame; the navigation re-fits its links then.
    Two animation frames later the page is as a visitor at this size would find it. Pages
    without JavaScript, or whose clock a test holds, are not waited for (nothing would run).
    """
    page.set_viewport_size(size)
    if id(page) in _NO_SCRIPT or _clock_held(page):
        return
    page.evaluate("() => new Promise(done => requestAnimationFrame("
                  "() => requestAnimationFrame(() => done(true))))")


def _run_axe(page) -> dict:
    """axe.run() on the page, loading axe-core into the document only once (a sweep runs it
    at two widths on each page, and parsing axe-core costs as much as a run)."""
    from axe_playwright_python.base import AXE_SCRIPT

    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    return page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")


def _axe_results(page) -> dict:
    """axe's results for the page as it is now."""

    # axe.run() is a promise driven by timers. Timers never fire in a page without JavaScript,
    # nor while a test holds the page's clock (page.clock.install() / pause_at(), detected by
    # the __pwClock global Playwright's clock puts in the page): axe would wait for ever. Such
    # a page is checked through a twin instead: a page that may run JavaScript, with its own
    # scripts blocked, fed the page's current DOM and styled by the same stylesheets.
    if id(page) not in _NO_SCRIPT and not _clock_held(page):
        return _run_axe(page)
    html, target = page.content(), page.url
    context = page.context.browser.new_context(viewport=page.viewport_size)
    try:
        twin = context.new_page()
        twin.route(lambda url: url.split("?")[0].endswith(".js"), lambda route: route.abort())
        twin.route(lambda url: url == target, lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=html))
        twin.goto(target)
        return _run_axe(twin)
    finally:
        context.close()


def axe_findings(page, name: str) -> list[str]:
    """Console errors and every serious or critical axe violation on the page as it is now,
    as readable lines; empty when the page passes."""
    problems = page_problems(page)
    if problems:
        return [f"{name}: browser console errors on {page.url}: {problems}"]
    results = _axe_results(page)
    blocking = [v for v in results["violations"] if v["impact"] in BLOCKING_IMPACTS]
    if not blocking:
        return []
    lines = [f"{name} ({page.url}): {len(blocking)} serious/critical accessibility violations"]
    for violation in blocking:
        lines.append(f"- {violation['id']} [{violation['impact']}]: {violation['help']} "
                     f"({violation['helpUrl']})")
        for node in violation["nodes"]:
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['html'][:160]}")
            if summary:
                lines.append(f"      {summary}")
    return lines


def axe_check(page, name: str) -> None:
    """Fail listing every serious or critical axe violation on the page as it is now."""
    lines = axe_findings(page, name)
    if lines:
        pytest.fail("\n".join(lines), pytrace=False)


def save_screenshots(page, name: str, directory: Path) -> list[Path]:
    """Full-page PNGs of the page at phone and desktop sizes; the viewport is restored.

    Without WRITE_SCREENSHOTS the page is only resized (no PNG is encoded or written)."""
    if WRITE_SCREENSHOTS:
        directory.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    paths = []
    try:
        for label, size in VIEWPORTS.items():
            set_viewport(page, size)
            if not WRITE_SCREENSHOTS:
                continue
            path = directory / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True, animations="disabled",
                            caret="hide")
            paths.append(path)
    finally:
        if original:
            set_viewport(page, original)
    return paths


@pytest.fixture
def screenshot(database: Database) -> Callable[[object, str], list[Path]]:
    """screenshot(page, name): phone and desktop PNGs under test-results/screenshots/<backend>/."""
    directory = SCREENSHOTS / database.backend
    return lambda page, name: save_screenshots(page, name, directory)


@pytest.fixture
def review(screenshot):
    """review(page, name): phone and desktop screenshots of a journey's screen.

    Accessibility is checked once per page by test_accessibility_sweep.py (axe at both
    widths), not on every screen of every journey; a journey that reaches a page the sweep
    does not know should add it there.
    """
    return screenshot


# --- page helpers -------------------------------------------------------------------------


def sign_in(page, live_server: LiveServer, email: str, password: str) -> None:
    """Open the login page and sign in, giving the authenticator app's code when asked (the
    caller checks where it lands)."""
    page.goto(live_server.url("/auth/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    if urlsplit(page.url).path == SECOND_STEP:
        page.get_by_label("Code from your app").fill(app_code(live_server.app, email))
        with page.expect_navigation():
            page.get_by_role("button", name="Continue").click()


def nav_link(page, name: str):
    """A main navigation link; on a phone a long navigation is folded, so open it first."""
    toggle = page.get_by_role("button", name="Menu")
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false":
        toggle.click()
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def field_of(page, input_id: str):
    """The .field wrapper around an input: its label, help, error and the input itself."""
    return page.locator(".field").filter(has=page.locator(f"#{input_id}"))


# --- mail ---------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What an SMTP server on loopback received."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        """Messages whose To header is this address, oldest first."""
        return [m for m in self.messages if m["To"].lower() == address.lower()]


class _Collector:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self, mailbox: Mailbox):
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=default_policy)
        self.mailbox.messages.append(message)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 that accepts and stores every message."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox("127.0.0.1", _free_port())
    controller = Controller(_Collector(mailbox), hostname=mailbox.host, port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def send_outbox(app: Flask, smtp_server: Mailbox) -> Callable[[], tuple[int, int]]:
    """send_outbox(): run the outbox sender once against the SMTP sink; (sent, failed)."""

    def run() -> tuple[int, int]:
        transport = outbox.SmtpTransport(smtp_server.host, smtp_server.port, use_tls=False,
                                         timeout=10)
        with app.app_context():
            try:
                return outbox.deliver_pending(
                    db.session, transport, sender=app.config["MAIL_FROM"], worker="e2e",
                    clock=utcnow, retry_for=timedelta(days=app.config["OUTBOX_RETRY_DAYS"]),
                )
            finally:
                db.session.remove()

    return run


def text_part(message: EmailMessage) -> str:
    """The plain-text body of a delivered message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, f"no text part in {message['Subject']!r}"
    return part.get_content()
