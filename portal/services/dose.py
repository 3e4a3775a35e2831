"""The dose of an exercise: its limits, how it is checked and how it is worded.

One home for the rule, so the library, programmes, templates, pages and emails agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Protocol

from portal.models import MOMENTS, Sides
from portal.models.dose import (
    DAYS_PER_WEEK,
    DOSE_LIMITS,
    HOLD_SECONDS,
    LIMITS,
    REPS,
    SCHEDULE_LIMITS,
    SETS,
    TIMES_PER_DAY,
    Limit,
)
from portal.models.programmes import ANY_TIME_LABEL, MOMENT_LABELS
from portal.services.errors import InvalidInput
from portal.services.validation import check_int

# The table of limits is re-exported: forms and templates read it from here.
__all__ = ["DAYS_PER_WEEK", "DOSE_LIMITS", "HOLD_SECONDS", "LIMITS", "REPS", "SCHEDULE_LIMITS",
           "SETS", "TIMES_PER_DAY", "Limit", "check_dose", "check_schedule", "describe_dose",
           "describe_draft", "describe_moments", "describe_schedule"]


class DoseLike(Protocol):
    """Anything with a dose: an Exercise, a ProgrammeItem, a TemplateItem or an ItemInput."""

    hold_seconds: int
    reps: int
    sets: int
    sides: Sides | str


class ScheduleLike(Protocol):
    """Anything with a frequency: a ProgrammeItem, a TemplateItem or an ItemInput."""

    times_per_day: int
    days_per_week: int


def check_dose(hold_seconds: object, reps: object, sets: object, sides: object,
               prefix: str = "") -> tuple[int, int, int, Sides]:
    """Range-check a dose; field names in errors are prefixed (e.g. "items-0-")."""
    hold = _check(HOLD_SECONDS, hold_seconds, prefix)
    reps_ = _check(REPS, reps, prefix)
    sets_ = _check(SETS, sets, prefix)
    if hold == 0 and reps_ == 0:
        raise InvalidInput(f"{prefix}hold_seconds", "Give a hold time or a number of reps.")
    try:
        side = Sides(sides)
    except ValueError as exc:
        raise InvalidInput(f"{prefix}sides",
                           "Choose each side, both sides together or no sides.") from exc
    return hold, reps_, sets_, side


def check_schedule(times_per_day: object, days_per_week: object,
                   prefix: str = "") -> tuple[int, int]:
    """Range-check how often an item is done; field names in errors are prefixed."""
    return _check(TIMES_PER_DAY, times_per_day, prefix), _check(DAYS_PER_WEEK, days_per_week,
                                                                prefix)


def _check(limit: Limit, value: object, prefix: str) -> int:
    """The value as a whole number within the limit, or InvalidInput naming the field."""
    return check_int(value, f"{prefix}{limit.field}", limit.low, limit.high, limit.message)


# --- plain words ----------------------------------------------------------------------------


def describe_dose(item: DoseLike) -> str:
    """The dose in plain words: "30 s each side, 2 rounds", "10 reps, 3 sets", "Hold 45 s"."""
    each = Sides(item.sides) is Sides.EACH_SIDE
    hold, reps, sets = item.hold_seconds, item.reps, item.sets
    if hold and not reps:
        text = f"{hold} s each side" if each else f"Hold {hold} s"
        return f"{text}, {sets} rounds" if sets > 1 else text
    text = f"{reps} rep{'s' if reps != 1 else ''}" + (" each side" if each else "")
    if hold:
        text += f", holding {hold} s"
    return f"{text}, {sets} sets" if sets > 1 else text


def describe_schedule(item: ScheduleLike) -> str:
    """How often in plain words: "Once a day, every day", "Twice a day, 5 days a week"."""
    times = {1: "Once a day", 2: "Twice a day"}.get(item.times_per_day,
                                                      f"{item.times_per_day} times a day")
    days = item.days_per_week
    return f"{times}, " + ("every day" if days == 7 else f"{days} day{'s' if days > 1 else ''} "
                                                         "a week")


def describe_draft(hold_seconds: object, reps: object, sets: object, sides: object,
                   times_per_day: object, days_per_week: object) -> tuple[str, str]:
    """The dose and how often in plain words, or two empty strings until the values would
    pass the checks (a half-typed dose is not worth putting into words)."""
    try:
        hold, reps_, sets_, side = check_dose(hold_seconds, reps, sets, sides)
        times, days = check_schedule(times_per_day, days_per_week)
    except InvalidInput:
        return "", ""
    item = SimpleNamespace(hold_seconds=hold, reps=reps_, sets=sets_, sides=side,
                           times_per_day=times, days_per_week=days)
    return describe_dose(item), describe_schedule(item)


def describe_moments(moments: Sequence[str]) -> str:
    """"Morning, before bed" or "Any time"."""
    labels = [MOMENT_LABELS[m] for m in MOMENTS if m.value in moments]
    if not labels:
        return ANY_TIME_LABEL
    text = ", ".join(labels)
    return text[0] + text[1:].lower()
