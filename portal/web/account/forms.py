"""Forms for the signed-in user's own account."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from portal.web.forms import confirm_field, new_password_field


class ChangePasswordForm(FlaskForm):
    """Current password, then the new one twice."""

    current_password = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = new_password_field()
    confirm = confirm_field("new_password")
