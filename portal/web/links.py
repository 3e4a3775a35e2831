"""Absolute links sent by email: signed set-password links (invitations, password resets),
the pages the booking emails point to, and the conversation a message is waiting in."""

from __future__ import annotations

from flask import url_for

from portal.models import Appointment, MessageThread, User
from portal.services.booking import EmailLinks
from portal.services.messages import MessageLinks
from portal.services.tokens import INVITE, RESET
from portal.web.deps import tokens


def invite_link(user: User) -> str:
    """Absolute URL of a set-password link for an invited or registering client."""
    return url_for("auth.accept_invite", token=tokens().make(INVITE, user), _external=True)


def reset_link(user: User) -> str:
    """Absolute URL of a password reset link."""
    return url_for("auth.reset", token=tokens().make(RESET, user), _external=True)


def set_password_link_prefixes() -> tuple[str, str]:
    """(reset, invite): absolute set-password links without their token, for the outbox
    sender to finish later (a password reset is answered in the background)."""
    placeholder = "T"
    reset = url_for("auth.reset", token=placeholder, _external=True)
    invite = url_for("auth.accept_invite", token=placeholder, _external=True)
    return reset.removesuffix(placeholder), invite.removesuffix(placeholder)


def appointment_link(appointment: Appointment) -> str:
    """The client's appointments page, scrolled to this one: where it is moved or cancelled."""
    return url_for("appointments.index", _anchor=f"appointment-{appointment.id}",
                   _external=True)


def book_again_link(appointment: Appointment) -> str:
    """The free times of the same service, or the list of services when it is no longer
    offered online."""
    if appointment.service.active:
        return url_for("booking.slots", service_id=appointment.service_id, _external=True)
    return url_for("booking.index", _external=True)


# What the booking service is given to put links in its emails (used inside a request).
BOOKING_LINKS = EmailLinks(appointment=appointment_link, book_again=book_again_link)


def thread_link(thread: MessageThread) -> str:
    """The conversation itself: sign-in comes first for someone signed out."""
    return url_for("messages.thread", thread_id=thread.id, _external=True)


def message_settings_link() -> str:
    """The account page, where the "message waiting" emails are turned off."""
    return url_for("account.index", _anchor="message-emails", _external=True)


# What the messages service is given to put links in its emails (used inside a request).
MESSAGE_LINKS = MessageLinks(thread=thread_link, account=message_settings_link)
