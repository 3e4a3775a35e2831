"""Forms for the therapist's dashboard."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional


class InviteForm(FlaskForm):
    """Who to invite."""

    name = StringField("Client's name", validators=[DataRequired("Enter the client's name."),
                                                    Length(max=120)],
                       render_kw={"autocomplete": "off"})
    email = EmailField("Client's email", validators=[DataRequired("Enter the client's email."),
                                                     Length(max=254)],
                       render_kw={"autocomplete": "off", "inputmode": "email"})


def _zone_choices() -> list[tuple[str, str]]:
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
    return [(z, z.replace("_", " ")) for z in zones]


class PracticeForm(FlaskForm):
    """The practice's name, contact details and access settings."""

    name = StringField("Practice name", validators=[DataRequired("Enter the practice name."),
                                                    Length(max=120)])
    email = EmailField("Contact email", validators=[Optional(), Length(max=254),
                                                    Email("Enter an email like name@example.com.")],
                       description="Shown to clients when they need to reach you.")
    phone = TelField("Contact phone", validators=[Optional(), Length(max=40)])
    address = TextAreaField("Address", validators=[Optional(), Length(max=300)],
                            render_kw={"rows": 3})
    timezone = SelectField("Time zone", choices=_zone_choices,
                           description="Times are shown to everyone in this zone.")
    self_registration = BooleanField(
        "Let new clients register themselves",
        description="When off, clients join only through an invitation from you.",
    )
