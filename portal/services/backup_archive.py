"""The backup archive as a file: a .tar.gz whose last member, manifest.json, lists every other
member with its size and SHA-256, optionally encrypted as a whole. No database here.

Encryption is AES-256-GCM over the whole .tar.gz, streamed (the `cryptography` package's
GCM mode): an archive with years of pictures never has to fit in memory, which Fernet would
need (and Fernet's base64 would make it a third bigger). The file is

    MAGIC | key check (8 bytes) | nonce (12) | ciphertext | tag (16)

with the first three parts authenticated as associated data. The key check, derived from the
key but not revealing it, lets a restore say "wrong key" at once instead of after decrypting
everything. Decrypted bytes go to a temporary file and are read only after the tag has been
verified, so nothing unauthenticated is ever acted on.

Plain copies on disk. A backup needs the database's snapshot on disk before it is archived
(pg_dump and SQLite's backup API write files; tar needs each member's size before its bytes),
and a restore unpacks the decrypted archive; both are plain text. They live only in a private
staging folder (`private_folder`), never in the backup folder (which is copied elsewhere, maybe
while a backup runs): a new folder in the system's temporary folder (TMPDIR), mode 0700,
its files made 0600 (`private_file`), removed when the work ends however it ends: done, an
error, Ctrl-C, or SIGTERM and SIGHUP (turned into BackupInterrupted, so the removal runs as
for any error). What no process can clean up after (SIGKILL, a power cut) is
removed by the next backup or restore: each folder holds a lock while in use, and unlocked
ones are leftovers.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = "portal-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAGIC = b"PORTALBK\x01"
GZIP_MAGIC = b"\x1f\x8b"
KEY_CHECK_SIZE = 8
NONCE_SIZE = 12
TAG_SIZE = 16
HEADER_SIZE = len(MAGIC) + KEY_CHECK_SIZE + NONCE_SIZE
CHUNK = 1024 * 1024
# Members live one level down in these folders; anything else in an archive is refused.
FOLDERS = ("data", "database", "uploads")
PART = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,150}$")
KEY_VARIABLE = "PORTAL_BACKUP_KEY"
MAKE_KEY = ('python3 -c "import base64, secrets; '
            'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"')


class BackupError(Exception):
    """A backup or restore cannot go on; `message` says why in words for the operator."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BackupInterrupted(BackupError):
    """The process was asked to stop (SIGTERM, SIGHUP) while plain copies were on disk."""


# --- the private staging folder ------------------------------------------------------------

STAGING_PREFIX = "portal-staging-"
LOCK_NAME = ".in-use"
# A folder without its lock file is a leftover only once it is older than this (the lock is
# made right after the folder, so only a run killed in between leaves one without).
UNLOCKED_GRACE = 60
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


@contextmanager
def private_folder(purpose: str, parent: Path | None = None) -> Iterator[Path]:
    """A new folder for plain copies (see the module's docstring): private to this user,
    removed on every way out, and leftovers of killed runs in `parent` (default: TMPDIR)
    removed first."""
    parent = Path(parent or tempfile.gettempdir())
    remove_leftovers(parent)
    handlers = _stop_by_exception()
    lock = None
    try:
        # mkdtemp: a new name no one else can have taken, mode 0700.
        folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{purpose}-", dir=parent))
        try:
            lock = os.open(folder / LOCK_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            yield folder
        finally:
            try:
                _remove(folder)
            finally:
                if lock is not None:
                    os.close(lock)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def private_file(path: Path) -> BinaryIO:
    """A new file for writing, readable by its owner only (whatever the umask)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _remove(folder: Path) -> None:
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise BackupError(f"The staging folder {folder} could not be removed ({exc}). It "
                          "holds an unencrypted copy of the data: delete it by hand.") from exc


def _stop_by_exception() -> dict:
    """SIGTERM and SIGHUP raise BackupInterrupted (in the main thread, the only one Python
    runs signal handlers in) instead of ending the process on the spot, so the plain copies
    are removed; returns the handlers to put back."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(number, _frame):
        raise BackupInterrupted(f"Stopped by {signal.Signals(number).name} before it "
                                "finished; nothing was kept.")

    return {number: signal.signal(number, stop) for number in STOP_SIGNALS}


def remove_leftovers(parent: Path) -> list[Path]:
    """Remove staging folders in `parent` left by runs that were killed (no process holds
    their lock); returns them. Another user's folders, and live ones, are left alone."""
    removed = []
    try:
        candidates = [path for path in Path(parent).iterdir()
                      if path.name.startswith(STAGING_PREFIX)]
    except OSError:
        return removed
    for folder in candidates:
        try:
            info = folder.lstat()
        except OSError:
            continue
        if not folder.is_dir() or folder.is_symlink() or info.st_uid != os.getuid():
            continue
        if _in_use(folder, info):
            continue
        _remove(folder)
        removed.append(folder)
    return removed


def _in_use(folder: Path, info: os.stat_result) -> bool:
    try:
        lock = os.open(folder / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return time.time() - info.st_mtime < UNLOCKED_GRACE
    except OSError:
        return True
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True  # another run holds it
    finally:
        os.close(lock)  # closing drops a lock we took
    return False


# --- keys -----------------------------------------------------------------------------


def parse_key(text: str | None) -> bytes | None:
    """The 32-byte key from its URL-safe base64 form, None when unset; BackupError when
    malformed."""
    if not text:
        return None
    try:
        key = base64.b64decode(text.strip().encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise BackupError(
            f"{KEY_VARIABLE} is not a usable key: it must be 32 random bytes in URL-safe "
            f"base64 (44 characters). Make one with: {MAKE_KEY}")
    return key


def _derive(key: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                info=b"portal backup v1: " + purpose).derive(key)


def _cipher(key: bytes, nonce: bytes) -> Cipher:
    return Cipher(algorithms.AES(_derive(key, b"encryption", 32)), modes.GCM(nonce))


class _EncryptingWriter:
    """A write-only file object that encrypts what it is given into `raw`."""

    def __init__(self, raw: BinaryIO, key: bytes):
        nonce = os.urandom(NONCE_SIZE)
        header = MAGIC + _derive(key, b"key check", KEY_CHECK_SIZE) + nonce
        self._raw = raw
        self._encryptor = _cipher(key, nonce).encryptor()
        self._encryptor.authenticate_additional_data(header)
        raw.write(header)

    def write(self, data: bytes) -> int:
        self._raw.write(self._encryptor.update(data))
        return len(data)

    def flush(self) -> None:
        self._raw.flush()

    def finish(self) -> None:
        """Write the last block and the tag."""
        self._raw.write(self._encryptor.finalize() + self._encryptor.tag)


def _decrypt(source: BinaryIO, size: int, key: bytes | None, target: BinaryIO) -> None:
    """Decrypt an encrypted archive into `target`; BackupError for a wrong or missing key or
    altered bytes (then `target` holds garbage the caller must throw away)."""
    if key is None:
        raise BackupError(f"This archive is encrypted: set {KEY_VARIABLE} to the key it was "
                          "made with.")
    header = source.read(HEADER_SIZE)
    if len(header) < HEADER_SIZE or size < HEADER_SIZE + TAG_SIZE:
        raise BackupError("The archive is cut short: it is not a complete backup.")
    key_check = header[len(MAGIC):len(MAGIC) + KEY_CHECK_SIZE]
    if key_check != _derive(key, b"key check", KEY_CHECK_SIZE):
        raise BackupError(f"This archive was encrypted with a different key from the one in "
                          f"{KEY_VARIABLE}: set the key it was made with.")
    decryptor = _cipher(key, header[-NONCE_SIZE:]).decryptor()
    decryptor.authenticate_additional_data(header)
    remaining = size - HEADER_SIZE - TAG_SIZE
    while remaining:
        chunk = source.read(min(CHUNK, remaining))
        if not chunk:
            raise BackupError("The archive is cut short: it is not a complete backup.")
        remaining -= len(chunk)
        target.write(decryptor.update(chunk))
    try:
        target.write(decryptor.finalize_with_tag(source.read(TAG_SIZE)))
    except (InvalidTag, ValueError) as exc:
        raise BackupError("The archive is damaged or was altered after it was made: its "
                          "encryption check fails. Use another copy.") from exc


# --- writing --------------------------------------------------------------------------


class _HashingReader:
    """Reads a file and hashes what passes through."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.digest.update(data)
        return data


class ArchiveWriter:
    """Writes a new archive at `path` (which must not exist), readable by the owner only.

    Add files, then `close(manifest)`: the manifest gains the list of files and goes last.
    The caller renames the finished file into place (see backups.create)."""

    def __init__(self, path: Path, key: bytes | None):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._raw = os.fdopen(descriptor, "wb")
        self._encrypting = _EncryptingWriter(self._raw, key) if key else None
        # Kept open across add_file calls; close() or abandon() ends it.
        self._tar = tarfile.open(fileobj=self._encrypting or self._raw,  # noqa: SIM115
                                 mode="w|gz")
        self.files: list[dict] = []

    def add_file(self, name: str, source: Path) -> dict:
        """Add the file at `source` as member `name`; returns its manifest entry."""
        _check_name(name)
        with open(source, "rb") as handle:
            info = tarfile.TarInfo(name)
            info.size = os.fstat(handle.fileno()).st_size
            info.mode = 0o600
            info.mtime = int(os.fstat(handle.fileno()).st_mtime)
            reader = _HashingReader(handle)
            self._tar.addfile(info, reader)
        entry = {"path": name, "size": info.size, "sha256": reader.digest.hexdigest()}
        self.files.append(entry)
        return entry

    def close(self, manifest: dict, mtime: int = 0) -> None:
        """Write the manifest, finish the stream and make sure it is on disk."""
        data = json.dumps({**manifest, "files": self.files}, indent=1,
                          ensure_ascii=False).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        info.mode = 0o600
        info.mtime = mtime
        self._tar.addfile(info, _BytesReader(data))
        self._tar.close()
        if self._encrypting:
            self._encrypting.finish()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()

    def abandon(self) -> None:
        """Close without finishing (the caller removes the partial file). The tar stream is
        closed first, its last bytes going to the doomed file or nowhere: left open, it
        would try to write them when garbage collected, into the closed file."""
        try:
            self._tar.close()
        except (OSError, ValueError, tarfile.TarError):
            pass  # the disk that failed may fail again; the file is deleted anyway
        finally:
            self._raw.close()


class _BytesReader:
    def __init__(self, data: bytes):
        self._data = memoryview(data)

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size < 0 else size
        chunk, self._data = self._data[:size], self._data[size:]
        return bytes(chunk)


# --- reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedArchive:
    """An archive whose every member matched the manifest; files extracted under `root`."""

    manifest: dict
    root: Path
    encrypted: bool

    def path(self, name: str) -> Path:
        """Where member `name` was extracted."""
        return self.root / name

    def names(self, folder: str) -> list[str]:
        """The members in one folder, as listed in the manifest."""
        return [entry["path"] for entry in self.manifest["files"]
                if entry["path"].startswith(folder + "/")]


@contextmanager
def opened(path: Path, key: bytes | None, staging: Path | None = None
           ) -> Iterator[OpenedArchive]:
    """Decrypt (when needed), unpack into a private staging folder (in `staging`, default
    TMPDIR) and check every member's size and SHA-256 against the manifest; BackupError when
    anything is off. The folder is removed afterwards, however the work ends."""
    with private_folder("restore", staging) as work_dir:
        try:
            with open(path, "rb") as source:
                start = source.read(len(MAGIC))
                source.seek(0)
                if start == MAGIC:
                    plain = work_dir / "archive.tar.gz"
                    with private_file(plain) as target:
                        _decrypt(source, os.fstat(source.fileno()).st_size, key, target)
                    encrypted = True
                elif start.startswith(GZIP_MAGIC):
                    plain, encrypted = Path(path), False
                else:
                    raise BackupError(f"{path} is not a portal backup archive.")
            root = work_dir / "files"
            root.mkdir(mode=0o700)
            found = _unpack(plain, root)
        except OSError as exc:
            raise BackupError(f"The archive could not be read: {exc}") from exc
        manifest = _read_manifest(root / MANIFEST)
        _compare(manifest, found)
        yield OpenedArchive(manifest=manifest, root=root, encrypted=encrypted)


def _unpack(archive: Path, root: Path) -> dict[str, tuple[int, str]]:
    """Extract every member under root; returns name -> (size, sha256)."""
    found: dict[str, tuple[int, str]] = {}
    try:
        with tarfile.open(archive, mode="r|gz") as tar:
            for member in tar:
                name = member.name
                if name != MANIFEST:
                    _check_name(name)
                if not member.isfile() or name in found:
                    raise BackupError(f"The archive holds an unexpected entry ({name!r}): it "
                                      "was not made by flask backup.")
                target = root / name
                target.parent.mkdir(mode=0o700, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                source = tar.extractfile(member)
                with private_file(target) as out:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                found[name] = (size, digest.hexdigest())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"The archive is damaged and could not be unpacked ({exc}). Use "
                          "another copy.") from exc
    return found


def _check_name(name: str) -> None:
    parts = name.split("/")
    if len(parts) != 2 or parts[0] not in FOLDERS or not PART.fullmatch(parts[1]):
        raise BackupError(f"The archive holds an unexpected entry ({name!r}): it was not made "
                          "by flask backup.")


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError("The archive has no readable manifest: it is incomplete or was not "
                          "made by flask backup.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("The archive's manifest is not a portal backup manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"The archive is in backup format {manifest.get('format_version')}; "
                          f"this version of the portal reads format {FORMAT_VERSION}.")
    return manifest


def _compare(manifest: dict, found: dict[str, tuple[int, str]]) -> None:
    listed = {entry["path"]: (entry["size"], entry["sha256"]) for entry in manifest["files"]}
    present = {name: value for name, value in found.items() if name != MANIFEST}
    missing = sorted(set(listed) - set(present))
    extra = sorted(set(present) - set(listed))
    changed = sorted(name for name in set(listed) & set(present)
                     if listed[name] != present[name])
    if missing or extra or changed:
        problems = [f"missing: {', '.join(missing)}" if missing else "",
                    f"not in the manifest: {', '.join(extra)}" if extra else "",
                    f"checksum differs: {', '.join(changed)}" if changed else ""]
        raise BackupError("The archive does not match its manifest ("
                          + "; ".join(p for p in problems if p) + "). Use another copy.")
