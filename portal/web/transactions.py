"""One unit of work per request: the only place in the web layer that commits or rolls back.

Services flush; this module decides, once per request, whether what they flushed is kept.
A response that succeeded (below 400) commits. Everything else rolls back: an error page of
any kind (domain errors, HTTP errors, CSRF, 429, 500, all rendered by errors.render_error),
and any page a view renders after catching a domain error, because the view, or
forms.apply_error on its behalf, marks the unit of work failed. Views never commit or roll
back themselves (tests/web/test_unit_of_work.py checks that statically).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, current_app, g, session
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from portal.extensions import db

# A commit refused by a constraint means someone else changed the same rows a moment before
# (two bookings racing for one slot, the same form sent twice): a 409 the client can act on.
COMMIT_CONFLICT = ("Your change wasn't saved because it clashed with another one made at the "
                   "same moment. Reload the page and try again.")


def mark_failed() -> None:
    """Undo this request's writes now and make sure its response commits nothing."""
    g.unit_of_work_failed = True
    # At once, not at the end: the page that explains the failure must read the database as
    # it was, and after a failed flush the session refuses every query until rolled back.
    _roll_back()
    _undo_outside_the_database()


def _roll_back() -> None:
    """Roll the session back; when the database has gone away, the rollback cannot reach it
    either, and the server drops the transaction with the connection, so the error page
    still follows."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        current_app.logger.warning("rollback failed", exc_info=True)


def on_failure(undo: Callable[[], None]) -> None:
    """Call undo if this request's writes end up not saved, for work outside the database
    (a file written for a row that the commit may still refuse)."""
    g.setdefault("unit_of_work_undo", []).append(undo)


def _undo_outside_the_database() -> None:
    for undo in g.pop("unit_of_work_undo", []):
        undo()


def failed() -> bool:
    """Whether this request's unit of work was marked failed."""
    return g.get("unit_of_work_failed", False)


def finish(response: Response) -> Response:
    """after_request: commit a successful response; roll back anything else."""
    if failed() or response.status_code >= 400:
        _roll_back()
        _undo_outside_the_database()
        return response
    try:
        db.session.commit()
    except IntegrityError:
        current_app.logger.warning("commit refused by a constraint", exc_info=True)
        return _not_saved(409, COMMIT_CONFLICT)
    except SQLAlchemyError as error:
        return _not_saved(500, error=error)
    return response


def _not_saved(code: int, detail: str | None = None, *,
               error: SQLAlchemyError | None = None) -> Response:
    """The error page that replaces a response whose writes could not be committed: the
    503 page when the database stopped answering, else the page for code."""
    from portal.web import errors  # here: errors imports this module

    # The page may have queued "Saved" messages for the next page; none of it was saved.
    session.pop("_flashes", None)
    if errors.is_outage(error):
        return errors.render_unavailable(error)
    if error is not None:
        current_app.logger.error("commit failed", exc_info=error)
    return current_app.make_response(errors.render_error(code, detail))


def forget(_error: BaseException | None = None) -> None:
    """teardown_request: the next request starts a fresh unit of work, even when it shares
    this one's app context (a test that holds one open)."""
    g.pop("unit_of_work_failed", None)
    g.pop("unit_of_work_undo", None)


def init_app(app: Flask) -> None:
    """Register the commit hook; call it after every other after_request hook is registered,
    so that it runs first (Flask runs them in reverse) and a replacement error page still
    gets the security headers."""
    app.after_request(finish)
    app.teardown_request(forget)
