"""Writing: the therapist's articles. Write (with a preview), edit, publish now or from a
date, and take back to a draft; the public pages are in portal.web.articles."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Article, Exercise, Role, User
from portal.services import articles, slots, wording
from portal.services.articles import ArticleInput
from portal.services.errors import InvalidInput
from portal.web import front_page
from portal.web.access import restrict
from portal.web.article_view import view_of
from portal.web.deps import now, practice, practice_zone
from portal.web.forms import apply_error, choice
from portal.web.writing.forms import ArticleForm, PublishForm

bp = Blueprint("writing", __name__, url_prefix="/writing")
restrict(bp, Role.THERAPIST)


def _me() -> User:
    """The signed-in therapist (the real object, not the proxy)."""
    return current_user._get_current_object()


@bp.context_processor
def writing_helpers():
    """The state of an article in words, for every writing template."""
    return {"state_of": lambda article: articles.state(article, now())}


@bp.route("/")
def index():
    """Every article, drafts and scheduled ones included, most recently changed first."""
    return render_template("writing/index.html", articles=articles.all_articles(db.session),
                           intro_set=bool(practice() and practice().intro))


@bp.route("/front-page")
def front_page_preview():
    """The front page as visitors see it (signed in, "/" is the dashboard)."""
    return front_page.render(preview=True)


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Write a new article (saved as a draft)."""
    return _form_page(None)


@bp.route("/<int:article_id>/edit", methods=["GET", "POST"])
def edit(article_id: int):
    """Change an article; a published one shows the change at once."""
    return _form_page(articles.get_article(db.session, article_id))


def _form_page(article: Article | None):
    """The form, its preview (the "Preview" button saves nothing) and the save."""
    form = ArticleForm()
    form.exercise_id.choices = [choice(None, "No exercise")] + [
        choice(e.id, e.name) for e in articles.featurable_exercises(db.session)]
    if article is not None and article.exercise is not None and not article.exercise.published:
        form.exercise_id.choices.append(
            choice(article.exercise.id, f"{article.exercise.name} (a draft in the library)"))
    if article is not None and not form.is_submitted():
        form.title.data, form.summary.data = article.title, article.summary
        form.slug.data, form.body.data = article.slug, article.body
        form.exercise_id.data = article.exercise_id
    preview = None
    if form.validate_on_submit():
        data = ArticleInput(title=form.title.data or "", summary=form.summary.data or "",
                            body=form.body.data or "", exercise_id=form.exercise_id.data,
                            slug=(form.slug.data or "").strip() or None)
        if request.form.get("action") == "preview":
            preview = _preview(article, data)
        else:
            try:
                if article is None:
                    saved = articles.create_article(db.session, _me(), data, now())
                else:
                    saved = articles.update_article(db.session, _me(), article.id, data, now())
            except InvalidInput as error:
                apply_error(form, error)
            else:
                flash(f"\u201c{saved.title}\u201d saved." + (
                    " It is a draft: publish it when it's ready." if article is None else ""),
                    "success")
                return redirect(url_for("writing.show", article_id=saved.id))
    return render_template("writing/form.html", form=form, article=article, preview=preview)


def _preview(article: Article | None, data: ArticleInput):
    """The unsaved text as readers would see it, on an article object never added to the
    database session."""
    exercise = db.session.get(Exercise, data.exercise_id) if data.exercise_id else None
    draft = Article(id=article.id if article else None,
                    slug=data.slug or (article.slug if article else "preview"),
                    title=" ".join(data.title.split()), summary=data.summary,
                    body=data.body.replace("\r\n", "\n"), exercise=exercise,
                    published_at=article.published_at if article else None,
                    updated_at=now(), created_at=now())
    return view_of(draft, public=False)


@bp.route("/<int:article_id>")
def show(article_id: int):
    """The article as readers see it, with its state and the publishing controls."""
    article = articles.get_article(db.session, article_id)
    form = PublishForm()
    if articles.state(article, now()) == "scheduled":
        # Changing the date starts from the one set, with the same choice about featuring.
        local = wording.local(article.published_at, practice_zone())
        form.when.data, form.day.data, form.time.data = "later", local.date(), local.time()
        form.feature_exercise.data = article.feature_exercise
    return _show(article, form)


def _show(article: Article, form: PublishForm):
    """The article's page; after a refused publish form, with its messages."""
    return render_template("writing/show.html", article=article, form=form,
                           view=view_of(article, public=False),
                           state=articles.state(article, now()),
                           exercise_featured=bool(
                               article.exercise_id and practice()
                               and practice().featured_exercise_id == article.exercise_id),
                           public_url=url_for("articles.show", slug=article.slug))


@bp.route("/<int:article_id>/publish", methods=["POST"])
def publish(article_id: int):
    """Publish now, or from a date in the practice's time zone."""
    article = articles.get_article(db.session, article_id)
    form = PublishForm()
    if not form.validate_on_submit():
        return _show(article, form)
    at = None
    if form.when.data == "later":
        if form.day.data is None or form.time.data is None:
            if form.day.data is None and not form.day.errors:
                form.day.errors = ["Choose the date it goes live."]
            if form.time.data is None and not form.time.errors:
                form.time.errors = ["Choose the time it goes live, like 08:00."]
            return _show(article, form)
        at = slots.resolve(form.day.data, form.time.data, practice_zone())
    try:
        saved = articles.publish(db.session, _me(), article.id, now(), at=at,
                                 feature_exercise=bool(form.feature_exercise.data))
    except InvalidInput as error:
        if error.field == "publish_at":
            error = InvalidInput("day", error.message)
        apply_error(form, error)
        return _show(articles.get_article(db.session, article_id), form)
    featured = " Its exercise is now the exercise of the week on every client's home page." \
        if saved.feature_exercise and saved.featured_applied_at else ""
    if at is None:
        flash(f"\u201c{saved.title}\u201d is published.{featured}", "success")
    else:
        then = " Its exercise becomes the exercise of the week then." \
            if saved.feature_exercise else ""
        flash(f"\u201c{saved.title}\u201d will be published on "
              f"{wording.day_and_time(at, practice_zone())}.{then}", "success")
    return redirect(url_for("writing.show", article_id=saved.id))


@bp.route("/<int:article_id>/unpublish", methods=["POST"])
def unpublish(article_id: int):
    """Take the article off the site (back to a draft)."""
    article = articles.unpublish(db.session, _me(), article_id, now())
    flash(f"\u201c{article.title}\u201d is a draft again: readers can no longer see it. The "
          "exercise of the week stays as it is (change it in the library).", "success")
    return redirect(url_for("writing.show", article_id=article.id))
