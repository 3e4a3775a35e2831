"""The therapist's view of clients: the searchable, filterable list, the client record with
adherence over time and session notes, the client's audit trail, and the whole record as a
file. Every function runs a fixed number of queries however many clients, appointments and
logs there are.

Adherence follows the rules of programmes.adherence() (and caseload.programme_overview()),
applied per Monday-to-Sunday week against the items of the current version.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Select, and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session, aliased, contains_eager, joinedload

from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    CompletionLog,
    IntakeForm,
    MomentTime,
    Programme,
    ProgrammeItem,
    ProgrammeShare,
    ProgrammeVersion,
    Role,
    SessionNote,
    User,
)
from portal.models.base import UTCDateTime
from portal.services import audit
from portal.services import intake as intake_service
from portal.services import practice as practice_service
from portal.services import programmes as programme_service
from portal.services.errors import NotFound, PermissionDenied
from portal.services.slots import resolve

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


def _search_condition(search: str):
    """Name or email contains the text, wildcards taken literally."""
    # Emails are stored lower-cased. lower() folds every letter on PostgreSQL but only ASCII
    # on SQLite, so the name is also matched as typed: "Åsa" always finds Åsa.
    pattern = f"%{escape_like(search.lower())}%"
    as_typed = f"%{escape_like(search)}%"
    return (func.lower(User.name).like(pattern, escape="\\")
            | User.name.like(as_typed, escape="\\")
            | User.email.like(pattern, escape="\\"))


def _least(a, b):
    """The smaller of two SQL values (LEAST on PostgreSQL, min() on SQLite: neither is
    portable, CASE is)."""
    return case((a < b, a), else_=b)


def is_low(done, prescribed):
    """ClientRow.low_adherence in whole numbers, for ints and SQL expressions alike: something
    was due and round(100 * done / prescribed) < 50. Python's round() sends 49.5 to the even
    50, so that is exactly 200 * done < 99 * prescribed (true of any even threshold; a test
    checks it against round())."""
    return (prescribed > 0) & (done * 200 < prescribed * (2 * LOW_ADHERENCE_PERCENT - 1))


def fortnight_totals(zone: ZoneInfo, today: date, clients=None) -> Select:
    """(client_id, prescribed, done) this week and last, in SQL, by the rules of
    weekly_adherence(); one row per client whose current version has items. `clients` (ids,
    or a SELECT of ids) narrows it.

    Each item meets each day of the fortnight up to today on which its programme had started
    (one row per item and day, at most 14), with that day's logs of its exercise; a day
    counts when the programme was created before that local day ended, which is the same as
    max(week start, programme start) <= day. Grouping by item and week gives the days
    elapsed and the capped logs; the client's sums follow."""
    monday = today - timedelta(days=today.weekday())
    first = monday - timedelta(weeks=1)
    days = union_all(*(
        select(literal(day, Date()).label("day"),
               literal(monday if day >= monday else first, Date()).label("week"),
               # The first instant of the next local day, exact on clock-change days.
               literal(resolve(day + timedelta(days=1), time(0), zone),
                       UTCDateTime()).label("ends"))
        for day in (first + timedelta(days=n) for n in range((today - first).days + 1))
    )).subquery("fortnight_day")
    logs = (select(CompletionLog.client_id, CompletionLog.exercise_id, CompletionLog.local_date,
                   func.count().label("n"))
            .where(CompletionLog.local_date >= first, CompletionLog.local_date <= today)
            .group_by(CompletionLog.client_id, CompletionLog.exercise_id,
                      CompletionLog.local_date))
    latest = _current_versions()
    item_days = (
        select(Programme.client_id, ProgrammeItem.id.label("item_id"), days.c.week,
               ProgrammeItem.times_per_day, ProgrammeItem.days_per_week)
        .join(ProgrammeVersion, ProgrammeItem.version_id == ProgrammeVersion.id)
        .join(Programme, ProgrammeVersion.programme_id == Programme.id)
        .join(latest, and_(latest.c.programme_id == ProgrammeVersion.programme_id,
                           latest.c.number == ProgrammeVersion.number))
        .join(days, Programme.created_at < days.c.ends)
    )
    if clients is not None:
        item_days = item_days.where(Programme.client_id.in_(clients))
        logs = logs.where(CompletionLog.client_id.in_(clients))
    logs = logs.subquery("day_logs")
    logged = func.coalesce(logs.c.n, 0)
    item_days = (
        item_days.add_columns(_least(logged, ProgrammeItem.times_per_day).label("done"))
        .outerjoin(logs, and_(logs.c.client_id == Programme.client_id,
                              logs.c.exercise_id == ProgrammeItem.exercise_id,
                              logs.c.local_date == days.c.day))
    ).subquery("item_day")
    item_weeks = (
        select(item_days.c.client_id,
               (item_days.c.times_per_day
                * _least(item_days.c.days_per_week, func.count())).label("prescribed"),
               func.sum(item_days.c.done).label("done"))
        .group_by(item_days.c.client_id, item_days.c.item_id, item_days.c.week,
                  item_days.c.times_per_day, item_days.c.days_per_week)
    ).subquery("item_week")
    return (select(item_weeks.c.client_id,
                   func.sum(item_weeks.c.prescribed).label("prescribed"),
                   func.sum(_least(item_weeks.c.done, item_weeks.c.prescribed)).label("done"))
            .group_by(item_weeks.c.client_id))


def _filter_condition(name: str, now: datetime, zone: ZoneInfo, today: date, scope: Select):
    """The SQL condition on User for one filter of FILTERS."""
    if name == "upcoming":
        return (select(Appointment.id)
                .where(Appointment.client_id == User.id, Appointment.starts_at > now,
                       Appointment.status == AppointmentStatus.BOOKED).exists())
    if name == "pain":
        return (select(CompletionLog.id)
                .where(CompletionLog.client_id == User.id, CompletionLog.pain,
                       CompletionLog.pain_acknowledged_at.is_(None)).exists())
    if name == "no_programme":
        return ~(select(ProgrammeVersion.id)
                 .join(Programme, ProgrammeVersion.programme_id == Programme.id)
                 .where(Programme.client_id == User.id).exists())
    if name == "low_adherence":
        # A deactivated client cannot sign in to log anything: their falling adherence is
        # not something to follow up.
        totals = fortnight_totals(zone, today, scope).subquery("totals")
        return User.active & User.id.in_(select(totals.c.client_id)
                                         .where(is_low(totals.c.done, totals.c.prescribed)))
    raise ValueError(f"unknown filter {name!r}")


def _conditions(query: ClientQuery, now: datetime, zone: ZoneInfo, today: date) -> list:
    """The WHERE conditions on User for the search and every chosen filter."""
    matching = [User.role == Role.CLIENT]
    if query.search:
        matching.append(_search_condition(query.search))
    scope = select(User.id).where(*matching)
    return matching + [_filter_condition(name, now, zone, today, scope)
                       for name in sorted(query.filters)]


def count_by_filter(session: Session, actor: User, names: Iterable[str],
                    now: datetime) -> dict[str, int]:
    """How many clients each filter alone would list (for the dashboard's "needs a look").
    Two queries, whatever the size of the practice."""
    _require_therapist(actor)
    zone = practice_service.zone(session)
    today = now.astimezone(zone).date()
    names = [n for n in names if n in FILTERS]
    if not names:
        return {}
    counts = [select(func.count()).select_from(User)
              .where(*_conditions(ClientQuery(filters=frozenset({n})), now, zone, today))
              .scalar_subquery().label(n) for n in names]
    row = session.execute(select(*counts)).one()
    return {n: int(getattr(row, n) or 0) for n in names}


def list_clients(session: Session, actor: User, query: ClientQuery, now: datetime,
                 per_page: int = PAGE_SIZE) -> ClientPage:
    """Clients matching the search and every chosen filter, by name, one page of them; a page
    past the end shows the last page. Four queries, whatever the size of the practice:
    filtering, counting and paging happen in the database, and only the page's rows are
    loaded.

    The low adherence filter makes the database sum this fortnight's items and logs of every
    client matching the search; the other filters are indexed EXISTS tests per client.
    """
    _require_therapist(actor)
    zone = practice_service.zone(session)
    today = now.astimezone(zone).date()
    conditions = _conditions(query, now, zone, today)
    total = session.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(query.page, pages)
    next_session = (select(func.min(Appointment.starts_at))
                    .where(Appointment.client_id == User.id, Appointment.starts_at > now,
                           Appointment.status == AppointmentStatus.BOOKED)
                    .scalar_subquery())
    pain_flags = (select(func.count()).select_from(CompletionLog)
                  .where(CompletionLog.client_id == User.id, CompletionLog.pain,
                         CompletionLog.pain_acknowledged_at.is_(None))
                  .scalar_subquery())
    version_number = (select(func.max(ProgrammeVersion.number))
                      .join(Programme, ProgrammeVersion.programme_id == Programme.id)
                      .where(Programme.client_id == User.id)
                      .scalar_subquery())
    found = session.execute(
        select(User, next_session, pain_flags, version_number).where(*conditions)
        .order_by(func.lower(User.name), User.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    ids = [client.id for client, *_ in found]
    totals = {client_id: (prescribed, done) for client_id, prescribed, done in session.execute(
        fortnight_totals(zone, today, ids))}
    rows = []
    for client, upcoming, pain, version in found:
        prescribed, done = totals.get(client.id, (0, 0))
        rows.append(ClientRow(client=client, next_session=upcoming, pain_flags=pain or 0,
                              version_number=version, prescribed=int(prescribed),
                              done=int(done)))
    return ClientPage(rows=rows, query=query, page=page, pages=pages, total=total)


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
    # Private session notes by appointment id, oldest first.
    notes: dict[int, list[SessionNote]] = field(default_factory=dict)
    # Each appointment's local date in the practice's zone, for links to the agenda.
    days: dict[int, date] = field(default_factory=dict)

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


def session_notes(session: Session, client: User) -> dict[int, list[SessionNote]]:
    """Every session note on the client's appointments with its author, by appointment id,
    oldest first (one query)."""
    notes: dict[int, list[SessionNote]] = defaultdict(list)
    for note in session.scalars(
        select(SessionNote).join(Appointment, SessionNote.appointment_id == Appointment.id)
        .where(Appointment.client_id == client.id)
        .order_by(SessionNote.created_at, SessionNote.id)
    ):
        notes[note.appointment_id].append(note)
    return dict(notes)


def client_record(session: Session, actor: User, client: User, now: datetime, *,
                  ip: str | None = None) -> ClientRecord:
    """The client's record, and an audit row saying the actor read it. Nine queries and an
    insert, however many appointments, notes and logs the client has."""
    _require_therapist(actor)
    zone = practice_service.zone(session)
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
        notes=session_notes(session, client),
        days={a.id: a.starts_at.astimezone(zone).date() for a in appointments},
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


# --- the export -----------------------------------------------------------------------------

EXPORT_FORMAT = "portal.client-record"
EXPORT_VERSION = 1


def _utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _local(value: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 in the practice's zone, with its offset, or None."""
    return None if value is None else value.astimezone(zone).isoformat()


def _feedback_of(log: CompletionLog) -> dict[str, str]:
    return {side: value.value for side, value in log.feedback_by_side.items()}


def export_record(session: Session, actor: User, client: User, now: datetime, *,
                  ip: str | None = None) -> dict:
    """Everything the practice holds about the client as plain JSON values, for a subject
    access request, and an audit row saying the actor exported it (written first, so the
    export lists itself). Nine queries and an insert, however long the history.

    Left out on purpose: the password hash, sign-in and calendar secrets, share link token
    hashes, and anything about other people beyond the names of the therapists who wrote or
    changed the record (and their IP addresses)."""
    _require_therapist(actor)
    zone = practice_service.zone(session)
    audit.record(session, actor=actor, subject=client, action="client.exported", now=now,
                 ip=ip)
    session.flush()
    appointments = list(session.scalars(
        select(Appointment).where(Appointment.client_id == client.id)
        .order_by(Appointment.starts_at, Appointment.id)).unique())
    notes = session_notes(session, client)
    versions = list(session.scalars(
        select(ProgrammeVersion).join(Programme, ProgrammeVersion.programme_id == Programme.id)
        .where(Programme.client_id == client.id)
        .options(contains_eager(ProgrammeVersion.programme),
                 joinedload(ProgrammeVersion.created_by),
                 joinedload(ProgrammeVersion.items).joinedload(ProgrammeItem.exercise))
        .order_by(ProgrammeVersion.number)).unique())
    logs = list(session.scalars(
        select(CompletionLog).where(CompletionLog.client_id == client.id)
        .options(joinedload(CompletionLog.exercise))
        .order_by(CompletionLog.logged_at, CompletionLog.id)))
    numbers = {v.id: v.number for v in versions}
    reminders = session.scalars(select(MomentTime).where(MomentTime.client_id == client.id)
                                .order_by(MomentTime.moment)).all()
    shares = session.scalars(select(ProgrammeShare).where(ProgrammeShare.client_id == client.id)
                             .order_by(ProgrammeShare.created_at, ProgrammeShare.id)).all()
    who = aliased(User)
    events = session.execute(
        select(AuditEvent, who.name, who.role).outerjoin(who, who.id == AuditEvent.actor_id)
        .where(AuditEvent.subject_user_id == client.id)
        .order_by(AuditEvent.at, AuditEvent.id)).all()

    def actor_of(event: AuditEvent, name: str | None, role: Role | None) -> dict | None:
        if event.actor_id is None:
            return None  # the system
        if event.actor_id == client.id:
            return {"role": "client", "name": client.name}
        if role is Role.THERAPIST:
            return {"role": "therapist", "name": name}
        return {"role": "other"}

    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "exported_at": _utc(now),
        "exported_at_local": _local(now, zone),
        "exported_by": actor.name,
        "practice_timezone": zone.key,
        "account": {
            "id": client.id,
            "name": client.name,
            "email": client.email,
            "phone": client.phone,
            "created_at": _utc(client.created_at),
            "active": client.active,
            "joined": client.has_password,
            "invited_at": _utc(client.invited_at),
            "last_login_at": _utc(client.last_login_at),
            "password_changed_at": _utc(client.password_changed_at),
            "calendar_feed_issued": client.calendar_token is not None,
        },
        "questionnaires": [{
            "submitted_at": _utc(form.submitted_at),
            "answers": form.answers,
            "red_flags": form.red_flags,
            "consent_version": form.consent_version,
            "consent_given_at": _utc(form.consent_given_at),
        } for form in reversed(intake_service.history(session, client))],
        "appointments": [{
            "id": a.id,
            "starts_at": _utc(a.starts_at),
            "starts_at_local": _local(a.starts_at, zone),
            "ends_at": _utc(a.ends_at),
            "ends_at_local": _local(a.ends_at, zone),
            "service": a.service.name,
            "therapist": a.therapist.name,
            "status": a.status.value,
            "price_pence": a.price_pence,
            "client_note": a.client_note,
            "booked_at": _utc(a.created_at),
            "cancelled_at": _utc(a.cancelled_at),
            "cancel_reason": a.cancel_reason,
            "late_cancellation": a.late_cancellation,
            "session_notes": [{
                "written_at": _utc(note.created_at),
                "written_at_local": _local(note.created_at, zone),
                "author": note.author.name,
                "text": note.body,
            } for note in notes.get(a.id, [])],
        } for a in appointments],
        "programme_versions": [{
            "number": v.number,
            "saved_at": _utc(v.created_at),
            "saved_by": v.created_by.name,
            "appointment_id": v.appointment_id,
            "note": v.note,
            "changes": v.changes,
            "items": [{
                "exercise": item.exercise.name,
                "hold_seconds": item.hold_seconds,
                "reps": item.reps,
                "sets": item.sets,
                "sides": item.sides.value,
                "times_per_day": item.times_per_day,
                "days_per_week": item.days_per_week,
                "moments": list(item.moments or []),
                "level": item.level,
                "personal_note": item.personal_note,
            } for item in v.items],
        } for v in versions],
        "completion_logs": [{
            "date": log.local_date.isoformat(),
            "logged_at": _utc(log.logged_at),
            "exercise": log.exercise.name,
            "programme_version": numbers.get(log.version_id),
            "moment": log.moment.value if log.moment else None,
            "feedback": _feedback_of(log),
            "pain": log.pain,
            "pain_seen_at": _utc(log.pain_acknowledged_at),
            "note": log.note,
        } for log in logs],
        "moment_reminders": {m.moment.value: m.local_time.strftime("%H:%M") for m in reminders},
        "share_links": [{"created_at": _utc(s.created_at), "revoked_at": _utc(s.revoked_at)}
                        for s in shares],
        "audit_trail": [{
            "at": _utc(event.at),
            "action": event.action,
            "actor": actor_of(event, name, role),
            # Only the client's own addresses: a therapist's is not the client's data.
            "ip": event.ip if event.actor_id == client.id else None,
            "details": event.details,
        } for event, name, role in events],
    }
