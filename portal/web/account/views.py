"""The signed-in user's own account: details and password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Role
from portal.services import accounts
from portal.services.errors import InvalidInput
from portal.web import sessions
from portal.web.access import restrict
from portal.web.account.forms import ChangePasswordForm
from portal.web.deps import client_ip, now, passwords
from portal.web.forms import apply_error

bp = Blueprint("account", __name__, url_prefix="/account")
restrict(bp, Role.CLIENT, Role.THERAPIST)


@bp.route("/")
def index():
    """The user's details and what they can change."""
    return render_template("account/index.html")


@bp.route("/password", methods=["GET", "POST"])
def password():
    """Change password; every other device is signed out, this one stays in."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            accounts.change_password(
                db.session, passwords(), user, current=form.current_password.data,
                new=form.new_password.data, now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            apply_error(form, error)
        else:
            sessions.start(user, remember=bool(session.get("remember")))
            flash("Your password is changed. Other devices have been signed out.", "success")
            return redirect(url_for("account.index"))
    return render_template("account/password.html", form=form)
