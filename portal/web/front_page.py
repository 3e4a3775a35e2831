"""The practice's public front page, rendered for visitors (home) and for the therapist's
preview (writing), from one place so the two never differ."""

from __future__ import annotations

from flask import render_template

from portal.extensions import db
from portal.services import articles, booking, prose
from portal.web.deps import now, practice

LATEST_ARTICLES = 3


def render(*, preview: bool = False) -> str:
    """The front page: the practice and its introduction, its services, the newest articles,
    and the ways to book or ask. It touches no session, so it sets no cookie."""
    found = practice()
    return render_template(
        "home/front.html", preview=preview,
        intro=prose.to_html(found.intro if found else ""),
        services=booking.active_services(db.session) if found else [],
        latest=articles.latest(db.session, now(), LATEST_ARTICLES) if found else [])
