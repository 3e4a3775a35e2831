"""The device cookie: a signed note, kept by a browser after it signs in, that vouches for it
at the next sign-in to the same account (OWASP "device cookies"; services/throttle.py says
what it buys). It names accounts by id with a random nonce each, for the last few accounts
signed in on this browser; it proves nothing by itself and opens nothing: it only earns the
browser its own allowance of wrong passwords. Signing out keeps it (Clear-Site-Data does
not name cookies).
"""

from __future__ import annotations

from flask import after_this_request, current_app, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from portal.models import User
from portal.services import throttle

# A shared tablet may be used by a few people; each keeps their own entry.
MOST_ACCOUNTS = 5


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="portal.device-cookie")


def _entries() -> list[tuple[int, str]]:
    """The (user id, nonce) pairs this browser's cookie holds; none when absent or forged."""
    raw = request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"])
    if not raw:
        return []
    try:
        data = _serializer().loads(raw)
    except BadSignature:
        return []
    if not isinstance(data, list):
        return []
    return [(entry[0], entry[1]) for entry in data
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)
            and isinstance(entry[1], str)]


def login_guard() -> throttle.Guard:
    """The allowances and what this browser's cookie vouches for, for accounts.authenticate."""
    return throttle.Guard(
        limits=throttle.Limits.from_config(current_app.config), known=dict(_entries()),
        forgot_url=url_for("auth.forgot", _external=True),
    )


def trust(user: User) -> None:
    """After this browser proves it is the account holder's (a sign-in, a reset link):
    a fresh nonce for the account, kept in the cookie sent with this response."""
    entries = [(user.id, throttle.new_nonce())]
    entries += [entry for entry in _entries() if entry[0] != user.id][:MOST_ACCOUNTS - 1]
    value = _serializer().dumps([list(entry) for entry in entries])
    config = current_app.config

    @after_this_request
    def set_cookie(response):
        response.set_cookie(
            config["DEVICE_COOKIE_NAME"], value,
            max_age=int(config["DEVICE_COOKIE_DURATION"].total_seconds()), path="/",
            secure=config["DEVICE_COOKIE_SECURE"], httponly=True, samesite="Strict",
        )
        return response
