"""One unit of work per request (portal/web/transactions.py): a response that succeeded commits,
every domain error and every failure writes nothing, and a commit that fails becomes an error
page instead of a success page for something not saved.

Routes that show a case no real page shows cleanly are registered on the test's own app
before its first request; each writes a row and flushes it, so a missing rollback would show.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, flash, redirect, render_template_string
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InternalError
from sqlalchemy.orm import Session
from werkzeug.exceptions import MethodNotAllowed, TooManyRequests
from wtforms import StringField

from portal.extensions import csrf, db
from portal.models import LoginThrottle, Role, User
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.web import transactions
from portal.web.access import public
from portal.web.forms import apply_error
from tests.conftest import ROOT, TEST_PASSWORD, form_post, login

# A new app per test, on a database that really commits: these tests register routes before
# the app's first request, and what they prove is a real COMMIT or ROLLBACK, not a savepoint.
pytestmark = pytest.mark.fresh_db

WRITTEN = "written@example.com"


def _write(email: str = WRITTEN) -> None:
    """Insert a client row and flush it: from here only a rollback keeps it out."""
    db.session.add(User(email=email, name="Written Row", role=Role.CLIENT))
    db.session.flush()


def _stored(app: Flask, email: str = WRITTEN) -> bool:
    with app.app_context():
        found = db.session.scalar(sa.select(User.id).where(User.email == email))
        db.session.rollback()
        return found is not None


def _route(app: Flask, rule: str, view) -> None:
    """A public POST route for this test only, without CSRF (it tests nothing about forms)."""
    app.add_url_rule(rule, view_func=csrf.exempt(public(view)), methods=["POST"])


# --- success ------------------------------------------------------------------------------


def test_a_successful_post_is_committed_with_its_redirect(app, client, make_client):
    user = make_client()
    login(client, user.email)
    response = form_post(client, "/account/", {}, action="/calendar/feed")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(User, user.id).calendar_token


def test_a_successful_page_commits_its_writes(app, client, practice):
    undone = []

    def write_and_answer():
        _write()
        transactions.on_failure(lambda: undone.append(True))
        return "saved"

    _route(app, "/_uow/ok", write_and_answer)
    assert client.post("/_uow/ok").status_code == 200
    assert _stored(app)
    assert undone == []


# --- domain errors and failures -----------------------------------------------------------


@pytest.mark.parametrize("error, status", [
    (NotFound("gone"), 404),
    (PermissionDenied("not yours"), 403),
    (Conflict("clash"), 409),
])
def test_a_domain_error_after_a_flush_writes_nothing(app, client, practice, error, status):
    def write_then_refuse():
        _write()
        raise error

    _route(app, "/_uow/refuse", write_then_refuse)
    response = client.post("/_uow/refuse")
    assert response.status_code == status
    assert not _stored(app)


def test_invalid_input_shown_on_the_form_writes_nothing(app, client, practice):
    class NameForm(FlaskForm):
        class Meta:
            csrf = False

        name = StringField()

    def write_then_show_the_error():
        form = NameForm()
        _write()
        # The view only shows the message; apply_error itself makes sure nothing is kept.
        apply_error(form, InvalidInput("name", "That name is taken."))
        return render_template_string("{{ form.name.errors[0] }}", form=form)

    _route(app, "/_uow/invalid", write_then_show_the_error)
    response = client.post("/_uow/invalid")
    assert response.status_code == 200
    assert "That name is taken." in response.get_data(as_text=True)
    assert not _stored(app)


def test_a_caught_domain_error_that_redirects_writes_nothing(app, client, practice):
    def write_then_redirect():
        _write()
        try:
            raise Conflict("clash")
        except Conflict:
            transactions.mark_failed()
            return redirect("/auth/login")

    _route(app, "/_uow/redirect", write_then_redirect)
    assert client.post("/_uow/redirect").status_code == 302
    assert not _stored(app)


def test_an_error_status_from_a_view_writes_nothing(app, client, practice):
    def write_then_answer_400():
        _write()
        return "bad request", 400

    _route(app, "/_uow/bad", write_then_answer_400)
    assert client.post("/_uow/bad").status_code == 400
    assert not _stored(app)


@pytest.mark.parametrize("failure, status", [
    (CSRFError("The CSRF token is missing."), 400),
    (TooManyRequests(), 429),
    (MethodNotAllowed(["GET"]), 405),
    (RuntimeError("a bug"), 500),
])
def test_a_failure_after_a_flush_writes_nothing(app, client, practice, failure, status):
    def write_then_fail():
        _write()
        raise failure

    # As in production: an unexpected exception becomes the 500 page instead of reaching
    # the test.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    _route(app, "/_uow/fail", write_then_fail)
    response = client.post("/_uow/fail")
    assert response.status_code == status
    assert not _stored(app)


def test_a_failed_request_does_not_spoil_the_next_one_in_the_same_app_context(
        app, client, practice):
    def refuse():
        raise Conflict("clash")

    def write_and_answer():
        _write()
        return "saved"

    _route(app, "/_uow/refuse", refuse)
    _route(app, "/_uow/ok", write_and_answer)
    with app.app_context():  # both requests share it, and so its g
        assert client.post("/_uow/refuse").status_code == 409
        assert client.post("/_uow/ok").status_code == 200
    assert _stored(app)


# --- failures at commit time --------------------------------------------------------------


def test_a_commit_refused_by_a_constraint_is_a_409_and_writes_nothing(app, client, practice):
    def write_twice():
        _write("first@example.com")
        # Not flushed: the duplicate address only reaches the database at commit.
        db.session.add(User(email="first@example.com", name="Duplicate", role=Role.CLIENT))
        flash("Saved.", "success")
        return redirect("/auth/login")

    _route(app, "/_uow/race", write_twice)
    response = client.post("/_uow/race")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "clashed with another one made at the same moment" in page
    assert "Saved." not in page
    assert "Content-Security-Policy" in response.headers  # the page went through every hook
    assert not _stored(app, "first@example.com")
    # The success message queued for the next page went with the writes.
    assert "Saved." not in client.get("/auth/login").get_data(as_text=True)


def test_a_commit_that_fails_is_a_500_and_writes_nothing(app, client, practice, monkeypatch):
    """A commit the database answers with an error of its own; a lost connection is the 503
    page instead (tests/web/test_outage.py)."""
    undone = []

    def write_and_answer():
        _write()
        # Like the file of an uploaded picture: removed when its row is not saved.
        transactions.on_failure(lambda: undone.append(True))
        return "saved"

    def broken_commit(self):
        raise InternalError("COMMIT", {}, Exception("could not write to file"))

    _route(app, "/_uow/lost", write_and_answer)
    monkeypatch.setattr(Session, "commit", broken_commit)
    response = client.post("/_uow/lost")
    monkeypatch.undo()
    assert response.status_code == 500
    assert "saved" not in response.get_data(as_text=True)
    assert not _stored(app)
    assert undone == [True]


# --- the one deliberate exception: a failed sign-in is stored ------------------------------


def test_failed_sign_ins_are_counted_until_the_account_pauses(app, client, make_client):
    user = make_client()
    allowance = app.config["LOGIN_UNTRUSTED_FAILURES"] = 3
    for _ in range(allowance):
        response = login(client, user.email, "not the password")
        assert response.status_code == 200
    with app.app_context():
        [counter] = db.session.scalars(sa.select(LoginThrottle))
        assert counter.locked_until is not None
    # Paused: even the right password is refused now (from this browser, new to the account).
    assert login(client, user.email, TEST_PASSWORD).status_code == 200


# --- the rule itself ----------------------------------------------------------------------


def test_only_the_transactions_module_commits_or_rolls_back_in_the_web_layer():
    web = ROOT / "portal" / "web"
    offenders = []
    for path in sorted(web.rglob("*.py")):
        if path == web / "transactions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("commit", "rollback"):
                offenders.append(f"{Path(path).relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert offenders == []
