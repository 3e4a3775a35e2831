"""Error pages in the site's style, and the mapping from domain errors to them."""

from __future__ import annotations

from flask import Flask, Response, current_app, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from limits.errors import StorageError
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import login_manager
from portal.services.errors import Conflict, NotFound, PermissionDenied
from portal.web import transactions

MESSAGES = {
    400: ("Something in that request wasn't right",
          "Please go back, reload the page and try again."),
    403: ("You can't open this page",
          "Your account doesn't have access to it. If you think it should, contact the practice."),
    404: ("We can't find that page",
          "The link may be old or mistyped, or the page may have moved."),
    405: ("That didn't work", "This page can't be used that way. Go back and try again."),
    409: ("That changed while you were looking",
          "Someone else changed this at the same moment. Reload the page to see the latest."),
    413: ("That was too large to send", "Try a smaller file or a shorter text."),
    429: ("Too many tries", "Please wait a minute before trying again."),
    500: ("Something went wrong on our side",
          "It's not you. Please try again in a moment; if it keeps happening, contact the "
          "practice."),
}

# A part of the system that is not answering (the database, or the rate-limit store that
# guards sign-in) is an outage, not a bug: a 503 that asks for a minute, never a 500. Besides
# a refused or lost connection, OperationalError covers a lock wait or a statement that timed
# out, which a minute cures too. Any other database error (an InterfaceError or a
# ProgrammingError) is an outage only when SQLAlchemy found the connection gone; otherwise it
# is a bug and stays a 500.
OUTAGES = (OperationalError, DisconnectionError, PoolTimeout, StorageError)
RETRY_AFTER_SECONDS = 60
DATABASE_DOWN = ("We can't reach our records right now",
                 "It's not you: part of our system isn't answering. Please try again in a "
                 "minute.")
# Sign-in and the forms that send email are guarded by a count of recent attempts. When the
# count can't be kept, the form waits rather than letting unlimited guesses through.
LIMITS_DOWN = ("We can't check this right now",
               "The safety check that protects accounts from repeated guessing isn't "
               "answering, so this form is paused. Please try again in a minute.")
NOT_SAVED = "What you just sent may not have been saved. Go back and send it again in a minute."
NOT_USED = "Nothing was done with what you sent. Go back and send it again in a minute."


def render_error(code: int, detail: str | None = None):
    """The error page for an HTTP status, with an optional sentence about this case."""
    # Every error page, from a handler below or from a view, means the request failed.
    transactions.mark_failed()
    title, text = MESSAGES.get(code, MESSAGES[500])
    try:
        return render_template("errors/error.html", code=code, title=title, text=text,
                               detail=detail), code
    except OUTAGES as error:
        # The page asks the database for the signed-in user; if it stopped answering since,
        # the visitor still gets a page of ours instead of the server's bare error.
        return render_unavailable(error)


def is_outage(error: BaseException | None) -> bool:
    """Whether an error means a part of the system is not answering (see OUTAGES)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, OUTAGES)


def _database_error(error: DBAPIError):
    """The 503 page for a lost connection; any other database error goes on as if unhandled
    (the 500 page, or the traceback in a test)."""
    if is_outage(error):
        return render_unavailable(error)
    raise error


def render_unavailable(error: BaseException) -> Response:
    """The 503 page for an outage, rendered without the database: no signed-in user, no
    practice, no messages queued in the session, only the template and the static files."""
    transactions.mark_failed()
    cause = getattr(error, "orig", None) or getattr(error, "storage_error", None) or error
    # The driver's own message (host, port, file), never the statement or its parameters.
    current_app.logger.error("%s unavailable: %s: %s", request.path, type(cause).__name__, cause)
    limits = isinstance(error, StorageError)
    title, text = LIMITS_DOWN if limits else DATABASE_DOWN
    detail = None
    if request.method not in ("GET", "HEAD"):
        detail = NOT_USED if limits else NOT_SAVED
    page = current_app.jinja_env.get_template("errors/error.html").render(
        code=503, title=title, text=text, detail=detail, retry_url=_retry_url(),
        practice=None, current_endpoint="",
        current_user=login_manager.anonymous_user(),
        get_flashed_messages=lambda **_: (),
        # A browser still to forget its offline Today (sessions.FORGET) does so on the next
        # page that works: the note stays in its session.
        forget_this_device=lambda: False,
    )
    return current_app.response_class(
        page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}, mimetype="text/html"
    )


def _retry_url() -> str | None:
    """This address again: the same page for a GET, the form's page after a POST (when the
    route has one), else None."""
    rule = request.url_rule
    if rule is None or "GET" not in (rule.methods or ()):
        return None
    # Built from the matched route, so it is always one of ours.
    path = url_for(rule.endpoint, **(request.view_args or {}))
    query = request.query_string.decode("latin-1") if request.method in ("GET", "HEAD") else ""
    return f"{path}?{query}" if query else path


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(
            400, "The form had expired or was sent from somewhere else. Reload it and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        if error.code == 413:
            return render_error(413)
        response = render_error(error.code if error.code in MESSAGES else 500)
        if error.code == 405:
            return response[0], 405, {"Allow": ", ".join(error.valid_methods or [])}
        return response

    @app.errorhandler(NotFound)
    def domain_not_found(error):
        return render_error(404)

    @app.errorhandler(PermissionDenied)
    def domain_forbidden(error):
        return render_error(403, error.message or None)

    @app.errorhandler(Conflict)
    def domain_conflict(error):
        return render_error(409, error.message or None)

    for outage in OUTAGES:
        app.register_error_handler(outage, render_unavailable)
    app.register_error_handler(DBAPIError, _database_error)

    @app.errorhandler(InternalServerError)
    def server_error(error):
        # What no handler above could take arrives here, an outage met by an after_request
        # hook included.
        if is_outage(error.original_exception):
            return render_unavailable(error.original_exception)
        return render_error(500)
