"""The signed-in user's own account: details, password, signed-in devices and two-factor
sign-in; for clients, their rights over their data too: download it, see who at the practice
has seen their record, delete the account.

The two-factor forms take a password or a code, so their POSTs share the login's rate limit
(per address): a browser left signed in is no place to guess either."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from portal.extensions import db, limiter
from portal.models import MOMENTS, Feedback, Role
from portal.services import (
    accounts,
    devices,
    dose,
    erasure,
    intake,
    passkeys,
    two_factor,
    wording,
)
from portal.services import client_record as record_service
from portal.services.clients import parse_page
from portal.services.errors import Conflict, InvalidInput, NotFound
from portal.web import second_factor, sessions, transactions
from portal.web.access import open_during_enrolment, restrict, roles
from portal.web.account.forms import (
    ChangePasswordForm,
    ConfirmAppForm,
    NewPasskeyForm,
    PasswordAndCodeForm,
    RemovePasskeyForm,
)
from portal.web.deps import client_ip, now, passwords, practice, practice_zone, secret_box
from portal.web.downloads import json_attachment
from portal.web.erasure_form import EraseForm
from portal.web.forms import apply_error
from portal.web.qr import qr_svg
from portal.web.rate_limits import login_limit

bp = Blueprint("account", __name__, url_prefix="/account")
restrict(bp, Role.CLIENT, Role.THERAPIST)


@bp.route("/")
def index():
    """The user's details, what they can change, and the devices signed in to the account."""
    lifetimes = sessions.lifetimes()
    signed_in = devices.signed_in(db.session, current_user._get_current_object(), now=now(),
                                  lifetimes=lifetimes)
    return render_template("account/index.html", devices=signed_in,
                           state=two_factor.status(db.session, _user()),
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
        user = _user()
        try:
            accounts.change_password(
                db.session, passwords(), user, current=form.current_password.data,
                new=form.new_password.data, now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            apply_error(form, error)
        else:
            _stay_signed_in(user)
            flash("Your password is changed. Other devices have been signed out.", "success")
            return redirect(url_for("account.index"))
    return render_template("account/password.html", form=form)


# --- the client's rights over their data ---------------------------------------------------


@bp.route("/data")
@roles(Role.CLIENT)
def data():
    """Everything the practice holds about the client, as a page to read or print; each
    showing is audited (and listed on the page itself)."""
    me = current_user._get_current_object()
    record = record_service.export_record(db.session, me, me, now(), ip=client_ip(),
                                          shown_as="page")
    return render_template(
        "account/data.html", data=record, red_flags={f.key: f.question for f in intake.RED_FLAGS},
        describe=dose.describe_draft, moments=dose.describe_moments,
        moment_labels={m.value: m.label for m in MOMENTS},
        feedback_labels={f.value: f.label for f in Feedback})


@bp.route("/data.json")
@roles(Role.CLIENT)
def data_file():
    """The same as a JSON file to keep or take elsewhere; audited."""
    me = current_user._get_current_object()
    record = record_service.export_record(db.session, me, me, now(), ip=client_ip(),
                                          shown_as="file")
    return json_attachment(record, f"my-data-{record['exported_at_local'][:10]}.json")


@bp.route("/views")
@roles(Role.CLIENT)
def views():
    """Each time someone at the practice opened or downloaded the client's record."""
    me = current_user._get_current_object()
    trail = record_service.record_views(db.session, me, me, parse_page(request.args.get("page")))
    return render_template("account/views.html", trail=trail,
                           labels=record_service.PRACTICE_VIEWS)


@bp.route("/delete", methods=["GET", "POST"])
@roles(Role.CLIENT)
@limiter.limit(login_limit, methods=["POST"])
def delete():
    """Delete the account: sign-in and contact details go now, clinical records stay until
    the retention date. Asks for the password and a tick; signs the client out."""
    me = current_user._get_current_object()
    form = EraseForm()
    form.confirm.label.text = ("I understand that my account is deleted at once and cannot be "
                               "restored")
    if form.validate_on_submit():
        try:
            done = erasure.erase_client(db.session, passwords(), me, me,
                                        password=form.password.data, now=now(),
                                        ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            kept_until = wording.date_with_year(done.retain_until, practice_zone())
            # As when signing out: the browser forgets the offline copy of Today and anything
            # stored for it (the session cookie stays, to carry the message).
            sessions.end(clear_site_data=True)
            flash(f"Your account is deleted and you are signed out. Your health records are "
                  f"kept until {kept_until}, then deleted for good. If you ever need them, "
                  f"contact the practice and quote reference #{done.client_id}.", "success")
            return redirect(url_for("auth.login"))
    plan = erasure.plan(db.session, me, now())
    return render_template("account/delete.html", form=form, plan=plan)


# --- two-factor sign-in ---------------------------------------------------------------------


@bp.route("/two-factor", endpoint="two_factor")
@open_during_enrolment
def two_factor_page():
    """What protects the account beyond the password, and how to change it (for a therapist
    without a second factor: the page that sets one up, the only page open to them)."""
    return render_template("account/two_factor.html",
                           state=two_factor.status(db.session, _user()),
                           passkeys_on=second_factor.relying_party() is not None)


@bp.route("/two-factor/app", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
@open_during_enrolment
def app_setup():
    """Set up an authenticator app: scan the code (or type the key), give the first code;
    then the recovery codes are shown, once."""
    user = _user()
    try:
        secret = two_factor.begin_app(db.session, secret_box(), user, now())
    except Conflict as error:
        flash(error.message, "info")
        return redirect(url_for("account.two_factor"))
    form = ConfirmAppForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_app(db.session, secret_box(), user, code=form.code.data,
                                           now=now(), ip=client_ip(),
                                           device=sessions.device_name())
        except InvalidInput as error:
            # The secret being set up is kept (the app holds it already): keep the writes.
            apply_error(form, error, keep_writes=True)
        else:
            _stay_signed_in(user)
            return _show_codes(codes, "Your authenticator app is set up.")
    issuer = practice().name if practice() else "Portal"
    uri = two_factor.setup_uri(secret, account=user.email, issuer=issuer)
    return render_template(
        "account/app_setup.html", form=form, key=" ".join(secret[i:i + 4]
                                                         for i in range(0, len(secret), 4)),
        qr=qr_svg(uri, title="QR code to scan with your authenticator app",
                  css_class="setup-qr__code"))


@bp.route("/two-factor/app/off", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def app_off():
    """Turn the authenticator app off: the password and a code."""
    state = two_factor.status(db.session, _user())
    if not state.app:
        return redirect(url_for("account.two_factor"))
    form = PasswordAndCodeForm()
    if form.validate_on_submit():
        try:
            still_on = two_factor.disable_app(
                db.session, passwords(), secret_box(), _user(), password=form.password.data,
                code=form.code.data, now=now(), ip=client_ip(), device=sessions.device_name())
        except InvalidInput as error:
            apply_error(form, error, keep_writes=True)
        else:
            flash("Your authenticator app is turned off." if still_on else
                  "Two-factor sign-in is off: your password alone now signs you in.", "success")
            return redirect(url_for("account.two_factor"))
    return render_template("account/app_off.html", form=form, state=state)


@bp.route("/two-factor/recovery-codes", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def recovery_codes():
    """Make new recovery codes (the old ones stop working): the password and a code."""
    state = two_factor.status(db.session, _user())
    if not state.on:
        return redirect(url_for("account.two_factor"))
    form = PasswordAndCodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.renew_recovery_codes(
                db.session, passwords(), secret_box(), _user(), password=form.password.data,
                code=form.code.data, now=now(), ip=client_ip(), device=sessions.device_name())
        except InvalidInput as error:
            apply_error(form, error, keep_writes=True)
        else:
            return _show_codes(codes, "Here are your new recovery codes. The old ones no "
                                      "longer work.")
    return render_template("account/recovery_renew.html", form=form, state=state)


@bp.route("/two-factor/passkeys/new", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
@open_during_enrolment
def passkey_add():
    """Register a passkey: name it, then let the browser make it (passkeys.js)."""
    rp = second_factor.relying_party()
    if rp is None:
        flash("Passkeys are not available on this site yet.", "info")
        return redirect(url_for("account.two_factor"))
    user = _user()
    form = NewPasskeyForm()
    if form.validate_on_submit():
        try:
            codes = passkeys.register(
                db.session, secret_box(), user, rp, name=form.name.data,
                credential=form.credential.data or "",
                challenge=second_factor.take_challenge(second_factor.REGISTER), now=now(),
                ip=client_ip(), device=sessions.device_name())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            if codes is not None:
                _stay_signed_in(user)
                return _show_codes(codes, "Your passkey is added.")
            flash("Your passkey is added.", "success")
            return redirect(url_for("account.two_factor"))
    options = passkeys.registration_options(
        db.session, user, rp, challenge=second_factor.new_challenge(second_factor.REGISTER),
        now=now())
    return render_template("account/passkey_add.html", form=form, options=options)


@bp.route("/two-factor/passkeys/<int:passkey_id>/remove", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def passkey_remove(passkey_id: int):
    """Remove a passkey: the password (and a recovery code if it is the last factor)."""
    user = _user()
    key = passkeys.get_own(db.session, user, passkey_id)
    last = passkeys.is_last_factor(db.session, user, key)
    form = RemovePasskeyForm()
    if form.validate_on_submit():
        try:
            still_on = passkeys.remove(
                db.session, passwords(), secret_box(), user, passkey_id,
                password=form.password.data, code=form.code.data or "", now=now(),
                ip=client_ip(), device=sessions.device_name())
        except InvalidInput as error:
            apply_error(form, error, keep_writes=True)
        else:
            flash(f"The passkey “{key.name}” is removed." if still_on else
                  "The passkey is removed and two-factor sign-in is off.", "success")
            return redirect(url_for("account.two_factor"))
    return render_template("account/passkey_remove.html", form=form, key=key, last=last)


def _user():
    return current_user._get_current_object()


def _stay_signed_in(user) -> None:
    """The change ended every session of the user: start a new one for this browser."""
    sessions.start(user, remember=bool(session.get("remember")))


def _show_codes(codes: list[str] | None, done: str):
    """The recovery codes, in this response only (never stored in the clear, never sent
    again); or, when the user still has codes, back to the two-factor page."""
    if codes is None:
        flash(f"{done} Your recovery codes still work.", "success")
        return redirect(url_for("account.two_factor"))
    return render_template("account/recovery_codes.html", codes=codes, done=done)
