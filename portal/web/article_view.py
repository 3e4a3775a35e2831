"""An article as a page shows it: the body around its featured exercise, the exercise drawn
live from the library, and what search engines and link previews read (canonical address,
Open Graph, schema.org JSON-LD). Shared by the public pages (articles) and the therapist's
preview (writing)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from markupsafe import Markup

from portal.models import Article, Exercise, Practice
from portal.services import articles, library, prose, wording
from portal.services.dose import describe_dose
from portal.web.pictures import Picture, picture_of


@dataclass(frozen=True)
class FeaturedExercise:
    """The library entry an article features, as it is in the library now."""

    exercise: Exercise
    picture: Picture | None
    dose: str
    moments: list[str]


@dataclass(frozen=True)
class ArticleView:
    """Everything an article's page needs besides the article itself."""

    article: Article
    before: Markup
    after: Markup | None
    featured: FeaturedExercise | None
    url: str
    image_url: str | None

    def json_ld(self, practice: Practice | None) -> list[dict]:
        """schema.org data: the article, and the exercise's steps as a HowTo."""
        article = self.article
        publisher = {"@type": "Organization", "name": practice.name} if practice else None
        posting = {
            "@context": "https://schema.org", "@type": "BlogPosting",
            "headline": article.title, "description": article.summary,
            "url": self.url, "mainEntityOfPage": self.url,
            "datePublished": wording.iso(article.published_at) if article.published_at else None,
            "dateModified": wording.iso(articles.changed_at(article)),
            "image": self.image_url, "publisher": publisher,
        }
        data = [{k: v for k, v in posting.items() if v is not None}]
        if self.featured is not None:
            exercise = self.featured.exercise
            how_to = {
                "@context": "https://schema.org", "@type": "HowTo",
                "name": exercise.name, "description": exercise.summary,
                "image": self.image_url,
                "step": [{"@type": "HowToStep", "position": n, "text": step}
                         for n, step in enumerate(exercise.steps or [], start=1)],
            }
            data.append({k: v for k, v in how_to.items() if v is not None})
        return data


def featured_of(article: Article, *, public: bool) -> FeaturedExercise | None:
    """The article's exercise while it is published in the library (a draft or deleted one is
    not shown). On public pages an uploaded picture comes from the article's own picture
    route: the library's picture route is for signed-in users."""
    exercise = article.exercise
    if exercise is None or not exercise.published:
        return None
    picture = picture_of(exercise)
    if picture is not None and public and exercise.picture_id is not None:
        picture = Picture(url_for("articles.picture", slug=article.slug), picture.width,
                          picture.height)
    return FeaturedExercise(
        exercise=exercise, picture=picture, dose=describe_dose(exercise),
        moments=[moment.label for moment in library.good_moments(exercise)])


def view_of(article: Article, *, public: bool = True) -> ArticleView:
    """The article ready for its page (or the therapist's preview, `public` False)."""
    before, after = prose.split_at_exercise(article.body)
    featured = featured_of(article, public=public)
    image_url = None
    if featured is not None and featured.picture is not None:
        image_url = _absolute(featured.picture.url)
    return ArticleView(
        article=article, before=prose.to_html(before),
        after=prose.to_html(after) if after is not None else None, featured=featured,
        url=url_for("articles.show", slug=article.slug, _external=True), image_url=image_url)


def _absolute(path: str) -> str:
    """An absolute URL for a path on this site."""
    return url_for("home.index", _external=True).rstrip("/") + path
