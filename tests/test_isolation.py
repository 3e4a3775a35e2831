"""The test harness itself: the shared app's rolled-back transaction behaves like a database.

Most tests share one app per backend and run inside a transaction that is rolled back (see
`app` in conftest.py). Code under test commits and rolls back as it would in production, so
these check that commits inside requests are seen by later requests of the same test, that a
rollback (also after a failed statement, which aborts a PostgreSQL transaction) undoes only
its own work, and that nothing (rows, config, rate-limit counts) reaches the next test.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Role, User
from tests.conftest import _rolled_back, login


def count_users(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(User))


def add_user(email: str) -> User:
    user = User(email=email, name="Someone", role=Role.CLIENT)
    db.session.add(user)
    return user


def test_a_commit_is_seen_by_later_app_contexts_and_a_rollback_undoes_only_its_own(app):
    with app.app_context():
        add_user("kept@example.com")
        db.session.commit()
    with app.test_request_context("/"):  # as a view or an after-request hook would commit
        add_user("also-kept@example.com")
        db.session.commit()
    with app.app_context():
        add_user("dropped@example.com")
        db.session.flush()
        db.session.rollback()
    with app.app_context():
        emails = set(db.session.scalars(sa.select(User.email)))
    assert emails == {"kept@example.com", "also-kept@example.com"}


def test_a_failed_statement_is_rolled_back_and_the_test_goes_on(app):
    with app.app_context():
        add_user("once@example.com")
        db.session.commit()
    with app.app_context():
        add_user("once@example.com")
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        # PostgreSQL aborts a transaction after an error; only the savepoint was lost here.
        add_user("after@example.com")
        db.session.commit()
    assert count_users(app) == 2


def test_requests_commit_and_fail_inside_the_test_transaction(app, client, make_client):
    user = make_client()
    assert login(client, user.email, "a wrong password").status_code == 200
    assert login(client, user.email).status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/no/such/page").status_code == 404  # error pages roll back
    assert client.get("/").status_code == 200
    with app.app_context():
        assert db.session.get(User, user.id).email == user.email


def test_nothing_reaches_the_next_test(shared_app, tmp_path):
    with _rolled_back(shared_app, tmp_path) as app:
        app.config["SOMETHING_A_TEST_SET"] = True
        with app.app_context():
            add_user("leaked@example.com")
            db.session.commit()
        assert count_users(app) == 1
    with _rolled_back(shared_app, tmp_path) as app:
        assert count_users(app) == 0
        assert "SOMETHING_A_TEST_SET" not in app.config


@pytest.mark.fresh_db
def test_a_fresh_database_is_emptied_and_its_ids_start_again(app, database, make_client,
                                                             tmp_path):
    """Tests that really commit get a database of their own on SQLite (a copy of the migrated
    file) and share their worker's on PostgreSQL, which is emptied after each: every table
    empty and ids starting at 1 again, as on a new database."""
    if database.backend == "sqlite":
        path = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
        assert path != database.template and path.startswith(str(tmp_path))
        return
    make_client(email="committed@example.com")
    make_client(email="committed-too@example.com")
    assert count_users(app) == 2
    database.reset(app)
    assert count_users(app) == 0
    with app.app_context():
        db.session.add(User(email="next@example.com", name="Next", role=Role.CLIENT))
        db.session.commit()
        assert db.session.scalar(sa.select(User.id)) == 1
        assert all(db.session.scalar(sa.select(sa.func.count()).select_from(table)) == 0
                   for table in db.metadata.sorted_tables if table.name != "user")
