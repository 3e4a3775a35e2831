"""Date and time wording: the exact strings pages, emails and flashes show, in the practice's
zone, including the days the clocks change in Europe/London and instants either side of a
local midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from portal.models import Practice
from portal.services import practice as practice_service
from portal.services import wording

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- instants --------------------------------------------------------------------------------


@pytest.mark.parametrize(("instant", "expected"), [
    (utc(2026, 3, 10, 14, 30), "14:30"),               # GMT: UTC and London agree
    (utc(2026, 7, 10, 14, 30), "15:30"),               # BST: an hour ahead
    (utc(2026, 3, 29, 0, 59), "00:59"),                # the last minute of GMT
    (utc(2026, 3, 29, 1, 0), "02:00"),                 # 01:00 local never happens
    (utc(2026, 10, 25, 0, 30), "01:30"),               # the first 01:30 (BST)...
    (utc(2026, 10, 25, 1, 30), "01:30"),               # ...and the second (GMT)
    (utc(2026, 3, 10, 9, 5), "09:05"),                 # a leading zero, 24-hour clock
])
def test_clock_is_the_wall_clock_time_in_london(instant, expected):
    assert wording.clock(instant, LONDON) == expected


def test_clock_time_words_a_local_time_of_day():
    assert wording.clock_time(time(9, 30)) == "09:30"
    assert wording.clock_time(time(0, 0)) == "00:00"


@pytest.mark.parametrize(("instant", "expected"), [
    (utc(2026, 3, 10, 14, 30), "Tuesday 10 March at 14:30"),
    # The first session after the spring change: 09:00 BST is 08:00 UTC.
    (utc(2026, 3, 29, 8, 0), "Sunday 29 March at 09:00"),
    (utc(2026, 10, 25, 9, 0), "Sunday 25 October at 09:00"),
    # 23:30 UTC in summer is already the next day in London.
    (utc(2026, 6, 30, 23, 30), "Wednesday 1 July at 00:30"),
])
def test_day_and_time_is_what_emails_and_flashes_say(instant, expected):
    assert wording.day_and_time(instant, LONDON) == expected


def test_the_same_instant_reads_in_the_practices_own_zone():
    instant = utc(2026, 3, 10, 3, 15)
    assert wording.day_and_time(instant, LONDON) == "Tuesday 10 March at 03:15"
    assert wording.day_and_time(instant, NEW_YORK) == "Monday 9 March at 23:15"


@pytest.mark.parametrize(("instant", "expected"), [
    (utc(2026, 3, 3, 14, 30), "Tue 3 March 2026, 14:30"),
    (utc(2026, 3, 28, 23, 59), "Sat 28 March 2026, 23:59"),   # the last GMT midnight edge
    (utc(2026, 3, 29, 23, 0), "Mon 30 March 2026, 00:00"),    # BST midnight is 23:00 UTC
    (utc(2026, 12, 31, 23, 59), "Thu 31 December 2026, 23:59"),
    (utc(2027, 1, 1, 0, 0), "Fri 1 January 2027, 00:00"),
])
def test_timestamp_and_date_with_year(instant, expected):
    assert wording.timestamp(instant, LONDON) == expected
    assert wording.date_with_year(instant, LONDON) == expected.split(",")[0]


def test_iso_is_the_stored_instant_to_the_second():
    assert wording.iso(utc(2026, 3, 10, 14, 30)) == "2026-03-10T14:30:00+00:00"
    # HTML's <time datetime> allows at most three digits of a fraction of a second.
    stored = utc(2026, 12, 4, 19, 32).replace(second=56, microsecond=122297)
    assert wording.iso(stored) == "2026-12-04T19:32:56+00:00"


# --- periods ---------------------------------------------------------------------------------


def local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON).astimezone(UTC)


@pytest.mark.parametrize(("start", "end", "expected"), [
    (local(date(2026, 4, 6)), local(date(2026, 4, 7)), "Mon 6 April (whole day)"),
    (local(date(2026, 4, 6)), local(date(2026, 4, 11)), "Mon 6 April – Fri 10 April (whole days)"),
    (local(date(2026, 4, 6), 14), local(date(2026, 4, 6), 17), "Mon 6 April, 14:00–17:00"),
    (local(date(2026, 4, 6), 14), local(date(2026, 4, 7), 9),
     "Mon 6 April, 14:00 – Tue 7 April, 09:00"),
    # A whole day on each clock-change day is 23 and 25 hours long; still one whole day.
    (local(date(2026, 3, 29)), local(date(2026, 3, 30)), "Sun 29 March (whole day)"),
    (local(date(2026, 10, 25)), local(date(2026, 10, 26)), "Sun 25 October (whole day)"),
    (local(date(2026, 3, 28)), local(date(2026, 3, 30)),
     "Sat 28 March – Sun 29 March (whole days)"),
])
def test_span_words_time_off(start, end, expected):
    assert wording.span(start, end, LONDON) == expected


# --- local dates -----------------------------------------------------------------------------


def test_each_wording_of_a_day():
    day = date(2026, 3, 10)
    assert wording.day(day) == "Tuesday 10 March"
    assert wording.day_with_year(day) == "Tuesday 10 March 2026"
    assert wording.short_day(day) == "Tue 10 March"
    assert wording.short_day_with_year(day) == "Tue 10 March 2026"
    assert wording.abbreviated_day(day) == "Tue 10 Mar"
    assert wording.short_date(day) == "10 Mar"
    assert wording.month_year(day) == "March 2026"


def test_single_digit_days_have_no_leading_zero():
    assert wording.day(date(2026, 3, 1)) == "Sunday 1 March"
    assert wording.short_date(date(2026, 3, 1)) == "1 Mar"


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 3, 28), "Saturday 28 March"),          # yesterday has no prefix
    (date(2026, 3, 29), "Today, Sunday 29 March"),
    (date(2026, 3, 30), "Tomorrow, Monday 30 March"),
    (date(2026, 3, 31), "Tuesday 31 March"),
])
def test_relative_day(day, expected):
    assert wording.relative_day(day, today=date(2026, 3, 29)) == expected


def test_relative_day_across_a_year_end():
    assert wording.relative_day(date(2027, 1, 1), today=date(2026, 12, 31)) == (
        "Tomorrow, Friday 1 January")


@pytest.mark.parametrize(("first", "last", "expected"), [
    (date(2026, 3, 2), date(2026, 3, 8), "2 – 8 March 2026"),
    (date(2026, 3, 30), date(2026, 4, 5), "30 March – 5 April 2026"),
    (date(2026, 12, 28), date(2027, 1, 3), "28 December 2026 – 3 January 2027"),
])
def test_day_range(first, last, expected):
    assert wording.day_range(first, last) == expected


# --- the practice's zone ---------------------------------------------------------------------


@pytest.mark.parametrize(("stored", "expected"), [
    ("America/New_York", "America/New_York"),
    ("Europe/London", "Europe/London"),
    ("Not/AZone", "Europe/London"),            # a key the zone database doesn't have
    ("../../etc/passwd", "Europe/London"),     # not even a key's shape
])
def test_zone_of_a_practice_falls_back_to_london_only_when_unknown(stored, expected):
    assert practice_service.zone_of(Practice(name="P", timezone=stored)).key == expected


def test_zone_before_the_practice_exists_is_london():
    assert practice_service.zone_of(None).key == "Europe/London"


@pytest.mark.parametrize(("key", "name", "place"), [
    ("Europe/London", "Europe/London", "London"),
    ("America/New_York", "America/New York", "New York"),
    ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos Aires", "Buenos Aires"),
    ("UTC", "UTC", "UTC"),
])
def test_zone_names(key, name, place):
    assert wording.zone_name(ZoneInfo(key)) == name
    assert wording.zone_place(ZoneInfo(key)) == place
