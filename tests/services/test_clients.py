"""The client list, record and audit trail services: search and filters (odd input too),
pagination, adherence by week, the view audit row, permissions and fixed query counts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import Appointment, AppointmentStatus, AuditEvent, User
from portal.services import audit
from portal.services import client_record as records
from portal.services import clients as svc
from portal.services.errors import NotFound, PermissionDenied
from portal.services.intake import CONSENT_VERSION
from tests.clients_support import (
    NOW,
    STARTED,
    TODAY,
    add_note,
    book,
    counting_statements,
    give_programme,
    intake,
    log,
    set_up_practice,
)


@pytest.fixture
def world(session, make_therapist, make_client):
    """Jo the therapist; Alex (programme, good adherence, upcoming session), Bea (programme,
    one log with pain), Cai (no programme), and 100%_Zoë with wildcards and unicode."""
    ids = [make_therapist(name="Jo Fletcher").id,
           make_client(name="Alex Morgan", email="alex@example.com").id,
           make_client(name="Bea Lund", email="bea_l@example.com").id,
           make_client(name="Cai Rhys", email="cai@example.com").id,
           make_client(name="100%_Zoë \\ Åsa", email="zoe@example.com").id]
    jo, alex, bea, cai, zoe = (session.get(User, i) for i in ids)
    practice = set_up_practice(session, jo)
    alex_item = give_programme(session, practice, alex)
    bea_item = give_programme(session, practice, bea)
    for day in (TODAY - timedelta(days=n) for n in (7, 6, 2, 1, 0)):  # 25, 26 Feb; 2-4 Mar
        log(session, alex, alex_item, day)
    log(session, bea, bea_item, TODAY, pain=True, note="Sharp in the lower back")
    book(session, practice, alex, NOW + timedelta(days=2))
    book(session, practice, cai, NOW - timedelta(days=3), status=AppointmentStatus.ATTENDED)
    session.commit()
    return {"jo": jo, "alex": alex, "bea": bea, "cai": cai, "zoe": zoe, "practice": practice}


def names(page: svc.ClientPage) -> list[str]:
    return [row.client.name for row in page.rows]


def run(session, jo, search="", filters=(), page="1", per_page=svc.PAGE_SIZE):
    query = svc.clean_query(search, filters, page)
    return svc.list_clients(session, jo, query, NOW, per_page=per_page)


def test_list_is_sorted_by_name_with_the_numbers_the_filters_use(session, world):
    result = run(session, world["jo"])
    assert names(result) == ["100%_Zoë \\ Åsa", "Alex Morgan", "Bea Lund", "Cai Rhys"]
    rows = {row.client.name: row for row in result.rows}
    # Alex: 25 Feb to 1 Mar is 5 due, 2 done; 2 to 4 March is 3 due, 3 done: 5 of 8.
    assert (rows["Alex Morgan"].prescribed, rows["Alex Morgan"].done) == (8, 5)
    assert rows["Alex Morgan"].percent == 62
    assert rows["Alex Morgan"].next_session == NOW + timedelta(days=2)
    assert rows["Bea Lund"].pain_flags == 1 and rows["Bea Lund"].low_adherence
    assert rows["Cai Rhys"].version_number is None and rows["Cai Rhys"].next_session is None


@pytest.mark.parametrize(("filters", "expected"), [
    (["upcoming"], ["Alex Morgan"]),
    (["pain"], ["Bea Lund"]),
    (["low_adherence"], ["Bea Lund"]),
    (["no_programme"], ["100%_Zoë \\ Åsa", "Cai Rhys"]),
    (["pain", "upcoming"], []),
    (["nonsense", "'; drop table user; --"], ["100%_Zoë \\ Åsa", "Alex Morgan", "Bea Lund",
                                              "Cai Rhys"]),
])
def test_filters(session, world, filters, expected):
    assert names(run(session, world["jo"], filters=filters)) == expected


@pytest.mark.parametrize(("search", "expected"), [
    ("alex", ["Alex Morgan"]),
    ("ALEX@EXAMPLE", ["Alex Morgan"]),
    ("  lund ", ["Bea Lund"]),
    ("%", ["100%_Zoë \\ Åsa"]),  # literal percent: only Zoë's name has one
    ("_", ["100%_Zoë \\ Åsa", "Bea Lund"]),  # literal underscore: Zoë and bea_l@
    ("\\", ["100%_Zoë \\ Åsa"]),
    ("Zoë", ["100%_Zoë \\ Åsa"]),
    ("Å", ["100%_Zoë \\ Åsa"]),
    ("x" * 5000, []),
    ("🙂'\"<script>", []),
    ("\x00\x1b", ["100%_Zoë \\ Åsa", "Alex Morgan", "Bea Lund", "Cai Rhys"]),
])
def test_search_takes_odd_input_literally(session, world, search, expected):
    assert names(run(session, world["jo"], search=search)) == expected


def test_search_is_capped():
    assert len(svc.clean_query("a" * 500, [], "1").search) == svc.SEARCH_MAX


@pytest.mark.parametrize(("raw", "page"), [
    (None, 1), ("", 1), ("0", 1), ("-3", 1), ("abc", 1), ("2", 2), ("9" * 5000, 1),
    ("١", 1), ("1.5", 1),
])
def test_page_numbers_are_validated(raw, page):
    assert svc.parse_page(raw) == page


def test_pagination_bounds(session, world):
    first = run(session, world["jo"], per_page=3)
    assert (first.page, first.pages, first.total) == (1, 2, 4) and len(first.rows) == 3
    second = run(session, world["jo"], page="2", per_page=3)
    assert names(second) == ["Cai Rhys"]
    beyond = run(session, world["jo"], page="99", per_page=3)
    assert beyond.page == 2 and names(beyond) == ["Cai Rhys"]
    empty = run(session, world["jo"], search="nobody")
    assert (empty.page, empty.pages, empty.total, empty.rows) == (1, 1, 0, [])


def test_only_therapists_may_list_or_read(session, world):
    with pytest.raises(PermissionDenied):
        run(session, world["alex"])
    with pytest.raises(PermissionDenied):
        records.get_client(session, world["alex"], world["bea"].id)
    with pytest.raises(NotFound):
        records.get_client(session, world["jo"], 999_999)
    with pytest.raises(NotFound):
        records.get_client(session, world["jo"], world["jo"].id)  # a therapist is not a client


def test_record_has_weekly_adherence_history_and_writes_an_audit_row(session, world):
    alex, jo = world["alex"], world["jo"]
    intake(session, alex, STARTED - timedelta(days=30), [], version="2025-01")
    intake(session, alex, STARTED - timedelta(days=2), ["night_pain"])
    record = records.client_record(session, jo, alex, NOW, ip="203.0.113.9")
    session.commit()
    assert len(record.weeks) == records.CHART_WEEKS
    assert [(w.start.isoformat(), w.done, w.prescribed, w.percent) for w in record.weeks[-2:]] \
        == [("2026-02-23", 2, 5, 40), ("2026-03-02", 3, 3, 100)]
    assert all(w.percent is None for w in record.weeks[:-2])
    assert [f.consent_version for f in record.intakes][0] == CONSENT_VERSION
    assert len(record.intakes) == 2 and record.current_intake.red_flags == ["night_pain"]
    assert record.current_version.number == 1
    assert len(record.appointments) == 1 and len(record.feedback) == 5
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "client.record_viewed")).one()
    assert (event.actor_id, event.subject_user_id, event.ip) == (jo.id, alex.id, "203.0.113.9")


def test_record_of_a_client_without_a_programme_has_an_empty_chart(session, world):
    record = records.client_record(session, world["jo"], world["cai"], NOW)
    assert len(record.weeks) == records.CHART_WEEKS and all(w.prescribed == 0 for w in record.weeks)
    assert record.current_version is None and record.current_intake is None


def test_audit_trail_newest_first_and_paginated(session, world):
    jo, alex = world["jo"], world["alex"]
    for n in range(5):
        audit.record(session, actor=jo, subject=alex, action=f"test.{n}",
                     now=NOW + timedelta(minutes=n), ip="192.0.2.1")
    audit.record(session, actor=None, subject=alex, action="test.system",
                 now=NOW + timedelta(hours=1))
    session.commit()
    first = records.audit_trail(session, jo, alex, 1, per_page=4)
    assert [r.event.action for r in first.rows][:2] == ["test.system", "test.4"]
    assert first.rows[0].actor_name is None and first.rows[1].actor_name == "Jo Fletcher"
    last = records.audit_trail(session, jo, alex, 999, per_page=4)
    assert last.page == last.pages and last.total == first.total
    with pytest.raises(PermissionDenied):
        records.audit_trail(session, alex, alex, 1)


def grow(session, world, clients: int, logs_each: int, appointments_each: int) -> None:
    """Add clients with programmes, logs and appointments (and more of them for Alex)."""
    from portal.models import Role

    practice, alex = world["practice"], world["alex"]
    base = session.scalar(select(User.id).order_by(User.id.desc()).limit(1))
    slot = NOW + timedelta(days=30 + base)
    for n in range(clients):
        user = User(email=f"grow{base}-{n}@example.com", name=f"Grown {base}-{n}",
                    role=Role.CLIENT)
        session.add(user)
        session.flush()
        item = give_programme(session, practice, user)
        for d in range(logs_each):
            log(session, user, item, TODAY - timedelta(days=d % 10))
        for _ in range(appointments_each):
            book(session, practice, user, slot)
            slot += timedelta(hours=2)
    from portal.models import CompletionLog

    alex_item = session.scalar(select(CompletionLog.item_id)
                               .where(CompletionLog.client_id == alex.id).limit(1))
    for d in range(logs_each * clients):
        log(session, alex, alex_item, TODAY - timedelta(days=d % 7))
    for n in range(appointments_each * clients):
        appointment = book(session, practice, alex, slot)
        for k in range(2):
            add_note(session, practice.therapist_id, appointment, f"Note {n}.{k}",
                     NOW + timedelta(minutes=n * 2 + k))
        slot += timedelta(hours=2)
    session.commit()


def statements(session, call) -> int:
    session.expire_all()
    with counting_statements() as seen:
        call()
    session.rollback()
    return len(seen)


def test_query_counts_stay_fixed_at_n_and_10n(session, world):
    jo, alex = world["jo"], world["alex"]

    def counts():
        return (
            statements(session, lambda: run(session, jo, filters=["low_adherence"])),
            statements(session, lambda: run(session, jo, search="grown")),
            statements(session, lambda: records.client_record(session, jo, alex, NOW)),
            statements(session, lambda: records.audit_trail(session, jo, alex, 1)),
            statements(session, lambda: records.export_record(session, jo, alex, NOW)),
        )

    grow(session, world, clients=2, logs_each=2, appointments_each=1)
    small = counts()
    grow(session, world, clients=20, logs_each=2, appointments_each=1)
    large = counts()
    assert large == small
    # The export reads the conversations in two queries more (threads, then their messages).
    assert small[0] <= 10 and small[2] <= 15 and small[4] <= 16, small


def test_record_has_each_appointments_session_notes_oldest_first(session, world):
    jo, alex, cai = world["jo"], world["alex"], world["cai"]
    practice = world["practice"]
    first = book(session, practice, alex, NOW - timedelta(days=7),
                 status=AppointmentStatus.ATTENDED)
    second = book(session, practice, alex, NOW - timedelta(days=1, hours=11, minutes=30))
    add_note(session, jo.id, first, "Later note", NOW - timedelta(days=6))
    add_note(session, jo.id, first, "Earlier note", NOW - timedelta(days=7))
    other = session.scalars(select(Appointment).where(Appointment.client_id == cai.id)).one()
    add_note(session, jo.id, other, "About Cai, not Alex", NOW - timedelta(days=3))
    session.commit()
    record = records.client_record(session, jo, alex, NOW)
    assert [n.body for n in record.notes[first.id]] == ["Earlier note", "Later note"]
    assert second.id not in record.notes and other.id not in record.notes
    assert record.notes[first.id][0].author.name == "Jo Fletcher"
    # 00:30 UTC on 3 March is still 3 March in London: the diary link's day.
    assert record.days[second.id].isoformat() == "2026-03-03"


@pytest.fixture
def full_history(session, world):
    """Alex with every kind of data the practice holds, and secrets that must stay out."""
    from portal.models import MomentTime, ProgrammeShare
    from portal.services import programmes

    jo, alex, bea = world["jo"], world["alex"], world["bea"]
    practice = world["practice"]
    intake(session, alex, STARTED - timedelta(days=30), [], version="2025-01")
    intake(session, alex, STARTED - timedelta(days=2), ["night_pain"])
    visit = book(session, practice, alex, NOW - timedelta(days=1),
                 status=AppointmentStatus.ATTENDED, client_note="Left hip\nafter running")
    book(session, practice, alex, NOW + timedelta(days=9), status=AppointmentStatus.CANCELLED,
         late_cancellation=True, cancelled_at=NOW, cancel_reason="Ill")
    add_note(session, jo.id, visit, "Tight psoas.\nReview in 2 weeks.", NOW - timedelta(hours=20))
    bea_visit = book(session, practice, bea, NOW - timedelta(days=2))
    add_note(session, jo.id, bea_visit, "Bea's private note", NOW - timedelta(days=2))
    current = programmes.current_version(session, alex)
    programmes.save_version(session, jo, alex, [programmes.ItemInput.from_item(
        current.items[0], times_per_day=2, personal_note="Slowly")], "More often", NOW)
    session.add(MomentTime(client_id=alex.id, moment="morning",
                           local_time=datetime.strptime("07:30", "%H:%M").time()))
    session.add(ProgrammeShare(client_id=alex.id, token_hash="f" * 64, created_at=NOW))
    alex.password_hash = "$argon2id$secret-hash"
    alex.calendar_token = "calendar-secret-token"
    alex.phone = "07700 900123"
    audit.record(session, actor=alex, subject=alex, action="account.password_changed",
                 now=NOW - timedelta(days=3), ip="198.51.100.20")
    audit.record(session, actor=jo, subject=bea, action="client.record_viewed", now=NOW,
                 ip="192.0.2.99")
    session.commit()
    return world


def test_export_holds_the_whole_record(session, full_history):
    jo, alex = full_history["jo"], full_history["alex"]
    data = records.export_record(session, jo, alex, NOW, ip="203.0.113.5")
    session.commit()
    assert json.loads(json.dumps(data)) == data  # plain JSON values only
    assert (data["account"]["name"], data["account"]["email"], data["account"]["phone"],
            data["account"]["active"]) == ("Alex Morgan", "alex@example.com", "07700 900123",
                                           True)
    assert data["practice_timezone"] == "Europe/London"
    assert [q["consent_version"] for q in data["questionnaires"]] == ["2025-01", CONSENT_VERSION]
    assert data["questionnaires"][1]["answers"]["complaints"] == "Stiff back"
    assert data["questionnaires"][1]["red_flags"] == ["night_pain"]
    visits = data["appointments"]
    assert [a["status"] for a in visits] == ["attended", "booked", "cancelled"]
    visit = visits[0]
    assert visit["starts_at"] == "2026-03-03T12:00:00Z"
    assert visit["starts_at_local"] == "2026-03-03T12:00:00+00:00"
    assert visit["service"] == "60 minute massage"
    assert visit["client_note"] == "Left hip\nafter running"
    assert visit["session_notes"] == [{"written_at": "2026-03-03T16:00:00Z",
                                       "written_at_local": "2026-03-03T16:00:00+00:00",
                                       "author": "Jo Fletcher",
                                       "text": "Tight psoas.\nReview in 2 weeks."}]
    assert visits[2]["late_cancellation"] is True and visits[2]["cancel_reason"] == "Ill"
    versions = data["programme_versions"]
    assert [v["number"] for v in versions] == [1, 2]
    assert versions[1]["note"] == "More often" and versions[1]["changes"]
    item = versions[1]["items"][0]
    assert (item["exercise"], item["times_per_day"], item["days_per_week"],
            item["personal_note"]) == ("Cat–cow", 2, 7, "Slowly")
    assert len(data["completion_logs"]) == 5
    assert all(log["exercise"] == "Cat–cow" and log["pain"] is False
               for log in data["completion_logs"])
    assert data["completion_logs"][0]["date"] == "2026-02-25"
    assert data["moment_reminders"] == {"morning": "07:30"}
    assert data["share_links"] == [{"created_at": "2026-03-04T12:00:00Z", "revoked_at": None}]
    trail = data["audit_trail"]
    changed = next(e for e in trail if e["action"] == "account.password_changed")
    assert changed["actor"] == {"role": "client", "name": "Alex Morgan"}
    assert changed["ip"] == "198.51.100.20"
    exported = trail[-1]
    assert exported["action"] == "client.exported"
    assert exported["actor"] == {"role": "therapist", "name": "Jo Fletcher"}
    assert exported["ip"] is None  # the therapist's address is not the client's data
    row = session.scalars(select(AuditEvent).where(AuditEvent.action == "client.exported")).one()
    assert (row.actor_id, row.subject_user_id, row.ip, row.at) == (jo.id, alex.id,
                                                                    "203.0.113.5", NOW)


def test_export_leaves_out_secrets_and_other_clients(session, full_history):
    jo, alex = full_history["jo"], full_history["alex"]
    text = json.dumps(records.export_record(session, jo, alex, NOW))
    for secret in ["$argon2id$secret-hash", "calendar-secret-token", "f" * 64,
                   "Bea", "bea_l@example.com", "192.0.2.99", "client_key"]:
        assert secret not in text, secret


def test_only_therapists_and_the_client_themselves_may_export(session, full_history):
    with pytest.raises(PermissionDenied):
        records.export_record(session, full_history["bea"], full_history["alex"], NOW)
    assert not session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["client.exported", "account.data_exported"]))).all()
    own = records.export_record(session, full_history["alex"], full_history["alex"], NOW)
    assert own["account"]["email"] == "alex@example.com"
    assert own["audit_trail"][-1]["action"] == "account.data_exported"
