"""How the product words dates and times, for pages, emails and flash messages alike.

Every date or time a person reads is worded here, so a page, the email about the same session
and the flash after booking it can never disagree. Functions that take an instant take an
aware datetime (the database keeps UTC) and the practice's zone, and word the wall-clock time
there; functions that take a date word it as it is (it is already a local date).
Plain Python and no Flask: services and CLI commands compose emails without a request.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# --- instants, in the practice's zone -------------------------------------------------------


def local(instant: datetime, zone: ZoneInfo) -> datetime:
    """The wall-clock time at `instant` in `zone`."""
    return instant.astimezone(zone)


def clock(instant: datetime, zone: ZoneInfo) -> str:
    """'14:30': the 24-hour time of day."""
    return clock_time(local(instant, zone).time())


def clock_time(value: time) -> str:
    """'09:30' for a wall-clock time that is already local (working hours, reminders)."""
    return f"{value:%H:%M}"


def day_and_time(instant: datetime, zone: ZoneInfo) -> str:
    """'Tuesday 10 March at 14:30': a session as emails, flashes and pages name it."""
    moment = local(instant, zone)
    return f"{day(moment.date())} at {clock_time(moment.time())}"


def date_with_year(instant: datetime, zone: ZoneInfo) -> str:
    """'Tue 10 March 2026': the local date of an instant, when the year may not be plain."""
    return short_day_with_year(local(instant, zone).date())


def timestamp(instant: datetime, zone: ZoneInfo) -> str:
    """'Tue 10 March 2026, 14:30': when something was saved or submitted."""
    moment = local(instant, zone)
    return f"{short_day_with_year(moment.date())}, {clock_time(moment.time())}"


def iso(instant: datetime) -> str:
    """The machine-readable form for <time datetime="...">, to the second: HTML allows at
    most three digits of a fraction, and the stored microseconds say nothing to a reader."""
    return instant.isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    """The instant an ISO 8601 text names ("2026-03-04T12:00:00Z", as the record export
    writes them), or None for None."""
    return None if text is None else datetime.fromisoformat(text)


def span(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> str:
    """A period such as time off: 'Mon 6 April (whole day)', 'Mon 6 April – Fri 10 April
    (whole days)', 'Mon 6 April, 14:00–17:00' or 'Mon 6 April, 14:00 – Tue 7 April, 09:00'."""
    start, end = local(starts_at, zone), local(ends_at, zone)
    if start.time() == end.time() == time.min:
        # Whole days end at the following midnight; name the last day the period covers.
        last = end.date() - timedelta(days=1)
        if start.date() == last:
            return f"{short_day(start.date())} (whole day)"
        return f"{short_day(start.date())} – {short_day(last)} (whole days)"
    first = f"{short_day(start.date())}, {clock_time(start.time())}"
    if start.date() == end.date():
        return f"{first}–{clock_time(end.time())}"
    return f"{first} – {short_day(end.date())}, {clock_time(end.time())}"


def zone_name(zone: ZoneInfo) -> str:
    """'Europe/London', 'America/New York': the zone as the therapist chose it."""
    return zone.key.replace("_", " ")


def zone_place(zone: ZoneInfo) -> str:
    """'London', 'New York': the zone's place alone, for clients ('All times are London
    time')."""
    return zone_name(zone).rsplit("/", 1)[-1]


# --- local dates ----------------------------------------------------------------------------


def day(value: date) -> str:
    """'Tuesday 10 March' (the year is plain from the context)."""
    return f"{value:%A} {value.day} {value:%B}"


def day_with_year(value: date) -> str:
    """'Tuesday 10 March 2026'."""
    return f"{day(value)} {value.year}"


def short_day(value: date) -> str:
    """'Tue 10 March'."""
    return f"{value:%a} {value.day} {value:%B}"


def short_day_with_year(value: date) -> str:
    """'Tue 10 March 2026'."""
    return f"{short_day(value)} {value.year}"


def abbreviated_day(value: date) -> str:
    """'Tue 10 Mar', where space is short (the diary's previous and next day buttons)."""
    return f"{value:%a} {short_date(value)}"


def short_date(value: date) -> str:
    """'10 Mar', for chart labels."""
    return f"{value.day} {value:%b}"


def month_year(value: date) -> str:
    """'March 2026'."""
    return f"{value:%B} {value.year}"


def relative_day(value: date, today: date) -> str:
    """'Today, Tuesday 10 March', 'Tomorrow, Wednesday 11 March', else 'Thursday 12 March'."""
    name = day(value)
    if value == today:
        return f"Today, {name}"
    if value == today + timedelta(days=1):
        return f"Tomorrow, {name}"
    return name


def day_range(first: date, last: date) -> str:
    """'4 – 8 March 2026', '30 March – 5 April 2026', '28 December 2026 – 3 January 2027'."""
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day} – {last.day} {month_year(last)}"
    if first.year == last.year:
        return f"{first.day} {first:%B} – {last.day} {month_year(last)}"
    return f"{first.day} {month_year(first)} – {last.day} {month_year(last)}"
