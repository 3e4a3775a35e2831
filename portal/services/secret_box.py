"""Keys derived from the app's secret: encryption for stored two-factor secrets and a keyed
hash for recovery codes.

The app has no key store, so both keys are derived from one master key with HKDF-SHA256,
each with its own `info` label: the encryption key and the hashing key are independent, and
neither is the session-signing key itself. The master key is `TWO_FACTOR_KEY` when set (so
the session key can be rotated without losing everyone's authenticator app), else
`SECRET_KEY`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cached_property


def _derive(master: bytes, label: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(master)


class SecretUnreadable(Exception):
    """A stored secret could not be decrypted (the key changed or the value was altered)."""


class SecretBox:
    """Encrypts short secrets (Fernet: AES-128-CBC with an HMAC-SHA256 tag) and makes keyed
    hashes (HMAC-SHA256). The keys are derived, and cryptography loaded, on first use: most
    requests of a web worker never need them."""

    def __init__(self, master_key: str | bytes):
        self._master = master_key.encode() if isinstance(master_key, str) else master_key

    @cached_property
    def _fernet(self):
        from cryptography.fernet import Fernet

        return Fernet(base64.urlsafe_b64encode(
            _derive(self._master, b"portal/two-factor/secrets/v1")))

    @cached_property
    def _hash_key(self) -> bytes:
        return _derive(self._master, b"portal/two-factor/recovery-codes/v1")

    def seal(self, plain: str) -> str:
        """The encrypted, authenticated form of plain, as text for a database column."""
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The plain text of a value made by seal(); SecretUnreadable when it cannot be."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretUnreadable from exc

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 of value under the hashing key, as 64 hex digits."""
        return hmac.new(self._hash_key, value.encode(), hashlib.sha256).hexdigest()
