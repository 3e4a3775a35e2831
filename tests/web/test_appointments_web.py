"""A client's appointments, cancelling within the policy, .ics downloads and calendar feeds."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus, OutboxMessage, User
from portal.services import booking
from tests.booking_support import EMAIL_LINKS
from tests.conftest import csrf_from, form_post, login, sign_in_directly
from tests.web.test_booking_web import NOW, WEDNESDAY_10, complete_intake, set_clock

THURSDAY_14 = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)


def text(response) -> str:
    """The response body as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def book_for(app, diary, client_id: int, start: datetime, service="60 minute massage",
             now=NOW) -> int:
    """Book through the service layer as the client; returns the appointment id."""
    with app.app_context():
        client = db.session.get(User, client_id)
        therapist = db.session.get(User, diary.therapist.id)
        appointment = booking.book(db.session, client, client=client, therapist=therapist,
                                   service_id=diary.services[service], starts_at=start, now=now,
                                   links=EMAIL_LINKS)
        db.session.commit()
        return appointment.id


def add_past(app, diary, start: datetime, status: AppointmentStatus) -> int:
    """An appointment in the past, written directly (booking refuses past times)."""
    with app.app_context():
        row = Appointment(client_id=diary.client.id, therapist_id=diary.therapist.id,
                          service_id=diary.services["30 minute massage"], starts_at=start,
                          ends_at=start + timedelta(minutes=30),
                          blocked_until=start + timedelta(minutes=45), status=status,
                          price_pence=3500, booked_by_id=diary.client.id)
        db.session.add(row)
        db.session.commit()
        return row.id


def appointment(app, appointment_id: int) -> Appointment:
    """A detached copy of an appointment."""
    with app.app_context():
        row = db.session.get(Appointment, appointment_id)
        db.session.expunge(row)
        return row


def mail_kinds(app) -> list[str]:
    """The kinds of the queued emails, oldest first."""
    with app.app_context():
        return list(db.session.scalars(sa.select(OutboxMessage.kind).order_by(OutboxMessage.id)))


@pytest.fixture
def signed_in(app, client, diary):
    """The diary's client, signed in with the clock at NOW."""
    set_clock(app, NOW)
    sign_in_directly(client, diary.client)
    client.user = diary.client
    return client


def sign_in_at(app, client, user, instant: datetime):
    """Move the clock and sign in again (an idle session ends when hours jump)."""
    set_clock(app, instant)
    assert login(client, user.email).status_code == 302


# --- the list -----------------------------------------------------------------------------


def test_lists_upcoming_soonest_first_and_past_newest_first(app, signed_in, diary):
    later = book_for(app, diary, diary.client.id, THURSDAY_14)
    sooner = book_for(app, diary, diary.client.id, WEDNESDAY_10, service="30 minute massage")
    add_past(app, diary, datetime(2026, 2, 2, 10, 0, tzinfo=UTC), AppointmentStatus.ATTENDED)
    add_past(app, diary, datetime(2026, 2, 16, 10, 0, tzinfo=UTC), AppointmentStatus.NO_SHOW)
    add_past(app, diary, datetime(2026, 2, 9, 10, 0, tzinfo=UTC), AppointmentStatus.CANCELLED)
    # An upcoming one the client cancelled: listed with its status, without actions.
    cancelled = book_for(app, diary, diary.client.id, datetime(2026, 3, 6, 9, 0, tzinfo=UTC))
    with app.app_context():
        client = db.session.get(User, diary.client.id)
        booking.cancel(db.session, client, db.session.get(Appointment, cancelled), now=NOW,
                       links=EMAIL_LINKS)
        db.session.commit()

    page = text(signed_in.get("/appointments/"))
    upcoming, past = page.split('id="past-heading"')
    assert upcoming.index("Wednesday 4 March") < upcoming.index("Thursday 5 March") \
        < upcoming.index("Friday 6 March")
    assert "30 minute massage · 30 minutes · £35" in upcoming
    assert "60 minute massage · 60 minutes · £55" in upcoming
    assert re.search(r"Friday 6 March.*?Cancelled", upcoming, re.S)
    assert upcoming.count(">Booked<") == 2
    assert f'href="/booking/{diary.services["60 minute massage"]}?reschedule={later}"' in upcoming
    assert f'href="/appointments/{sooner}/cancel"' in upcoming
    assert f'href="/appointments/{cancelled}/cancel"' not in upcoming
    assert "until Tuesday 3 March at 10:00" in upcoming  # 24 hours before Wednesday 10:00

    assert past.index("Mon 16 February 2026") < past.index("Mon 9 February 2026") \
        < past.index("Mon 2 February 2026")
    for label in ("Attended", "No-show", "Cancelled"):
        assert f">{label}<" in past


def test_empty_list_offers_booking(signed_in):
    page = text(signed_in.get("/appointments/"))
    assert "You have no sessions booked." in page
    assert 'href="/booking/"' in page
    assert 'id="past-heading"' not in page


def test_inside_the_window_the_list_explains_and_gives_the_contact(app, client, diary):
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    sign_in_at(app, client, diary.client, WEDNESDAY_10 - timedelta(hours=23))
    page = text(client.get("/appointments/"))
    assert f'href="/appointments/{mine}/cancel"' not in page
    assert "reschedule=" not in page
    assert "Online changes for this session have closed: they close 24 hours before" in page
    assert 'href="tel:02079460000">020 7946 0000</a>' in page
    assert 'href="mailto:desk@example.com">desk@example.com</a>' in page


def test_navigation_and_home_page_show_the_next_session(app, signed_in, diary):
    home = text(signed_in.get("/"))
    assert 'href="/booking/">Book</a>' in home and 'href="/appointments/">Appointments</a>' in home
    assert "You have no sessions booked." in home and "Book a session" in home
    assert "Today's programme" in home

    book_for(app, diary, diary.client.id, THURSDAY_14)
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    home = text(signed_in.get("/"))
    assert "Wednesday 4 March, 10:00" in home and "Thursday 5 March" not in home
    assert f'href="/appointments/{mine}/calendar.ics"' in home


def test_home_page_points_a_newcomer_to_the_questionnaire(app, client, make_client):
    set_clock(app, NOW)
    newcomer = make_client()
    assert login(client, newcomer.email).status_code == 302
    home = text(client.get("/"))
    assert "Start the questionnaire" in home
    assert 'href="/intake/?next=/booking/"' in home


# --- cancelling ---------------------------------------------------------------------------


def test_cancel_asks_first_then_cancels_and_emails(app, signed_in, diary):
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    page = text(signed_in.get(f"/appointments/{mine}/cancel"))
    assert "Cancel this session?" in page and "Wed 4 March 2026" in page
    assert "10:00 to 11:00" in page
    assert appointment(app, mine).status is AppointmentStatus.BOOKED  # GET changes nothing

    response = form_post(signed_in, f"/appointments/{mine}/cancel",
                         {"reason": "Away with work"})
    assert response.status_code == 302 and response.location == "/appointments/"
    listed = text(signed_in.get("/appointments/"))
    assert "Your 60 minute massage on Wednesday 4 March at 10:00 is cancelled." in listed
    cancelled = appointment(app, mine)
    assert cancelled.status is AppointmentStatus.CANCELLED
    assert cancelled.cancel_reason == "Away with work" and not cancelled.late_cancellation
    assert mail_kinds(app) == ["appointment_confirmed", "appointment_cancelled"]
    with app.app_context():
        mail = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())
                                  ).first()
        assert "METHOD:CANCEL" in mail.attachments[0]["data"]

    # The slot is free again, and a repeated POST changes nothing.
    week = text(signed_in.get(f"/booking/{cancelled.service_id}?week=2026-03-04"))
    assert "2026-03-04T10:00:00Z" in week
    token = csrf_from(listed)
    again = signed_in.post(f"/appointments/{mine}/cancel", data={"csrf_token": token})
    assert again.status_code == 302
    assert "That session is already cancelled." in text(signed_in.get("/appointments/"))
    assert mail_kinds(app) == ["appointment_confirmed", "appointment_cancelled"]


def test_cancel_inside_the_window_is_refused_with_the_explanation(app, client, diary):
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    sign_in_at(app, client, diary.client, WEDNESDAY_10 - timedelta(hours=23, minutes=59))
    url = f"/appointments/{mine}/cancel"
    for response in (client.get(url), form_post(client, "/appointments/", {}, action=url)):
        assert response.status_code == 403
        page = text(response)
        assert "This session can't be changed online" in page
        assert "Online changes close 24 hours before a session" in page
        assert "they closed on Tuesday 3 March at 10:00" in page
        assert "020 7946 0000" in page and "desk@example.com" in page
        assert "Nothing has been changed." in page
    assert appointment(app, mine).status is AppointmentStatus.BOOKED
    assert mail_kinds(app) == ["appointment_confirmed"]


def test_a_long_cancel_message_is_marked_on_its_field(app, signed_in, diary):
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    response = form_post(signed_in, f"/appointments/{mine}/cancel", {"reason": "x" * 2001})
    assert response.status_code == 200
    assert 'id="reason-error"' in response.get_data(as_text=True)
    assert appointment(app, mine).status is AppointmentStatus.BOOKED


def test_another_clients_appointment_is_not_found(app, signed_in, diary, make_client):
    other = make_client()
    complete_intake(app, other.id)
    theirs = book_for(app, diary, other.id, WEDNESDAY_10)
    token = csrf_from(signed_in.get("/appointments/").get_data(as_text=True))
    for url in (f"/appointments/{theirs}/cancel", f"/appointments/{theirs}/calendar.ics",
                "/appointments/99999/cancel", "/appointments/99999/calendar.ics"):
        assert signed_in.get(url).status_code == 404, url
    response = signed_in.post(f"/appointments/{theirs}/cancel", data={"csrf_token": token})
    assert response.status_code == 404
    assert appointment(app, theirs).status is AppointmentStatus.BOOKED
    assert "Wednesday 4 March" not in text(signed_in.get("/appointments/"))


# --- calendar files -----------------------------------------------------------------------


def test_ics_download_for_one_appointment(app, signed_in, diary):
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    response = signed_in.get(f"/appointments/{mine}/calendar.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="session-2026-03-04-1000.ics"'
    body = response.get_data(as_text=True)
    assert body.count("BEGIN:VEVENT") == 1
    assert f"UID:appointment-{mine}." in body
    assert "DTSTART;TZID=Europe/London:20260304T100000" in body


def feed_url(page: str) -> str:
    """The feed address shown on the account page, as a local path."""
    match = re.search(r'id="feed-url" type="url" value="https?://[^/"]+(/calendar/[^"]+\.ics)"',
                      page)
    assert match, "no feed address on the page"
    return match.group(1)


def test_calendar_feed_create_renew_and_turn_off(app, signed_in, diary):
    book_for(app, diary, diary.client.id, WEDNESDAY_10)
    book_for(app, diary, diary.client.id, THURSDAY_14)
    account = text(signed_in.get("/account/"))
    assert "Calendar feed" in account and "Create my calendar address" in account

    response = form_post(signed_in, "/account/", {}, action="/calendar/feed")
    assert response.status_code == 302 and response.location == "/account/#calendar-feed"
    account = text(signed_in.get("/account/"))
    assert "Your calendar address is ready" in account
    first = feed_url(account)
    assert f'href="webcal://localhost{first}"' in account

    # Calendar apps fetch it without a session.
    stranger = app.test_client()
    feed = stranger.get(first)
    assert feed.status_code == 200
    assert feed.headers["Content-Type"] == "text/calendar; charset=utf-8"
    body = feed.get_data(as_text=True)
    assert body.count("BEGIN:VEVENT") == 2 and "X-WR-CALNAME:Test Practice sessions" in body

    # Asking again keeps the same address.
    form_post(signed_in, "/account/", {}, action="/calendar/feed")
    assert feed_url(text(signed_in.get("/account/"))) == first

    form_post(signed_in, "/account/", {}, action="/calendar/feed/renew")
    account = text(signed_in.get("/account/"))
    assert "The old one no longer works" in account
    second = feed_url(account)
    assert second != first
    assert stranger.get(first).status_code == 404
    assert stranger.get(second).status_code == 200

    form_post(signed_in, "/account/", {}, action="/calendar/feed/off")
    account = text(signed_in.get("/account/"))
    assert "Your calendar feed is turned off" in account
    assert "Create my calendar address" in account
    assert stranger.get(second).status_code == 404


def test_feed_holds_only_the_owners_sessions_and_the_therapist_gets_the_diary(
        app, client, diary, make_client):
    other = make_client()
    complete_intake(app, other.id)
    book_for(app, diary, diary.client.id, WEDNESDAY_10)
    book_for(app, diary, other.id, THURSDAY_14)
    with app.app_context():
        from portal.services import calendar

        mine = calendar.feed_token(db.session, db.session.get(User, diary.client.id))
        therapists = calendar.feed_token(db.session, db.session.get(User, diary.therapist.id))
        db.session.commit()
    assert client.get(f"/calendar/{mine}.ics").get_data(as_text=True).count("BEGIN:VEVENT") == 1
    diary_feed = client.get(f"/calendar/{therapists}.ics").get_data(as_text=True)
    assert diary_feed.count("BEGIN:VEVENT") == 2 and "Alex Morgan" in diary_feed

    # The therapist's account page has the section too.
    set_clock(app, NOW)
    assert login(client, diary.therapist.email).status_code == 302
    page = text(client.get("/account/"))
    assert "Calendar feed" in page and "the whole diary" in page


@pytest.mark.parametrize("token", ["unknown", "x" * 43, "x" * 80, "", "a.b", "%F0%9F%98%80"])
def test_unknown_feed_token_is_not_found(client, practice, token):
    assert client.get(f"/calendar/{token}.ics").status_code == 404


@pytest.mark.parametrize("token", ["%00", "a%00" * 10])
def test_a_nul_character_in_a_feed_token_is_a_bad_request(client, practice, token):
    """PostgreSQL cannot compare text containing NUL, so such input is refused up front."""
    assert client.get(f"/calendar/{token}.ics").status_code == 400
