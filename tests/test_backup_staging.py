"""Plain copies on disk while `flask backup` and `flask restore` run: the unencrypted snapshot
(the database's native copy and every table's rows) and a restore's decrypted archive live
only in a private staging folder in TMPDIR (mode 0700, files 0600), never in the backup
folder, and are gone afterwards however the work ends: done, a failure mid-way, SIGTERM
mid-way; what a killed run left is removed by the next one, and a running one's is not."""

from __future__ import annotations

import base64
import fcntl
import os
import signal
import stat
import tempfile
import time
from pathlib import Path

import pytest
from flask import Flask

from portal.services import backup_archive
from portal.services.backup_archive import ArchiveWriter
from tests.test_backup import back_up, refused, restore, seed_demo_with_a_picture, use_folders

pytestmark = pytest.mark.fresh_db

KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
# A value the snapshot holds in the clear (the demo therapist's email), and the demo
# client's name: neither may be readable on disk outside the staging folder.
PLAIN = (b"jo@example.com", b"Alex Morgan")


@pytest.fixture
def folders(app: Flask, tmp_path: Path, monkeypatch) -> dict[str, Path]:
    """The live pictures, the backups and TMPDIR, each a folder of the test's own, and the
    demo practice with a picture, to be backed up with a key."""
    use_folders(app, tmp_path)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    app.config["BACKUP_KEY"] = KEY
    seed_demo_with_a_picture(app)
    return {"backups": tmp_path / "backups", "tmp": temporary}


def every_file(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def assert_nothing_plain(folder: Path) -> None:
    for path in every_file(folder):
        data = path.read_bytes()
        assert not any(value in data for value in PLAIN), f"plain data in {path}"


def stop_midway(monkeypatch, how) -> dict:
    """Make the archive writer call `how(staging folder)` when it comes to the first table's
    rows, after the database's native copy went in: the snapshot is on disk then. Returns
    what was seen of the staging folder at that moment."""
    seen: dict = {}
    add_file = ArchiveWriter.add_file

    def add_then_stop(self, name, source):
        if name.startswith("data/") and not seen:
            staging = Path(source).parent
            seen.update(
                folder=staging, mode=stat.S_IMODE(staging.stat().st_mode),
                files={p.name: stat.S_IMODE(p.stat().st_mode) for p in every_file(staging)},
                plain=any(value in p.read_bytes() for p in every_file(staging)
                          for value in PLAIN))
            how(staging)
        return add_file(self, name, source)

    monkeypatch.setattr(ArchiveWriter, "add_file", add_then_stop)
    return seen


def test_a_backup_that_fails_midway_leaves_no_plain_copy(app, folders, monkeypatch):
    def disk_full(_staging):
        raise OSError(28, "No space left on device")

    seen = stop_midway(monkeypatch, disk_full)

    result = app.test_cli_runner().invoke(args=["backup"])

    refused(result, "The backup could not be written ([Errno 28] No space left on device); "
                    "nothing was kept.")
    # Mid-way the plain snapshot was there, private, in TMPDIR and not among the backups...
    assert seen["plain"], "the snapshot was staged in the clear (or this test proves nothing)"
    assert seen["folder"].parent == folders["tmp"]
    assert seen["mode"] == 0o700
    assert "user.jsonl" in seen["files"]
    assert set(seen["files"].values()) == {0o600}
    # ...and afterwards nothing of it is left anywhere: no staging folder, no partial archive.
    assert list(folders["tmp"].iterdir()) == []
    assert list(folders["backups"].iterdir()) == []


def test_a_backup_stopped_by_sigterm_midway_leaves_no_plain_copy(app, folders, monkeypatch):
    # Should the backup not catch SIGTERM, this stands in for the default (which would end
    # the test run): the backup then goes on to the end and the test fails below.
    unhandled = []
    previous = signal.signal(signal.SIGTERM, lambda number, frame: unhandled.append(number))
    try:
        seen = stop_midway(monkeypatch, lambda _staging: os.kill(os.getpid(), signal.SIGTERM))

        result = app.test_cli_runner().invoke(args=["backup"])

        assert unhandled == []
        refused(result, "Stopped by SIGTERM before it finished; nothing was kept.")
        assert seen["plain"]
        assert list(folders["tmp"].iterdir()) == []
        assert list(folders["backups"].iterdir()) == []
        # The process's own handler is back once the backup is over.
        assert signal.getsignal(signal.SIGTERM) is not previous
        assert signal.getsignal(signal.SIGTERM).__name__ == "<lambda>"
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_finished_encrypted_backup_leaves_only_the_archive(app, folders):
    archive = back_up(app)

    assert list(folders["tmp"].iterdir()) == []
    assert every_file(folders["backups"]) == [archive]
    assert_nothing_plain(folders["backups"])


def test_leftovers_of_a_killed_run_go_and_a_running_ones_stay(app, folders):
    tmp = folders["tmp"]
    killed = tmp / "portal-staging-backup-killed1"  # SIGKILL: its lock is free
    killed.mkdir(mode=0o700)
    (killed / backup_archive.LOCK_NAME).touch()
    (killed / "user.jsonl").write_bytes(b'[1,"jo@example.com"]\n')
    early = tmp / "portal-staging-backup-early1"  # killed before it made its lock
    early.mkdir(mode=0o700)
    (early / "portal.sqlite3").write_bytes(b"SQLite format 3\x00")
    an_hour_ago = time.time() - 3600
    os.utime(early, (an_hour_ago, an_hour_ago))
    starting = tmp / "portal-staging-backup-starting1"  # made a moment ago, lock to come
    starting.mkdir(mode=0o700)
    running = tmp / "portal-staging-restore-running1"  # another run's, holding its lock
    running.mkdir(mode=0o700)
    (running / "archive.tar.gz").write_bytes(b"decrypted")
    held = os.open(running / backup_archive.LOCK_NAME, os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(held, fcntl.LOCK_EX)
    unrelated = tmp / "someone-elses-folder"
    unrelated.mkdir()
    # An earlier version staged in the backup folder itself; a killed run left this.
    old = folders["backups"] / ".staging-abc123"
    old.mkdir(parents=True)
    (old / "user.jsonl").write_bytes(b'[1,"jo@example.com"]\n')
    try:
        back_up(app)

        assert sorted(p.name for p in tmp.iterdir()) == [
            "portal-staging-backup-starting1", "portal-staging-restore-running1",
            "someone-elses-folder"]
        assert not old.exists()
    finally:
        os.close(held)


def test_a_restore_leaves_no_decrypted_copy_whether_or_not_it_works(app, folders):
    archive = back_up(app)
    assert archive.name.endswith(".enc")

    # Refused after the archive was decrypted and checked: the database holds data.
    refused(restore(app, archive), "This database already holds data")
    assert list(folders["tmp"].iterdir()) == []

    result = restore(app, archive, "--replace")

    assert result.exit_code == 0, result.output
    assert list(folders["tmp"].iterdir()) == []
