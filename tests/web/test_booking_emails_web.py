"""The booking emails link to where the client acts next: the booked and moved emails to the
appointment on "Your appointments" (where it is moved or cancelled), the cancelled email to
the free times of the same service. Each link is absolute, in both the text and the HTML part,
and opens the right page for the client it was sent to."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import sqlalchemy as sa

from portal.extensions import db
from portal.models import OutboxMessage, Service
from portal.services import reminders
from tests.conftest import TEST_PASSWORD, csrf_from, form_post, link_in, login
from tests.web.test_booking_web import (
    NOW,
    TUESDAY_9,
    WEDNESDAY_10,
    appointments_of,
    book_for,
    post_confirm,
    set_clock,
)
from tests.web.test_diary_web import book_page, booking_form


def text(response) -> str:
    """The response body as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def last_mail(app, kind: str) -> OutboxMessage:
    """The newest queued email of a kind."""
    with app.app_context():
        mail = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind)
                                  .order_by(OutboxMessage.id.desc())).first()
        assert mail is not None, f"no {kind} email"
        db.session.expunge(mail)
        return mail


def assert_links_to(mail: OutboxMessage, path: str) -> str:
    """Both parts carry the same absolute link to `path`; returns it as a local path."""
    absolute = f"http://localhost{path}"
    assert absolute in mail.text_body.split(), mail.text_body
    assert f'href="{absolute}"' in mail.html_body
    return link_in(mail.text_body, path)


def signed_in_client(app, diary):
    """A second browser, signed in as the diary's client (the one the emails go to)."""
    browser = app.test_client()
    assert login(browser, diary.client.email).status_code == 302
    return browser


def test_the_booked_email_links_to_the_appointment_and_the_link_opens_it(app, client, diary):
    set_clock(app, NOW)
    sixty = diary.services["60 minute massage"]
    assert login(client, diary.client.email).status_code == 302
    assert post_confirm(client, sixty, TUESDAY_9).status_code == 302
    [booked] = appointments_of(app, diary.client.id)

    mail = last_mail(app, "appointment_confirmed")
    path = assert_links_to(mail, f"/appointments/#appointment-{booked.id}")
    assert "Move or cancel your booking here:" in mail.text_body
    assert "Move or cancel your booking</a>" in mail.html_body
    assert "until Monday 2 March at 09:00" in mail.text_body
    assert "Price: £55\n\nThe attached calendar file" in mail.text_body  # paragraphs apart

    page = client.get(path)
    assert page.status_code == 200
    shown = text(page)
    card = shown.split(f'id="appointment-{booked.id}"', 1)[1].split("</li>", 1)[0]
    assert "Tuesday 3 March" in card and "09:00" in card and "60 minute massage" in card
    assert f"reschedule={booked.id}" in card and f"/appointments/{booked.id}/cancel" in card


def test_signed_out_the_link_asks_to_sign_in_and_comes_back(app, client, diary):
    set_clock(app, NOW)
    booked = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    path = link_in(last_mail(app, "appointment_confirmed").text_body, "/appointments/")
    response = client.get(path)
    assert response.status_code == 302
    assert response.location == "/auth/login?next=%2Fappointments%2F"
    form = text(client.get(response.location))
    assert 'name="next" type="hidden" value="/appointments/"' in form
    landing = client.post(response.location, data={
        "csrf_token": csrf_from(form), "next": "/appointments/", "email": diary.client.email,
        "password": TEST_PASSWORD})
    assert landing.location == "/appointments/"
    assert f'id="appointment-{booked}"' in text(client.get(landing.location))


def test_the_moved_email_links_to_the_appointment_at_its_new_time(app, client, diary):
    set_clock(app, NOW)
    sixty = diary.services["60 minute massage"]
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    assert login(client, diary.client.email).status_code == 302
    response = post_confirm(client, sixty, "2026-03-05T14:00:00Z", query=f"?reschedule={mine}")
    assert response.status_code == 302

    mail = last_mail(app, "appointment_rescheduled")
    path = assert_links_to(mail, f"/appointments/#appointment-{mine}")
    assert "until Wednesday 4 March at 14:00" in mail.text_body
    card = text(client.get(path)).split(f'id="appointment-{mine}"', 1)[1].split("</li>", 1)[0]
    assert "Thursday 5 March" in card and "14:00" in card


def test_the_cancelled_email_links_to_booking_the_same_service_again(app, client, diary):
    set_clock(app, NOW)
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    assert login(client, diary.client.email).status_code == 302
    assert form_post(client, f"/appointments/{mine}/cancel", {}).status_code == 302

    sixty = diary.services["60 minute massage"]
    mail = last_mail(app, "appointment_cancelled")
    path = assert_links_to(mail, f"/booking/{sixty}")
    assert "Book another time</a>" in mail.html_body
    assert "Price: £55\n\nThe attached calendar file" in mail.text_body
    page = client.get(path)
    assert page.status_code == 200
    shown = text(page)
    assert "60 minute massage" in shown and "2026-03-04T10:00:00Z" in shown  # free again


def test_a_service_no_longer_offered_links_to_the_list_of_services(app, client, diary):
    set_clock(app, NOW)
    mine = book_for(app, diary, diary.client.id, WEDNESDAY_10)
    with app.app_context():
        db.session.get(Service, diary.services["60 minute massage"]).active = False
        db.session.commit()
    assert login(client, diary.client.email).status_code == 302
    assert form_post(client, f"/appointments/{mine}/cancel", {}).status_code == 302
    path = assert_links_to(last_mail(app, "appointment_cancelled"), "/booking/")
    assert path == "/booking/"
    assert client.get(path).status_code == 200


def test_emails_from_the_diary_carry_the_same_links(app, client, diary):
    """The therapist books, moves and cancels; each email is for the client, and the links
    open the client's pages (the therapist gets no email, so there is no diary link)."""
    set_clock(app, NOW)
    assert login(client, diary.therapist.email).status_code == 302
    sixty = diary.services["60 minute massage"]
    # Booked an hour ahead, inside the client's window: the email says changes are closed.
    response = form_post(client, book_page(diary, day="2026-03-02"),
                         booking_form(diary, day="2026-03-02",
                                      start="2026-03-02T09:00:00+00:00"),
                         action="/diary/book")
    assert response.status_code == 302
    [booked] = appointments_of(app, diary.client.id)
    mail = last_mail(app, "appointment_confirmed")
    assert mail.to_addr == diary.client.email
    path = assert_links_to(mail, f"/appointments/#appointment-{booked.id}")
    assert "Online changes for this session have closed" in mail.text_body
    assert "See your booking here:" in mail.text_body and "See your booking</a>" in mail.html_body
    assert "until" not in mail.text_body.split("Price:")[1]

    browser = signed_in_client(app, diary)
    assert f'id="appointment-{booked.id}"' in text(browser.get(path))

    url = f"/diary/appointments/{booked.id}/reschedule?day=2026-03-06"
    assert form_post(client, url, {"start": "2026-03-06T15:00:00+00:00"}).status_code == 302
    moved = last_mail(app, "appointment_rescheduled")
    path = assert_links_to(moved, f"/appointments/#appointment-{booked.id}")
    assert "until Thursday 5 March at 15:00" in moved.text_body
    card = text(browser.get(path)).split(f'id="appointment-{booked.id}"', 1)[1]
    assert "Friday 6 March" in card.split("</li>", 1)[0]

    url = f"/diary/appointments/{booked.id}/cancel"
    assert form_post(client, url, {"message": "Unwell, sorry"}).status_code == 302
    path = assert_links_to(last_mail(app, "appointment_cancelled"), f"/booking/{sixty}")
    assert browser.get(path).status_code == 200


def test_the_reminder_has_no_link_and_still_goes(app, diary):
    """The reminder duty runs without a request, so it has no site address; its email
    never needed one (changes have usually closed by then)."""
    set_clock(app, NOW)
    book_for(app, diary, diary.client.id, datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    with app.app_context():
        assert reminders.queue_due(db.session, now=datetime(2026, 3, 2, 10, 0, tzinfo=UTC)) == 1
        db.session.commit()
    mail = last_mail(app, "appointment_reminder")
    assert "http" not in mail.text_body
