"""What a phone downloads, in a real browser: the stylesheet and scripts arrive compressed on
the first page, and later pages load them from the browser's cache without asking the server
at all (content-hashed names served as immutable: portal/web/static_files.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_styles_and_scripts_arrive_compressed_once_and_are_not_asked_for_again(
        app, live_server, page, make_client):
    alex = make_client(name="Alex Morgan", email="alex.morgan@example.com")
    served = []  # every request that reached the server
    inner = app.wsgi_app

    def counting(environ, start_response):
        served.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app = counting
    encodings = {}
    page.on("response", lambda response: encodings.__setitem__(
        response.url, response.header_value("content-encoding")))
    try:
        sign_in(page, live_server, alex.email, TEST_PASSWORD)
        expect(page.get_by_role("heading", name="Hello, Alex")).to_be_visible()
        first = [path for path in served if path.startswith("/static/")]
        assert any(path.endswith(".css") for path in first)
        assert any(path.endswith(".js") for path in first)
        for url, encoding in encodings.items():
            if url.endswith((".css", ".js")):
                assert encoding in ("br", "gzip"), url

        # The next pages: only the page itself reaches the server.
        for path in ("/account/", "/appointments/", "/"):
            served.clear()
            page.goto(live_server.url(path))
            page.wait_for_load_state("load")
            assert served == [path]
    finally:
        app.wsgi_app = inner
