"""Backups of the whole practice (database and uploaded pictures) and restores into a fresh
database.

The snapshot is the database's own: SQLite's online backup API copies the file while the
app keeps running; on PostgreSQL one REPEATABLE READ transaction exports its snapshot, pg_dump
dumps exactly that snapshot, and the same transaction reads every table. So the archive holds

    data/<table>.jsonl     every row, one JSON array a line, ordered by primary key, in a
                           form both engines read back (what `flask restore` loads)
    database/portal.dump   pg_dump's custom format (PostgreSQL), or
    database/portal.sqlite3  the online backup copy (SQLite): the native copy, for a manual
                           restore with pg_restore or sqlite3 (e.g. an archive from an older
                           schema), never needed by `flask restore`
    uploads/<name>         every picture the snapshot's picture rows name
    manifest.json          versions, engine, row counts, and each file's size and SHA-256

Restoring loads the JSON rows with SQLAlchemy Core in dependency order, so an archive made on
SQLite restores into PostgreSQL and back; everything happens in one transaction, which is
committed only after every table read back matches the archive's row count and checksum.
"""

from __future__ import annotations

import base64
import functools
import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from portal.models import Picture
from portal.services import pictures
from portal.services.backup_archive import (
    FORMAT,
    FORMAT_VERSION,
    ArchiveWriter,
    BackupError,
    OpenedArchive,
    private_file,
    private_folder,
)

NAME_PREFIX = "portal-"
# portal-2026-01-31T020000.123456Z.tar.gz(.enc): sorting the names sorts by time.
NAME_RE = re.compile(r"^portal-\d{4}-\d{2}-\d{2}T\d{6}\.\d{6}Z\.tar\.gz(\.enc)?$")
BATCH = 500
TOOL_TIMEOUT = 3600


# --- rows as portable JSON --------------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    """How one column's values become JSON and come back."""

    encode: Callable
    decode: Callable


def _same(value):
    return value


def _nullable(function: Callable) -> Callable:
    return lambda value: None if value is None else function(value)


def codec_for(column: sa.Column) -> Codec:
    """The codec for a column, by its type; BackupError for a type with no portable form."""
    kind = column.type
    if isinstance(kind, sa.JSON):
        # JSON's own null and SQL NULL both read as None; a nullable column gets SQL NULL back.
        return Codec(_same, (lambda v: sa.null() if v is None else v) if column.nullable
                     else _same)
    if isinstance(kind, sa.Enum) and kind.enum_class is not None:
        enum_class = kind.enum_class
        return Codec(_nullable(lambda v: v.name), _nullable(lambda v: enum_class[v]))
    if isinstance(kind, sa.TypeDecorator):
        # UTCDateTime and the like: the value the model gives and takes is the impl's type.
        kind = kind.impl_instance
    try:
        python_type = kind.python_type
    except NotImplementedError:
        python_type = None
    if python_type is datetime:
        return Codec(_nullable(datetime.isoformat), _nullable(datetime.fromisoformat))
    if python_type is date:
        return Codec(_nullable(date.isoformat), _nullable(date.fromisoformat))
    if python_type is time:
        return Codec(_nullable(time.isoformat), _nullable(time.fromisoformat))
    if python_type in (int, str, bool, float):
        return Codec(_same, _same)
    if python_type is bytes:  # a passkey's public key: base64 in JSON
        return Codec(_nullable(lambda v: base64.b64encode(v).decode("ascii")),
                     _nullable(base64.b64decode))
    raise BackupError(f"Column {column.table.name}.{column.name} ({kind}) has no portable "
                      "form in backups yet: teach portal/services/backups.py codec_for.")


def _encoded_rows(conn: Connection, table: sa.Table) -> Iterator[bytes]:
    """Every row of a table ordered by primary key, one JSON line each (the archive's form,
    also what the checksums are taken over)."""
    encoders = [codec_for(column).encode for column in table.columns]
    query = sa.select(table).order_by(*table.primary_key.columns)
    for row in conn.execution_options(yield_per=BATCH).execute(query):
        values = [encode(value) for encode, value in zip(encoders, row, strict=True)]
        yield (json.dumps(values, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
               + "\n").encode()


@dataclass(frozen=True)
class TableCount:
    """One table's rows and the SHA-256 of their JSON lines."""

    name: str
    rows: int
    sha256: str


def _digest(conn: Connection, table: sa.Table, out=None) -> TableCount:
    digest, rows = hashlib.sha256(), 0
    for line in _encoded_rows(conn, table):
        digest.update(line)
        rows += 1
        if out is not None:
            out.write(line)
    return TableCount(table.name, rows, digest.hexdigest())


# --- making a backup --------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    """Paths (or overrides) of the PostgreSQL client programs."""

    pg_dump: str = ""
    pg_restore: str = ""


@dataclass
class _Snapshot:
    engine: str
    revision: str
    tables: list[TableCount]
    pictures: list[tuple[str, str]]  # stored_name, sha256 as recorded
    native: Path
    native_tool: str


@dataclass(frozen=True)
class BackupResult:
    """What `create` wrote and removed."""

    path: Path
    size: int
    encrypted: bool
    engine: str
    revision: str
    tables: list[TableCount]
    pictures: int
    picture_bytes: int
    missing_pictures: list[str]
    damaged_pictures: list[str]
    removed: list[Path] = field(default_factory=list)


def archive_name(now: datetime, encrypted: bool) -> str:
    """The file name for an archive made at `now`."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H%M%S.%fZ")
    return f"{NAME_PREFIX}{stamp}.tar.gz" + (".enc" if encrypted else "")


def create(engine: Engine, metadata: sa.MetaData, *, upload_dir: Path, backup_dir: Path,
           key: bytes | None, now: datetime, keep: int, app_version: str,
           tools: Tools = Tools(), staging_dir: Path | None = None) -> BackupResult:
    """Write one archive of the database and the pictures to backup_dir, then remove all but
    the newest `keep` archives there (only once the new one is complete and on disk).

    The snapshot is staged, unencrypted, in a private folder in `staging_dir` (default:
    TMPDIR), never in backup_dir, and removed however the backup ends (see backup_archive's
    docstring). Pictures are read from upload_dir straight into the archive: no copy."""
    backup_dir = Path(backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _remove_old_staging(backup_dir)
    final = backup_dir / archive_name(now, key is not None)
    if final.exists():
        raise BackupError(f"{final} already exists.")
    partial = backup_dir / f".{final.name}.part"
    try:
        with private_folder("backup", staging_dir) as staging:
            snapshot = _take_snapshot(engine, metadata, staging, tools)
            writer = ArchiveWriter(partial, key)
            try:
                writer.add_file(f"database/{snapshot.native.name}", snapshot.native)
                for table in snapshot.tables:
                    writer.add_file(f"data/{table.name}.jsonl",
                                    staging / f"{table.name}.jsonl")
                stored, missing, damaged = _add_pictures(writer, snapshot.pictures, upload_dir)
                writer.close({
                    "format": FORMAT, "format_version": FORMAT_VERSION,
                    "created_at": now.astimezone(UTC).isoformat(),
                    "app_version": app_version, "alembic_revision": snapshot.revision,
                    "engine": snapshot.engine, "native": {
                        "path": f"database/{snapshot.native.name}", "tool": snapshot.native_tool},
                    "tables": [{"name": t.name, "rows": t.rows, "sha256": t.sha256,
                                "columns": [c.name for c in metadata.tables[t.name].columns]}
                               for t in snapshot.tables],
                    "missing_pictures": missing,
                }, mtime=int(now.timestamp()))
                os.replace(partial, final)
            except BaseException:
                writer.abandon()
                partial.unlink(missing_ok=True)
                raise
    except OSError as exc:  # a full disk, a folder not writable...
        raise BackupError(f"The backup could not be written ({exc}); nothing was kept.") \
            from exc
    _sync_directory(backup_dir)
    removed = prune(backup_dir, keep)
    return BackupResult(
        path=final, size=final.stat().st_size, encrypted=key is not None,
        engine=snapshot.engine, revision=snapshot.revision, tables=snapshot.tables,
        pictures=len(stored), picture_bytes=sum(entry["size"] for entry in stored),
        missing_pictures=missing, damaged_pictures=damaged, removed=removed)


def _remove_old_staging(backup_dir: Path) -> None:
    """Earlier versions staged the plain snapshot in backup_dir/.staging-*; a run killed there
    left it behind, in the folder that is copied off the machine. Those go."""
    for folder in backup_dir.glob(".staging-*"):
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)


def _add_pictures(writer: ArchiveWriter, rows: list[tuple[str, str]], upload_dir: Path
                  ) -> tuple[list[dict], list[str], list[str]]:
    """Add each picture file; returns the entries, the names with no file, and the names
    whose file no longer matches the checksum recorded at upload."""
    stored, missing, damaged = [], [], []
    for name, recorded in rows:
        path = pictures.path_of(upload_dir, name)
        if path is None or not path.is_file():
            missing.append(name)
            continue
        entry = writer.add_file(f"uploads/{name}", path)
        stored.append(entry)
        if entry["sha256"] != recorded:
            damaged.append(name)
    return stored, missing, damaged


def _take_snapshot(engine: Engine, metadata: sa.MetaData, staging: Path, tools: Tools
                   ) -> _Snapshot:
    if engine.dialect.name == "sqlite":
        return _sqlite_snapshot(engine, metadata, staging)
    if engine.dialect.name == "postgresql":
        return _postgresql_snapshot(engine, metadata, staging, tools)
    raise BackupError(f"Backups support SQLite and PostgreSQL, not {engine.dialect.name}.")


def _read_tables(conn: Connection, metadata: sa.MetaData, staging: Path
                 ) -> tuple[str, list[TableCount], list[tuple[str, str]]]:
    """Inside the snapshot: the schema revision, every table to staging/<table>.jsonl, and
    the pictures the rows name."""
    if not sa.inspect(conn).has_table("alembic_version"):
        raise BackupError("The database has no schema yet: run `flask db upgrade` first.")
    revision = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    tables = []
    for table in metadata.sorted_tables:
        with private_file(staging / f"{table.name}.jsonl") as out:
            tables.append(_digest(conn, table, out))
    picture_rows = conn.execute(sa.select(Picture.stored_name, Picture.sha256)
                                .order_by(Picture.id)).all()
    return revision, tables, [tuple(row) for row in picture_rows]


def _sqlite_snapshot(engine: Engine, metadata: sa.MetaData, staging: Path) -> _Snapshot:
    copy = staging / "portal.sqlite3"
    private_file(copy).close()  # SQLite keeps an existing file's mode (its journal takes it too)
    raw = engine.raw_connection()
    try:
        target = sqlite3.connect(copy)
        try:
            # All pages in one step: SQLite holds a read transaction for the copy, so it is
            # one consistent moment even while the app writes (WAL lets writers carry on).
            raw.driver_connection.backup(target)
            # A stand-alone file: no -wal beside it, whatever mode the live database uses.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        raw.close()
    reader = sa.create_engine(f"sqlite:///{copy}", poolclass=NullPool)
    try:
        with reader.connect() as conn:
            revision, tables, rows = _read_tables(conn, metadata, staging)
    finally:
        reader.dispose()
    return _Snapshot("sqlite", revision, tables, rows, copy,
                     f"SQLite {sqlite3.sqlite_version} online backup")


def _postgresql_snapshot(engine: Engine, metadata: sa.MetaData, staging: Path, tools: Tools
                         ) -> _Snapshot:
    dump = staging / "portal.dump"
    private_file(dump).close()  # pg_dump writes into it, keeping its mode
    pg_dump = find_tool("pg_dump", tools.pg_dump, "PORTAL_PG_DUMP")
    pg_restore = find_tool("pg_restore", tools.pg_restore, "PORTAL_PG_RESTORE")
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                      postgresql_readonly=True)
        with conn.begin():
            snapshot_id = conn.scalar(sa.text("SELECT pg_export_snapshot()"))
            # pg_dump joins this transaction's snapshot, so the dump and the JSON rows below
            # show the database at the same instant.
            run_tool(pg_dump, ["--format=custom", "--no-password", f"--snapshot={snapshot_id}",
                           f"--file={dump}", "--dbname", libpq_url(engine.url)],
                 engine.url, "pg_dump")
            revision, tables, rows = _read_tables(conn, metadata, staging)
    _check_dump(pg_restore, dump, [t.name for t in tables])
    return _Snapshot("postgresql", revision, tables, rows, dump,
                     f"{tool_version(pg_dump)}, custom format")


def _check_dump(pg_restore: str, dump: Path, tables: list[str]) -> None:
    """Read the dump's table of contents back: it must open and hold every table's data."""
    listing = run_tool(pg_restore, ["--list", str(dump)], None, "pg_restore")
    present = set(re.findall(r"TABLE DATA \S+ (\S+) ", listing))
    absent = [name for name in tables if name not in present and f'"{name}"' not in present]
    if absent:
        raise BackupError(f"pg_dump's file lacks the data of {', '.join(absent)}.")


def libpq_url(url: sa.URL) -> str:
    """The database URL for libpq tools, without the driver name or the password (which
    goes in PGPASSWORD, never on a command line other users can list)."""
    # Built anew: URL.set(password=None) leaves the password in place.
    plain = sa.URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                          database=url.database, query=url.query)
    return plain.render_as_string(hide_password=False)


def run_tool(program: str, args: list[str], url: sa.URL | None, label: str) -> str:
    """Run a PostgreSQL client program, the password (if any) in its environment; its
    output, or BackupError with what it printed."""
    env = dict(os.environ)
    if url is not None and url.password:
        env["PGPASSWORD"] = str(url.password)
    try:
        done = subprocess.run([program, *args], env=env, capture_output=True, text=True,  # noqa: S603
                              timeout=TOOL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{label} could not run ({program}): {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.strip() or f"exit status {done.returncode}"
        raise BackupError(f"{label} failed: {detail}")
    return done.stdout


@functools.lru_cache(maxsize=8)
def tool_version(program: str) -> str:
    """'pg_dump (PostgreSQL) 15.20', for the manifest (a manual restore needs pg_restore of
    that major version or newer)."""
    return run_tool(program, ["--version"], None, program).strip()


def find_tool(name: str, override: str, variable: str) -> str:
    """The path of a PostgreSQL client program: the override, else PATH, else the newest
    version in the usual install folders."""
    if override:
        if Path(override).is_file() and os.access(override, os.X_OK):
            return override
        raise BackupError(f"{variable} is set to {override}, which is not a program.")
    found = shutil.which(name)
    if found:
        return found
    candidates = [path for pattern in (
        f"/usr/lib/postgresql/*/bin/{name}", f"/usr/pgsql-*/bin/{name}",
        f"/opt/homebrew/opt/postgresql@*/bin/{name}", f"/usr/local/opt/postgresql@*/bin/{name}",
    ) for path in glob.glob(pattern) if os.access(path, os.X_OK)]
    if candidates:
        return max(candidates, key=_version_in_path)
    raise BackupError(f"{name} was not found. Install the PostgreSQL client programs (the "
                      f"server's major version or newer) or set {variable} to its path.")


def _version_in_path(path: str) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", path)
    return tuple(int(n) for n in numbers) or (0,)


def _sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def archives(backup_dir: Path) -> list[Path]:
    """The archives in backup_dir named by `create`, oldest first."""
    if not Path(backup_dir).is_dir():
        return []
    return sorted(path for path in Path(backup_dir).iterdir()
                  if NAME_RE.fullmatch(path.name) and path.is_file())


def prune(backup_dir: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` archives (never any other file); returns them."""
    if keep < 1:
        raise BackupError("Keep at least one backup.")
    old = archives(backup_dir)[:-keep]
    for path in old:
        path.unlink(missing_ok=True)
    return old


# --- restoring --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseState:
    """What a restore finds in its target database."""

    revision: str | None
    app_tables: list[str]
    rows: dict[str, int]

    @property
    def blank(self) -> bool:
        """No schema at all: `flask db upgrade` has never run here."""
        return self.revision is None and not self.app_tables

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def database_state(engine: Engine, metadata: sa.MetaData) -> DatabaseState:
    """The target's schema revision, which of the app's tables exist and their row counts."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        revision = (conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
                    if inspector.has_table("alembic_version") else None)
        present = [t for t in metadata.sorted_tables if inspector.has_table(t.name)]
        rows = {t.name: _count(conn, t) for t in present}
    return DatabaseState(revision, [t.name for t in present], rows)


def _count(conn: Connection, table: sa.Table) -> int:
    return conn.scalar(sa.select(sa.func.count()).select_from(table))


def describe_rows(rows: dict[str, int]) -> list[str]:
    """['appointment 60', 'user 15'] for the tables that have rows, by name."""
    return [f"{name} {count:,}" for name, count in sorted(rows.items()) if count]


def refuse_data(rows: dict[str, int], *, replace: bool) -> None:
    """BackupError when the target holds rows and the operator did not ask to replace them."""
    if any(rows.values()) and not replace:
        raise BackupError(
            f"This database already holds data ({sum(rows.values()):,} rows: "
            f"{', '.join(describe_rows(rows))}). Nothing was changed. Restore into a new, empty "
            "database, or pass --replace to delete these rows as part of the restore.")


def check_archive_matches(archive: OpenedArchive, metadata: sa.MetaData, revision: str) -> None:
    """Refuse an archive whose schema differs from this code's."""
    manifest = archive.manifest
    if manifest.get("alembic_revision") != revision:
        raise BackupError(
            f"The archive was made at database revision {manifest.get('alembic_revision')}; "
            f"this version of the portal is at {revision}. Restore it with the portal version "
            "that made it, then run `flask db upgrade`; or restore its native copy by hand "
            "(see the README).")
    listed = {t["name"]: t["columns"] for t in manifest["tables"]}
    current = {t.name: [c.name for c in t.columns] for t in metadata.sorted_tables}
    if {n: sorted(c) for n, c in listed.items()} != {n: sorted(c) for n, c in current.items()}:
        raise BackupError("The archive's tables and columns differ from this version's, "
                          "although the revision is the same: it cannot be restored here.")


@dataclass(frozen=True)
class RestoreResult:
    """What `restore_rows` loaded and, with replace, deleted first."""

    tables: list[TableCount]
    deleted: dict[str, int]


def restore_rows(engine: Engine, metadata: sa.MetaData, archive: OpenedArchive, *,
                 replace: bool) -> RestoreResult:
    """Load every table's rows from the archive in one transaction, committed only when each
    table read back has the archive's row count and checksum. Refuses a database that has
    rows, unless `replace`: then they are deleted in that same transaction, so a failed
    restore leaves them as they were."""
    expected = {t["name"]: TableCount(t["name"], t["rows"], t["sha256"])
                for t in archive.manifest["tables"]}
    with engine.begin() as conn:
        existing = {t.name: _count(conn, t) for t in metadata.sorted_tables}
        refuse_data(existing, replace=replace)
        deleted = {name: count for name, count in existing.items() if count}
        for table in reversed(metadata.sorted_tables):
            if existing[table.name]:
                conn.execute(table.delete())
        for table in metadata.sorted_tables:
            _load_table(conn, table, archive, archive.manifest["tables"])
        if conn.dialect.name == "postgresql":
            _reset_sequences(conn, metadata)
        restored = [_digest(conn, table) for table in metadata.sorted_tables]
        wrong = [t.name for t in restored if t != expected[t.name]]
        if wrong:
            # Leaving the block with an exception rolls everything back.
            raise BackupError("The restored rows do not match the archive in "
                              f"{', '.join(wrong)}; nothing was restored.")
    return RestoreResult(restored, deleted)


def _load_table(conn: Connection, table: sa.Table, archive: OpenedArchive,
                listing: list[dict]) -> None:
    columns = next(t["columns"] for t in listing if t["name"] == table.name)
    decoders = [codec_for(table.c[name]).decode for name in columns]
    # A column pointing into its own table (user.invited_by_id) is set after every row is
    # in, so the order of the rows never matters.
    later = [fk.parent.name for fk in table.foreign_keys
             if fk.column.table is table and fk.parent.nullable]
    keys = [c.name for c in table.primary_key.columns]
    links: list[dict] = []
    batch: list[dict] = []
    with open(archive.path(f"data/{table.name}.jsonl"), encoding="utf-8") as lines:
        for line in lines:
            row = {name: decode(value)
                   for name, decode, value in zip(columns, decoders, json.loads(line),
                                                  strict=True)}
            if later and any(row[name] is not None for name in later):
                links.append({**{f"k_{k}": row[k] for k in keys},
                              **{f"v_{n}": row[n] for n in later}})
                row.update(dict.fromkeys(later))
            batch.append(row)
            if len(batch) >= BATCH:
                conn.execute(table.insert(), batch)
                batch = []
    if batch:
        conn.execute(table.insert(), batch)
    if links:
        update = table.update().where(
            *(table.c[k] == sa.bindparam(f"k_{k}") for k in keys)
        ).values({n: sa.bindparam(f"v_{n}") for n in later})
        conn.execute(update, links)


def _reset_sequences(conn: Connection, metadata: sa.MetaData) -> None:
    """Point each id sequence past the restored rows, so new rows get new ids."""
    quote = conn.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if not (column.autoincrement and column.type.python_type is int):
                continue
            sequence = conn.scalar(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                   {"t": quote.format_table(table), "c": column.name})
            if sequence:
                conn.execute(sa.text(
                    f"SELECT setval(:s, COALESCE((SELECT MAX({quote.quote(column.name)}) "  # noqa: S608
                    f"FROM {quote.format_table(table)}), 0) + 1, false)"), {"s": sequence})


@dataclass(frozen=True)
class PicturePlan:
    """Which pictures a restore writes and which are already there, identical."""

    write: list[str]
    present: list[str]


def plan_pictures(archive: OpenedArchive, upload_dir: Path, *, replace: bool) -> PicturePlan:
    """Check the archive's pictures against the upload directory before anything is written:
    a different file under the same name is refused unless `replace`."""
    sums = {entry["path"]: entry["sha256"] for entry in archive.manifest["files"]}
    write, present, clashes = [], [], []
    for member in archive.names("uploads"):
        name = member.split("/", 1)[1]
        target = pictures.path_of(upload_dir, name)
        if target is None:
            raise BackupError(f"The archive holds a picture with an unexpected name: {name}.")
        if target.is_file():
            if hashlib.sha256(target.read_bytes()).hexdigest() == sums[member]:
                present.append(name)
                continue
            clashes.append(name)
        write.append(name)
    if clashes and not replace:
        raise BackupError(
            f"The upload directory {upload_dir} already has different files named like "
            f"pictures in the archive ({', '.join(clashes[:3])}"
            f"{'...' if len(clashes) > 3 else ''}). Restore into an empty upload directory, "
            "or pass --replace to overwrite them.")
    return PicturePlan(write, present)


def restore_pictures(archive: OpenedArchive, upload_dir: Path, plan: PicturePlan) -> int:
    """Write the planned pictures (each one checked already); returns the bytes written."""
    written = 0
    for name in plan.write:
        data = archive.path(f"uploads/{name}").read_bytes()
        pictures.put(upload_dir, name, data)
        written += len(data)
    return written
