"""The demo practice created by `flask seed-demo` (development and screenshots only)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from portal.models import Role, User
from portal.services import accounts
from portal.services.passwords import Passwords

THERAPIST = ("therapist", "jo@example.com", "knead-to-know-2026")
CLIENTS = [
    ("client", "alex@example.com", "hip-flexor-friday"),
    ("client", "sam@example.com", "long-run-sunday"),
]
LOGINS = [THERAPIST, *CLIENTS]


def seed(session: Session, passwords: Passwords, *, now: datetime, timezone: str) -> None:
    """Create the practice, one therapist and two clients (later issues add more)."""
    practice = accounts.ensure_practice(
        session, name="Riverside Sports Massage", timezone=timezone, now=now
    )
    practice.email = "hello@example.com"
    practice.phone = "020 7946 0321"
    practice.address = "12 Mill Lane, London SE1 9XX"
    therapist = accounts.create_therapist(
        session, passwords, email=THERAPIST[1], name="Jo Fletcher", password=THERAPIST[2],
        now=now,
    )
    names = ["Alex Morgan", "Sam Patel"]
    for (_, email, password), name in zip(CLIENTS, names, strict=True):
        client = User(
            email=email, name=name, role=Role.CLIENT, password_hash=passwords.hash(password),
            password_changed_at=now, invited_by_id=therapist.id,
            invited_at=now - timedelta(days=40), created_at=now - timedelta(days=40),
        )
        session.add(client)
    session.flush()
