"""The signed-in user's own account: details, password and signed-in devices."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Role
from portal.services import accounts, devices
from portal.services.errors import InvalidInput, NotFound
from portal.web import sessions, transactions
from portal.web.access import restrict
from portal.web.account.forms import ChangePasswordForm
from portal.web.deps import client_ip, now, passwords
from portal.web.forms import apply_error

bp = Blueprint("account", __name__, url_prefix="/account")
restrict(bp, Role.CLIENT, Role.THERAPIST)


@bp.route("/")
def index():
    """The user's details, what they can change, and the devices signed in to the account."""
    lifetimes = sessions.lifetimes()
    signed_in = devices.signed_in(db.session, current_user._get_current_object(), now=now(),
                                  lifetimes=lifetimes)
    return render_template("account/index.html", devices=signed_in,
                           this_device=sessions.current_device(),
                           remembered_days=lifetimes.remembered.days)


@bp.route("/devices/<int:device_id>/sign-out", methods=["POST"])
def sign_out_device(device_id: int):
    """Sign out one device: its next request finds itself signed out."""
    this_device = sessions.current_device()
    if this_device is not None and this_device.id == device_id:
        sessions.end(clear_site_data=True)
        flash("You are signed out.", "success")
        return redirect(url_for("auth.login"))
    try:
        device = devices.sign_out(db.session, current_user._get_current_object(), device_id,
                                  now())
    except NotFound:
        transactions.mark_failed()
        flash("That device was already signed out.", "info")
    else:
        flash(f"{device.description} is signed out.", "success")
    return redirect(url_for("account.index", _anchor="devices"))


@bp.route("/sign-out-everywhere", methods=["POST"])
def sign_out_everywhere():
    """Sign out every device, this one included: every session and remember-me cookie dies."""
    accounts.end_sessions(db.session, current_user._get_current_object(), now())
    sessions.end(clear_site_data=True)
    flash("You are signed out on every device.", "success")
    return redirect(url_for("auth.login"))


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
