"""Passkeys through the pages, with a software passkey (tests/webauthn_support.py): adding one
from the account page, signing in with one as the second step or alone from the login page,
removing one, and where the relying party comes from."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Passkey
from tests.conftest import TEST_PASSWORD, csrf_from, form_post, login, static_url
from tests.webauthn_support import SoftPasskey, options_in

NEW = "/account/two-factor/passkeys/new"


def text(response) -> str:
    return response.get_data(as_text=True)


def path_of(response) -> str:
    return urlsplit(response.location or "").path


def add_passkey(client, key: SoftPasskey, name: str = "Alex's phone"):
    """Open the add page, let the passkey answer its options, send the form."""
    html = text(client.get(NEW))
    answer = key.create(options_in(html))
    return client.post(NEW, data={"csrf_token": csrf_from(html), "name": name,
                                  "credential": answer})


def stored(app, user) -> list[Passkey]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Passkey).where(Passkey.user_id == user.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def actions(app, user) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.subject_user_id == user.id).order_by(AuditEvent.id)))


@pytest.fixture
def alex(make_client):
    return make_client(name="Alex Morgan", two_factor=True)


@pytest.fixture
def as_alex(client, alex):
    assert login(client, alex.email).status_code == 302
    return client


# --- adding ---------------------------------------------------------------------------------


def test_adding_a_passkey_from_the_account_page(app, as_alex, alex):
    html = text(as_alex.get(NEW))
    options = json.loads(options_in(html))
    assert options["rp"]["id"] == "localhost"
    assert options["user"]["name"] == alex.email
    assert f'src="{static_url(app, "js/passkeys.js")}"' in html

    key = SoftPasskey()
    response = add_passkey(as_alex, key)

    assert path_of(response) == "/account/two-factor"
    page = text(as_alex.get("/account/two-factor"))
    assert "Your passkey is added." in page
    assert "Alex&#39;s phone" in page and "not used yet" in page
    [row] = stored(app, alex)
    assert row.name == "Alex's phone" and row.sign_count == 0
    assert row.transports == ["hybrid", "internal"]
    assert "account.passkey_added" in actions(app, alex)
    # The same passkey is not offered twice (the next options exclude it).
    again = json.loads(options_in(text(as_alex.get(NEW))))
    assert [c["id"] for c in again["excludeCredentials"]] == [row.credential_id]


def test_a_passkey_answer_is_checked_and_its_challenge_used_once(app, as_alex, alex):
    html = text(as_alex.get(NEW))
    key = SoftPasskey()
    answer = key.create(options_in(html))
    token = csrf_from(html)

    junk = as_alex.post(NEW, data={"csrf_token": token, "name": "Phone",
                                   "credential": '{"id": "x"}'})
    assert junk.status_code == 200 and "could not be checked" in text(junk)
    # The first try spent the challenge (the page came back with a new one): the genuine
    # answer to the old one is refused now.
    late = as_alex.post(NEW, data={"csrf_token": token, "name": "Phone", "credential": answer})
    assert "could not be checked" in text(late)
    # And with no challenge at all (none issued to this browser since): too late.
    as_alex.get("/account/two-factor")
    with as_alex.session_transaction() as cookie:
        cookie.pop("passkey_challenges", None)
    gone = as_alex.post(NEW, data={"csrf_token": token, "name": "Phone", "credential": answer})
    assert "That took too long" in text(gone)

    elsewhere = SoftPasskey(origin="https://evil.example")
    html = text(as_alex.get(NEW))
    phished = as_alex.post(NEW, data={"csrf_token": csrf_from(html), "name": "Phone",
                                      "credential": elsewhere.create(options_in(html))})
    assert "could not be checked" in text(phished)

    nameless = add_passkey(as_alex, SoftPasskey(), name="  ")
    assert "Give the passkey a name" in text(nameless)
    assert stored(app, alex) == []


def test_a_therapists_first_passkey_is_their_second_factor(app, client, make_therapist):
    jo = make_therapist(two_factor=False)
    assert login(client, jo.email).status_code == 302
    assert path_of(client.get("/dashboard/")) == "/account/two-factor"

    response = add_passkey(client, SoftPasskey(), name="Jo's laptop")

    assert response.status_code == 200
    assert len(re.findall(r"<li><code>[a-z0-9]{5}-[a-z0-9]{5}</code></li>",
                          text(response))) == 10
    assert client.get("/dashboard/").status_code == 200
    assert actions(app, jo)[-2:] == ["account.passkey_added", "account.two_factor_enabled"]


# --- signing in -------------------------------------------------------------------------------


def test_a_passkey_as_the_second_step(app, as_alex, alex):
    key = SoftPasskey()
    add_passkey(as_alex, key)
    browser = app.test_client()
    form_post(browser, "/auth/login", {"email": alex.email, "password": TEST_PASSWORD})

    html = text(browser.get("/auth/two-factor"))
    options = options_in(html, "/auth/two-factor/passkey")
    assert [c["id"] for c in json.loads(options)["allowCredentials"]] == [
        stored(app, alex)[0].credential_id]
    done = browser.post("/auth/two-factor/passkey", data={
        "csrf_token": csrf_from(html), "credential": key.get(options, verified=False)})

    assert path_of(done) == "/"
    assert browser.get("/account/").status_code == 200
    [row] = stored(app, alex)
    assert row.sign_count == 1 and row.last_used_at is not None


def test_someone_elses_passkey_is_no_second_step(app, client, alex, make_client):
    sam = make_client(name="Sam Patel", two_factor=True)
    sams_key = SoftPasskey()
    assert login(client, sam.email).status_code == 302
    add_passkey(client, sams_key)
    alexs_key = SoftPasskey()
    as_alex = app.test_client()
    assert login(as_alex, alex.email).status_code == 302
    add_passkey(as_alex, alexs_key)

    browser = app.test_client()
    form_post(browser, "/auth/login", {"email": alex.email, "password": TEST_PASSWORD})
    html = text(browser.get("/auth/two-factor"))
    options = json.loads(options_in(html, "/auth/two-factor/passkey"))
    options["allowCredentials"] = []  # a tampered page, offering any passkey
    refused = browser.post("/auth/two-factor/passkey", data={
        "csrf_token": csrf_from(html), "credential": sams_key.get(json.dumps(options))})

    assert path_of(refused) == "/auth/two-factor"
    assert "isn&#39;t registered here" in text(browser.get("/auth/two-factor"))
    assert path_of(browser.get("/account/")) == "/auth/login"


def test_signing_in_with_a_passkey_alone_from_the_login_page(app, as_alex, alex):
    key = SoftPasskey()
    add_passkey(as_alex, key)

    browser = app.test_client()
    html = text(browser.get("/auth/login?next=/appointments/"))
    options = options_in(html, "/auth/passkey")
    assert json.loads(options)["userVerification"] == "required"
    assert "Sign in with a passkey" in html
    done = browser.post("/auth/passkey", data={
        "csrf_token": csrf_from(html), "credential": key.get(options), "remember": "y",
        "next": "/appointments/"})

    assert path_of(done) == "/appointments/"
    assert browser.get("/account/").status_code == 200
    assert browser.get_cookie("portal_remember") is not None


def test_a_passkey_alone_must_have_verified_the_person(app, as_alex, alex):
    key = SoftPasskey()
    add_passkey(as_alex, key)

    browser = app.test_client()
    html = text(browser.get("/auth/login"))
    refused = browser.post("/auth/passkey", data={
        "csrf_token": csrf_from(html),
        "credential": key.get(options_in(html, "/auth/passkey"), verified=False)})

    assert path_of(refused) == "/auth/login"
    assert "could not be checked" in text(browser.get("/auth/login"))
    assert path_of(browser.get("/account/")) == "/auth/login"


def test_a_replayed_passkey_answer_is_refused(app, as_alex, alex):
    key = SoftPasskey()
    add_passkey(as_alex, key)
    browser = app.test_client()
    html = text(browser.get("/auth/login"))
    answer = key.get(options_in(html, "/auth/passkey"))
    data = {"csrf_token": csrf_from(html), "credential": answer}
    assert path_of(browser.post("/auth/passkey", data=data)) == "/"

    thief = app.test_client()
    thief_html = text(thief.get("/auth/login"))
    replay = thief.post("/auth/passkey", data={**data, "csrf_token": csrf_from(thief_html)})
    assert path_of(replay) == "/auth/login"
    assert path_of(thief.get("/account/")) == "/auth/login"


# --- removing -------------------------------------------------------------------------------


def test_removing_a_passkey_needs_the_password(app, as_alex, alex):
    add_passkey(as_alex, SoftPasskey(), name="Old phone")
    [row] = stored(app, alex)
    url = f"/account/two-factor/passkeys/{row.id}/remove"

    wrong = form_post(as_alex, url, {"password": "not it"})
    assert "That is not your current password." in text(wrong)
    assert len(stored(app, alex)) == 1

    done = form_post(as_alex, url, {"password": TEST_PASSWORD})

    assert path_of(done) == "/account/two-factor"
    assert stored(app, alex) == []
    assert "account.passkey_removed" in actions(app, alex)
    assert as_alex.get(url).status_code == 404


def test_removing_the_last_second_factor_needs_a_recovery_code(app, client, make_client):
    sam = make_client(two_factor=False)
    assert login(client, sam.email).status_code == 302
    first = add_passkey(client, SoftPasskey(), name="Only key")
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", text(first))
    [row] = stored(app, sam)
    url = f"/account/two-factor/passkeys/{row.id}/remove"
    assert "turns two-factor sign-in off" in text(client.get(url))

    without = form_post(client, url, {"password": TEST_PASSWORD})
    assert "enter a recovery code" in text(without)
    assert len(stored(app, sam)) == 1

    done = form_post(client, url, {"password": TEST_PASSWORD, "code": codes[0]})
    assert path_of(done) == "/account/two-factor"
    assert stored(app, sam) == []
    assert actions(app, sam)[-1] == "account.two_factor_disabled"


def test_another_users_passkey_cannot_be_removed(app, as_alex, alex, make_client):
    add_passkey(as_alex, SoftPasskey())
    [row] = stored(app, alex)
    sam = make_client()
    other = app.test_client()
    assert login(other, sam.email).status_code == 302
    assert other.get(f"/account/two-factor/passkeys/{row.id}/remove").status_code == 404


# --- the relying party ----------------------------------------------------------------------


def test_production_offers_passkeys_only_when_configured(app, client, practice):
    app.config.update(PORTAL_ENV="production")
    assert "data-passkey" not in text(client.get("/auth/login"))

    app.config.update(WEBAUTHN_RP_ID="portal.example.com",
                      WEBAUTHN_ORIGIN="https://portal.example.com")
    options = json.loads(options_in(text(client.get("/auth/login")), "/auth/passkey"))
    assert options["rpId"] == "portal.example.com"
