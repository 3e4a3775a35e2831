"""Rate limits read from the configuration, for @limiter.limit on the views that need them."""

from __future__ import annotations

from flask import current_app


def login_limit() -> str:
    """The configured limit for password attempts (per client address)."""
    return current_app.config["RATELIMIT_LOGIN"]


def email_limit() -> str:
    """The configured limit for requests that send an email."""
    return current_app.config["RATELIMIT_EMAIL"]


def enquiry_limit() -> str:
    """The configured limit for enquiries sent through the public form (per client address)."""
    return current_app.config["RATELIMIT_ENQUIRY"]
