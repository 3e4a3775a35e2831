"""Accounts, passwords and link tokens, called directly (no HTTP) with explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.models import OutboxMessage, Practice, ResetRequest, Role, User
from portal.services import accounts
from portal.services.accounts import LOGIN_FAILED
from portal.services.errors import InvalidInput, NotFound, PermissionDenied
from portal.services.passwords import HashParams, Passwords, check_policy
from portal.services.tokens import INVITE, RESET, LinkExpired, Tokens
from tests.conftest import TEST_PASSWORD, TEST_SECRET, link_in

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
FAST = HashParams(time_cost=1, memory_cost=8, parallelism=1)
NEW_PASSWORD = "lantern over the quiet moor"
LINK_BASE = "https://portal.example"


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def passwords() -> Passwords:
    """A quick hasher with the same parameters as the test app."""
    return Passwords(FAST)


@pytest.fixture
def tokens() -> Tokens:
    """Link tokens signed with the test app's secret."""
    return Tokens(TEST_SECRET)


@pytest.fixture
def links(tokens):
    """(invite_link_for, reset_link_for): absolute links like the web layer builds."""

    def invite(user: User) -> str:
        return f"{LINK_BASE}/auth/invite/{tokens.make(INVITE, user)}"

    def reset(user: User) -> str:
        return f"{LINK_BASE}/auth/reset/{tokens.make(RESET, user)}"

    return invite, reset


def attach(session, user: User) -> User:
    """The factory-made user loaded into the test's session.

    The read transaction is ended at once: on SQLite every transaction takes the write lock,
    and the factories write through a session of their own.
    """
    row = session.get(User, user.id)
    session.commit()
    return row


@pytest.fixture
def therapist(session, make_therapist) -> User:
    """A therapist attached to the test's session."""
    return attach(session, make_therapist(name="Jo Fletcher"))


@pytest.fixture
def client_user(session, make_client) -> User:
    """An active client with TEST_PASSWORD, attached to the test's session."""
    return attach(session, make_client(email="alex@example.com", name="Alex Morgan"))


def queued(session, kind: str | None = None) -> list[OutboxMessage]:
    """Outbox rows visible to the test's own (uncommitted) transaction."""
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return list(session.scalars(query))


def user_count(session) -> int:
    """How many users exist."""
    return session.scalar(sa.select(sa.func.count()).select_from(User))


def set_self_registration(session, on: bool) -> None:
    """Switch the practice's self-registration setting."""
    session.scalar(sa.select(Practice)).self_registration = on
    session.flush()


def login(session, passwords, email, password, now=NOW) -> User:
    """authenticate() with the defaults the app uses."""
    return accounts.authenticate(session, passwords, email=email, password=password, now=now)


# --- authenticate -------------------------------------------------------------------------


def test_authenticate_returns_user_and_stamps_login(session, passwords, client_user):
    """The right email and password return the user and record the sign-in time."""
    user = login(session, passwords, "alex@example.com", TEST_PASSWORD)
    assert user.id == client_user.id
    assert user.last_login_at == NOW


@pytest.mark.parametrize("email, password", [
    ("alex@example.com", "not the password at all"),
    ("nobody@example.com", TEST_PASSWORD),
    ("not an email", TEST_PASSWORD),
])
def test_authenticate_failure_has_one_generic_message(session, passwords, client_user,
                                                      email, password):
    """Wrong password and unknown address fail the same way, naming no field."""
    with pytest.raises(InvalidInput) as caught:
        login(session, passwords, email, password)
    assert caught.value.field is None
    assert caught.value.message == LOGIN_FAILED


def test_authenticate_refuses_invited_client_without_password(session, passwords,
                                                              make_client):
    """An invitation never answered cannot be used to sign in, with the same message."""
    make_client(email="new@example.com", password=None)
    with pytest.raises(InvalidInput) as caught:
        login(session, passwords, "new@example.com", "")
    assert caught.value.message == LOGIN_FAILED


def test_authenticate_refuses_deactivated_account_generically(session, passwords,
                                                              client_user):
    """A deactivated account fails like a wrong password."""
    client_user.active = False
    session.flush()
    with pytest.raises(InvalidInput) as caught:
        login(session, passwords, "alex@example.com", TEST_PASSWORD)
    assert caught.value.message == LOGIN_FAILED


def test_login_rehashes_when_parameters_change(session, client_user):
    """A hash made with old argon2 parameters is upgraded on the next sign-in."""
    old, new = Passwords(FAST), Passwords(HashParams(time_cost=2, memory_cost=16,
                                                     parallelism=1))
    client_user.password_hash = old.hash(TEST_PASSWORD)
    session.flush()
    before = client_user.password_hash
    assert new.needs_rehash(before)

    login(session, new, "alex@example.com", TEST_PASSWORD)

    after = client_user.password_hash
    assert after != before
    assert "t=2" in after and "m=16" in after
    assert not new.needs_rehash(after)
    assert new.verify(after, TEST_PASSWORD)


def test_login_keeps_hash_when_parameters_are_current(session, passwords, client_user):
    """No rehash (and no new salt) when the parameters already match."""
    before = client_user.password_hash
    login(session, passwords, "alex@example.com", TEST_PASSWORD)
    assert client_user.password_hash == before


# --- password policy ----------------------------------------------------------------------


@pytest.mark.parametrize("password", ["tram7xq", "birch l"])
def test_policy_refuses_seven_characters(password):
    """Seven characters are too few."""
    assert len(password) == 7
    with pytest.raises(InvalidInput) as caught:
        check_policy(password)
    assert caught.value.field == "password"
    assert "at least 8" in caught.value.message


def test_policy_accepts_eight_and_128_characters():
    """Eight characters are enough and 128 is still allowed."""
    check_policy("tram7xqz")
    check_policy(("birch lantern orbit " * 7)[:128])


def test_policy_refuses_129_characters():
    """More than 128 characters is refused (argon2 input stays bounded)."""
    with pytest.raises(InvalidInput) as caught:
        check_policy(("birch lantern orbit " * 7)[:129])
    assert "at most 128" in caught.value.message


@pytest.mark.parametrize("password", ["password1", "qwerty123", "Password1", "iloveyou",
                                      "aaaaaaaaaa"])
def test_policy_refuses_common_passwords(password):
    """Breached and trivially guessable passwords are refused whatever their case."""
    with pytest.raises(InvalidInput) as caught:
        check_policy(password)
    assert "too common" in caught.value.message


@pytest.mark.parametrize("password", ["alex.morgan@example.com", "ALEX.MORGAN@EXAMPLE.COM",
                                      "alex.morgan"])
def test_policy_refuses_the_email_as_password(password):
    """The address, or its part before the @, cannot be the password."""
    with pytest.raises(InvalidInput) as caught:
        check_policy(password, email="alex.morgan@example.com", field="new_password")
    assert caught.value.field == "new_password"
    assert "email" in caught.value.message


def test_hash_is_salted_argon2id(passwords):
    """Two hashes of one password differ and both verify; a wrong password does not."""
    first, second = passwords.hash(TEST_PASSWORD), passwords.hash(TEST_PASSWORD)
    assert first.startswith("$argon2id$")
    assert first != second
    assert passwords.verify(first, TEST_PASSWORD) and passwords.verify(second, TEST_PASSWORD)
    assert not passwords.verify(first, TEST_PASSWORD + "!")
    assert not passwords.verify(None, TEST_PASSWORD)
    assert not passwords.verify("not-a-hash", TEST_PASSWORD)


# --- invitations --------------------------------------------------------------------------


def test_invite_creates_client_without_password_and_queues_one_email(session, therapist,
                                                                     links):
    """The invitee has no password yet and gets exactly one email with their link."""
    invite_link, _ = links
    user, created = accounts.invite_client(session, therapist, email="  Alex@Example.com ",
                                           name="  Alex   Morgan ", link_for=invite_link,
                                           now=NOW)
    assert created
    assert (user.email, user.name, user.role) == ("alex@example.com", "Alex Morgan",
                                                  Role.CLIENT)
    assert user.password_hash is None and not user.is_active
    assert (user.invited_by_id, user.invited_at) == (therapist.id, NOW)
    rows = queued(session)
    assert len(rows) == 1
    assert (rows[0].kind, rows[0].to_addr) == ("invite", "alex@example.com")
    assert f"{LINK_BASE}/auth/invite/" in rows[0].text_body
    assert "Jo Fletcher" in rows[0].text_body and "Alex" in rows[0].text_body


def test_reinviting_unanswered_invite_resends(session, therapist, links, tokens):
    """A second invitation to the same address sends a fresh link and creates no user."""
    invite_link, _ = links
    first, _ = accounts.invite_client(session, therapist, email="alex@example.com",
                                      name="Alex", link_for=invite_link, now=NOW)
    later = NOW + timedelta(days=3)
    again, created = accounts.invite_client(session, therapist, email="ALEX@example.com",
                                            name="Alex Morgan", link_for=invite_link,
                                            now=later)
    assert not created
    assert again.id == first.id
    assert again.name == "Alex Morgan" and again.invited_at == later
    assert user_count(session) == 2  # the therapist and Alex
    assert [r.kind for r in queued(session)] == ["invite", "invite"]


@pytest.mark.parametrize("email", ["alex@example.com", "ALEX@EXAMPLE.COM"])
def test_inviting_an_existing_account_is_refused(session, therapist, client_user, links,
                                                 email):
    """An address that already has an account cannot be invited, whatever its case."""
    with pytest.raises(InvalidInput) as caught:
        accounts.invite_client(session, therapist, email=email, name="Alex",
                               link_for=links[0], now=NOW)
    assert caught.value.field == "email"
    assert queued(session) == []


def test_inviting_a_therapist_address_is_refused(session, therapist, links):
    """A therapist cannot be turned into a client by inviting their address."""
    with pytest.raises(InvalidInput) as caught:
        accounts.invite_client(session, therapist, email=therapist.email, name="Jo",
                               link_for=links[0], now=NOW)
    assert caught.value.field == "email"
    assert therapist.role is Role.THERAPIST


def test_client_cannot_invite(session, client_user, links):
    """Only a therapist may invite."""
    with pytest.raises(PermissionDenied):
        accounts.invite_client(session, client_user, email="friend@example.com",
                               name="Friend", link_for=links[0], now=NOW)
    assert accounts.find_by_email(session, "friend@example.com") is None
    assert queued(session) == []


@pytest.mark.parametrize("field, email, name", [
    ("email", "not-an-address", "Alex"),
    ("email", "alex@", "Alex"),
    ("name", "alex@example.com", "   "),
    ("name", "alex@example.com", "A" * 121),
])
def test_invite_checks_email_and_name(session, therapist, links, field, email, name):
    """A malformed address or an empty or overlong name is refused on its field."""
    with pytest.raises(InvalidInput) as caught:
        accounts.invite_client(session, therapist, email=email, name=name,
                               link_for=links[0], now=NOW)
    assert caught.value.field == field
    assert user_count(session) == 1


# --- link tokens --------------------------------------------------------------------------


def invited(session, therapist, links) -> User:
    """A client invited by the therapist (no password yet)."""
    user, _ = accounts.invite_client(session, therapist, email="alex@example.com",
                                     name="Alex Morgan", link_for=links[0], now=NOW)
    return user


def test_accept_link_sets_password_once(session, therapist, links, passwords, tokens):
    """An invitation link sets the password; the same link then stops working."""
    user = invited(session, therapist, links)
    token = tokens.make(INVITE, user)
    accepted = accounts.accept_link(session, passwords, tokens, purpose=INVITE, token=token,
                                    password=NEW_PASSWORD, max_age=timedelta(days=7), now=NOW)
    assert accepted.id == user.id
    assert passwords.verify(user.password_hash, NEW_PASSWORD)
    assert user.password_changed_at == NOW
    assert login(session, passwords, "alex@example.com", NEW_PASSWORD).id == user.id

    with pytest.raises(NotFound) as caught:
        accounts.accept_link(session, passwords, tokens, purpose=INVITE, token=token,
                             password="another fine phrase", max_age=timedelta(days=7),
                             now=NOW)
    assert not isinstance(caught.value, LinkExpired)
    assert passwords.verify(user.password_hash, NEW_PASSWORD)


def test_every_earlier_link_dies_when_one_is_used(session, therapist, links, passwords,
                                                  tokens):
    """Two invitation emails: using one link spends the other too."""
    user = invited(session, therapist, links)
    first, second = tokens.make(INVITE, user), tokens.make(INVITE, user)
    accounts.accept_link(session, passwords, tokens, purpose=INVITE, token=second,
                         password=NEW_PASSWORD, max_age=timedelta(days=7), now=NOW)
    with pytest.raises(NotFound):
        tokens.resolve(session, INVITE, first, timedelta(days=7))


def test_accept_link_checks_policy_and_keeps_link_alive(session, therapist, links,
                                                        passwords, tokens):
    """A refused password leaves the account unchanged and the link usable."""
    user = invited(session, therapist, links)
    token = tokens.make(INVITE, user)
    with pytest.raises(InvalidInput) as caught:
        accounts.accept_link(session, passwords, tokens, purpose=INVITE, token=token,
                             password="short", max_age=timedelta(days=7), now=NOW)
    assert caught.value.field == "password"
    assert user.password_hash is None
    assert tokens.resolve(session, INVITE, token, timedelta(days=7)).id == user.id


def test_expired_token_raises_link_expired(session, therapist, links, tokens):
    """A genuine link past its age limit says so."""
    user = invited(session, therapist, links)
    token = tokens.make(INVITE, user)
    with pytest.raises(LinkExpired):
        tokens.resolve(session, INVITE, token, timedelta(seconds=-1))
    assert tokens.resolve(session, INVITE, token, timedelta(days=7)).id == user.id


@pytest.mark.parametrize("made_for, used_for", [(INVITE, RESET), (RESET, INVITE)])
def test_token_of_one_purpose_is_refused_for_the_other(session, client_user, tokens,
                                                       made_for, used_for):
    """An invitation token cannot reset a password, nor the other way round."""
    token = tokens.make(made_for, client_user)
    with pytest.raises(NotFound) as caught:
        tokens.resolve(session, used_for, token, timedelta(days=7))
    assert not isinstance(caught.value, LinkExpired)
    assert tokens.resolve(session, made_for, token, timedelta(days=7)).id == client_user.id


def test_tampered_or_foreign_token_is_refused(session, client_user, tokens):
    """A token changed by hand, or signed with another key, is not valid."""
    token = tokens.make(RESET, client_user)
    with pytest.raises(NotFound):
        tokens.resolve(session, RESET, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
                       timedelta(hours=2))
    foreign = Tokens("another-secret-key-entirely-0123456789").make(RESET, client_user)
    with pytest.raises(NotFound):
        tokens.resolve(session, RESET, foreign, timedelta(hours=2))


def test_reset_link_dies_when_account_is_deactivated(session, therapist, client_user,
                                                     tokens):
    """A deactivated client cannot use a reset link sent earlier."""
    token = tokens.make(RESET, client_user)
    accounts.set_active(session, therapist, client_user, active=False, now=NOW)
    with pytest.raises(NotFound):
        tokens.resolve(session, RESET, token, timedelta(hours=2))


# --- self-registration --------------------------------------------------------------------


def test_register_refused_when_self_registration_is_off(session, practice, links):
    """By default the practice registers clients only by invitation."""
    with pytest.raises(PermissionDenied):
        accounts.register_client(session, email="new@example.com", name="New Person",
                                 link_for=links[0], reset_link_for=links[1], now=NOW)
    assert user_count(session) == 0
    assert queued(session) == []


def test_register_new_address_queues_register_email(session, practice, links):
    """A new address gets a client account without a password and a set-password link."""
    set_self_registration(session, True)
    accounts.register_client(session, email="New@Example.com", name="New Person",
                             link_for=links[0], reset_link_for=links[1], now=NOW)
    user = accounts.find_by_email(session, "new@example.com")
    assert user is not None and user.role is Role.CLIENT and user.password_hash is None
    rows = queued(session)
    assert [(r.kind, r.to_addr) for r in rows] == [("register", "new@example.com")]
    assert f"{LINK_BASE}/auth/invite/" in rows[0].text_body


def test_register_known_address_sends_reminder_and_creates_nothing(session, client_user,
                                                                   links):
    """An address with an account gets an 'already registered' email, not a second user."""
    set_self_registration(session, True)
    before = user_count(session)
    accounts.register_client(session, email="ALEX@example.com", name="Someone Else",
                             link_for=links[0], reset_link_for=links[1], now=NOW)
    assert user_count(session) == before
    assert client_user.name == "Alex Morgan"
    rows = queued(session)
    assert [(r.kind, r.to_addr) for r in rows] == [("already_registered", "alex@example.com")]
    assert f"{LINK_BASE}/auth/reset/" in rows[0].text_body


# --- password reset -----------------------------------------------------------------------


def reset_asked(session, email: str) -> None:
    """Someone asks for a reset link (the request only notes it)."""
    accounts.request_password_reset(session, email=email, reset_url=f"{LINK_BASE}/auth/reset/",
                                    invite_url=f"{LINK_BASE}/auth/invite/", now=NOW)


def answered(session, tokens) -> list[OutboxMessage]:
    """What the outbox sender queues for the waiting requests, which it then forgets."""
    accounts.answer_reset_requests(session, tokens, now=NOW)
    assert session.scalars(sa.select(ResetRequest)).all() == []
    return queued(session)


def test_a_reset_request_builds_no_email_whoever_asks(session, client_user, tokens):
    """Known or not, the request stores the same row and queues nothing yet."""
    reset_asked(session, "Alex@Example.COM")
    reset_asked(session, "nobody@example.com")
    assert queued(session) == []
    rows = session.scalars(sa.select(ResetRequest).order_by(ResetRequest.id)).all()
    assert [r.email for r in rows] == ["alex@example.com", "nobody@example.com"]


def test_reset_for_unknown_address_queues_nothing(session, client_user, tokens):
    """An address without an account is sent nothing."""
    reset_asked(session, "nobody@example.com")
    assert answered(session, tokens) == []


@pytest.mark.parametrize("email", ["not an address", "alex@", ""])
def test_reset_for_malformed_address_is_invalid_input(session, client_user, email):
    """A malformed address is marked on the email field (it reveals nothing) and stores
    nothing."""
    with pytest.raises(InvalidInput) as caught:
        reset_asked(session, email)
    assert caught.value.field == "email"
    assert session.scalars(sa.select(ResetRequest)).all() == []


def test_reset_for_known_address_queues_reset_email(session, client_user, tokens):
    """A known address, in any case, gets one reset email with the link."""
    reset_asked(session, "Alex@Example.COM")
    rows = answered(session, tokens)
    assert [(r.kind, r.to_addr) for r in rows] == [("reset", "alex@example.com")]
    token = link_in(rows[0].text_body, "/auth/reset/").rsplit("/", 1)[1]
    assert f"{LINK_BASE}/auth/reset/{token}" in rows[0].text_body
    assert tokens.resolve(session, RESET, token, timedelta(hours=2)).id == client_user.id


def test_reset_for_deactivated_account_queues_nothing(session, therapist, client_user,
                                                      tokens):
    """A deactivated client is not sent a reset link."""
    accounts.set_active(session, therapist, client_user, active=False, now=NOW)
    reset_asked(session, "alex@example.com")
    assert answered(session, tokens) == []


def test_reset_for_unanswered_invite_sends_invitation_link(session, therapist, links, tokens):
    """Someone who never set a password gets a fresh set-password link instead."""
    invited(session, therapist, links)
    reset_asked(session, "alex@example.com")
    latest = answered(session, tokens)[-1]
    assert latest.kind == "register"
    assert f"{LINK_BASE}/auth/invite/" in latest.text_body


def test_reset_link_sets_a_new_password(session, client_user, passwords, tokens):
    """A reset link replaces the password; the old one stops working."""
    token = tokens.make(RESET, client_user)
    accounts.accept_link(session, passwords, tokens, purpose=RESET, token=token,
                         password=NEW_PASSWORD, max_age=timedelta(hours=2), now=NOW)
    with pytest.raises(InvalidInput):
        login(session, passwords, "alex@example.com", TEST_PASSWORD)
    assert login(session, passwords, "alex@example.com", NEW_PASSWORD).id == client_user.id


# --- emails are case-insensitive ----------------------------------------------------------


def test_find_by_email_ignores_case(session, client_user):
    """Alex@Example.COM finds alex@example.com."""
    assert accounts.find_by_email(session, "Alex@Example.COM").id == client_user.id
    assert accounts.find_by_email(session, "  ALEX@EXAMPLE.COM ").id == client_user.id


def test_authenticate_ignores_email_case(session, passwords, client_user):
    """Signing in with another capitalisation works."""
    assert login(session, passwords, "Alex@Example.COM", TEST_PASSWORD).id == client_user.id


def test_duplicate_with_other_case_is_refused(session, passwords, client_user):
    """Creating an account for the same address in other case is refused."""
    with pytest.raises(InvalidInput) as caught:
        accounts.create_therapist(session, passwords, email="ALEX@Example.com", name="Alex",
                                  password=NEW_PASSWORD, now=NOW)
    assert caught.value.field == "email"
    assert user_count(session) == 1


def test_database_refuses_mixed_case_email(session, practice):
    """The lower-case rule holds even for a write that skips the service."""
    session.add(User(email="Mixed@Example.com", name="Mixed", role=Role.CLIENT))
    with pytest.raises(IntegrityError):
        session.flush()


# --- changing passwords and access --------------------------------------------------------


def test_change_password_with_wrong_current_is_refused(session, passwords, client_user):
    """The current password must be right; nothing changes otherwise."""
    before = (client_user.password_hash, client_user.session_version)
    with pytest.raises(InvalidInput) as caught:
        accounts.change_password(session, passwords, client_user, current="not my password",
                                 new=NEW_PASSWORD, now=NOW)
    assert caught.value.field == "current_password"
    assert (client_user.password_hash, client_user.session_version) == before


@pytest.mark.parametrize("new", [TEST_PASSWORD, "short", "password1", "alex@example.com"])
def test_change_password_checks_the_new_one(session, passwords, client_user, new):
    """The new password must differ from the old one and pass the policy."""
    with pytest.raises(InvalidInput) as caught:
        accounts.change_password(session, passwords, client_user, current=TEST_PASSWORD,
                                 new=new, now=NOW)
    assert caught.value.field == "new_password"
    assert passwords.verify(client_user.password_hash, TEST_PASSWORD)


def test_change_password_replaces_hash_and_ends_sessions(session, passwords, client_user):
    """A changed password verifies, the old one does not, other sessions are ended."""
    version = client_user.session_version
    accounts.change_password(session, passwords, client_user, current=TEST_PASSWORD,
                             new=NEW_PASSWORD, now=NOW)
    assert passwords.verify(client_user.password_hash, NEW_PASSWORD)
    assert not passwords.verify(client_user.password_hash, TEST_PASSWORD)
    assert client_user.session_version == version + 1
    assert client_user.password_changed_at == NOW


def test_deactivation_bumps_session_version(session, therapist, client_user, passwords):
    """Deactivating ends every session; reactivating lets the client sign in again."""
    version = client_user.session_version
    accounts.set_active(session, therapist, client_user, active=False, now=NOW)
    assert not client_user.active
    assert client_user.session_version == version + 1
    with pytest.raises(InvalidInput):
        login(session, passwords, "alex@example.com", TEST_PASSWORD)

    accounts.set_active(session, therapist, client_user, active=True, now=NOW)
    assert client_user.active
    assert login(session, passwords, "alex@example.com", TEST_PASSWORD).id == client_user.id


def test_only_a_therapist_changes_access(session, client_user, make_client):
    """A client cannot deactivate another client."""
    other = attach(session, make_client())
    with pytest.raises(PermissionDenied):
        accounts.set_active(session, client_user, other, active=False, now=NOW)
    assert other.active


def test_end_sessions_bumps_version(session, client_user):
    """Signing out everywhere changes the id every cookie carries."""
    old_id = client_user.get_id()
    accounts.end_sessions(session, client_user, NOW)
    assert client_user.get_id() != old_id
