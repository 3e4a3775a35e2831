"""Forms for writing and publishing articles. Shape only: portal.services.articles checks
again and owns the rules (a unique address, a published exercise, a date still to come)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.services.articles import BODY_MAX, SLUG_MAX, SUMMARY_MAX, TITLE_MAX
from portal.services.prose import EXERCISE_MARKER
from portal.web.forms import ClockField, DayField, choice, drop_nul, int_or_none


def _length(limit: int) -> Length:
    return Length(max=limit, message=f"Use at most {limit:,} characters.")


class ArticleForm(FlaskForm):
    """An article's words, address and featured exercise."""

    title = StringField("Title", [DataRequired("Give the article a title."), _length(TITLE_MAX)],
                        filters=[drop_nul], render_kw={"maxlength": TITLE_MAX})
    summary = TextAreaField(
        "Summary", [DataRequired("Add a sentence or two that sums the article up."),
                    _length(SUMMARY_MAX)],
        filters=[drop_nul],
        description="Shown in lists, in search results and when the link is shared.",
        render_kw={"rows": 2, "maxlength": SUMMARY_MAX})
    slug = StringField(
        "Web address", [Optional(), _length(SLUG_MAX)], filters=[drop_nul],
        description="The end of the article's address: lower-case words joined by hyphens. "
                    "Leave it empty to make one from the title. If you change it after "
                    "publishing, the old address keeps working.",
        render_kw={"maxlength": SLUG_MAX, "autocapitalize": "off", "spellcheck": "false"})
    exercise_id = SelectField(
        "Featured exercise", coerce=int_or_none, validate_choice=False,
        description="Its picture, steps, tips, cautions and good moments are shown from the "
                    "library, so they stay up to date.")
    body = TextAreaField(
        "Article", [Optional(), _length(BODY_MAX)], filters=[drop_nul],
        description=f"In Markdown: a blank line between paragraphs, ## for a heading, "
                    f"**bold**, - for a list, [words](https://...) for a link. Put "
                    f"{EXERCISE_MARKER} on a line of its own where the exercise should appear "
                    "(otherwise it comes after the text).",
        render_kw={"rows": 18})


class PublishForm(FlaskForm):
    """Publish now or from a date, optionally featuring the exercise on clients' home pages."""

    when = RadioField("When", choices=[choice("now", "Now"), choice("later", "On a date")],
                      default="now",
                      validators=[InputRequired("Choose now or a date.")])
    day = DayField("Date", [Optional()])
    time = ClockField("Time", [Optional()], default=None)
    feature_exercise = BooleanField("Make its exercise the exercise of the week on every "
                                    "client's home page when it goes live")
