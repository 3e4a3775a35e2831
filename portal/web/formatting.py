"""Template filters that show UTC times in the practice's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g

from portal.services.booking import format_price
from portal.web.deps import practice


def practice_zone() -> ZoneInfo:
    """The practice's zone, looked up once per request."""
    if "practice_zone" not in g:
        row = practice()
        g.practice_zone = ZoneInfo(row.timezone if row else current_app.config["PRACTICE_TIMEZONE"])
    return g.practice_zone


def local_date(value: datetime | None) -> str:
    """'Tue 3 March 2026' in the practice's zone."""
    if value is None:
        return ""
    local = value.astimezone(practice_zone())
    return f"{local:%a} {local.day} {local:%B %Y}"


def local_datetime(value: datetime | None) -> str:
    """'Tue 3 March 2026, 14:30' in the practice's zone."""
    if value is None:
        return ""
    local = value.astimezone(practice_zone())
    return f"{local_date(value)}, {local:%H:%M}"


def local_day(value: datetime | None) -> str:
    """'Wednesday 4 March' in the practice's zone (the year is plain from the context)."""
    if value is None:
        return ""
    local = value.astimezone(practice_zone())
    return f"{local:%A} {local.day} {local:%B}"


def local_time(value: datetime | None) -> str:
    """'09:15' in the practice's zone."""
    if value is None:
        return ""
    return f"{value.astimezone(practice_zone()):%H:%M}"


def price(pence: int | None) -> str:
    """'£45' or '£45.50'."""
    return "" if pence is None else format_price(pence)


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.add_template_filter(local_date)
    app.add_template_filter(local_datetime)
    app.add_template_filter(local_day)
    app.add_template_filter(local_time)
    app.add_template_filter(price)
