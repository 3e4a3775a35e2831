"""Throttled sign-in called directly: guesses from browsers new to an account pause only those
browsers, a browser that signed in before keeps its own allowance, unknown addresses answer
the same way, and the account holder hears about an attack once per period."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.models import AuditEvent, LoginThrottle
from portal.services import accounts, throttle
from portal.services.accounts import LOGIN_FAILED
from portal.services.errors import InvalidInput
from portal.services.passwords import Passwords
from tests.conftest import TEST_PASSWORD
from tests.services.test_accounts import FAST, NOW, attach, queued

LIMITS = throttle.Limits(untrusted=3, device=2, window=timedelta(hours=1),
                         alert_every=timedelta(hours=6))
STRANGER = throttle.Guard(limits=LIMITS, forgot_url="https://portal.example/auth/forgot")
WRONG = "not the password at all"


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(FAST)


@pytest.fixture
def alex(session, practice, make_client):
    return attach(session, make_client(email="alex@example.com", name="Alex Morgan"))


def known(user, nonce="phone-nonce") -> throttle.Guard:
    """The guard of a browser whose device cookie vouches for user."""
    return throttle.Guard(limits=LIMITS, known={user.id: nonce})


def attempt(session, passwords, password, guard=STRANGER, email="alex@example.com", now=NOW):
    """authenticate(); the error message on failure, else None."""
    try:
        accounts.authenticate(session, passwords, email=email, password=password, now=now,
                              guard=guard)
    except InvalidInput as error:
        return error.message
    return None


def fail(session, passwords, times, **kwargs) -> list[str | None]:
    return [attempt(session, passwords, WRONG, **kwargs) for _ in range(times)]


def test_guesses_from_new_browsers_pause_only_new_browsers(session, passwords, alex):
    assert fail(session, passwords, 3) == [LOGIN_FAILED] * 3
    refused = attempt(session, passwords, TEST_PASSWORD)
    assert refused.startswith("Too many wrong passwords have been tried for this account")
    assert "paused for 60 minutes" in refused
    assert "device you have used before" in refused
    # The account holder's own phone is not affected.
    assert attempt(session, passwords, TEST_PASSWORD, guard=known(alex)) is None
    # The pause ends after the window.
    later = NOW + timedelta(hours=1, seconds=1)
    assert attempt(session, passwords, TEST_PASSWORD, now=later) is None


def test_a_known_browser_has_its_own_allowance(session, passwords, alex):
    phone = known(alex)
    assert fail(session, passwords, 2, guard=phone) == [LOGIN_FAILED] * 2
    refused = attempt(session, passwords, TEST_PASSWORD, guard=phone)
    assert refused.startswith("Too many wrong passwords have been tried on this device")
    assert attempt(session, passwords, TEST_PASSWORD, guard=known(alex, "laptop")) is None
    assert attempt(session, passwords, TEST_PASSWORD) is None  # new browsers aren't paused
    assert queued(session, "sign_in_attempts") == []  # the holder's own slips: no alarm


def test_a_cookie_for_another_account_earns_nothing(session, passwords, alex, make_client):
    sam = attach(session, make_client(email="sam@example.com"))
    fail(session, passwords, 3)
    assert attempt(session, passwords, TEST_PASSWORD, guard=known(sam)).startswith("Too many")


def test_unknown_addresses_answer_alike(session, passwords, alex):
    email = "nobody@example.com"
    assert fail(session, passwords, 3, email=email) == [LOGIN_FAILED] * 3
    refused = attempt(session, passwords, TEST_PASSWORD, email=email)
    assert refused == throttle.paused_message(
        session.scalars(sa.select(LoginThrottle)).one(),
        throttle.bucket_for(email, None, STRANGER), NOW)
    assert queued(session) == []
    # No address is stored, known or not.
    assert all(len(row.key) == 64 and "@" not in row.key
               for row in session.scalars(sa.select(LoginThrottle)))


def test_a_known_browser_is_forgiven_but_strangers_are_not(session, passwords, alex):
    phone = known(alex)
    fail(session, passwords, 1, guard=phone)
    assert attempt(session, passwords, TEST_PASSWORD, guard=phone) is None
    assert fail(session, passwords, 1, guard=phone) == [LOGIN_FAILED]  # counted from 0 again
    fail(session, passwords, 2)
    assert attempt(session, passwords, TEST_PASSWORD) is None  # the holder, from a new browser
    fail(session, passwords, 1)  # still counts the attacker's two before
    assert attempt(session, passwords, TEST_PASSWORD).startswith("Too many")


def test_the_holder_is_told_once_per_period(session, passwords, alex):
    fail(session, passwords, 3)
    [mail] = queued(session, "sign_in_attempts")
    assert mail.to_addr == "alex@example.com"
    assert "3 times within an hour" in mail.text_body
    assert "https://portal.example/auth/forgot" in mail.text_body
    assert "/auth/reset/" not in mail.text_body  # no link that changes anything
    [event] = session.scalars(sa.select(AuditEvent)
                              .where(AuditEvent.action == "account.login_paused"))
    assert event.subject_user_id == alex.id

    again = NOW + timedelta(hours=2)
    fail(session, passwords, 3, now=again)
    assert len(queued(session, "sign_in_attempts")) == 1
    fail(session, passwords, 3, now=NOW + timedelta(hours=7))
    assert len(queued(session, "sign_in_attempts")) == 2


def test_guessing_while_paused_neither_counts_nor_extends(session, passwords, alex):
    fail(session, passwords, 3)
    row = session.scalars(sa.select(LoginThrottle)).one()
    until = row.locked_until
    fail(session, passwords, 5, now=NOW + timedelta(minutes=30))
    assert (row.locked_until, row.failures) == (until, 0)
    assert attempt(session, passwords, WRONG, now=NOW + timedelta(minutes=59, seconds=30)) \
        .endswith("paused for a minute. You can still sign in on a device you have used "
                  "before, or reset your password.")


def test_purge_forgets_old_counters(session, passwords, alex):
    fail(session, passwords, 3)  # paused, with an alert sent
    fail(session, passwords, 1, guard=known(alex))
    assert throttle.purge(session, now=NOW + timedelta(hours=5), limits=LIMITS) == 0
    assert throttle.purge(session, now=NOW + timedelta(hours=6, seconds=1), limits=LIMITS) == 2
