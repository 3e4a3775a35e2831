"""iCalendar files: one per appointment email, and private feeds per user (icalendar).

icalendar (with dateutil) is imported by the functions that build a file, so a web worker
loads it on its first .ics, not at start.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.models import Appointment, AppointmentStatus, Practice, User
from portal.services import practice as practice_service

if TYPE_CHECKING:
    from icalendar import Calendar, Event

PRODID = "-//Portal//Sports massage practice//EN"


def uid_for(appointment: Appointment, practice: Practice) -> str:
    """A UID that stays the same for the life of the appointment, so calendars update it."""
    return f"appointment-{appointment.id}.practice-{practice.id}@portal"


def add_timezones(cal: Calendar) -> None:
    """Add the VTIMEZONE of every zone the events use, with one RDATE per line.

    icalendar lists a zone's transitions as one comma-separated RDATE. That is valid, but
    ical.js (Thunderbird and many web calendars) reads only the first value of such a line,
    sees no clock change after 1973 and shows winter times an hour early. One transition per
    line reads the same everywhere.
    """
    cal.add_missing_timezones()
    for timezone in cal.walk("VTIMEZONE"):
        for rule in timezone.subcomponents:
            rdates = rule.pop("RDATE", None)
            if rdates is None:
                continue
            for rdate in rdates if isinstance(rdates, list) else [rdates]:
                for value in rdate.dts:
                    rule.add("rdate", value.dt)


def _event(appointment: Appointment, practice: Practice, zone: ZoneInfo, *,
           for_therapist: bool, stamp: datetime, invitation: bool = False) -> Event:
    from icalendar import Event, vCalAddress, vText

    event = Event()
    event.add("uid", uid_for(appointment, practice))
    event.add("dtstamp", stamp)
    event.add("sequence", appointment.sequence)
    event.add("dtstart", appointment.starts_at.astimezone(zone))
    event.add("dtend", appointment.ends_at.astimezone(zone))
    if for_therapist:
        event.add("summary", f"{appointment.service.name}: {appointment.client.name}")
    else:
        event.add("summary", f"{appointment.service.name} at {practice.name}")
    if practice.address:
        event.add("location", vText(practice.address))
    description = [f"{appointment.service.name}, {appointment.service.duration_minutes} minutes."]
    if practice.phone:
        description.append(f"To change it, contact {practice.name} on {practice.phone}.")
    event.add("description", " ".join(description))
    cancelled = appointment.status is AppointmentStatus.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if practice.email:
        organizer = vCalAddress(f"mailto:{practice.email}")
        organizer.params["cn"] = vText(practice.name)
        event.add("organizer", organizer)
    if invitation:
        # RFC 5546: a REQUEST or CANCEL names its attendees; mail clients that read
        # invitations otherwise treat the file as a plain event. The client booked it, so
        # they have already accepted.
        attendee = vCalAddress(f"mailto:{appointment.client.email}")
        attendee.params["cn"] = vText(appointment.client.name)
        attendee.params["role"] = "REQ-PARTICIPANT"
        attendee.params["partstat"] = "ACCEPTED"
        attendee.params["rsvp"] = "FALSE"
        event.add("attendee", attendee)
    return event


def appointment_calendar(appointments: Iterable[Appointment], practice: Practice, *,
                         method: str | None = None, for_therapist: bool = False,
                         name: str | None = None) -> str:
    """An .ics text with the appointments, times in the practice's zone with its VTIMEZONE."""
    from icalendar import Calendar

    zone = practice_service.zone_of(practice)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
        cal.add("x-wr-timezone", zone.key)
    stamp = max((a.updated_at for a in appointments), default=None)
    for appointment in appointments:
        cal.add_component(_event(appointment, practice, zone, for_therapist=for_therapist,
                                 stamp=stamp or appointment.updated_at,
                                 invitation=method in ("REQUEST", "CANCEL")))
    if cal.subcomponents:
        add_timezones(cal)
    return cal.to_ical().decode()


def feed_token(session: Session, user: User, *, renew: bool = False) -> str:
    """The user's calendar feed secret, made on first use; `renew` revokes the old one."""
    if user.calendar_token is None or renew:
        user.calendar_token = secrets.token_urlsafe(32)
        session.flush()
    return user.calendar_token


def revoke_feed(session: Session, user: User) -> None:
    """Turn the feed off: the old address stops working."""
    user.calendar_token = None
    session.flush()


def feed_for_token(session: Session, token: str, practice: Practice) -> str | None:
    """The .ics feed for the owner of a token (client: theirs; therapist: the whole diary),
    or None when the token is unknown. Cancelled appointments stay so calendars drop them."""
    if not token or len(token) > 64:
        return None
    user = session.scalar(select(User).where(User.calendar_token == token, User.active))
    if user is None:
        return None
    query = select(Appointment).options(
        joinedload(Appointment.service), joinedload(Appointment.client),
        joinedload(Appointment.therapist),
    ).order_by(Appointment.starts_at)
    if not user.is_therapist:
        query = query.where(Appointment.client_id == user.id)
    appointments = list(session.scalars(query))
    return appointment_calendar(
        appointments, practice, for_therapist=user.is_therapist,
        name=f"{practice.name} diary" if user.is_therapist else f"{practice.name} sessions",
    )
