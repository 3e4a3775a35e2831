"""Signed, expiring, single-use links for invitations and password resets."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from portal.models import User
from portal.services.errors import NotFound

INVITE = "invite"
RESET = "reset"


class LinkExpired(NotFound):
    """The link was genuine but is too old."""


def _fingerprint(user: User) -> str:
    # Changes as soon as a password is set, so a used link can never be used again.
    return hashlib.sha256((user.password_hash or "no-password").encode()).hexdigest()[:20]


class Tokens:
    """Makes and checks tokens for one purpose each, signed with the app's secret key."""

    def __init__(self, secret_key: str):
        self._serializer = URLSafeTimedSerializer(secret_key, salt="portal.links")

    def make(self, purpose: str, user: User) -> str:
        """A token that names the user and the purpose and is bound to the current password."""
        return self._serializer.dumps({"p": purpose, "u": user.id, "f": _fingerprint(user)})

    def resolve(self, session: Session, purpose: str, token: str, max_age: timedelta) -> User:
        """The user a token is for; NotFound (or LinkExpired) when it is not usable now."""
        try:
            data = self._serializer.loads(token, max_age=int(max_age.total_seconds()))
        except SignatureExpired as exc:
            raise LinkExpired("This link has expired.") from exc
        except BadSignature as exc:
            raise NotFound("This link is not valid.") from exc
        if not isinstance(data, dict) or data.get("p") != purpose:
            raise NotFound("This link is not valid.")
        user = session.get(User, data.get("u"))
        if user is None or not user.active or data.get("f") != _fingerprint(user):
            raise NotFound("This link has already been used or is no longer valid.")
        return user
