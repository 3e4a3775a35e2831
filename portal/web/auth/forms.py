"""Forms for signing in, registering and setting passwords."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from portal.web.forms import (
    app_code_field,
    confirm_field,
    new_password_field,
    recovery_code_field,
)


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField("Email", validators=[DataRequired("Enter your email address."),
                                            Length(max=254)],
                       render_kw={"autocomplete": "username", "inputmode": "email"})
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=128)],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField("Keep me signed in on this device for 30 days")
    next = HiddenField()


class EmailForm(FlaskForm):
    """Just an email address (password reset)."""

    email = EmailField("Email", validators=[DataRequired("Enter your email address."),
                                            Length(max=254)],
                       render_kw={"autocomplete": "email", "inputmode": "email"})


class RegisterForm(FlaskForm):
    """Name and email for self-registration."""

    name = StringField("Your name", validators=[DataRequired("Enter your name."),
                                                Length(max=120)],
                       render_kw={"autocomplete": "name"})
    email = EmailField("Email", validators=[DataRequired("Enter your email address."),
                                            Length(max=254)],
                       render_kw={"autocomplete": "email", "inputmode": "email"})


class SetPasswordForm(FlaskForm):
    """A new password, twice."""

    password = new_password_field("Choose a password")
    confirm = confirm_field("password")


class AppCodeForm(FlaskForm):
    """The second step: a code from the authenticator app."""

    code = app_code_field()


class RecoveryCodeForm(FlaskForm):
    """The second step with a recovery code instead."""

    code = recovery_code_field(description="One of the codes you saved when you set up "
                                           "two-factor sign-in, like abcde-fghjk.")


class PasskeyForm(FlaskForm):
    """A passkey's answer (filled in by passkeys.js), with the sign-in's choices."""

    credential = HiddenField()
    remember = HiddenField()
    next = HiddenField()
