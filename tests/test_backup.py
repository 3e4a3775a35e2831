"""`flask backup` and `flask restore`: the demo practice with an uploaded picture goes into one
archive and comes back, row for row and byte for byte, into an empty database of either
engine; encryption, pruning and the guards around existing data."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sqlite3
import stat
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from PIL import Image

from portal import create_app
from portal.extensions import db
from portal.models import Exercise, Service, User
from portal.seed import demo
from portal.services import backup_archive, library, pictures
from tests.conftest import base_config

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
KEY = base64.urlsafe_b64encode(b"a" * 32).decode()
OTHER_KEY = base64.urlsafe_b64encode(b"b" * 32).decode()


# --- helpers ------------------------------------------------------------------------------


def use_folders(app: Flask, folder: Path) -> Path:
    """Pictures and archives in a folder of the test's own; returns the upload folder."""
    app.config["UPLOAD_DIR"] = str(folder / "uploads")
    app.config["BACKUP_DIR"] = str(folder / "backups")
    return folder / "uploads"


def blank_sqlite_app(folder: Path) -> Flask:
    """An app on a new SQLite file with no schema at all, as on a new machine."""
    folder.mkdir(parents=True)
    app = create_app(base_config(f"sqlite:///{folder / 'portal.sqlite3'}", folder))
    use_folders(app, folder)
    return app


def table_digests(app: Flask) -> dict[str, tuple[int, str]]:
    """Each table's row count and a SHA-256 of its rows ordered by primary key, written
    independently of the backup code (values as the models give them back)."""
    digests = {}
    with app.app_context(), db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            text = json.dumps([list(row) for row in rows], default=str)
            digests[table.name] = (len(rows), hashlib.sha256(text.encode()).hexdigest())
    return digests


def files_in(folder: Path) -> dict[str, str]:
    """name -> SHA-256 of every file in a folder."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.iterdir()) if path.is_file()}


def seed_demo_with_a_picture(app: Flask) -> None:
    """The demo practice, and an uploaded photo on the hip flexor stretch."""
    image = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 90, 40)).save(image, format="PNG")
    with app.app_context():
        demo.seed(db.session, app.extensions["portal.passwords"],
                  box=app.extensions["portal.secret_box"], now=NOW, timezone="Europe/London")
        therapist = db.session.scalar(sa.select(User).where(User.email == demo.THERAPIST[1]))
        stored = pictures.store(image.getvalue(), Path(app.config["UPLOAD_DIR"]))
        picture = library.record_picture(
            db.session, therapist, stored_name=stored.stored_name,
            content_type=stored.content_type, width=stored.width, height=stored.height,
            byte_size=stored.byte_size, sha256=stored.sha256, now=NOW)
        exercise = db.session.scalar(sa.select(Exercise).where(
            Exercise.slug == demo.FEATURED_SLUG))
        exercise.picture_path, exercise.picture_id = None, picture.id
        db.session.commit()


def back_up(app: Flask, *args: str) -> Path:
    """Run `flask backup`; returns the new archive."""
    result = app.test_cli_runner().invoke(args=["backup", *args])
    assert result.exit_code == 0, result.output
    return Path(result.output.split("Backup written: ", 1)[1].splitlines()[0])


def restore(app: Flask, *args: str):
    """Run `flask restore`; returns click's result."""
    return app.test_cli_runner().invoke(args=["restore", *map(str, args)])


def takes_new_rows(app: Flask) -> None:
    """A new row gets a new id (PostgreSQL's sequences were moved past the restored ids)."""
    with app.app_context():
        highest = db.session.scalar(sa.select(sa.func.max(Service.id)))
        service = Service(name="Sports massage, 45 minutes", duration_minutes=45,
                          price_pence=4500, buffer_minutes=15, sort_order=9, description="")
        db.session.add(service)
        db.session.commit()
        assert service.id == highest + 1


def emails(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(sa.select(User.email)))


def refused(result, message: str) -> None:
    """The command stopped with a message, not a traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert message in result.output, result.output


# --- tests --------------------------------------------------------------------------------


def test_backup_restores_every_row_and_picture_into_an_empty_database(app, database,
                                                                     tmp_path):
    uploads = use_folders(app, tmp_path / "live")
    seed_demo_with_a_picture(app)
    rows, photos = table_digests(app), files_in(uploads)
    assert rows["picture"][0] == 1 and len(photos) == 1
    # The demo's conversations travel too (every table does; these prove it of the newest).
    assert rows["message_thread"][0] >= 3 and rows["message"][0] >= 5

    archive = back_up(app)

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        native = tar.extractfile(manifest["native"]["path"]).read()
    assert manifest["engine"] == database.backend
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == {
        name: count for name, (count, _) in rows.items()}
    if database.backend == "postgresql":
        assert native.startswith(b"PGDMP")  # pg_dump's custom format
    else:
        copy = tmp_path / "native.sqlite3"
        copy.write_bytes(native)
        with sqlite3.connect(copy) as conn:
            assert conn.execute("SELECT count(*) FROM user").fetchone()[0] == rows["user"][0]

    # Into a new SQLite database with no schema yet (PostgreSQL -> SQLite on that run).
    fresh = blank_sqlite_app(tmp_path / "fresh")
    result = restore(fresh, archive)
    assert result.exit_code == 0, result.output
    assert "creating the schema" in result.output
    assert f"Restored {sum(c for c, _ in rows.values()):,} rows in {len(rows)} tables" \
        in result.output
    assert "Every table's row count and checksum match the archive." in result.output
    assert "Pictures: 1 written" in result.output
    assert table_digests(fresh) == rows
    assert files_in(tmp_path / "fresh" / "uploads") == photos

    if database.backend == "postgresql":
        # SQLite -> PostgreSQL: the new SQLite database's own backup into the PostgreSQL
        # database, emptied (ids start at 1 again) and with its pictures gone.
        second = back_up(fresh)
        database.reset(app)
        for path in uploads.iterdir():
            path.unlink()
        result = restore(app, second)
        assert result.exit_code == 0, result.output
        assert "creating the schema" not in result.output
        assert table_digests(app) == rows
        assert files_in(uploads) == photos
        takes_new_rows(app)
    takes_new_rows(fresh)
    with fresh.app_context():
        db.engine.dispose()


def test_an_encrypted_backup_restores_only_with_its_key_and_never_over_data_unasked(
        app, make_therapist, tmp_path):
    use_folders(app, tmp_path)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    older = [folder / f"portal-2026-0{month}-01T020000.000000Z.tar.gz" for month in (1, 2, 3)]
    for path in older:
        path.write_bytes(b"an older archive")
    (folder / "notes.txt").write_text("the operator's own file")
    make_therapist(email="jo@example.com")
    app.config["BACKUP_KEY"] = KEY

    archive = back_up(app, "--dir", str(folder), "--keep", "2")

    # Encrypted, for the owner's eyes only, and the oldest archives (only those) pruned.
    assert archive.parent == folder and archive.name.endswith(".tar.gz.enc")
    assert b"jo@example.com" not in archive.read_bytes()
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [older[2].name, archive.name, "notes.txt"])
    # A wrong, missing or malformed key: a clear message, nothing touched.
    make_therapist(email="sam@example.com")  # after the backup
    app.config["BACKUP_KEY"] = OTHER_KEY
    refused(restore(app, archive, "--replace"), "encrypted with a different key")
    app.config["BACKUP_KEY"] = ""
    refused(restore(app, archive, "--replace"), "This archive is encrypted: set "
                                                "PORTAL_BACKUP_KEY")
    app.config["BACKUP_KEY"] = "my-password"
    refused(restore(app, archive), "PORTAL_BACKUP_KEY is not a usable key")
    refused(app.test_cli_runner().invoke(args=["backup"]), "PORTAL_BACKUP_KEY is not a usable")
    assert emails(app) == {"jo@example.com", "sam@example.com"}
    app.config["BACKUP_KEY"] = KEY
    # The right key, over a database with data: refused unless --replace says so.
    result = restore(app, archive)
    refused(result, "This database already holds data (5 rows: practice 1, two_factor 2, "
                    "user 2). Nothing was changed.")
    assert "--replace" in result.output
    assert emails(app) == {"jo@example.com", "sam@example.com"}

    result = restore(app, archive, "--replace")

    assert result.exit_code == 0, result.output
    assert "encrypted)" in result.output
    assert "Replaced 5 rows that were in the database." in result.output
    assert emails(app) == {"jo@example.com"}
    result = restore(app, archive, "--extract-to", tmp_path / "checked")
    assert result.exit_code == 0, result.output
    assert "the database was not touched" in result.output
    assert b"jo@example.com" in (tmp_path / "checked" / "data" / "user.jsonl").read_bytes()


def test_restore_refuses_an_archive_from_another_schema_revision(app, tmp_path):
    use_folders(app, tmp_path)
    path = tmp_path / "old.tar.gz"
    writer = backup_archive.ArchiveWriter(path, None)
    writer.close({"format": "portal-backup", "format_version": 1, "engine": "sqlite",
                  "created_at": "2025-01-01T00:00:00+00:00", "alembic_revision": "0ld0ne",
                  "tables": []})

    result = restore(app, path)

    refused(result, "The archive was made at database revision 0ld0ne; this version of the "
                    "portal is at")


def test_a_missing_postgresql_program_is_named(app, database, practice, tmp_path):
    use_folders(app, tmp_path)
    app.config["PG_DUMP"] = str(tmp_path / "no-such-program")

    result = app.test_cli_runner().invoke(args=["backup"])

    if database.backend == "sqlite":  # SQLite needs no PostgreSQL program
        assert result.exit_code == 0, result.output
    else:
        refused(result, f"PORTAL_PG_DUMP is set to {tmp_path / 'no-such-program'}, which is "
                        "not a program.")
        assert not list((tmp_path / "backups").iterdir())  # nothing half-written is left
