"""The client's today: the practice's local date, the week it falls in, and today's programme
at a glance (the home page's card). The programme pages and the home page share these, and
the one-tap "Done, felt fine" forms both show (templates/programme/_quick_log.html)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from portal.extensions import db
from portal.models import User
from portal.services import adherence, client_day
from portal.web.deps import now, practice_zone


def local_today() -> date:
    """Today's date in the practice's time zone."""
    return now().astimezone(practice_zone()).date()


def week_start(day: date) -> date:
    """The Monday of the week holding `day`."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Summary:
    """Today's progress and this week's adherence, for the client's home page."""

    day: client_day.Today
    week: adherence.Adherence | None


def summary(client: User) -> Summary:
    """The home page's programme card (adherence only when there is a programme)."""
    today = local_today()
    day = client_day.today(db.session, client, today)
    week = (adherence.client_week(db.session, client, week_start(today), today=today)
            if day.version is not None else None)
    return Summary(day=day, week=week)


def log_key() -> str:
    """A fresh client_key for a log form: a double tap or a resend of that form is one log."""
    return uuid.uuid4().hex


def item_anchor(place: str, item_id: int, moment: str | None = None) -> str:
    """The id of an item's row where a one-tap log is made: on the home page, or under a
    moment on Today. A log made there comes back to it (the page's messages join it)."""
    if place == "home":
        return f"home-item-{item_id}"
    return f"entry-{item_id}-{moment or 'any'}"
