"""The lists' queries and their indexes: the client search finds the same clients whether
PostgreSQL answers from its trigram index or by scanning (and SQLite by scanning), and, on
PostgreSQL with a practice large enough for the planner to care, each list reads the index
made for it (open pain reports, name order, search, current versions, availability)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, insert, select, text

from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    CompletionLog,
    Feedback,
    Programme,
    ProgrammeItem,
    ProgrammeVersion,
    Role,
    Service,
    User,
)
from portal.services import adherence, booking
from portal.services import clients as svc
from tests.clients_support import NOW, give_programme, set_up_practice

postgres_only = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

NAMES = [("Åsa Lindqvist", "asa@example.com"), ("ÅSA BERG", "berg@example.com"),
         ("Zoë Smith", "zoe.smith@example.com"), ("John Smithers", "js@example.net"),
         ("100%_Sure \\ Guy", "sure_guy@example.com"), ("Ana Ng", "ana+1@example.org"),
         ("Hanah Ó Briain", "hanah@obriain.ie"), ("Müller Ünal", "mu@example.de"),
         ("ΟΔΟΣ Papadopoulos", "odos@example.gr"), ("Dev Patel", "dev.patel@example.com")]
SEARCHES = ["smith", "SMITH", "Smi", "sm", "s", "åsa", "Åsa", "ÅSA", "zoë", "ZOË", "%", "_",
            "\\", "100%_", "e_s", "example.com", "@example", "ana", "an", "ó brí", "ÜNAL",
            "müller", "ΟΔΟΣ", "οδος", "nobody at all", "patel@", "dev.p"]


def expected(search: str, backend: str) -> list[str]:
    """What the search means, as each database does it: the name contains the text as typed,
    or lower-cased (by Python, as the service lowers it) within the name as the database
    lowers it (character by character: PostgreSQL every letter, SQLite ASCII only); or the
    (lower-case) email contains the lower-cased text. SQLite's LIKE also ignores the case of
    ASCII letters."""
    def database_lower(value: str) -> str:
        return "".join(ch.lower() if backend == "postgresql" or ch.isascii() else ch
                       for ch in value)

    def like(part: str, value: str) -> bool:
        if backend == "sqlite":
            part, value = database_lower(part), database_lower(value)
        return part in value

    return sorted(name for name, email in NAMES
                  if like(search.lower(), database_lower(name)) or like(search, name)
                  or like(search.lower(), email))


@pytest.fixture
def people(session):
    for name, email in NAMES:
        session.add(User(name=name, email=email, role=Role.CLIENT))
    session.add(User(name="Sam Smith", email="sam.smith@example.com", role=Role.THERAPIST))
    session.commit()


def found(session, therapist, search: str) -> list[str]:
    page = svc.list_clients(session, therapist, svc.clean_query(search, [], "1"), NOW,
                            per_page=50)
    assert page.total == len(page.rows)
    return sorted(row.client.name for row in page.rows)


def test_the_search_finds_the_same_clients_from_an_index_or_a_scan(session, people,
                                                                   make_therapist, database):
    therapist = session.get(User, make_therapist(name="Jo Fletcher").id)
    for search in SEARCHES:
        assert found(session, therapist, search) == expected(search, database.backend), search
    if database.backend != "postgresql":
        return
    # Again with scans of the table ruled out, so the indexes answer (a 1 or 2 character
    # search extracts no trigram and reads the whole trigram index, still correctly).
    session.execute(text("SET LOCAL enable_seqscan = off"))
    for search in SEARCHES:
        assert found(session, therapist, search) == expected(search, "postgresql"), search


# --- PostgreSQL's plans on a practice of some size ------------------------------------------


def plans_of(session, call) -> list[str]:
    """EXPLAIN of every SELECT `call` runs, each plan as one text."""
    captured = []

    def record(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    plans = []
    cursor = session.connection().connection.dbapi_connection.cursor()
    for statement, parameters in captured:
        if statement.lstrip().upper().startswith("SELECT"):
            cursor.execute("EXPLAIN " + statement, parameters)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans
    return plans


FIRST = ["Alex", "Sam", "Priya", "Tom", "Funmi", "Hannah", "Declan", "Ines", "Kwame", "Ruth",
         "Mei", "Oskar", "Olivia", "Yusuf", "Gareth", "Dev", "Eve", "Finn", "Gus", "Jun"]
LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
        "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
        "Hall", "Wood", "Jackson", "Clarke", "Okafor", "Nowak", "Lund", "Berg", "Haddad",
        "Khan", "Singh", "Murphy", "Kelly", "Byrne", "Ryan", "Walsh", "Chen", "Wang", "Rossi",
        "Garcia", "Lopez", "Silva", "Costa"]


@pytest.fixture
def practice_at_scale(session, make_therapist):
    """20,000 clients (a programme each for 100 of them, 10 logs each, a few with pain not
    yet seen) and 2,000 past appointments, analysed, so the planner weighs real numbers."""
    therapist = session.get(User, make_therapist(name="Jo Fletcher").id)
    practice = set_up_practice(session, therapist)
    session.execute(insert(User), [
        {"email": f"client{n}@example.com", "role": Role.CLIENT,
         "name": f"{FIRST[n % len(FIRST)]} {LAST[n * 7 % len(LAST)]}"}
        for n in range(20_000)] + [
        {"email": "q@example.com", "name": "Zed Quixotic", "role": Role.CLIENT}])
    ids = list(session.scalars(select(User.id).where(User.role == Role.CLIENT)
                               .order_by(User.id)))
    items = {client_id: give_programme(session, practice, session.get(User, client_id))
             for client_id in ids[:100]}
    versions = dict(session.execute(select(ProgrammeItem.id, ProgrammeItem.version_id)).all())
    programmes = dict(session.execute(select(ProgrammeVersion.id,
                                             ProgrammeVersion.programme_id)).all())
    exercise = session.scalar(select(ProgrammeItem.exercise_id).limit(1))
    session.execute(insert(CompletionLog), [
        {"client_id": client_id, "programme_id": programmes[versions[item]],
         "version_id": versions[item], "item_id": item, "exercise_id": exercise,
         "local_date": date(2026, 3, 4) - timedelta(days=d), "feedback": Feedback.NOTHING,
         "pain": d == 0, "pain_acknowledged_at": None if client_id % 20 == 0 else NOW,
         "note": "", "client_key": uuid.uuid4().hex, "logged_at": NOW}
        for client_id, item in items.items() for d in range(10)])
    service = session.get(Service, practice.service_id)
    start = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
    session.execute(insert(Appointment), [
        {"client_id": ids[n], "therapist_id": therapist.id, "service_id": service.id,
         "starts_at": start + timedelta(hours=12 * n),
         "ends_at": start + timedelta(hours=12 * n, minutes=60),
         "blocked_until": start + timedelta(hours=12 * n, minutes=75),
         "status": AppointmentStatus.ATTENDED, "price_pence": 5500,
         "booked_by_id": therapist.id}
        for n in range(2000)])
    session.flush()
    # As a vacuum would, which cannot run in the test's transaction: rows just written wait in
    # the GIN index's pending list, which makes the planner shy of it.
    session.execute(text("SELECT gin_clean_pending_list('ix_user_search_trigrams')"))
    for table in ("user", "completion_log", "appointment", "programme", "programme_version"):
        session.execute(text(f'ANALYZE "{table}"'))
    return therapist, practice


@postgres_only
def test_each_list_reads_the_index_made_for_it(session, practice_at_scale):
    therapist, practice = practice_at_scale
    jo = session.get(User, therapist.id)

    def plans(call) -> str:
        return "\n\n".join(plans_of(session, call))

    pain = plans(lambda: svc.list_clients(session, jo, svc.clean_query("", ["pain"], "1"),
                                          NOW))
    assert "ix_completion_log_open_pain" in pain, pain
    assert "ix_user_name_order" in plans(
        lambda: svc.list_clients(session, jo, svc.clean_query("", [], "1"), NOW))
    assert "ix_completion_log_open_pain" in plans(
        lambda: svc.count_by_filter(session, jo, ["pain"], NOW))
    search = plans(lambda: svc.list_clients(session, jo, svc.clean_query("quixot", [], "1"), NOW))
    assert "ix_user_search_trigrams" in search, search
    some = list(session.scalars(select(Programme.client_id).limit(5)))
    current = plans(lambda: adherence.current_programmes(session, some))
    assert "uq_programme_version_number" in current and "HashAggregate" not in current, current
    # Availability for a week in the middle of two years of history: both ends of the
    # period bound the index scan.
    week = datetime(2025, 3, 3, tzinfo=UTC)
    availability = plans(lambda: booking.load_availability(
        session, therapist.id, week, week + timedelta(days=7)))
    scan = next(line for line in availability.splitlines() if "Index Cond" in line
                and "starts_at" in line)
    assert "starts_at <" in scan and "starts_at >" in scan, availability
