"""Signed-in devices: one row per browser sign-in, so each can be seen and signed out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class Device(Base):
    """A browser signed in to an account. Signing in makes a row; signing out (there, from
    another device, or everywhere), a new password or deactivation ends it. The browser's
    session and remember-me cookie carry a random key whose SHA-256 is stored here, so a
    session is accepted only while its row is live."""

    __tablename__ = "device"
    __table_args__ = (
        Index("ix_device_user_id", "user_id", "ended_at"),
        Index("ix_device_last_seen_at", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "Chrome on Android": read from the User-Agent at sign-in; the header itself is not kept.
    description: Mapped[str] = mapped_column(String(80))
    # The address rounded to its network (IPv4 /24, IPv6 /48), updated with last_seen_at.
    network: Mapped[str | None] = mapped_column(String(50))
    # "Keep me signed in" was ticked: the device lives until unused for the remember period.
    remember: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Device {self.id} of user {self.user_id}>"
