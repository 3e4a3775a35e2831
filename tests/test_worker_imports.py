"""A web worker loads what serving pages needs, not what a command or a rare page needs:
Alembic (through Flask-Migrate), py_webauthn, segno, Pillow, icalendar, zxcvbn's lists and
cryptography each cost every worker megabytes of memory. Checked in a fresh interpreter, as
gunicorn starts one, after the pages every visitor and client meets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAZY = ("alembic", "flask_migrate", "webauthn", "segno", "PIL", "icalendar", "zxcvbn",
        "cryptography")

SCRIPT = """
import json, sys
from portal import create_app
app = create_app({"TESTING": True, "SECRET_KEY": "k" * 40, "PORTAL_ENV": "testing",
                  "SQLALCHEMY_DATABASE_URI": "sqlite:///%(db)s", "MAIL_FILE_DIR": "%(mail)s"})
start = sorted({m.split(".")[0] for m in sys.modules} & set(%(lazy)r))
browser = app.test_client()
statuses = [browser.get(path).status_code for path in ("/healthz", "/auth/login", "/auth/forgot")]
pages = sorted({m.split(".")[0] for m in sys.modules} & set(%(lazy)r))
print(json.dumps({"start": start, "statuses": statuses, "pages": pages}))
"""


def _migrated(tmp_path: Path) -> Path:
    path = tmp_path / "portal.sqlite3"
    from tests.conftest import migrate_to_head

    migrate_to_head(f"sqlite:///{path}", tmp_path)
    return path


def test_a_web_worker_starts_and_serves_its_first_pages_without_the_heavy_modules(tmp_path):
    script = SCRIPT % {"db": _migrated(tmp_path), "mail": tmp_path / "mail", "lazy": LAZY}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["statuses"] == [200, 200, 200], found
    assert found["start"] == [], found
    assert found["pages"] == [], found
