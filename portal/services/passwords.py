"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.services.errors import InvalidInput

MIN_LENGTH = 8
MAX_LENGTH = 128


@dataclass(frozen=True)
class HashParams:
    """Argon2id cost parameters (RFC 9106's second recommended option by default)."""

    time_cost: int = 3
    memory_cost: int = 64 * 1024
    parallelism: int = 4


class Passwords:
    """Hashes and verifies passwords with argon2id and says when a hash needs upgrading."""

    def __init__(self, params: HashParams | None = None):
        params = params or HashParams()
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
        )
        # Verified against when the account does not exist, so a miss costs the same time.
        self._dummy_hash = self._hasher.hash("not-a-real-password-just-timing")

    def hash(self, password: str) -> str:
        """A new salted argon2id hash of the password."""
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when the password matches; runs a full verification even without a hash."""
        try:
            return self._hasher.verify(stored_hash or self._dummy_hash, password) and (
                stored_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords from real breaches. Its lists take about
    # 13 MB, loaded when a password is first set, not in every worker that never sets one.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, *, email: str = "", field: str = "password") -> None:
    """Raise InvalidInput unless the password is long enough, not too long and not common.

    Follows NIST SP 800-63B: length and a blocklist, no composition rules.
    """
    if len(password) < MIN_LENGTH:
        raise InvalidInput(field, f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(field, f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(password)) < 3:
        raise InvalidInput(
            field, "That password is too common and easy to guess. Try a short phrase instead."
        )
    if email and lowered in {email.lower(), email.lower().split("@")[0]}:
        raise InvalidInput(field, "Don't use your email address as your password.")
