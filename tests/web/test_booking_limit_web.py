"""A client who already holds the practice's most upcoming sessions is told so on the
booking pages, with the numbers and what to do, and a post books nothing; moving a session
still works, and the therapist books for them as before."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Practice
from tests.conftest import form_post, login, sign_in_directly
from tests.web.test_booking_web import (
    NOW,
    TUESDAY_9,
    WEDNESDAY_10,
    appointments_of,
    book_for,
    counts,
    post_confirm,
    set_clock,
    text,
)
from tests.web.test_diary_web import book_page, booking_form

THURSDAY_10 = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
FRIDAY_10 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
MESSAGE = ("You already have 2 upcoming sessions booked, and clients can hold up to 2 at a time "
           "when booking online. To book another, move or cancel one of them, or contact the "
           "practice.")


@pytest.fixture
def booker(app, client, diary):
    """The diary's client (questionnaire done), signed in, with the clock at NOW."""
    set_clock(app, NOW)
    sign_in_directly(client, diary.client)
    return client


@pytest.fixture
def sixty(diary) -> int:
    """The 60 minute massage's id."""
    return diary.services["60 minute massage"]


def set_limit(app, limit: int) -> None:
    with app.app_context():
        db.session.scalar(sa.select(Practice)).max_upcoming_per_client = limit
        db.session.commit()


def at_the_limit(app, diary) -> list[int]:
    """The practice allows two; the diary's client holds two (Wednesday and Thursday)."""
    set_limit(app, 2)
    return [book_for(app, diary, diary.client.id, start) for start in (WEDNESDAY_10, THURSDAY_10)]


def assert_refusal_page(response, *, status: int = 409) -> str:
    assert response.status_code == status
    page = text(response)
    assert MESSAGE in page
    assert 'href="/appointments/">See your appointments</a>' in page
    assert 'href="tel:02079460000"' in page and 'href="mailto:desk@example.com"' in page
    return page


def test_at_the_limit_the_booking_pages_say_so_and_offer_no_times(app, booker, diary, sixty):
    at_the_limit(app, diary)

    services = assert_refusal_page(booker.get("/booking/"), status=200)
    assert "Choose a treatment" not in services and f'href="/booking/{sixty}"' not in services

    week = assert_refusal_page(booker.get(f"/booking/{sixty}"))
    assert "You can't book another session online yet" in week
    assert "Nothing has been booked." in week
    assert 'class="slot"' not in week

    confirm = assert_refusal_page(booker.get(f"/booking/{sixty}/confirm?start={TUESDAY_9}"))
    assert "Book this session" not in confirm


def test_at_the_limit_a_post_is_refused_and_writes_nothing(app, booker, diary, sixty):
    at_the_limit(app, diary)
    before = counts(app)
    page = assert_refusal_page(post_confirm(booker, sixty, TUESDAY_9, note="Left calf"))
    assert "Nothing has been booked." in page
    assert counts(app) == before
    assert len(appointments_of(app, diary.client.id)) == 2


def test_below_the_limit_the_client_books_as_usual(app, booker, diary, sixty):
    set_limit(app, 2)
    book_for(app, diary, diary.client.id, WEDNESDAY_10)
    assert "Choose a treatment" in text(booker.get("/booking/"))
    assert booker.get(f"/booking/{sixty}").status_code == 200
    response = post_confirm(booker, sixty, TUESDAY_9)
    assert response.status_code == 302 and response.location == "/appointments/"
    assert len(appointments_of(app, diary.client.id)) == 2
    # That was the last place: the next attempt is refused.
    assert_refusal_page(booker.get(f"/booking/{sixty}"))


def test_the_second_click_of_the_last_booking_allowed_says_it_is_booked(app, booker, diary,
                                                                        sixty):
    set_limit(app, 2)
    book_for(app, diary, diary.client.id, WEDNESDAY_10)
    assert post_confirm(booker, sixty, TUESDAY_9).status_code == 302
    again = post_confirm(booker, sixty, TUESDAY_9)
    assert again.status_code == 302 and again.location == "/appointments/"
    assert "You already booked this session." in text(booker.get("/appointments/"))
    assert counts(app) == (2, 2)


def test_at_the_limit_a_session_can_still_be_moved(app, booker, diary, sixty):
    wednesday, _ = at_the_limit(app, diary)
    page = text(booker.get(f"/booking/{sixty}?reschedule={wednesday}"))
    assert "Move your session" in page and MESSAGE not in page
    response = post_confirm(booker, sixty, "2026-03-04T14:00:00Z",
                            query=f"?reschedule={wednesday}")
    assert response.status_code == 302
    moved = {a.id: a.starts_at for a in appointments_of(app, diary.client.id)}
    assert moved[wednesday] == datetime(2026, 3, 4, 14, 0, tzinfo=UTC)
    assert len(moved) == 2


def test_a_cancelled_session_frees_a_place(app, booker, diary, sixty):
    wednesday, _ = at_the_limit(app, diary)
    assert form_post(booker, f"/appointments/{wednesday}/cancel", {}).status_code == 302
    assert booker.get(f"/booking/{sixty}").status_code == 200
    assert post_confirm(booker, sixty, TUESDAY_9).status_code == 302


def test_the_therapist_books_a_client_who_is_at_the_limit(app, client, diary):
    at_the_limit(app, diary)
    set_clock(app, NOW)
    assert login(client, diary.therapist.email).status_code == 302
    response = form_post(client, book_page(diary, day="2026-03-06"),
                         booking_form(diary, day="2026-03-06", start=FRIDAY_10.isoformat()),
                         action="/diary/book", follow_redirects=True)
    assert re.search(r"Booked Alex Morgan for 60 minute massage on Friday 6 March at 10:00",
                     text(response))
    assert len(appointments_of(app, diary.client.id)) == 3
