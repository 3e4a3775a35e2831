"""The public enquiry form. Shape only; portal.services.enquiries checks again and owns the
rules (consent, the address, lengths)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.services.enquiries import MESSAGE_MAX, NAME_MAX
from portal.web.forms import drop_nul


class EnquiryForm(FlaskForm):
    """Name, email, message and consent; `article` names the article asked from, and
    `website` is the honeypot: hidden from people, filled in by bots that fill every field."""

    name = StringField("Your name", validators=[DataRequired("Enter your name."),
                                                Length(max=NAME_MAX)],
                       filters=[drop_nul],
                       render_kw={"autocomplete": "name", "maxlength": NAME_MAX})
    email = EmailField("Your email", validators=[DataRequired("Enter your email address."),
                                                 Length(max=254)],
                       filters=[drop_nul],
                       description="We reply to this address.",
                       render_kw={"autocomplete": "email", "inputmode": "email",
                                  "maxlength": 254})
    message = TextAreaField(
        "Your question", validators=[DataRequired("Write your question or message."),
                                     Length(max=MESSAGE_MAX,
                                            message=f"Use at most {MESSAGE_MAX:,} characters.")],
        filters=[drop_nul],
        description="For example, what you feel and when, and what you'd like to know.",
        render_kw={"rows": 6, "maxlength": MESSAGE_MAX})
    consent = BooleanField(
        "You may contact me by email about my question",
        validators=[DataRequired("Tick the box so that we may reply to you.")])
    article = HiddenField()
    website = StringField("Leave this empty", render_kw={"autocomplete": "off",
                                                          "tabindex": "-1"})
