"""Throttling password guesses without locking the account holder out (OWASP's "device
cookies").

A browser that has signed in to an account before holds a signed device cookie naming the
account and a random nonce (the web layer keeps it; here it arrives as Guard.known). Its
failures count in its own bucket. Every other browser shares one bucket per address. Each
bucket allows `limit` failures per window; then attempts in that bucket are refused for a
window, with a message that says so. So someone guessing from elsewhere exhausts only the
shared bucket: the account holder still signs in from a device they have used before (or
from any browser after a reset link, which vouches for it too), and is told by email that
the account is under attack.

Counters live in the database (several app servers may run). The bucket's row is locked
(SELECT ... FOR UPDATE) from the check to the end of the request, so parallel guesses are
counted one after another and can never exceed the allowance.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.models import LoginThrottle


@dataclass(frozen=True)
class Limits:
    """Allowances, from the configuration."""

    untrusted: int = 10  # failures per window shared by browsers new to the account
    device: int = 10  # failures per window for each browser that has signed in before
    window: timedelta = timedelta(hours=1)  # failures counted over, and pause length
    alert_every: timedelta = timedelta(hours=6)  # at most one "under attack" email per

    @classmethod
    def from_config(cls, config: Mapping) -> Limits:
        """The allowances the app is configured with (LOGIN_*)."""
        return cls(untrusted=config["LOGIN_UNTRUSTED_FAILURES"],
                   device=config["LOGIN_DEVICE_FAILURES"], window=config["LOGIN_LOCKOUT"],
                   alert_every=config["LOGIN_ALERT_EVERY"])


@dataclass(frozen=True)
class Guard:
    """What the sign-in page knows about an attempt besides the address and password."""

    limits: Limits = Limits()
    # user id -> the nonce of this browser's device cookie for that account (checked already).
    known: Mapping[int, str] = field(default_factory=dict)
    # Where the "under attack" email sends someone who wants to reset their password.
    forgot_url: str = ""


@dataclass(frozen=True)
class Bucket:
    """The counter an attempt falls in."""

    key: str
    trusted: bool  # a browser that has signed in to this account before
    limit: int


def new_nonce() -> str:
    """A fresh random nonce for a device cookie."""
    return secrets.token_urlsafe(16)


def bucket_for(email: str, user_id: int | None, guard: Guard) -> Bucket:
    """This browser's own bucket when it holds a device cookie for the account, otherwise
    the address's shared one (for an unknown address too, so the answers look alike)."""
    nonce = guard.known.get(user_id) if user_id is not None else None
    if nonce:
        return Bucket(_key(f"device:{user_id}:{nonce}"), True, guard.limits.device)
    return Bucket(_key(f"account:{email.strip().lower()}"), False, guard.limits.untrusted)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hold(session: Session, bucket: Bucket, now: datetime) -> LoginThrottle:
    """The bucket's row, created when missing and locked until the transaction ends."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else \
        sqlite.insert
    session.execute(insert(LoginThrottle)
                    .values(key=bucket.key, failures=0, window_started_at=now, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["key"]))
    return session.scalars(
        select(LoginThrottle).where(LoginThrottle.key == bucket.key)
        .with_for_update().execution_options(populate_existing=True)
    ).one()


def paused(row: LoginThrottle, now: datetime) -> bool:
    """Whether attempts in this bucket are refused now."""
    return row.locked_until is not None and row.locked_until > now


def paused_message(row: LoginThrottle, bucket: Bucket, now: datetime) -> str:
    """What the sign-in page says while a bucket is paused."""
    minutes = max(1, math.ceil((row.locked_until - now) / timedelta(minutes=1)))
    wait = "a minute" if minutes == 1 else f"{minutes} minutes"
    if bucket.trusted:
        return (f"Too many wrong passwords have been tried on this device. Try again in "
                f"{wait}, or reset your password.")
    return (f"Too many wrong passwords have been tried for this account, so signing in from "
            f"a new device is paused for {wait}. You can still sign in on a device you have "
            f"used before, or reset your password.")


def failed(row: LoginThrottle, bucket: Bucket, window: timedelta, now: datetime) -> bool:
    """Count a failure; True when it uses up the allowance and pauses the bucket."""
    if now - row.window_started_at >= window:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    row.updated_at = now
    if row.failures < bucket.limit:
        return False
    row.failures, row.window_started_at = 0, now
    row.locked_until = now + window
    return True


def forgive(row: LoginThrottle) -> None:
    """A right password on a known device: its own slips are forgotten. (Never for the
    shared bucket, or the account holder signing in would reset an attacker's count.)"""
    row.failures = 0


def should_alert(row: LoginThrottle, every: timedelta, now: datetime) -> bool:
    """Whether to email the account holder now (at most once per `every`); notes it."""
    if row.alerted_at is not None and now - row.alerted_at < every:
        return False
    row.alerted_at = now
    return True


def purge(session: Session, *, now: datetime, limits: Limits) -> int:
    """Delete counters that no longer pause, count or hold back an email; returns how many."""
    cutoff = now - max(limits.window, limits.alert_every)
    result = session.execute(delete(LoginThrottle).where(LoginThrottle.updated_at < cutoff,
                                                         LoginThrottle.window_started_at < cutoff))
    return result.rowcount or 0
