"""Forms for a client's own appointments."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length, Optional

from portal.web.forms import drop_nul


class CancelForm(FlaskForm):
    """Confirm a cancellation, with an optional word for the therapist."""

    reason = TextAreaField(
        "Anything you'd like to tell your therapist? (optional)",
        validators=[Optional(), Length(max=2000, message="Keep the message under 2,000 "
                                                         "characters.")],
        filters=[drop_nul],
        render_kw={"rows": 3, "maxlength": 2000},
    )
