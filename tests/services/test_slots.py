"""The slot engine against a brute-force oracle, on ordinary days and on clock-change days.

The oracle shares no code with the engine. It walks real time minute by minute and reads the
local wall clock to find working time, then checks each booking rule directly for every
minute-aligned instant. Working time of a weekly range on a local date is the stretch from
the first minute the clock on that date reads a time inside the range to the end of the last
such minute. That is the engine's documented reading ("the whole repeated hour counts as
worked"): it differs from a stricter minute-by-minute reading only when a range boundary
falls strictly inside the repeated hour, where the stricter one would cut a hole in the
middle of a shift (see test_range_ending_inside_the_repeated_hour_is_one_stretch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portal.services.slots import Interval, Rules, WeeklyRange, free_slots

MINUTE = timedelta(minutes=1)
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SPRING_LONDON = date(2026, 3, 29)  # 01:00 GMT -> 02:00 BST
AUTUMN_LONDON = date(2026, 10, 25)  # 02:00 BST -> 01:00 GMT
SPRING_NEW_YORK = date(2026, 3, 8)  # 02:00 EST -> 03:00 EDT
AUTUMN_NEW_YORK = date(2026, 11, 1)  # 02:00 EDT -> 01:00 EST
ORDINARY_DAYS = (date(2026, 1, 14), date(2026, 6, 3), date(2026, 12, 30))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def wall(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%H:%M")


# --- the oracle ---------------------------------------------------------------------------


@cache
def _clock_readings(zone: ZoneInfo, day: date) -> tuple[tuple[datetime, int], ...]:
    """Every UTC minute whose local date is `day`, with the local minute of the day it reads."""
    readings = []
    instant = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=15)
    stop = instant + timedelta(hours=15 + 24 + 15)
    while instant < stop:
        local = instant.astimezone(zone)
        if local.date() == day:
            readings.append((instant, local.hour * 60 + local.minute))
        instant += MINUTE
    return tuple(readings)


def _minute_of_day(value: time) -> int:
    return value.hour * 60 + value.minute


def working_stretches(zone: ZoneInfo, hours: Sequence[WeeklyRange], first: date,
                      last: date) -> list[Interval]:
    """Real-time working stretches, one per weekly range per local date in [first, last]."""
    stretches = []
    day = first
    while day <= last:
        readings = _clock_readings(zone, day)
        for item in hours:
            if item.weekday != day.weekday():
                continue
            low, high = _minute_of_day(item.start), _minute_of_day(item.end)
            inside = [instant for instant, minute in readings if low <= minute < high]
            if inside:
                stretches.append((inside[0], inside[-1] + MINUTE))
        day += timedelta(days=1)
    return stretches


@dataclass(frozen=True)
class Case:
    """One input to the engine."""

    zone: ZoneInfo
    hours: tuple[WeeklyRange, ...]
    time_off: tuple[Interval, ...]
    busy: tuple[Interval, ...]
    duration: timedelta
    buffer: timedelta
    step: timedelta
    notice: timedelta
    horizon: timedelta
    now: datetime
    first: date
    last: date

    def run(self) -> list[datetime]:
        return free_slots(
            rules=Rules(zone=self.zone, step=self.step, min_notice=self.notice,
                        horizon=self.horizon),
            hours=self.hours, time_off=self.time_off, busy=self.busy,
            duration=self.duration, buffer=self.buffer, now=self.now,
            first=self.first, last=self.last,
        )


def _hits(start: datetime, end: datetime, interval: Interval) -> bool:
    """Does any minute of [start, end) fall in the interval? (All inputs are minute-aligned.)"""
    minute = start
    while minute < end:
        if interval[0] <= minute < interval[1]:
            return True
        minute += MINUTE
    return False


def broken_rule(case: Case, stretches: Sequence[Interval], start: datetime) -> str | None:
    """The first rule a session starting at `start` breaks, or None when it may be offered."""
    if start.tzinfo is None or start.utcoffset() != timedelta(0):
        return "not an aware UTC time"
    if start.second or start.microsecond:
        return "not on a whole minute"
    end = start + case.duration
    if not any(a <= start and end <= b for a, b in stretches):
        return "not inside one working range"
    if not any(a <= start and end <= b and (start - a) % case.step == timedelta(0)
               for a, b in stretches):
        return "off the step grid of every range it fits in"
    if any(_hits(start, end, interval) for interval in case.time_off):
        return "overlaps time off"
    if any(_hits(start, end + case.buffer, interval) for interval in case.busy):
        return "it or its buffer overlaps a busy interval"
    if start < case.now + case.notice:
        return "too soon (minimum notice)"
    if start > case.now + case.horizon:
        return "beyond the horizon"
    return None


def expected_slots(case: Case, stretches: Sequence[Interval]) -> list[datetime]:
    """Every minute-aligned instant during working time that meets every rule."""
    if not stretches:
        return []
    start = min(a for a, _ in stretches)
    stop = max(b for _, b in stretches)
    found = []
    while start < stop:
        if broken_rule(case, stretches, start) is None:
            found.append(start)
        start += MINUTE
    return found


def check_against_oracle(case: Case) -> list[datetime]:
    """Run the engine and assert soundness, completeness and the shape of the answer."""
    offered = case.run()
    assert offered == sorted(offered), "slots are not sorted"
    assert len(offered) == len(set(offered)), "a slot is offered twice"
    for slot in offered:
        assert slot.tzinfo is UTC, f"{slot!r} is not aware UTC"
    stretches = working_stretches(case.zone, case.hours, case.first, case.last)
    for slot in offered:  # soundness
        problem = broken_rule(case, stretches, slot)
        assert problem is None, f"offered {slot} ({wall(slot, case.zone)} local): {problem}"
    missing = sorted(set(expected_slots(case, stretches)) - set(offered))  # completeness
    assert not missing, "not offered: " + ", ".join(
        f"{m:%Y-%m-%d %H:%M}Z ({wall(m, case.zone)} local)" for m in missing[:5])
    return offered


# --- strategies ---------------------------------------------------------------------------

minute_of_day = st.one_of(
    st.integers(0, 1439),  # anywhere, off any grid
    st.integers(0, 95).map(lambda q: q * 15),  # quarter hours, as people set them
    st.integers(0, 240),  # the small hours, where the clocks change
    st.integers(50, 190),  # in, or a few minutes either side of, a skipped or repeated hour
    st.sampled_from([60, 120, 180]),  # exactly where the clocks change, from or to
)
# For the clock-change tests: ranges in the small hours, often exactly on a change.
night_minute = st.one_of(st.integers(0, 240), st.sampled_from([0, 60, 120, 180]))


@st.composite
def weekly_hours(draw, minutes=minute_of_day, weekdays=range(7)) -> tuple[WeeklyRange, ...]:
    ranges = []
    for weekday in weekdays:
        for _ in range(draw(st.integers(0, 3))):
            a, b = draw(minutes), draw(minutes)
            low, high = min(a, b), min(max(a, b), 1439)
            if low < high:
                ranges.append(WeeklyRange(weekday, time(low // 60, low % 60),
                                          time(high // 60, high % 60)))
    return tuple(ranges)


@st.composite
def intervals(draw, origin: datetime, span_minutes: int, most: int) -> tuple[Interval, ...]:
    found = []
    for _ in range(draw(st.integers(0, most))):
        offset = draw(st.integers(-360, span_minutes + 360))
        length = draw(st.one_of(st.integers(1, 120), st.integers(1, 1440)))
        start = origin + timedelta(minutes=offset)
        found.append((start, start + timedelta(minutes=length)))
    return tuple(found)


CHANGES = ((LONDON, SPRING_LONDON), (LONDON, AUTUMN_LONDON), (NEW_YORK, SPRING_NEW_YORK),
           (NEW_YORK, AUTUMN_NEW_YORK))
ORDINARY = tuple((zone, day) for zone in (LONDON, NEW_YORK) for day in ORDINARY_DAYS)


@st.composite
def cases(draw, places=CHANGES + ORDINARY, hours=None, cover=False) -> Case:
    """A zone and a window of one to three local dates near one of `places`' dates (always
    including it when `cover`), weekly hours, time off, busy intervals and rules."""
    zone, day = draw(st.sampled_from(places))
    span = draw(st.integers(0, 2))
    shift = draw(st.integers(-span, 0) if cover else st.integers(-1, 1))
    first = day + timedelta(days=shift)
    last = first + timedelta(days=span)
    origin = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    span_minutes = (span + 1) * 1440
    # Mostly a `now` before the window with little notice and a far horizon, so most
    # examples offer slots; sometimes notice and horizon cut through the window.
    now = origin + timedelta(seconds=draw(st.one_of(
        st.integers(-2 * 86400, 0), st.integers(-2 * 86400, 3 * 86400))))
    return Case(
        zone=zone,
        hours=draw(weekly_hours() if hours is None else hours),
        time_off=draw(intervals(origin, span_minutes, 2)),
        busy=draw(intervals(origin, span_minutes, 6)),
        duration=timedelta(minutes=draw(st.one_of(st.integers(5, 60), st.integers(5, 180)))),
        buffer=timedelta(minutes=draw(st.integers(0, 60))),
        step=timedelta(minutes=draw(st.sampled_from([5, 10, 15, 30]))),
        notice=timedelta(minutes=draw(st.one_of(st.just(0), st.integers(0, 2 * 1440)))),
        horizon=timedelta(minutes=draw(st.one_of(st.just(60 * 1440),
                                                 st.integers(0, 5 * 1440)))),
        now=now,
        first=first,
        last=last,
    )


# Bounded, so the whole file runs in seconds.
ORACLE_SETTINGS = settings(max_examples=200, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow])


def _night_shift(zone: ZoneInfo, day: date) -> Case:
    """A Sunday range across the small hours, no other rules in the way."""
    return Case(
        zone=zone, hours=(WeeklyRange(6, time(0, 30), time(3, 30)),), time_off=(), busy=(),
        duration=timedelta(minutes=30), buffer=timedelta(0), step=timedelta(minutes=15),
        notice=timedelta(0), horizon=timedelta(days=30),
        now=datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=2), first=day, last=day,
    )


def _until_the_clocks_go_back(zone: ZoneInfo, day: date) -> Case:
    """Hours ending at 01:00 on the night 02:00 goes back to 01:00 (found by this test)."""
    return Case(
        zone=zone, hours=(WeeklyRange(6, time(0), time(1)),), time_off=(), busy=(),
        duration=timedelta(minutes=5), buffer=timedelta(0), step=timedelta(minutes=5),
        notice=timedelta(0), horizon=timedelta(days=60),
        now=datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=1), first=day, last=day,
    )


@ORACLE_SETTINGS
@given(case=cases())
@example(case=_until_the_clocks_go_back(NEW_YORK, AUTUMN_NEW_YORK))
@example(case=_until_the_clocks_go_back(LONDON, AUTUMN_LONDON))
@example(case=_night_shift(LONDON, SPRING_LONDON))
@example(case=_night_shift(LONDON, AUTUMN_LONDON))
@example(case=_night_shift(NEW_YORK, SPRING_NEW_YORK))
@example(case=_night_shift(NEW_YORK, AUTUMN_NEW_YORK))
def test_every_offered_slot_meets_every_rule_and_every_valid_start_is_offered(case):
    check_against_oracle(case)


@ORACLE_SETTINGS
@given(case=cases(places=CHANGES[:2], cover=True))
def test_oracle_agrees_on_the_london_clock_change_days(case):
    check_against_oracle(case)


# Every change day here is a Sunday: most ranges go there, a few on the days either side.
@ORACLE_SETTINGS
@given(case=cases(places=CHANGES, cover=True,
                  hours=weekly_hours(night_minute, weekdays=(6, 6, 6, 5, 0))))
def test_oracle_agrees_on_night_hours_across_the_clock_changes(case):
    check_against_oracle(case)


# --- worked examples ----------------------------------------------------------------------

LONG_AGO = utc(2026, 1, 1)


def _slots(hours, day, *, zone=LONDON, duration=30, buffer=0, step=15, time_off=(),
           busy=(), now=LONG_AGO, notice=timedelta(0), horizon=timedelta(days=366),
           last=None):
    return free_slots(
        rules=Rules(zone=zone, step=timedelta(minutes=step), min_notice=notice,
                    horizon=horizon),
        hours=hours, time_off=list(time_off), busy=list(busy),
        duration=timedelta(minutes=duration), buffer=timedelta(minutes=buffer), now=now,
        first=day, last=last or day,
    )


def test_no_slot_in_the_skipped_hour_on_29_march():
    slots = _slots([WeeklyRange(6, time(0), time(4))], SPRING_LONDON)
    # 00:00 GMT is 00:00Z; 04:00 BST is 03:00Z: three real hours of work.
    assert slots[0] == utc(2026, 3, 29, 0, 0)
    assert slots[-1] == utc(2026, 3, 29, 2, 30)
    assert len(slots) == 11
    walls = [wall(s, LONDON) for s in slots]
    assert not [w for w in walls if w.startswith("01:")]
    assert walls == ["00:00", "00:15", "00:30", "00:45", "02:00", "02:15", "02:30", "02:45",
                     "03:00", "03:15", "03:30"]
    # 00:45 GMT + 30 minutes of real time ends at 02:15 BST: a real half hour, allowed.
    assert all(b - a == timedelta(minutes=15) for a, b in zip(slots, slots[1:], strict=False))


def test_hours_inside_the_skipped_hour_give_nothing_and_a_range_starting_in_it_starts_at_the_jump():
    assert _slots([WeeklyRange(6, time(1), time(2))], SPRING_LONDON) == []
    assert _slots([WeeklyRange(6, time(1, 10), time(1, 50))], SPRING_LONDON) == []
    slots = _slots([WeeklyRange(6, time(1, 30), time(3))], SPRING_LONDON)
    assert [wall(s, LONDON) for s in slots] == ["02:00", "02:15", "02:30"]
    assert slots[0] == utc(2026, 3, 29, 1, 0)


def test_repeated_hour_on_25_october_each_instant_once_nothing_lost():
    slots = _slots([WeeklyRange(6, time(0), time(4))], AUTUMN_LONDON)
    # 00:00 BST is 23:00Z the day before; 04:00 GMT is 04:00Z: five real hours.
    assert slots[0] == utc(2026, 10, 24, 23, 0)
    assert slots[-1] == utc(2026, 10, 25, 3, 30)
    assert len(slots) == len(set(slots)) == 19
    assert all(b - a == timedelta(minutes=15) for a, b in zip(slots, slots[1:], strict=False))
    walls = [wall(s, LONDON) for s in slots]
    # The clock reads 01:00-01:45 twice; each real instant is offered exactly once.
    assert walls.count("01:00") == walls.count("01:45") == 2
    assert [s for s in slots if wall(s, LONDON) == "01:30"] == [
        utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]


def test_range_ending_inside_the_repeated_hour_is_one_stretch():
    # 00:30-01:30 on 25 October: from 00:30 BST (23:30Z) until the clock last reads 01:30
    # (01:30 GMT): two real hours, with no hole while the clock shows 01:30-01:59 BST.
    slots = _slots([WeeklyRange(6, time(0, 30), time(1, 30))], AUTUMN_LONDON, duration=60,
                   step=30)
    assert slots == [utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 0),
                     utc(2026, 10, 25, 0, 30)]


def test_hours_ending_as_the_clocks_go_back_end_at_the_first_one_oclock():
    # 00:00-01:00 on 25 October: the clock reads 01:00 for the first time at 00:00Z and the
    # range is over; 01:00-01:59 BST is after its end, however often the clock shows 01:00.
    slots = _slots([WeeklyRange(6, time(0), time(1))], AUTUMN_LONDON)
    assert slots == [utc(2026, 10, 24, 23, 0), utc(2026, 10, 24, 23, 15),
                     utc(2026, 10, 24, 23, 30)]
    assert [wall(s, LONDON) for s in slots] == ["00:00", "00:15", "00:30"]
    new_york = _slots([WeeklyRange(6, time(0), time(1))], AUTUMN_NEW_YORK, zone=NEW_YORK)
    assert [wall(s, NEW_YORK) for s in new_york] == ["00:00", "00:15", "00:30"]


def test_busy_interval_in_the_repeated_hour_blocks_only_its_own_instants():
    first_one_oclock = utc(2026, 10, 25, 0, 0)  # 01:00 BST
    slots = _slots([WeeklyRange(6, time(0), time(4))], AUTUMN_LONDON,
                   busy=[(first_one_oclock, first_one_oclock + timedelta(minutes=60))])
    walls = [wall(s, LONDON) for s in slots]
    assert utc(2026, 10, 25, 1, 0) in slots  # 01:00 GMT, the second one, is free
    assert first_one_oclock not in slots
    assert walls.count("01:00") == 1


def test_new_york_clock_changes():
    spring = _slots([WeeklyRange(6, time(1), time(4))], SPRING_NEW_YORK, zone=NEW_YORK)
    assert not [s for s in spring if wall(s, NEW_YORK).startswith("02:")]
    assert len(spring) == 7  # two real hours: 01:00 EST (06:00Z) to 04:00 EDT (08:00Z)
    autumn = _slots([WeeklyRange(6, time(1), time(2))], AUTUMN_NEW_YORK, zone=NEW_YORK)
    assert autumn[0] == utc(2026, 11, 1, 5, 0) and autumn[-1] == utc(2026, 11, 1, 6, 30)
    assert len(autumn) == len(set(autumn)) == 7


WORKDAY = [WeeklyRange(0, time(9), time(13)), WeeklyRange(0, time(14), time(18))]


def test_ordinary_day_with_lunch_in_winter_and_summer():
    for monday, offset in ((date(2026, 1, 12), 0), (date(2026, 7, 13), 1)):
        slots = _slots(WORKDAY, monday, duration=60, buffer=15)
        walls = [wall(s, LONDON) for s in slots]
        assert walls[0] == "09:00" and walls[-1] == "17:00"
        assert "12:00" in walls and "12:15" not in walls and "13:30" not in walls
        assert len(slots) == 26
        assert slots[0].hour == 9 - offset


def test_buffers_time_off_notice_and_horizon_on_an_ordinary_day():
    monday = date(2026, 1, 12)
    booked = (utc(2026, 1, 12, 10, 0), utc(2026, 1, 12, 11, 15))  # 60 minutes + 15 buffer
    dentist = (utc(2026, 1, 12, 15, 0), utc(2026, 1, 12, 16, 0))
    slots = _slots(WORKDAY, monday, duration=60, buffer=15, busy=[booked], time_off=[dentist])
    walls = [wall(s, LONDON) for s in slots]
    # 09:00 would run to 10:00 and its buffer to 10:15, into the 10:00 booking.
    assert walls[:4] == ["11:15", "11:30", "11:45", "12:00"]
    # The afternoon: 14:00 ends at 15:00 exactly (time off is not a buffer), then after 16:00.
    assert [w for w in walls if w >= "14:00"] == ["14:00", "16:00", "16:15", "16:30", "16:45",
                                                 "17:00"]
    now = utc(2026, 1, 11, 23, 0)
    noticed = _slots(WORKDAY, monday, now=now, notice=timedelta(hours=12), duration=60)
    assert noticed[0] == utc(2026, 1, 12, 11, 0)
    horizon = _slots(WORKDAY, monday, now=now, notice=timedelta(0), duration=60,
                     horizon=timedelta(hours=11))
    assert horizon[-1] == utc(2026, 1, 12, 10, 0)  # exactly at the horizon is still offered


def test_several_days_sorted_and_days_without_hours_empty():
    slots = _slots(WORKDAY, date(2026, 1, 10), last=date(2026, 1, 13), duration=60)
    assert slots == sorted(slots)
    assert {s.date() for s in slots} == {date(2026, 1, 12)}  # Saturday..Tuesday, Mondays only
