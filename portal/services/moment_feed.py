"""Moments as reminders: a private iCalendar feed with one daily event per moment of the day
the client picked a time for ("Morning stretches: Kneeling hip flexor stretch, Cat-cow").

The feed's secret is the user's calendar token (portal.services.calendar.feed_token), the one
the sessions feed uses: one private address to create, renew or turn off on the account page,
and both feeds show only the owner's own plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import MOMENTS, Moment, Practice, ProgrammeItem, Role, User
from portal.services import dose, moment_reminders, programmes
from portal.services import practice as practice_service
from portal.services.calendar import PRODID, add_timezones

# How long a reminder event lasts in the calendar: a short block, marked free.
EVENT_MINUTES = 10
# A hint to calendar apps for how often to fetch the feed again.
REFRESH = timedelta(hours=12)
SUMMARIES: dict[Moment, str] = {
    Moment.MORNING: "Morning stretches",
    Moment.WORK_BREAK: "Work break stretches",
    Moment.AFTER_TRAINING: "After training stretches",
    Moment.BEFORE_BED: "Before bed stretches",
}


@dataclass(frozen=True)
class MomentPlan:
    """One moment of the client's day: the reminder time (or None) and its exercises."""

    moment: Moment
    local_time: time | None
    items: list[ProgrammeItem]

    @property
    def label(self) -> str:
        """"Morning", "Work break"..."""
        return self.moment.label

    @property
    def names(self) -> list[str]:
        """The exercise names at this moment, in programme order."""
        return [item.exercise.name for item in self.items]


def uid_for(client: User, moment: Moment, practice: Practice) -> str:
    """A UID that stays the same for this client and moment, so calendars update the event
    in place when the time or the exercises change."""
    return f"moment-{moment.value}.client-{client.id}.practice-{practice.id}@portal"


def moment_plans(session: Session, client: User) -> list[MomentPlan]:
    """Every moment of the day, in order, with the client's reminder time and the current
    programme's items at that moment (three queries)."""
    version = programmes.current_version(session, client, with_ladders=False)
    times = moment_reminders.moment_times(session, client)
    items = list(version.items) if version else []
    return [MomentPlan(moment=m, local_time=times.get(m),
                       items=[i for i in items if m in i.moment_list]) for m in MOMENTS]


def client_for_token(session: Session, token: str) -> User | None:
    """The active client whose calendar token this is, or None (one query). A therapist's
    token opens their diary feed, never a moments feed."""
    if not token or len(token) > 64:
        return None
    return session.scalar(select(User).where(User.calendar_token == token, User.active,
                                             User.role == Role.CLIENT))


def moments_calendar(session: Session, client: User, practice: Practice, now: datetime, *,
                     programme_url: str) -> str:
    """The client's reminder feed as .ics text: for each moment with a time and at least one
    exercise, a DAILY event at that local time in the practice's zone (with its VTIMEZONE),
    a display alarm, and a link back to the programme in the description."""
    from icalendar import Alarm, Calendar, Event, vDuration, vText  # see services/calendar

    zone = practice_service.zone_of(practice)
    version = programmes.current_version(session, client, with_ladders=False)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Stretch reminders ({practice.name})")
    cal.add("x-wr-timezone", zone.key)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    if version is None:
        return cal.to_ical().decode()
    # The series starts on the day the current version was saved: a stable date, so calendar
    # apps see the same event on every fetch until something really changes.
    first_day = version.created_at.astimezone(zone).date()
    for plan in moment_plans(session, client):
        if plan.local_time is None or not plan.items:
            continue
        summary = f"{SUMMARIES[plan.moment]}: {', '.join(plan.names)}"
        lines = [f"{item.exercise.name}: {dose.describe_dose(item)}"
                 for item in plan.items]
        description = "\n".join([*lines, "", f"Open your programme: {programme_url}"])
        event = Event()
        event.add("uid", uid_for(client, plan.moment, practice))
        event.add("dtstamp", now)
        event.add("dtstart", datetime.combine(first_day, plan.local_time, tzinfo=zone))
        event.add("duration", timedelta(minutes=EVENT_MINUTES))
        event.add("rrule", {"freq": "daily"})
        event.add("summary", summary)
        event.add("description", description)
        event.add("url", programme_url, parameters={"VALUE": "URI"})
        event.add("class", "PRIVATE")
        event.add("transp", "TRANSPARENT")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", vText(summary))
        alarm.add("trigger", timedelta(0))
        event.add_component(alarm)
        cal.add_component(event)
    if any(c.name == "VEVENT" for c in cal.subcomponents):
        add_timezones(cal)
    return cal.to_ical().decode()
