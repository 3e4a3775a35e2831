"""Failed sign-in counters: the lockout that an attacker elsewhere cannot turn against the
account holder (services/throttle.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class LoginThrottle(Base):
    """Failed sign-ins for one bucket: an address tried from browsers that have never signed
    in to it, or one browser that has (its device cookie). The key is a SHA-256, so the
    table holds no address, known or not."""

    __tablename__ = "login_throttle"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the failures reach the bucket's allowance: attempts in it are refused until then.
    locked_until: Mapped[datetime | None]
    # When the account holder was last told their account is under attack.
    alerted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
