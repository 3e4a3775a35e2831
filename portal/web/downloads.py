"""Files the site hands over to keep: a client's record as JSON, for the therapist's
"Download record" and the client's "Download my data" alike."""

from __future__ import annotations

import json

from flask import Response


def json_attachment(data: dict, filename: str) -> Response:
    """The data as a JSON file the browser saves (never shows inline, never caches)."""
    body = json.dumps(data, ensure_ascii=False, indent=2)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
