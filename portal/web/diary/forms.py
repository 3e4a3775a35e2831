"""Forms for the therapist's diary. They check shape (required, number format, the ranges the
service publishes, so every mistake shows at once); the diary and booking services check the
rules again (ranges, overlaps, free slots) and report errors against these field names."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.services import diary
from portal.web.forms import ClockField, DayField, WholeNumberField, drop_nul, int_or_none, within


class ServiceForm(FlaskForm):
    """A service clients can book."""

    name = StringField("Name", validators=[DataRequired("Enter a name for the service."),
                                           Length(max=120, message="Use at most 120 characters.")])
    description = TextAreaField(
        "Description", validators=[Optional(), Length(max=2000, message="Use at most 2,000 "
                                                                        "characters.")],
        description="Shown to clients when they choose a service.", render_kw={"rows": 4})
    duration_minutes = WholeNumberField(
        "Length in minutes", [InputRequired("Enter the length in minutes."),
                              within(diary.SERVICE_LIMITS, "duration_minutes")],
        invalid="Enter the length as a whole number of minutes, for example 60.",
        description="Between 5 and 480 minutes.",
        render_kw={"inputmode": "numeric", "min": 5, "max": 480})
    price = StringField(
        "Price in pounds", validators=[DataRequired("Enter the price in pounds, for example 45 "
                                                    "or 45.50."), Length(max=20)],
        description="For example 45 or 45.50.", render_kw={"inputmode": "decimal"})
    buffer_minutes = WholeNumberField(
        "Buffer after, in minutes", [InputRequired("Enter the buffer in minutes (0 for none)."),
                                     within(diary.SERVICE_LIMITS, "buffer_minutes")],
        invalid="Enter the buffer as a whole number of minutes, for example 15.",
        description="Time kept free after each session for notes and turning the room round. "
                    "0 to 240 minutes.",
        render_kw={"inputmode": "numeric", "min": 0, "max": 240})
    sort_order = WholeNumberField(
        "Position in the list", [Optional(), within(diary.SERVICE_LIMITS, "sort_order")],
        invalid="Enter the position as a whole number, for example 1.",
        description="Lower numbers come first (0 to 999).",
        render_kw={"inputmode": "numeric", "min": 0, "max": 999})
    active = BooleanField(
        "Clients can book this service",
        description="Turn off to hide it from clients. Past and booked sessions keep it.",
        default=True)


def _hours_form_class() -> type[FlaskForm]:
    """A form with a start and end field for each of the ranges of each weekday."""
    attrs: dict[str, Field] = {}
    for weekday, name in enumerate(diary.WEEKDAYS):
        for index in range(diary.RANGES_PER_DAY):
            for part in ("start", "end"):
                attrs[diary.hours_field(weekday, index, part)] = ClockField(
                    f"{name}, range {index + 1}, {'from' if part == 'start' else 'until'}",
                    validators=[Optional()])
    return type("HoursForm", (FlaskForm,), attrs)


HoursForm = _hours_form_class()


class TimeOffForm(FlaskForm):
    """A stretch of time off, in the practice's local time."""

    first_day = DayField("First day", [InputRequired("Enter the first day of the time off.")],
                         description="The day the time off starts.")
    last_day = DayField("Last day", [Optional()],
                        description="Leave blank for a single day.")
    start = ClockField("From", [Optional()],
                       description="Leave blank to start at the beginning of the first day.")
    end = ClockField("Until", [Optional()],
                     description="Leave blank to run to the end of the last day.")
    reason = StringField("Reason", [Optional(), Length(max=200, message="Use at most 200 "
                                                                        "characters.")],
                         description="Only you see this.")


class _BookingChoices(FlaskForm):
    """Who, what and which day."""

    client = SelectField("Client", coerce=int_or_none, validate_choice=False,
                         validators=[InputRequired("Choose a client.")])
    service = SelectField("Service", coerce=int_or_none, validate_choice=False,
                          validators=[InputRequired("Choose a service.")])
    day = DayField("Day", [InputRequired("Choose a day.")])


class BookChoiceForm(_BookingChoices):
    """The GET form that shows the free times, so the slot list is a plain link away."""

    class Meta:
        csrf = False


class BookForm(_BookingChoices):
    """The chosen slot (or a deliberate double booking), posted with a CSRF token."""

    start = RadioField("Time", validate_choice=False)
    override = BooleanField(
        "Book even though it overlaps another appointment",
        description="Only for a deliberate double booking. The time must still be within "
                    "your working hours. It is recorded in the audit log.")
    override_time = ClockField("Start time for the double booking", [Optional()])


class RescheduleForm(FlaskForm):
    """The new start for an appointment."""

    start = RadioField("New time", validate_choice=False,
                       validators=[InputRequired("Choose a new time.")])


class CancelForm(FlaskForm):
    """Why the session is cancelled, for the client."""

    message = TextAreaField(
        "Message to the client",
        [Optional(), Length(max=2000, message="Use at most 2,000 characters.")],
        description="Included in the cancellation email. For example, why, and how to "
                    "rebook.", render_kw={"rows": 4})


class OutcomeForm(FlaskForm):
    """Mark attended or no-show: a button with a CSRF token, nothing else."""


class SessionNoteForm(FlaskForm):
    """A private session note; the diary_days service checks the limits again."""

    body = TextAreaField(
        "Private session note",
        validators=[DataRequired("Write the note before saving it."),
                    Length(max=5000, message="Use at most 5,000 characters.")],
        filters=[drop_nul],
        render_kw={"rows": 3, "maxlength": 5000},
    )
