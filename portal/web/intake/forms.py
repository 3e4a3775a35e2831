"""The health questionnaire form: shape only; the rules live in portal.services.intake."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.services.intake import RED_FLAGS, TEXT_FIELDS
from portal.web.forms import drop_nul

try:  # WTForms 3.3 names choices; tuples are deprecated there (and warnings fail the tests).
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - WTForms < 3.3
    YES_NO: list = [("yes", "Yes"), ("no", "No")]
else:
    YES_NO = [SelectChoice("yes", "Yes"), SelectChoice("no", "No")]


def _length(key: str) -> Length:
    limit = TEXT_FIELDS[key]
    return Length(max=limit, message=f"Use at most {limit:,} characters.")


def _text(label: str, key: str, *, description: str = "", rows: int = 3) -> TextAreaField:
    return TextAreaField(label, validators=[Optional(), _length(key)], description=description,
                         filters=[drop_nul],
                         render_kw={"rows": rows, "maxlength": TEXT_FIELDS[key]})


def flag_field_name(key: str) -> str:
    """The form field that holds the answer to one red-flag question."""
    return f"flag_{key}"


class QuestionnaireForm(FlaskForm):
    """Contact and GP details, what brings the client, screening questions and consent."""

    next = HiddenField()
    phone = TelField("Your phone number", validators=[Optional(), _length("phone")],
                     description="Optional. So the practice can reach you on the day.",
                     filters=[drop_nul],
                     render_kw={"autocomplete": "tel", "maxlength": TEXT_FIELDS["phone"]})
    emergency_contact = StringField(
        "Emergency contact", validators=[Optional(), _length("emergency_contact")],
        description="Optional. A name and phone number.", filters=[drop_nul],
        render_kw={"maxlength": TEXT_FIELDS["emergency_contact"]},
    )
    gp_details = _text("Your GP", "gp_details", rows=2,
                       description="Optional. Your doctor's name and surgery.")
    complaints = TextAreaField(
        "What would you like help with?",
        validators=[DataRequired("Tell us briefly what you'd like help with."),
                    _length("complaints")],
        description="Where it aches or feels tight, since when, and what makes it better or "
                    "worse.",
        filters=[drop_nul],
        render_kw={"rows": 4, "maxlength": TEXT_FIELDS["complaints"]},
    )
    conditions = _text("Health conditions", "conditions",
                       description="Anything your therapist should know: for example asthma, "
                                   "diabetes, epilepsy, joint replacements, skin conditions.")
    medication = _text("Medication", "medication", rows=2,
                       description="Anything you take regularly, including painkillers.")
    activity = _text("Work and activity", "activity", rows=2,
                     description="For example desk job, running three times a week, gym.")
    red_flag_details = _text(
        "Tell us more about any \u201cyes\u201d", "red_flag_details",
        description="Only needed if you answered yes to a question above.",
    )
    consent = BooleanField(
        "I agree to the practice keeping my health information as described above",
        validators=[DataRequired("We need your consent to keep health information before you "
                                 "can book.")],
    )

    def red_flag_fields(self):
        """The screening questions' fields, in the order of RED_FLAGS."""
        return [(flag, self[flag_field_name(flag.key)]) for flag in RED_FLAGS]


# One Yes/No pair per screening question, so the list lives in one place (the service).
for _flag in RED_FLAGS:
    setattr(QuestionnaireForm, flag_field_name(_flag.key), RadioField(
        _flag.question, choices=YES_NO,
        validators=[InputRequired("Answer yes or no.")],
        validate_choice=True,
    ))
