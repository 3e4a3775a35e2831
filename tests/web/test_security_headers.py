"""The security baseline: headers, production settings, size limits, error pages, health."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.test import encode_multipart

from portal import create_app
from portal.config import ConfigError
from portal.extensions import db
from tests.conftest import TEST_PASSWORD, base_config, csrf_from

HTTPS = "https://localhost"
SAFE_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin",
                          "strict-origin-when-cross-origin"}


# --- helpers ------------------------------------------------------------------------------


def csp_directives(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response.headers.get("Content-Security-Policy")
    assert header, "no Content-Security-Policy header"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def set_cookies(response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def cookie_attributes(header: str) -> set[str]:
    """The lower-cased attribute names (and Path value) of one Set-Cookie header."""
    attrs = set()
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attrs.add(name.lower() if name.lower() != "path" else f"path={value}")
    return attrs


def dispose(app: Flask) -> None:
    """Close an extra app's database connections."""
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def production_app(app, tmp_path) -> Iterator[Flask]:
    """The same database as `app`, configured as in production."""
    config = base_config(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path)
    prod = create_app({**config, "PORTAL_ENV": "production"})
    yield prod
    dispose(prod)


# --- headers on every response ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/login", "/no-such-page", "/healthz"])
def test_csp_is_strict(client, practice, path):
    """Only our own origin; no plugins, no framing, no inline script or style."""
    response = client.get(path)
    csp = csp_directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp.get("base-uri") == ["'none'"]
    header = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in header
    assert "'unsafe-eval'" not in header
    assert "*" not in header


def test_basic_hardening_headers(client, practice):
    """No MIME sniffing, no framing, a privacy-preserving referrer policy."""
    headers = client.get("/auth/login").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] in SAFE_REFERRER_POLICIES


def test_login_page_is_not_cached(client, practice):
    """The sign-in page is never stored (it carries a CSRF token)."""
    assert "no-store" in client.get("/auth/login").headers["Cache-Control"]


def test_signed_in_page_is_not_cached(as_client):
    """Pages behind sign-in (health data) are never stored by a browser or proxy."""
    response = as_client.get("/account/")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


def test_static_files_may_be_cached(client):
    """Stylesheets and scripts are not marked no-store, so phones keep them."""
    for path in ("/static/css/portal.css", "/static/js/enhance.js"):
        with client.get(path) as response:
            assert response.status_code == 200, path
            assert "no-store" not in response.headers.get("Cache-Control", ""), path
            assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_hsts_outside_production(client, practice):
    """Testing and development run over plain HTTP: no HSTS that would break localhost."""
    assert "Strict-Transport-Security" not in client.get("/auth/login").headers


# --- production settings ------------------------------------------------------------------


def test_production_sends_hsts(production_app, practice):
    """Production pins HTTPS for at least a year."""
    response = production_app.test_client().get("/auth/login", base_url=HTTPS)
    assert response.status_code == 200
    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 365 * 24 * 3600


def test_production_cookies_are_host_prefixed_and_secure(production_app, make_client):
    """Session and remember-me cookies are __Host- cookies: Secure, HttpOnly, host-only, /."""
    user = make_client()
    browser = production_app.test_client()
    page = browser.get("/auth/login", base_url=HTTPS)
    first = set_cookies(page)
    assert set(first) == {"__Host-portal_session"}

    response = browser.post(
        "/auth/login", base_url=HTTPS, headers={"Referer": f"{HTTPS}/auth/login"},
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "email": user.email,
              "password": TEST_PASSWORD, "remember": "y"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    cookies = set_cookies(response)
    assert set(cookies) == {"__Host-portal_session", "__Host-portal_remember",
                            "__Host-portal_device"}
    for header in cookies.values():
        attrs = cookie_attributes(header)
        assert {"secure", "httponly", "path=/"} <= attrs, header
        assert "domain" not in attrs, header
        assert "samesite" in attrs, header
    assert browser.get("/account/", base_url=HTTPS).status_code == 200


@pytest.mark.parametrize("secret", [None, "", "too-short-for-production"])
def test_production_refuses_to_start_without_a_real_secret_key(tmp_path, monkeypatch, secret):
    """A missing or weak SECRET_KEY in production stops create_app with ConfigError."""
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    config = base_config(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
    config["PORTAL_ENV"] = "production"
    if secret is None:
        del config["SECRET_KEY"]
    else:
        config["SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(config)


def test_production_is_the_default_environment(tmp_path, monkeypatch):
    """Forgetting PORTAL_ENV fails safe: production rules apply."""
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    config = base_config(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
    del config["PORTAL_ENV"], config["SECRET_KEY"]
    with pytest.raises(ConfigError):
        create_app(config)


# --- limits and error pages ---------------------------------------------------------------


def test_oversized_body_gets_the_413_page(app, client, practice):
    """A body over MAX_CONTENT_LENGTH is refused with the friendly 413 page."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/auth/login", data=b"a" * (limit + 1),
                           content_type="application/x-www-form-urlencoded")
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "too large" in page
    assert 'class="site-header"' in page


def test_oversized_form_field_gets_the_413_page(app, client, practice):
    """A multipart text field over MAX_FORM_MEMORY_SIZE (body under the limit) is refused."""
    size = app.config["MAX_FORM_MEMORY_SIZE"] + 1
    assert size < app.config["MAX_CONTENT_LENGTH"]
    # Encoded here, in memory: the test client would spool a body this big to a temp file.
    boundary, body = encode_multipart({"email": "a" * size})
    response = client.post("/auth/forgot", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_404_page_is_in_the_site_style(client, practice):
    """An unknown address shows the site's header, a plain explanation and a way home."""
    response = client.get("/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'class="site-header"' in page
    assert "Test Practice" in page
    assert "We can&#39;t find that page" in page or "We can't find that page" in page
    assert 'href="/"' in page


def test_405_page_names_allowed_methods(client, practice):
    """A wrong method gets the styled page and an Allow header."""
    response = client.put("/auth/login")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert 'class="site-header"' in response.get_data(as_text=True)


def test_post_without_csrf_token_gets_the_styled_400(client, practice):
    """A forged or expired form gets a 400 page explaining what to do."""
    response = client.post("/auth/login", data={"email": "a@example.com", "password": "x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Reload it and try again" in page
    assert 'class="site-header"' in page


# --- health check -------------------------------------------------------------------------


def test_healthz_ok(client):
    """The health check answers 200 with a tiny JSON body when the database is up."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok"}


@pytest.fixture(params=["postgresql", "sqlite"])
def unreachable_app(request, tmp_path) -> Iterator[Flask]:
    """An app whose database cannot be reached (closed port, or a path that cannot open)."""
    if request.param == "postgresql":
        url = "postgresql://postgres@127.0.0.1:1/portal"
    else:
        url = f"sqlite:///{tmp_path / 'missing-dir' / 'nested' / 'portal.sqlite3'}"
    app = create_app(base_config(url, tmp_path))
    yield app
    dispose(app)


def test_healthz_503_without_detail_when_database_is_down(unreachable_app):
    """A down database gives 503 and says nothing about why or where."""
    response = unreachable_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    body = response.get_data(as_text=True).lower()
    for leak in ("127.0.0.1", "sqlite", "psycopg", "operationalerror", "connection", "port"):
        assert leak not in body


def test_error_page_renders_when_database_is_down(unreachable_app):
    """The 404 page still renders in the site's style without a database."""
    response = unreachable_app.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert 'class="site-header"' in response.get_data(as_text=True)


# --- no page above is a 500 ---------------------------------------------------------------

ANONYMOUS_PAGES = ["/auth/login", "/auth/forgot", "/auth/register", "/auth/invite/bad-token",
                   "/auth/reset/bad-token", "/no-such-page", "/healthz", "/"]
CLIENT_PAGES = ["/", "/account/", "/account/password", "/auth/login", "/no-such-page",
                "/dashboard/"]
THERAPIST_PAGES = ["/", "/account/", "/account/password", "/dashboard/", "/clients/",
                   "/clients/invite", "/settings/", "/no-such-page"]


def assert_renders(client, path: str) -> None:
    """The page answers without a server error and carries the security headers."""
    response = client.get(path)
    assert response.status_code < 500, (path, response.status_code)
    assert "Content-Security-Policy" in response.headers, path
    assert "no-store" in response.headers["Cache-Control"], path


def test_no_anonymous_page_is_a_500(client, practice):
    """Every page a stranger can reach renders."""
    for path in ANONYMOUS_PAGES:
        assert_renders(client, path)


def test_no_client_page_is_a_500(as_client):
    """Every page above renders for a client (or refuses cleanly)."""
    for path in CLIENT_PAGES:
        assert_renders(as_client, path)


def test_no_therapist_page_is_a_500(as_therapist, make_client):
    """Every page above renders for a therapist with a client on the books."""
    make_client()
    make_client(password=None)
    for path in THERAPIST_PAGES:
        assert_renders(as_therapist, path)


def test_no_page_is_a_500_in_production(production_app, practice):
    """The production configuration renders the public pages too."""
    browser = production_app.test_client()
    for path in ("/auth/login", "/auth/forgot", "/auth/register", "/no-such-page", "/healthz"):
        response = browser.get(path, base_url=HTTPS)
        assert response.status_code < 500, path


def test_project_static_dir_is_served(app):
    """create_app points at the project's static folder by absolute path."""
    assert Path(app.static_folder, "css", "portal.css").is_file()
