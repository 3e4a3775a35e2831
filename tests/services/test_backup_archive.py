"""The backup archive as a file: encryption, checksums and what a damaged or foreign archive
gets. No database; the CLI round trips are in tests/test_backup.py."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.services import backups
from portal.services.backup_archive import (
    MANIFEST,
    ArchiveWriter,
    BackupError,
    opened,
    parse_key,
)

KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
OTHER_KEY = base64.urlsafe_b64encode(b"o" * 32).decode()


def make_archive(path: Path, files: dict[str, bytes], key: str | None = None) -> Path:
    """An archive holding `files` (name -> bytes) and a minimal manifest."""
    source = path.parent / f"{path.name}-src"
    writer = ArchiveWriter(path, parse_key(key))
    for name, data in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
        writer.add_file(name, source / name)
    writer.close({"format": "portal-backup", "format_version": 1, "engine": "sqlite"})
    return path


def test_an_encrypted_archive_round_trips_and_hides_its_content(tmp_path):
    # Bigger than one decryption chunk, so the stream crosses chunk boundaries.
    big = os.urandom(1024 * 1024 + 5)
    path = make_archive(tmp_path / "a.tar.gz.enc",
                        {"data/user.jsonl": b'[1,"jo@example.com"]\n', "uploads/p.webp": big},
                        key=KEY)

    raw = path.read_bytes()
    assert b"jo@example.com" not in raw and not raw.startswith(b"\x1f\x8b")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # health data: the owner only
    with opened(path, parse_key(KEY)) as archive:
        assert archive.encrypted
        assert archive.path("data/user.jsonl").read_bytes() == b'[1,"jo@example.com"]\n'
        assert archive.path("uploads/p.webp").read_bytes() == big
        assert archive.names("uploads") == ["uploads/p.webp"]
        root = archive.root
    assert not root.exists()  # the decrypted files are removed afterwards


@pytest.mark.parametrize(("key", "message"), [
    (OTHER_KEY, "encrypted with a different key from the one in PORTAL_BACKUP_KEY"),
    (None, "This archive is encrypted: set PORTAL_BACKUP_KEY to the key it was made with."),
])
def test_an_encrypted_archive_needs_its_own_key(tmp_path, key, message):
    path = make_archive(tmp_path / "a.tar.gz.enc", {"data/user.jsonl": b"[1]\n"}, key=KEY)

    with pytest.raises(BackupError, match=message), opened(path, parse_key(key)):
        pass


@pytest.mark.parametrize("where", ["middle", "tag", "cut"])
def test_an_altered_encrypted_archive_is_refused(tmp_path, where):
    path = make_archive(tmp_path / "a.tar.gz.enc", {"data/user.jsonl": os.urandom(5000)},
                        key=KEY)
    raw = bytearray(path.read_bytes())
    if where == "cut":
        raw = raw[:-40]
    else:
        raw[len(raw) // 2 if where == "middle" else -3] ^= 0x01
    path.write_bytes(bytes(raw))

    with pytest.raises(BackupError, match="damaged or was altered"), \
            opened(path, parse_key(KEY)):
        pass


@pytest.mark.parametrize("text", ["not a key", base64.urlsafe_b64encode(b"short").decode(),
                                  KEY[:-4] + "!!!="])
def test_a_malformed_key_says_how_to_make_one(text):
    with pytest.raises(BackupError, match="32 random bytes.*secrets.token_bytes"):
        parse_key(text)


def test_no_key_means_no_encryption():
    assert parse_key("") is None
    assert parse_key(None) is None
    assert parse_key(KEY) == b"k" * 32


def retar(path: Path, members: dict[str, bytes]) -> None:
    """Rewrite an unencrypted archive with these members, in this order."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def members_of(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def test_a_file_that_differs_from_the_manifest_is_refused(tmp_path):
    path = make_archive(tmp_path / "a.tar.gz", {"data/user.jsonl": b'[1,"jo"]\n',
                                                "data/service.jsonl": b"[1]\n"})
    members = members_of(path)
    members["data/user.jsonl"] = b'[1,"mallory"]\n'
    retar(path, members)

    with pytest.raises(BackupError, match=r"checksum differs: data/user\.jsonl"), \
            opened(path, None):
        pass


def test_a_missing_or_extra_file_is_refused(tmp_path):
    path = make_archive(tmp_path / "a.tar.gz", {"data/user.jsonl": b"[1]\n"})
    manifest = members_of(path)[MANIFEST]
    retar(path, {"data/other.jsonl": b"[2]\n", MANIFEST: manifest})

    with pytest.raises(BackupError, match=r"missing: data/user\.jsonl; not in the manifest: "
                                          r"data/other\.jsonl"), opened(path, None):
        pass


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "uploads/../../x.webp",
                                  "data/.hidden", "elsewhere/user.jsonl"])
def test_an_entry_outside_the_layout_is_refused_before_it_is_written(tmp_path, name):
    path = tmp_path / "a.tar.gz"
    retar(path, {name: b"x", MANIFEST: json.dumps({"format": "portal-backup"}).encode()})

    with pytest.raises(BackupError, match="unexpected entry"), opened(path, None):
        pass
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("content", [b"hello, not an archive", b"\x1f\x8b\x08broken gzip"])
def test_something_else_is_not_taken_for_a_backup(tmp_path, content):
    path = tmp_path / "notes.tar.gz"
    path.write_bytes(content)

    with pytest.raises(BackupError, match="not a portal backup archive|damaged"), \
            opened(path, None):
        pass


def test_a_manifest_from_another_format_version_is_refused(tmp_path):
    path = tmp_path / "a.tar.gz"
    retar(path, {MANIFEST: json.dumps({"format": "portal-backup", "format_version": 9,
                                       "files": []}).encode()})

    with pytest.raises(BackupError, match="backup format 9"), opened(path, None):
        pass


def test_pg_tools_get_the_password_in_their_environment_never_in_arguments(tmp_path):
    url = sa.make_url("postgresql+psycopg://portal:s%40cret word@db.example:5433/practice"
                      "?sslmode=require")
    fake = tmp_path / "pg_dump"
    fake.write_text('#!/bin/sh\necho "args=$*"\necho "password=$PGPASSWORD"\n')
    fake.chmod(0o700)

    out = backups.run_tool(backups.find_tool("pg_dump", str(fake), "PORTAL_PG_DUMP"),
                           ["--dbname", backups.libpq_url(url)], url, "pg_dump")

    assert "args=--dbname postgresql://portal@db.example:5433/practice?sslmode=require" in out
    assert "s@cret" not in out.splitlines()[0]
    assert "password=s@cret word" in out


def test_a_pg_tool_that_fails_or_is_missing_says_so(tmp_path):
    with pytest.raises(BackupError, match="PORTAL_PG_DUMP is set to /nowhere/pg_dump, which "
                                          "is not a program"):
        backups.find_tool("pg_dump", "/nowhere/pg_dump", "PORTAL_PG_DUMP")
    failing = tmp_path / "pg_dump"
    failing.write_text('#!/bin/sh\necho "server version mismatch" >&2\nexit 1\n')
    failing.chmod(0o700)
    with pytest.raises(BackupError, match="pg_dump failed: server version mismatch"):
        backups.run_tool(str(failing), [], None, "pg_dump")


def test_pruning_keeps_the_newest_archives_and_touches_nothing_else(tmp_path):
    names = [backups.archive_name(datetime(2026, month, 1, 2, tzinfo=UTC), encrypted=month % 2)
             for month in (3, 1, 12, 2)]
    for name in names:
        (tmp_path / name).write_bytes(b"archive")
    others = ["notes.txt", "portal-copy.tar.gz", ".portal-2026-12-02T000000.000000Z.tar.gz.part"]
    for name in others:
        (tmp_path / name).write_text("the operator's")

    removed = backups.prune(tmp_path, keep=2)

    assert [p.name for p in removed] == sorted(names)[:2]  # January and February
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(sorted(names)[2:] + others)
    assert backups.prune(tmp_path, keep=5) == []
    with pytest.raises(BackupError, match="at least one"):
        backups.prune(tmp_path, keep=0)
