"""Error pages in the site's style, and the mapping from domain errors to them."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

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


def render_error(code: int, detail: str | None = None):
    """The error page for an HTTP status, with an optional sentence about this case."""
    # Every error page, from a handler below or from a view, means the request failed.
    transactions.mark_failed()
    title, text = MESSAGES.get(code, MESSAGES[500])
    return render_template("errors/error.html", code=code, title=title, text=text,
                           detail=detail), code


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

    @app.errorhandler(InternalServerError)
    def server_error(error):
        return render_error(500)
