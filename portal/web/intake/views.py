"""The health questionnaire and consent, completed before the first booking."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Role
from portal.services import erasure, intake
from portal.services.errors import InvalidInput
from portal.web.access import restrict
from portal.web.deps import client_ip, now, practice
from portal.web.forms import apply_error, safe_next
from portal.web.intake.forms import QuestionnaireForm, flag_field_name

bp = Blueprint("intake", __name__, url_prefix="/intake")
restrict(bp, Role.CLIENT)


@bp.route("/", methods=["GET", "POST"])
def index():
    """Show the questionnaire filled with the latest answers; save a new version."""
    user = current_user._get_current_object()
    latest = intake.current(db.session, user)
    form = QuestionnaireForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        if latest is not None:
            _prefill(form, latest)
    if form.validate_on_submit():
        try:
            intake.submit(
                db.session, user, user,
                answers={key: form[key].data or "" for key in intake.TEXT_FIELDS},
                red_flags={flag.key: form[flag_field_name(flag.key)].data == "yes"
                           for flag in intake.RED_FLAGS},
                consent=bool(form.consent.data), now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            apply_error(form, error)
        else:
            target = safe_next(form.next.data)
            flash("Thank you. Your health questionnaire is saved."
                  + (" Now choose your session." if target else ""), "success")
            return redirect(target or url_for("home.index"))
    return render_template("intake/index.html", form=form, latest=latest,
                           consent_text=intake.CONSENT_TEXT,
                           consent_version=intake.CONSENT_VERSION,
                           retention_years=erasure.retention_years(practice()),
                           up_to_date=latest is not None and intake.is_complete(db.session, user))


def _prefill(form: QuestionnaireForm, latest) -> None:
    """Start from the newest submission so an update changes only what changed."""
    answers = latest.answers or {}
    for key in intake.TEXT_FIELDS:
        form[key].data = answers.get(key, "")
    flagged = set(latest.red_flags or [])
    for flag in intake.RED_FLAGS:
        form[flag_field_name(flag.key)].data = "yes" if flag.key in flagged else "no"
    # Consent is kept only for the text the client actually agreed to.
    form.consent.data = latest.consent_version == intake.CONSENT_VERSION
