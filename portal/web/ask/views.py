"""The public "Get in touch" form ("Ask about this stretch" from an article): anyone may send
the practice a question, which is stored at once and answered by email from the therapist's
enquiries (portal.services.enquiries says what is sent and kept)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from portal.extensions import db, limiter
from portal.models import Article
from portal.services import articles, enquiries
from portal.services.enquiries import EnquiryInput, EnquiryLinks
from portal.services.errors import InvalidInput, NotFound
from portal.web.access import public
from portal.web.ask.forms import EnquiryForm
from portal.web.deps import now
from portal.web.forms import apply_error
from portal.web.rate_limits import enquiry_limit

bp = Blueprint("ask", __name__, url_prefix="/ask")


def _article(slug: str | None) -> Article | None:
    """The live article a slug names, or None."""
    if not slug:
        return None
    try:
        return articles.find_live(db.session, slug, now())
    except NotFound:
        return None


def _links() -> EnquiryLinks:
    return EnquiryLinks(
        enquiry=lambda e: url_for("enquiries.show", enquiry_id=e.id, _external=True),
        article=lambda a: url_for("articles.show", slug=a.slug, _external=True),
        front_page=url_for("home.index", _external=True))


@bp.route("", methods=["GET", "POST"])
@public
@limiter.limit(enquiry_limit, methods=["POST"])
def index():
    """The form; a question sent goes to the "sent" page (a refresh sends nothing twice)."""
    form = EnquiryForm()
    if not form.is_submitted():
        form.article.data = request.args.get("article", "")[:80]
        if current_user.is_authenticated:
            form.name.data, form.email.data = current_user.name, current_user.email
    article = _article(form.article.data)
    if form.is_submitted() and form.website.data:
        # A bot filled in the field people never see (the CSRF check has passed already):
        # answer as if it worked, and keep nothing.
        return redirect(url_for("ask.sent", article=article.slug if article else None))
    if form.validate_on_submit():
        try:
            enquiries.submit(db.session, EnquiryInput(
                name=form.name.data or "", email=form.email.data or "",
                message=form.message.data or "", consent=bool(form.consent.data),
                article_slug=article.slug if article else None), now(), _links())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            return redirect(url_for("ask.sent", article=article.slug if article else None))
    return render_template("ask/index.html", form=form, article=article)


@bp.route("/sent")
@public
def sent():
    """Thanks, and the way back to the article the question came from."""
    return render_template("ask/sent.html", article=_article(request.args.get("article")))
