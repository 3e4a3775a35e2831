"""The moments form: a local reminder time for each moment of the day, each optional."""

from __future__ import annotations

import re
from datetime import time

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Optional, ValidationError

from portal.models import MOMENTS, Moment
from portal.web.forms import drop_nul

# "07:30", "7:30" or "07.30"; seconds (some browsers send them) are accepted and dropped.
TIME_RE = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)(?::[0-5]\d)?$")
EXAMPLES = {
    Moment.MORNING: "07:30",
    Moment.WORK_BREAK: "12:30",
    Moment.AFTER_TRAINING: "18:30",
    Moment.BEFORE_BED: "22:00",
}


def parse_time(raw: str | None) -> time | None:
    """A time from the form, None for an empty field; ValueError for anything else."""
    text = (raw or "").strip()
    if not text:
        return None
    match = TIME_RE.match(text)
    if match is None:
        raise ValueError(text)
    return time(int(match.group(1)), int(match.group(2)))


class _LocalTime:
    """Validator: empty, or a 24-hour time; the message names the moment and an example."""

    def __init__(self, moment: Moment):
        self.message = (f"Enter the {moment.label.lower()} time as hours and minutes, like "
                        f"{EXAMPLES[moment]}, or leave it empty.")

    def __call__(self, form, field) -> None:
        try:
            parse_time(field.data)
        except ValueError as exc:
            raise ValidationError(self.message) from exc


class _TimeText(StringField):
    """A type="time" input read as text, so a bad value gets the moment's own message. Its
    value is shown back only as a real time ("HH:MM"): type="time" may carry nothing else."""

    def _value(self) -> str:
        try:
            parsed = parse_time(self.data)
        except ValueError:
            return ""
        return parsed.strftime("%H:%M") if parsed else ""


def _time_field(moment: Moment) -> StringField:
    return _TimeText(
        moment.label, validators=[Optional(), _LocalTime(moment)], filters=[drop_nul],
        render_kw={"type": "time", "inputmode": "numeric"},
    )


class MomentTimesForm(FlaskForm):
    """Reminder times for the four moments; an empty field means no reminder."""

    morning = _time_field(Moment.MORNING)
    work_break = _time_field(Moment.WORK_BREAK)
    after_training = _time_field(Moment.AFTER_TRAINING)
    before_bed = _time_field(Moment.BEFORE_BED)

    def times(self) -> dict[Moment, time | None]:
        """The validated times by moment (call after validate())."""
        return {m: parse_time(getattr(self, m.value).data) for m in MOMENTS}
