"""The therapist's list of clients: the searchable, filterable list, how many clients each
filter finds, and the programmes list (every client's programme at a glance). Every function runs a
fixed number of queries however many clients, appointments and logs there are; adherence is
computed by services/adherence.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from portal.models import (
    Appointment,
    AppointmentStatus,
    ClientErasure,
    CompletionLog,
    Programme,
    ProgrammeVersion,
    Role,
    User,
)
from portal.services import adherence
from portal.services import practice as practice_service
from portal.services.errors import PermissionDenied
from portal.services.messages import unread_from_client

PAGE_SIZE = 25
SEARCH_MAX = 100
LOW_ADHERENCE_PERCENT = 50
# The low adherence filter looks at this week and last.
LOW_ADHERENCE_WEEKS = 2
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
    # Messages from the client no therapist has read yet.
    unread_messages: int = 0

    @property
    def percent(self) -> int | None:
        """Adherence this fortnight (this week and last), 0 to 100; None if nothing due."""
        return adherence.percent(self.done, self.prescribed)

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


def require_therapist(actor: User) -> None:
    """PermissionDenied unless the actor is a therapist: only they see client records."""
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


def is_low(done, prescribed):
    """ClientRow.low_adherence in whole numbers, for ints and SQL expressions alike: something
    was due and round(100 * done / prescribed) < 50. Python's round() sends 49.5 to the even
    50, so that is exactly 200 * done < 99 * prescribed (true of any even threshold; a test
    checks it against round())."""
    return (prescribed > 0) & (done * 200 < prescribed * (2 * LOW_ADHERENCE_PERCENT - 1))


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
        totals = adherence.weekly_totals(zone, today, LOW_ADHERENCE_WEEKS,
                                         scope).subquery("totals")
        return User.active & User.id.in_(select(totals.c.client_id)
                                         .where(is_low(totals.c.done, totals.c.prescribed)))
    raise ValueError(f"unknown filter {name!r}")


def not_erased():
    """The SQL condition on User: the account was not erased. Erased clients leave the lists
    (their pseudonymous records are reached from Clients, Erased accounts)."""
    return ~select(ClientErasure.id).where(ClientErasure.client_id == User.id).exists()


def _conditions(query: ClientQuery, now: datetime, zone: ZoneInfo, today: date) -> list:
    """The WHERE conditions on User for the search and every chosen filter."""
    matching = [User.role == Role.CLIENT, not_erased()]
    if query.search:
        matching.append(_search_condition(query.search))
    scope = select(User.id).where(*matching)
    return matching + [_filter_condition(name, now, zone, today, scope)
                       for name in sorted(query.filters)]


def count_by_filter(session: Session, actor: User, names: Iterable[str],
                    now: datetime) -> dict[str, int]:
    """How many clients each filter alone would list (for the dashboard's "needs a look").
    Two queries, whatever the size of the practice."""
    require_therapist(actor)
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
    require_therapist(actor)
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
        select(User, next_session, pain_flags, version_number, unread_from_client(User.id))
        .where(*conditions)
        .order_by(func.lower(User.name), User.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    ids = [client.id for client, *_ in found]
    totals = {client_id: (prescribed, done) for client_id, prescribed, done in session.execute(
        adherence.weekly_totals(zone, today, LOW_ADHERENCE_WEEKS, ids))}
    rows = []
    for client, upcoming, pain, version, unread in found:
        prescribed, done = totals.get(client.id, (0, 0))
        rows.append(ClientRow(client=client, next_session=upcoming, pain_flags=pain or 0,
                              version_number=version, prescribed=int(prescribed),
                              done=int(done), unread_messages=unread or 0))
    return ClientPage(rows=rows, query=query, page=page, pages=pages, total=total)


# --- the programmes list-----------------------------------------------------------------------


@dataclass(frozen=True)
class ClientProgramme:
    """One row of the programmes list: a client and where their programme stands."""

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
        return adherence.percent(self.done, self.prescribed)


def programme_overview(session: Session, zone: ZoneInfo, today: date) -> list[ClientProgramme]:
    """Every client by name (erased ones left out), with their current version, adherence for
    the week (Monday to Sunday) holding the local date `today`, and unacknowledged pain
    reports. Four queries, however many clients and logs there are."""
    week_start = today - timedelta(days=today.weekday())
    last = min(today, week_start + timedelta(days=6))
    clients = list(session.scalars(
        select(User).where(User.role == Role.CLIENT, not_erased())
        .order_by(func.lower(User.name), User.id)
    ))
    programmes = adherence.current_programmes(session)
    logs = adherence.daily_logs(session, week_start, last)
    pain = dict(session.execute(
        select(CompletionLog.client_id, func.count())
        .where(CompletionLog.pain, CompletionLog.pain_acknowledged_at.is_(None))
        .group_by(CompletionLog.client_id)
    ).all())

    rows = []
    for client in clients:
        programme = programmes.get(client.id)
        week = adherence.Totals()
        if programme is not None:
            week = adherence.totals(programme.items, logs.get(client.id, {}),
                                    max(week_start, programme.start_day(zone)), last)
        rows.append(ClientProgramme(
            client=client,
            version_number=programme.number if programme else None,
            version_saved_at=programme.saved_at if programme else None,
            items=len(programme.items) if programme else 0,
            prescribed=week.prescribed, done=week.done, pain_flags=pain.get(client.id, 0),
        ))
    return rows
