"""`flask seed-scale`: a generated practice has the shape issue 11 measures (about 50 sessions
per client over two years, a full diary that never double books, programmes of 4 to 6
exercises in versions, clients who log about 80%, 50% and 15% of their programme, pain
reports open and acknowledged), on the demo practice, and every page the benchmark drives
renders for it. On both databases, at a small size."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.models import (
    Appointment,
    AppointmentStatus,
    CompletionLog,
    IntakeForm,
    Programme,
    ProgrammeVersion,
    Role,
    Service,
    SessionNote,
    User,
    utcnow,
)
from portal.seed import demo, scale
from portal.services import accounts, diary, programmes
from portal.services import clients as client_list
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput
from tests.conftest import sign_in_directly

# Enough for a full diary for the demo therapist (about 87 clients) and one colleague.
CLIENTS = 100
LIVE = (AppointmentStatus.BOOKED, AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW)


def test_a_generated_practice_has_the_shape_issue_11_measures(app, session, client):
    """Seeded once (at the real time: the pages read the real clock), checked five ways."""
    now = utcnow()
    report = scale.seed(session, app.extensions["portal.passwords"],
                        box=app.extensions["portal.secret_box"], clients=CLIENTS, now=now,
                        timezone="Europe/London")
    session.commit()
    seeded = (report, now)
    check_the_practice_has_the_size_and_history_asked_for(session, seeded)
    check_no_therapist_is_double_booked_and_sessions_keep_to_the_hours(session, seeded)
    check_programmes_logs_and_pain_reports_look_like_real_clients(session, seeded)
    check_a_second_size_is_refused_on_the_same_database(app, session)
    check_every_page_the_benchmark_drives_renders(app, session, client)


def generated(session) -> list[User]:
    return list(session.scalars(select(User).where(User.email.like(f"%@{scale.DOMAIN}"),
                                                   User.role == Role.CLIENT)))


def check_the_practice_has_the_size_and_history_asked_for(session, seeded):
    report, now = seeded
    clients = generated(session)
    assert len(clients) == report.clients == CLIENTS
    # The demo came first: its logins are there, and its clients are not counted.
    assert accounts.find_by_email(session, demo.THERAPIST[1]) is not None
    assert accounts.find_by_email(session, demo.CLIENTS[0][1]) is not None

    ids = [c.id for c in clients]
    per_client = Counter(session.scalars(select(Appointment.client_id)
                                         .where(Appointment.client_id.in_(ids))))
    assert sum(per_client.values()) == report.appointments
    assert 45 <= statistics.mean(per_client.values()) <= 55
    first = session.scalar(select(func.min(Appointment.starts_at))
                           .where(Appointment.client_id.in_(ids)))
    last = session.scalar(select(func.max(Appointment.starts_at))
                          .where(Appointment.client_id.in_(ids)))
    assert first < now - timedelta(days=700) and now < last <= now + timedelta(days=57)
    statuses = Counter(session.scalars(select(Appointment.status)
                                       .where(Appointment.client_id.in_(ids))))
    assert statuses[AppointmentStatus.ATTENDED] > 0.8 * report.appointments
    assert statuses[AppointmentStatus.NO_SHOW] and statuses[AppointmentStatus.CANCELLED]
    assert statuses[AppointmentStatus.BOOKED]  # sessions ahead
    ahead = Counter(session.scalars(select(Appointment.client_id).where(
        Appointment.client_id.in_(ids), Appointment.starts_at > now,
        Appointment.status == AppointmentStatus.BOOKED)))
    assert max(ahead.values()) <= scale.MOST_AHEAD  # room to book one more online
    # Everyone answered the questionnaire and consented, so pages behave as for real clients.
    assert session.scalar(select(func.count(func.distinct(IntakeForm.client_id)))
                          .where(IntakeForm.client_id.in_(ids))) == CLIENTS
    assert session.scalar(select(func.count()).select_from(SessionNote)) >= report.notes > 0


def check_no_therapist_is_double_booked_and_sessions_keep_to_the_hours(session, seeded):
    live = list(session.scalars(select(Appointment).where(Appointment.status.in_(LIVE))
                                .order_by(Appointment.therapist_id, Appointment.starts_at)))
    by_therapist = defaultdict(list)
    for appointment in live:
        by_therapist[appointment.therapist_id].append(appointment)
    jo = accounts.find_by_email(session, demo.THERAPIST[1])
    assert len(by_therapist) >= 2  # the demo therapist and a generated colleague
    zone = practice_service.zone_of(practice_service.current(session))
    for therapist_id, sessions in by_therapist.items():
        for earlier, later in zip(sessions, sessions[1:], strict=False):
            assert earlier.blocked_until <= later.starts_at, (earlier.id, later.id)
        hours = diary.weekly_hours(session, session.get(User, therapist_id))
        for a in sessions:
            start, end = a.starts_at.astimezone(zone), a.ends_at.astimezone(zone)
            assert any(s <= start.time() and end.time() <= e
                       for s, e in hours[start.weekday()]), a.id
    # The demo therapist's past weeks are full: most working days hold seven sessions or so.
    past = [a for a in by_therapist[jo.id]
            if utcnow() - timedelta(days=365) < a.starts_at < utcnow() - timedelta(days=14)]
    per_day = Counter(a.starts_at.astimezone(zone).date() for a in past)
    weekdays = [n for day, n in per_day.items() if day.weekday() < 5]
    assert statistics.median(weekdays) >= 6


def check_programmes_logs_and_pain_reports_look_like_real_clients(session, seeded):
    report, now = seeded
    clients = generated(session)
    have = set(session.scalars(select(Programme.client_id)))
    with_programme = [c for c in clients if c.id in have]
    assert 0.8 * CLIENTS <= len(with_programme) <= CLIENTS
    versions = Counter(session.scalars(
        select(Programme.client_id).join(ProgrammeVersion)
        .where(Programme.client_id.in_([c.id for c in clients]))))
    assert sum(versions.values()) == report.versions
    assert max(versions.values()) >= 2  # programmes change over time
    for client in with_programme:
        current = programmes.current_version(session, client, with_ladders=False)
        assert 4 <= len(current.items) <= 6
        assert current.appointment_id is not None and current.changes

    logs = session.scalar(select(func.count()).select_from(CompletionLog)
                          .where(CompletionLog.client_id.in_([c.id for c in clients])))
    assert logs == report.logs
    assert 150 * CLIENTS <= logs <= 400 * CLIENTS  # issue 11: 1.3 M logs for 5,000 clients

    # This fortnight's adherence, as the client list shows it: some keep up, some manage
    # about half, some hardly log at all.
    rows = []
    for page in range(1, 6):
        found = client_list.list_clients(
            session, accounts.find_by_email(session, demo.THERAPIST[1]),
            client_list.ClientQuery(page=page), now)
        rows += [r for r in found.rows if r.client.email.endswith(scale.DOMAIN)]
    percents = [r.percent for r in rows if r.percent is not None]
    assert any(p >= 65 for p in percents)
    assert any(35 <= p < 65 for p in percents)
    assert any(p <= 30 for p in percents)
    # The low-adherence filter reads the stored summary, which the bulk load must fill.
    low = client_list.list_clients(
        session, accounts.find_by_email(session, demo.THERAPIST[1]),
        client_list.ClientQuery(filters=frozenset({"low_adherence"})), now)
    assert low.total and all(r.percent is not None and r.percent < 50 for r in low.rows)

    pain = list(session.scalars(select(CompletionLog).where(CompletionLog.pain)))
    assert any(log.pain_acknowledged_at for log in pain)
    assert report.pain_reports == sum(log.client.email.endswith(scale.DOMAIN) for log in pain)


def check_a_second_size_is_refused_on_the_same_database(app, session):
    with pytest.raises(InvalidInput, match="already holds a generated practice"):
        scale.seed(session, app.extensions["portal.passwords"],
                   box=app.extensions["portal.secret_box"], clients=5, now=utcnow(),
                   timezone="Europe/London")


def check_every_page_the_benchmark_drives_renders(app, session, client):
    jo = accounts.find_by_email(session, demo.THERAPIST[1])
    theirs = select(Appointment.id).where(Appointment.client_id == User.id,
                                          Appointment.therapist_id == jo.id)
    someone = session.scalar(select(User).join(Programme, Programme.client_id == User.id)
                             .where(User.email.like(f"%@{scale.DOMAIN}"), theirs.exists())
                             .order_by(User.id).limit(1))
    items = programmes.current_version(session, someone, with_ladders=False).items
    item, names = items[0], [i.exercise.name for i in items]
    service = session.scalar(select(Service).where(Service.duration_minutes == 60,
                                                   Service.active).order_by(Service.sort_order))
    surname = someone.name.split()[-1]
    session.rollback()

    sign_in_directly(client, jo)
    for path in ["/dashboard/", "/clients/", "/clients/?filter=low_adherence",
                 "/clients/?filter=pain&filter=upcoming", f"/clients/?q={surname}",
                 "/diary/days?view=week", f"/programmes/{someone.id}", f"/clients/{someone.id}"]:
        answer = client.get(path)
        assert answer.status_code == 200, path
    assert someone.name in client.get(f"/clients/?q={surname}").get_data(as_text=True)

    client = app.test_client()
    sign_in_directly(client, someone)
    for path in ["/", "/programme/", f"/programme/items/{item.id}", "/appointments/",
                 f"/booking/{service.id}"]:
        answer = client.get(path)
        assert answer.status_code == 200, path
    today = client.get("/programme/").get_data(as_text=True)
    assert any(name in today for name in names)


@pytest.mark.fresh_db
def test_the_command_commits_a_practice_and_refuses_a_second_size(app, runner, session):
    result = runner.invoke(args=["seed-scale", "--clients", "3"])
    assert result.exit_code == 0, result.output
    assert "seeding the demo practice first" in result.output
    assert "Added 3 clients" in result.output and scale.CLIENT_PASSWORD in result.output
    assert len(generated(session)) == 3
    again = runner.invoke(args=["seed-scale", "--clients", "3"])
    assert again.exit_code != 0 and "already holds a generated practice" in again.output


def test_the_command_is_refused_in_production(app, runner):
    app.config["PORTAL_ENV"] = "production"
    result = runner.invoke(args=["seed-scale", "--clients", "3"])
    assert result.exit_code != 0 and "refused in production" in result.output
