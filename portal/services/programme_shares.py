"""Read-only share links to a client's programme: created by the client or a therapist,
stored only as a hash of the token, working until revoked or the account is closed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.models import ProgrammeShare, User
from portal.services import audit
from portal.services.errors import NotFound, PermissionDenied
from portal.services.programmes import require_client


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_share(session: Session, actor: User, client: User, now: datetime, *,
                 ip: str | None = None) -> str:
    """A new read-only link token for the client's programme; only its SHA-256 is stored, so
    show it now (older links keep working until revoked)."""
    require_client(client)
    if not actor.is_therapist and actor.id != client.id:
        raise PermissionDenied("You can only share your own programme.")
    token = secrets.token_urlsafe(32)
    session.add(ProgrammeShare(client_id=client.id, token_hash=_token_hash(token),
                               created_at=now))
    session.flush()
    audit.record(session, actor=actor, subject=client, action="programme.share_created",
                 now=now, ip=ip)
    return token


def resolve_share(session: Session, token: str) -> User:
    """The client a live share token belongs to, or NotFound (unknown, revoked, or the
    client's account was closed). One query."""
    if not token or len(token) > 128:
        raise NotFound("This link doesn't work any more.")
    client = session.scalar(
        select(User).join(ProgrammeShare, ProgrammeShare.client_id == User.id)
        .where(ProgrammeShare.token_hash == _token_hash(token),
               ProgrammeShare.revoked_at.is_(None), User.active)
    )
    if client is None or not client.is_client:
        raise NotFound("This link doesn't work any more.")
    return client


def revoke_share(session: Session, actor: User, client: User, now: datetime, *,
                 share_id: int | None = None, ip: str | None = None) -> int:
    """Turn off the client's live share links (or just one); returns how many."""
    require_client(client)
    if not actor.is_therapist and actor.id != client.id:
        raise PermissionDenied("You can only turn off your own links.")
    query = (update(ProgrammeShare)
             .where(ProgrammeShare.client_id == client.id, ProgrammeShare.revoked_at.is_(None))
             .values(revoked_at=now))
    if share_id is not None:
        query = query.where(ProgrammeShare.id == share_id)
    count = session.execute(query).rowcount
    if count:
        audit.record(session, actor=actor, subject=client, action="programme.share_revoked",
                     now=now, ip=ip, links=count)
    session.flush()
    return count


def live_shares(session: Session, client: User) -> list[ProgrammeShare]:
    """The client's links that still work, newest first."""
    return list(session.scalars(
        select(ProgrammeShare).where(ProgrammeShare.client_id == client.id,
                                     ProgrammeShare.revoked_at.is_(None))
        .order_by(ProgrammeShare.created_at.desc(), ProgrammeShare.id.desc())
    ))
