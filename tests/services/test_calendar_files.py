"""Calendar files read the same in every parser: each zone's transitions one RDATE per line, so
a reader that takes only the first value of a line (as ical.js does) still finds every clock
change, and an invitation names its attendee (RFC 5546). Without a database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from portal.services.calendar import add_timezones


def unfolded(text: str) -> list[str]:
    """The content lines of an .ics text, with folded continuations joined."""
    return re.sub(r"\r?\n[ \t]", "", text).splitlines()


def first_value_offsets(text: str) -> list[tuple[datetime, timedelta]]:
    """Each observance's onsets (local wall time) and the offset it starts, read the way a
    parser that takes only the first value of every RDATE line reads them."""
    onsets, offset, block = [], None, None
    for line in unfolded(text):
        if line in ("BEGIN:STANDARD", "BEGIN:DAYLIGHT"):
            block, offset = [], None
        elif line in ("END:STANDARD", "END:DAYLIGHT"):
            onsets += [(when, offset) for when in block]
            block = None
        elif block is not None:
            name, _, value = line.partition(":")
            if name in ("DTSTART", "RDATE"):
                block.append(datetime.strptime(value.split(",")[0], "%Y%m%dT%H%M%S"))
            elif name == "TZOFFSETTO":
                sign = -1 if value[0] == "-" else 1
                offset = sign * timedelta(hours=int(value[1:3]), minutes=int(value[3:5]))
    return sorted(onsets)


def utc_by_reader(text: str, local: datetime) -> datetime:
    """The UTC instant such a reader gives a local wall time in the file's VTIMEZONE."""
    offset = [offset for onset, offset in first_value_offsets(text) if onset <= local][-1]
    return (local - offset).replace(tzinfo=UTC)


@pytest.mark.parametrize("zone_name", ["Europe/London", "America/New_York", "Australia/Sydney"])
def test_every_instant_reads_as_zoneinfo_says_across_the_next_clock_changes(zone_name):
    zone = ZoneInfo(zone_name)
    cal = Calendar()
    cal.add("prodid", "-//test//EN")
    cal.add("version", "2.0")
    start = datetime(2026, 12, 5, 11, 30)  # a winter Saturday in London, summer in Sydney
    locals_ = [start + timedelta(days=7 * week) for week in range(0, 110, 3)]
    for n, local in enumerate(locals_):
        event = Event()
        event.add("uid", f"{n}@test")
        event.add("dtstamp", datetime(2026, 12, 1, tzinfo=UTC))
        event.add("dtstart", local.replace(tzinfo=zone))
        cal.add_component(event)
    add_timezones(cal)
    text = cal.to_ical().decode()

    assert not [line for line in unfolded(text) if line.startswith("RDATE") and "," in line]
    offsets = {local.replace(tzinfo=zone).utcoffset() for local in locals_}
    assert len(offsets) == 2  # the dates really cross clock changes
    for local in locals_:
        assert utc_by_reader(text, local) == local.replace(tzinfo=zone).astimezone(UTC), local
