"""Home programmes: versions and what changed, templates, the client's day, completion logs,
pain flags, adherence, moment reminder times and read-only share links.

Every reading function runs a fixed number of queries, however many logs a client has.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, contains_eager, joinedload, selectinload

from portal.models import (
    MOMENTS,
    Appointment,
    AppointmentStatus,
    CompletionLog,
    Exercise,
    Feedback,
    Moment,
    MomentTime,
    Programme,
    ProgrammeItem,
    ProgrammeShare,
    ProgrammeTemplate,
    ProgrammeVersion,
    Sides,
    TemplateItem,
    User,
)
from portal.models.programmes import ANY_TIME_LABEL, MOMENT_LABELS
from portal.services import audit
from portal.services import practice as practice_service
from portal.services.dose import (
    check_dose,
    check_schedule,
    describe_dose,
    describe_moments,
    describe_schedule,
)
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.services.validation import check_int, clean_text

# How far back a log may be dated: enough for an offline phone to catch up after a trip.
MAX_LOG_AGE = timedelta(days=30)
# Streaks are counted over at most this many logged days (one bounded query).
MAX_STREAK_DAYS = 1000
CLIENT_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PAIN_ADVICE = (
    "Stop if it hurts: a stretch should feel like mild tension, never pain. Try the easier "
    "version below next time, and your therapist will see this before your next session."
)
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


@dataclass(frozen=True)
class FeedbackInput:
    """How it felt: `left` and `right` for each-side items, `both` otherwise (an each-side
    item given only `both` records it for both sides)."""

    left: Feedback | str | None = None
    right: Feedback | str | None = None
    both: Feedback | str | None = None


@dataclass(frozen=True)
class LogResult:
    """The stored log; `created` is False when the client_key had been logged already.
    On pain, `regression` and `advice` are what to show the client."""

    log: CompletionLog
    created: bool
    pain: bool
    regression: str = ""
    advice: str = ""


@dataclass(frozen=True)
class TodayEntry:
    """One item under one moment on the client's Today page."""

    item: ProgrammeItem
    moment: Moment | None
    dose: str
    schedule: str
    done: bool  # done at this moment (or the day's target is already met)
    done_today: int  # logs of this exercise today, whatever the moment
    times_per_day: int


@dataclass(frozen=True)
class MomentGroup:
    """The items of one moment of the day (moment None is "Any time")."""

    moment: Moment | None
    label: str
    entries: list[TodayEntry]


@dataclass(frozen=True)
class Today:
    """The client's day: groups in the order of the day and progress (sessions done, each
    item counted up to its times per day, out of the day's total)."""

    local_date: date
    version: ProgrammeVersion | None
    groups: list[MomentGroup]
    done: int
    total: int

    @property
    def percent(self) -> int:
        """Progress for the day, 0 to 100."""
        return round(100 * self.done / self.total) if self.total else 0


@dataclass(frozen=True)
class ItemAdherence:
    """Prescribed and done sessions of one exercise in the week so far."""

    exercise_id: int
    name: str
    prescribed: int
    done: int


@dataclass(frozen=True)
class Adherence:
    """This week's adherence and the current streak; see adherence() for the rules."""

    week_start: date
    today: date
    days_elapsed: int
    prescribed: int
    done: int
    percent: int | None  # None when nothing was prescribed yet
    streak: int
    items: list[ItemAdherence] = field(default_factory=list)


# --- reading --------------------------------------------------------------------------------


def _current_number(programme_id):
    """The number of the current version of a programme, correlated to the outer query."""
    latest = aliased(ProgrammeVersion)
    return (select(func.max(latest.number)).where(latest.programme_id == programme_id)
            .correlate_except(latest).scalar_subquery())


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


def get_item(session: Session, client: User, item_id: int) -> ProgrammeItem:
    """An item of the client's current version, with its exercise and ladder (one query),
    or NotFound (someone else's item, or one from an older version)."""
    item = session.scalars(
        select(ProgrammeItem).join(ProgrammeItem.version).join(ProgrammeVersion.programme)
        .where(ProgrammeItem.id == item_id, Programme.client_id == client.id,
               ProgrammeVersion.number == _current_number(Programme.id))
        .options(contains_eager(ProgrammeItem.version).contains_eager(
                     ProgrammeVersion.programme),
                 joinedload(ProgrammeItem.exercise).joinedload(Exercise.levels),
                 joinedload(ProgrammeItem.exercise).joinedload(Exercise.picture))
    ).unique().one_or_none()
    if item is None:
        raise NotFound("That exercise isn't in your programme.")
    return item


def today(session: Session, client: User, local_date: date) -> Today:
    """The client's day: current items grouped by moment (morning, work break, after
    training, before bed, then any time), each with its dose and whether it is done.

    An item in several moments appears under each. A log made at a moment ticks that moment;
    a log without one (or from another moment) ticks the item's first unticked moment; once
    the item's times per day are all done, every one of its moments shows done. Logs are
    matched by exercise, so a new version saved mid-day keeps the day's ticks. Three queries.
    """
    version = current_version(session, client, with_ladders=False)
    if version is None:
        return Today(local_date=local_date, version=None, groups=[], done=0, total=0)
    counts: dict[int, dict[Moment | None, int]] = defaultdict(dict)
    for exercise_id, moment, n in session.execute(
        select(CompletionLog.exercise_id, CompletionLog.moment, func.count())
        .where(CompletionLog.client_id == client.id, CompletionLog.local_date == local_date)
        .group_by(CompletionLog.exercise_id, CompletionLog.moment)
    ):
        counts[exercise_id][moment] = n
    grouped: dict[Moment | None, list[TodayEntry]] = {m: [] for m in (*MOMENTS, None)}
    done = total = 0
    for item in version.items:
        per_moment = counts.get(item.exercise_id, {})
        done_today = sum(per_moment.values())
        moments = item.moment_list
        ticked = {m for m in moments if per_moment.get(m)}
        spare = done_today - sum(per_moment.get(m, 0) for m in moments)
        for m in moments:
            if m not in ticked and spare > 0:
                ticked.add(m)
                spare -= 1
        target_met = done_today >= item.times_per_day
        dose, schedule = describe_dose(item), describe_schedule(item)
        for m in moments or [None]:
            grouped[m].append(TodayEntry(
                item=item, moment=m, dose=dose, schedule=schedule,
                done=target_met or m in ticked, done_today=done_today,
                times_per_day=item.times_per_day))
        done += min(done_today, item.times_per_day)
        total += item.times_per_day
    groups = [MomentGroup(moment=m, label=MOMENT_LABELS[m] if m else ANY_TIME_LABEL,
                          entries=entries) for m, entries in grouped.items() if entries]
    return Today(local_date=local_date, version=version, groups=groups, done=done, total=total)


def adherence(session: Session, client: User, week_start: date, *, today: date) -> Adherence:
    """Adherence for the week starting `week_start` (normally a Monday), as of the client's
    local date `today`, and the streak up to `today`. Four queries.

    - Days elapsed: from the later of week_start and the day the programme started, to the
      earlier of today and the week's last day, inclusive (0 to 7).
    - Prescribed so far, per item of the current version: times_per_day x min(days_per_week,
      days elapsed); this assumes the client does the item on the first days of the week.
    - Done, per item: on each elapsed day, logs of that exercise counted up to times_per_day;
      summed over the days and capped at the item's prescription so far, so extra sessions
      never push the week past 100%.
    - Percent: done / prescribed, rounded; None when nothing is prescribed yet.
    - Streak: consecutive local days with at least one log, ending today, or yesterday when
      nothing is logged yet today.
    """
    week_end = week_start + timedelta(days=6)
    rows = session.execute(
        select(ProgrammeItem.exercise_id, Exercise.name, ProgrammeItem.times_per_day,
               ProgrammeItem.days_per_week, Programme.created_at)
        .join(ProgrammeItem.version).join(ProgrammeVersion.programme)
        .join(ProgrammeItem.exercise)
        .where(Programme.client_id == client.id,
               ProgrammeVersion.number == _current_number(Programme.id))
        .order_by(ProgrammeItem.position)
    ).all()
    days_elapsed = 0
    first = week_start
    last = min(today, week_end)
    if rows:
        started = rows[0].created_at.astimezone(practice_service.zone(session)).date()
        first = max(week_start, started)
        days_elapsed = max(0, (last - first).days + 1)
    per_day: dict[int, list[int]] = defaultdict(list)
    if days_elapsed:
        for exercise_id, _day, n in session.execute(
            select(CompletionLog.exercise_id, CompletionLog.local_date, func.count())
            .where(CompletionLog.client_id == client.id,
                   CompletionLog.local_date >= first, CompletionLog.local_date <= last)
            .group_by(CompletionLog.exercise_id, CompletionLog.local_date)
        ):
            per_day[exercise_id].append(n)
    items = []
    for row in rows:
        prescribed = row.times_per_day * min(row.days_per_week, days_elapsed)
        done = min(sum(min(n, row.times_per_day) for n in per_day.get(row.exercise_id, [])),
                   prescribed)
        items.append(ItemAdherence(exercise_id=row.exercise_id, name=row.name,
                                   prescribed=prescribed, done=done))
    prescribed = sum(i.prescribed for i in items)
    done = sum(i.done for i in items)
    return Adherence(
        week_start=week_start, today=today, days_elapsed=days_elapsed, prescribed=prescribed,
        done=done, percent=round(100 * done / prescribed) if prescribed else None,
        streak=streak(session, client, today), items=items,
    )


def streak(session: Session, client: User, today: date) -> int:
    """Consecutive local days with at least one log, ending today (or yesterday when nothing
    is logged yet today). One query."""
    days = set(session.scalars(
        select(CompletionLog.local_date).where(CompletionLog.client_id == client.id,
                                               CompletionLog.local_date <= today)
        .group_by(CompletionLog.local_date)
        .order_by(CompletionLog.local_date.desc()).limit(MAX_STREAK_DAYS)
    ))
    cursor = today if today in days else today - timedelta(days=1)
    count = 0
    while cursor in days:
        count += 1
        cursor -= timedelta(days=1)
    return count


def history(session: Session, client: User, limit: int = 50, *,
            since: date | None = None) -> list[CompletionLog]:
    """The client's logs, newest first, with their exercises (one query)."""
    query = (select(CompletionLog).where(CompletionLog.client_id == client.id)
             .options(joinedload(CompletionLog.exercise)))
    if since is not None:
        query = query.where(CompletionLog.local_date >= since)
    return list(session.scalars(
        query.order_by(CompletionLog.local_date.desc(), CompletionLog.logged_at.desc(),
                       CompletionLog.id.desc()).limit(limit)
    ))


def pain_flags(session: Session, client: User | None = None, since: datetime | None = None, *,
               include_acknowledged: bool = False) -> list[CompletionLog]:
    """Logs where the client reported pain, newest first, with client and exercise (one
    query): for one client or all, unacknowledged only unless asked."""
    query = (select(CompletionLog).where(CompletionLog.pain)
             .options(joinedload(CompletionLog.exercise), joinedload(CompletionLog.client)))
    if client is not None:
        query = query.where(CompletionLog.client_id == client.id)
    if since is not None:
        query = query.where(CompletionLog.logged_at >= since)
    if not include_acknowledged:
        query = query.where(CompletionLog.pain_acknowledged_at.is_(None))
    return list(session.scalars(query.order_by(CompletionLog.logged_at.desc(),
                                               CompletionLog.id.desc())))


# --- saving versions ------------------------------------------------------------------------


def _require_therapist(actor: User) -> None:
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can change a programme.")


def _require_client(client: User) -> None:
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
    _require_therapist(therapist)
    _require_client(client)
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
    _require_therapist(therapist)
    _require_client(client)
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
    _require_therapist(therapist)
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
    _require_therapist(therapist)
    template = get_template(session, template_id)
    session.delete(template)
    session.flush()
    audit.record(session, actor=therapist, action="template.deleted", now=now, ip=ip,
                 template=template_id, name=template.name)


# --- logging --------------------------------------------------------------------------------


def _find_log(session: Session, client: User, client_key: str) -> CompletionLog | None:
    return session.scalar(
        select(CompletionLog).where(CompletionLog.client_id == client.id,
                                    CompletionLog.client_key == client_key)
        .options(joinedload(CompletionLog.exercise))
    )


def _result(log: CompletionLog, created: bool) -> LogResult:
    if not log.pain:
        return LogResult(log=log, created=created, pain=False)
    return LogResult(log=log, created=created, pain=True, regression=log.exercise.regression,
                     advice=PAIN_ADVICE)


def _feedback(value: Feedback | str | None, field_name: str, message: str) -> Feedback:
    if value is None or value == "":
        raise InvalidInput(field_name, message)
    try:
        return Feedback(value)
    except ValueError as exc:
        raise InvalidInput(field_name, "Choose nothing, mild tension or pain.") from exc


def log_completion(
    session: Session, client: User, item_id: int, feedback: FeedbackInput, note: str,
    client_key: str, local_date: date, now: datetime, *, moment: Moment | str | None = None,
    ip: str | None = None,
) -> LogResult:
    """Record that the client did an item of their current version on a local date.

    Idempotent on `client_key`: a repeat (double tap, offline replay) returns the first log
    and stores nothing. Pain on any side flags the log for the therapist and the result
    carries the regression and a safety message.
    """
    if not isinstance(client_key, str) or not CLIENT_KEY_RE.match(client_key):
        raise InvalidInput("client_key", "The form is out of date. Reload the page.")
    existing = _find_log(session, client, client_key)
    if existing is not None:
        return _result(existing, created=False)
    item = get_item(session, client, item_id)
    zone_today = now.astimezone(practice_service.zone(session)).date()
    if local_date > zone_today:
        raise InvalidInput("local_date", "You can't log a day that hasn't happened yet.")
    if local_date < zone_today - MAX_LOG_AGE:
        raise InvalidInput("local_date", "That day is too long ago to log.")
    if item.sides is Sides.EACH_SIDE:
        left = _feedback(feedback.left or feedback.both, "feedback_left",
                         "Say how the left side felt.")
        right = _feedback(feedback.right or feedback.both, "feedback_right",
                          "Say how the right side felt.")
        values = {"feedback_left": left, "feedback_right": right}
    else:
        values = {"feedback": _feedback(feedback.both, "feedback", "Say how it felt.")}
    if moment is not None and moment != "":
        try:
            moment = Moment(moment)
        except ValueError as exc:
            raise InvalidInput("moment", "Choose a moment from the list.") from exc
    else:
        moment = None
    log = CompletionLog(
        exercise=item.exercise, client_id=client.id, programme_id=item.version.programme_id,
        version_id=item.version_id,
        item_id=item.id, exercise_id=item.exercise_id, local_date=local_date, moment=moment,
        logged_at=now, pain=Feedback.PAIN in values.values(),
        note=clean_text(note, "note", 1000), client_key=client_key, **values,
    )
    try:
        with session.begin_nested():
            session.add(log)
    except IntegrityError:
        # Another request with the same key won the race: that one is the log.
        existing = _find_log(session, client, client_key)
        if existing is None:
            raise
        return _result(existing, created=False)
    if log.pain:
        audit.record(session, actor=client, subject=client, action="programme.pain_reported",
                     now=now, ip=ip, log=log.id, exercise=item.exercise_id)
    return _result(log, created=True)


def acknowledge_pain(session: Session, therapist: User, log_id: int,
                     now: datetime, *, ip: str | None = None) -> CompletionLog:
    """The therapist has seen a pain report: it leaves the pain_flags list."""
    _require_therapist(therapist)
    log = session.get(CompletionLog, log_id)
    if log is None or not log.pain:
        raise NotFound("No such pain report.")
    if log.pain_acknowledged_at is None:
        log.pain_acknowledged_at = now
        session.flush()
        audit.record(session, actor=therapist, action="programme.pain_acknowledged", now=now,
                     ip=ip, subject=session.get(User, log.client_id), log=log.id)
    return log


# --- moment reminder times ------------------------------------------------------------------


def moment_times(session: Session, client: User) -> dict[Moment, time]:
    """The local times the client picked for moment reminders (one query)."""
    return {row.moment: row.local_time for row in session.scalars(
        select(MomentTime).where(MomentTime.client_id == client.id))}


def set_moment_time(session: Session, client: User, moment: Moment | str,
                    local_time: time | None, now: datetime, *, ip: str | None = None) -> None:
    """Set (or with None, clear) the local time of one moment's reminder; a change is
    audited (the client's own choice, but part of how their programme reaches them)."""
    try:
        moment = Moment(moment)
    except ValueError as exc:
        raise InvalidInput("moment", "Choose a moment from the list.") from exc
    if local_time is not None and not isinstance(local_time, time):
        raise InvalidInput(moment.value, "Enter a time like 07:30.")
    row = session.scalar(select(MomentTime).where(MomentTime.client_id == client.id,
                                                  MomentTime.moment == moment))
    if local_time is not None:
        local_time = local_time.replace(second=0, microsecond=0)
    before = row.local_time if row is not None else None
    if local_time is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(MomentTime(client_id=client.id, moment=moment, local_time=local_time))
    else:
        row.local_time = local_time
    if before != local_time:
        audit.record(session, actor=client, subject=client, action="programme.moment_time_set",
                     now=now, ip=ip, moment=moment.value,
                     time=local_time.strftime("%H:%M") if local_time else None)
    session.flush()


# --- read-only share links ------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_share(session: Session, actor: User, client: User, now: datetime, *,
                 ip: str | None = None) -> str:
    """A new read-only link token for the client's programme; only its SHA-256 is stored, so
    show it now (older links keep working until revoked)."""
    _require_client(client)
    if not actor.is_therapist and actor.id != client.id:
        raise PermissionDenied("You can only share your own programme.")
    token = secrets.token_urlsafe(32)
    session.add(ProgrammeShare(client_id=client.id, token_hash=_token_hash(token),
                               created_at=now))
    session.flush()
    audit.record(session, actor=actor, subject=client, action="programme.share_created",
                 now=now, ip=ip)
    return token


def resolve_share(session: Session, token: str) -> User:
    """The client a live share token belongs to, or NotFound (unknown, revoked, or the
    client's account was closed). One query."""
    if not token or len(token) > 128:
        raise NotFound("This link doesn't work any more.")
    client = session.scalar(
        select(User).join(ProgrammeShare, ProgrammeShare.client_id == User.id)
        .where(ProgrammeShare.token_hash == _token_hash(token),
               ProgrammeShare.revoked_at.is_(None), User.active)
    )
    if client is None or not client.is_client:
        raise NotFound("This link doesn't work any more.")
    return client


def revoke_share(session: Session, actor: User, client: User, now: datetime, *,
                 share_id: int | None = None, ip: str | None = None) -> int:
    """Turn off the client's live share links (or just one); returns how many."""
    _require_client(client)
    if not actor.is_therapist and actor.id != client.id:
        raise PermissionDenied("You can only turn off your own links.")
    query = (update(ProgrammeShare)
             .where(ProgrammeShare.client_id == client.id, ProgrammeShare.revoked_at.is_(None))
             .values(revoked_at=now))
    if share_id is not None:
        query = query.where(ProgrammeShare.id == share_id)
    count = session.execute(query).rowcount
    if count:
        audit.record(session, actor=actor, subject=client, action="programme.share_revoked",
                     now=now, ip=ip, links=count)
    session.flush()
    return count


def live_shares(session: Session, client: User) -> list[ProgrammeShare]:
    """The client's links that still work, newest first."""
    return list(session.scalars(
        select(ProgrammeShare).where(ProgrammeShare.client_id == client.id,
                                     ProgrammeShare.revoked_at.is_(None))
        .order_by(ProgrammeShare.created_at.desc(), ProgrammeShare.id.desc())
    ))

