"""The diary's day, week and month pages through the test client: who may see them, the
pre-session summary, marking attended or no-show, private notes (nothing written on bad
input), audit rows, the query count at N and 10N appointments, and a clock-change day."""

from __future__ import annotations

import html
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus, AuditEvent, Service, SessionNote
from tests.conftest import csrf_from, login, sign_in_directly

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
    sign_in_directly(client, diary.therapist)
    client.diary = diary
    return client


def post_from_days(client, action, data=None, page="/diary/days"):
    """POST a diary days form with the page's CSRF token."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **(data or {})})


class ControlNames(HTMLParser):
    """The accessible name of every button, disclosure (<summary>) and link, as a screen
    reader lists them: aria-label, else the text inside, hidden text included and
    aria-hidden text left out. Links come with where they lead."""

    KINDS = ("button", "summary", "a")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.controls: list[tuple[str, str, str | None]] = []
        self.open: list[list] = []  # [kind, label, href, text parts]
        self.hidden: list[str] = []  # tags of open aria-hidden elements

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("aria-hidden") == "true":
            self.hidden.append(tag)
        if tag in self.KINDS and (tag != "a" or "href" in a):
            self.open.append([tag, a.get("aria-label"), a.get("href"), []])

    def handle_endtag(self, tag):
        if self.hidden and self.hidden[-1] == tag:
            self.hidden.pop()
        if self.open and self.open[-1][0] == tag:
            kind, label, href, parts = self.open.pop()
            self.controls.append((kind, label or " ".join("".join(parts).split()), href))

    def handle_data(self, data):
        if self.open and not self.hidden:
            self.open[-1][3].append(data)


def control_names(response) -> list[tuple[str, str, str | None]]:
    """(kind, accessible name, href) for each control on the page."""
    reader = ControlNames()
    reader.feed(response.get_data(as_text=True))
    return reader.controls


def test_clients_are_refused(app, client, diary):
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    assert login(client, diary.client.email).status_code == 302
    assert client.get("/diary/days").status_code == 403
    assert client.post(f"/diary/appointments/{appointment_id}/attended").status_code == 403
    assert client.post(f"/diary/appointments/{appointment_id}/notes",
                       data={"body": "x"}).status_code == 403
    assert status_of(app, appointment_id) is AppointmentStatus.BOOKED
    assert count(app, SessionNote) == 0


def test_strangers_are_sent_to_log_in(client, diary):
    response = client.get("/diary/days")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_today_shows_each_session_with_its_summary(app, jo, diary):
    add_appointment(app, diary, NOW + timedelta(hours=3))
    page = text(jo.get("/diary/days"))
    assert "Alex Morgan" in page and "60 minute massage" in page and "15:00" in page
    assert "Sore left shoulder" in page and "No programme yet" in page
    assert "Pain reports to review" in page and "Questionnaire red flags" in page
    assert "Reschedule" in page and "Cancel" in page
    # Not started: no attended button yet.
    assert ">Attended<" not in page


@pytest.mark.parametrize("query", ["?day=nonsense", "?day=2026-02-30&view=month",
                                   "?day=" + "9" * 300, "?view=week", "?view=month",
                                   "?day=9999-12-31", "?day=9999-12-31&view=month",
                                   "?day=0001-01-01&view=week", "?day=2026-13-01&view=month",
                                   "?view=year", "?view=" + "m" * 300])
def test_odd_query_strings_fall_back_to_today(jo, query):
    response = jo.get("/diary/days" + query)
    assert response.status_code == 200
    assert 'name="day" value="2026-03-04"' in text(response)


@pytest.mark.parametrize("view", ["year", "", "MONTH"])
def test_an_odd_view_falls_back_to_the_day(jo, view):
    page = text(jo.get(f"/diary/days?day=2026-03-10&view={view}"))
    assert 'name="view" value="day"' in page and "Tuesday 10 March" in page
    assert 'class="month"' not in page


def test_week_view_and_navigation_links(app, jo, diary):
    add_appointment(app, diary, datetime(2026, 3, 6, 10, tzinfo=UTC))
    page = text(jo.get("/diary/days?day=2026-03-04&view=week"))
    assert "Alex Morgan" in page
    assert "day=2026-02-25&view=week" in page and "day=2026-03-11&view=week" in page
    assert 'type="date"' in page and 'value="2026-03-04"' in page
    day = text(jo.get("/diary/days?day=2026-03-04"))
    assert "Alex Morgan" not in day
    assert "day=2026-03-03&view=day" in day and "day=2026-03-05&view=day" in day


def test_every_control_in_a_week_says_which_session_it_is_for(app, jo, diary):
    # Alex at 14:00 on four days: two sessions to mark (Monday and Tuesday, past) and two to
    # move or cancel (Thursday and Friday).
    for day in (2, 3, 5, 6):
        add_appointment(app, diary, datetime(2026, 3, day, 14, tzinfo=UTC))
    controls = control_names(jo.get("/diary/days?day=2026-03-04&view=week"))
    buttons = [name for kind, name, _ in controls if kind != "a"]
    assert len(buttons) == len(set(buttons)), sorted(buttons)
    for name in ("Attended Alex Morgan, Monday 2 March at 14:00",
                 "No-show Alex Morgan, Tuesday 3 March at 14:00",
                 "Save note for Alex Morgan, Tuesday 3 March at 14:00",
                 "Add a private note for Alex Morgan, Friday 6 March at 14:00"):
        assert name in buttons
    # A link's name is enough to know where it leads: one name, one address.
    addresses = defaultdict(set)
    for kind, name, href in controls:
        if kind == "a":
            addresses[name].add(href)
    assert {name: hrefs for name, hrefs in addresses.items() if len(hrefs) > 1} == {}
    assert "Reschedule Alex Morgan, Thursday 5 March at 14:00" in addresses
    # A day has one 14:00: the day's heading says which day, the names stay short.
    day = [name for kind, name, _ in control_names(jo.get("/diary/days?day=2026-03-02"))
           if kind == "button"]
    assert "Attended Alex Morgan at 14:00" in day


@pytest.mark.parametrize("view", ["day", "week"])
def test_a_clock_change_day_renders(app, jo, diary, view):
    # Sunday 29 March 2026: 09:30 UTC is 10:30 BST.
    add_appointment(app, diary, datetime(2026, 3, 29, 9, 30, tzinfo=UTC))
    response = jo.get(f"/diary/days?day=2026-03-29&view={view}")
    assert response.status_code == 200
    page = text(response)
    assert "Sunday 29 March" in page and "10:30" in page and "Alex Morgan" in page


def test_mark_attended_then_refused_again(app, jo, diary):
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    assert ">Attended<" in text(jo.get("/diary/days"))
    response = post_from_days(jo, f"/diary/appointments/{appointment_id}/attended"
                                    "?day=2026-03-04&view=day")
    assert response.status_code == 302
    assert "/diary/days?day=2026-03-04&view=day" in response.headers["Location"]
    assert status_of(app, appointment_id) is AppointmentStatus.ATTENDED
    assert count(app, AuditEvent, AuditEvent.action == "appointment.attended") == 1
    page = text(jo.get(response.headers["Location"]))
    assert "as attended" in page
    again = post_from_days(jo, f"/diary/appointments/{appointment_id}/no-show")
    assert again.status_code == 302
    assert "already marked attended" in text(jo.get(again.headers["Location"]))
    assert status_of(app, appointment_id) is AppointmentStatus.ATTENDED
    assert count(app, AuditEvent, AuditEvent.action == "appointment.no_show") == 0


def test_no_show_before_the_start_is_refused_with_a_message(app, jo, diary):
    appointment_id = add_appointment(app, diary, NOW + timedelta(hours=2))
    response = post_from_days(jo, f"/diary/appointments/{appointment_id}/no-show")
    assert "hasn't started yet" in text(jo.get(response.headers["Location"]))
    assert status_of(app, appointment_id) is AppointmentStatus.BOOKED
    assert count(app, AuditEvent, AuditEvent.action.like("appointment.%")) == 0


def test_actions_need_a_csrf_token(app, jo, diary):
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    jo.post(f"/diary/appointments/{appointment_id}/no-show")
    jo.post(f"/diary/appointments/{appointment_id}/notes", data={"body": "x"})
    assert status_of(app, appointment_id) is AppointmentStatus.BOOKED
    assert count(app, SessionNote) == 0


def test_unknown_appointment_is_404(jo):
    assert post_from_days(jo, "/diary/appointments/999999/attended").status_code == 404


def test_a_note_is_saved_shown_and_audited(app, jo, diary):
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    response = post_from_days(jo, f"/diary/appointments/{appointment_id}/notes",
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
    response = post_from_days(jo, f"/diary/appointments/{appointment_id}/notes",
                                {"body": body})
    assert response.status_code == 200
    page = text(response)
    assert message in page and f'id="note-{appointment_id}-error"' in page
    assert count(app, SessionNote) == 0
    assert count(app, AuditEvent, AuditEvent.action == "session_note.added") == 0


def test_the_diary_and_dashboard_link_to_the_days(jo):
    assert 'href="/diary/days"' in jo.get("/diary/").get_data(as_text=True)
    assert 'href="/diary/days"' in jo.get("/dashboard/").get_data(as_text=True)


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

    url = "/diary/days?day=2026-03-04&view=week"
    fill(0, n)
    small = queries_for(app, jo, url)
    fill(n, 10 * n)
    large = queries_for(app, jo, url)
    assert text(jo.get(url)).count('name="body"') == 10 * n
    assert small == large


# --- month ---------------------------------------------------------------------------------


def month_cell(page: str, day: str) -> str:
    """The HTML of one day's square of the month table, from its <td> to the next."""
    link = page.index(f'id="month-{day}"')
    return page[page.rindex("<td", 0, link):page.index("</td>", link)]


def test_the_month_is_a_table_of_days_linking_to_the_day_view(app, jo, diary, make_client):
    other = make_client(name="Sam Carter", password=None).id
    add_appointment(app, diary, datetime(2026, 3, 10, 15, tzinfo=UTC))
    add_appointment(app, diary, datetime(2026, 3, 10, 9, 30, tzinfo=UTC), client_id=other)
    add_appointment(app, diary, datetime(2026, 3, 10, 12, tzinfo=UTC),
                    status=AppointmentStatus.CANCELLED)
    add_appointment(app, diary, datetime(2026, 3, 20, 12, tzinfo=UTC),
                    status=AppointmentStatus.CANCELLED)
    add_appointment(app, diary, datetime(2026, 3, 4, 16, tzinfo=UTC),
                    status=AppointmentStatus.ATTENDED)
    response = jo.get("/diary/days?day=2026-03-17&view=month")
    assert response.status_code == 200
    page = text(response)
    assert '<table class="month">' in page and "<caption" in page
    assert "March 2026" in page and "3 sessions" in page
    assert page.count('<th scope="col"') == 7 and ">Monday<" in page and ">Sunday<" in page
    # 23 February to 5 April: six weeks, the 31 days of March linked to their day view.
    assert page.count("<tr>") == 7 and page.count('class="month__link"') == 31
    assert page.count("month__day--outside") == 11
    assert 'href="/diary/days?day=2026-03-01&view=day"' in page
    assert 'href="/diary/days?day=2026-03-31&view=day"' in page
    assert "day=2026-02-28&view=day" not in page and "day=2026-04-01&view=day" not in page
    tenth = month_cell(page, "2026-03-10")
    assert 'aria-label="Tuesday 10 March: 2 sessions"' in tenth
    assert tenth.index("09:30") < tenth.index("15:00") and "12:00" not in tenth
    assert 'class="month__count">2<' in tenth
    assert tenth.index("Sam Carter") < tenth.index("Alex Morgan")
    assert 'aria-label="Friday 20 March: no sessions"' in month_cell(page, "2026-03-20")
    today = month_cell(page, "2026-03-04")
    assert 'aria-label="Today, Wednesday 4 March: 1 session"' in today
    assert 'aria-current="date"' in today and "month__day--today" in today
    assert page.count('aria-current="date"') == 1
    # No inline styles or scripts for the strict CSP.
    raw = response.get_data(as_text=True)
    assert "style=" not in raw and "<script>" not in raw


def test_a_busy_day_shows_the_first_three_and_how_many_more(app, jo, diary, make_client):
    for i in range(5):
        client_id = make_client(name=f"Client {i:03}", password=None).id
        start = datetime(2026, 3, 12, 8, tzinfo=UTC) + timedelta(minutes=75 * i)
        add_appointment(app, diary, start, client_id=client_id)
    cell = month_cell(text(jo.get("/diary/days?day=2026-03-01&view=month")), "2026-03-12")
    assert 'aria-label="Thursday 12 March: 5 sessions"' in cell
    assert "Client 002" in cell and "Client 003" not in cell and "+2 more" in cell


def test_month_links_step_across_year_ends_and_keep_the_view(jo):
    page = text(jo.get("/diary/days?day=2026-12-31&view=month"))
    assert "December 2026" in page
    assert 'href="/diary/days?day=2026-11-30&view=month"' in page
    assert 'href="/diary/days?day=2027-01-31&view=month"' in page
    assert '>Previous<span class="days-step__unit">\xa0month</span>' in page
    assert '>Next<span class="days-step__unit">\xa0month</span>' in page
    # Not the current month: a way back; the date picker keeps the month view.
    assert 'href="/diary/days?view=month">This month<' in page
    assert 'name="view" value="month"' in page and 'name="day" value="2026-12-31"' in page
    january = text(jo.get("/diary/days?day=2027-01-31&view=month"))
    assert "January 2027" in january
    assert 'href="/diary/days?day=2026-12-31&view=month"' in january
    assert 'href="/diary/days?day=2027-02-28&view=month"' in january
    this_month = text(jo.get("/diary/days?view=month"))
    assert "March 2026" in this_month and ">This month<" not in this_month
    assert 'href="/diary/days?day=2026-02-04&view=month"' in this_month


def test_day_and_week_views_switch_to_the_month(jo):
    for view in ("day", "week"):
        page = text(jo.get(f"/diary/days?day=2026-03-10&view={view}"))
        assert 'href="/diary/days?day=2026-03-10&view=month">Month<' in page
    month = text(jo.get("/diary/days?day=2026-03-10&view=month"))
    assert 'href="/diary/days?day=2026-03-10&view=month" aria-current="page">Month<' in month
    assert 'href="/diary/days?day=2026-03-10&view=day">Day<' in month
    assert 'href="/diary/days?day=2026-03-10&view=week">Week<' in month


def test_an_empty_month_says_so(jo):
    page = text(jo.get("/diary/days?day=2026-06-01&view=month"))
    assert "June 2026" in page and "No sessions" in page and "month__count" not in page
    assert page.count('class="month__link"') == 30


@pytest.mark.parametrize("starts_at, label, clock", [
    # Sunday 25 October 2026, 00:30 BST (23:30 UTC on the 24th); the clocks go back at 02:00.
    (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), "Sunday 25 October: 1 session", "00:30"),
    # Thursday 1 October 2026, 00:30 BST: 30 September in UTC.
    (datetime(2026, 9, 30, 23, 30, tzinfo=UTC), "Thursday 1 October: 1 session", "00:30"),
    # Monday 26 October 2026, 00:30 GMT.
    (datetime(2026, 10, 26, 0, 30, tzinfo=UTC), "Monday 26 October: 1 session", "00:30"),
])
def test_a_clock_change_month_puts_sessions_on_their_local_day(app, jo, diary, starts_at,
                                                                label, clock):
    add_appointment(app, diary, starts_at)
    page = text(jo.get("/diary/days?day=2026-10-15&view=month"))
    assert page.count(": 1 session") == 1
    day = starts_at.astimezone(ZoneInfo("Europe/London")).date().isoformat()
    cell = month_cell(page, day)
    assert f'aria-label="{label}"' in cell and f">{clock}<" in cell
    assert ": 1 session" not in text(jo.get("/diary/days?day=2026-09-15&view=month"))


def test_clients_are_refused_the_month(app, client, diary):
    assert login(client, diary.client.email).status_code == 302
    assert client.get("/diary/days?view=month").status_code == 403


@pytest.mark.parametrize("n", [3])
def test_the_month_runs_a_fixed_number_of_queries_at_n_and_10n(app, jo, diary, make_client,
                                                               n):
    def fill(first, last):
        for i in range(first, last):
            client_id = make_client(name=f"Client {i:03}", password=None).id
            start = datetime(2026, 3, 2, 8, tzinfo=UTC) + timedelta(hours=5 * i)
            add_appointment(app, diary, start, client_id=client_id)

    url = "/diary/days?day=2026-03-04&view=month"
    fill(0, n)
    small = queries_for(app, jo, url)
    fill(n, 10 * n)
    large = queries_for(app, jo, url)
    assert "30 sessions" in text(jo.get(url))
    assert small == large, (small, large)
    # The user, the practice, whether the therapist has a second factor, then the month.
    assert large <= 6, large
