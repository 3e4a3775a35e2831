"""The exercise library: writing, publishing, searching, featuring and deleting exercises."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, func, or_, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.models import (
    BODY_AREAS,
    MOMENTS,
    Exercise,
    ExerciseLevel,
    Moment,
    Picture,
    Practice,
    ProgrammeItem,
    ProgrammeVersion,
    Sides,
    TemplateItem,
    User,
)
from portal.services import audit
from portal.services import practice as practice_service
from portal.services.dose import check_dose
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.services.validation import clean_text

MAX_LIST_ENTRIES = 20
MAX_LIST_ENTRY = 300
MAX_LEVELS = 6
PICTURE_TYPES = ("image/png", "image/jpeg", "image/webp")
# Seeded drawings live in static/img/exercises/; the path is relative to static/.
STATIC_PICTURE_RE = re.compile(r"^img/exercises/[a-z0-9][a-z0-9-]*\.(svg|png|jpg|webp)$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class LevelInput:
    """One rung of a progression ladder as the therapist wrote it; `criterion` says when to
    move up to the next rung (leave it empty on the top rung)."""

    name: str
    instruction: str
    criterion: str = ""


@dataclass(frozen=True)
class ExerciseInput:
    """An exercise as the therapist wrote it, without its ladder (see replace_levels)."""

    name: str
    summary: str
    body_areas: Sequence[str]
    steps: Sequence[str]
    hold_seconds: int = 0
    reps: int = 0
    sets: int = 1
    sides: Sides | str = Sides.NONE
    why_it_helps: str = ""
    cues: Sequence[str] = ()
    cautions: Sequence[str] = ()
    regression: str = ""
    # The moments of the day it suits (Moment values), in any order.
    moments: Sequence[str] = ()
    picture_path: str | None = None
    picture_id: int | None = None
    # Derived from the name when left out on create; kept as it is on update when None.
    slug: str | None = None


@dataclass(frozen=True)
class LadderStep:
    """Where an item stands on its exercise's ladder: the current rung, the next one and the
    criterion for moving up (all empty for an exercise without a ladder)."""

    current: ExerciseLevel | None
    next: ExerciseLevel | None
    criterion: str
    number: int
    total: int


@dataclass(frozen=True)
class Usage:
    """How many programmes (counting every version) and templates use an exercise."""

    programmes: int
    templates: int

    @property
    def in_use(self) -> bool:
        """True when deleting the exercise would take it out from under someone."""
        return bool(self.programmes or self.templates)


def _clean_list(values: Sequence[str], field: str, *, required: str | None = None) -> list[str]:
    if isinstance(values, str):
        values = values.splitlines()
    entries = [" ".join(v.split()) for v in values if v and v.strip()]
    if required and not entries:
        raise InvalidInput(field, required)
    if len(entries) > MAX_LIST_ENTRIES:
        raise InvalidInput(field, f"Use at most {MAX_LIST_ENTRIES} lines.")
    for entry in entries:
        if len(entry) > MAX_LIST_ENTRY:
            raise InvalidInput(field, f"Keep each line under {MAX_LIST_ENTRY} characters.")
    return entries


def _require_therapist(actor: User) -> None:
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can change the library.")


def slugify(name: str) -> str:
    """"Child's pose" -> "childs-pose": lower-case words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", name.lower().replace("'", "").replace("\u2019", ""))
    return "-".join(words)[:80].strip("-") or "exercise"


def _unique_slug(session: Session, base: str, *, exclude_id: int | None = None) -> str:
    taken = set(session.scalars(
        select(Exercise.slug).where(Exercise.slug.like(f"{base[:70]}%"),
                                    Exercise.id != (exclude_id or 0))
    ))
    if base not in taken:
        return base
    n = 2
    while f"{base[:70]}-{n}" in taken:
        n += 1
    return f"{base[:70]}-{n}"


def _clean_exercise(session: Session, data: ExerciseInput) -> dict:
    name = " ".join(clean_text(data.name, "name", 120, required="Give the exercise a name.")
                    .split())
    summary = clean_text(data.summary, "summary", 300,
                         required="Add a one-line summary clients see in lists.")
    areas = list(dict.fromkeys(data.body_areas or ()))
    if not areas:
        raise InvalidInput("body_areas", "Choose at least one body area.")
    unknown = [a for a in areas if a not in BODY_AREAS]
    if unknown:
        raise InvalidInput("body_areas", "Choose body areas from the list.")
    hold, reps, sets, sides = check_dose(data.hold_seconds, data.reps, data.sets, data.sides)
    picture_path = (data.picture_path or "").strip() or None
    if picture_path and data.picture_id:
        raise InvalidInput("picture", "Use either a drawing or an uploaded picture, not both.")
    if picture_path and not STATIC_PICTURE_RE.match(picture_path):
        raise InvalidInput("picture", "Use a drawing from static/img/exercises/.")
    if data.picture_id is not None and session.get(Picture, data.picture_id) is None:
        raise InvalidInput("picture", "That picture no longer exists. Upload it again.")
    chosen = {str(m) for m in data.moments or ()}
    if chosen - {m.value for m in MOMENTS}:
        raise InvalidInput("moments", "Choose moments from the list.")
    return {
        "name": name,
        "summary": summary,
        "why_it_helps": clean_text(data.why_it_helps, "why_it_helps", 2000),
        "steps": _clean_list(data.steps, "steps", required="Write at least one step."),
        "cues": _clean_list(data.cues, "cues"),
        "cautions": _clean_list(data.cautions, "cautions"),
        "body_areas": [a for a in BODY_AREAS if a in areas],
        "hold_seconds": hold, "reps": reps, "sets": sets, "sides": sides,
        "regression": clean_text(data.regression, "regression", 1000),
        # In the order of the day, whatever order they came in.
        "moments": [m.value for m in MOMENTS if m.value in chosen],
        "picture_path": picture_path,
        "picture_id": data.picture_id,
    }


def _check_slug(session: Session, slug: str, exclude_id: int | None) -> str:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug) or len(slug) > 80:
        raise InvalidInput("slug", "Use lower-case letters, digits and hyphens only.")
    clash = session.scalar(select(Exercise.id).where(Exercise.slug == slug,
                                                     Exercise.id != (exclude_id or 0)))
    if clash is not None:
        raise InvalidInput("slug", "Another exercise already uses this web address.")
    return slug


def _clean_levels(levels: Sequence[LevelInput]) -> list[dict]:
    if len(levels) > MAX_LEVELS:
        raise InvalidInput("levels", f"A ladder can have at most {MAX_LEVELS} levels.")
    cleaned = []
    for i, level in enumerate(levels):
        prefix = f"levels-{i}-"
        last = i == len(levels) - 1
        cleaned.append({
            "position": i + 1,
            "name": clean_text(level.name, f"{prefix}name", 120,
                               required="Give this level a name."),
            "instruction": clean_text(level.instruction, f"{prefix}instruction", 1000,
                                      required="Say what changes at this level."),
            "criterion": clean_text(
                level.criterion, f"{prefix}criterion", 300,
                required=None if last else "Say when the client is ready for the next level."),
        })
    return cleaned


# --- reading --------------------------------------------------------------------------------


def get_exercise(session: Session, exercise_id: int, *, published_only: bool = False) -> Exercise:
    """An exercise with its ladder and picture loaded (one query), or NotFound."""
    query = select(Exercise).where(Exercise.id == exercise_id)
    return _one_exercise(session, query, published_only)


def get_exercise_by_slug(session: Session, slug: str, *,
                         published_only: bool = False) -> Exercise:
    """An exercise by its web address, with its ladder and picture loaded, or NotFound."""
    return _one_exercise(session, select(Exercise).where(Exercise.slug == slug), published_only)


def _one_exercise(session: Session, query, published_only: bool) -> Exercise:
    if published_only:
        query = query.where(Exercise.published)
    exercise = session.scalars(
        query.options(joinedload(Exercise.levels), joinedload(Exercise.picture))
    ).unique().one_or_none()
    if exercise is None:
        raise NotFound("No such exercise.")
    return exercise


def search_exercises(
    session: Session, text: str = "", body_area: str | None = None, *,
    published_only: bool = True, limit: int = 100,
) -> list[Exercise]:
    """Exercises whose name or summary contains `text` and which are tagged `body_area`,
    by name (one query; ladders are not loaded)."""
    query = select(Exercise).options(joinedload(Exercise.picture))
    if published_only:
        query = query.where(Exercise.published)
    words = (text or "").strip()[:100]
    if words:
        query = query.where(or_(Exercise.name.icontains(words, autoescape=True),
                                Exercise.summary.icontains(words, autoescape=True)))
    if body_area:
        if body_area not in BODY_AREAS:
            raise InvalidInput("body_area", "Choose a body area from the list.")
        # The JSON text of the list contains the quoted value; vocabulary words never overlap.
        query = query.where(cast(Exercise.body_areas, String).like(f'%"{body_area}"%'))
    return list(session.scalars(query.order_by(Exercise.name, Exercise.id).limit(limit)))


def featured_exercise(session: Session) -> Exercise | None:
    """The practice's "Exercise of the week", if one is featured and published (one query)."""
    return session.scalar(
        select(Exercise).join(Practice, Practice.featured_exercise_id == Exercise.id)
        .where(Exercise.published).options(joinedload(Exercise.picture))
        .order_by(Practice.id).limit(1)
    )


def exercise_usage(session: Session, exercise_id: int) -> Usage:
    """How many programmes (in any version) and templates use the exercise (two queries)."""
    programmes = session.scalar(
        select(func.count(func.distinct(ProgrammeVersion.programme_id)))
        .join(ProgrammeItem, ProgrammeItem.version_id == ProgrammeVersion.id)
        .where(ProgrammeItem.exercise_id == exercise_id)
    ) or 0
    templates = session.scalar(
        select(func.count(func.distinct(TemplateItem.template_id)))
        .where(TemplateItem.exercise_id == exercise_id)
    ) or 0
    return Usage(programmes=programmes, templates=templates)


def good_moments(exercise: Exercise) -> list[Moment]:
    """The moments of the day an exercise suits, in the order of the day (values no longer
    known are left out)."""
    chosen = set(exercise.moments or ())
    return [moment for moment in MOMENTS if moment.value in chosen]


def ladder_step(exercise: Exercise, level: int) -> LadderStep:
    """The rung an item is on (clamped to the ladder, which may have shrunk since) and the
    next rung with the criterion for moving up."""
    levels = list(exercise.levels)
    if not levels:
        return LadderStep(current=None, next=None, criterion="", number=1, total=1)
    number = min(max(level, 1), len(levels))
    current = levels[number - 1]
    following = levels[number] if number < len(levels) else None
    return LadderStep(current=current, next=following,
                      criterion=current.criterion if following else "",
                      number=number, total=len(levels))


# --- writing --------------------------------------------------------------------------------


def create_exercise(
    session: Session, therapist: User, data: ExerciseInput, now: datetime, *,
    levels: Sequence[LevelInput] = (), published: bool = False,
) -> Exercise:
    """Add an exercise (unpublished unless asked) with an optional ladder."""
    _require_therapist(therapist)
    values = _clean_exercise(session, data)
    ladder = _clean_levels(levels)
    if data.slug:
        slug = _check_slug(session, data.slug, None)
    else:
        slug = _unique_slug(session, slugify(values["name"]))
    exercise = Exercise(slug=slug, published=published, created_by_id=therapist.id,
                        created_at=now, updated_at=now, **values)
    exercise.levels = [ExerciseLevel(**level) for level in ladder]
    session.add(exercise)
    session.flush()
    audit.record(session, actor=therapist, action="exercise.created", now=now,
                 exercise=exercise.id, slug=slug)
    return exercise


def update_exercise(
    session: Session, therapist: User, exercise_id: int, data: ExerciseInput, now: datetime,
) -> Exercise:
    """Save an edited exercise; programmes pick the new text up at once (doses are theirs)."""
    _require_therapist(therapist)
    exercise = get_exercise(session, exercise_id)
    values = _clean_exercise(session, data)
    if data.slug and data.slug != exercise.slug:
        values["slug"] = _check_slug(session, data.slug, exercise.id)
    changed = sorted(k for k, v in values.items() if getattr(exercise, k) != v)
    for key, value in values.items():
        setattr(exercise, key, value)
    if changed:
        exercise.updated_at = now
        audit.record(session, actor=therapist, action="exercise.updated", now=now,
                     exercise=exercise.id, fields=changed)
    session.flush()
    return exercise


def replace_levels(
    session: Session, therapist: User, exercise_id: int, levels: Sequence[LevelInput],
    now: datetime,
) -> list[ExerciseLevel]:
    """Replace an exercise's whole ladder; items on a rung that no longer exists are shown
    the top rung (see ladder_step)."""
    _require_therapist(therapist)
    exercise = get_exercise(session, exercise_id)
    ladder = _clean_levels(levels)
    # Old rungs go first: the new ones reuse their positions.
    exercise.levels.clear()
    session.flush()
    exercise.levels.extend(ExerciseLevel(**level) for level in ladder)
    exercise.updated_at = now
    session.flush()
    audit.record(session, actor=therapist, action="exercise.levels_replaced", now=now,
                 exercise=exercise.id, levels=len(ladder))
    return list(exercise.levels)


def set_published(
    session: Session, therapist: User, exercise_id: int, published: bool, now: datetime,
) -> Exercise:
    """Publish or unpublish; unpublishing also stops featuring it. Programmes that already
    use it keep it."""
    _require_therapist(therapist)
    exercise = get_exercise(session, exercise_id)
    if exercise.published == published:
        return exercise
    exercise.published = published
    exercise.updated_at = now
    if not published:
        session.execute(update(Practice).where(Practice.featured_exercise_id == exercise.id)
                        .values(featured_exercise_id=None, featured_at=None))
    session.flush()
    audit.record(session, actor=therapist, now=now, exercise=exercise.id,
                 action="exercise.published" if published else "exercise.unpublished")
    return exercise


def publish(session: Session, therapist: User, exercise_id: int, now: datetime) -> Exercise:
    """Make an exercise visible in the library and assignable."""
    return set_published(session, therapist, exercise_id, True, now)


def unpublish(session: Session, therapist: User, exercise_id: int, now: datetime) -> Exercise:
    """Hide an exercise from the library (programmes that use it keep it)."""
    return set_published(session, therapist, exercise_id, False, now)


def delete_exercise(session: Session, therapist: User, exercise_id: int, now: datetime) -> None:
    """Delete an exercise nobody uses; one in any programme version or template is refused."""
    _require_therapist(therapist)
    exercise = get_exercise(session, exercise_id)
    usage = exercise_usage(session, exercise.id)
    if usage.in_use:
        parts = []
        if usage.programmes:
            parts.append(f"{usage.programmes} client programme"
                         f"{'s' if usage.programmes != 1 else ''}")
        if usage.templates:
            parts.append(f"{usage.templates} template{'s' if usage.templates != 1 else ''}")
        raise Conflict(f"\u201c{exercise.name}\u201d is used in {' and '.join(parts)}, so it "
                       "can't be deleted. Unpublish it instead to hide it from the library.")
    session.execute(update(Practice).where(Practice.featured_exercise_id == exercise.id)
                    .values(featured_exercise_id=None, featured_at=None))
    session.delete(exercise)  # its ladder goes with it
    session.flush()
    audit.record(session, actor=therapist, action="exercise.deleted", now=now,
                 exercise=exercise_id, slug=exercise.slug)


def feature_exercise(
    session: Session, therapist: User, exercise_id: int | None, now: datetime,
) -> Exercise | None:
    """Make a published exercise the "Exercise of the week" (None stops featuring)."""
    _require_therapist(therapist)
    practice = practice_service.current(session)
    if practice is None:
        raise NotFound("The practice has not been set up yet.")
    exercise = None
    if exercise_id is not None:
        exercise = get_exercise(session, exercise_id)
        if not exercise.published:
            raise InvalidInput("exercise", "Publish the exercise before featuring it.")
    _set_featured(practice, exercise, now)
    session.flush()
    audit.record(session, actor=therapist, action="exercise.featured", now=now,
                 exercise=exercise.id if exercise else None)
    return exercise


def feature_from_article(session: Session, exercise_id: int | None, now: datetime, *,
                         article_id: int) -> Exercise | None:
    """Make an exercise the exercise of the week because an article featuring it went live on
    its date (portal.services.articles.feature_due, run by a duty: no one is acting). Nothing
    changes when the exercise has since been deleted or unpublished; returns the exercise
    featured, or None."""
    practice = practice_service.current(session)
    exercise = session.get(Exercise, exercise_id) if exercise_id is not None else None
    if practice is None or exercise is None or not exercise.published:
        return None
    _set_featured(practice, exercise, now)
    session.flush()
    audit.record(session, actor=None, action="exercise.featured", now=now,
                 exercise=exercise.id, article=article_id)
    return exercise


def _set_featured(practice: Practice, exercise: Exercise | None, now: datetime) -> None:
    """The one place the exercise of the week is changed."""
    practice.featured_exercise_id = exercise.id if exercise else None
    practice.featured_at = now if exercise else None
    practice.updated_at = now


def record_picture(
    session: Session, therapist: User, *, stored_name: str, content_type: str, width: int,
    height: int, byte_size: int, sha256: str, now: datetime,
) -> Picture:
    """Record an uploaded picture that the web layer has checked, re-encoded and stored."""
    _require_therapist(therapist)
    if content_type not in PICTURE_TYPES:
        raise InvalidInput("picture", "Upload a PNG, JPEG or WebP image.")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,90}\.(png|jpg|webp)", stored_name):
        raise InvalidInput("picture", "The stored file name is not valid.")
    if width <= 0 or height <= 0 or byte_size <= 0:
        raise InvalidInput("picture", "The picture is empty.")
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise InvalidInput("picture", "The picture's checksum is not valid.")
    picture = Picture(stored_name=stored_name, content_type=content_type, width=width,
                      height=height, byte_size=byte_size, sha256=sha256,
                      uploaded_by_id=therapist.id, created_at=now)
    session.add(picture)
    session.flush()
    audit.record(session, actor=therapist, action="picture.uploaded", now=now,
                 picture=picture.id)
    return picture


def all_exercises(session: Session, *, published_only: bool = False) -> list[Exercise]:
    """Every exercise with its ladder loaded, by name (two queries), for the library page."""
    query = select(Exercise).options(selectinload(Exercise.levels), joinedload(Exercise.picture))
    if published_only:
        query = query.where(Exercise.published)
    return list(session.scalars(query.order_by(Exercise.name, Exercise.id)))
