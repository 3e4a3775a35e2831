"""The agenda pages through the test client: who may see them, the pre-session summary,
marking attended or no-show, private notes (nothing written on bad input), audit rows, the
query count at N and 10N appointments, and a clock-change day."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus, AuditEvent, Service, SessionNote
from tests.conftest import csrf_from, login

# Wednesday 4 March 2026, noon in London (GMT).
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def text(response) -> str:
    """The response body as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def count(app, model, *where) -> int:
    """Rows of a model matching the conditions."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def add_appointment(app, diary, starts_at, *, client_id=None, note="Sore left shoulder",
                    status=AppointmentStatus.BOOKED) -> int:
    """An appointment row straight into the table; returns its id."""
    with app.app_context():
        service = db.session.get(Service, diary.services["60 minute massage"])
        ends_at = starts_at + timedelta(minutes=60)
        appointment = Appointment(
            client_id=client_id or diary.client.id, therapist_id=diary.therapist.id,
            service_id=service.id, starts_at=starts_at, ends_at=ends_at,
            blocked_until=ends_at + timedelta(minutes=15), status=status,
            price_pence=service.price_pence, booked_by_id=diary.therapist.id,
            client_note=note, created_at=NOW - timedelta(days=9),
            updated_at=NOW - timedelta(days=9))
        db.session.add(appointment)
        db.session.commit()
        return appointment.id


def status_of(app, appointment_id) -> AppointmentStatus:
    """The stored status of an appointment."""
    with app.app_context():
        return db.session.get(Appointment, appointment_id).status


@pytest.fixture
def jo(app, client, diary):
    """A test client signed in as the diary's therapist, with the clock at NOW."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    assert login(client, diary.therapist.email).status_code == 302
    client.diary = diary
    return client


def post_from_agenda(client, action, data=None, page="/diary/agenda"):
    """POST an agenda form with the page's CSRF token."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **(data or {})})


def test_clients_are_refused(app, client, diary):
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    assert login(client, diary.client.email).status_code == 302
    assert client.get("/diary/agenda").status_code == 403
    assert client.post(f"/diary/agenda/appointments/{appointment_id}/attended").status_code == 403
    assert client.post(f"/diary/agenda/appointments/{appointment_id}/notes",
                       data={"body": "x"}).status_code == 403
    assert status_of(app, appointment_id) is AppointmentStatus.BOOKED
    assert count(app, SessionNote) == 0


def test_strangers_are_sent_to_log_in(client, diary):
    response = client.get("/diary/agenda")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_today_shows_each_session_with_its_summary(app, jo, diary):
    add_appointment(app, diary, NOW + timedelta(hours=3))
    page = text(jo.get("/diary/agenda"))
    assert "Alex Morgan" in page and "60 minute massage" in page and "15:00" in page
    assert "Sore left shoulder" in page and "No programme yet" in page
    assert "Pain reports to review" in page and "Questionnaire red flags" in page
    assert "Reschedule" in page and "Cancel" in page
    # Not started: no attended button yet.
    assert ">Attended<" not in page


@pytest.mark.parametrize("query", ["?day=nonsense", "?day=2026-02-30&view=month",
                                   "?day=" + "9" * 300, "?view=week"])
def test_odd_query_strings_fall_back_to_today(jo, query):
    response = jo.get("/diary/agenda" + query)
    assert response.status_code == 200
    assert 'name="day" value="2026-03-04"' in text(response)


def test_week_view_and_navigation_links(app, jo, diary):
    add_appointment(app, diary, datetime(2026, 3, 6, 10, tzinfo=UTC))
    page = text(jo.get("/diary/agenda?day=2026-03-04&view=week"))
    assert "Alex Morgan" in page
    assert "day=2026-02-25&view=week" in page and "day=2026-03-11&view=week" in page
    assert 'type="date"' in page and 'value="2026-03-04"' in page
    day = text(jo.get("/diary/agenda?day=2026-03-04"))
    assert "Alex Morgan" not in day
    assert "day=2026-03-03&view=day" in day and "day=2026-03-05&view=day" in day


@pytest.mark.parametrize("view", ["day", "week"])
def test_a_clock_change_day_renders(app, jo, diary, view):
    # Sunday 29 March 2026: 09:30 UTC is 10:30 BST.
    add_appointment(app, diary, datetime(2026, 3, 29, 9, 30, tzinfo=UTC))
    response = jo.get(f"/diary/agenda?day=2026-03-29&view={view}")
    assert response.status_code == 200
    page = text(response)
    assert "Sunday 29 March" in page and "10:30" in page and "Alex Morgan" in page


def test_mark_attended_then_refused_again(app, jo, diary):
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    assert ">Attended<" in text(jo.get("/diary/agenda"))
    response = post_from_agenda(jo, f"/diary/agenda/appointments/{appointment_id}/attended"
                                    "?day=2026-03-04&view=day")
    assert response.status_code == 302
    assert "/diary/agenda?day=2026-03-04&view=day" in response.headers["Location"]
    assert status_of(app, appointment_id) is AppointmentStatus.ATTENDED
    assert count(app, AuditEvent, AuditEvent.action == "appointment.attended") == 1
    page = text(jo.get(response.headers["Location"]))
    assert "as attended" in page
    again = post_from_agenda(jo, f"/diary/agenda/appointments/{appointment_id}/no-show")
    assert again.status_code == 302
    assert "already marked attended" in text(jo.get(again.headers["Location"]))
    assert status_of(app, appointment_id) is AppointmentStatus.ATTENDED
    assert count(app, AuditEvent, AuditEvent.action == "appointment.no_show") == 0


def test_no_show_before_the_start_is_refused_with_a_message(app, jo, diary):
    appointment_id = add_appointment(app, diary, NOW + timedelta(hours=2))
    response = post_from_agenda(jo, f"/diary/agenda/appointments/{appointment_id}/no-show")
    assert "hasn't started yet" in text(jo.get(response.headers["Location"]))
    assert status_of(app, appointment_id) is AppointmentStatus.BOOKED
    assert count(app, AuditEvent, AuditEvent.action.like("appointment.%")) == 0


def test_actions_need_a_csrf_token(app, jo, diary):
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    jo.post(f"/diary/agenda/appointments/{appointment_id}/no-show")
    jo.post(f"/diary/agenda/appointments/{appointment_id}/notes", data={"body": "x"})
    assert status_of(app, appointment_id) is AppointmentStatus.BOOKED
    assert count(app, SessionNote) == 0


def test_unknown_appointment_is_404(jo):
    assert post_from_agenda(jo, "/diary/agenda/appointments/999999/attended").status_code == 404


def test_a_note_is_saved_shown_and_audited(app, jo, diary):
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    response = post_from_agenda(jo, f"/diary/agenda/appointments/{appointment_id}/notes",
                                {"body": "Shoulder <b>much</b> better."})
    assert response.status_code == 302
    raw = jo.get(response.headers["Location"]).get_data(as_text=True)
    assert "Shoulder &lt;b&gt;much&lt;/b&gt; better." in raw
    assert count(app, SessionNote, SessionNote.appointment_id == appointment_id) == 1
    assert count(app, AuditEvent, AuditEvent.action == "session_note.added") == 1


@pytest.mark.parametrize("body, message", [
    ("", "Write the note before saving it."),
    ("   ", "Write the note before saving it."),
    ("x" * 5001, "Use at most 5,000 characters."),
])
def test_bad_notes_show_a_message_and_write_nothing(app, jo, diary, body, message):
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    response = post_from_agenda(jo, f"/diary/agenda/appointments/{appointment_id}/notes",
                                {"body": body})
    assert response.status_code == 200
    page = text(response)
    assert message in page and f'id="note-{appointment_id}-error"' in page
    assert count(app, SessionNote) == 0
    assert count(app, AuditEvent, AuditEvent.action == "session_note.added") == 0


def test_the_diary_and_dashboard_link_to_the_agenda(jo):
    assert 'href="/diary/agenda"' in jo.get("/diary/").get_data(as_text=True)
    assert 'href="/diary/agenda"' in jo.get("/dashboard/").get_data(as_text=True)


def queries_for(app, client, url) -> int:
    """How many SQL statements one GET runs."""
    seen: list[str] = []

    def counter(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", counter)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", counter)
    return len(seen)


@pytest.mark.parametrize("n", [3])
def test_the_page_runs_a_fixed_number_of_queries_at_n_and_10n(app, jo, diary, make_client, n):
    def fill(first, last):
        for i in range(first, last):
            client_id = make_client(name=f"Client {i:03}", password=None).id
            start = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=75 * i)
            appointment_id = add_appointment(app, diary, start, client_id=client_id)
            with app.app_context():
                db.session.add(SessionNote(appointment_id=appointment_id,
                                           author_id=diary.therapist.id, body=f"n{i}",
                                           created_at=NOW))
                db.session.commit()

    url = "/diary/agenda?day=2026-03-04&view=week"
    fill(0, n)
    small = queries_for(app, jo, url)
    fill(n, 10 * n)
    large = queries_for(app, jo, url)
    assert text(jo.get(url)).count('name="body"') == 10 * n
    assert small == large
