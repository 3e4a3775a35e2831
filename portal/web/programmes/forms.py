"""Forms for the Programmes pages. They check shape only (whole numbers within the ranges
the services publish, so every mistake shows at once); the programme service checks again,
owns the rules (a hold or reps, the level on the ladder, published exercises) and names the
item and field of what it refuses ("items-2-hold_seconds").

The CSRF token is checked app-wide by CSRFProtect; these forms carry no token field of their
own, so two of them (the programme form and "save as template") can share a page without clashing
ids or prefixed token names.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.models import MOMENTS, Sides
from portal.services.dose import DAYS_PER_WEEK, HOLD_SECONDS, REPS, SETS, TIMES_PER_DAY, Limit
from portal.web.forms import WholeNumberField, choice, drop_nul, limit_attrs, within_limit

MAX_ITEMS = 50
NOTE_MAX = 2000
SEARCH_MAX = 100
# Shorter than Sides.label, so the select fits beside the numbers.
SIDES_LABELS = {Sides.EACH_SIDE: "Each side", Sides.BOTH: "Both together", Sides.NONE: "No sides"}
SIDES_CHOICES = [choice(s.value, SIDES_LABELS[s]) for s in Sides]
MOMENT_CHOICES = [choice(m.value, m.label) for m in MOMENTS]


def _number(label: str, limit: Limit, invalid: str) -> WholeNumberField:
    return WholeNumberField(
        label, [InputRequired(invalid), within_limit(limit)], invalid=invalid,
        render_kw=limit_attrs(limit))


def _level(value):
    """A posted level as an int; anything else is None, for the service to name."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ItemForm(Form):
    """One exercise of the programme as tailored for the client (a sub-form)."""

    exercise_id = HiddenField()
    hold_seconds = _number("Hold (s)", HOLD_SECONDS,
                           "Enter the hold as a whole number of seconds (0 for none).")
    reps = _number("Reps", REPS, "Enter the reps as a whole number (0 for a hold only).")
    sets = _number("Sets or rounds", SETS,
                   "Enter the sets or rounds as a whole number, for example 2.")
    sides = SelectField("Sides", choices=SIDES_CHOICES, validate_choice=False)
    times_per_day = _number("Times a day", TIMES_PER_DAY,
                            "Enter how many times a day as a whole number.")
    days_per_week = _number("Days a week", DAYS_PER_WEEK,
                            "Enter how many days a week as a whole number.")
    moments = SelectMultipleField("When in the day", choices=MOMENT_CHOICES,
                                  validate_choice=False)
    level = SelectField("Level", coerce=_level, validate_choice=False)
    personal_note = TextAreaField(
        "Personal note", [Optional(), Length(max=NOTE_MAX, message=f"Use at most "
                                                                   f"{NOTE_MAX:,} characters.")],
        filters=[drop_nul], description="The client reads this on the exercise page.",
        render_kw={"rows": 2, "maxlength": NOTE_MAX})


class ProgrammeForm(FlaskForm):
    """The whole programme as one form: the items, the version note, the library search and
    the version the page was opened on."""

    class Meta:
        csrf = False

    base_version = HiddenField()
    items = FieldList(FormField(ItemForm), max_entries=MAX_ITEMS)
    note = TextAreaField(
        "Message to the client about this version",
        [Optional(), Length(max=NOTE_MAX, message=f"Use at most {NOTE_MAX:,} characters.")],
        filters=[drop_nul],
        description="Optional. Shown on their Today page with what changed.",
        render_kw={"rows": 3, "maxlength": NOTE_MAX})
    q = StringField("Search the library", [Optional()],
                    render_kw={"maxlength": SEARCH_MAX, "type": "search",
                               "autocomplete": "off"})


class TemplateForm(FlaskForm):
    """Save the client's programme as a template."""

    class Meta:
        csrf = False

    name = StringField("Template name",
                       [DataRequired("Give the template a name."),
                        Length(max=120, message="Use at most 120 characters.")],
                       filters=[drop_nul], render_kw={"maxlength": 120, "autocomplete": "off"})
    description = TextAreaField(
        "Description", [Optional(), Length(max=1000, message="Use at most 1,000 characters.")],
        filters=[drop_nul], description="Optional: who it suits and what it is for.",
        render_kw={"rows": 2, "maxlength": 1000})
