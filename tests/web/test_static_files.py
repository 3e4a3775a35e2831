"""Static files as browsers and phones get them: content-hashed names that are cached for a
year and never asked for again, gzip and Brotli when the browser accepts them, plain names
that still work and are revalidated, and a new name whenever a file changes
(portal/web/static_files.py)."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import threading
from pathlib import Path
from urllib.parse import urljoin

import brotli
import pytest
from flask import Flask, render_template_string

from portal import create_app
from portal.config import PROJECT_ROOT
from portal.extensions import db
from portal.web import static_files
from portal.web.headers import CSP
from tests.conftest import base_config, static_url

STATIC = PROJECT_ROOT / "static"
HASHED = re.compile(r"^/static/(?P<stem>.+)\.(?P<digest>[0-9a-f]{12})(?P<ext>\.\w+)$")
STATIC_REFERENCE = re.compile(r'(?:href|src)="(/static/[^"]+)"')
IMMUTABLE = "public, max-age=31536000, immutable"


def static_references(page: str) -> list[str]:
    """Every static file a page loads (stylesheets, scripts, module preloads, pictures)."""
    return STATIC_REFERENCE.findall(page)


def body(client, url: str, **headers) -> tuple[object, bytes]:
    """The response and its raw (still encoded) bytes, the file closed."""
    with client.get(url, headers=headers) as response:
        return response, response.get_data()


# --- pages name files by their content ----------------------------------------------------


def test_pages_load_static_files_by_content_hashed_names(client, practice):
    """Every stylesheet, script and picture a page loads has a name made from its content."""
    page = client.get("/auth/login").get_data(as_text=True)
    references = static_references(page)
    assert len(references) >= 4  # the styles, print styles, a script, the icon and logo
    for url in references:
        assert HASHED.match(url), url
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)">', page).group(1)
    match = HASHED.match(stylesheet)
    assert match["stem"] == "css/portal"
    source = (STATIC / "css" / "portal.css").read_bytes()
    assert match["digest"] == hashlib.sha256(source).hexdigest()[:12]


def test_a_signed_in_clients_pages_name_their_scripts_by_content(as_client):
    """The shared offline queue is preloaded under its hashed name, and so is every script."""
    page = as_client.get("/").get_data(as_text=True)
    references = static_references(page)
    assert any("/js/offline-queue." in url for url in references)
    assert any("/js/signout." in url for url in references)
    for url in references:
        assert HASHED.match(url), url


def test_hashed_files_are_cached_for_a_year_and_keep_the_security_headers(client, practice):
    page = client.get("/auth/login").get_data(as_text=True)
    for url in static_references(page):
        response, data = body(client, url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == IMMUTABLE
        assert response.headers["Content-Security-Policy"] == CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Access-Control-Allow-Origin" not in response.headers
        name = HASHED.match(url)
        # The file itself (a module's imports name hashed files: see below).
        unhashed = re.sub(rb"\.[0-9a-f]{12}\.js\b", b".js", data)
        assert unhashed == (STATIC / (name["stem"] + name["ext"])).read_bytes(), url


def test_the_stylesheet_and_scripts_travel_compressed_when_the_browser_accepts_it(app, client):
    for filename in ("css/portal.css", "js/timer.js", "js/enhance.js"):
        url = static_url(app, filename)
        source = (STATIC / filename).read_bytes()

        response, data = body(client, url, **{"Accept-Encoding": "gzip"})
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert response.headers["Cache-Control"] == IMMUTABLE
        assert int(response.headers["Content-Length"]) == len(data)
        assert gzip.decompress(data) == source
        assert len(data) < len(source) / 2, filename

        response, smallest = body(client, url, **{"Accept-Encoding": "gzip, deflate, br, zstd"})
        assert response.headers["Content-Encoding"] == "br"
        assert brotli.decompress(smallest) == source
        assert len(smallest) < len(data)

        response, plain = body(client, url)
        assert "Content-Encoding" not in response.headers
        assert plain == source


def test_the_91_kb_stylesheet_is_a_fraction_of_its_size_on_the_wire(app, client):
    source = (STATIC / "css" / "portal.css").read_bytes()
    assert len(source) > 90_000
    _, data = body(client, static_url(app, "css/portal.css"), **{"Accept-Encoding": "gzip, br"})
    assert len(data) < 20_000


def test_plain_names_still_work_and_are_revalidated(app, client):
    """An old page or a bookmark may name a file without its digest: it is served, and the
    browser asks again each time, getting a 304 while the file is unchanged."""
    source = (STATIC / "css" / "portal.css").read_bytes()
    response, data = body(client, "/static/css/portal.css")
    assert response.status_code == 200
    assert data == source
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    etag = response.headers["ETag"]
    assert etag == f'"{hashlib.sha256(source).hexdigest()[:16]}"'

    response, data = body(client, "/static/css/portal.css", **{"If-None-Match": etag})
    assert response.status_code == 304
    assert data == b""
    response, data = body(client, "/static/css/portal.css", **{"If-None-Match": '"other"'})
    assert response.status_code == 200
    assert data == source


def test_a_missing_file_is_still_a_404(client, practice):
    assert client.get("/static/css/nothing.css").status_code == 404
    assert client.get("/static/css/portal.000000000000.css").status_code == 404


# --- modules import the hashed names of their imports -------------------------------------


def test_a_module_imports_the_same_hashed_name_the_page_preloads(app, as_client):
    """signout.js, quick-log.js and offline.js import other modules: under hashed names they
    must import the very copies pages preload (url_for's names), or the browser would run
    two copies of the offline queue."""
    page = as_client.get("/").get_data(as_text=True)
    preload = re.search(r'<link rel="modulepreload" href="([^"]+)">', page).group(1)
    assert preload == static_url(app, "js/offline-queue.js")
    assert f'src="{static_url(app, "js/signout.js")}"' in page
    expected = {"js/signout.js": {"js/offline-queue.js"},
                "js/quick-log.js": {"js/offline-queue.js"},
                "js/offline.js": {"js/offline-queue.js", "js/quick-log.js"}}
    for module, imported in expected.items():
        url = static_url(app, module)
        _, script = body(as_client, url)
        imports = {urljoin(url, name) for name in re.findall(r'from "(\./[^"]+)"',
                                                              script.decode())}
        assert imports == {static_url(app, name) for name in imported}, module


def test_every_hashed_module_imports_only_hashed_files_that_are_served(app, client):
    build = app.extensions["portal.static_build"]
    for source, hashed in build.hashed.items():
        if not source.endswith(".js"):
            continue
        url = f"/static/{hashed}"
        _, script = body(client, url)
        for name in re.findall(r'(?:from|import)\s*\(?\s*"(\.{1,2}/[^"]+)"', script.decode()):
            target = urljoin(url, name)
            assert HASHED.match(target), (source, name)
            response, _ = body(client, target)
            assert response.status_code == 200, (source, target)
            assert response.headers["Cache-Control"] == IMMUTABLE


# --- several workers and hosts ------------------------------------------------------------


def test_two_hosts_building_apart_serve_the_same_names_and_bytes(app, tmp_path):
    """Names and compressed copies come from the content alone: a page rendered by one host
    loads its files from another."""
    other = create_app({**base_config(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path),
                        "STATIC_BUILD_DIR": str(tmp_path / "other-host")})
    try:
        ours = app.extensions["portal.static_build"]
        theirs = other.extensions["portal.static_build"]
        assert theirs.folder != ours.folder
        assert theirs.hashed == ours.hashed and theirs.etags == ours.etags
        files = sorted(p.relative_to(ours.folder) for p in ours.folder.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(theirs.folder)
                               for p in theirs.folder.rglob("*") if p.is_file())
        assert any(name.suffix == ".br" for name in files)
        assert any(name.suffix == ".gz" for name in files)
        for name in files:
            assert (ours.folder / name).read_bytes() == (theirs.folder / name).read_bytes(), name
    finally:
        with other.app_context():
            db.engine.dispose()


# --- a changed file gets a new name -------------------------------------------------------


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


SITE = {
    "css/site.css": "body { background: url(../img/dot.svg) no-repeat; }\n" * 50,
    "img/dot.svg": '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>\n',
    "js/main.js": 'import { queue } from "./queue.js";\nimport("./lazy.js");\nqueue();\n',
    "js/queue.js": "export function queue() { return 1; }\n",
    "js/lazy.js": 'export * from "./queue.js";\n',
    "js/alone.js": '// import "./nowhere.js" is only a comment\nconsole.log("x");\n',
}


def small_app(source: Path, builds: Path, env: str = "testing") -> Flask:
    """A bare app serving `source` as its static folder, as create_app sets it up."""
    app = Flask(__name__, static_folder=str(source))
    app.config.update(PORTAL_ENV=env, STATIC_BUILD_DIR=str(builds), STATIC_HASHED_NAMES=None)
    static_files.init_app(app)
    return app


def page_of(app: Flask) -> str:
    """What a page would link: each file's address."""
    with app.test_request_context():
        return render_template_string(
            "{% for name in names %}{{ url_for('static', filename=name) }}\n{% endfor %}",
            names=sorted(SITE))


def test_a_changed_file_gets_a_new_name_and_so_do_the_modules_importing_it(tmp_path):
    source, builds = tmp_path / "static", tmp_path / "builds"
    write(source, SITE)
    before = dict(zip(sorted(SITE), page_of(small_app(source, builds)).split(), strict=True))

    write(source, {"js/queue.js": "export function queue() { return 2; }\n"})
    app = small_app(source, builds)  # the next start (a deploy)
    after = dict(zip(sorted(SITE), page_of(app).split(), strict=True))

    changed = {name for name in SITE if before[name] != after[name]}
    # queue.js changed; main.js and lazy.js import it, so their names change too.
    assert changed == {"js/queue.js", "js/main.js", "js/lazy.js"}
    client = app.test_client()
    _, main = body(client, after["js/main.js"])
    queue_name = after["js/queue.js"].rsplit("/", 1)[1]
    lazy_name = after["js/lazy.js"].rsplit("/", 1)[1]
    assert main.decode() == (f'import {{ queue }} from "./{queue_name}";\n'
                             f'import("./{lazy_name}");\nqueue();\n')
    _, lazy = body(client, after["js/lazy.js"])
    assert lazy.decode() == f'export * from "./{queue_name}";\n'
    _, css = body(client, after["css/site.css"])
    assert f"url(../img/{after['img/dot.svg'].rsplit('/', 1)[1]})" in css.decode()
    _, alone = body(client, after["js/alone.js"])
    assert alone.decode() == SITE["js/alone.js"]
    _, plain = body(client, "/static/js/main.js")
    assert plain.decode() == SITE["js/main.js"]  # the plain name serves the file as it is
    for url in after.values():
        response, _ = body(client, url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == IMMUTABLE


def test_modules_importing_each_other_in_a_circle_are_refused(tmp_path):
    write(tmp_path / "static", {"js/a.js": 'import "./b.js";\n', "js/b.js": 'import "./a.js";\n'})
    with pytest.raises(ValueError, match="circle"):
        static_files.build(tmp_path / "static", tmp_path / "builds")


def test_workers_starting_together_share_one_complete_build(tmp_path):
    source, builds = tmp_path / "static", tmp_path / "builds"
    write(source, SITE)
    results, errors = [], []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            results.append(static_files.build(source, builds))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({result.folder for result in results}) == 1
    assert [entry.name for entry in builds.iterdir()] == [results[0].folder.name]
    for name, hashed in results[0].hashed.items():
        assert (results[0].folder / hashed).is_file()
        assert (results[0].folder / name).read_text() == SITE[name]


def test_earlier_builds_are_kept_a_while_then_removed(tmp_path):
    source, builds = tmp_path / "static", tmp_path / "builds"
    folders = []
    for release in range(static_files.KEEP_EARLIER_BUILDS + 3):
        write(source, {**SITE, "css/site.css": f"/* release {release} */\n"})
        folders.append(static_files.build(source, builds).folder)
        # A release a minute (the clock behind mtimes is coarser than a quick build).
        os.utime(folders[-1], (60 * release, 60 * release))
    kept = sorted(entry for entry in builds.iterdir())
    assert kept == sorted(folders[-(static_files.KEEP_EARLIER_BUILDS + 1):])


# --- development --------------------------------------------------------------------------


def test_development_serves_edits_at_once_under_plain_names(tmp_path):
    source, builds = tmp_path / "static", tmp_path / "builds"
    write(source, SITE)
    app = small_app(source, builds, env="development")
    assert page_of(app).split() == [f"/static/{name}" for name in sorted(SITE)]
    assert not builds.exists()
    client = app.test_client()
    response, data = body(client, "/static/js/queue.js")
    assert data.decode() == SITE["js/queue.js"]
    assert response.headers["Cache-Control"] == "no-cache"
    write(source, {"js/queue.js": "export const edited = true;\n"})
    _, data = body(client, "/static/js/queue.js")
    assert data.decode() == "export const edited = true;\n"
