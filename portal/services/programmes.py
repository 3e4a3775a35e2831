"""Home programmes: versions and what changed, templates, and the exercise ladders the
programme form offers. The client's day and logs are in client_day.py, adherence in adherence.py,
share links in programme_shares.py and moment reminder times in moment_reminders.py.

Every reading function runs a fixed number of queries, however many logs a client has.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager, joinedload, selectinload

from portal.models import (
    MOMENTS,
    Appointment,
    AppointmentStatus,
    Exercise,
    ExerciseLevel,
    Moment,
    Programme,
    ProgrammeItem,
    ProgrammeTemplate,
    ProgrammeVersion,
    Sides,
    TemplateItem,
    User,
)
from portal.services import adherence_summary, audit
from portal.services.dose import (
    check_dose,
    check_schedule,
    describe_moments,
    describe_schedule,
)
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.services.validation import check_int, clean_text

# Appointments a programme version can be linked to (a cancelled session set nothing).
LINKABLE = (AppointmentStatus.BOOKED, AppointmentStatus.ATTENDED)


@dataclass(frozen=True)
class ItemInput:
    """One exercise of a programme as the therapist tailored it."""

    exercise_id: int
    hold_seconds: int = 0
    reps: int = 0
    sets: int = 1
    sides: Sides | str = Sides.NONE
    times_per_day: int = 1
    days_per_week: int = 7
    moments: Sequence[Moment | str] = ()
    level: int = 1
    personal_note: str = ""

    @classmethod
    def from_exercise(cls, exercise: Exercise, **overrides) -> ItemInput:
        """The library's default dose for an exercise, once a day, every day."""
        values = {"exercise_id": exercise.id, "hold_seconds": exercise.hold_seconds,
                  "reps": exercise.reps, "sets": exercise.sets, "sides": exercise.sides}
        return cls(**{**values, **overrides})

    @classmethod
    def from_item(cls, item: ProgrammeItem | TemplateItem, **overrides) -> ItemInput:
        """A copy of a saved item, with some fields changed."""
        values = {name: getattr(item, name) for name in _ITEM_FIELDS}
        values["moments"] = tuple(item.moments or ())
        return cls(**{**values, **overrides})


_ITEM_FIELDS = ("exercise_id", "hold_seconds", "reps", "sets", "sides", "times_per_day",
                "days_per_week", "moments", "level", "personal_note")


@dataclass(frozen=True)
class _Clean:
    """A validated item: enums normalised, moments in the order of the day."""

    exercise_id: int
    hold_seconds: int
    reps: int
    sets: int
    sides: Sides
    times_per_day: int
    days_per_week: int
    moments: tuple[str, ...]
    level: int
    personal_note: str

    def columns(self) -> dict:
        """Column values for a ProgrammeItem or TemplateItem."""
        return {name: getattr(self, name) for name in _ITEM_FIELDS} | {
            "moments": list(self.moments)}


# --- reading --------------------------------------------------------------------------------


def current_version(session: Session, client: User, *,
                    with_ladders: bool = True) -> ProgrammeVersion | None:
    """The client's current version with its programme, items, their exercises, pictures and
    (optionally) ladders loaded: two queries. None when the client has no programme."""
    item_loader = selectinload(ProgrammeVersion.items).joinedload(ProgrammeItem.exercise)
    options = [contains_eager(ProgrammeVersion.programme),
               item_loader.joinedload(Exercise.picture)]
    if with_ladders:
        options.append(item_loader.joinedload(Exercise.levels))
    return session.scalar(
        select(ProgrammeVersion).join(ProgrammeVersion.programme)
        .where(Programme.client_id == client.id)
        .order_by(ProgrammeVersion.number.desc()).limit(1).options(*options)
    )


def version_history(session: Session, client: User) -> list[ProgrammeVersion]:
    """Every version of the client's programme, newest first, with who saved it and the
    linked appointment (one query; items are not loaded)."""
    return list(session.scalars(
        select(ProgrammeVersion).join(ProgrammeVersion.programme)
        .where(Programme.client_id == client.id)
        .options(contains_eager(ProgrammeVersion.programme),
                 joinedload(ProgrammeVersion.created_by),
                 joinedload(ProgrammeVersion.appointment).joinedload(Appointment.service))
        .order_by(ProgrammeVersion.number.desc())
    ))


# --- saving versions ------------------------------------------------------------------------


def require_therapist(actor: User) -> None:
    """PermissionDenied unless the actor is a therapist."""
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can change a programme.")


def require_client(client: User) -> None:
    """NotFound unless the user is a client (the programme of anyone else doesn't exist)."""
    if not client.is_client:
        raise NotFound("No such client.")


def _clean_items(session: Session, items: Sequence[ItemInput],
                 keep_unpublished: set[int]) -> tuple[list[_Clean], dict[int, Exercise]]:
    """Validate every item; errors name the field as "items-<index>-<field>"."""
    if len(items) > 50:
        raise InvalidInput("items", "A programme can have at most 50 exercises.")
    ids = [i.exercise_id for i in items]
    exercises = {e.id: e for e in session.scalars(
        select(Exercise).where(Exercise.id.in_(ids)).options(selectinload(Exercise.levels))
    )} if ids else {}
    cleaned: list[_Clean] = []
    seen: set[int] = set()
    for index, item in enumerate(items):
        prefix = f"items-{index}-"
        exercise = exercises.get(item.exercise_id)
        if exercise is None:
            raise InvalidInput(f"{prefix}exercise_id", "That exercise no longer exists.")
        if not exercise.published and exercise.id not in keep_unpublished:
            raise InvalidInput(f"{prefix}exercise_id",
                               f"Publish \u201c{exercise.name}\u201d before adding it.")
        if exercise.id in seen:
            raise InvalidInput(f"{prefix}exercise_id",
                               f"\u201c{exercise.name}\u201d is in the programme twice.")
        seen.add(exercise.id)
        hold, reps, sets, sides = check_dose(item.hold_seconds, item.reps, item.sets,
                                             item.sides, prefix)
        times, days = check_schedule(item.times_per_day, item.days_per_week, prefix)
        rungs = max(1, len(exercise.levels))
        level = check_int(item.level, f"{prefix}level", 1, rungs,
                          f"Choose a level from 1 to {rungs}." if rungs > 1
                          else "This exercise has no other levels.")
        moments = item.moments
        if isinstance(moments, str):
            moments = [moments]
        try:
            chosen = {Moment(m) for m in moments}
        except ValueError as exc:
            raise InvalidInput(f"{prefix}moments", "Choose moments from the list.") from exc
        cleaned.append(_Clean(
            exercise_id=exercise.id, hold_seconds=hold, reps=reps, sets=sets, sides=sides,
            times_per_day=times, days_per_week=days,
            moments=tuple(m.value for m in MOMENTS if m in chosen), level=level,
            personal_note=clean_text(item.personal_note, f"{prefix}personal_note", 2000),
        ))
    return cleaned, exercises


def _arrow(before: str, after: str) -> str:
    return f"{before} \u2192 {after}"


def _item_details(old: _Clean, new: _Clean, exercise: Exercise) -> list[str]:
    """What changed in one item, as short capitalised phrases."""
    details = []
    if old.hold_seconds != new.hold_seconds:
        if not old.hold_seconds:
            details.append(f"Hold of {new.hold_seconds} s added")
        elif not new.hold_seconds:
            details.append("Hold removed")
        else:
            details.append(f"Hold {_arrow(f'{old.hold_seconds} s', f'{new.hold_seconds} s')}")
    if old.reps != new.reps:
        if not old.reps:
            details.append(f"{new.reps} reps added")
        elif not new.reps:
            details.append("Reps removed")
        else:
            details.append(f"Reps {_arrow(str(old.reps), str(new.reps))}")
    if old.sets != new.sets:
        word = "Sets" if new.reps else "Rounds"
        details.append(f"{word} {_arrow(str(old.sets), str(new.sets))}")
    if old.sides != new.sides:
        details.append(f"Sides: {_arrow(old.sides.label.lower(), new.sides.label.lower())}")
    if (old.times_per_day, old.days_per_week) != (new.times_per_day, new.days_per_week):
        details.append("How often: " + _arrow(describe_schedule(old).lower(),
                                              describe_schedule(new).lower()))
    if old.moments != new.moments:
        details.append("When: " + _arrow(describe_moments(old.moments).lower(),
                                         describe_moments(new.moments).lower()))
    if old.level != new.level:
        text = f"Level {_arrow(str(old.level), str(new.level))}"
        levels = list(exercise.levels)
        if new.level <= len(levels):
            text += f" ({levels[new.level - 1].name})"
        details.append(text)
    if old.personal_note != new.personal_note:
        details.append("New note from your therapist" if new.personal_note else "Note removed")
    return details


def _changes(previous: list[_Clean], previous_note: str | None, items: list[_Clean],
             note: str, names: dict[int, str], exercises: dict[int, Exercise]) -> list[dict]:
    """What changed against the previous version, in plain words (see ProgrammeVersion)."""
    changes: list[dict] = []
    old = {i.exercise_id: i for i in previous}
    new = {i.exercise_id: i for i in items}
    for item in items:
        name = names[item.exercise_id]
        if item.exercise_id not in old:
            changes.append({"kind": "added", "exercise_id": item.exercise_id,
                            "text": f"Added {name}", "details": []})
            continue
        details = _item_details(old[item.exercise_id], item, exercises[item.exercise_id])
        if details:
            text = f"{name}: " + "; ".join(d[0].lower() + d[1:] for d in details)
            changes.append({"kind": "changed", "exercise_id": item.exercise_id,
                            "text": text, "details": details})
    for item in previous:
        if item.exercise_id not in new:
            changes.append({"kind": "removed", "exercise_id": item.exercise_id,
                            "text": f"Removed {names[item.exercise_id]}", "details": []})
    kept_old = [i.exercise_id for i in previous if i.exercise_id in new]
    kept_new = [i.exercise_id for i in items if i.exercise_id in old]
    if kept_old != kept_new:
        changes.append({"kind": "order", "exercise_id": None, "text": "Exercises reordered",
                        "details": []})
    if note != (previous_note or ""):
        changes.append({"kind": "note", "exercise_id": None, "details": [],
                        "text": "New message from your therapist" if note
                        else "Message removed"})
    return changes


def _latest_appointment_id(session: Session, client: User, now: datetime) -> int | None:
    return session.scalar(
        select(Appointment.id).where(Appointment.client_id == client.id,
                                     Appointment.starts_at <= now,
                                     Appointment.status.in_(LINKABLE))
        .order_by(Appointment.starts_at.desc(), Appointment.id.desc()).limit(1)
    )


def _clean_of(item: ProgrammeItem | TemplateItem) -> _Clean:
    return _Clean(exercise_id=item.exercise_id, hold_seconds=item.hold_seconds, reps=item.reps,
                  sets=item.sets, sides=Sides(item.sides), times_per_day=item.times_per_day,
                  days_per_week=item.days_per_week,
                  moments=tuple(m.value for m in item.moment_list), level=item.level,
                  personal_note=item.personal_note)


def save_version(
    session: Session, therapist: User, client: User, items: Sequence[ItemInput], note: str,
    now: datetime, *, base_version: int | None = None, ip: str | None = None,
) -> ProgrammeVersion:
    """Save the client's programme as a new version with what changed in plain words, linked
    to the client's latest appointment that has started (booked or attended).

    A save that changes nothing returns the current version (a double submit is harmless).
    `base_version` is the version number the therapist's page showed: if someone saved
    since, Conflict instead of silently overwriting their change.
    """
    return _save(session, therapist, client, items, note, now, base_version=base_version,
                 ip=ip)


def _save(session: Session, therapist: User, client: User, items: Sequence[ItemInput],
          note: str, now: datetime, *, base_version: int | None = None,
          lead: list[dict] | None = None, action: str = "programme.saved",
          details: dict | None = None, ip: str | None = None) -> ProgrammeVersion:
    require_therapist(therapist)
    require_client(client)
    note = clean_text(note, "note", 2000)
    # Serialise saves of one programme (PostgreSQL; SQLite already holds the write lock).
    programme = session.scalar(select(Programme).where(Programme.client_id == client.id)
                               .with_for_update())
    previous = current_version(session, client) if programme else None
    if base_version is not None and (previous.number if previous else 0) != base_version:
        raise Conflict("This programme was changed by someone else since you opened it. "
                       "Reload the page to see their changes, then make yours again.")
    keep = {i.exercise_id for i in previous.items} if previous else set()
    cleaned, exercises = _clean_items(session, items, keep)
    old = [_clean_of(i) for i in previous.items] if previous else []
    names = {e.id: e.name for e in exercises.values()}
    if previous:
        names.update({i.exercise_id: i.exercise.name for i in previous.items})
        exercises.update({i.exercise_id: i.exercise for i in previous.items
                          if i.exercise_id not in exercises})
    changes = _changes(old, previous.note if previous else None, cleaned, note, names,
                       exercises)
    if previous is not None and not changes:
        return previous
    version = ProgrammeVersion(
        number=previous.number + 1 if previous else 1, created_at=now,
        created_by_id=therapist.id, appointment_id=_latest_appointment_id(session, client, now),
        changes=(lead or []) + changes, note=note,
        items=[ProgrammeItem(position=n, **c.columns()) for n, c in enumerate(cleaned)],
    )
    try:
        with session.begin_nested():
            if programme is None:
                programme = Programme(client_id=client.id, created_at=now)
                version.programme = programme
            else:
                version.programme_id = programme.id  # not .programme: no loading of versions
            session.add(version)
    except IntegrityError as exc:
        raise Conflict("Someone else saved this programme at the same moment. Reload the page "
                       "and try again.") from exc
    adherence_summary.plan_saved(session, client.id, now)
    audit.record(session, actor=therapist, subject=client, action=action, now=now, ip=ip,
                 programme=programme.id, version=version.number,
                 appointment=version.appointment_id, **(details or {}))
    return version


# --- templates ------------------------------------------------------------------------------


def list_templates(session: Session) -> list[ProgrammeTemplate]:
    """Every template by name, with items and their exercises (two queries)."""
    return list(session.scalars(
        select(ProgrammeTemplate).order_by(ProgrammeTemplate.name)
        .options(selectinload(ProgrammeTemplate.items).joinedload(TemplateItem.exercise))
    ))


def get_template(session: Session, template_id: int) -> ProgrammeTemplate:
    """A template with items, exercises and ladders, or NotFound."""
    template = session.scalar(
        select(ProgrammeTemplate).where(ProgrammeTemplate.id == template_id)
        .options(selectinload(ProgrammeTemplate.items).joinedload(TemplateItem.exercise)
                 .joinedload(Exercise.levels))
    )
    if template is None:
        raise NotFound("No such template.")
    return template


def save_as_template(
    session: Session, therapist: User, client: User, name: str, now: datetime, *,
    description: str = "", ip: str | None = None,
) -> ProgrammeTemplate:
    """Save the client's current programme as a named template (personal notes included, so
    edit out anything personal)."""
    require_therapist(therapist)
    require_client(client)
    name = " ".join(clean_text(name, "name", 120, required="Give the template a name.").split())
    description = clean_text(description, "description", 1000)
    version = current_version(session, client, with_ladders=False)
    if version is None or not version.items:
        raise InvalidInput(None, "This client's programme is empty: add exercises first.")
    if session.scalar(select(ProgrammeTemplate.id).where(ProgrammeTemplate.name == name)):
        raise InvalidInput("name", f"There is already a template called \u201c{name}\u201d.")
    template = ProgrammeTemplate(
        name=name, description=description, created_by_id=therapist.id, created_at=now,
        items=[TemplateItem(position=n, **_clean_of(item).columns())
               for n, item in enumerate(version.items)],
    )
    try:
        with session.begin_nested():
            session.add(template)
    except IntegrityError as exc:
        raise Conflict(f"There is already a template called \u201c{name}\u201d.") from exc
    audit.record(session, actor=therapist, subject=client, action="template.saved", now=now,
                 ip=ip, template=template.id)
    return template


def apply_template(
    session: Session, therapist: User, client: User, template_id: int, now: datetime, *,
    note: str | None = None, base_version: int | None = None, ip: str | None = None,
) -> ProgrammeVersion:
    """Replace the client's items with a template's as a new version, to tailor from there.
    The version note is kept unless a new one is given."""
    require_therapist(therapist)
    template = get_template(session, template_id)
    items = [ItemInput.from_item(i, level=min(i.level, max(1, len(i.exercise.levels))))
             for i in template.items]
    if note is None:
        previous = current_version(session, client, with_ladders=False)
        note = previous.note if previous else ""
    lead = [{"kind": "template", "exercise_id": None, "details": [],
             "text": f"Started from the template \u201c{template.name}\u201d"}]
    try:
        return _save(session, therapist, client, items, note, now, base_version=base_version,
                     lead=lead, action="programme.template_applied",
                     details={"template": template.id}, ip=ip)
    except InvalidInput as exc:
        if exc.field and exc.field.startswith("items-"):
            raise Conflict(f"The template can't be used as it is: {exc.message}") from exc
        raise


def delete_template(session: Session, therapist: User, template_id: int, now: datetime, *,
                    ip: str | None = None) -> None:
    """Delete a template; programmes made from it are not affected."""
    require_therapist(therapist)
    template = get_template(session, template_id)
    session.delete(template)
    session.flush()
    audit.record(session, actor=therapist, action="template.deleted", now=now, ip=ip,
                 template=template_id, name=template.name)


# --- ladders --------------------------------------------------------------------------------


def ladders(session: Session, exercise_ids: list[int]) -> dict[int, list[ExerciseLevel]]:
    """The progression ladders of some exercises, rungs in order (one query; none when the
    list is empty). search_exercises() leaves ladders out; the programme form needs them to offer a
    level for an exercise added without a round trip."""
    if not exercise_ids:
        return {}
    found: dict[int, list[ExerciseLevel]] = defaultdict(list)
    for level in session.scalars(
        select(ExerciseLevel).where(ExerciseLevel.exercise_id.in_(exercise_ids))
        .order_by(ExerciseLevel.exercise_id, ExerciseLevel.position)
    ):
        found[level.exercise_id].append(level)
    return found
