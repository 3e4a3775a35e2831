"""Template filters and globals that word dates and times, in the practice's time zone.

The wording itself lives in portal.services.wording, which emails and flash messages use too;
this module only supplies the request's zone."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from portal.services import wording
from portal.services.booking import format_price
from portal.web.deps import practice_zone


def local_date(value: datetime | None) -> str:
    """'Tue 3 March 2026' in the practice's zone."""
    return "" if value is None else wording.date_with_year(value, practice_zone())


def local_datetime(value: datetime | None) -> str:
    """'Tue 3 March 2026, 14:30' in the practice's zone."""
    return "" if value is None else wording.timestamp(value, practice_zone())


def local_day(value: datetime | None) -> str:
    """'Wednesday 4 March' in the practice's zone (the year is plain from the context)."""
    return "" if value is None else wording.day(wording.local(value, practice_zone()).date())


def local_time(value: datetime | None) -> str:
    """'09:15' in the practice's zone."""
    return "" if value is None else wording.clock(value, practice_zone())


def local_when(value: datetime | None) -> str:
    """'Wednesday 4 March at 09:15' in the practice's zone, as emails and flashes say it."""
    return "" if value is None else wording.day_and_time(value, practice_zone())


def price(pence: int | None) -> str:
    """'£45' or '£45.50'."""
    return "" if pence is None else format_price(pence)


# Filters for dates that are already local (a log's day, a calendar cell): no zone involved.
DATE_FILTERS = {
    "day": wording.day,
    "day_with_year": wording.day_with_year,
    "short_day": wording.short_day,
    "abbreviated_day": wording.abbreviated_day,
    "short_date": wording.short_date,
    "month_year": wording.month_year,
}


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.add_template_filter(local_date)
    app.add_template_filter(local_datetime)
    app.add_template_filter(local_day)
    app.add_template_filter(local_time)
    app.add_template_filter(local_when)
    app.add_template_filter(price)
    app.add_template_filter(wording.iso, "iso")
    app.add_template_filter(wording.parse_iso, "parse_iso")
    app.add_template_filter(wording.zone_name, "zone_name")
    app.add_template_filter(wording.zone_place, "zone_place")
    # Templates name the zone and hand it to scripts through this, never the row's raw column.
    app.add_template_global(practice_zone)
    for name, function in DATE_FILTERS.items():
        app.add_template_filter(function, name)
