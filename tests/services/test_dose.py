"""The table of dose limits is the one source: check_dose, check_schedule, the programme form's
plain words and the migrated database all allow exactly its ranges and say its messages.

Nothing here changes the table; each test reads its bounds and tries the values just
inside and just outside them."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import IntegrityError

from portal.models import Exercise, ProgrammeTemplate, Sides, TemplateItem
from portal.services import dose
from portal.services.errors import InvalidInput

# A dose and schedule every check accepts, to vary one field at a time.
VALID = {"hold_seconds": 30, "reps": 0, "sets": 2, "sides": Sides.EACH_SIDE,
         "times_per_day": 1, "days_per_week": 7}


def test_the_table_covers_every_limited_field():
    assert list(dose.LIMITS) == ["hold_seconds", "reps", "sets", "times_per_day",
                                 "days_per_week"]
    for name, limit in dose.LIMITS.items():
        assert limit.field == name
        assert limit.low < limit.high
        assert str(limit.low) in limit.message and str(limit.high) in limit.message


def _with(**changes) -> dict:
    values = {**VALID, **changes}
    # No hold needs some reps, a rule of its own that must not be what refuses a value.
    if values["hold_seconds"] <= 0 and values["reps"] <= 0:
        values["reps"] = 1
    return values


def _check_dose(values: dict):
    return dose.check_dose(values["hold_seconds"], values["reps"], values["sets"],
                           values["sides"], prefix="items-3-")


def _check_schedule(values: dict):
    return dose.check_schedule(values["times_per_day"], values["days_per_week"],
                               prefix="items-3-")


def _checker(name: str):
    return _check_dose if name in dose.DOSE_LIMITS else _check_schedule


@pytest.mark.parametrize("name", list(dose.LIMITS))
def test_the_checks_allow_the_tables_range_and_no_more(name):
    limit = dose.LIMITS[name]
    check = _checker(name)
    for inside in (limit.low, limit.high):
        check(_with(**{name: inside}))
    for outside in (limit.low - 1, limit.high + 1):
        with pytest.raises(InvalidInput) as caught:
            check(_with(**{name: outside}))
        assert caught.value.field == f"items-3-{name}"
        assert str(caught.value) == limit.message


def test_check_schedule_returns_the_checked_values():
    assert dose.check_schedule(2, 5) == (2, 5)
    with pytest.raises(InvalidInput) as caught:
        dose.check_schedule("2", 5)
    assert caught.value.field == "times_per_day"


@pytest.mark.parametrize("name", list(dose.LIMITS))
def test_the_programme_forms_words_appear_only_within_the_table(name):
    limit = dose.LIMITS[name]
    for inside in (limit.low, limit.high):
        summary, schedule = dose.describe_draft(**_with(**{name: inside}))
        assert summary and schedule
    for outside in (limit.low - 1, limit.high + 1):
        assert dose.describe_draft(**_with(**{name: outside})) == ("", "")


def test_the_programme_forms_words_are_the_one_wording():
    assert dose.describe_draft(**VALID) == ("30 s each side, 2 rounds", "Once a day, every day")
    assert dose.describe_draft(**{**VALID, "hold_seconds": 0, "reps": 12, "sets": 3,
                                  "sides": "none", "times_per_day": 2,
                                  "days_per_week": 5}) == ("12 reps, 3 sets",
                                                           "Twice a day, 5 days a week")
    # Not worth putting into words: nothing to do, an unknown side, a half-typed number.
    assert dose.describe_draft(**{**VALID, "hold_seconds": 0}) == ("", "")
    assert dose.describe_draft(**{**VALID, "sides": "sideways"}) == ("", "")
    assert dose.describe_draft(**{**VALID, "sets": None}) == ("", "")


def _try(session, model, values: dict) -> None:
    """Write one row with these dose values, inside a savepoint."""
    with session.begin_nested():
        exercise = Exercise(slug=f"limit-{uuid.uuid4().hex[:8]}", name="Limit test",
                            summary="For the limits.")
        for field in (*dose.DOSE_LIMITS, "sides"):
            setattr(exercise, field, values[field] if model is Exercise else VALID[field])
        if model is TemplateItem:
            template = ProgrammeTemplate(name=f"Limits {uuid.uuid4().hex[:8]}")
            template.items.append(TemplateItem(exercise=exercise, position=0, **values))
            session.add(template)
        session.add(exercise)
        session.flush()


@pytest.mark.parametrize("name", list(dose.LIMITS))
def test_the_migrated_database_holds_the_tables_range(session, name):
    """The CHECK constraints the migrations made have the table's bounds, at both ends (so
    generating them from the table changed nothing)."""
    limit = dose.LIMITS[name]
    models = [TemplateItem] + ([Exercise] if name in dose.DOSE_LIMITS else [])
    for model in models:
        for inside in (limit.low, limit.high):
            _try(session, model, _with(**{name: inside}))
        for outside in (limit.low - 1, limit.high + 1):
            with pytest.raises(IntegrityError):
                _try(session, model, _with(**{name: outside}))
