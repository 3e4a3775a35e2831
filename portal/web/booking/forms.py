"""The booking confirmation form: shape only; booking.book re-checks everything else."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.web.forms import drop_nul

NOTE_MAX = 1000


class ConfirmForm(FlaskForm):
    """The chosen start (UTC, ISO 8601) travels back as a hidden field, plus an optional note."""

    start = HiddenField(validators=[DataRequired("Choose a time from the list.")])
    note = TextAreaField(
        "Anything your therapist should know? (optional)",
        validators=[Optional(), Length(max=NOTE_MAX,
                                       message="Keep the note under 1,000 characters.")],
        description="For example, an area to focus on or a recent change.",
        filters=[drop_nul],
        render_kw={"rows": 3, "maxlength": NOTE_MAX},
    )
