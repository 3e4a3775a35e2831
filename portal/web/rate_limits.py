"""Rate limits read from the configuration, for @limiter.limit on the views that need them."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user


def login_limit() -> str:
    """The configured limit for password attempts (per client address)."""
    return current_app.config["RATELIMIT_LOGIN"]


def email_limit() -> str:
    """The configured limit for requests that send an email."""
    return current_app.config["RATELIMIT_EMAIL"]


def message_limit() -> str:
    """The configured limit for sending messages (per signed-in user)."""
    return current_app.config["RATELIMIT_MESSAGE"]


def signed_in_user() -> str:
    """The rate-limit key of the signed-in user, wherever they are: a phone that changes
    network keeps its count, and people sharing an address keep theirs apart."""
    return f"user:{current_user.id}"
def enquiry_limit() -> str:
    """The configured limit for enquiries sent through the public form (per client address)."""
    return current_app.config["RATELIMIT_ENQUIRY"]
