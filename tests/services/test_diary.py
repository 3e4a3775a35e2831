"""The diary services (services, hours, time off, rules, booking for a client), the
send-reminders command and the demo diary, without HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal import cli
from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    OutboxMessage,
    Practice,
    Role,
    Service,
    TimeOff,
    User,
    WorkingHours,
)
from portal.seed import demo
from portal.services import booking, intake
from portal.services import diary as diary_service
from portal.services.errors import InvalidInput, NotFound, PermissionDenied
from tests.booking_support import EMAIL_LINKS

LONDON = ZoneInfo("Europe/London")
# Monday 2 March 2026, 08:00 UTC (GMT, so local time is the same).
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WEDNESDAY_10 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def count(session, model, *where) -> int:
    """Rows of a model matching the conditions."""
    return session.scalar(select(func.count()).select_from(model).where(*where))


def users(session, diary_):
    """(client, therapist) attached to the session."""
    return session.get(User, diary_.client.id), session.get(User, diary_.therapist.id)


def book(session, diary_, start=WEDNESDAY_10, service="60 minute massage", now=NOW, **kw):
    """The diary's client books a session themselves."""
    client, therapist = users(session, diary_)
    return booking.book(session, client, client=client, therapist=therapist,
                        service_id=diary_.services[service], starts_at=start, now=now,
                        links=EMAIL_LINKS, **kw)


# --- services -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, pence", [
    ("45", 4500), ("45.5", 4550), ("45.50", 4550), ("£45.50", 4550), (" 0 ", 0),
    ("1,200", 120000),
])
def test_prices_in_pounds_become_pence(text, pence):
    assert diary_service.parse_price(text) == pence


@pytest.mark.parametrize("text, message", [
    ("", "Enter the price"), ("abc", "at most two decimal places"),
    ("12.345", "at most two decimal places"), ("-5", "can't be negative"),
    ("99999999", "too high"),
])
def test_bad_prices_are_refused(text, message):
    with pytest.raises(InvalidInput) as caught:
        diary_service.parse_price(text)
    assert caught.value.field == "price"
    assert message in caught.value.message


SERVICE = {"name": "Sports massage", "description": "Deep work.", "duration_minutes": 45,
           "price": "50", "buffer_minutes": 10, "active": True, "sort_order": 3}


def test_create_and_edit_a_service_with_audit(session, diary):
    _, therapist = users(session, diary)
    service = diary_save(session, therapist, None, **SERVICE)
    assert (service.name, service.duration_minutes, service.price_pence, service.buffer_minutes,
            service.sort_order) == ("Sports massage", 45, 5000, 10, 3)
    diary_save(session, therapist, service, **{**SERVICE, "price": "52.50", "active": False})
    assert service.price_pence == 5250 and not service.active
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["service.created", "service.updated"]
    assert service.id not in [s.id for s in booking.active_services(session)]


def diary_save(session, actor, service, **values):
    return diary_service.save_service(session, actor, service, now=NOW, **values)


@pytest.mark.parametrize("changes, field, message", [
    ({"name": "  "}, "name", "Enter a name"),
    ({"name": "x" * 121}, "name", "under 120"),
    ({"description": "x" * 2001}, "description", "under 2,000"),
    ({"duration_minutes": 4}, "duration_minutes", "between 5 and 480"),
    ({"duration_minutes": 481}, "duration_minutes", "between 5 and 480"),
    ({"duration_minutes": None}, "duration_minutes", "between 5 and 480"),
    ({"price": "free"}, "price", "in pounds"),
    ({"buffer_minutes": -1}, "buffer_minutes", "between 0 and 240"),
    ({"buffer_minutes": 241}, "buffer_minutes", "between 0 and 240"),
    ({"sort_order": 1000}, "sort_order", "between 0 and 999"),
])
def test_service_values_are_checked(session, diary, changes, field, message):
    _, therapist = users(session, diary)
    before = count(session, Service)
    with pytest.raises(InvalidInput) as caught:
        diary_save(session, therapist, None, **{**SERVICE, **changes})
    assert (caught.value.field, message in caught.value.message) == (field, True)
    assert count(session, Service) == before


def test_a_client_cannot_change_services(session, diary):
    client, _ = users(session, diary)
    with pytest.raises(PermissionDenied):
        diary_save(session, client, None, **SERVICE)


def test_deactivated_service_keeps_its_past_appointments(session, diary):
    appointment = book(session, diary)
    _, therapist = users(session, diary)
    service = session.get(Service, diary.services["60 minute massage"])
    diary_save(session, therapist, service, name=service.name, description="",
               duration_minutes=60, price="55", buffer_minutes=15, active=False, sort_order=1)
    session.expire_all()
    assert session.get(Appointment, appointment.id).service.name == "60 minute massage"
    assert "60 minute massage" not in [s.name for s in booking.active_services(session)]
    assert "60 minute massage" in [s.name for s in diary_service.all_services(session)]


# --- weekly hours -------------------------------------------------------------------------


def test_saving_hours_replaces_every_range(session, diary):
    _, therapist = users(session, diary)
    saved = diary_service.replace_hours(session, therapist, therapist, {
        0: [(time(8), time(12)), (None, None), (time(13), time(19, 30))],
        2: [(time(10), time(16))],
    }, now=NOW)
    assert saved == 3
    assert diary_service.weekly_hours(session, therapist) == {
        0: [(time(8), time(12)), (time(13), time(19, 30))], 1: [], 2: [(time(10), time(16))],
        3: [], 4: [], 5: [], 6: [],
    }
    assert count(session, AuditEvent, AuditEvent.action == "hours.replaced") == 1


@pytest.mark.parametrize("ranges, field, message", [
    ([(time(9), None)], "d1_0_end", "Enter an end time too"),
    ([(None, time(9))], "d1_0_start", "Enter a start time too"),
    ([(time(13), time(9))], "d1_0_end", "end must be after the start"),
    ([(time(9), time(9))], "d1_0_end", "end must be after the start"),
    ([(time(9), time(13)), (time(12), time(15))], "d1_1_start", "overlaps 09:00–13:00"),
    ([(time(14), time(18)), (time(9), time(14, 30))], "d1_0_start", "overlaps 09:00–14:30"),
])
def test_bad_hours_are_refused_and_nothing_changes(session, diary, ranges, field, message):
    _, therapist = users(session, diary)
    before = diary_service.weekly_hours(session, therapist)
    with pytest.raises(InvalidInput) as caught:
        diary_service.replace_hours(session, therapist, therapist, {1: ranges}, now=NOW)
    assert caught.value.field == field
    assert message in caught.value.message
    assert diary_service.weekly_hours(session, therapist) == before


def test_touching_ranges_are_allowed(session, diary):
    _, therapist = users(session, diary)
    diary_service.replace_hours(session, therapist, therapist,
                        {4: [(time(9), time(12)), (time(12), time(15))]}, now=NOW)
    assert count(session, WorkingHours, WorkingHours.therapist_id == therapist.id) == 2


def test_only_the_therapist_changes_their_hours(session, diary, make_therapist):
    other = make_therapist()
    client, therapist = users(session, diary)
    with pytest.raises(PermissionDenied):
        diary_service.replace_hours(session, client, client, {}, now=NOW)
    with pytest.raises(PermissionDenied):
        diary_service.replace_hours(session, session.get(User, other.id), therapist, {}, now=NOW)


def test_bookings_left_outside_new_hours_are_listed(session, diary, practice):
    appointment = book(session, diary)  # Wednesday 10:00
    _, therapist = users(session, diary)
    diary_service.replace_hours(session, therapist, therapist, {2: [(time(12), time(18))]},
                                now=NOW)
    outside = diary_service.booked_outside_hours(session, session.merge(practice), therapist,
                                                 now=NOW)
    assert [a.id for a in outside] == [appointment.id]


# --- time off -----------------------------------------------------------------------------


@pytest.mark.parametrize("first, last, start, end, expected", [
    # The clocks go forward at 01:00 UTC on 29 March 2026: that day has 23 hours.
    (date(2026, 3, 29), None, None, None,
     (datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 23, 0, tzinfo=UTC))),
    # ... and back at 01:00 UTC on 25 October 2026: that day has 25 hours.
    (date(2026, 10, 25), None, None, None,
     (datetime(2026, 10, 24, 23, 0, tzinfo=UTC), datetime(2026, 10, 26, 0, 0, tzinfo=UTC))),
    # A partial day in summer time.
    (date(2026, 6, 10), None, time(14), time(17, 30),
     (datetime(2026, 6, 10, 13, 0, tzinfo=UTC), datetime(2026, 6, 10, 16, 30, tzinfo=UTC))),
    # From an afternoon in winter to a morning in summer time, across the change.
    (date(2026, 3, 27), date(2026, 3, 30), time(14), time(12),
     (datetime(2026, 3, 27, 14, 0, tzinfo=UTC), datetime(2026, 3, 30, 11, 0, tzinfo=UTC))),
    # A start in the skipped hour begins when the clocks jump.
    (date(2026, 3, 29), None, time(1, 30), None,
     (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 29, 23, 0, tzinfo=UTC))),
])
def test_time_off_in_local_time_becomes_the_right_utc_interval(first, last, start, end,
                                                               expected):
    assert diary_service.time_off_interval(LONDON, first_day=first, last_day=last, start=start,
                                   end=end) == expected


def test_a_day_off_on_the_clock_change_blocks_exactly_that_day(session, diary, practice):
    _, therapist = users(session, diary)
    row, clashes = diary_service.add_time_off(
        session, therapist, therapist, first_day=date(2026, 3, 30), last_day=None, start=None,
        end=None, reason="Course", now=NOW)
    assert clashes == []
    assert (row.starts_at, row.ends_at) == (datetime(2026, 3, 29, 23, 0, tzinfo=UTC),
                                            datetime(2026, 3, 30, 23, 0, tzinfo=UTC))
    service = session.get(Service, diary.services["60 minute massage"])
    free = booking.free_slots(session, session.merge(practice), therapist, service, now=NOW,
                              first=date(2026, 3, 27), last=date(2026, 3, 31))
    days = {s.astimezone(LONDON).date() for s in free}
    assert date(2026, 3, 30) not in days
    assert {date(2026, 3, 27), date(2026, 3, 28), date(2026, 3, 31)} <= days
    assert count(session, AuditEvent, AuditEvent.action == "time_off.added") == 1


def test_time_off_over_booked_sessions_lists_them_and_keeps_them(session, diary, practice):
    appointment = book(session, diary)  # Wednesday 4 March 10:00-11:00
    _, therapist = users(session, diary)
    _, clashes = diary_service.add_time_off(
        session, therapist, therapist, first_day=date(2026, 3, 4), last_day=None,
        start=time(10, 30), end=time(12), reason="Dentist", now=NOW)
    assert [a.id for a in clashes] == [appointment.id]
    assert appointment.status is AppointmentStatus.BOOKED
    assert diary_service.describe(clashes, LONDON) == [
        "Wednesday 4 March at 10:00, Alex Morgan (60 minute massage)"]


@pytest.mark.parametrize("values, field, message", [
    ({"first_day": None}, "first_day", "Enter the first day"),
    ({"last_day": date(2026, 3, 9)}, "last_day", "can't be before the first day"),
    ({"last_day": date(2027, 3, 11)}, "last_day", "up to a year"),
    ({"start": time(15), "end": time(11)}, "end", "must be after the start"),
    ({"first_day": date(2026, 3, 1)}, "first_day", "already over"),
    ({"reason": "x" * 201}, "reason", "under 200"),
])
def test_bad_time_off_is_refused(session, diary, practice, values, field, message):
    _, therapist = users(session, diary)
    arguments = {"first_day": date(2026, 3, 10), "last_day": None, "start": None, "end": None,
                 "reason": "", **values}
    with pytest.raises(InvalidInput) as caught:
        diary_service.add_time_off(session, therapist, therapist, now=NOW, **arguments)
    assert caught.value.field == field
    assert message in caught.value.message
    assert count(session, TimeOff) == 0


def test_deleting_time_off_only_your_own(session, diary, practice, make_therapist):
    other = make_therapist()
    _, therapist = users(session, diary)
    row, _ = diary_service.add_time_off(session, therapist, therapist, first_day=date(2026, 3, 10),
                                last_day=None, start=None, end=None, reason="", now=NOW)
    with pytest.raises(NotFound):
        diary_service.delete_time_off(session, session.get(User, other.id), row.id, now=NOW)
    assert [t.id for t in diary_service.upcoming_time_off(session, therapist, now=NOW)] == [row.id]
    diary_service.delete_time_off(session, therapist, row.id, now=NOW)
    assert count(session, TimeOff) == 0


# --- booking rules ------------------------------------------------------------------------

RULES = {"slot_step_minutes": 30, "min_notice_hours": 6, "horizon_value": 4,
         "horizon_unit": "weeks", "cancel_window_hours": 48, "reminder_lead_hours": 12,
         "max_upcoming_per_client": 6}


def test_rules_are_saved_and_audited(session, diary, practice):
    _, therapist = users(session, diary)
    row = session.merge(practice)
    diary_service.update_rules(session, therapist, row, now=NOW, **RULES)
    assert (row.slot_step_minutes, row.min_notice_minutes, row.horizon_days,
            row.cancel_window_hours, row.reminder_lead_hours,
            row.max_upcoming_per_client) == (30, 360, 28, 48, 12, 6)
    diary_service.update_rules(session, therapist, row, now=NOW,
                       **{**RULES, "horizon_value": 10, "horizon_unit": "days"})
    assert row.horizon_days == 10
    assert count(session, AuditEvent, AuditEvent.action == "rules.updated") == 2


@pytest.mark.parametrize("changes, field, message", [
    ({"slot_step_minutes": 4}, "slot_step_minutes", "between 5 and 120 minutes"),
    ({"slot_step_minutes": None}, "slot_step_minutes", "between 5 and 120 minutes"),
    ({"min_notice_hours": -1}, "min_notice_hours", "between 0 and 336 hours"),
    ({"min_notice_hours": 337}, "min_notice_hours", "between 0 and 336 hours"),
    ({"horizon_value": 53}, "horizon_value", "52 weeks"),
    ({"horizon_value": 0}, "horizon_value", "between 1 day"),
    ({"horizon_value": 367, "horizon_unit": "days"}, "horizon_value", "366 days"),
    ({"horizon_unit": "months"}, "horizon_unit", "weeks or days"),
    ({"cancel_window_hours": 337}, "cancel_window_hours", "between 0 and 336 hours"),
    ({"reminder_lead_hours": 0}, "reminder_lead_hours", "between 1 and 168 hours"),
    ({"reminder_lead_hours": 169}, "reminder_lead_hours", "between 1 and 168 hours"),
    ({"max_upcoming_per_client": 0}, "max_upcoming_per_client", "between 1 and 50 sessions"),
    ({"max_upcoming_per_client": 51}, "max_upcoming_per_client", "between 1 and 50 sessions"),
    ({"max_upcoming_per_client": None}, "max_upcoming_per_client",
     "between 1 and 50 sessions"),
])
def test_bad_rules_are_refused_and_nothing_changes(session, diary, practice, changes, field,
                                                   message):
    _, therapist = users(session, diary)
    row = session.merge(practice)
    with pytest.raises(InvalidInput) as caught:
        diary_service.update_rules(session, therapist, row, now=NOW, **{**RULES, **changes})
    assert caught.value.field == field
    assert message in caught.value.message
    assert (row.slot_step_minutes, row.horizon_days, row.max_upcoming_per_client) == (15, 56, 4)


# --- booking for a client, override, cancelling ---------------------------------------------


def therapist_books(session, diary_, **kw):
    """The therapist books for the diary's client on Wednesday 4 March."""
    client, therapist = users(session, diary_)
    arguments = {"client_id": client.id, "service_id": diary_.services["60 minute massage"],
                 "day": date(2026, 3, 4), "slot": WEDNESDAY_10.isoformat(), "override": False,
                 "override_time": None, **kw}
    return diary_service.book_for_client(session, therapist, now=NOW, links=EMAIL_LINKS,
                                        **arguments)


def test_therapist_books_a_free_slot_inside_the_notice_period(session, diary, practice):
    soon = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # an hour from now: too soon for clients
    appointment = therapist_books(session, diary, day=date(2026, 3, 2), slot=soon.isoformat())
    assert appointment.starts_at == soon and not appointment.overlap_override
    assert appointment.booked_by_id == diary.therapist.id


def test_override_books_over_another_appointment_and_is_audited(session, diary, practice):
    first = book(session, diary)
    with pytest.raises(booking.SlotTaken):
        therapist_books(session, diary, slot=(WEDNESDAY_10 + timedelta(minutes=30)).isoformat())
    second = therapist_books(session, diary, override=True, override_time=time(10, 30))
    assert second.overlap_override
    assert second.starts_at == datetime(2026, 3, 4, 10, 30, tzinfo=UTC)
    assert first.status is second.status is AppointmentStatus.BOOKED
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "appointment.booked")
                            .order_by(AuditEvent.id.desc())).first()
    assert event.actor_id == diary.therapist.id
    assert event.details["override"] is True
    assert event.details["appointment"] == second.id


def test_override_still_needs_working_hours(session, diary, practice):
    with pytest.raises(InvalidInput) as caught:
        therapist_books(session, diary, override=True, override_time=time(13, 15))
    assert "outside working hours" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        therapist_books(session, diary, override=True, override_time=None)
    assert caught.value.field == "override_time"


def test_clients_cannot_override(session, diary, practice):
    book(session, diary)
    with pytest.raises(PermissionDenied):
        book(session, diary, start=WEDNESDAY_10 + timedelta(minutes=30), override=True)
    client, _ = users(session, diary)
    with pytest.raises(PermissionDenied):
        diary_service.book_for_client(session, client, client_id=client.id,
                              service_id=diary.services["30 minute massage"],
                              day=date(2026, 3, 4), slot=None, override=True,
                              override_time=time(10, 30), now=NOW, links=EMAIL_LINKS)
    assert count(session, Appointment) == 1


@pytest.mark.parametrize("changes, field", [
    ({"client_id": None}, "client"),
    ({"client_id": 999_999}, "client"),
    ({"service_id": 999_999}, "service"),
    ({"slot": "not a time"}, "start"),
    ({"slot": "2026-03-04T10:00:00"}, "start"),  # no zone: never one of ours
    ({"slot": None}, "start"),
])
def test_tampered_booking_values_are_refused(session, diary, practice, changes, field):
    with pytest.raises(InvalidInput) as caught:
        therapist_books(session, diary, **changes)
    assert caught.value.field == field
    assert count(session, Appointment) == 0


def test_booking_for_a_deactivated_client_is_refused(session, diary, practice):
    client, _ = users(session, diary)
    client.active = False
    with pytest.raises(InvalidInput) as caught:
        therapist_books(session, diary)
    assert caught.value.field == "client"
    assert client.id not in [c.id for c in diary_service.bookable_clients(session)]


def test_cancelling_with_a_message_emails_it_with_a_cancel_ics(session, diary, practice):
    appointment = book(session, diary)
    _, therapist = users(session, diary)
    late = WEDNESDAY_10 - timedelta(hours=3)
    booking.cancel(session, therapist, appointment, now=late, links=EMAIL_LINKS,
                   reason="I'm unwell today, sorry. Rebook any time next week.")
    assert appointment.status is AppointmentStatus.CANCELLED and appointment.late_cancellation
    mail = session.scalars(select(OutboxMessage)
                           .where(OutboxMessage.kind == "appointment_cancelled")).one()
    assert mail.to_addr == diary.client.email
    assert "Rebook any time next week." in mail.text_body
    ics = mail.attachments[0]["data"]
    assert "METHOD:CANCEL" in ics and "STATUS:CANCELLED" in ics
    unfolded = ics.replace("\r\n ", "")
    assert f"mailto:{diary.client.email}" in unfolded.split("ATTENDEE", 1)[1].splitlines()[0]


def test_upcoming_groups_by_local_day_including_cancelled(session, diary, practice):
    first = book(session, diary)
    second = book(session, diary, start=datetime(2026, 3, 5, 14, 0, tzinfo=UTC))
    third = book(session, diary, start=datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    later = book(session, diary, start=datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
    _, therapist = users(session, diary)
    booking.cancel(session, therapist, second, now=NOW, links=EMAIL_LINKS)
    days = diary_service.upcoming(session, session.merge(practice), therapist, now=NOW)
    assert {day: [a.id for a in items] for day, items in days.items()} == {
        date(2026, 3, 4): [first.id], date(2026, 3, 5): [third.id, second.id],
    }
    assert later.id not in [a.id for items in days.values() for a in items]


# --- flask send-reminders -------------------------------------------------------------------


def test_send_reminders_queues_each_reminder_once_and_never_after_the_start(
        app, runner, diary, practice, monkeypatch):
    with app.app_context():
        appointment_id = book(db.session, diary).id
        db.session.commit()
    clock = {"now": WEDNESDAY_10 - timedelta(hours=30)}
    monkeypatch.setattr(cli, "utcnow", lambda: clock["now"])

    def run() -> str:
        result = runner.invoke(args=["send-reminders"])
        assert result.exit_code == 0, result.output
        return result.output.strip()

    def reminders_queued() -> int:
        with app.app_context():
            return count(db.session, OutboxMessage,
                         OutboxMessage.kind == "appointment_reminder")

    assert run() == "reminders: 0 queued"  # 30 hours before: not due yet
    clock["now"] = WEDNESDAY_10 - timedelta(hours=23)
    assert run() == "reminders: 1 queued"
    assert run() == "reminders: 0 queued"
    clock["now"] = WEDNESDAY_10 - timedelta(hours=1)
    assert run() == "reminders: 0 queued"
    assert reminders_queued() == 1
    with app.app_context():
        mail = db.session.scalar(select(OutboxMessage)
                                 .where(OutboxMessage.kind == "appointment_reminder"))
        assert mail.to_addr == diary.client.email
        assert "Wednesday 4 March at 10:00" in mail.subject
        assert db.session.get(Appointment, appointment_id).status is AppointmentStatus.BOOKED


def test_send_reminders_never_reminds_after_the_start(app, runner, diary, practice,
                                                      monkeypatch):
    with app.app_context():
        book(db.session, diary)
        db.session.commit()
    monkeypatch.setattr(cli, "utcnow", lambda: WEDNESDAY_10 + timedelta(minutes=5))
    result = runner.invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    assert "reminders: 0 queued" in result.output
    with app.app_context():
        assert count(db.session, OutboxMessage,
                     OutboxMessage.kind == "appointment_reminder") == 0


# --- the demo diary -------------------------------------------------------------------------


def test_demo_seed_builds_a_diary_that_makes_sense(app, runner):
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "not seeded again" in again.output
    with app.app_context():
        session = db.session
        practice = session.scalar(select(Practice))
        zone = ZoneInfo(practice.timezone)
        services = {s.name: s for s in session.scalars(select(Service))}
        assert {(s.duration_minutes, "consultation" in s.name.lower())
                for s in services.values()} == {(30, False), (60, False), (90, False),
                                                (60, True)}
        assert all(s.active and s.buffer_minutes == 15 and s.price_pence > 0 and s.description
                   for s in services.values())
        therapist = session.scalar(select(User).where(User.role == Role.THERAPIST))
        assert diary_service.weekly_hours(session, therapist) == {
            **{d: [(time(9), time(13)), (time(14), time(18))] for d in range(5)},
            5: [(time(9), time(13))], 6: [],
        }
        assert (practice.slot_step_minutes, practice.min_notice_minutes, practice.horizon_days,
                practice.cancel_window_hours, practice.reminder_lead_hours) == (
            15, 720, 56, 24, 24)
        clients = session.scalars(select(User).where(User.role == Role.CLIENT)).all()
        assert len(clients) == len(demo.PEOPLE)
        # Everyone who has joined has filled in the questionnaire; invitations are waiting.
        assert all(intake.is_complete(session, c) == c.has_password for c in clients)

        appointments = session.scalars(select(Appointment).order_by(Appointment.starts_at)).all()
        now = datetime.now(UTC)
        # Never two at once, buffers included (cancelled sessions too: their time stays empty).
        for earlier, later in zip(appointments, appointments[1:], strict=False):
            assert earlier.blocked_until <= later.starts_at, (earlier.id, later.id)
        worked = diary_service.weekly_hours(session, therapist)
        for a in appointments:
            start, end = a.starts_at.astimezone(zone), a.ends_at.astimezone(zone)
            assert start.date() == end.date() and start.minute % 15 == 0
            assert any(s <= start.time() and end.time() <= e for s, e in worked[start.weekday()])
            assert a.ends_at - a.starts_at == timedelta(minutes=a.service.duration_minutes)
            if a.ends_at <= now:
                assert a.status in (AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW,
                                    AppointmentStatus.CANCELLED)
            else:  # to come, or in progress and not marked yet
                assert a.status is AppointmentStatus.BOOKED
        statuses = [(a.status, a.late_cancellation) for a in appointments]
        assert statuses.count((AppointmentStatus.NO_SHOW, False)) == 1
        assert statuses.count((AppointmentStatus.CANCELLED, False)) == 1
        assert statuses.count((AppointmentStatus.CANCELLED, True)) == 1
        for client in clients:
            if client.email not in {email for _, email, _ in demo.CLIENTS}:
                continue
            own = [a for a in appointments if a.client_id == client.id]
            assert any(a.starts_at < now and a.status is AppointmentStatus.ATTENDED for a in own)
            assert any(a.starts_at > now and a.status is AppointmentStatus.BOOKED for a in own)
        # Clients can book around the demo sessions.
        free = booking.free_slots(session, practice, therapist, services[
            "60 minute sports massage"], now=now, first=now.date() + timedelta(days=1),
            last=now.date() + timedelta(days=14))
        assert free
