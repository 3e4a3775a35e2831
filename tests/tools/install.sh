#!/usr/bin/env bash
# Install the test suite's independent checkers (package.json beside this script: the Nu Html
# Checker and ical.js) into a cache folder outside the clone, named by the lock file's hash, and
# print that folder. A folder that already exists is reused, so a warm machine installs nothing.
# The tests look there by themselves (tests/tools/__init__.py); .ci/run also exports it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
hash="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
target="${XDG_CACHE_HOME:-$HOME/.cache}/portal-ci/tools-$hash"
if [ ! -d "$target/node_modules" ]; then
  mkdir -p "$(dirname "$target")"
  work="$(mktemp -d "$target.partial.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  # --ignore-scripts: vnu-jar's install script downloads a Java runtime; the machine's Java is
  # used instead. Installed aside and renamed, so an interrupted install is never taken as done.
  npm ci --prefix "$work" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
  mv -T "$work" "$target"
  trap - EXIT
fi
echo "$target"
