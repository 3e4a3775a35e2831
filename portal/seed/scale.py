"""A practice of any size, for measuring (`flask seed-scale --clients N`; development only).

On top of the demo practice (seeded first when the database is empty, so the demo logins
work) it adds N clients with two years of history: about 50 sessions each, a questionnaire
with consent, private notes on some sessions, and for most of them a programme of 4 to 6
library exercises in a few versions, logged as real clients log (some about 80% of what is
prescribed, some about half, some hardly at all), with a few pain reports, most of them
acknowledged by the therapist.

**The diary.** No two live sessions of one therapist may overlap (PostgreSQL enforces it), so
one therapist's two years hold about 4,300 sessions (Monday to Saturday, 40 working hours a
week, back to back with the buffer after each), not 50 per client for thousands of clients.
The demo therapist gets a full diary: every working hour of the past two years booked, the
coming eight weeks (the booking horizon) filling from nearly full next week to a few gaps at
the horizon, and about 87 clients of her own. The rest of the history is carried by
generated colleagues with the same hours and the same kind of diary, each with their own
clients (a client sees one therapist), so the practice holds about 50 sessions per client
and the numbers of issue 11 (5,000 clients: 250,000 sessions and about 1.3 million logs)
without breaking the rule. Colleagues never sign in (nobody knows their password).

Rows are written in bulk (COPY on PostgreSQL, executemany on SQLite) with ids reserved from
the tables' sequences, in one transaction committed by the command. The same N and `now`
give the same practice: every random choice comes from a generator seeded with the number of
the diary it belongs to.
"""

from __future__ import annotations

import heapq
import json
import random
import secrets
import time as clock
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session, selectinload

from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    CompletionLog,
    Exercise,
    Feedback,
    IntakeForm,
    Moment,
    Programme,
    ProgrammeItem,
    ProgrammeVersion,
    Role,
    Service,
    SessionNote,
    Sides,
    User,
    WorkingHours,
)
from portal.seed import demo
from portal.services import accounts, adherence_summary, intake, slots
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput
from portal.services.passwords import Passwords
from portal.services.programmes import _changes, _Clean  # the wording save_version writes
from portal.services.secret_box import SecretBox

# Generated people have addresses here, which is how a generated practice is recognised.
DOMAIN = "scale.example.net"
# Every generated client signs in with this (published like the demo's; development only).
CLIENT_PASSWORD = "stretch-at-scale-2026"  # noqa: S105 - published, as the demo logins are
HISTORY_DAYS = 730
AHEAD_DAYS = 56
SESSIONS_PER_CLIENT = 50
# A client books online at most four sessions ahead (the practice's default); the generated
# diary leaves each client room for at least one more.
MOST_AHEAD = 3

# One four-hour block of a working day (09:00-13:00 or 14:00-18:00), as the session lengths
# booked back to back (each followed by the 15 minute buffer), and how often a day looks so.
BLOCKS = [((60, 60, 60), 3), ((60, 30, 60, 30), 2), ((90, 60, 30), 2), ((30, 60, 90), 1),
          ((90, 90), 1), ((30, 30, 30, 30, 30), 1), ((60, 60, 30, 30), 2)]
BLOCK_STARTS = {day: [time(9), time(14)] for day in range(5)} | {5: [time(9)]}

# How well clients keep up with their programme: the share of prescribed sessions they log,
# and how many clients are like that.
KEEPING_UP = [(0.8, 0.3), (0.5, 0.4), (0.15, 0.3)]
NO_PROGRAMME_SHARE = 0.05
# A programme started at a session between these many days ago (about 1.3 million logs for
# 5,000 clients, as in issue 11).
PROGRAMME_STARTED = (55, 190)
PAIN_CHANCE = 0.0025
# The big tables, written without their secondary indexes and constraints (added back at the
# end, see BulkWriter.defer_checks).
DEFERRED_TABLES = ("appointment", "session_note", "programme_version", "programme_item",
                   "completion_log", "audit_event")
NOTE_CHANCE = 0.35
LOG_TIMES = {Moment.MORNING: time(7, 20), Moment.WORK_BREAK: time(11, 5),
             Moment.AFTER_TRAINING: time(19, 0), Moment.BEFORE_BED: time(21, 50)}

FIRST_NAMES = [
    "Aisha", "Ben", "Chloe", "Daniel", "Ella", "Finn", "Grace", "Harry", "Isla", "Jack", "Kate",
    "Liam", "Maya", "Noah", "Olivia", "Priya", "Quinn", "Ravi", "Sophie", "Tom", "Uma",
    "Victor", "Wendy", "Xavier", "Yasmin", "Zach", "Amara", "Bilal", "Carys", "Dev", "Eilidh",
    "Femi", "Georgia", "Hamza", "Ines", "Jamal", "Keira", "Luca", "Mohammed", "Niamh", "Oscar",
    "Poppy", "Rhys", "Sana", "Theo", "Alice", "Callum", "Freya", "Joe", "Leah", "Marcus",
    "Nadia", "Owen", "Rosa", "Sam", "Tariq", "Zara", "Hugo", "Lily", "Kofi",
]
LAST_NAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Thomas", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper",
    "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lewis", "Baker", "Lee",
    "Allen", "Morris", "Khan", "Scott", "Watson", "Davis", "Parker", "James", "Bennett",
    "Young", "Phillips", "Richardson", "Mitchell", "Bailey", "Carter", "Cook", "Singh",
    "Shaw", "Bell", "Collins", "Morgan", "Kelly", "Begum", "Okafor", "Nowak", "Ahmed", "Chen",
]
COMPLAINTS = [
    "Lower back stiff after long days at the desk.",
    "Tight calves and hamstrings since I started running more.",
    "Neck and shoulders ache by the end of the week, worse on the right.",
    "Hips feel tight when I squat and at the start of a run.",
    "Upper back and chest tight from climbing and cycling.",
    "Knees grumble on long walks and the back of my thighs is tight.",
]
ACTIVITIES = [
    "Desk job; runs three times a week.", "Cycles to work; gym twice a week.",
    "Five-a-side on Tuesdays, walking at weekends.", "Swims and does yoga.",
    "Netball training twice a week.", "Plays padel; flies often for work.",
]
SESSION_NOTES = [
    "Lumbar erectors and QL tight, left worse. Worked glutes and hip flexors; stretches going "
    "well.",
    "Calves tight with a tender band mid-soleus. Easy miles this week.",
    "Upper traps and levator scapulae tight; suggested a laptop stand.",
    "Hamstrings guarded; kept pressure light. Progress the stretch next time.",
    "Much better than last visit. Hip flexors still short on the right.",
    "Honest that the stretches haven't happened; agreed on one after training.",
]
LOG_NOTES = ["Tighter on the left today.", "Easier than last week.", "Did it after a long run.",
             "Stiff first thing, eased as I held it."]
PAIN_NOTES = ["Sharp pinch when I leaned in, so I stopped.",
              "Pain down the back of the leg; stopped straight away."]


@dataclass
class Report:
    """What was added, and how long it took."""

    clients: int = 0
    therapists: int = 0
    appointments: int = 0
    versions: int = 0
    logs: int = 0
    pain_reports: int = 0
    notes: int = 0
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


# --- bulk writing ---------------------------------------------------------------------------


class BulkWriter:
    """Buffers plain rows per table and writes them in batches, parents before children:
    COPY on PostgreSQL, executemany of one INSERT on SQLite. Ids are reserved up front from
    each table's sequence (PostgreSQL) or after its largest id (SQLite), so rows can point at
    each other before any is written."""

    def __init__(self, session: Session, batch: int = 20_000):
        self.session = session
        self.connection = session.connection()
        self.postgres = self.connection.dialect.name == "postgresql"
        self.batch = batch
        self.columns: dict[Table, tuple[str, ...]] = {}
        self.buffers: dict[Table, list[tuple]] = {}
        self.json_columns: dict[Table, list[int]] = {}
        self.counts: dict[str, int] = {}
        self._next: dict[Table, int] = {}
        self._last: dict[Table, int] = {}
        self._order = {table: n for n, table in enumerate(
            User.metadata.sorted_tables)}
        self._deferred: list[tuple[str, list[tuple[str, str]], list[str]]] = []

    def defer_checks(self, tables: Sequence[str]) -> None:
        """PostgreSQL: take the secondary indexes and the foreign key, unique and exclusion
        constraints off these tables until `restore_checks`, as pg_restore does. Checked row
        by row, five foreign keys cost a log about 60 microseconds (each locks its parent
        row); added back at the end, each is checked once over the whole table, and every
        row is still checked before the commit."""
        if not self.postgres:
            return
        run = self.connection.exec_driver_sql
        # Building the indexes back sorts millions of rows.
        run("SET LOCAL maintenance_work_mem = '256MB'")
        for name in tables:
            constraints = [(row[0], row[1]) for row in run(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %(t)s::regclass AND contype IN ('f', 'u', 'x') ORDER BY oid",
                {"t": f'"{name}"'})]
            indexes = [(row[0], row[1]) for row in run(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = %(t)s AND indexname NOT IN (SELECT conname FROM pg_constraint "
                "WHERE conrelid = %(q)s::regclass)", {"t": name, "q": f'"{name}"'})]
            for constraint, _ in constraints:
                run(f'ALTER TABLE "{name}" DROP CONSTRAINT "{constraint}"')
            for index, _ in indexes:
                run(f'DROP INDEX "{index}"')
            self._deferred.append((name, constraints, [d for _, d in indexes]))

    def restore_checks(self) -> None:
        """Build the indexes and add the constraints taken off by `defer_checks` again; an
        overlap or a broken reference raises here, and nothing is committed."""
        run = self.connection.exec_driver_sql
        for name, constraints, indexes in self._deferred:
            for definition in indexes:
                run(definition)
            for constraint, definition in constraints:
                run(f'ALTER TABLE "{name}" ADD CONSTRAINT "{constraint}" {definition}')
        self._deferred.clear()

    def declare(self, model: type, columns: Sequence[str]) -> Table:
        """Name the columns (in order) that rows of this model will carry."""
        table = model.__table__
        self.columns[table] = tuple(columns)
        self.buffers[table] = []
        self.json_columns[table] = [n for n, name in enumerate(columns)
                                    if table.c[name].type.__class__.__name__ == "JSON"]
        return table

    def new_id(self, table: Table) -> int:
        """An id no other row has or will get."""
        if self._next.get(table, 0) > self._last.get(table, -1):
            self._reserve(table, 10_000)
        value = self._next[table]
        self._next[table] = value + 1
        return value

    def _reserve(self, table: Table, count: int) -> None:
        if self.postgres:
            sequence = f"pg_get_serial_sequence('\"{table.name}\"', 'id')"
            first = self.connection.execute(text(f"SELECT nextval({sequence})")).scalar_one()
            self.connection.execute(text(f"SELECT setval({sequence}, :last)"),
                                    {"last": first + count - 1})
        else:
            first = max(self.connection.execute(select(func.max(table.c.id))).scalar() or 0,
                        self._last.get(table, 0)) + 1
        self._next[table], self._last[table] = first, first + count - 1

    def add(self, table: Table, row: tuple) -> None:
        """Queue one row (values in the declared order)."""
        buffer = self.buffers[table]
        buffer.append(row)
        if len(buffer) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Write every queued row, parents first (foreign keys are checked row by row)."""
        for table in sorted(self.buffers, key=self._order.__getitem__):
            rows = self.buffers[table]
            if rows:
                self._write(table, rows)
                self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)
                rows.clear()

    def _write(self, table: Table, rows: list[tuple]) -> None:
        columns = self.columns[table]
        if not self.postgres:
            self.connection.execute(insert(table), [dict(zip(columns, row, strict=True))
                                                    for row in rows])
            return
        json_at = self.json_columns[table]
        names = ", ".join(f'"{name}"' for name in columns)
        raw = self.connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(
                f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                if json_at:
                    row = list(row)
                    for n in json_at:
                        row[n] = json.dumps(row[n])
                copy.write_row(row)


# --- the plan -------------------------------------------------------------------------------


@dataclass
class Slot:
    """A session in a therapist's diary, before it is given to a client."""

    starts_at: datetime
    minutes: int
    ahead: bool  # starts after now


@dataclass
class Person:
    """A generated client while their rows are made."""

    user_id: int
    name: str
    weight: float
    keeps_up: float
    has_programme: bool
    visits: list[tuple[int, Slot]] = field(default_factory=list)  # (appointment id, slot)


@dataclass
class _Context:
    """What every step needs."""

    session: Session
    writer: BulkWriter
    now: datetime
    zone: ZoneInfo
    services: dict[int, Service]  # by minutes (the 60 minute one is the follow-up)
    consult: Service
    exercises: list[Exercise]
    client_hash: str
    report: Report
    tables: dict[str, Table] = field(default_factory=dict)
    _moments: dict[tuple[date, Moment], datetime] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def moment_at(self, day: date, moment: Moment) -> datetime:
        """The UTC instant of a moment's usual local time on a day (remembered: millions of
        logs share a few hundred days)."""
        key = (day, moment)
        found = self._moments.get(key)
        if found is None:
            found = self._moments[key] = slots.resolve(day, LOG_TIMES[moment], self.zone)
        return found


BLOCK = timedelta(hours=4)
GRID = timedelta(minutes=15)


def _block_times(zone: ZoneInfo, day: date, start: time, minutes: Sequence[int], buffer: int,
                 busy: Sequence[tuple[datetime, datetime]]) -> Iterator[tuple[datetime, int]]:
    """The sessions of one block, back to back from its start; a session that would overlap
    one already in the diary (the demo's) starts after it instead, on the 15 minute grid,
    and what no longer fits before the block ends is left out."""
    at = slots.resolve(day, start, zone)
    block_end = at + BLOCK
    for length in minutes:
        blocked = at + timedelta(minutes=length + buffer)
        clash = next((e for s, e in busy if s < blocked and at < e), None)
        while clash is not None:
            at = block_end - ((block_end - clash) // GRID) * GRID  # clash's end, on the grid
            blocked = at + timedelta(minutes=length + buffer)
            clash = next((e for s, e in busy if s < blocked and at < e), None)
        if blocked > block_end:
            return
        yield at, length
        at = blocked


def diary_slots(rng: random.Random, ctx: _Context, busy: Sequence[tuple[datetime, datetime]],
                buffer: int) -> list[Slot]:
    """A full working diary from two years ago to the booking horizon: every block booked
    back to back in the past; ahead, fewer the further away (nearly all next week, about a
    fifth at the horizon). Sessions already in the diary (the demo's) stay, and the
    generated ones fill the time around them."""
    patterns = [p for p, _ in BLOCKS]
    weights = [w for _, w in BLOCKS]
    by_day: dict[date, list[tuple[datetime, datetime]]] = {}
    for s, e in busy:
        by_day.setdefault(s.astimezone(ctx.zone).date(), []).append((s, e))
    found: list[Slot] = []
    first = ctx.today - timedelta(days=HISTORY_DAYS)
    for offset in range(HISTORY_DAYS + AHEAD_DAYS + 1):
        day = first + timedelta(days=offset)
        ahead_days = (day - ctx.today).days
        fill = 1.0 if ahead_days <= 0 else max(0.2, 0.95 - 0.75 * ahead_days / AHEAD_DAYS)
        for start in BLOCK_STARTS.get(day.weekday(), ()):
            pattern = rng.choices(patterns, weights)[0]
            for at, minutes in _block_times(ctx.zone, day, start, pattern, buffer,
                                            by_day.get(day, ())):
                if at > ctx.now and rng.random() > fill:
                    continue
                found.append(Slot(at, minutes, at > ctx.now))
    return found


def _assign(rng: random.Random, people: list[Person], diary: list[Slot],
            ids: Callable[[], int]) -> None:
    """Give each slot, in time order, to the client furthest behind their share (stride
    scheduling: a client of weight w comes every 1/w turns), so each client's visits are
    spread evenly over the two years; ahead, no client gets more than MOST_AHEAD."""
    heap = [(rng.random() / p.weight, n) for n, p in enumerate(people)]
    heapq.heapify(heap)
    ahead = [0] * len(people)
    for slot in diary:
        skipped = []
        while heap:
            turn, n = heapq.heappop(heap)
            if slot.ahead and ahead[n] >= MOST_AHEAD:
                skipped.append((turn, n))
                continue
            people[n].visits.append((ids(), slot))
            ahead[n] += slot.ahead
            heapq.heappush(heap, (turn + 1 / people[n].weight, n))
            break
        for entry in skipped:
            heapq.heappush(heap, entry)


# --- seeding --------------------------------------------------------------------------------


def is_scaled(session: Session) -> bool:
    """True when a generated practice is already in the database."""
    return session.scalar(select(func.count()).select_from(User)
                          .where(User.email.like(f"%@{DOMAIN}"))) > 0


def generated_clients(session: Session) -> int:
    """How many generated clients the database holds."""
    return session.scalar(select(func.count()).select_from(User).where(
        User.email.like(f"%@{DOMAIN}"), User.role == Role.CLIENT))


def seed(session: Session, passwords: Passwords, *, box: SecretBox, clients: int,
         now: datetime, timezone: str,
         progress: Callable[[str], None] = lambda line: None) -> Report:
    """Add `clients` generated clients (and the colleagues who carry their history) to the
    demo practice, seeding the demo first when the database is empty. Flushes; the caller
    commits."""
    started = clock.monotonic()
    if clients < 1:
        raise InvalidInput("clients", "Give a number of clients of at least 1.")
    if session.scalar(select(func.count()).select_from(User)) == 0:
        progress("The database is empty: seeding the demo practice first.")
        demo.seed(session, passwords, box=box, now=now, timezone=timezone)
        session.flush()
    therapist = accounts.find_by_email(session, demo.THERAPIST[1])
    if therapist is None:
        raise InvalidInput("clients", "seed-scale builds on the demo practice: use an empty "
                                      "database, or one made by `flask seed-demo`.")
    if is_scaled(session):
        raise InvalidInput("clients", "This database already holds a generated practice. "
                                      "Start from an empty database to build another size.")
    practice = practice_service.current(session)
    zone = practice_service.zone_of(practice)
    services = list(session.scalars(select(Service).where(Service.active)
                                    .order_by(Service.sort_order, Service.id)))
    by_minutes = {}
    for service in reversed(services):  # the first of each length wins
        by_minutes[service.duration_minutes] = service
    consult = next((s for s in services if s.name.startswith("Initial")), by_minutes[60])
    if any(m not in by_minutes for m in (30, 60, 90)):
        raise InvalidInput("clients", "The demo's 30, 60 and 90 minute services are needed.")
    exercises = list(session.scalars(
        select(Exercise).where(Exercise.published).order_by(Exercise.id)
        .options(selectinload(Exercise.levels))))
    ctx = _Context(session=session, writer=BulkWriter(session), now=now, zone=zone,
                   services=by_minutes, consult=consult, exercises=exercises,
                   client_hash=passwords.hash(CLIENT_PASSWORD), report=Report())
    _declare(ctx)
    ctx.writer.defer_checks(DEFERRED_TABLES)
    # The practice and its therapist have been there as long as the history.
    opened = slots.resolve(ctx.today - timedelta(days=HISTORY_DAYS + 14), time(9), zone)
    practice.created_at = min(practice.created_at, opened)
    therapist.created_at = min(therapist.created_at, opened)

    colleague_hash = passwords.hash(secrets.token_urlsafe(24))
    demo_busy = [(a.starts_at, a.blocked_until) for a in session.scalars(
        select(Appointment).where(Appointment.therapist_id == therapist.id,
                                  Appointment.status != AppointmentStatus.CANCELLED))]
    buffer = by_minutes[60].buffer_minutes
    remaining = clients
    number = 0
    last_report = clock.monotonic()
    while remaining > 0:
        rng = random.Random(f"portal-scale-{number}")  # noqa: S311 - test data, not secrets
        if number == 0:
            therapist_id, busy = therapist.id, demo_busy
        else:
            therapist_id, busy = _colleague(ctx, rng, number, colleague_hash, opened), []
        diary = diary_slots(rng, ctx, busy, buffer)
        share = max(1, round(len(diary) / SESSIONS_PER_CLIENT))
        count = min(share, remaining)
        if count < share:
            # The last diary needs only enough sessions for its few clients.
            keep = count * SESSIONS_PER_CLIENT / len(diary)
            diary = [s for s in diary if rng.random() < keep]
        people = [_person(ctx, rng) for _ in range(count)]
        _assign(rng, people, diary, lambda: ctx.writer.new_id(ctx.tables["appointment"]))
        for person in people:
            _client_rows(ctx, rng, therapist_id, person)
        remaining -= count
        number += 1
        if clock.monotonic() - last_report > 5 or remaining == 0:
            last_report = clock.monotonic()
            r = ctx.report
            progress(f"  {clients - remaining:,} of {clients:,} clients, {number} therapists: "
                     f"{r.appointments:,} sessions, {r.logs:,} logs "
                     f"({clock.monotonic() - started:.0f} s)")
    ctx.writer.flush()
    progress(f"  Indexes and constraints ({clock.monotonic() - started:.0f} s)")
    ctx.writer.restore_checks()
    session.flush()
    # The logs and versions went in as plain rows, past the services that keep the stored
    # adherence summary current: summarise them all once.
    progress(f"  Adherence summary ({clock.monotonic() - started:.0f} s)")
    adherence_summary.rebuild(session, practice_service.zone(session), now)
    report = ctx.report
    report.therapists = number
    report.rows = dict(ctx.writer.counts)
    report.seconds = clock.monotonic() - started
    return report


def _declare(ctx: _Context) -> None:
    w = ctx.writer
    ctx.tables = {
        "user": w.declare(User, (
            "id", "email", "name", "phone", "role", "password_hash", "active",
            "session_version", "last_login_at", "password_changed_at", "invited_by_id",
            "invited_at", "created_at")),
        "working_hours": w.declare(WorkingHours, (
            "id", "therapist_id", "weekday", "start_time", "end_time")),
        "appointment": w.declare(Appointment, (
            "id", "client_id", "therapist_id", "service_id", "starts_at", "ends_at",
            "blocked_until", "status", "price_pence", "client_note", "overlap_override",
            "booked_by_id", "cancelled_at", "cancelled_by_id", "cancel_reason",
            "late_cancellation", "sequence", "created_at", "updated_at")),
        "intake_form": w.declare(IntakeForm, (
            "id", "client_id", "submitted_at", "answers", "red_flags", "consent_version",
            "consent_given_at")),
        "session_note": w.declare(SessionNote, (
            "id", "appointment_id", "author_id", "body", "created_at")),
        "programme": w.declare(Programme, ("id", "client_id", "created_at")),
        "programme_version": w.declare(ProgrammeVersion, (
            "id", "programme_id", "number", "created_at", "created_by_id", "appointment_id",
            "changes", "note")),
        "programme_item": w.declare(ProgrammeItem, (
            "id", "version_id", "exercise_id", "position", "hold_seconds", "reps", "sets",
            "sides", "times_per_day", "days_per_week", "moments", "level", "personal_note")),
        "completion_log": w.declare(CompletionLog, (
            "id", "client_id", "programme_id", "version_id", "item_id", "exercise_id",
            "local_date", "moment", "logged_at", "feedback", "feedback_left", "feedback_right",
            "pain", "pain_acknowledged_at", "note", "client_key")),
        "audit_event": w.declare(AuditEvent, (
            "id", "at", "actor_id", "subject_user_id", "action", "ip", "details")),
    }


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def _colleague(ctx: _Context, rng: random.Random, number: int, password_hash: str,
               opened: datetime) -> int:
    """A generated therapist with the demo's working hours; returns their id."""
    users, hours = ctx.tables["user"], ctx.tables["working_hours"]
    first, last = _name(rng)
    user_id = ctx.writer.new_id(users)
    ctx.writer.add(users, (
        user_id, f"{first}.{last}.t{number}@{DOMAIN}".lower(), f"{first} {last}", None,
        Role.THERAPIST.value, password_hash, True, 1, None, opened, None, None, opened))
    for weekday, ranges in demo.HOURS.items():
        for start, end in ranges:
            ctx.writer.add(hours, (ctx.writer.new_id(hours), user_id, weekday, start, end))
    return user_id


def _person(ctx: _Context, rng: random.Random) -> Person:
    first, last = _name(rng)
    roll = rng.random()
    keeps_up = next(share for share, _ in KEEPING_UP)
    for share, part in KEEPING_UP:
        if roll < part:
            keeps_up = share
            break
        roll -= part
    return Person(user_id=ctx.writer.new_id(ctx.tables["user"]), name=f"{first} {last}",
                  weight=rng.choice((0.6, 0.8, 1.0, 1.2, 1.4)),
                  keeps_up=min(0.95, max(0.02, keeps_up + rng.uniform(-0.05, 0.05))),
                  has_programme=rng.random() >= NO_PROGRAMME_SHARE)


def _client_rows(ctx: _Context, rng: random.Random, therapist_id: int, person: Person) -> None:
    """The client's account, questionnaire, sessions, notes, programme and logs."""
    w, t, now = ctx.writer, ctx.tables, ctx.now
    visits = person.visits
    if not visits:
        return
    first_visit = visits[0][1].starts_at
    joined = first_visit - timedelta(days=rng.randint(2, 9), hours=rng.randint(0, 10))
    first, last = person.name.split(" ", 1)
    w.add(t["user"], (
        person.user_id, f"{first}.{last}.{person.user_id}@{DOMAIN}".lower(), person.name,
        f"07700 9{rng.randint(0, 99999):05d}", Role.CLIENT.value, ctx.client_hash, True, 1,
        now - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 600)),
        joined, therapist_id, joined - timedelta(days=1), joined - timedelta(days=1)))
    ctx.report.clients += 1
    _intake(ctx, rng, person, joined)

    attended: list[tuple[int, Slot]] = []
    for n, (appointment_id, slot) in enumerate(visits):
        service = ctx.consult if n == 0 and slot.minutes == 60 else ctx.services[slot.minutes]
        attended_now = _appointment(ctx, rng, therapist_id, person, appointment_id, slot,
                                    service, joined)
        if attended_now:
            attended.append((appointment_id, slot))
    if person.has_programme and attended:
        _programme(ctx, rng, therapist_id, person, attended)


def _intake(ctx: _Context, rng: random.Random, person: Person, joined: datetime) -> None:
    w, t = ctx.writer, ctx.tables
    at = joined + timedelta(minutes=12)
    flagged = ["recent_injury"] if rng.random() < 0.05 else []
    answers = dict.fromkeys(intake.TEXT_FIELDS, "")
    answers.update(phone=f"07700 9{rng.randint(0, 99999):05d}",
                   emergency_contact="A family member, 07700 900000",
                   complaints=rng.choice(COMPLAINTS), conditions="None.", medication="None.",
                   activity=rng.choice(ACTIVITIES),
                   red_flag_details="Sprained ankle two months ago, now fine." if flagged else "")
    w.add(t["intake_form"], (w.new_id(t["intake_form"]), person.user_id, at, answers, flagged,
                             intake.CONSENT_VERSION, at))
    w.add(t["audit_event"], (w.new_id(t["audit_event"]), at, person.user_id, person.user_id,
                             "intake.submitted", None,
                             {"version": intake.CONSENT_VERSION, "red_flags": len(flagged)}))


def _appointment(ctx: _Context, rng: random.Random, therapist_id: int, person: Person,
                 appointment_id: int, slot: Slot, service: Service, joined: datetime) -> bool:
    """One session and what became of it; True when it was attended."""
    w, t, now = ctx.writer, ctx.tables, ctx.now
    starts_at = slot.starts_at
    ends_at = starts_at + timedelta(minutes=service.duration_minutes)
    booked_at = max(joined + timedelta(hours=1),
                    starts_at - timedelta(days=rng.randint(2, 30), hours=rng.randint(0, 12)))
    booked_at = min(booked_at, now - timedelta(minutes=30))
    by_therapist = rng.random() < 0.2
    status, updated = AppointmentStatus.BOOKED, booked_at
    cancelled_at = cancelled_by = None
    reason, late = "", False
    roll = rng.random()
    if ends_at <= now:
        if roll < 0.06:
            status = AppointmentStatus.CANCELLED
        elif roll < 0.09:
            status, updated = AppointmentStatus.NO_SHOW, starts_at + timedelta(minutes=20)
        else:
            status, updated = AppointmentStatus.ATTENDED, ends_at + timedelta(minutes=5)
    elif starts_at > now and roll < 0.025:
        status = AppointmentStatus.CANCELLED
    if status is AppointmentStatus.CANCELLED:
        cancelled_at = max(booked_at + timedelta(minutes=5),
                           starts_at - timedelta(hours=rng.choice((3, 20, 30, 50, 80, 120))))
        cancelled_at = min(cancelled_at, now - timedelta(minutes=1))
        late = cancelled_at >= starts_at - timedelta(hours=demo.CANCEL_WINDOW_HOURS)
        cancelled_by = therapist_id if late or rng.random() < 0.2 else person.user_id
        reason = "Work came up, sorry. I'll book again soon."
        updated = cancelled_at
    w.add(t["appointment"], (
        appointment_id, person.user_id, therapist_id, service.id, starts_at, ends_at,
        ends_at + timedelta(minutes=service.buffer_minutes), status.value, service.price_pence,
        "", False, therapist_id if by_therapist else person.user_id, cancelled_at,
        cancelled_by, reason, late, 1 if cancelled_at else 0, booked_at, updated))
    ctx.report.appointments += 1
    if status is AppointmentStatus.ATTENDED and rng.random() < NOTE_CHANCE:
        w.add(t["session_note"], (w.new_id(t["session_note"]), appointment_id, therapist_id,
                                  rng.choice(SESSION_NOTES), ends_at + timedelta(minutes=10)))
        ctx.report.notes += 1
    return status is AppointmentStatus.ATTENDED


# --- programmes and logs ---------------------------------------------------------------------


def _first_items(ctx: _Context, rng: random.Random) -> list[_Clean]:
    chosen = rng.sample(ctx.exercises, rng.randint(4, min(6, len(ctx.exercises))))
    items = []
    for exercise in chosen:
        moments = rng.sample(list(LOG_TIMES), rng.choice((1, 1, 1, 2)))
        days = rng.choice((7, 7, 7, 5, 3))
        if days == 3:
            moments = [Moment.AFTER_TRAINING]
        items.append(_Clean(
            exercise_id=exercise.id, hold_seconds=exercise.hold_seconds, reps=exercise.reps,
            sets=exercise.sets, sides=Sides(exercise.sides),
            times_per_day=2 if len(moments) == 2 else 1, days_per_week=days,
            moments=tuple(m.value for m in LOG_TIMES if m in moments), level=1,
            personal_note=""))
    return items


def _next_items(ctx: _Context, rng: random.Random, items: list[_Clean]) -> list[_Clean]:
    """The next version: one exercise moves up a level or holds longer, and sometimes one is
    swapped for another from the library."""
    rungs = {e.id: max(1, len(e.levels)) for e in ctx.exercises}
    changed = list(items)
    n = rng.randrange(len(changed))
    item = changed[n]
    if item.level < rungs[item.exercise_id]:
        changed[n] = _replace(item, level=item.level + 1)
    elif item.hold_seconds:
        changed[n] = _replace(item, hold_seconds=min(60, item.hold_seconds + 10))
    else:
        changed[n] = _replace(item, reps=min(20, item.reps + 2))
    unused = [e for e in ctx.exercises if e.id not in {i.exercise_id for i in changed}]
    if unused and rng.random() < 0.4:
        out = rng.randrange(len(changed))
        new = rng.choice(unused)
        changed[out] = _replace(changed[out], exercise_id=new.id, hold_seconds=new.hold_seconds,
                                reps=new.reps, sets=new.sets, sides=Sides(new.sides), level=1,
                                personal_note="")
    return changed


def _replace(item: _Clean, **changes) -> _Clean:
    return _Clean(**{**item.__dict__, **changes})


def _programme(ctx: _Context, rng: random.Random, therapist_id: int, person: Person,
               attended: list[tuple[int, Slot]]) -> None:
    """A programme set at a session 55 to 190 days ago, a new version every few sessions,
    and the logs of each version while it was current."""
    w, t, now = ctx.writer, ctx.tables, ctx.now
    since = now - timedelta(days=rng.randint(*PROGRAMME_STARTED))
    sessions = [v for v in attended if v[1].starts_at >= since]
    if not sessions:
        sessions = attended[-1:]
    saves = [sessions[0]]
    step = rng.randint(3, 6)
    saves += sessions[step::step][:3]
    exercises = {e.id: e for e in ctx.exercises}
    names = {e.id: e.name for e in ctx.exercises}
    programme_id = w.new_id(t["programme"])
    items = _first_items(ctx, rng)
    previous: list[_Clean] = []
    previous_note: str | None = None
    versions: list[tuple[int, datetime, list[tuple[int, _Clean]]]] = []
    for number, (appointment_id, slot) in enumerate(saves, start=1):
        saved_at = slot.starts_at + timedelta(minutes=slot.minutes + 20)
        if saved_at >= now:
            break
        if number > 1:
            items = _next_items(ctx, rng, items)
        note = "Little and often: a couple of minutes at each moment." if number == 1 else ""
        changes = _changes(previous, previous_note, items, note, names, exercises)
        if number == 1:
            w.add(t["programme"], (programme_id, person.user_id, saved_at))
        version_id = w.new_id(t["programme_version"])
        w.add(t["programme_version"], (version_id, programme_id, number, saved_at,
                                       therapist_id, appointment_id, changes, note))
        rows = []
        for position, item in enumerate(items):
            item_id = w.new_id(t["programme_item"])
            columns = item.columns()
            w.add(t["programme_item"], (
                item_id, version_id, item.exercise_id, position, columns["hold_seconds"],
                columns["reps"], columns["sets"], item.sides.value, item.times_per_day,
                item.days_per_week, columns["moments"], item.level, item.personal_note))
            rows.append((item_id, item))
        w.add(t["audit_event"], (w.new_id(t["audit_event"]), saved_at, therapist_id,
                                 person.user_id, "programme.saved", None,
                                 {"programme": programme_id, "version": number,
                                  "appointment": appointment_id}))
        versions.append((version_id, saved_at, rows))
        ctx.report.versions += 1
        previous, previous_note = items, note
    training = sorted(rng.sample(range(7), rng.randint(2, 4)))
    active_days = training + [d for d in rng.sample(range(7), 7) if d not in training]
    for n, (version_id, saved_at, rows) in enumerate(versions):
        until = versions[n + 1][1] if n + 1 < len(versions) else now
        _logs(ctx, rng, person, programme_id, version_id, rows, saved_at, until, training,
              active_days)


def _logs(ctx: _Context, rng: random.Random, person: Person, programme_id: int,
          version_id: int, rows: list[tuple[int, _Clean]], since: datetime, until: datetime,
          training: list[int], active_days: list[int]) -> None:
    """The client's logs of one version's items from the day after it was saved until it was
    replaced (or now): each prescribed session logged with the client's likelihood."""
    now, zone = ctx.now, ctx.zone
    table = ctx.tables["completion_log"]
    day = since.astimezone(zone).date() + timedelta(days=1)
    last = until.astimezone(zone).date()
    keeps_up = person.keeps_up
    random_ = rng.random
    while day <= last:
        weekday = day.weekday()
        for item_id, item in rows:
            if item.days_per_week == 3 and weekday not in training:
                continue
            if weekday not in active_days[:item.days_per_week]:
                continue
            for moment_value in _moments_of(item):
                if random_() >= keeps_up:
                    continue
                moment = Moment(moment_value)
                logged_at = ctx.moment_at(day, moment) + timedelta(minutes=int(random_() * 41))
                if logged_at >= until or logged_at > now:
                    continue
                _log(ctx, rng, table, person, programme_id, version_id, item_id, item, day,
                     moment, logged_at)
        day += timedelta(days=1)


def _moments_of(item: _Clean) -> tuple[str, ...]:
    if item.times_per_day == len(item.moments):
        return item.moments
    return item.moments[:1] * item.times_per_day


def _log(ctx: _Context, rng: random.Random, table: Table, person: Person, programme_id: int,
         version_id: int, item_id: int, item: _Clean, day: date, moment: Moment,
         logged_at: datetime) -> None:
    pain = rng.random() < PAIN_CHANCE
    tight = rng.random() < 0.25
    felt = Feedback.MILD_TENSION.value if tight else Feedback.NOTHING.value
    note = ""
    acknowledged = None
    if pain:
        note = rng.choice(PAIN_NOTES)
        # Most are seen within days; the last few days' are mostly still open.
        seen = 0.92 if logged_at < ctx.now - timedelta(days=3) else 0.3
        if rng.random() < seen:
            acknowledged = min(ctx.now, logged_at + timedelta(hours=rng.randint(2, 48)))
        ctx.report.pain_reports += 1
    elif tight and rng.random() < 0.1:
        note = rng.choice(LOG_NOTES)
    if item.sides is Sides.EACH_SIDE:
        both = None
        left = Feedback.PAIN.value if pain else felt
        right = Feedback.MILD_TENSION.value if pain else Feedback.NOTHING.value
    else:
        both = Feedback.PAIN.value if pain else felt
        left = right = None
    w = ctx.writer
    log_id = w.new_id(table)
    w.add(table, (log_id, person.user_id, programme_id, version_id, item_id, item.exercise_id,
                  day, moment.value, logged_at, both, left, right, pain, acknowledged, note,
                  f"scale-{log_id:08d}"))
    ctx.report.logs += 1


def settle(session: Session) -> None:
    """After the commit, on PostgreSQL: VACUUM ANALYZE the tables, as autovacuum would have
    done on a database that grew to this size, so the planner has statistics and index-only
    scans work from the first request."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    with bind.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in User.metadata.sorted_tables:
            connection.execute(text(f'VACUUM (ANALYZE) "{table.name}"'))


def summary(report: Report) -> list[str]:
    """Lines for the command to print."""
    return [
        f"Added {report.clients:,} clients and {report.therapists - 1:,} colleagues of the demo "
        f"therapist in {report.seconds:.0f} s:",
        f"  {report.appointments:,} sessions, {report.notes:,} session notes, "
        f"{report.versions:,} programme versions,",
        f"  {report.logs:,} exercise logs with {report.pain_reports:,} pain reports.",
        f"Generated clients sign in with their email (see the client list) and the password "
        f"{CLIENT_PASSWORD}.",
    ]


