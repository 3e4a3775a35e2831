"""Static files: content-hashed names, compressed copies and long-lived caching, served by
WhiteNoise in front of Flask.

When the app starts it makes a build of static/ (in STATIC_BUILD_DIR, instance/static/ by
default, outside the git tree): every file under its own name and under a name that carries
a digest of its content (css/portal.css -> css/portal.3f2a9c1b0d4e.css), each with the gzip
and Brotli copies WhiteNoise's compressor makes when they are worth it. Every
url_for("static", ...) gives the hashed name, which is served as immutable for a year: a
browser never asks for it again, and a changed file gets a new name. The plain names keep
working with a cache that asks the server each time (ETag, 304).

Why at start rather than a build step: nothing to forget (make run, make test, gunicorn and
the CLI all go through create_app); a build is named by a digest of what it contains, so the
first process to start writes it (into a private folder, renamed into place: workers starting
together never see half a build), later starts and other workers only read the files and
compare digests (a few milliseconds), and every host derives the same names from the same
files.

ES modules import each other by relative URL ("./offline-queue.js"). A hashed module must
import the hashed name of what it imports, or a page that loads both would run two copies of
the shared module, and a changed import could hide behind an unchanged importer. So imports
(and url()/@import in stylesheets) are rewritten to the hashed names before the importer's
own digest is taken: changing offline-queue.js changes offline.js's name too.

In development (PORTAL_ENV=development, or STATIC_HASHED_NAMES=False) files are served from
static/ as they are, under their own names and checked on every request, so an edit shows on
the next reload.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import posixpath
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from wsgiref.headers import Headers

from flask import Flask
from whitenoise import WhiteNoise

from portal.web import headers as security

IMMUTABLE = "public, max-age=31536000, immutable"
# Plain names (a bookmarked stylesheet, an old copy of a page): keep, but ask every time.
REVALIDATE = "no-cache"
DIGEST_LENGTH = 12
# Part of every build's name: change it when the build writes different files for the same
# sources, so no process serves a build made by older code.
BUILD_FORMAT = "1"
# Earlier builds kept beside the current one, for workers of the previous release still
# finishing their requests during a rolling restart.
KEEP_EARLIER_BUILDS = 4
# A build folder left half-written by a process that died is removed after this long.
ABANDONED_AFTER_SECONDS = 3600

# References to other static files, by relative URL: ES module imports (static and dynamic,
# and export ... from), and url() and @import in stylesheets.
_MODULE_IMPORT = re.compile(
    r"""(?P<head>\bfrom\s*|\bimport\s*\(?\s*)(?P<q>["'])(?P<ref>\.\.?/[^"'\s]+)(?P=q)""")
_STYLESHEET_URL = re.compile(
    r"""(?P<head>\burl\(\s*|@import\s*)(?P<q>["']?)(?P<ref>[^"'()\s]+)(?P=q)""")
_REFERENCES = {".js": _MODULE_IMPORT, ".mjs": _MODULE_IMPORT, ".css": _STYLESHEET_URL}
_NOT_RELATIVE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|/|#)", re.IGNORECASE)


@dataclass(frozen=True)
class Build:
    """One build of static/: where it is and what it holds."""

    folder: Path
    hashed: dict[str, str]  # source name -> hashed name ("css/a.css" -> "css/a.0123456789ab.css")
    etags: dict[str, str]  # served name -> digest of its content

    @property
    def immutable(self) -> frozenset[str]:
        """The hashed names, whose content never changes."""
        return frozenset(self.hashed.values())


def init_app(app: Flask) -> None:
    """Serve static/ through WhiteNoise, under hashed names unless in development."""
    source = Path(app.static_folder or "static")
    prefix = (app.static_url_path or "/static").rstrip("/") + "/"
    production = app.config["PORTAL_ENV"] == "production"
    hashed_names = app.config.get("STATIC_HASHED_NAMES")
    if hashed_names is None:
        hashed_names = app.config["PORTAL_ENV"] != "development"
    if not hashed_names:
        add_headers = partial(_add_headers, prefix, frozenset(), {}, production)
        app.wsgi_app = WhiteNoise(app.wsgi_app, root=source, prefix=prefix, autorefresh=True,
                                  max_age=None, allow_all_origins=False,
                                  add_headers_function=add_headers)
        return
    made = build(source, Path(app.config["STATIC_BUILD_DIR"]))
    app.extensions["portal.static_build"] = made
    app.url_defaults(partial(_hashed_filename, made.hashed))
    add_headers = partial(_add_headers, prefix, made.immutable, made.etags, production)
    app.wsgi_app = WhiteNoise(app.wsgi_app, root=made.folder, prefix=prefix, max_age=None,
                              allow_all_origins=False, add_headers_function=add_headers)


def _hashed_filename(hashed: dict[str, str], endpoint: str, values: dict) -> None:
    """url_defaults: url_for("static", filename=...) names the hashed copy."""
    if endpoint == "static":
        name = hashed.get(values.get("filename", ""))
        if name:
            values["filename"] = name


def _add_headers(prefix: str, immutable: frozenset[str], etags: dict[str, str],
                 production: bool, headers: Headers, path: str, url: str) -> None:
    """WhiteNoise's hook for each file: caching, a content ETag and the security headers."""
    name = url[len(prefix):]
    headers["Cache-Control"] = IMMUTABLE if name in immutable else REVALIDATE
    if name in etags:
        # From the content, so every worker and host answers a revalidation alike
        # (WhiteNoise's own ETag comes from the file's mtime).
        headers["ETag"] = f'"{etags[name]}"'
    for header, value in security.baseline(production).items():
        headers[header] = value


# --- the build ------------------------------------------------------------------------------


def build(source: Path, builds: Path) -> Build:
    """The build of `source` in a folder of `builds` named by its content, made if missing."""
    files = _read(source)
    hashed, outputs = _hash_names(files)
    # Brotli installed later means a new build with .br copies (found without importing it).
    use_brotli = importlib.util.find_spec("brotli") is not None
    signature = hashlib.sha256(f"{BUILD_FORMAT} brotli={use_brotli}\n".encode())
    for name in sorted(files):
        signature.update(f"{name}\0{_digest(files[name])}\0{hashed[name]}\n".encode())
    folder = builds / signature.hexdigest()[:16]
    served = {**files, **outputs}
    if folder.is_dir():
        # Marks it in use, so a newer release starting beside this one does not prune it.
        with contextlib.suppress(OSError):
            os.utime(folder)
    else:
        _write(folder, served)
        _prune(builds, folder)
    etags = {name: _digest(data)[:16] for name, data in served.items()}
    return Build(folder=folder, hashed=hashed, etags=etags)


def _read(source: Path) -> dict[str, bytes]:
    """Every file under source by its relative name, hidden files left out."""
    files = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = path.read_bytes()
    return files


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _with_digest(name: str, digest: str) -> str:
    stem, extension = posixpath.splitext(name)
    return f"{stem}.{digest[:DIGEST_LENGTH]}{extension}"


def _hash_names(files: dict[str, bytes]) -> tuple[dict[str, str], dict[str, bytes]]:
    """Each file's hashed name, and the content served under it: references to other files
    rewritten to their hashed names first, so a changed import changes the importer's name."""
    hashed: dict[str, str] = {}
    outputs: dict[str, bytes] = {}
    visiting: list[str] = []

    def visit(name: str) -> str:
        if name in hashed:
            return hashed[name]
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name):], name])
            raise ValueError(f"static files refer to each other in a circle ({cycle}); "
                             "hashed names cannot express that")
        visiting.append(name)
        data = _rewrite_references(name, files[name], files, visit)
        visiting.pop()
        hashed[name] = _with_digest(name, _digest(data))
        outputs[hashed[name]] = data
        return hashed[name]

    for name in files:
        visit(name)
    return hashed, outputs


def _rewrite_references(name: str, data: bytes, files: dict[str, bytes],
                        hashed_name: Callable[[str], str]) -> bytes:
    """data with its relative references to other static files pointing at hashed names."""
    pattern = _REFERENCES.get(posixpath.splitext(name)[1].lower())
    if pattern is None:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data

    def replace(match: re.Match) -> str:
        ref = match["ref"]
        if _NOT_RELATIVE.match(ref):
            return match[0]
        path, cut, rest = ref.partition("?") if "?" in ref else ref.partition("#")
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), path))
        if target not in files:
            return match[0]  # not ours (or a comment that looks like an import): as it is
        folder, slash, _ = path.rpartition("/")
        new = f"{folder}{slash}{posixpath.basename(hashed_name(target))}{cut}{rest}"
        return f"{match['head']}{match['q']}{new}{match['q']}"

    return pattern.sub(replace, text).encode("utf-8")


def _compressor():
    # Imported here: only the process that writes a build loads Brotli.
    from whitenoise.compress import Compressor

    return Compressor(quiet=True)


def _write(folder: Path, served: dict[str, bytes]) -> None:
    """Write a build into a private folder and rename it into place: a process starting
    meanwhile never sees half a build, and of two writing at once the second keeps the
    first's (the same files, as names come from content)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial_folder = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
    try:
        compressor = _compressor()
        compressed: dict[str, Path] = {}  # content digest -> first file written with it
        for name, data in sorted(served.items()):
            path = partial_folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            if not compressor.should_compress(name):
                continue
            first = compressed.setdefault(_digest(data), path)
            if first == path:
                compressor.compress(str(path))
            else:  # the plain and hashed names of a file share its compressed copies
                for suffix in (".br", ".gz"):
                    if first.with_name(first.name + suffix).exists():
                        shutil.copyfile(first.with_name(first.name + suffix),
                                        path.with_name(path.name + suffix))
        partial_folder.chmod(0o755)  # mkdtemp made it private to this user
        try:
            partial_folder.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(partial_folder, ignore_errors=True)


def _prune(builds: Path, current: Path) -> None:
    """Remove all but the latest earlier builds, and builds abandoned half-written."""
    earlier = []
    now = time.time()
    for entry in os.scandir(builds):
        if not entry.is_dir(follow_symlinks=False) or entry.path == str(current):
            continue
        modified = entry.stat(follow_symlinks=False).st_mtime
        if entry.name.startswith(".partial-"):
            if now - modified > ABANDONED_AFTER_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)
        else:
            earlier.append((modified, entry.path))
    for _, path in sorted(earlier, reverse=True)[KEEP_EARLIER_BUILDS:]:
        shutil.rmtree(path, ignore_errors=True)
