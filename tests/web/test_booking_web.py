"""Booking through the test client (a browser without JavaScript): service, week, confirm.

The clock is fixed with PORTAL_CLOCK, so the weeks and the 12-hour notice are known. The
diary (tests/conftest.py) works Monday to Friday 09:00-13:00 and 14:00-18:00 and Saturday
09:00-13:00, Europe/London.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    IntakeForm,
    OutboxMessage,
    Service,
    User,
    WorkingHours,
)
from portal.services import booking
from portal.services.intake import CONSENT_VERSION
from tests.booking_support import EMAIL_LINKS
from tests.conftest import csrf_from, login, sign_in_directly, static_url

# Monday 2 March 2026, 08:00 UTC (GMT: local time is the same).
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TUESDAY_9 = "2026-03-03T09:00:00Z"
WEDNESDAY_10 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


# --- helpers ------------------------------------------------------------------------------


def text(response) -> str:
    """The response body as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def counts(app) -> tuple[int, int]:
    """(appointments, emails): a write shows up here."""
    with app.app_context():
        appointments = db.session.scalar(sa.select(sa.func.count()).select_from(Appointment))
        mails = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        return appointments, mails


def appointments_of(app, user_id: int) -> list[Appointment]:
    """Detached copies of a client's appointments, oldest start first."""
    with app.app_context():
        rows = list(db.session.scalars(
            sa.select(Appointment).where(Appointment.client_id == user_id)
            .order_by(Appointment.starts_at)))
        for row in rows:
            db.session.expunge(row)
        return rows


def html_of(client, url: str) -> str:
    """The raw HTML of a page (entities kept, as in attributes)."""
    return client.get(url).get_data(as_text=True)


def slot_starts(page: str) -> list[str]:
    """The start= values of the slot links on a page, in page order."""
    return re.findall(r'class="slot[^"]*" href="[^"]*start=([^"&]+)', page)


def slot_labels(page: str, day: str) -> list[str]:
    """The visible times of the slot links of one day ('Wednesday 4 March')."""
    return re.findall(rf'data-day="{day}" data-time="([^"]+)"', page)


def post_confirm(client, service_id: int, start: str, *, query: str = "", **data):
    """POST the confirmation form like a browser (CSRF token from a page first)."""
    token = csrf_from(client.get("/appointments/").get_data(as_text=True))
    return client.post(f"/booking/{service_id}/confirm{query}",
                       data={"csrf_token": token, "start": start, **data})


def intake_next(location: str) -> str:
    """Where the questionnaire link in a redirect returns to (its `next`)."""
    parts = urlsplit(location)
    assert parts.path == "/intake/", location
    [target] = parse_qs(parts.query)["next"]
    return target


def set_clock(app, instant: datetime) -> None:
    """Fix the app's clock."""
    app.config["PORTAL_CLOCK"] = lambda: instant


def move_clock(app, client, instant: datetime) -> None:
    """Move the clock and sign the client in again (a jump of hours ends an idle session)."""
    set_clock(app, instant)
    assert login(client, client.user.email).status_code == 302


def book_for(app, diary, client_id: int, start: datetime, service="60 minute massage"):
    """Book through the service layer, as the given client, at NOW."""
    with app.app_context():
        client = db.session.get(User, client_id)
        therapist = db.session.get(User, diary.therapist.id)
        appointment = booking.book(db.session, client, client=client, therapist=therapist,
                                   service_id=diary.services[service], starts_at=start,
                                   now=NOW, links=EMAIL_LINKS)
        db.session.commit()
        return appointment.id


def complete_intake(app, user_id: int) -> None:
    """Give a client a current questionnaire directly."""
    with app.app_context():
        db.session.add(IntakeForm(client_id=user_id, answers={"complaints": "Tight calves"},
                                  red_flags=[], consent_version=CONSENT_VERSION,
                                  consent_given_at=NOW, submitted_at=NOW))
        db.session.commit()


@pytest.fixture
def booker(app, client, diary):
    """The diary's client (questionnaire done), signed in, with the clock at NOW."""
    set_clock(app, NOW)
    sign_in_directly(client, diary.client)
    client.user = diary.client
    return client


@pytest.fixture
def sixty(diary) -> int:
    """The 60 minute massage's id."""
    return diary.services["60 minute massage"]


# --- the questionnaire comes first --------------------------------------------------------


def test_booking_requires_the_questionnaire_first(app, client, diary, make_client):
    set_clock(app, NOW)
    newcomer = make_client(name="Sam Patel")
    assert login(client, newcomer.email).status_code == 302
    sixty = diary.services["60 minute massage"]

    response = client.get("/booking/")
    assert response.status_code == 302
    assert intake_next(response.location) == "/booking/"
    page = text(client.get(response.location))
    assert "Before your first booking, please fill in this short health questionnaire" in page
    assert 'name="next" type="hidden" value="/booking/"' in page

    # The week and confirm pages send them there too, and come back to the same week.
    response = client.get(f"/booking/{sixty}?week=2026-03-09")
    assert intake_next(response.location) == f"/booking/{sixty}?week=2026-03-09"
    assert client.get(f"/booking/{sixty}/confirm?start={TUESDAY_9}").status_code == 302

    # A forged POST books nothing.
    response = post_confirm(client, sixty, TUESDAY_9)
    assert response.status_code == 302 and response.location.startswith("/intake/")
    assert counts(app) == (0, 0)

    complete_intake(app, newcomer.id)
    assert client.get("/booking/").status_code == 200


# --- choosing a service and a week --------------------------------------------------------


def test_services_are_listed_with_duration_and_price(app, booker, diary):
    with app.app_context():
        service = db.session.get(Service, diary.services["90 minute massage"])
        service.description = "For a full-body session after a race."
        hidden = Service(name="Retired treatment", duration_minutes=45, price_pence=4000,
                         active=False)
        db.session.add(hidden)
        db.session.commit()
    page = text(booker.get("/booking/"))
    assert "Book a session" in page
    for name, minutes, price in [("30 minute massage", 30, "£35"),
                                 ("60 minute massage", 60, "£55"),
                                 ("90 minute massage", 90, "£75")]:
        assert f'href="/booking/{diary.services[name]}">{name}</a>' in page
        assert f"{minutes} minutes" in page and price in page
    assert "For a full-body session after a race." in page
    assert "Retired treatment" not in page
    assert page.index("30 minute massage") < page.index("60 minute massage")


def test_first_week_starts_today_and_shows_free_times_in_local_time(booker, sixty):
    page = text(booker.get(f"/booking/{sixty}"))
    assert "This week: 2 – 8 March 2026" in page
    # Monday: 12 hours' notice from 08:00 leaves nothing; Sunday is closed.
    assert re.search(r"Monday 2 March</span> <span class=\"day__count\">No free times", page)
    assert re.search(r"Sunday 8 March</span> <span class=\"day__count\">No free times", page)
    tuesday = slot_labels(page, "Tuesday 3 March")
    assert tuesday[:3] == ["09:00", "09:15", "09:30"]
    assert "12:00" in tuesday and "12:15" not in tuesday  # 60 minutes must end by 13:00
    assert "13:00" not in tuesday and "14:00" in tuesday and tuesday[-1] == "17:00"
    assert slot_labels(page, "Saturday 7 March")[-1] == "12:00"
    assert slot_starts(page)[0] == TUESDAY_9
    assert f'href="/booking/{sixty}/confirm?start={TUESDAY_9}"' in page
    # Earlier than this week is not offered; the next week is.
    assert 'rel="prev"' not in page
    assert f'href="/booking/{sixty}?week=2026-03-09" rel="next"' in page


def test_first_week_begins_on_todays_date(app, booker, sixty):
    move_clock(app, booker, datetime(2026, 3, 4, 8, 0, tzinfo=UTC))  # a Wednesday
    page = text(booker.get(f"/booking/{sixty}"))
    assert "This week: 4 – 8 March 2026" in page
    assert "Tuesday 3 March" not in page and "Monday 2 March" not in page
    assert "Wednesday 4 March" in page


def test_week_navigation_stays_inside_the_booking_window(booker, sixty):
    # Horizon 8 weeks from Monday 2 March: the last bookable day is Monday 27 April.
    page = text(booker.get(f"/booking/{sixty}?week=2026-03-11"))  # any day picks its week
    assert "9 – 15 March 2026" in page and "This week" not in page
    assert f'href="/booking/{sixty}?week=2026-03-02" rel="prev"' in page
    assert f'href="/booking/{sixty}?week=2026-03-16" rel="next"' in page

    last = text(booker.get(f"/booking/{sixty}?week=2026-04-27"))
    assert "27 April – 3 May 2026" in last
    assert 'rel="next"' not in last and 'rel="prev"' in last
    assert slot_labels(last, "Monday 27 April")
    assert re.search(r"Tuesday 28 April</span> <span class=\"day__count\">Not open for "
                     r"booking yet", last)

    # Stale, tampered or nonsense weeks are clamped, never an error.
    assert "27 April – 3 May 2026" in text(booker.get(f"/booking/{sixty}?week=2031-01-01"))
    for week in ("2020-01-06", "yesterday", "2026-02-30", "2026-3-9", "9" * 200):
        response = booker.get(f"/booking/{sixty}?week={week}")
        assert response.status_code == 200, week
        assert "This week: 2 – 8 March 2026" in text(response), week


def test_week_with_no_free_time_says_so(app, booker, diary, sixty):
    with app.app_context():
        db.session.execute(sa.delete(WorkingHours))
        db.session.commit()
    page = text(booker.get(f"/booking/{sixty}?week=2026-03-09"))
    assert "No free times in this week." in page
    assert f'href="/booking/{sixty}?week=2026-03-16">See the next week</a>' in page
    assert slot_starts(page) == []


def test_times_are_local_across_the_spring_clock_change(app, booker, sixty):
    # Thursday 26 March 2026; the clocks go forward early on Sunday 29 March.
    move_clock(app, booker, datetime(2026, 3, 26, 8, 0, tzinfo=UTC))
    page = text(booker.get(f"/booking/{sixty}"))
    assert "This week: 26 – 29 March 2026" in page
    friday = slot_labels(page, "Friday 27 March")
    assert friday[0] == "09:00" and friday[-1] == "17:00"
    assert "2026-03-27T09:00:00Z" in slot_starts(page)  # GMT: local = UTC

    later = text(booker.get(f"/booking/{sixty}?week=2026-03-30"))
    monday = slot_labels(later, "Monday 30 March")
    assert monday[0] == "09:00" and monday[-1] == "17:00"
    assert "08:00" not in monday and "18:00" not in monday
    starts = slot_starts(later)
    assert starts[0] == "2026-03-30T08:00:00Z"  # BST: 09:00 local is 08:00 UTC
    assert "2026-03-30T16:00:00Z" in starts and "2026-03-30T17:00:00Z" not in starts


def test_repeated_hour_in_autumn_shows_both_times_apart(app, booker, diary):
    # Early Sunday 25 October 2026 the clocks go back: 01:00-02:00 happens twice.
    with app.app_context():
        db.session.add(WorkingHours(therapist_id=diary.therapist.id, weekday=6,
                                    start_time=time(0, 0), end_time=time(3, 0)))
        db.session.commit()
    move_clock(app, booker, datetime(2026, 10, 22, 8, 0, tzinfo=UTC))
    thirty = diary.services["30 minute massage"]
    page = text(booker.get(f"/booking/{thirty}"))
    sunday = slot_labels(page, "Sunday 25 October")
    assert sunday[:4] == ["00:00", "00:15", "00:30", "00:45"]
    assert sunday[4:8] == ["01:00 BST", "01:15 BST", "01:30 BST", "01:45 BST"]
    assert sunday[8:12] == ["01:00 GMT", "01:15 GMT", "01:30 GMT", "01:45 GMT"]
    assert sunday[-1] == "02:30"
    assert len(sunday) == len(set(sunday)) == 15  # four real hours, 30 minutes, every 15
    starts = slot_starts(page)
    assert "2026-10-25T00:00:00Z" in starts and "2026-10-25T01:00:00Z" in starts


# --- confirming ---------------------------------------------------------------------------


def test_confirm_page_shows_what_is_booked_and_the_policy(booker, sixty):
    response = booker.get(f"/booking/{sixty}/confirm?start={TUESDAY_9}")
    assert response.status_code == 200
    page = text(response)
    assert "Confirm your session" in page
    for fact in ("60 minute massage", "Tue 3 March 2026", "09:00 to 10:00", "60 minutes", "£55",
                 "until Monday 2 March at 09:00 (24 hours before)"):
        assert fact in page, fact
    assert f'name="start" type="hidden" value="{TUESDAY_9}"' in page
    assert 'name="note"' in page and 'maxlength="1000"' in page
    assert f'href="/booking/{sixty}?week=2026-03-03">Choose another time' in page


def test_booking_creates_one_appointment_and_one_email_with_ics(app, booker, diary, sixty,
                                                               outbox):
    response = post_confirm(booker, sixty, TUESDAY_9, note="  Left calf, please  ")
    assert response.status_code == 302
    assert response.location == "/appointments/"
    page = text(booker.get("/appointments/"))
    assert ("Booked: 60 minute massage on Tuesday 3 March at 09:00. A confirmation email with "
            "a calendar file is on its way.") in page

    [appointment] = appointments_of(app, diary.client.id)
    assert appointment.starts_at == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert appointment.ends_at == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert appointment.service_id == sixty and appointment.therapist_id == diary.therapist.id
    assert appointment.status is AppointmentStatus.BOOKED
    assert appointment.client_note == "Left calf, please"
    assert appointment.price_pence == 5500

    [mail] = outbox()
    assert mail.kind == "appointment_confirmed" and mail.to_addr == diary.client.email
    [attachment] = mail.attachments
    assert attachment["filename"].endswith(".ics")
    assert attachment["content_type"] == "text/calendar"
    assert "BEGIN:VEVENT" in attachment["data"]
    assert "DTSTART;TZID=Europe/London:20260303T090000" in attachment["data"]


def test_double_submit_books_once_and_says_so(app, booker, diary, sixty, outbox):
    assert post_confirm(booker, sixty, TUESDAY_9).status_code == 302
    again = post_confirm(booker, sixty, TUESDAY_9)
    assert again.status_code == 302 and again.location == "/appointments/"
    assert "You already booked this session." in text(booker.get("/appointments/"))
    assert counts(app) == (1, 1)


@pytest.mark.parametrize("start, status, message", [
    ("not-a-time", 400, "doesn't name a time we can book"),
    ("", 400, "doesn't name a time we can book"),
    ("2026-03-03T09:00:00", 400, "doesn't name a time we can book"),  # no offset
    ("2026-02-30T09:00:00Z", 400, "doesn't name a time we can book"),
    ("2026-03-03 09:00:00Z", 400, "doesn't name a time we can book"),
    ("2026-03-03T09:00:00.000001Z", 400, "doesn't name a time we can book"),
    ("2026-03-01T10:00:00Z", 400, "That time has already passed"),
    ("2026-03-02T14:00:00Z", 400, "up to 12 hours ahead"),
    ("2026-03-04T07:00:00Z", 400, "That time isn't available"),  # before opening
    ("2026-03-04T10:05:00Z", 400, "That time isn't available"),  # off the 15-minute grid
    ("2026-03-04T12:30:00Z", 400, "That time isn't available"),  # runs into lunch
    ("2026-03-08T10:00:00Z", 400, "That time isn't available"),  # Sunday
    ("2026-06-01T09:00:00Z", 400, "Bookings open 8 weeks ahead"),
])
def test_tampered_or_impossible_times_are_refused_clearly(app, booker, sixty, start, status,
                                                          message):
    response = post_confirm(booker, sixty, start)
    assert response.status_code == status
    page = text(response)
    assert "That time can't be booked" in page and message in page
    assert "Nothing has been booked or changed." in page
    assert counts(app) == (0, 0)


def test_a_posted_start_with_another_offset_means_the_same_instant(app, booker, diary, sixty):
    assert post_confirm(booker, sixty, "2026-03-03T10:00:00+01:00").status_code == 302
    [appointment] = appointments_of(app, diary.client.id)
    assert appointment.starts_at == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def test_tampered_service_is_refused(app, booker, diary):
    with app.app_context():
        retired = Service(name="Retired", duration_minutes=30, price_pence=1000, active=False)
        db.session.add(retired)
        db.session.commit()
        retired_id = retired.id
    for service_id in (9999, retired_id):
        response = post_confirm(booker, service_id, TUESDAY_9)
        assert response.status_code == 404
        assert "That service isn't offered." in text(response)
        assert booker.get(f"/booking/{service_id}").status_code == 404
        assert booker.get(f"/booking/{service_id}/confirm?start={TUESDAY_9}").status_code == 404
    assert booker.get("/booking/abc").status_code == 404
    assert counts(app) == (0, 0)


def test_a_long_note_is_marked_on_its_field(app, booker, sixty):
    response = post_confirm(booker, sixty, TUESDAY_9, note="x" * 1001)
    assert response.status_code == 200
    page = text(response)
    assert re.search(r'<p class="field__error" id="note-error">.*Keep the note under 1,000 '
                     r'characters\.</p>', page)
    assert f'value="{TUESDAY_9}"' in page  # the chosen time is kept for the retry
    assert counts(app) == (0, 0)


def test_slot_just_taken_offers_the_nearest_free_times(app, booker, diary, sixty,
                                                      make_client):
    other = make_client(name="Sam Patel")
    complete_intake(app, other.id)
    book_for(app, diary, other.id, WEDNESDAY_10)

    # The 10:00 link of a stale page, then its form.
    response = booker.get(f"/booking/{sixty}/confirm?start=2026-03-04T10:00:00Z")
    assert response.status_code == 409
    assert "Sorry, that time isn't available" in text(response)

    response = post_confirm(booker, sixty, "2026-03-04T10:00:00Z")
    assert response.status_code == 409
    page = text(response)
    assert "Sorry, that slot was just taken" in page
    assert "Nothing has been booked or changed." in page
    alternatives = slot_starts(page)
    assert alternatives and "2026-03-04T10:00:00Z" not in alternatives
    assert "2026-03-04T08:45:00Z" not in alternatives  # would run into 10:00's session
    assert any(a.startswith("2026-03-04") for a in alternatives)
    assert f'href="/booking/{sixty}?week=2026-03-04">See all free times' in page
    assert appointments_of(app, diary.client.id) == []
    assert counts(app) == (1, 1)  # only Sam's

    # Picking an alternative books it.
    assert post_confirm(booker, sixty, alternatives[0]).status_code == 302
    assert len(appointments_of(app, diary.client.id)) == 1


def test_overlapping_longer_service_is_taken_too(app, booker, diary, make_client):
    other = make_client()
    complete_intake(app, other.id)
    book_for(app, diary, other.id, WEDNESDAY_10, service="30 minute massage")
    ninety = diary.services["90 minute massage"]
    response = post_confirm(booker, ninety, "2026-03-04T09:00:00Z")
    assert response.status_code == 409
    assert appointments_of(app, diary.client.id) == []


# --- with JavaScript ----------------------------------------------------------------------


def test_week_page_carries_the_inline_confirmation_for_javascript(app, booker, sixty):
    page = booker.get(f"/booking/{sixty}").get_data(as_text=True)
    assert f'<script type="module" src="{static_url(app, "js/booking.js")}"></script>' in page
    assert "<script>" not in page and " style=" not in page  # the CSP forbids inline code
    panel = page[page.index("data-booking-panel"):]
    assert "hidden" in panel[:200]  # shown only by the script
    assert f'action="/booking/{sixty}/confirm"' in panel
    assert 'name="csrf_token"' in panel and '<input type="hidden" name="start" value="">' in panel
    assert "Book this session" in panel and "60 minute massage" in panel and "£55" in panel
    # Every slot link carries what the panel shows.
    assert (f'data-start="{TUESDAY_9}" data-day="Tuesday 3 March" data-time="09:00"') in page


def test_the_script_is_served(booker):
    with booker.get("/static/js/booking.js") as response:
        assert response.status_code == 200
        assert "javascript" in response.content_type
        assert "data-booking" in response.get_data(as_text=True)


# --- rescheduling -------------------------------------------------------------------------


def test_reschedule_moves_the_appointment_in_one_step(app, booker, diary, sixty, outbox):
    assert post_confirm(booker, sixty, "2026-03-04T10:00:00Z").status_code == 302
    [original] = appointments_of(app, diary.client.id)

    page = text(booker.get(f"/booking/{sixty}?reschedule={original.id}&week=2026-03-04"))
    assert "Move your session" in page
    assert "Now booked for Wednesday 4 March at 10:00" in page
    assert re.search(r'class="slot slot--current">.*?10:00 <span class="slot__note">current', page)
    # Its own slot does not block the times around it: 10:30 overlaps the current session.
    assert "2026-03-04T10:30:00Z" in slot_starts(page)
    assert f"reschedule={original.id}" in page.split('rel="next"')[0]
    assert "Move my session" in page

    confirm = text(booker.get(f"/booking/{sixty}/confirm?start=2026-03-04T10:30:00Z"
                              f"&reschedule={original.id}"))
    assert "Moving from" in confirm and "Wed 4 March 2026, 10:00" in confirm
    assert 'name="note"' not in confirm

    response = post_confirm(booker, sixty, "2026-03-04T10:30:00Z",
                            query=f"?reschedule={original.id}")
    assert response.status_code == 302 and response.location == "/appointments/"
    assert "is now on Wednesday 4 March at 10:30" in text(booker.get("/appointments/"))
    [moved] = appointments_of(app, diary.client.id)
    assert moved.id == original.id
    assert moved.starts_at == datetime(2026, 3, 4, 10, 30, tzinfo=UTC)
    assert moved.sequence == 1
    assert [m.kind for m in outbox()] == ["appointment_confirmed", "appointment_rescheduled"]

    # A second click of the same form changes nothing and sends nothing.
    again = post_confirm(booker, sixty, "2026-03-04T10:30:00Z",
                         query=f"?reschedule={original.id}")
    assert again.status_code == 302
    assert "already at that time" in text(booker.get("/appointments/"))
    assert len(outbox()) == 2


def test_reschedule_opens_on_the_week_of_the_session_being_moved(app, booker, diary, sixty):
    nine_days_on = datetime(2026, 3, 11, 10, 0, tzinfo=UTC)  # Wednesday of next week
    mine = book_for(app, diary, diary.client.id, nine_days_on)

    page = text(booker.get(f"/booking/{sixty}?reschedule={mine}"))
    assert "9 – 15 March 2026" in page and "This week" not in page
    assert "No free times in this week" not in page
    assert re.search(r'class="slot slot--current">.*?10:00 <span class="slot__note">current', page)
    assert "2026-03-11T11:15:00Z" in slot_starts(page)  # free times around it, same day
    assert slot_starts(page)[0] == "2026-03-09T09:00:00Z"
    # Its own day is the one shown open.
    assert re.findall(r'<details class="day" open id="day-([\d-]+)"', page) == ["2026-03-11"]

    # Paging still works both ways and stays a reschedule.
    assert (f'href="/booking/{sixty}?week=2026-03-02&amp;reschedule={mine}" rel="prev"'
            in html_of(booker, f"/booking/{sixty}?reschedule={mine}"))
    earlier = text(booker.get(f"/booking/{sixty}?week=2026-03-02&reschedule={mine}"))
    assert "This week: 2 – 8 March 2026" in earlier and "Move your session" in earlier
    later = text(booker.get(f"/booking/{sixty}?week=2026-03-16&reschedule={mine}"))
    assert "16 – 22 March 2026" in later and slot_labels(later, "Monday 16 March")
    assert re.findall(r'<details class="day" open id="day-([\d-]+)"', later) == ["2026-03-16"]

    # A new booking still opens on this week.
    assert "This week: 2 – 8 March 2026" in text(booker.get(f"/booking/{sixty}"))


def test_reschedule_of_a_session_beyond_the_horizon_opens_on_the_last_bookable_week(
        app, booker, diary, sixty):
    # The therapist may book further ahead than clients can; clients move it within reach.
    with app.app_context():
        therapist = db.session.get(User, diary.therapist.id)
        far = booking.book(db.session, therapist, client=db.session.get(User, diary.client.id),
                           therapist=therapist, service_id=sixty, now=NOW, links=EMAIL_LINKS,
                           starts_at=datetime(2026, 6, 3, 9, 0, tzinfo=UTC)).id
        db.session.commit()
    page = text(booker.get(f"/booking/{sixty}?reschedule={far}"))
    assert "27 April – 3 May 2026" in page and 'rel="next"' not in page
    assert slot_labels(page, "Monday 27 April")


def test_reschedule_opens_on_the_sessions_week_in_the_practice_zone(app, booker, diary):
    # 23:30 UTC on Sunday 29 March is 00:30 on Monday 30 March in London (BST).
    with app.app_context():
        db.session.add(WorkingHours(therapist_id=diary.therapist.id, weekday=0,
                                    start_time=time(0, 0), end_time=time(3, 0)))
        db.session.commit()
    thirty = diary.services["30 minute massage"]
    mine = book_for(app, diary, diary.client.id, datetime(2026, 3, 29, 23, 30, tzinfo=UTC),
                    service="30 minute massage")
    page = text(booker.get(f"/booking/{thirty}?reschedule={mine}"))
    assert "30 March – 5 April 2026" in page
    assert re.search(r'class="slot slot--current">.*?00:30 <span class="slot__note">current',
                     page)


def test_reschedule_to_a_taken_slot_keeps_the_old_one(app, booker, diary, sixty, outbox,
                                                      make_client):
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    other = make_client()
    complete_intake(app, other.id)
    book_for(app, diary, other.id, datetime(2026, 3, 5, 10, 0, tzinfo=UTC))

    response = post_confirm(booker, sixty, "2026-03-05T10:00:00Z", query=f"?reschedule={mine}")
    assert response.status_code == 409
    page = text(response)
    assert "Sorry, that slot was just taken" in page
    assert all(f"reschedule={mine}" in link
               for link in re.findall(r'href="(/booking/[^"]*confirm[^"]*)"', page))
    [kept] = appointments_of(app, diary.client.id)
    assert kept.starts_at == WEDNESDAY_10 and kept.sequence == 0
    assert [m.kind for m in outbox()] == ["appointment_confirmed"] * 2

    # Bad times are refused the same way, and change nothing.
    response = post_confirm(booker, sixty, "2026-03-05T03:00:00Z", query=f"?reschedule={mine}")
    assert response.status_code == 400
    [kept] = appointments_of(app, diary.client.id)
    assert kept.starts_at == WEDNESDAY_10


def test_reschedule_inside_the_window_is_refused_with_the_explanation(app, booker, diary,
                                                                      sixty):
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    move_clock(app, booker, WEDNESDAY_10 - timedelta(hours=5))
    for response in (
        booker.get(f"/booking/{sixty}?reschedule={mine}"),
        booker.get(f"/booking/{sixty}/confirm?start=2026-03-05T10:00:00Z&reschedule={mine}"),
        post_confirm(booker, sixty, "2026-03-05T10:00:00Z", query=f"?reschedule={mine}"),
    ):
        assert response.status_code == 403
        page = text(response)
        assert "This session can't be changed online" in page
        assert "020 7946 0000" in page and "desk@example.com" in page
    [kept] = appointments_of(app, diary.client.id)
    assert kept.starts_at == WEDNESDAY_10


def test_reschedule_of_someone_elses_appointment_is_not_found(app, booker, diary, sixty,
                                                             make_client):
    other = make_client()
    complete_intake(app, other.id)
    theirs = book_for(app, diary, other.id, WEDNESDAY_10)
    for query in (f"?reschedule={theirs}", "?reschedule=99999", "?reschedule=abc",
                  "?reschedule="):
        assert booker.get(f"/booking/{sixty}{query}").status_code == 404, query
        response = post_confirm(booker, sixty, "2026-03-05T10:00:00Z", query=query)
        assert response.status_code == 404, query
    # The appointment's own service only: another service id in the URL is not found.
    mine = book_for(app, diary, diary.client.id, datetime(2026, 3, 6, 10, 0, tzinfo=UTC))
    thirty = diary.services["30 minute massage"]
    assert booker.get(f"/booking/{thirty}?reschedule={mine}").status_code == 404
    assert [a.starts_at for a in appointments_of(app, other.id)] == [WEDNESDAY_10]


def test_therapists_cannot_use_the_client_booking_pages(app, client, diary):
    set_clock(app, NOW)
    assert login(client, diary.therapist.email).status_code == 302
    assert client.get("/booking/").status_code == 403
    assert client.get("/appointments/").status_code == 403


def test_control_characters_in_text_never_break_the_database(app, booker, diary, sixty):
    # PostgreSQL refuses NUL in text: such a request is refused up front, never a 500.
    response = post_confirm(booker, sixty, TUESDAY_9, note="Left\x00 calf")
    assert response.status_code == 400
    assert "Something in that request" in response.get_data(as_text=True)
    assert appointments_of(app, diary.client.id) == []
    assert post_confirm(booker, sixty, TUESDAY_9, note="Left calf").status_code == 302
    [appointment] = appointments_of(app, diary.client.id)
    assert booker.get(f"/booking/{sixty}?reschedule=%C2%B2").status_code == 404
    for query in ("?reschedule=%00", f"?reschedule={appointment.id}%00"):
        assert booker.get(f"/booking/{sixty}{query}").status_code == 400, query
    assert booker.get(f"/booking/{sixty}/confirm?start=2026-03-03T09:00:00Z%00").status_code \
        == 400


def test_a_repeated_move_in_the_service_is_a_no_op(app, diary, practice):
    """Two racing submits both pass the view's check; the service, after taking the
    therapist's lock, sees the move is done and sends no second email."""
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    new_time = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
    with app.app_context():
        client = db.session.get(User, diary.client.id)
        for _ in range(2):
            booking.reschedule(db.session, client, db.session.get(Appointment, mine),
                               starts_at=new_time, now=NOW, links=EMAIL_LINKS)
            db.session.commit()
        moved = db.session.get(Appointment, mine)
        assert moved.starts_at == new_time and moved.sequence == 1
        kinds = list(db.session.scalars(sa.select(OutboxMessage.kind)))
        assert kinds.count("appointment_rescheduled") == 1
