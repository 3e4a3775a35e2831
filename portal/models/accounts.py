"""Accounts: clients and therapists who sign in."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class Role(enum.StrEnum):
    """What a user is to the practice."""

    CLIENT = "client"
    THERAPIST = "therapist"


class User(Base):
    """Someone who can sign in. Emails are stored lower-cased, which makes them unique
    regardless of case."""

    __tablename__ = "user"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lower"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", native_enum=False, length=20,
             values_callable=lambda e: [m.value for m in e])
    )
    # None until the person sets one from an invitation or registration link.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped on logout, password change and deactivation: every older cookie stops working.
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    # Secret for the private calendar feed; replaced to revoke, None until first asked for.
    calendar_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Email when a message is waiting for them (the email never carries the message itself).
    message_emails: Mapped[bool] = mapped_column(default=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    invited_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Flask-Login protocol -------------------------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active and self.password_hash is not None

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # The version travels in the session and the remember cookie, so bumping it
        # invalidates every copy of either.
        return f"{self.id}:{self.session_version}"

    # Convenience ----------------------------------------------------------------------
    @property
    def is_therapist(self) -> bool:
        return self.role is Role.THERAPIST

    @property
    def is_client(self) -> bool:
        return self.role is Role.CLIENT

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.name

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


class ResetRequest(Base):
    """Someone asked for a password reset link for this address. A row is stored for every
    address, known or not, and nothing else is done in the request, so the answer takes the
    same time either way; the outbox sender looks the address up, emails a link to an
    account that has one, and deletes the row (services/accounts.answer_reset_requests)."""

    __tablename__ = "reset_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    # The links the email will carry, without their token, on the site the request came to.
    reset_url: Mapped[str] = mapped_column(String(300))
    invite_url: Mapped[str] = mapped_column(String(300))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
