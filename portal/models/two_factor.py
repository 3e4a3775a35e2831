"""Two-factor sign-in: an authenticator app (TOTP), recovery codes and passkeys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class TwoFactor(Base):
    """A user's second-factor settings and the count of wrong codes, one row per user who has
    started setting two-factor up. The authenticator app is on once `totp_confirmed_at` is
    set; before that `totp_secret` holds the secret being set up."""

    __tablename__ = "two_factor"
    __table_args__ = (
        CheckConstraint("failures >= 0", name="failures_positive"),
        CheckConstraint("totp_confirmed_at IS NULL OR totp_secret IS NOT NULL",
                        name="confirmed_has_secret"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"),
                                         primary_key=True)
    # Encrypted (portal.services.secret_box), never stored in the clear.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_confirmed_at: Mapped[datetime | None]
    # The 30-second time step of the last accepted code: a code is accepted once only.
    totp_last_step: Mapped[int | None]
    # Wrong codes (app or recovery) since the last right one, and the pause they started.
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    # The user handle passkeys carry (random, so it says nothing about the person).
    webauthn_handle: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def totp_on(self) -> bool:
        return self.totp_confirmed_at is not None


class RecoveryCode(Base):
    """A single-use code for when the app and passkeys are out of reach. Only a keyed hash
    is stored; the code itself is shown once."""

    __tablename__ = "recovery_code"
    __table_args__ = (Index("ix_recovery_code_user", "user_id", "code_hash", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Passkey(Base):
    """A WebAuthn credential registered by a user, named by them."""

    __tablename__ = "passkey"
    __table_args__ = (
        CheckConstraint("sign_count >= 0", name="sign_count_positive"),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
        Index("ix_passkey_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    # base64url of the raw credential id, as browsers send it back.
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(default=0)
    transports: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
