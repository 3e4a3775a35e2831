"""The confirmation for erasing a client's account, shared by the client's "Delete my
account" and the therapist's "Erase account": a password and a tick."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField
from wtforms.validators import DataRequired, Length

from portal.services.passwords import MAX_LENGTH


class EraseForm(FlaskForm):
    """Your own password, and a tick saying you understand it cannot be undone. The tick's
    label is set by the view: the client and the therapist confirm different sentences."""

    password = PasswordField(
        "Your password",
        validators=[DataRequired("Enter your password."),
                    Length(max=MAX_LENGTH, message=f"Use at most {MAX_LENGTH} characters.")],
        render_kw={"autocomplete": "current-password", "maxlength": MAX_LENGTH},
    )
    confirm = BooleanField(
        "I understand this cannot be undone",
        validators=[DataRequired("Tick the box to confirm.")],
    )
