"""Signing in and out, invitations, registration and password resets."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from portal.extensions import db, limiter
from portal.models import Role
from portal.services import accounts, passkeys, two_factor
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.services.tokens import INVITE, RESET, LinkExpired
from portal.web import second_factor, sessions, transactions
from portal.web.access import open_during_enrolment, public, roles
from portal.web.auth.forms import (
    AppCodeForm,
    EmailForm,
    LoginForm,
    PasskeyForm,
    RecoveryCodeForm,
    RegisterForm,
    SetPasswordForm,
)
from portal.web.deps import client_ip, now, passwords, secret_box, tokens
from portal.web.forms import apply_error, safe_next
from portal.web.links import invite_link, reset_link, set_password_link_prefixes
from portal.web.rate_limits import email_limit, login_limit

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(login_limit, methods=["POST"])
def login():
    """Sign in with email and password (then a second factor, for those who have one), or
    with a passkey alone."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if request.method == "GET":
        # Coming back to the login page abandons a sign-in half done.
        second_factor.forget()
        form.next.data = safe_next(request.args.get("next")) or ""
        form.email.data = request.args.get("email", "")[:254]
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                db.session, passwords(), email=form.email.data, password=form.password.data,
                now=now(), guard=sessions.login_guard(), ip=client_ip(),
            )
        except InvalidInput as error:
            # A wrong password is an answer, not a failed request: the failure count (and
            # any pause it starts) is committed with this page, or lockout would never come.
            apply_error(form, error, keep_writes=True)
        else:
            if two_factor.is_on(db.session, user):
                second_factor.begin(user, remember=bool(form.remember.data),
                                    next_url=form.next.data)
                return redirect(url_for("auth.second_step"))
            sessions.start(user, remember=bool(form.remember.data))
            return redirect(safe_next(form.next.data) or url_for("home.index"))
    return render_template("auth/login.html", form=form,
                           self_registration=_self_registration_open(),
                           passkey=_passkey_sign_in(form))


def _passkey_sign_in(login_form: LoginForm) -> dict | None:
    """The passkey form of the login page, with a fresh challenge (None when passkeys are
    off)."""
    rp = second_factor.relying_party()
    if rp is None:
        return None
    form = PasskeyForm(formdata=None, next=login_form.next.data or "")
    options = passkeys.authentication_options(
        db.session, rp, challenge=second_factor.new_challenge(second_factor.LOGIN))
    return {"form": form, "options": options}


@bp.route("/passkey", methods=["POST"])
@public
@limiter.limit(login_limit)
def passkey():
    """Sign in with a passkey alone (it verified the person: two factors in one)."""
    form = PasskeyForm()
    rp = second_factor.relying_party()
    if not form.validate_on_submit() or rp is None:
        abort(400)
    try:
        user = passkeys.authenticate(
            db.session, rp, credential=form.credential.data or "",
            challenge=second_factor.take_challenge(second_factor.LOGIN), now=now())
    except InvalidInput as error:
        transactions.mark_failed()
        flash(error.message, "error")
        return redirect(url_for("auth.login", next=safe_next(form.next.data)))
    sessions.start(user, remember=form.remember.data == "y")
    return redirect(safe_next(form.next.data) or url_for("home.index"))


@bp.route("/two-factor", methods=["GET", "POST"])
@public
@limiter.limit(login_limit, methods=["POST"])
def second_step():
    """The second step: a code from the app (or a passkey, or a recovery code)."""
    found = second_factor.pending()
    if found is None:
        return _start_again()
    user, note = found
    state = two_factor.status(db.session, user)
    form = AppCodeForm()
    if state.app and form.validate_on_submit():
        try:
            two_factor.check_code(db.session, secret_box(), user, code=form.code.data,
                                  now=now(), ip=client_ip(), device=sessions.device_name())
        except (InvalidInput, Conflict) as error:
            # Wrong codes are counted (and pause code entry): keep the count. The field is
            # emptied for the next code.
            apply_error(form, _as_input(error), keep_writes=True)
            form.code.data = ""
        else:
            return second_factor.complete(user, note)
    return render_template("auth/second_step.html", form=form, state=state,
                           passkey=_passkey_second_step(user, state))


@bp.route("/two-factor/recovery", methods=["GET", "POST"])
@public
@limiter.limit(login_limit, methods=["POST"])
def recovery():
    """The second step with a recovery code, when the app and passkeys are out of reach."""
    found = second_factor.pending()
    if found is None:
        return _start_again()
    user, note = found
    form = RecoveryCodeForm()
    if form.validate_on_submit():
        try:
            left = two_factor.sign_in_with_recovery_code(
                db.session, secret_box(), user, code=form.code.data, now=now(), ip=client_ip(),
                device=sessions.device_name())
        except InvalidInput as error:
            apply_error(form, error, keep_writes=True)
            form.code.data = ""
        else:
            response = second_factor.complete(user, note)
            flash(_codes_left_message(left), "info" if left > 2 else "error")
            return response
    return render_template("auth/recovery.html", form=form)


@bp.route("/two-factor/passkey", methods=["POST"])
@public
@limiter.limit(login_limit)
def second_step_passkey():
    """The second step with one of the user's passkeys."""
    found = second_factor.pending()
    if found is None:
        return _start_again()
    user, note = found
    form = PasskeyForm()
    rp = second_factor.relying_party()
    if not form.validate_on_submit() or rp is None:
        abort(400)
    try:
        passkeys.authenticate(
            db.session, rp, credential=form.credential.data or "",
            challenge=second_factor.take_challenge(second_factor.SECOND_STEP), now=now(),
            user=user)
    except InvalidInput as error:
        transactions.mark_failed()
        flash(error.message, "error")
        return redirect(url_for("auth.second_step"))
    return second_factor.complete(user, note)


def _passkey_second_step(user, state) -> dict | None:
    rp = second_factor.relying_party()
    if rp is None or not state.passkeys:
        return None
    options = passkeys.authentication_options(
        db.session, rp, challenge=second_factor.new_challenge(second_factor.SECOND_STEP),
        user=user)
    return {"form": PasskeyForm(formdata=None), "options": options}


def _start_again():
    flash("Please sign in again: the first step was too long ago, or has not been done.",
          "info")
    return redirect(url_for("auth.login"))


def _as_input(error: InvalidInput | Conflict) -> InvalidInput:
    return error if isinstance(error, InvalidInput) else InvalidInput(None, error.message)


def _codes_left_message(left: int) -> str:
    if left == 0:
        return ("You have used your last recovery code. Make new ones now, from "
                "Account, Two-factor sign-in.")
    codes = "code" if left == 1 else "codes"
    return (f"You are signed in with a recovery code. You have {left} {codes} left; make new "
            "ones from Account, Two-factor sign-in, if you are running low.")


@bp.route("/logout", methods=["POST"])
@roles(Role.CLIENT, Role.THERAPIST)
@open_during_enrolment
def logout():
    """Sign this browser out: its device row ends, so its session and remember-me cookie die
    with it, and the browser is told to forget what the site stored (the offline Today).
    Other devices stay signed in; "Sign out everywhere" is on the account page."""
    sessions.end(clear_site_data=True)
    flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/forgotten", methods=["POST"])
@public
def device_forgotten():
    """static/js/forget.js reports that this browser, signed out from elsewhere, has deleted
    what it kept for offline use: stop asking, and answer with Clear-Site-Data for anything
    the script could not reach. Only for such a browser: anyone else's storage is left be."""
    if sessions.must_forget() and not current_user.is_authenticated:
        sessions.forgotten()
    return "", 204


@bp.route("/forgot", methods=["GET", "POST"])
@public
@limiter.limit(email_limit, methods=["POST"])
def forgot():
    """Ask for a password reset link; the answer never says whether the address is known."""
    form = EmailForm()
    if form.validate_on_submit():
        try:
            # Only a note for the outbox sender: the same work whether or not the address
            # has an account, so the time of the answer gives nothing away.
            reset_url, invite_url = set_password_link_prefixes()
            accounts.request_password_reset(
                db.session, email=form.email.data, reset_url=reset_url, invite_url=invite_url,
                now=now(),
            )
        except InvalidInput as error:
            apply_error(form, error)
        else:
            return render_template("auth/forgot_sent.html", email=form.email.data)
    return render_template("auth/forgot.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
@limiter.limit(login_limit, methods=["POST"])
def reset(token: str):
    """Choose a new password from a reset link."""
    return _set_password(token, RESET, current_app.config["RESET_MAX_AGE"])


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
@limiter.limit(login_limit, methods=["POST"])
def accept_invite(token: str):
    """Choose a first password from an invitation or registration link."""
    return _set_password(token, INVITE, current_app.config["INVITE_MAX_AGE"])


def _set_password(token: str, purpose: str, max_age):
    try:
        user = tokens().resolve(db.session, purpose, token, max_age)
    except NotFound as error:
        return render_template("auth/link_invalid.html", purpose=purpose,
                               expired=isinstance(error, LinkExpired)), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.accept_link(
                db.session, passwords(), tokens(), purpose=purpose, token=token,
                password=form.password.data, max_age=max_age, now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            apply_error(form, error)
        else:
            if current_user.is_authenticated:
                sessions.end()
            # The link came by email: this browser is the account holder's, and may sign in
            # even while sign-ins from new devices are paused.
            sessions.trust_browser(user)
            flash("Your password is set. Sign in with it now.", "success")
            return redirect(url_for("auth.login", email=user.email))
    return render_template("auth/set_password.html", form=form, user=user, purpose=purpose)


@bp.route("/register", methods=["GET", "POST"])
@public
@limiter.limit(email_limit, methods=["POST"])
def register():
    """Self-registration, when the practice allows it."""
    if not _self_registration_open():
        return render_template("auth/register_closed.html")
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            accounts.register_client(
                db.session, email=form.email.data, name=form.name.data,
                link_for=invite_link, reset_link_for=reset_link, now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            apply_error(form, error)
        except PermissionDenied:
            transactions.mark_failed()
            return render_template("auth/register_closed.html")
        else:
            return render_template("auth/register_sent.html", email=form.email.data)
    return render_template("auth/register.html", form=form)


def _self_registration_open() -> bool:
    try:
        return accounts.get_practice(db.session).self_registration
    except NotFound:
        return False
