"""Signed-in devices: a row per browser sign-in, listed on the account page, each ended on its
own or all together.

The browser holds a random key (in its session, and in its remember-me cookie when "keep me
signed in" was ticked); the row holds the key's SHA-256. A session is accepted only while its
row is usable, so ending the row signs that browser out on its next request, whichever
cookie it comes back with.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from portal.models import User
from portal.models.devices import Device
from portal.services.errors import NotFound

# last_seen_at is written at most this often per device (one write a minute, not a request).
TOUCH_EVERY = timedelta(minutes=1)
# Rows signed out, or no longer usable, are kept this long (the person may ask "which
# device was that?") and then deleted by the housekeeping duty.
KEEP_ENDED = timedelta(days=30)


@dataclass(frozen=True)
class Lifetimes:
    """How long a sign-in lasts, from the app's configuration."""

    idle: timedelta  # without "keep me signed in": unused this long, the session ends
    absolute: timedelta  # without "keep me signed in": the session ends this long after sign-in
    remembered: timedelta  # with it: the device lives until unused this long

    @classmethod
    def from_config(cls, config: Mapping) -> Lifetimes:
        """The lifetimes the app is configured with (SESSION_*_TIMEOUT, REMEMBER_*)."""
        return cls(idle=config["SESSION_IDLE_TIMEOUT"],
                   absolute=config["SESSION_ABSOLUTE_TIMEOUT"],
                   remembered=config["REMEMBER_COOKIE_DURATION"])


def new_key() -> str:
    """A fresh random key for a browser's session (256 bits)."""
    return secrets.token_urlsafe(32)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start(session: Session, user: User, *, key: str, user_agent: str, ip: str | None,
          remember: bool, now: datetime) -> Device:
    """Record a browser that has just signed in."""
    device = Device(user_id=user.id, key_hash=_hash(key), description=describe(user_agent),
                    network=network_of(ip), remember=remember, created_at=now,
                    last_seen_at=now)
    session.add(device)
    session.flush()
    return device


def find(session: Session, user_id: int, key: str, *, now: datetime,
         lifetimes: Lifetimes) -> tuple[User, Device] | None:
    """The user and their device for this key (one query: it runs on every request) while
    the device may still be used; None once it was signed out or has gone unused longer
    than any sign-in lasts."""
    row = session.execute(
        select(User, Device).join(Device, Device.user_id == User.id)
        .where(User.id == user_id, Device.key_hash == _hash(key))
    ).first()
    if row is None:
        return None
    user, device = row
    if device.ended_at is not None:
        return None
    if device.last_seen_at < now - max(lifetimes.remembered, lifetimes.idle):
        return None
    return user, device


def touch(device: Device, *, ip: str | None, now: datetime) -> None:
    """Note that the device is in use (and from which network), at most once a minute."""
    if now - device.last_seen_at >= TOUCH_EVERY:
        device.last_seen_at = now
        device.network = network_of(ip)


def end(session: Session, device: Device, now: datetime) -> None:
    """Sign one device out."""
    if device.ended_at is None:
        device.ended_at = now
        session.flush()


def end_all(session: Session, user: User, now: datetime) -> None:
    """Sign every device of the user out ("sign out everywhere", a new password)."""
    session.execute(update(Device)
                    .where(Device.user_id == user.id, Device.ended_at.is_(None))
                    .values(ended_at=now))


def sign_out(session: Session, user: User, device_id: int, now: datetime) -> Device:
    """Sign out one of the user's own devices from the list; NotFound for any other."""
    device = session.get(Device, device_id)
    if device is None or device.user_id != user.id or device.ended_at is not None:
        raise NotFound("That device is already signed out.")
    end(session, device, now)
    return device


def _live(now: datetime, lifetimes: Lifetimes):
    """SQL condition: signed in and still usable."""
    return and_(Device.ended_at.is_(None), or_(
        and_(Device.remember.is_(True), Device.last_seen_at >= now - lifetimes.remembered),
        and_(Device.remember.is_(False), Device.last_seen_at >= now - lifetimes.idle,
             Device.created_at >= now - lifetimes.absolute),
    ))


def signed_in(session: Session, user: User, *, now: datetime,
              lifetimes: Lifetimes) -> list[Device]:
    """The user's devices that are signed in now, the most recently used first."""
    return list(session.scalars(
        select(Device).where(Device.user_id == user.id, _live(now, lifetimes))
        .order_by(Device.last_seen_at.desc(), Device.id.desc())
    ))


def purge(session: Session, *, now: datetime, lifetimes: Lifetimes) -> int:
    """Delete rows signed out, or unusable, for longer than KEEP_ENDED; returns how many."""
    cutoff = now - KEEP_ENDED
    result = session.execute(delete(Device).where(or_(
        Device.ended_at < cutoff,
        Device.last_seen_at < cutoff - max(lifetimes.remembered, lifetimes.idle),
    )))
    return result.rowcount or 0


# --- what the device is, and where ---------------------------------------------------------

# First match wins: Edge, Opera and Samsung Internet also say "Chrome", and Chrome also says
# "Safari".
_BROWSERS = (
    (re.compile(r"\bEdg(?:e|A|iOS)?/"), "Edge"),
    (re.compile(r"\b(?:OPR|Opera)/"), "Opera"),
    (re.compile(r"\bSamsungBrowser/"), "Samsung Internet"),
    (re.compile(r"\b(?:Firefox|FxiOS)/"), "Firefox"),
    (re.compile(r"(?:Chrome|CriOS|Chromium)/"), "Chrome"),  # HeadlessChrome too
    (re.compile(r"\bVersion/[\d.]+.*\bSafari/"), "Safari"),
)
# iPad before Mac: iPadOS asks for desktop pages as a Mac, but older iPads say iPad.
_SYSTEMS = (
    (re.compile(r"\biPhone\b"), "iPhone"),
    (re.compile(r"\biPad\b"), "iPad"),
    (re.compile(r"\bAndroid\b"), "Android"),
    (re.compile(r"\bCrOS\b"), "ChromeOS"),
    (re.compile(r"\bWindows\b"), "Windows"),
    (re.compile(r"\bMac OS X\b|\bMacintosh\b"), "Mac"),
    (re.compile(r"\bLinux\b"), "Linux"),
)


def describe(user_agent: str) -> str:
    """A readable name for a browser from its User-Agent: "Chrome on Android", "Safari on
    iPhone", "Firefox", or "Unknown browser"."""
    user_agent = (user_agent or "")[:512]
    browser = next((name for pattern, name in _BROWSERS if pattern.search(user_agent)), None)
    system = next((name for pattern, name in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"A browser on {system}"
    return "Unknown browser"


def network_of(ip: str | None) -> str | None:
    """The address rounded to its network: 203.0.113.0/24, 2001:db8:1::/48; None when the
    address is missing or not an IP address."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
