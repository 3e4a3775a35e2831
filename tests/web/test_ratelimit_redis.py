"""Rate limits kept in Redis are shared by every server process of the portal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from flask import Flask

from portal import create_app
from portal.extensions import db
from tests.conftest import ROOT, base_config, form_post


def _redis_url() -> str:
    """Redis database 15, or 14, 13... for xdist workers gw1, gw2...: each worker empties its
    own database, so parallel workers never clear each other's counters."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    return f"redis://127.0.0.1:6379/{15 - index}"


REDIS_URL = _redis_url()
# Where the counts live does not depend on the database: once, on PostgreSQL.
pytestmark = pytest.mark.postgresql_only

# "Server B": a second process with its own app instance, as a second gunicorn worker or a
# second machine would be. Flask-Limiter keeps its storage on a module-level object, so two
# apps in one process would share a counter whatever the storage; only another process proves
# that the count lives in Redis.
SERVER_B = """
import json, sys
from pathlib import Path
from portal import create_app
from tests.conftest import base_config, form_post

url, tmp, storage, attempts = sys.argv[1:5]
app = create_app({**base_config(url, Path(tmp)), "RATELIMIT_STORAGE_URI": storage})
client = app.test_client()
codes = [
    form_post(client, "/auth/login",
              {"email": "nobody@example.com", "password": f"server b guess {n}"}).status_code
    for n in range(int(attempts))
]
print(json.dumps(codes))
"""


@pytest.fixture
def redis_db() -> Iterator[object]:
    """Redis database 15, emptied before and after; skipped when Redis is not running."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def server(app: Flask, tmp_path, storage: str) -> Flask:
    """Another app instance on the same database with the given rate-limit storage."""
    return create_app({**base_config(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path),
                       "RATELIMIT_STORAGE_URI": storage})


def wrong_logins(client, attempts: int, label: str) -> list[int]:
    """Status codes of quick failed sign-ins from 127.0.0.1."""
    return [
        form_post(client, "/auth/login",
                  {"email": "nobody@example.com", "password": f"{label} guess {n}"}).status_code
        for n in range(attempts)
    ]


def run_server_b(app: Flask, tmp_path, storage: str, attempts: int) -> list[int]:
    """Failed sign-ins against a second app in a separate process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", SERVER_B, app.config["SQLALCHEMY_DATABASE_URI"],
         str(tmp_path), storage, str(attempts)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_two_servers_share_the_login_limit_through_redis(app, practice, tmp_path, redis_db):
    """6 failures on server A and 5 on server B: the 11th in the minute is refused."""
    server_a = server(app, tmp_path, REDIS_URL)
    try:
        assert wrong_logins(server_a.test_client(), 6, "server a") == [200] * 6
        assert redis_db.keys("*"), "server A's count should be stored in Redis"

        assert run_server_b(app, tmp_path, REDIS_URL, 5) == [200, 200, 200, 200, 429]

        # And server A sees B's attempts too.
        assert wrong_logins(server_a.test_client(), 1, "server a again") == [429]
    finally:
        with server_a.app_context():
            db.engine.dispose()


def test_in_memory_limits_are_not_shared(app, practice, tmp_path, redis_db):
    """The control: with memory:// each process counts alone, so the test above can fail."""
    server_a = server(app, tmp_path, "memory://")
    try:
        assert wrong_logins(server_a.test_client(), 6, "server a") == [200] * 6
        assert run_server_b(app, tmp_path, "memory://", 5) == [200] * 5
        assert redis_db.keys("*") == []
    finally:
        with server_a.app_context():
            db.engine.dispose()
