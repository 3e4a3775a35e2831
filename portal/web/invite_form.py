"""The invite-a-client form: the Clients surface posts it, and the dashboard shows it too."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length


class InviteForm(FlaskForm):
    """Who to invite."""

    name = StringField("Client's name", validators=[DataRequired("Enter the client's name."),
                                                    Length(max=120)],
                       render_kw={"autocomplete": "off"})
    email = EmailField("Client's email", validators=[DataRequired("Enter the client's email."),
                                                     Length(max=254)],
                       render_kw={"autocomplete": "off", "inputmode": "email"})
