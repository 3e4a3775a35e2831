"""The therapist's caseload at a glance: every client with their programme's current version,
this week's adherence and open pain reports, in a fixed number of queries.

programmes.adherence() answers for one client in four queries; a list of fifty clients would
run two hundred. Here the same rules (see that function's docstring) are applied to rows
fetched for every client at once, and a test checks both give the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from portal.models import (
    CompletionLog,
    ExerciseLevel,
    Programme,
    ProgrammeItem,
    ProgrammeVersion,
    Role,
    User,
)


@dataclass(frozen=True)
class ClientProgramme:
    """One row of the caseload: a client and where their programme stands."""

    client: User
    version_number: int | None  # None: no programme yet
    version_saved_at: datetime | None
    items: int
    prescribed: int
    done: int
    pain_flags: int

    @property
    def percent(self) -> int | None:
        """This week's adherence, 0 to 100; None when nothing is prescribed yet."""
        return round(100 * self.done / self.prescribed) if self.prescribed else None


def _current_versions():
    """(programme_id, number) of every programme's newest version, as a subquery."""
    return (select(ProgrammeVersion.programme_id,
                   func.max(ProgrammeVersion.number).label("number"))
            .group_by(ProgrammeVersion.programme_id).subquery())


def programme_overview(session: Session, zone: ZoneInfo, today: date) -> list[ClientProgramme]:
    """Every client by name, with their current version, adherence for the week (Monday to
    Sunday) holding the local date `today`, and unacknowledged pain reports. Five queries,
    however many clients and logs there are."""
    week_start = today - timedelta(days=today.weekday())
    last = min(today, week_start + timedelta(days=6))
    clients = list(session.scalars(
        select(User).where(User.role == Role.CLIENT).order_by(func.lower(User.name), User.id)
    ))
    latest = _current_versions()
    versions = {
        row.client_id: row for row in session.execute(
            select(Programme.client_id, Programme.created_at.label("started"),
                   ProgrammeVersion.number, ProgrammeVersion.created_at)
            .join(ProgrammeVersion, ProgrammeVersion.programme_id == Programme.id)
            .join(latest, and_(latest.c.programme_id == ProgrammeVersion.programme_id,
                               latest.c.number == ProgrammeVersion.number))
        )
    }
    items: dict[int, list] = defaultdict(list)
    for row in session.execute(
        select(Programme.client_id, ProgrammeItem.exercise_id, ProgrammeItem.times_per_day,
               ProgrammeItem.days_per_week)
        .join(ProgrammeVersion, ProgrammeItem.version_id == ProgrammeVersion.id)
        .join(Programme, ProgrammeVersion.programme_id == Programme.id)
        .join(latest, and_(latest.c.programme_id == ProgrammeVersion.programme_id,
                           latest.c.number == ProgrammeVersion.number))
    ):
        items[row.client_id].append(row)
    # Per client, exercise and day: how many logs (the per-client start day is applied below).
    logs: dict[int, dict[int, list[tuple[date, int]]]] = defaultdict(lambda: defaultdict(list))
    for client_id, exercise_id, day, count in session.execute(
        select(CompletionLog.client_id, CompletionLog.exercise_id, CompletionLog.local_date,
               func.count())
        .where(CompletionLog.local_date >= week_start, CompletionLog.local_date <= last)
        .group_by(CompletionLog.client_id, CompletionLog.exercise_id, CompletionLog.local_date)
    ):
        logs[client_id][exercise_id].append((day, count))
    pain = dict(session.execute(
        select(CompletionLog.client_id, func.count())
        .where(CompletionLog.pain, CompletionLog.pain_acknowledged_at.is_(None))
        .group_by(CompletionLog.client_id)
    ).all())

    rows = []
    for client in clients:
        version = versions.get(client.id)
        prescribed = done = 0
        if version is not None:
            first = max(week_start, version.started.astimezone(zone).date())
            days_elapsed = max(0, (last - first).days + 1)
            for item in items.get(client.id, []):
                item_prescribed = item.times_per_day * min(item.days_per_week, days_elapsed)
                item_done = sum(min(n, item.times_per_day)
                                for day, n in logs[client.id].get(item.exercise_id, [])
                                if day >= first)
                prescribed += item_prescribed
                done += min(item_done, item_prescribed)
        rows.append(ClientProgramme(
            client=client,
            version_number=version.number if version else None,
            version_saved_at=version.created_at if version else None,
            items=len(items.get(client.id, [])),
            prescribed=prescribed, done=done, pain_flags=pain.get(client.id, 0),
        ))
    return rows


def ladders(session: Session, exercise_ids: list[int]) -> dict[int, list[ExerciseLevel]]:
    """The progression ladders of some exercises, rungs in order (one query; none when the
    list is empty). search_exercises() leaves ladders out; the builder needs them to offer a
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
