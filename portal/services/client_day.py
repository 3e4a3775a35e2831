"""The client's day with their home programme: today's items by moment of the day, logging
an exercise done (with how it felt, or in one tap: "Done, felt fine"), the log history, and
pain reports for the therapist.

Every reading function runs a fixed number of queries, however many logs a client has.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, contains_eager, joinedload

from portal.models import (
    MOMENTS,
    CompletionLog,
    Exercise,
    Feedback,
    Moment,
    Programme,
    ProgrammeItem,
    ProgrammeVersion,
    Sides,
    User,
)
from portal.models.programmes import ANY_TIME_LABEL, MOMENT_LABELS
from portal.services import audit
from portal.services import practice as practice_service
from portal.services.dose import describe_dose, describe_schedule
from portal.services.errors import InvalidInput, NotFound
from portal.services.programmes import current_version, require_therapist
from portal.services.validation import clean_text

# How far back a log may be dated: enough for an offline phone to catch up after a trip.
MAX_LOG_AGE = timedelta(days=30)
CLIENT_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PAIN_ADVICE = (
    "Stop if it hurts: a stretch should feel like mild tension, never pain. Try the easier "
    "version below next time, and your therapist will see this before your next session."
)


@dataclass(frozen=True)
class FeedbackInput:
    """How it felt: `left` and `right` for each-side items, `both` otherwise (an each-side
    item given only `both` records it for both sides)."""

    left: Feedback | str | None = None
    right: Feedback | str | None = None
    both: Feedback | str | None = None


@dataclass(frozen=True)
class LogResult:
    """The stored log; `created` is False when the client_key had been logged already, and
    `told` is True when that earlier one-tap log was just given the detail of how it felt.
    On pain, `regression` and `advice` are what to show the client."""

    log: CompletionLog
    created: bool
    pain: bool
    regression: str = ""
    advice: str = ""
    told: bool = False


@dataclass(frozen=True)
class OneTapLog:
    """A log made today with "Done, felt fine" and not told in more detail yet: its key is
    what "Tell us how it felt" sends to add the detail to it."""

    client_key: str
    logged_at: datetime


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
    # The latest log at this moment today, when it was a one-tap "Done, felt fine".
    one_tap: OneTapLog | None = None


@dataclass(frozen=True)
class ItemDay:
    """One item's day, whatever the moment (the home page lists each item once): the moment
    a log made now would tick (its first one not done; None for "any time" or when all are
    done), and the latest log of the day when it was a one-tap "Done, felt fine"."""

    item: ProgrammeItem
    dose: str
    next_moment: Moment | None
    done: bool  # the day's target is met
    done_today: int
    times_per_day: int
    one_tap: OneTapLog | None


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
    items: list[ItemDay] = field(default_factory=list)  # each item once, in programme order

    @property
    def percent(self) -> int:
        """Progress for the day, 0 to 100."""
        return round(100 * self.done / self.total) if self.total else 0


# --- reading --------------------------------------------------------------------------------


def _current_number(programme_id):
    """The number of the current version of a programme, correlated to the outer query."""
    latest = aliased(ProgrammeVersion)
    return (select(func.max(latest.number)).where(latest.programme_id == programme_id)
            .correlate_except(latest).scalar_subquery())


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
    matched by exercise, so a new version saved mid-day keeps the day's ticks. Three queries
    (the day's logs are read as rows: a day holds a handful).
    """
    version = current_version(session, client, with_ladders=False)
    if version is None:
        return Today(local_date=local_date, version=None, groups=[], done=0, total=0)
    counts: dict[int, dict[Moment | None, int]] = defaultdict(dict)
    # The latest log of the day per exercise and moment, and per exercise, oldest first so
    # later ones win.
    latest: dict[tuple[int, Moment | None], CompletionLog] = {}
    latest_of_item: dict[int, CompletionLog] = {}
    for log in session.scalars(
        select(CompletionLog)
        .where(CompletionLog.client_id == client.id, CompletionLog.local_date == local_date)
        .order_by(CompletionLog.logged_at, CompletionLog.id)
    ):
        per_moment = counts[log.exercise_id]
        per_moment[log.moment] = per_moment.get(log.moment, 0) + 1
        latest[log.exercise_id, log.moment] = latest_of_item[log.exercise_id] = log
    grouped: dict[Moment | None, list[TodayEntry]] = {m: [] for m in (*MOMENTS, None)}
    items: list[ItemDay] = []
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
                times_per_day=item.times_per_day,
                one_tap=_one_tap(latest.get((item.exercise_id, m)))))
        items.append(ItemDay(
            item=item, dose=dose, done=target_met, done_today=done_today,
            times_per_day=item.times_per_day,
            next_moment=next((m for m in moments if m not in ticked), None),
            one_tap=_one_tap(latest_of_item.get(item.exercise_id))))
        done += min(done_today, item.times_per_day)
        total += item.times_per_day
    groups = [MomentGroup(moment=m, label=MOMENT_LABELS[m] if m else ANY_TIME_LABEL,
                          entries=entries) for m, entries in grouped.items() if entries]
    return Today(local_date=local_date, version=version, groups=groups, done=done, total=total,
                 items=items)


def _one_tap(log: CompletionLog | None) -> OneTapLog | None:
    if log is None or not log.told_in_one_tap:
        return None
    return OneTapLog(client_key=log.client_key, logged_at=log.logged_at)


def one_tap_log(session: Session, client: User, item: ProgrammeItem,
                client_key: str) -> CompletionLog | None:
    """The client's one-tap log with this key, when it is of this item's exercise and not
    told in more detail yet (one query; None for a key in any other state)."""
    if not isinstance(client_key, str) or not CLIENT_KEY_RE.match(client_key):
        return None
    log = _find_log(session, client, client_key)
    if log is None or log.exercise_id != item.exercise_id or not log.told_in_one_tap:
        return None
    return log


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
    and stores nothing, with one exception: a one-tap log ("Done, felt fine") sent again with
    how it felt in detail ("Tell us how it felt") takes that detail, once, and stays one log.
    Pain on any side flags the log for the therapist and the result carries the regression
    and a safety message.
    """
    if not isinstance(client_key, str) or not CLIENT_KEY_RE.match(client_key):
        raise InvalidInput("client_key", "The form is out of date. Reload the page.")
    existing = _find_log(session, client, client_key)
    if existing is not None:
        if existing.told_in_one_tap and not _is_one_tap(feedback):
            return _tell(session, client, existing, item_id, feedback, note, now, ip)
        return _result(existing, created=False)
    item = get_item(session, client, item_id)
    zone_today = now.astimezone(practice_service.zone(session)).date()
    if local_date > zone_today:
        raise InvalidInput("local_date", "You can't log a day that hasn't happened yet.")
    if local_date < zone_today - MAX_LOG_AGE:
        raise InvalidInput("local_date", "That day is too long ago to log.")
    values = _feedback_values(feedback, each_side=item.sides is Sides.EACH_SIDE)
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
        _report_pain(session, client, log, now, ip)
    return _result(log, created=True)


def log_fine(
    session: Session, client: User, item_id: int, client_key: str, local_date: date,
    now: datetime, *, moment: Moment | str | None = None, ip: str | None = None,
) -> LogResult:
    """One tap: the client did the item and it felt fine, on each side it has. The same log,
    rules and idempotency as log_completion; "Tell us how it felt" with the same key adds
    the detail later."""
    return log_completion(session, client, item_id, FeedbackInput(both=Feedback.FINE), "",
                          client_key, local_date, now, moment=moment, ip=ip)


def _is_one_tap(feedback: FeedbackInput) -> bool:
    given = {feedback.left, feedback.right, feedback.both} - {None, ""}
    return given == {Feedback.FINE}


def _feedback_values(feedback: FeedbackInput, *, each_side: bool) -> dict[str, Feedback]:
    """The log's feedback columns: left and right for each-side items, one value otherwise."""
    if each_side:
        return {"feedback_left": _feedback(feedback.left or feedback.both, "feedback_left",
                                           "Say how the left side felt."),
                "feedback_right": _feedback(feedback.right or feedback.both, "feedback_right",
                                            "Say how the right side felt.")}
    return {"feedback": _feedback(feedback.both, "feedback", "Say how it felt.")}


def _tell(session: Session, client: User, log: CompletionLog, item_id: int,
          feedback: FeedbackInput, note: str, now: datetime, ip: str | None) -> LogResult:
    """Give a one-tap log the detail of how it felt (its day, moment and time stay)."""
    item = get_item(session, client, item_id)
    if item.exercise_id != log.exercise_id:
        # The key is of another exercise's log: a form from a muddled page, not this one.
        raise InvalidInput("client_key", "The form is out of date. Reload the page.")
    # The sides the log was made with (the item may have changed since).
    values = _feedback_values(feedback, each_side=log.feedback is None)
    note = clean_text(note, "note", 1000)
    for name, value in values.items():
        setattr(log, name, value)
    log.note = note
    log.pain = Feedback.PAIN in values.values()
    session.flush()
    if log.pain:
        _report_pain(session, client, log, now, ip)
    return replace(_result(log, created=False), told=True)


def _report_pain(session: Session, client: User, log: CompletionLog, now: datetime,
                 ip: str | None) -> None:
    audit.record(session, actor=client, subject=client, action="programme.pain_reported",
                 now=now, ip=ip, log=log.id, exercise=log.exercise_id)


def acknowledge_pain(session: Session, therapist: User, log_id: int,
                     now: datetime, *, ip: str | None = None) -> CompletionLog:
    """The therapist has seen a pain report: it leaves the pain_flags list."""
    require_therapist(therapist)
    log = session.get(CompletionLog, log_id)
    if log is None or not log.pain:
        raise NotFound("No such pain report.")
    if log.pain_acknowledged_at is None:
        log.pain_acknowledged_at = now
        session.flush()
        audit.record(session, actor=therapist, action="programme.pain_acknowledged", now=now,
                     ip=ip, subject=session.get(User, log.client_id), log=log.id)
    return log
