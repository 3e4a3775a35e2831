"""The therapist's dashboard home: today's count, the session in progress or next with its
pre-session summary, what needs a look (pain reports, low adherence), and a fixed number of
queries however busy the diary is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus, Exercise, User
from portal.seed.library import seed_library
from portal.services import programmes
from portal.services.programmes import ItemInput
from tests.clients_support import log
from tests.conftest import login, sign_in_directly
from tests.web.test_diary_days_web import NOW, add_appointment, queries_for, text


@pytest.fixture
def jo(app, client, diary):
    """Signed in as the diary's therapist on Wednesday 4 March 2026 at noon (London)."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    sign_in_directly(client, diary.therapist)
    return client


def next_session(page: str) -> str:
    """The text of the next-session block ('' when there is none)."""
    found = re.search(r'id="next-session">(.*?)</dl>', page, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))) if found else ""


def test_a_client_cannot_open_it(app, client, diary):
    assert login(client, diary.client.email).status_code == 302
    assert client.get("/dashboard/").status_code == 403


def test_an_empty_diary_says_so(jo):
    page = text(jo.get("/dashboard/"))
    assert "Nothing booked today." in page
    assert "No sessions booked ahead." in page
    assert 'id="next-session"' not in page


def test_the_session_in_progress_comes_first_with_its_summary(app, jo, diary):
    add_appointment(app, diary, NOW - timedelta(hours=3))  # 09:00, over
    add_appointment(app, diary, NOW - timedelta(minutes=15), note="Left calf cramping")
    add_appointment(app, diary, NOW + timedelta(hours=3))
    page = text(jo.get("/dashboard/"))
    assert "3 sessions today, 2 still to come." in page
    block = next_session(page)
    assert "In progress" in block and "Today, 11:45–12:45" in block
    assert "Alex Morgan" in block and "Left calf cramping" in block
    assert "No programme yet" in block and "Pain reports to review" in block
    assert f'href="/clients/{diary.client.id}"' in page


def test_cancelled_and_finished_sessions_are_skipped_for_a_later_day(app, jo, diary):
    add_appointment(app, diary, NOW + timedelta(hours=1), status=AppointmentStatus.CANCELLED)
    add_appointment(app, diary, NOW - timedelta(hours=2), status=AppointmentStatus.ATTENDED)
    add_appointment(app, diary, datetime(2026, 3, 6, 10, tzinfo=UTC), note="Friday")
    page = text(jo.get("/dashboard/"))
    assert "1 session today, 0 still to come." in page
    block = next_session(page)
    assert "Next session" in block and "Friday 6 March, 10:00–11:00" in block
    assert "Friday" in block


def test_what_needs_a_look_counts_and_links_to_the_filters(app, jo, diary, make_client):
    bea_id = make_client(name="Bea Idle").id
    with app.app_context():
        therapist = db.session.get(User, diary.therapist.id)
        started = NOW - timedelta(days=10)
        seed_library(db.session, therapist, started)
        cat = db.session.query(Exercise).filter_by(slug="cat-cow").one()
        for client_id in (diary.client.id, bea_id):
            version = programmes.save_version(db.session, therapist,
                                              db.session.get(User, client_id), [
                ItemInput.from_exercise(cat, times_per_day=1, days_per_week=7)], "", started)
        # Alex logged every day, once with pain; Bea never logged.
        alex_item = programmes.current_version(
            db.session, db.session.get(User, diary.client.id)).items[0]
        for days in range(10):
            log(db.session, db.session.get(User, diary.client.id), alex_item.id,
                (NOW - timedelta(days=days)).date(), pain=days == 1)
        assert version.number == 1
        db.session.commit()
    page = text(jo.get("/dashboard/"))
    assert '1 client with pain reports to review' in page
    assert '1 client under 50% of their programme this fortnight' in page
    assert 'href="/clients/?filter=pain"' in page
    assert 'href="/clients/?filter=low_adherence"' in page


@pytest.mark.parametrize("n", [3])
def test_a_fixed_number_of_queries_at_n_and_10n(app, jo, diary, make_client, n):
    def fill(first, last):
        # Five-minute steps overlap: the therapist booked them over each other on purpose.
        for i in range(first, last):
            client_id = make_client(name=f"Client {i:03}", password=None).id
            start = NOW - timedelta(minutes=30) + timedelta(minutes=5 * i)
            appointment_id = add_appointment(app, diary, start, client_id=client_id,
                                             status=AppointmentStatus.CANCELLED)
            with app.app_context():
                row = db.session.get(Appointment, appointment_id)
                row.overlap_override, row.status = True, AppointmentStatus.BOOKED
                db.session.commit()

    fill(0, n)
    small = queries_for(app, jo, "/dashboard/")
    fill(n, 10 * n)
    large = queries_for(app, jo, "/dashboard/")
    assert f"{10 * n} sessions today" in text(jo.get("/dashboard/"))
    assert small == large
