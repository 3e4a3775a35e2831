"""Refuse input that no person types and that a database cannot store."""

from __future__ import annotations

from flask import abort, request


def reject_nul_bytes():
    """before_request: a NUL character anywhere in the path, query or form is refused with
    400. PostgreSQL cannot store NUL in text, so it would otherwise surface as a 500."""
    if "\x00" in request.path:
        abort(400)
    sources = [request.args]
    if request.method not in ("GET", "HEAD") and request.mimetype in (
        "application/x-www-form-urlencoded", "multipart/form-data"
    ):
        sources.append(request.form)
    for source in sources:
        for key, value in source.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400)
    return None
