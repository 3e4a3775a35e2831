"""The slot engine: which start times are free. Pure: no Flask, no database.

Days are walked in the practice's time zone and every answer is in UTC. Working hours are
wall-clock ranges per weekday; a slot must fit inside one range on one local date. On the
days the clocks change, a wall-clock time that does not exist (the skipped hour) resolves to
the moment the clocks jump, and the repeated hour is walked in real time, so no slot is
invented in the gap and none is lost or doubled in the overlap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Rules:
    """The practice's booking rules that shape which slots exist."""

    zone: ZoneInfo
    step: timedelta = timedelta(minutes=15)
    min_notice: timedelta = timedelta(hours=12)
    horizon: timedelta = timedelta(weeks=8)


@dataclass(frozen=True)
class WeeklyRange:
    """Working hours on one weekday (0 = Monday), start inclusive, end exclusive."""

    weekday: int
    start: time
    end: time


def resolve(day: date, wall: time, zone: ZoneInfo, *, latest: bool = False) -> datetime:
    """The UTC instant of a wall-clock time on a local date.

    A time in the skipped hour becomes the instant the clocks jump; a time in the repeated
    hour is its first occurrence, or its second when `latest` (used for range ends, so the
    whole repeated hour counts as worked). The one exception is the very first reading of the
    repeated hour (01:00 when 02:00 goes back to 01:00): its second occurrence is the moment
    the clocks go back, when the clock has already read past it, so a range ending there
    ends at its first occurrence.
    """
    local = datetime.combine(day, wall, tzinfo=zone).replace(fold=1 if latest else 0)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        just_before = (instant - timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None)
        if latest and just_before >= local.replace(tzinfo=None):
            return local.replace(fold=0).astimezone(UTC)
        return instant
    # Non-existent wall time. Read with the two offsets it lands on both sides of the jump;
    # find the jump itself (where the offset changes) by bisection, to the second.
    low, high = sorted(local.replace(fold=f).astimezone(UTC) for f in (0, 1))
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def working_intervals(
    hours: Iterable[WeeklyRange], zone: ZoneInfo, first: date, last: date
) -> list[Interval]:
    """Working time between two local dates (inclusive) as sorted UTC intervals."""
    by_day: dict[int, list[WeeklyRange]] = {}
    for item in hours:
        by_day.setdefault(item.weekday, []).append(item)
    intervals: list[Interval] = []
    day = first
    while day <= last:
        for item in sorted(by_day.get(day.weekday(), []), key=lambda r: r.start):
            start = resolve(day, item.start, zone)
            end = resolve(day, item.end, zone, latest=True)
            if end > start:
                intervals.append((start, end))
        day += timedelta(days=1)
    return intervals


def _overlaps(start: datetime, end: datetime, intervals: Sequence[Interval]) -> bool:
    return any(a < end and start < b for a, b in intervals)


def free_slots(
    *,
    rules: Rules,
    hours: Iterable[WeeklyRange],
    time_off: Sequence[Interval],
    busy: Sequence[Interval],
    duration: timedelta,
    buffer: timedelta,
    now: datetime,
    first: date,
    last: date,
) -> list[datetime]:
    """Every free start time (UTC) for a service between two local dates, inclusive.

    A start is offered when the session [start, start + duration) lies inside one working
    range, sits on the step grid counted from that range's start, misses all time off, and
    the session plus its buffer misses every busy interval (which already include their own
    buffers); and it is at least `min_notice` after now and no more than `horizon` ahead.
    """
    earliest = now + rules.min_notice
    latest = now + rules.horizon
    busy = sorted(busy)
    time_off = sorted(time_off)
    slots: list[datetime] = []
    for range_start, range_end in working_intervals(hours, rules.zone, first, last):
        start = range_start
        while start + duration <= range_end:
            end = start + duration
            if (
                earliest <= start <= latest
                and not _overlaps(start, end, time_off)
                and not _overlaps(start, end + buffer, busy)
            ):
                slots.append(start)
            start += rules.step
    return sorted(set(slots))
