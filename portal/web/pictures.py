"""Exercise pictures as the client's pages show them: a seeded drawing (a static file) or an
uploaded picture (served by the library's picture route, which lets clients in)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import current_app, url_for

from portal.models import Exercise

# The seeded drawings share one canvas (static/img/exercises/*.svg).
DRAWING_SIZE = (320, 200)


@dataclass(frozen=True)
class Picture:
    """What the <img> of an exercise needs."""

    url: str
    width: int
    height: int


def picture_of(exercise: Exercise) -> Picture | None:
    """The exercise's picture, or None when there is none to show.

    Seeded drawings are static files, checked on disk so a drawing not made yet is no broken
    image. Uploaded pictures are served by the library's picture route, which lets clients in
    (tests/web/test_route_security.py holds it to that).
    """
    if exercise.picture_id is not None:
        uploaded = exercise.picture
        if uploaded is None:
            return None
        return Picture(url_for("library.picture", picture_id=exercise.picture_id),
                       uploaded.width, uploaded.height)
    path = exercise.picture_path
    if path and current_app.static_folder:
        static = Path(current_app.static_folder).resolve()
        target = (static / path).resolve()
        if target.is_relative_to(static) and target.is_file():
            return Picture(url_for("static", filename=path), *DRAWING_SIZE)
    return None
