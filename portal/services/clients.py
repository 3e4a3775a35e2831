"""The therapist's view of clients: the searchable, filterable list, the client record with
adherence over time, and the client's audit trail. Every function runs a fixed number of
queries however many clients, appointments and logs there are.

Adherence follows the rules of programmes.adherence() (and caseload.programme_overview()),
applied per Monday-to-Sunday week against the items of the current version.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased, joinedload

from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    CompletionLog,
    IntakeForm,
    Practice,
    Programme,
    ProgrammeItem,
    ProgrammeVersion,
    Role,
    User,
)
from portal.services import audit
from portal.services import intake as intake_service
from portal.services import programmes as programme_service
from portal.services.errors import NotFound, PermissionDenied

PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
SEARCH_MAX = 100
LOW_ADHERENCE_PERCENT = 50
CHART_WEEKS = 8
RECENT_FEEDBACK = 20
FILTERS: dict[str, str] = {
    "upcoming": "Has an upcoming session",
    "pain": "Pain flagged",
    "low_adherence": f"Adherence under {LOW_ADHERENCE_PERCENT}% this fortnight",
    "no_programme": "No programme",
}


# --- input ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientQuery:
    """A cleaned search of the client list: text, known filters and a page from 1."""

    search: str = ""
    filters: frozenset[str] = frozenset()
    page: int = 1


def parse_page(value: str | None) -> int:
    """A page number from a query string: anything odd (text, zero, huge) becomes 1."""
    text = (value or "").strip()
    if not text.isdigit() or len(text) > 6:
        return 1
    return max(1, int(text))


def clean_query(search: str | None, filters: Iterable[str], page: str | None) -> ClientQuery:
    """Trim, clean and cap the search text, drop unknown filters, and validate the page."""
    # Control characters can't be typed and PostgreSQL refuses NUL in text: drop them.
    text = "".join(ch for ch in (search or "") if ch.isprintable())
    return ClientQuery(search=text.strip()[:SEARCH_MAX],
                       filters=frozenset(f for f in filters if f in FILTERS),
                       page=parse_page(page))


def escape_like(text: str) -> str:
    """The text with LIKE's wildcards and the escape character itself taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- adherence by week, for many clients at once -------------------------------------------


@dataclass(frozen=True)
class Week:
    """Adherence for one Monday-to-Sunday week, up to today when it is the current week."""

    start: date
    prescribed: int
    done: int

    @property
    def percent(self) -> int | None:
        """0 to 100; None when nothing was prescribed that week."""
        return round(100 * self.done / self.prescribed) if self.prescribed else None


def _zone(session: Session) -> ZoneInfo:
    name = session.scalar(select(Practice.timezone).order_by(Practice.id).limit(1))
    return ZoneInfo(name or "Europe/London")


def _current_versions():
    """(programme_id, number) of every programme's newest version, as a subquery."""
    return (select(ProgrammeVersion.programme_id,
                   func.max(ProgrammeVersion.number).label("number"))
            .group_by(ProgrammeVersion.programme_id).subquery())


def weekly_adherence(session: Session, zone: ZoneInfo, today: date, weeks: int,
                     client_ids: list[int] | None = None) -> dict[int, list[Week]]:
    """Per client (all, or those listed) with a programme: the last `weeks` weeks, oldest
    first, the last one holding `today`. Two queries."""
    monday = today - timedelta(days=today.weekday())
    starts = [monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    latest = _current_versions()
    item_query = (
        select(Programme.client_id, Programme.created_at.label("started"),
               ProgrammeItem.exercise_id, ProgrammeItem.times_per_day,
               ProgrammeItem.days_per_week)
        .join(ProgrammeVersion, ProgrammeItem.version_id == ProgrammeVersion.id)
        .join(Programme, ProgrammeVersion.programme_id == Programme.id)
        .join(latest, and_(latest.c.programme_id == ProgrammeVersion.programme_id,
                           latest.c.number == ProgrammeVersion.number))
    )
    log_query = (
        select(CompletionLog.client_id, CompletionLog.exercise_id, CompletionLog.local_date,
               func.count())
        .where(CompletionLog.local_date >= starts[0], CompletionLog.local_date <= today)
        .group_by(CompletionLog.client_id, CompletionLog.exercise_id, CompletionLog.local_date)
    )
    if client_ids is not None:
        if not client_ids:
            return {}
        item_query = item_query.where(Programme.client_id.in_(client_ids))
        log_query = log_query.where(CompletionLog.client_id.in_(client_ids))
    items: dict[int, list] = defaultdict(list)
    for row in session.execute(item_query):
        items[row.client_id].append(row)
    logs: dict[tuple[int, int], list[tuple[date, int]]] = defaultdict(list)
    for client_id, exercise_id, day, count in session.execute(log_query):
        logs[(client_id, exercise_id)].append((day, count))

    result: dict[int, list[Week]] = {}
    for client_id, rows in items.items():
        started = rows[0].started.astimezone(zone).date()
        series = []
        for start in starts:
            first = max(start, started)
            last = min(today, start + timedelta(days=6))
            days_elapsed = max(0, (last - first).days + 1)
            prescribed = done = 0
            for item in rows:
                item_prescribed = item.times_per_day * min(item.days_per_week, days_elapsed)
                item_done = sum(min(n, item.times_per_day)
                                for day, n in logs.get((client_id, item.exercise_id), [])
                                if first <= day <= last)
                prescribed += item_prescribed
                done += min(item_done, item_prescribed)
            series.append(Week(start=start, prescribed=prescribed, done=done))
        result[client_id] = series
    return result


# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientRow:
    """One client in the list with what the filters look at."""

    client: User
    next_session: datetime | None
    pain_flags: int
    version_number: int | None  # None: no programme
    prescribed: int
    done: int

    @property
    def percent(self) -> int | None:
        """Adherence this fortnight (this week and last), 0 to 100; None if nothing due."""
        return round(100 * self.done / self.prescribed) if self.prescribed else None

    @property
    def low_adherence(self) -> bool:
        """True when something was due this fortnight and under half of it was done."""
        return self.percent is not None and self.percent < LOW_ADHERENCE_PERCENT


@dataclass(frozen=True)
class ClientPage:
    """One page of the filtered list."""

    rows: list[ClientRow]
    query: ClientQuery
    page: int
    pages: int
    total: int


def _require_therapist(actor: User) -> None:
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can see client records.")


def list_clients(session: Session, actor: User, query: ClientQuery, now: datetime,
                 per_page: int = PAGE_SIZE) -> ClientPage:
    """Clients matching the search and every chosen filter, by name, one page of them; a page
    past the end shows the last page. Seven queries, whatever the size of the practice.

    The filters need adherence, which is computed in Python, so every client matching the
    search is looked at and the page is cut afterwards: fine for one practice's caseload.
    """
    _require_therapist(actor)
    zone = _zone(session)
    today = now.astimezone(zone).date()
    statement = select(User).where(User.role == Role.CLIENT)
    if query.search:
        # Emails are stored lower-cased. lower() folds every letter on PostgreSQL but only
        # ASCII on SQLite, so the name is also matched as typed: "Åsa" always finds Åsa.
        pattern = f"%{escape_like(query.search.lower())}%"
        as_typed = f"%{escape_like(query.search)}%"
        statement = statement.where(
            func.lower(User.name).like(pattern, escape="\\")
            | User.name.like(as_typed, escape="\\")
            | User.email.like(pattern, escape="\\"))
    clients = list(session.scalars(statement.order_by(func.lower(User.name), User.id)))
    ids = [c.id for c in clients]
    latest = _current_versions()
    versions = dict(session.execute(
        select(Programme.client_id, latest.c.number)
        .join(latest, latest.c.programme_id == Programme.id)
        .where(Programme.client_id.in_(ids))
    ).all()) if ids else {}
    upcoming = dict(session.execute(
        select(Appointment.client_id, func.min(Appointment.starts_at))
        .where(Appointment.client_id.in_(ids), Appointment.starts_at > now,
               Appointment.status == AppointmentStatus.BOOKED)
        .group_by(Appointment.client_id)
    ).all()) if ids else {}
    pain = dict(session.execute(
        select(CompletionLog.client_id, func.count())
        .where(CompletionLog.client_id.in_(ids), CompletionLog.pain,
               CompletionLog.pain_acknowledged_at.is_(None))
        .group_by(CompletionLog.client_id)
    ).all()) if ids else {}
    fortnight = weekly_adherence(session, zone, today, 2, ids)
    rows = []
    for client in clients:
        weeks = fortnight.get(client.id, [])
        row = ClientRow(
            client=client, next_session=upcoming.get(client.id),
            pain_flags=pain.get(client.id, 0), version_number=versions.get(client.id),
            prescribed=sum(w.prescribed for w in weeks), done=sum(w.done for w in weeks))
        if _matches(row, query.filters):
            rows.append(row)
    pages = max(1, math.ceil(len(rows) / per_page))
    page = min(query.page, pages)
    return ClientPage(rows=rows[(page - 1) * per_page:page * per_page], query=query,
                      page=page, pages=pages, total=len(rows))


def _matches(row: ClientRow, filters: frozenset[str]) -> bool:
    checks = {
        "upcoming": row.next_session is not None,
        "pain": row.pain_flags > 0,
        "low_adherence": row.low_adherence,
        "no_programme": row.version_number is None,
    }
    return all(checks[f] for f in filters)


# --- the record -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientRecord:
    """Everything the therapist reads about one client."""

    client: User
    intakes: list[IntakeForm]
    appointments: list[Appointment]
    versions: list[ProgrammeVersion]
    weeks: list[Week]
    feedback: list[CompletionLog]
    pain_open: int = 0
    red_flag_questions: dict[str, str] = field(default_factory=dict)

    @property
    def current_intake(self) -> IntakeForm | None:
        """The newest questionnaire, if any."""
        return self.intakes[0] if self.intakes else None

    @property
    def current_version(self) -> ProgrammeVersion | None:
        """The newest programme version, if any."""
        return self.versions[0] if self.versions else None

    @property
    def consent_current(self) -> bool:
        """True when the newest consent is to the current consent text."""
        latest = self.current_intake
        return latest is not None and latest.consent_version == intake_service.CONSENT_VERSION


def get_client(session: Session, actor: User, client_id: int) -> User:
    """A client by id for a therapist, or NotFound (unknown id, or not a client)."""
    _require_therapist(actor)
    client = session.get(User, client_id)
    if client is None or not client.is_client:
        raise NotFound("There is no such client.")
    return client


def client_record(session: Session, actor: User, client: User, now: datetime, *,
                  ip: str | None = None) -> ClientRecord:
    """The client's record, and an audit row saying the actor read it. Eight queries and an
    insert, however many appointments and logs the client has."""
    _require_therapist(actor)
    zone = _zone(session)
    today = now.astimezone(zone).date()
    appointments = list(session.scalars(
        select(Appointment).where(Appointment.client_id == client.id)
        .order_by(Appointment.starts_at.desc(), Appointment.id.desc())
    ).unique())
    weeks = weekly_adherence(session, zone, today, CHART_WEEKS, [client.id]).get(client.id)
    if weeks is None:
        monday = today - timedelta(days=today.weekday())
        weeks = [Week(start=monday - timedelta(weeks=n), prescribed=0, done=0)
                 for n in range(CHART_WEEKS - 1, -1, -1)]
    feedback = list(session.scalars(
        select(CompletionLog).where(CompletionLog.client_id == client.id)
        .options(joinedload(CompletionLog.exercise))
        .order_by(CompletionLog.logged_at.desc(), CompletionLog.id.desc())
        .limit(RECENT_FEEDBACK)
    ))
    pain_open = session.scalar(
        select(func.count()).select_from(CompletionLog)
        .where(CompletionLog.client_id == client.id, CompletionLog.pain,
               CompletionLog.pain_acknowledged_at.is_(None))) or 0
    record = ClientRecord(
        client=client, intakes=intake_service.history(session, client),
        appointments=appointments,
        versions=programme_service.version_history(session, client), weeks=weeks,
        feedback=feedback, pain_open=pain_open,
        red_flag_questions={f.key: f.question for f in intake_service.RED_FLAGS},
    )
    audit.record(session, actor=actor, subject=client, action="client.record_viewed",
                 now=now, ip=ip)
    session.flush()
    return record


# --- the audit trail ------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    """One audit event with who did it (None: the system or a deleted account)."""

    event: AuditEvent
    actor_name: str | None
    actor_email: str | None


@dataclass(frozen=True)
class AuditPage:
    """One page of a client's audit trail, newest first."""

    rows: list[AuditRow]
    page: int
    pages: int
    total: int


def audit_trail(session: Session, actor: User, client: User, page: int,
                per_page: int = AUDIT_PAGE_SIZE) -> AuditPage:
    """The audit rows about the client, newest first, one page (a page past the end shows
    the last one). Two queries."""
    _require_therapist(actor)
    total = session.scalar(select(func.count()).select_from(AuditEvent)
                           .where(AuditEvent.subject_user_id == client.id)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    who = aliased(User)
    result = session.execute(
        select(AuditEvent, who.name, who.email)
        .outerjoin(who, who.id == AuditEvent.actor_id)
        .where(AuditEvent.subject_user_id == client.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    )
    rows = [AuditRow(event=event, actor_name=name, actor_email=email)
            for event, name, email in result]
    return AuditPage(rows=rows, page=page, pages=pages, total=total)
