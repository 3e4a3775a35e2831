"""The therapist's reply to an enquiry."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.services.enquiries import REPLY_MAX
from portal.web.forms import drop_nul


class ReplyForm(FlaskForm):
    """A reply, sent by email, and whether that deals with the enquiry."""

    body = TextAreaField(
        "Your reply", [DataRequired("Write your reply."),
                       Length(max=REPLY_MAX, message=f"Use at most {REPLY_MAX:,} characters.")],
        filters=[drop_nul],
        description="Sent by email from the portal, with their question quoted below it.",
        render_kw={"rows": 8, "maxlength": REPLY_MAX})
    mark_done = BooleanField("Mark the enquiry done once the reply is sent", default=True)
