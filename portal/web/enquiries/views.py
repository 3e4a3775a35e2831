"""Enquiries: the questions sent through the public form. Read them, reply by email, mark
them done (or new again), and delete one when its sender asks."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import EnquiryStatus, Role, User
from portal.services import enquiries
from portal.services.errors import InvalidInput
from portal.web.access import restrict
from portal.web.deps import client_ip, now
from portal.web.enquiries.forms import ReplyForm
from portal.web.forms import apply_error

bp = Blueprint("enquiries", __name__, url_prefix="/enquiries")
restrict(bp, Role.THERAPIST)


def _me() -> User:
    """The signed-in therapist (the real object, not the proxy)."""
    return current_user._get_current_object()


@bp.route("/")
def index():
    """New enquiries (or done ones), newest first."""
    status = EnquiryStatus.DONE if request.args.get("status") == "done" else EnquiryStatus.NEW
    found = enquiries.listing(db.session, _me(), status, request.args.get("page", 1, type=int))
    return render_template("enquiries/index.html", found=found,
                           counts=enquiries.counts(db.session),
                           kept_days=enquiries.DONE_KEPT_DAYS)


@bp.route("/<int:enquiry_id>")
def show(enquiry_id: int):
    """One enquiry with its replies and the reply form; opening it marks it read."""
    enquiry = enquiries.open_enquiry(db.session, _me(), enquiry_id, now())
    return render_template("enquiries/show.html", enquiry=enquiry, form=ReplyForm())


@bp.route("/<int:enquiry_id>/reply", methods=["POST"])
def reply(enquiry_id: int):
    """Email a reply to the sender."""
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            enquiries.reply(db.session, _me(), enquiry_id, form.body.data or "", now(),
                            mark_done=bool(form.mark_done.data), ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            done = " and the enquiry is marked done" if form.mark_done.data else ""
            flash(f"Your reply is on its way{done}.", "success")
            if form.mark_done.data:
                return redirect(url_for("enquiries.index"))
            return redirect(url_for("enquiries.show", enquiry_id=enquiry_id))
    enquiry = enquiries.get(db.session, _me(), enquiry_id)
    return render_template("enquiries/show.html", enquiry=enquiry, form=form)


@bp.route("/<int:enquiry_id>/done", methods=["POST"])
def done(enquiry_id: int):
    """Mark the enquiry dealt with."""
    enquiries.set_done(db.session, _me(), enquiry_id, True, now(), ip=client_ip())
    flash("Marked done.", "success")
    return redirect(url_for("enquiries.index"))


@bp.route("/<int:enquiry_id>/reopen", methods=["POST"])
def reopen(enquiry_id: int):
    """Put the enquiry back among the new ones."""
    enquiries.set_done(db.session, _me(), enquiry_id, False, now(), ip=client_ip())
    flash("The enquiry is back among the new ones.", "success")
    return redirect(url_for("enquiries.show", enquiry_id=enquiry_id))


@bp.route("/<int:enquiry_id>/delete", methods=["GET", "POST"])
def delete(enquiry_id: int):
    """Ask, then delete the enquiry and its replies for good."""
    enquiry = enquiries.get(db.session, _me(), enquiry_id)
    if request.method == "POST":
        enquiries.delete_enquiry(db.session, _me(), enquiry_id, now(), ip=client_ip())
        flash("The enquiry and its replies are deleted.", "success")
        return redirect(url_for("enquiries.index"))
    return render_template("enquiries/delete.html", enquiry=enquiry)
