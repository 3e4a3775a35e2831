"""Forms for the signed-in user's own account."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from portal.services.passkeys import NAME_MAX
from portal.web.forms import (
    app_code_field,
    confirm_field,
    current_password_field,
    new_password_field,
    recovery_code_field,
)

EITHER_CODE = "The 6-digit code your authenticator app shows now, or one of your recovery codes."


class ChangePasswordForm(FlaskForm):
    """Current password, then the new one twice."""

    current_password = current_password_field("Current password",
                                              "Enter your current password.")
    new_password = new_password_field()
    confirm = confirm_field("new_password")


class ConfirmAppForm(FlaskForm):
    """The first code from a newly set-up authenticator app."""

    code = app_code_field("Code from the app")


class PasswordAndCodeForm(FlaskForm):
    """The password and a code, before turning the app off or making new recovery codes."""

    password = current_password_field()
    code = recovery_code_field("Code", EITHER_CODE)


class NewPasskeyForm(FlaskForm):
    """A name for the passkey, and the browser's answer (filled in by passkeys.js)."""

    name = StringField(
        "Name this passkey",
        validators=[DataRequired("Give the passkey a name, like “Jo's phone”."),
                    Length(max=NAME_MAX, message=f"Use at most {NAME_MAX} characters.")],
        description="So you can tell your passkeys apart, for example “Work laptop”.",
        render_kw={"maxlength": NAME_MAX, "autocomplete": "off"},
    )
    credential = HiddenField()


class RemovePasskeyForm(FlaskForm):
    """The password, and a recovery code when this is the last second factor."""

    password = current_password_field()
    code = StringField("Recovery code", validators=[Length(max=40)],
                       render_kw={"autocomplete": "off", "autocapitalize": "off",
                                  "spellcheck": "false", "maxlength": 40})
