"""The log forms: how an exercise felt (per side or once) with an optional note, and the
one-tap "Done, felt fine"; both carry the keys that make a double submit one log."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, Optional, Regexp

from portal.models import MOMENTS, Sides
from portal.models.programmes import ANSWERS
from portal.services.client_day import CLIENT_KEY_RE

try:  # WTForms 3.3 names choices; tuples are deprecated there (and warnings fail the tests).
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - WTForms < 3.3
    FEELINGS: list = [(f.value, f.label) for f in ANSWERS]
else:
    FEELINGS = [SelectChoice(f.value, f.label) for f in ANSWERS]

NOTE_MAX = 1000
BAD_FEELING = "Choose nothing, mild tension or pain."


def _feeling(label: str, missing: str) -> RadioField:
    # validate_choice is off so a tampered value gets our sentence, not WTForms' own.
    return RadioField(label, choices=FEELINGS, validate_choice=False,
                      validators=[InputRequired(missing),
                                  AnyOf([f.value for f in ANSWERS], message=BAD_FEELING)])


OUT_OF_DATE = "The form is out of date. Reload the page."


def _client_key() -> HiddenField:
    # Made when the page is rendered, so a double tap (or a resend) is stored once.
    return HiddenField(validators=[InputRequired(OUT_OF_DATE),
                                   Regexp(CLIENT_KEY_RE, message=OUT_OF_DATE)])


def _moment() -> HiddenField:
    # The moment the client came from on Today ("morning"), so that moment is ticked.
    return HiddenField(validators=[
        Optional(), AnyOf([m.value for m in MOMENTS], message="Choose a moment from the list."),
    ])


def _local_date() -> HiddenField:
    # Only sent by a client replaying a log made earlier (offline); the page leaves it out,
    # so a log is dated the day it is sent.
    return HiddenField(validators=[
        Optional(), Regexp(r"^\d{4}-\d{2}-\d{2}$", message="That date isn't valid."),
    ])


class LogForm(FlaskForm):
    """Mark an item done. Use for_item(): it keeps the feedback fields the item needs."""

    feedback_left = _feeling("Left side", "Say how the left side felt.")
    feedback_right = _feeling("Right side", "Say how the right side felt.")
    feedback = _feeling("How did it feel?", "Say how it felt.")
    note = TextAreaField(
        "Anything to tell your therapist? (optional)",
        validators=[Optional(), Length(max=NOTE_MAX, message=f"Keep the note under "
                                                              f"{NOTE_MAX:,} characters.")],
        render_kw={"rows": 3, "maxlength": NOTE_MAX},
    )
    client_key = _client_key()
    moment = _moment()
    local_date = _local_date()

    @classmethod
    def for_item(cls, sides: Sides, **kwargs) -> LogForm:
        """A form with left and right feedback for each-side items, one answer otherwise."""
        form = cls(**kwargs)
        if Sides(sides) is Sides.EACH_SIDE:
            del form.feedback
        else:
            del form.feedback_left
            del form.feedback_right
        return form

    def feedback_fields(self) -> list[RadioField]:
        """The feedback groups this form asks for, in order."""
        return [f for f in (getattr(self, n, None) for n in
                            ("feedback_left", "feedback_right", "feedback")) if f is not None]


# Where a one-tap log was made, so the answer goes back there: the home page, Today, or the
# exercise page (its log card, or the end of the guided timer).
BACK_TO = ("home", "today", "item", "timer")


class QuickLogForm(FlaskForm):
    """ "Done, felt fine": one tap, nothing to choose; hidden fields only."""

    client_key = _client_key()
    moment = _moment()
    local_date = _local_date()
    back = HiddenField(validators=[Optional(), AnyOf(BACK_TO, message=OUT_OF_DATE)])

    def first_error(self) -> str:
        """The sentence for a refused tap (every field is hidden: one message is enough)."""
        for field in self:
            if field.errors:
                return field.errors[0]
        return OUT_OF_DATE
