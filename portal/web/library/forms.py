"""Forms for the exercise library. They check shape only (required, lengths, number ranges,
so every mistake shows at once); the library service checks again and owns the rules (at
least one step, a criterion on every rung but the top one, the picture's content)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.models import BODY_AREAS, MOMENTS, Sides
from portal.models.library import BODY_AREA_LABELS
from portal.services.dose import HOLD_SECONDS, REPS, SETS
from portal.services.library import MAX_LEVELS, MAX_LIST_ENTRIES, MAX_LIST_ENTRY
from portal.services.pictures import MAX_BYTES, MAX_SIDE
from portal.web.forms import WholeNumberField, choice, limit_attrs, within_limit

# Rungs offered on the form: blank ones are ignored, so a ladder can have fewer.
LADDER_SLOTS = 5
SEARCH_MAX = 100
LINES_HELP = (f"One per line, in order (up to {MAX_LIST_ENTRIES} lines of {MAX_LIST_ENTRY} "
              "characters).")


def _length(limit: int) -> Length:
    return Length(max=limit, message=f"Use at most {limit:,} characters.")


class LevelForm(Form):
    """One rung of the progression ladder (a sub-form: the outer form carries the CSRF
    token)."""

    name = StringField("Level name", [Optional(), _length(120)],
                       render_kw={"maxlength": 120})
    instruction = TextAreaField("What changes at this level", [Optional(), _length(1000)],
                                render_kw={"rows": 2})
    criterion = StringField(
        "Ready to move up when", [Optional(), _length(300)],
        description="For example: when 30 s each side feels easy. Leave it empty on the top "
                    "level.",
        render_kw={"maxlength": 300})

    def is_blank(self) -> bool:
        """True when the therapist left the whole rung empty."""
        return not any((f.data or "").strip() for f in (self.name, self.instruction,
                                                        self.criterion))


class ExerciseForm(FlaskForm):
    """An exercise, its default dose, ladder and picture."""

    name = StringField("Name", [DataRequired("Give the exercise a name."), _length(120)],
                       render_kw={"maxlength": 120})
    summary = StringField(
        "Summary", [DataRequired("Add a one-line summary clients see in lists."), _length(300)],
        description="One line clients see in lists and on the home page.",
        render_kw={"maxlength": 300})
    why_it_helps = TextAreaField(
        "Why it helps", [Optional(), _length(2000)],
        description="What it works and why that matters, in plain words.",
        render_kw={"rows": 4})
    body_areas = SelectMultipleField(
        "Body areas", choices=[choice(a, BODY_AREA_LABELS[a]) for a in BODY_AREAS],
        validate_choice=False,
        validators=[DataRequired("Choose at least one body area.")])
    steps = TextAreaField("Steps", [DataRequired("Write at least one step."), _length(7000)],
                          description=LINES_HELP, render_kw={"rows": 6})
    cues = TextAreaField("Cues", [Optional(), _length(7000)],
                         description="Short reminders while doing it. " + LINES_HELP,
                         render_kw={"rows": 3})
    cautions = TextAreaField("Cautions", [Optional(), _length(7000)],
                             description="When to stop or take care. " + LINES_HELP,
                             render_kw={"rows": 3})
    moments = SelectMultipleField(
        "Good moments", choices=[choice(m.value, m.label) for m in MOMENTS],
        validate_choice=False, validators=[Optional()])
    hold_seconds = WholeNumberField(
        "Hold, in seconds", [InputRequired("Enter the hold in seconds (0 for none)."),
                             within_limit(HOLD_SECONDS)],
        invalid="Enter the hold as a whole number of seconds, for example 30.", default=30,
        render_kw=limit_attrs(HOLD_SECONDS))
    reps = WholeNumberField(
        "Reps", [InputRequired("Enter the reps (0 for a hold only)."),
                 within_limit(REPS)],
        invalid="Enter the reps as a whole number, for example 10.", default=0,
        render_kw=limit_attrs(REPS))
    sets = WholeNumberField(
        "Sets or rounds", [InputRequired("Enter the number of sets or rounds."),
                           within_limit(SETS)],
        invalid="Enter the sets as a whole number, for example 2.", default=2,
        render_kw=limit_attrs(SETS))
    sides = RadioField("Sides", choices=[choice(s.value, s.label) for s in Sides],
                       default=Sides.EACH_SIDE.value,
                       validators=[InputRequired("Choose each side, both sides together or "
                                                 "no sides.")])
    regression = TextAreaField(
        "Regression", [Optional(), _length(1000)],
        description="An easier version for a client who finds it painful or too hard.",
        render_kw={"rows": 3})
    # Five rungs are offered; an exercise given six elsewhere keeps all of them here.
    levels = FieldList(FormField(LevelForm), min_entries=LADDER_SLOTS, max_entries=MAX_LEVELS)
    picture = FileField(
        "Upload a picture",
        description=f"A PNG, JPEG or WebP photo or drawing, up to {MAX_BYTES // 2**20} MB and "
                    f"{MAX_SIDE:,} pixels a side. It is resized and its metadata (location, "
                    "camera) removed.",
        render_kw={"accept": "image/png,image/jpeg,image/webp"})
    remove_picture = BooleanField("Remove the current picture")


class SearchForm(FlaskForm):
    """The library's search box and body-area filter (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField("Search by name or summary", [Optional()],
                    render_kw={"maxlength": SEARCH_MAX, "type": "search"})
    body_area = SelectField(
        "Body area",
        choices=[choice("", "Any body area"),
                 *[choice(a, BODY_AREA_LABELS[a]) for a in BODY_AREAS]],
        validate_choice=False)
