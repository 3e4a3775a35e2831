"""Absolute links with a signed token, sent by email (invitations and password resets)."""

from __future__ import annotations

from flask import url_for

from portal.models import User
from portal.services.tokens import INVITE, RESET
from portal.web.deps import tokens


def invite_link(user: User) -> str:
    """Absolute URL of a set-password link for an invited or registering client."""
    return url_for("auth.accept_invite", token=tokens().make(INVITE, user), _external=True)


def reset_link(user: User) -> str:
    """Absolute URL of a password reset link."""
    return url_for("auth.reset", token=tokens().make(RESET, user), _external=True)
