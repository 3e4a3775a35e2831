"""The therapist's diary pages through the test client: every form's validation (message next
to the field, nothing written), booking for a client, override, cancel and reschedule."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    OutboxMessage,
    Practice,
    Service,
    TimeOff,
    User,
    WorkingHours,
)
from portal.services import booking
from tests.booking_support import EMAIL_LINKS
from tests.conftest import csrf_from, form_post, login, sign_in_directly

# Monday 2 March 2026, 08:00 UTC (GMT, so local time is the same).
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
WEDNESDAY_10 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


# --- helpers ------------------------------------------------------------------------------


def text(response) -> str:
    """The response body as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def field_error(page: str, field_id: str) -> str | None:
    """The error message shown next to a field, or None."""
    match = re.search(rf'<(\w+)[^>]*\bid="{field_id}-error"[^>]*>(.*?)</\1>', page, re.S)
    if not match:
        return None
    return re.sub(r"<[^>]+>", "", match.group(2)).replace("Error:", "").strip()


def count(app, model, *where) -> int:
    """Rows of a model matching the conditions."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def book_as_client(app, diary, start=WEDNESDAY_10, service="60 minute massage", note=""):
    """The diary's client books a session; returns its id."""
    with app.app_context():
        client = db.session.get(User, diary.client.id)
        therapist = db.session.get(User, diary.therapist.id)
        appointment = booking.book(db.session, client, client=client, therapist=therapist,
                                   service_id=diary.services[service], starts_at=start, now=NOW,
                                   links=EMAIL_LINKS, note=note)
        db.session.commit()
        return appointment.id


@pytest.fixture
def jo(app, client, diary):
    """A test client signed in as the diary's therapist, with the clock at NOW."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    sign_in_directly(client, diary.therapist)
    client.diary = diary
    return client


# --- access and the upcoming list -------------------------------------------------------------


def test_diary_is_for_therapists_only(app, client, diary):
    app.config["PORTAL_CLOCK"] = lambda: NOW
    assert client.get("/diary/").status_code == 302  # strangers go to the login page
    login(client, diary.client.email)
    for page in ("/diary/", "/diary/services", "/diary/hours", "/diary/time-off",
                 "/diary/rules", "/diary/book"):
        assert client.get(page).status_code == 403, page


def test_nav_and_dashboard_link_to_the_diary(jo):
    page = text(jo.get("/dashboard/"))
    assert 'href="/diary/"' in page
    assert ">Diary</a>" in page


def test_upcoming_lists_sessions_by_day_with_actions(app, jo, diary, make_client):
    first = book_as_client(app, diary, note="Left calf tight")
    book_as_client(app, diary, start=datetime(2026, 3, 5, 14, 0, tzinfo=UTC),
                   service="30 minute massage")
    page = text(jo.get("/diary/"))
    assert "Wednesday 4 March" in page and "Thursday 5 March" in page
    assert page.index("Wednesday 4 March") < page.index("Thursday 5 March")
    assert "Alex Morgan" in page and "60 minute massage" in page
    assert "Left calf tight" in page and "Booked" in page
    assert f"/diary/appointments/{first}/cancel" in page
    assert f"/diary/appointments/{first}/reschedule" in page
    assert 'href="/diary/book"' in page


def test_upcoming_without_sessions_says_so(jo):
    page = text(jo.get("/diary/"))
    assert "Nothing booked yet" in page


# --- services -------------------------------------------------------------------------------

SERVICE_FORM = {"name": "Sports massage, 45 minutes", "description": "Focused work.",
                "duration_minutes": "45", "price": "49.50", "buffer_minutes": "10",
                "sort_order": "4", "active": "y"}


def test_create_a_service(app, jo):
    response = form_post(jo, "/diary/services/new", SERVICE_FORM)
    assert response.status_code == 302 and response.location == "/diary/services"
    with app.app_context():
        service = db.session.scalar(sa.select(Service).where(Service.name == SERVICE_FORM["name"]))
        assert (service.duration_minutes, service.price_pence, service.buffer_minutes,
                service.active, service.sort_order) == (45, 4950, 10, True, 4)
    page = text(jo.get("/diary/services"))
    assert "Sports massage, 45 minutes" in page and "£49.50" in page


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "Enter a name for the service."),
    ("duration_minutes", "", "Enter the length in minutes."),
    ("duration_minutes", "an hour", "whole number of minutes"),
    ("duration_minutes", "4", "between 5 and 480"),
    ("duration_minutes", "481", "between 5 and 480"),
    ("price", "", "Enter the price in pounds"),
    ("price", "forty", "at most two decimal places"),
    ("price", "-5", "can't be negative"),
    ("price", "10.555", "at most two decimal places"),
    ("buffer_minutes", "", "Enter the buffer"),
    ("buffer_minutes", "300", "between 0 and 240"),
    ("sort_order", "1000", "between 0 and 999"),
    ("description", "x" * 2001, "at most 2,000"),
])
def test_service_form_errors_show_next_to_the_field(app, jo, field, value, message):
    before = count(app, Service)
    response = form_post(jo, "/diary/services/new", {**SERVICE_FORM, field: value})
    assert response.status_code == 200
    assert message in (field_error(text(response), field) or "")
    assert count(app, Service) == before


def test_edit_and_deactivate_a_service(app, jo, diary):
    service_id = diary.services["90 minute massage"]
    page = text(jo.get(f"/diary/services/{service_id}"))
    assert 'value="75"' in page  # the price in pounds
    data = {**SERVICE_FORM, "name": "90 minute massage", "price": "80"}
    del data["active"]
    response = form_post(jo, f"/diary/services/{service_id}", data)
    assert response.status_code == 302
    with app.app_context():
        service = db.session.get(Service, service_id)
        assert (service.active, service.price_pence) == (False, 8000)
        assert service_id not in [s.id for s in booking.active_services(db.session)]
    assert "Hidden from clients" in text(jo.get("/diary/services"))


def test_unknown_service_is_404(jo):
    assert jo.get("/diary/services/99999").status_code == 404


# --- weekly hours ---------------------------------------------------------------------------


def hours_form(ranges: dict[int, list[tuple[str, str]]]) -> dict[str, str]:
    """Form data with every field, the given ranges filled in."""
    data = {}
    for weekday in range(7):
        for index in range(4):
            start, end = (ranges.get(weekday, []) + [("", "")] * 4)[index]
            data[f"d{weekday}_{index}_start"] = start
            data[f"d{weekday}_{index}_end"] = end
    return data


def hours_of(app, therapist_id):
    with app.app_context():
        rows = db.session.execute(
            sa.select(WorkingHours.weekday, WorkingHours.start_time, WorkingHours.end_time)
            .where(WorkingHours.therapist_id == therapist_id)
            .order_by(WorkingHours.weekday, WorkingHours.start_time)).all()
        return [tuple(row) for row in rows]


def test_hours_page_shows_current_ranges_and_saving_replaces_them(app, jo, diary):
    page = text(jo.get("/diary/hours"))
    assert 'name="d0_1_start"' in page and 'value="14:00"' in page
    response = form_post(jo, "/diary/hours", hours_form({
        1: [("08:00", "12:30"), ("13:30", "20:00")], 3: [("10:00", "16:00")],
    }))
    assert response.status_code == 302
    assert hours_of(app, diary.therapist.id) == [
        (1, time(8), time(12, 30)), (1, time(13, 30), time(20)), (3, time(10), time(16)),
    ]


@pytest.mark.parametrize("ranges, field, message", [
    ({2: [("09:00", "")]}, "d2_0_end", "Enter an end time too"),
    ({2: [("17:00", "09:00")]}, "d2_0_end", "The end must be after the start"),
    ({2: [("09:00", "13:00"), ("12:00", "18:00")]}, "d2_1_start", "overlaps 09:00–13:00"),
    ({2: [("9am", "13:00")]}, "d2_0_start", "Enter a time like 09:30."),
])
def test_bad_hours_show_next_to_the_field_and_change_nothing(app, jo, diary, ranges, field,
                                                            message):
    before = hours_of(app, diary.therapist.id)
    response = form_post(jo, "/diary/hours", hours_form(ranges))
    assert response.status_code == 200
    assert message in (field_error(text(response), field) or "")
    assert hours_of(app, diary.therapist.id) == before


def test_new_hours_warn_about_bookings_left_outside(app, jo, diary):
    book_as_client(app, diary)  # Wednesday 10:00
    response = form_post(jo, "/diary/hours", hours_form({2: [("12:00", "18:00")]}),
                         follow_redirects=True)
    page = text(response)
    assert "Weekly hours saved." in page
    assert "now outside your hours" in page and "Wednesday 4 March at 10:00, Alex Morgan" in page


# --- time off -------------------------------------------------------------------------------


def test_add_a_day_off_on_the_clock_change(app, jo, diary):
    response = form_post(jo, "/diary/time-off", {"first_day": "2026-03-29", "reason": "Race"},
                         follow_redirects=True)
    page = text(response)
    assert "Time off added." in page
    assert "Sun 29 March (whole day)" in page and "Race" in page
    with app.app_context():
        row = db.session.scalar(sa.select(TimeOff))
        assert (row.starts_at, row.ends_at) == (datetime(2026, 3, 29, 0, 0, tzinfo=UTC),
                                                datetime(2026, 3, 29, 23, 0, tzinfo=UTC))


def test_time_off_over_a_booking_warns_and_keeps_it(app, jo, diary):
    appointment_id = book_as_client(app, diary)
    response = form_post(jo, "/diary/time-off", {"first_day": "2026-03-04", "start": "09:30",
                                                 "end": "12:00"}, follow_redirects=True)
    page = text(response)
    assert "overlaps 1 booked session, which stays booked" in page
    assert "Wednesday 4 March at 10:00, Alex Morgan (60 minute massage)" in page
    assert "Wed 4 March, 09:30–12:00" in page
    with app.app_context():
        assert db.session.get(Appointment, appointment_id).status is AppointmentStatus.BOOKED


@pytest.mark.parametrize("data, field, message", [
    ({}, "first_day", "Enter the first day of the time off."),
    ({"first_day": "next tuesday"}, "first_day", "Enter a date like"),
    ({"first_day": "2026-03-10", "last_day": "2026-03-09"}, "last_day",
     "can't be before the first day"),
    ({"first_day": "2026-03-10", "start": "15:00", "end": "11:00"}, "end",
     "must be after the start"),
    ({"first_day": "2026-03-10", "start": "3pm"}, "start", "Enter a time like 09:30."),
    ({"first_day": "2026-02-20"}, "first_day", "already over"),
])
def test_bad_time_off_shows_next_to_the_field(app, jo, data, field, message):
    response = form_post(jo, "/diary/time-off", data)
    assert response.status_code == 200
    assert message in (field_error(text(response), field) or "")
    assert count(app, TimeOff) == 0


def test_remove_time_off(app, jo):
    form_post(jo, "/diary/time-off", {"first_day": "2026-03-10"})
    with app.app_context():
        row_id = db.session.scalar(sa.select(TimeOff.id))
    page = jo.get("/diary/time-off").get_data(as_text=True)
    response = jo.post(f"/diary/time-off/{row_id}/delete", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    assert count(app, TimeOff) == 0
    assert jo.post("/diary/time-off/99999/delete",
                   data={"csrf_token": csrf_from(page)}).status_code == 404


# --- booking rules (now on the practice settings page) ---------------------------------------

RULES_FORM = {"slot_step_minutes": "30", "min_notice_hours": "6", "horizon_value": "4",
              "horizon_unit": "weeks", "cancel_window_hours": "48", "reminder_lead_hours": "12",
              "max_upcoming_per_client": "4"}
# The rest of the settings form, as the diary fixture's practice has them.
PRACTICE_FORM = {"name": "Test Practice", "email": "desk@example.com", "phone": "020 7946 0000",
                 "address": "", "timezone": "Europe/London", "retention_years": "8"}
SETTINGS = "/settings/"


def test_old_rules_address_and_the_diary_nav_lead_to_the_settings_page(jo):
    response = jo.get("/diary/rules")
    assert response.status_code == 302
    assert response.location == "/settings/#rules"
    page = text(jo.get("/diary/"))
    assert re.search(r'<a href="/settings/#rules">Booking rules</a>', page)
    settings = text(jo.get(response.location))
    assert 'id="rules"' in settings and ">Booking rules</h2>" in settings


def test_a_post_to_the_old_rules_address_saves_nothing_and_says_so(app, jo):
    response = form_post(jo, SETTINGS, RULES_FORM, action="/diary/rules",
                         follow_redirects=True)
    assert response.status_code == 200
    assert "Your change was not saved" in text(response)
    with app.app_context():
        practice = db.session.scalar(sa.select(Practice))
        assert (practice.slot_step_minutes, practice.horizon_days) == (15, 56)


def test_rules_show_and_save_on_the_settings_page(app, jo):
    page = text(jo.get(SETTINGS))
    assert 'name="min_notice_hours"' in page and 'value="12"' in page
    assert re.search(r'<option selected value="weeks">|<option value="weeks" selected', page)
    response = form_post(jo, SETTINGS, {**PRACTICE_FORM, **RULES_FORM})
    assert response.status_code == 302
    with app.app_context():
        practice = db.session.scalar(sa.select(Practice))
        assert (practice.slot_step_minutes, practice.min_notice_minutes, practice.horizon_days,
                practice.cancel_window_hours, practice.reminder_lead_hours) == (
            30, 360, 28, 48, 12)
    # A horizon that is not whole weeks shows in days.
    form_post(jo, SETTINGS, {**PRACTICE_FORM, **RULES_FORM, "horizon_value": "10",
                             "horizon_unit": "days"})
    page = text(jo.get(SETTINGS))
    assert re.search(r'<option selected value="days">|<option value="days" selected', page)
    assert re.search(r'name="horizon_value"[^>]*value="10"', page)


@pytest.mark.parametrize("field, value, message", [
    ("slot_step_minutes", "3", "between 5 and 120 minutes"),
    ("slot_step_minutes", "often", "between 5 and 120 minutes"),
    ("slot_step_minutes", "", "Choose a slot step."),
    ("min_notice_hours", "", "Enter the minimum notice in hours."),
    ("min_notice_hours", "400", "between 0 and 336 hours"),
    ("min_notice_hours", "1.5", "whole number of hours"),
    ("min_notice_hours", "9" * 40, "between 0 and 336 hours"),
    ("horizon_value", "60", "52 weeks"),
    ("horizon_value", "0", "between 1 day"),
    ("horizon_value", "-3", "between 1 day"),
    ("horizon_value", "", "Enter how far ahead clients can book."),
    ("horizon_unit", "months", "weeks or days"),
    ("cancel_window_hours", "-2", "between 0 and 336 hours"),
    ("cancel_window_hours", "lots", "whole number of hours"),
    ("reminder_lead_hours", "0", "between 1 and 168 hours"),
    ("reminder_lead_hours", "200", "between 1 and 168 hours"),
])
def test_bad_rules_show_next_to_the_field_and_change_nothing(app, jo, field, value, message):
    response = form_post(jo, SETTINGS, {**PRACTICE_FORM, **RULES_FORM, field: value})
    assert response.status_code == 200
    assert message in (field_error(text(response), field) or "")
    with app.app_context():
        practice = db.session.scalar(sa.select(Practice))
        assert (practice.slot_step_minutes, practice.horizon_days) == (15, 56)
    assert count(app, AuditEvent, AuditEvent.action == "rules.updated") == 0


# --- booking for a client -------------------------------------------------------------------


def book_page(diary, day="2026-03-04", service="60 minute massage") -> str:
    return (f"/diary/book?client={diary.client.id}&service={diary.services[service]}"
            f"&day={day}")


def test_book_page_lists_free_times_for_the_day(app, jo, diary):
    book_as_client(app, diary)  # Wednesday 10:00-11:00, buffer to 11:15
    page = text(jo.get(book_page(diary)))
    assert "Free times on Wednesday 4 March" in page
    times = re.findall(r'name="start" value="([^"]+)"', page)
    # 09:00 plus its 15 minutes of buffer would run into the 10:00 session.
    assert "2026-03-04T09:00:00+00:00" not in times
    assert "2026-03-04T10:00:00+00:00" not in times
    assert times[0] == "2026-03-04T11:15:00+00:00"
    assert "2026-03-04T14:00:00+00:00" in times
    # Earlier and later days are a link away.
    assert "day=2026-03-05" in page and "day=2026-03-03" in page


def test_therapist_books_inside_the_client_notice_period(app, jo, diary):
    page = text(jo.get(book_page(diary, day="2026-03-02")))
    assert 'value="2026-03-02T09:00:00+00:00"' in page  # an hour away: fine for the therapist
    response = form_post(jo, book_page(diary, day="2026-03-02"), {
        "client": diary.client.id, "service": diary.services["60 minute massage"],
        "day": "2026-03-02", "start": "2026-03-02T09:00:00+00:00",
    }, action="/diary/book", follow_redirects=True)
    assert "Booked Alex Morgan for 60 minute massage on Monday 2 March at 09:00" in text(
        response)
    with app.app_context():
        appointment = db.session.scalar(sa.select(Appointment))
        assert appointment.booked_by_id == diary.therapist.id
        assert not appointment.overlap_override
        kinds = db.session.scalars(sa.select(OutboxMessage.kind)).all()
        assert kinds == ["appointment_confirmed"]


def booking_form(diary, **overrides) -> dict:
    return {"client": diary.client.id, "service": diary.services["60 minute massage"],
            "day": "2026-03-04", **overrides}


def test_booking_without_a_time_says_so(app, jo, diary):
    response = form_post(jo, book_page(diary), booking_form(diary), action="/diary/book")
    assert response.status_code == 200
    assert "Choose a time from the list." in field_error(text(response), "start")
    assert count(app, Appointment) == 0


def test_taken_slot_is_refused_unless_overridden_and_the_override_is_audited(app, jo, diary):
    book_as_client(app, diary)
    taken = booking_form(diary, start="2026-03-04T10:30:00+00:00")
    response = form_post(jo, book_page(diary), taken, action="/diary/book")
    assert "that slot was just taken" in field_error(text(response), "start")
    assert count(app, Appointment) == 1

    missing_time = booking_form(diary, override="y")
    response = form_post(jo, book_page(diary), missing_time, action="/diary/book")
    assert "Enter the time to book at" in field_error(text(response), "override_time")

    outside = booking_form(diary, override="y", override_time="13:15")
    response = form_post(jo, book_page(diary), outside, action="/diary/book")
    assert "outside working hours" in field_error(text(response), "start")
    assert count(app, Appointment) == 1

    override = booking_form(diary, override="y", override_time="10:30")
    response = form_post(jo, book_page(diary), override, action="/diary/book",
                         follow_redirects=True)
    assert "(double booking)" in text(response)
    with app.app_context():
        second = db.session.scalar(sa.select(Appointment).where(Appointment.overlap_override))
        assert second.starts_at == datetime(2026, 3, 4, 10, 30, tzinfo=UTC)
        event = db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "appointment.booked").order_by(AuditEvent.id.desc()))
        assert event.actor_id == diary.therapist.id and event.details["override"] is True
    assert "Double booking" in text(jo.get("/diary/"))


@pytest.mark.parametrize("overrides, field, message", [
    ({"client": "99999"}, "client", "Choose an active client."),
    ({"client": ""}, "client", "Choose a client."),
    ({"service": "99999", "start": "2026-03-04T09:00:00+00:00"}, "service",
     "Choose a service."),
    ({"start": "2026-03-04T09:05:00+00:00"}, "start", "isn't available"),
    ({"start": "2026-03-01T09:00:00+00:00"}, "start", "already passed"),
    ({"start": "yesterday"}, "start", "Choose a time from the list."),
])
def test_tampered_booking_is_refused_with_a_message(app, jo, diary, overrides, field, message):
    response = form_post(jo, book_page(diary), booking_form(diary, **overrides),
                         action="/diary/book")
    assert response.status_code == 200
    page = text(response)
    assert message in (field_error(page, field) or "")
    assert count(app, Appointment) == 0


def test_clients_cannot_use_the_therapist_booking(app, client, diary):
    app.config["PORTAL_CLOCK"] = lambda: NOW
    login(client, diary.client.email)
    page = client.get("/account/").get_data(as_text=True)
    response = client.post("/diary/book", data={
        "csrf_token": csrf_from(page), **booking_form(diary, override="y",
                                                      override_time="10:30")})
    assert response.status_code == 403
    assert count(app, Appointment) == 0


# --- cancel and reschedule ------------------------------------------------------------------


def test_cancel_with_a_message_emails_the_client_with_a_cancel_ics(app, jo, diary):
    appointment_id = book_as_client(app, diary)
    page = text(jo.get(f"/diary/appointments/{appointment_id}/cancel"))
    assert "Cancel this session?" in page and "Alex Morgan" in page
    assert "late cancellation" not in page  # two days ahead: inside the rules
    response = form_post(jo, f"/diary/appointments/{appointment_id}/cancel",
                         {"message": "My car broke down. Could we do Friday instead?"},
                         follow_redirects=True)
    assert "Cancelled Alex Morgan's 60 minute massage" in text(response)
    with app.app_context():
        appointment = db.session.get(Appointment, appointment_id)
        assert appointment.status is AppointmentStatus.CANCELLED
        assert not appointment.late_cancellation
        assert appointment.cancelled_by_id == diary.therapist.id
        mail = db.session.scalar(sa.select(OutboxMessage).where(
            OutboxMessage.kind == "appointment_cancelled"))
        assert mail.to_addr == diary.client.email
        assert "My car broke down. Could we do Friday instead?" in mail.text_body
        assert "My car broke down." in mail.html_body
        assert "METHOD:CANCEL" in mail.attachments[0]["data"]
    # Cancelled: no more actions, and asking again just says so.
    response = jo.get(f"/diary/appointments/{appointment_id}/cancel", follow_redirects=True)
    assert "can no longer be changed" in text(response)


def test_cancel_inside_the_window_is_recorded_as_late(app, jo, diary):
    appointment_id = book_as_client(app, diary)
    app.config["PORTAL_CLOCK"] = lambda: WEDNESDAY_10 - timedelta(hours=2)
    login(jo, diary.therapist.email)  # two days on, the old sign-in has timed out
    page = text(jo.get(f"/diary/appointments/{appointment_id}/cancel"))
    assert "recorded as a late cancellation" in page
    form_post(jo, f"/diary/appointments/{appointment_id}/cancel", {"message": ""})
    with app.app_context():
        assert db.session.get(Appointment, appointment_id).late_cancellation


def test_cancel_message_too_long_shows_next_to_the_field(app, jo, diary):
    appointment_id = book_as_client(app, diary)
    response = form_post(jo, f"/diary/appointments/{appointment_id}/cancel",
                         {"message": "x" * 2001})
    assert "at most 2,000" in field_error(text(response), "message")
    with app.app_context():
        assert db.session.get(Appointment, appointment_id).status is AppointmentStatus.BOOKED


def test_reschedule_moves_the_appointment(app, jo, diary):
    appointment_id = book_as_client(app, diary)
    url = f"/diary/appointments/{appointment_id}/reschedule"
    page = text(jo.get(url))
    assert "Free times on Wednesday 4 March" in page
    assert 'value="2026-03-04T10:00:00+00:00"' not in page  # its own time is not a move
    page = text(jo.get(url + "?day=2026-03-06"))
    assert 'value="2026-03-06T15:00:00+00:00"' in page
    response = form_post(jo, url + "?day=2026-03-06", {"start": "2026-03-06T15:00:00+00:00"},
                         follow_redirects=True)
    assert "to Friday 6 March at 15:00" in text(response)
    with app.app_context():
        appointment = db.session.get(Appointment, appointment_id)
        assert appointment.starts_at == datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
        assert appointment.sequence == 1
        kinds = db.session.scalars(sa.select(OutboxMessage.kind)).all()
        assert "appointment_rescheduled" in kinds


def test_reschedule_to_a_taken_time_is_refused(app, jo, diary, make_client):
    appointment_id = book_as_client(app, diary)
    other = book_as_client(app, diary, start=datetime(2026, 3, 6, 15, 0, tzinfo=UTC))
    assert other
    url = f"/diary/appointments/{appointment_id}/reschedule?day=2026-03-06"
    response = form_post(jo, url, {"start": "2026-03-06T15:30:00+00:00"})
    assert "that slot was just taken" in field_error(text(response), "start")
    response = form_post(jo, url, {})
    assert "Choose a new time." in field_error(text(response), "start")
    with app.app_context():
        assert db.session.get(Appointment, appointment_id).starts_at == WEDNESDAY_10


def test_unknown_appointment_is_404(jo):
    assert jo.get("/diary/appointments/99999/cancel").status_code == 404
    assert jo.get("/diary/appointments/99999/reschedule").status_code == 404


def test_book_form_is_a_get_form_until_everything_is_chosen(jo, diary):
    page = text(jo.get(f"/diary/book?client={diary.client.id}"))
    assert "Free times on" not in page and "Please check the form" not in page
    assert f'<option selected value="{diary.client.id}">' in page or \
        f'value="{diary.client.id}" selected' in page
    page = text(jo.get("/diary/book?client=&service=&day="))
    assert field_error(page, "client") == "Choose a client."
    assert field_error(page, "service") == "Choose a service."


def test_the_day_on_the_book_page_is_today_by_default(jo):
    page = text(jo.get("/diary/book"))
    assert 'value="2026-03-02"' in page
    assert date(2026, 3, 2).isoformat() in page
