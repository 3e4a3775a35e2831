"""Emails not delivered (/settings/emails): the therapist sees each one with the reason and
only what they need, sends it again (audited) and it goes out once; the dashboard and the
settings page say how many there are."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage, OutboxStatus
from portal.services import outbox
from portal.services.emails import Email
from tests.conftest import csrf_from, login
from tests.web.test_diary_days_web import text

PAGE = "/settings/emails"
# Monday 2 March 2026, 09:00 UTC: 09:00 in London (GMT).
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REFUSED = "The mail server refused this address for good: 550 5.1.1 no such user"


def add_email(app, *, status=OutboxStatus.FAILED, to="alex@exmaple.com",
              subject="Booked: 60 min sports massage on Tuesday 3 March at 10:00",
              reason=REFUSED, attempts=1, created=NOW - timedelta(days=1)) -> int:
    """One email in the outbox, with a body no list should show; returns its id."""
    with app.app_context():
        row = outbox.queue(db.session, to=to, now=created, kind="appointment_confirmed",
                           email=Email(subject, "Your notes: sore left hamstring.\n",
                                       "<p>Your notes: sore left hamstring.</p>"))
        row.status, row.attempts, row.last_error = status, attempts, reason
        db.session.commit()
        return row.id


def stored(app, row_id: int) -> OutboxMessage:
    with app.app_context():
        row = db.session.get(OutboxMessage, row_id)
        db.session.expunge(row)
        return row


@pytest.fixture
def jo(app, as_therapist):
    """The therapist, signed in, at NOW."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    return as_therapist


def test_the_therapist_sees_each_undelivered_email_and_why(app, jo):
    add_email(app, attempts=1)
    add_email(app, to="sam@example.com", subject="Reminder: 30 min sports massage",
              attempts=172, created=NOW - timedelta(days=8),
              reason="Not delivered in 7 days of trying. Last error: Could not reach the mail "
                     "server: ConnectionRefusedError: [Errno 111] Connection refused")
    add_email(app, status=OutboxStatus.PENDING, to="kim@example.com", subject="Still trying")
    add_email(app, status=OutboxStatus.SENT, to="lee@example.com", subject="Went out fine")

    response = jo.get(PAGE)

    assert response.status_code == 200
    page = text(response)
    assert "<h1>Emails not delivered</h1>" in page
    cards = re.findall(r'<li class="card mail-list__item">(.*?)</li>', page, re.S)
    assert len(cards) == 2
    newest, oldest = (re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)) for c in cards)
    assert "Booked: 60 min sports massage on Tuesday 3 March at 10:00" in newest
    assert "To alex@exmaple.com" in newest
    assert "Written Sun 1 March 2026, 09:00" in newest
    assert "Attempts 1" in newest
    assert f"Why: {REFUSED}" in newest
    assert "Reminder: 30 min sports massage" in oldest and "Attempts 172" in oldest
    assert "Not delivered in 7 days of trying" in oldest
    # Only what the therapist needs: never the body, nor emails still being tried or sent.
    assert "hamstring" not in page
    assert "Still trying" not in page and "Went out fine" not in page
    assert page.count('value="Send again"') == 0 and page.count(">Send again") == 2


def test_nothing_undelivered_says_so(app, jo):
    page = text(jo.get(PAGE))
    assert "Every email has been delivered or is still being tried." in page
    assert "Send again" not in page


def test_clients_and_strangers_cannot_open_it(app, client, make_client):
    row_id = add_email(app)
    stranger = client.get(PAGE)
    assert stranger.status_code == 302 and "/auth/login" in stranger.location
    alex = make_client()
    assert login(client, alex.email).status_code == 302
    assert client.get(PAGE).status_code == 403
    token = csrf_from(text(client.get("/account/")))
    refused = client.post(f"{PAGE}/{row_id}/send-again", data={"csrf_token": token})
    assert refused.status_code == 403
    assert stored(app, row_id).status is OutboxStatus.FAILED


def test_send_again_requeues_it_once_audited_and_it_is_delivered_once(app, jo):
    row_id = add_email(app, attempts=3)
    jo.environ_base["REMOTE_ADDR"] = "203.0.113.10"
    token = csrf_from(text(jo.get(PAGE)))

    response = jo.post(f"{PAGE}/{row_id}/send-again", data={"csrf_token": token},
                       follow_redirects=True)

    page = text(response)
    assert response.request.path == PAGE
    assert ("The email to alex@exmaple.com is back in the queue and will be sent in a moment."
            in page)
    assert "Every email has been delivered or is still being tried." in page
    row = stored(app, row_id)
    assert (row.status, row.attempts, row.next_attempt_at, row.requeued_at) == (
        OutboxStatus.PENDING, 0, NOW, NOW)
    with app.app_context():
        [event] = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "email.sent_again")).all()
        assert (event.actor_id, event.ip, event.at) == (jo.user.id, "203.0.113.10", NOW)
        assert event.details == {"email_id": row_id, "kind": "appointment_confirmed"}

    # A second click, from a page still showing the button, sends nothing more.
    again = jo.post(f"{PAGE}/{row_id}/send-again", data={"csrf_token": token},
                    follow_redirects=True)
    assert "already back in the queue, or has been sent" in text(again)

    sent = []

    class Recording:
        def send(self, message):
            sent.append(message)

    with app.app_context():
        for minutes in (0, 60):
            outbox.deliver_pending(db.session, Recording(), sender="desk@example.com",
                                   worker="test", clock=lambda m=minutes: NOW + timedelta(
                                       minutes=m), retry_for=timedelta(days=7))
    assert [(m["To"], m["Subject"]) for m in sent] == [
        ("alex@exmaple.com", "Booked: 60 min sports massage on Tuesday 3 March at 10:00")]
    assert stored(app, row_id).status is OutboxStatus.SENT


def test_send_again_for_an_unknown_email_is_not_found(app, jo):
    token = csrf_from(text(jo.get(PAGE)))
    assert jo.post(f"{PAGE}/999999/send-again", data={"csrf_token": token}).status_code == 404


def test_dashboard_and_settings_say_how_many_were_not_delivered(app, jo):
    assert "not delivered" not in text(jo.get("/dashboard/"))
    settings = text(jo.get("/settings/"))
    assert "Every email has been delivered or is still being tried." in settings
    assert f'href="{PAGE}"' in settings

    add_email(app)
    add_email(app, to="sam@example.com")

    dashboard = text(jo.get("/dashboard/"))
    assert re.search(rf'<a href="{PAGE}">2 emails not delivered</a>', dashboard)
    assert re.search(rf'<a href="{PAGE}">2 emails could not be delivered</a>: see why, and '
                     "send them again.", text(jo.get("/settings/")))
