"""Devices called directly: what a User-Agent is called, networks, which rows are listed and
which the housekeeping duty deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.models import Device, Role, User
from portal.services import devices

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
LIFETIMES = devices.Lifetimes(idle=timedelta(hours=1), absolute=timedelta(hours=12),
                              remembered=timedelta(days=30))


@pytest.mark.parametrize("user_agent, expected", [
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", "Chrome on iPhone"),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.6 Mobile/15E148 Safari/604.1", "Safari on iPad"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
     "Firefox on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/18.1 Safari/605.1.15", "Safari on Mac"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome on Linux"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera on Windows"),
    ("curl/8.5.0", "Unknown browser"),
    ("", "Unknown browser"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "A browser on Windows"),
])
def test_describe(user_agent, expected):
    assert devices.describe(user_agent) == expected


@pytest.mark.parametrize("ip, expected", [
    ("203.0.113.77", "203.0.113.0/24"),
    ("2001:db8:1:2::5", "2001:db8:1::/48"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"),
    ("not an address", None),
    (None, None),
])
def test_network_of(ip, expected):
    assert devices.network_of(ip) == expected


def _user(session) -> User:
    user = User(email="alex@example.com", name="Alex Morgan", role=Role.CLIENT,
                password_hash="x")
    session.add(user)
    session.flush()
    return user


def _device(session, user, *, remember=False, created, seen=None, ended=None) -> Device:
    device = devices.start(session, user, key=devices.new_key(), user_agent="", ip=None,
                           remember=remember, now=created)
    device.last_seen_at = seen or created
    device.ended_at = ended
    session.flush()
    return device


def test_only_usable_devices_are_listed(session):
    user = _user(session)
    live = _device(session, user, created=NOW - timedelta(hours=2), seen=NOW - timedelta(minutes=5))
    idle = _device(session, user, created=NOW - timedelta(hours=3), seen=NOW - timedelta(hours=2))
    too_old = _device(session, user, created=NOW - timedelta(hours=13), seen=NOW)
    remembered = _device(session, user, remember=True, created=NOW - timedelta(days=40),
                         seen=NOW - timedelta(days=29))
    forgotten = _device(session, user, remember=True, created=NOW - timedelta(days=40),
                        seen=NOW - timedelta(days=31))
    ended = _device(session, user, created=NOW, ended=NOW)
    listed = devices.signed_in(session, user, now=NOW, lifetimes=LIFETIMES)
    assert listed == [live, remembered]
    assert {idle, too_old, forgotten, ended}.isdisjoint(listed)


def test_purge_keeps_ended_devices_thirty_days(session):
    user = _user(session)
    recent = _device(session, user, created=NOW - timedelta(days=40),
                     ended=NOW - timedelta(days=29))
    _device(session, user, created=NOW - timedelta(days=40), ended=NOW - timedelta(days=31))
    _device(session, user, remember=True, created=NOW - timedelta(days=90),
            seen=NOW - timedelta(days=61))
    unused = _device(session, user, remember=True, created=NOW - timedelta(days=90),
                     seen=NOW - timedelta(days=59))
    assert devices.purge(session, now=NOW, lifetimes=LIFETIMES) == 2
    left = set(session.scalars(sa.select(Device)))
    assert left == {recent, unused}
