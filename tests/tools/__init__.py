"""Where the test suite finds its independent checkers: the Nu Html Checker (vnu.jar, run by
Java) and Mozilla's ical.js (run by Node). Both are npm packages pinned in package.json and
package-lock.json beside this file.

They are looked for, in order, in $PORTAL_TOOLS_DIR (the folder holding node_modules, set by
.ci/run), in the cache folder `make tools` and .ci/run install into (named by the lock file's
hash, so a new lock file means a new install), and in node_modules beside this file (after
`npm ci` here). A test that needs a checker that is missing is skipped, saying how to install
it; CI's strict mode turns that skip into a failure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INSTALL_HINT = "install the checkers with `make tools` (needs Node.js and npm)"


def cache_dir() -> Path:
    """The folder .ci/run and `make tools` install this lock file's packages into."""
    digest = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "portal-ci" / f"tools-{digest}"


def _candidates() -> list[Path]:
    found = [Path(os.environ["PORTAL_TOOLS_DIR"])] if os.environ.get("PORTAL_TOOLS_DIR") else []
    return [*found, cache_dir(), HERE]


def _require(program: str, runtime: str, relative: str, package: str) -> tuple[str, Path]:
    """The program's path and the installed file at node_modules/<relative>, or a skip that
    names what is missing and how to install it."""
    found = shutil.which(program)
    if found is None:
        pytest.skip(f"{runtime} is not installed, and {package} needs it")
    for folder in _candidates():
        path = folder / "node_modules" / relative
        if path.exists():
            return found, path
    pytest.skip(f"{package} is not installed: {INSTALL_HINT}")


def vnu_command() -> list[str]:
    """`java … -jar vnu.jar`, or a skip naming what is missing."""
    java, jar = _require("java", "Java (11 or newer)", "vnu-jar/build/dist/vnu.jar",
                         "the Nu Html Checker (npm package vnu-jar)")
    # A big enough stack for the checker's schemas; the simple collector and the quick
    # compiler only: one short run over a few hundred pages, where the JIT's best code would
    # not pay for compiling it (about half the CPU time).
    return [java, "-Xss16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar", str(jar)]


def icaljs_command(script: str) -> list[str]:
    """`node <script in this folder> <ical.js folder>`, or a skip naming what is missing."""
    node, package = _require("node", "Node.js", "ical.js/package.json",
                             "Mozilla's ical.js (npm package ical.js)")
    return [node, str(HERE / script), str(package.parent)]
