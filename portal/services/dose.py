"""The dose of an exercise: its limits, how it is checked and how it is worded.

One home for the rule, so the library, programmes, templates, pages and emails agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from portal.models import MOMENTS, Sides
from portal.models.library import HOLD_SECONDS_MAX, REPS_MAX, SETS_MAX, SETS_MIN
from portal.models.programmes import ANY_TIME_LABEL, MOMENT_LABELS
from portal.services.errors import InvalidInput
from portal.services.validation import check_int


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
    hold = check_int(hold_seconds, f"{prefix}hold_seconds", 0, HOLD_SECONDS_MAX,
                     f"Hold for 0 to {HOLD_SECONDS_MAX} seconds.")
    reps_ = check_int(reps, f"{prefix}reps", 0, REPS_MAX, f"Use 0 to {REPS_MAX} reps.")
    sets_ = check_int(sets, f"{prefix}sets", SETS_MIN, SETS_MAX,
                      f"Use {SETS_MIN} to {SETS_MAX} sets or rounds.")
    if hold == 0 and reps_ == 0:
        raise InvalidInput(f"{prefix}hold_seconds", "Give a hold time or a number of reps.")
    try:
        side = Sides(sides)
    except ValueError as exc:
        raise InvalidInput(f"{prefix}sides",
                           "Choose each side, both sides together or no sides.") from exc
    return hold, reps_, sets_, side


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


def describe_moments(moments: Sequence[str]) -> str:
    """"Morning, before bed" or "Any time"."""
    labels = [MOMENT_LABELS[m] for m in MOMENTS if m.value in moments]
    if not labels:
        return ANY_TIME_LABEL
    text = ", ".join(labels)
    return text[0] + text[1:].lower()
