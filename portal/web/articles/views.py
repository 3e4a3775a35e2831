"""The practice's articles, for anyone: the list, each article at its canonical address, the
picture of the exercise an article features, and the Atom feed.

Nothing here reads or writes the session, so an anonymous reader gets no cookie (the
enquiry form, which needs its CSRF token, is on its own page)."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from portal.extensions import db
from portal.models import Picture
from portal.services import articles, pictures
from portal.web.access import public
from portal.web.article_view import featured_of, view_of
from portal.web.deps import now, practice

bp = Blueprint("articles", __name__, url_prefix="/articles")

FEED_ENTRIES = 20
# The picture of a live article's exercise carries no personal data; browsers may keep it.
PICTURE_CACHE = "private, max-age=86400"


@bp.route("/")
@public
def index():
    """Every live article, newest first, a page at a time."""
    page = request.args.get("page", 1, type=int)
    found = articles.live_page(db.session, now(), page)
    return render_template("articles/index.html", found=found)


@bp.route("/<slug>")
@public
def show(slug: str):
    """One live article; a former address or another spelling of this one redirects
    permanently to the current address."""
    article = articles.find_live(db.session, slug, now())
    if slug != article.slug:
        return redirect(url_for("articles.show", slug=article.slug), code=301)
    view = view_of(article)
    can_edit = current_user.is_authenticated and current_user.is_therapist
    return render_template("articles/show.html", view=view, article=article,
                           json_ld=view.json_ld(practice()), can_edit=can_edit)


@bp.route("/<slug>/picture")
@public
def picture(slug: str):
    """The uploaded picture of a live article's exercise: the only uploaded picture a reader
    who is not signed in can fetch (the library serves the rest to signed-in users only)."""
    article = articles.find_live(db.session, slug, now())
    featured = featured_of(article, public=True)
    exercise = featured.exercise if featured else None
    row = db.session.get(Picture, exercise.picture_id) if exercise and exercise.picture_id else None
    path = (pictures.path_of(Path(current_app.config["UPLOAD_DIR"]), row.stored_name)
            if row else None)
    if path is None or not path.is_file():
        abort(404)
    response = send_file(path, mimetype=row.content_type, conditional=True, etag=row.sha256,
                         max_age=None)
    response.headers["Cache-Control"] = PICTURE_CACHE
    return response


@bp.route("/feed.atom")
@public
def feed():
    """The newest articles as an Atom feed (RFC 4287), whole articles included."""
    entries = [view_of(a) for a in articles.latest(db.session, now(), FEED_ENTRIES)]
    # An empty feed still needs a date: when the practice was set up (or now).
    found = practice()
    fallback = found.created_at if found else now()
    body = render_template("articles/feed.xml", entries=entries, changed_at=articles.changed_at,
                           host=request.host.partition(":")[0],
                           updated=max((articles.changed_at(v.article) for v in entries),
                                       default=fallback))
    return current_app.response_class(body, mimetype="application/atom+xml")
