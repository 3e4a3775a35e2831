"""Forms for messages: shape only (the service says what is empty or too long, too)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.models.messages import BODY_MAX, SUBJECT_MAX
from portal.services.messages import EMPTY_BODY, LONG_BODY, LONG_SUBJECT
from portal.web.forms import drop_nul


def body_field(label: str, description: str = "") -> TextAreaField:
    """The message itself: required, at most BODY_MAX characters."""
    return TextAreaField(
        label, description=description,
        validators=[DataRequired(EMPTY_BODY), Length(max=BODY_MAX, message=LONG_BODY)],
        filters=[drop_nul], render_kw={"rows": 6, "maxlength": BODY_MAX},
    )


class NewMessageForm(FlaskForm):
    """A client's first message. The subject is asked for only when the message is about
    nothing in particular (the service checks it is there then)."""

    subject = StringField(
        "Subject", validators=[Length(max=SUBJECT_MAX, message=LONG_SUBJECT)],
        filters=[drop_nul], description="A few words, for example “Sore after my run”.",
        render_kw={"maxlength": SUBJECT_MAX, "autocomplete": "off"},
    )
    body = body_field("Your message")


class ReplyForm(FlaskForm):
    """A reply in a thread."""

    body = body_field("Your message")


class MessageEmailsForm(FlaskForm):
    """Whether to be emailed when a message is waiting."""

    message_emails = BooleanField("Email me when a message is waiting for me")
