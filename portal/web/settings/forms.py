"""Forms for the practice settings."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField, TelField, TextAreaField
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    InputRequired,
    Length,
    Optional,
    StopValidation,
    ValidationError,
)

from portal.services import diary, erasure
from portal.services import practice as practice_service
from portal.web.forms import (
    WholeNumberField,
    choice,
    drop_nul,
    int_or_none,
    limit_attrs,
    within,
    within_limit,
)


def zone_choices(current: str | None = None) -> list:
    """The zones to pick from (Area/City), plus the practice's own when it is another."""
    zones = sorted(z for z in practice_service.known_zones()
                   if "/" in z and not z.startswith("Etc/"))
    if current and current not in zones:
        zones.insert(0, current)
    return [choice(z, z.replace("_", " ")) for z in zones]


def _at_most(field: str) -> Length:
    return Length(max=practice_service.LENGTHS[field], message=practice_service.too_long(field))


def _phone(form, field) -> None:
    """A plausible phone number (the service publishes the rule)."""
    problem = practice_service.phone_problem(field.data or "")
    if problem:
        raise ValidationError(problem)


def _zone(form, field) -> None:
    """A real IANA zone: a forged value gets the message, not a server error."""
    problem = practice_service.zone_problem(field.data)
    if problem:
        raise StopValidation(problem)


HORIZON_MAX = {"weeks": 52, "days": 366}
STEP_CHOICES = [choice(m, f"{m} minutes") for m in (5, 10, 15, 20, 30, 45, 60, 90, 120)]


# A select that always shows a chosen value needs no `required` attribute, and HTML allows
# `required` on a one-line select only when its first option is empty; the server still
# refuses a missing value.
PREFILLED_SELECT = {"required": False}

class PracticeForm(FlaskForm):
    """The practice's name, contact details, time zone and who may register."""

    name = StringField("Practice name",
                       validators=[DataRequired(practice_service.NAME_REQUIRED), _at_most("name")],
                       filters=[drop_nul], render_kw={"autocomplete": "organization"})
    email = EmailField("Contact email",
                       validators=[Optional(), _at_most("email"),
                                   Email(practice_service.EMAIL_MESSAGE)],
                       filters=[drop_nul],
                       description="Shown to clients when they need to reach you.",
                       render_kw={"autocomplete": "email", "inputmode": "email"})
    phone = TelField("Contact phone", validators=[Optional(), _at_most("phone"), _phone],
                     filters=[drop_nul],
                     description="Digits, spaces, +, brackets and hyphens, for example "
                                 "020 7946 0000.",
                     render_kw={"autocomplete": "tel"})
    address = TextAreaField("Address", validators=[Optional(), _at_most("address")],
                            filters=[drop_nul], render_kw={"rows": 3})
    timezone = SelectField("Time zone", choices=zone_choices, validate_choice=False,
                           validators=[InputRequired(practice_service.ZONE_MESSAGE), _zone],
                           render_kw=PREFILLED_SELECT,
                           description="Times are shown to everyone in this zone.")
    self_registration = BooleanField(
        "Let new clients register themselves",
        description="When off, clients join only through an invitation from you.",
    )
    intro = TextAreaField(
        "Front page introduction", validators=[Optional(), _at_most("intro")],
        filters=[drop_nul],
        description="A few words about you and the practice for visitors to your front page, "
                    "in Markdown: a blank line between paragraphs, **bold**, - for a list.",
        render_kw={"rows": 6, "maxlength": practice_service.LENGTHS["intro"]})


class BookingRulesForm(FlaskForm):
    """The practice's booking rules. The ranges are the diary service's, checked here too so
    every mistake shows at once; the service checks them again, and the horizon against the
    notice."""

    slot_step_minutes = SelectField(
        "Slot step", coerce=int_or_none, choices=STEP_CHOICES, validate_choice=False,
        render_kw=PREFILLED_SELECT,
        validators=[InputRequired("Choose a slot step."),
                    within(diary.RULE_LIMITS, "slot_step_minutes")],
        description="How far apart the start times offered to clients are.")
    min_notice_hours = WholeNumberField(
        "Minimum notice, in hours", [InputRequired("Enter the minimum notice in hours."),
                                     within(diary.RULE_LIMITS, "min_notice_hours")],
        invalid="Enter the notice as a whole number of hours, for example 12.",
        description="Clients can't book online closer to the start than this (0 to 336).")
    horizon_value = WholeNumberField(
        "Booking horizon", [InputRequired("Enter how far ahead clients can book.")],
        invalid="Enter a whole number, for example 8.",
        description="How far ahead clients can book: up to 52 weeks (366 days).")
    horizon_unit = SelectField("Horizon unit",
                               choices=[choice("weeks", "weeks"), choice("days", "days")],
                               validate_choice=False, render_kw=PREFILLED_SELECT,
                               validators=[InputRequired("Choose weeks or days."),
                                           AnyOf(list(HORIZON_MAX), "Choose weeks or days.")])
    cancel_window_hours = WholeNumberField(
        "Client changes close, in hours before",
        [InputRequired("Enter the window in hours."),
         within(diary.RULE_LIMITS, "cancel_window_hours")],
        invalid="Enter the window as a whole number of hours, for example 24.",
        description="Clients can cancel or reschedule online until this many hours before "
                    "the session. After that only you can, and it counts as a late "
                    "cancellation (0 to 336).")
    reminder_lead_hours = WholeNumberField(
        "Reminder email, hours before",
        [InputRequired("Enter when to send the reminder."),
         within(diary.RULE_LIMITS, "reminder_lead_hours")],
        invalid="Enter a whole number of hours, for example 24.",
        description="1 to 168 hours (a week).")
    max_upcoming_per_client = WholeNumberField(
        "Most upcoming sessions per client",
        [InputRequired("Enter how many upcoming sessions a client can hold."),
         within(diary.RULE_LIMITS, "max_upcoming_per_client")],
        invalid="Enter a whole number of sessions, for example 4.",
        render_kw=limit_attrs(diary.RULE_LIMITS["max_upcoming_per_client"]),
        description="A client with this many sessions booked ahead can't book another "
                    "online until one has taken place or been cancelled; they can still move "
                    "the ones they have, and you can book more for them from the diary "
                    "(1 to 50).")

    def validate_horizon_value(self, field) -> None:
        """1 to 52 weeks, or 1 to 366 days (the unit decides)."""
        unit = self.horizon_unit.data
        if field.data is not None and unit in HORIZON_MAX and not (
                1 <= field.data <= HORIZON_MAX[unit]):
            raise ValidationError(diary.RULE_LIMITS["horizon_days"].message)

    def fill(self, practice) -> None:
        """Show the practice's rules (the horizon in weeks when it is whole weeks)."""
        weeks = practice.horizon_days % 7 == 0
        if practice.slot_step_minutes not in {c.value for c in STEP_CHOICES}:
            self.slot_step_minutes.choices = [
                *STEP_CHOICES, choice(practice.slot_step_minutes,
                                      f"{practice.slot_step_minutes} minutes")]
        self.slot_step_minutes.data = practice.slot_step_minutes
        self.min_notice_hours.data = practice.min_notice_minutes // 60
        self.horizon_value.data = practice.horizon_days // 7 if weeks else practice.horizon_days
        self.horizon_unit.data = "weeks" if weeks else "days"
        self.cancel_window_hours.data = practice.cancel_window_hours
        self.reminder_lead_hours.data = practice.reminder_lead_hours
        self.max_upcoming_per_client.data = practice.max_upcoming_per_client


class RecordsForm(FlaskForm):
    """How long an erased client's clinical records are kept."""

    retention_years = WholeNumberField(
        "Keep clinical records, in years after care ends",
        [InputRequired("Enter how many years to keep records."),
         within_limit(erasure.RETENTION_LIMIT)],
        invalid="Enter a whole number of years, for example 8.",
        description="When a client deletes their account, their questionnaires, notes, "
                    "appointments, programme and logs are kept this long after their last "
                    "session, then deleted for good. 8 years is the usual guidance for adults' "
                    "health records in the UK; your insurer or professional body may ask for "
                    "more (6 to 30).")

    def fill_records(self, practice) -> None:
        """Show the practice's retention setting."""
        self.retention_years.data = practice.retention_years


class SettingsForm(PracticeForm, BookingRulesForm, RecordsForm):
    """Every practice setting on one page: one form, saved together, so a mistake in one
    section never loses what was typed in the other."""

    # Fields a browser always sends; the checkbox is left out (unticked sends nothing).
    ALWAYS_SENT = ("name", "email", "phone", "address", "timezone", "slot_step_minutes",
                   "min_notice_hours", "horizon_value", "horizon_unit", "cancel_window_hours",
                   "reminder_lead_hours", "max_upcoming_per_client", "retention_years")

    def validate(self, extra_validators=None) -> bool:
        """The field checks, plus: a post missing a field (not from our page) saves nothing
        rather than blanking the setting."""
        valid = super().validate(extra_validators)
        if self.is_submitted() and any(not self[name].raw_data for name in self.ALWAYS_SENT):
            self.form_errors.append("Some settings were missing from the form, so nothing was "
                                    "saved. Reload the page and try again.")
            return False
        return valid
