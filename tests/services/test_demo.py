"""The demo practice, seeded at fixed moments (a Monday morning, mid-week, Saturday night, a
Sunday, and the week the clocks go back): a believable week in the diary, a client list in
which every filter finds someone, and logins that work. Without HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.models import (
    Appointment,
    AppointmentStatus,
    IntakeForm,
    Message,
    MessageThread,
    Practice,
    Role,
    SessionNote,
    User,
)
from portal.seed import demo
from portal.services import (
    accounts,
    clients,
    diary,
    diary_days,
    intake,
    messages,
    programmes,
    two_factor,
)
from portal.services.errors import InvalidInput

LONDON = ZoneInfo("Europe/London")
# UTC instants; London is on GMT in late November, on BST until 25 October 2026.
NOWS = {
    "monday-0800": datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
    "wednesday-1400": datetime(2026, 11, 25, 14, 0, tzinfo=UTC),
    "saturday-2100": datetime(2026, 11, 28, 21, 0, tzinfo=UTC),
    "sunday-noon": datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
    # Thursday 22 October 2026, 14:00 BST: the clocks go back on Sunday 25 October.
    "clock-change-week": datetime(2026, 10, 22, 13, 0, tzinfo=UTC),
    # 01:30 BST on the night itself, half an hour before the clocks go back.
    "clock-change-night": datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
}
LIVE = (AppointmentStatus.BOOKED, AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW)


@pytest.fixture(params=list(NOWS))
def seeded(request, app, session):
    """The demo seeded at one of NOWS and committed; returns (now, therapist)."""
    now = NOWS[request.param]
    demo.seed(session, app.extensions["portal.passwords"], box=app.extensions["portal.secret_box"],
              now=now, timezone="Europe/London")
    session.commit()
    therapist = session.scalar(select(User).where(User.email == demo.THERAPIST[1]))
    return now, therapist


def appointments(session) -> list[Appointment]:
    return list(session.scalars(select(Appointment).order_by(Appointment.starts_at)))


def check_the_diary_never_double_books_and_keeps_to_the_hours(app, session, seeded):
    now, therapist = seeded
    practice = session.scalar(select(Practice))
    zone = ZoneInfo(practice.timezone)
    worked = diary.weekly_hours(session, therapist)
    rows = appointments(session)
    assert len(rows) >= 40

    live = [a for a in rows if a.status in LIVE]
    for earlier, later in zip(live, live[1:], strict=False):
        assert earlier.blocked_until <= later.starts_at, (earlier.id, later.id)
    for a in rows:
        start, end = a.starts_at.astimezone(zone), a.ends_at.astimezone(zone)
        assert start.date() == end.date() and start.minute % 15 == 0, a.id
        assert any(s <= start.time() and end.time() <= e for s, e in worked[start.weekday()]), (
            f"{a.id} at {start} is outside working hours")
        assert a.ends_at - a.starts_at == timedelta(minutes=a.service.duration_minutes)
        assert a.blocked_until - a.ends_at == timedelta(minutes=a.service.buffer_minutes)
        assert a.created_at <= min(now, a.starts_at)
        if a.starts_at > now:
            assert a.status is AppointmentStatus.BOOKED, a.id
        elif a.ends_at <= now:
            assert a.status is not AppointmentStatus.BOOKED, a.id  # every past one is marked
        if a.status is AppointmentStatus.CANCELLED:
            assert a.created_at < a.cancelled_at <= now
            assert a.late_cancellation == (a.cancelled_at >= a.starts_at - timedelta(hours=24))
    assert len({a.service.duration_minutes for a in rows}) >= 3  # 30, 60 and 90 minutes


def check_the_week_is_full_with_past_and_upcoming_sessions(app, session, seeded):
    now, therapist = seeded
    today = now.astimezone(LONDON).date()
    monday = demo.anchor_monday(today)
    if today.weekday() == 6:
        assert monday == today + timedelta(days=1)  # on a Sunday, the week ahead
    else:
        assert monday == today - timedelta(days=today.weekday())

    week = diary_days.days_of(session, therapist, LONDON, day=monday, view="week", now=now)
    for offset in range(6):
        day = monday + timedelta(days=offset)
        entries = week.days.get(day, [])
        booked = [e for e in entries if e.appointment.status is not AppointmentStatus.CANCELLED]
        assert 3 <= len(booked) <= len(entries) <= 6, (day, len(booked), len(entries))
    assert not week.days.get(monday + timedelta(days=6))  # no work on Sunday

    # The day view (the next working day on a Sunday) has sessions.
    shown = today + timedelta(days=1) if today.weekday() == 6 else today
    assert diary_days.days_of(session, therapist, LONDON, day=shown, view="day", now=now).count >= 3

    # Sessions over and sessions to come, within a week either side.
    near = [a for a in appointments(session)
            if now - timedelta(days=7) <= a.starts_at <= now + timedelta(days=7)]
    assert any(a.status is AppointmentStatus.ATTENDED for a in near)
    assert any(a.status is AppointmentStatus.BOOKED and a.starts_at > now for a in near)
    this_week = [e.appointment for entries in week.days.values() for e in entries]
    if 1 <= today.weekday() <= 4:  # mid-week: this week has both, and today has more to come
        assert any(a.ends_at <= now for a in this_week)
        assert any(a.starts_at > now for a in this_week)
    if now == NOWS["wednesday-1400"]:
        later_today = [a for a in this_week
                       if a.starts_at > now and a.starts_at.astimezone(LONDON).date() == today]
        assert later_today


def check_recent_sessions_include_a_no_show_and_both_kinds_of_cancellation(app, session, seeded):
    now, therapist = seeded
    today = now.astimezone(LONDON).date()
    since = datetime.combine(demo.anchor_monday(today) - timedelta(weeks=1), datetime.min.time(),
                             LONDON)
    recent = [a for a in appointments(session) if since <= a.starts_at and a.ends_at <= now]
    statuses = [(a.status, a.late_cancellation) for a in recent]
    assert statuses.count((AppointmentStatus.NO_SHOW, False)) == 1
    assert statuses.count((AppointmentStatus.CANCELLED, True)) == 1
    assert statuses.count((AppointmentStatus.CANCELLED, False)) == 1
    assert statuses.count((AppointmentStatus.ATTENDED, False)) >= 5
    special = [a for a in recent if a.status is not AppointmentStatus.ATTENDED]
    assert len({a.starts_at.astimezone(LONDON).date() for a in special}) == 3  # spread out
    if now in (NOWS["wednesday-1400"], NOWS["saturday-2100"]):
        monday = today - timedelta(days=today.weekday())
        assert all(a.starts_at.astimezone(LONDON).date() >= monday for a in special)
    # No appointment before "now" ever stays booked, and every one is the app's own shape.
    for a in session.scalars(select(Appointment).where(Appointment.ends_at <= now)):
        assert a.status is not AppointmentStatus.BOOKED

    notes = list(session.scalars(select(SessionNote)))
    assert len(notes) >= 4
    for note in notes:
        appointment = session.get(Appointment, note.appointment_id)
        assert appointment.status in (AppointmentStatus.ATTENDED, AppointmentStatus.NO_SHOW)
        assert appointment.starts_at < note.created_at <= now
        assert note.author_id == therapist.id


def check_every_client_list_filter_finds_someone(app, session, seeded):
    now, therapist = seeded
    everyone = clients.list_clients(session, therapist, clients.ClientQuery(), now)
    assert 10 <= everyone.total <= 14
    for name in clients.FILTERS:
        found = clients.list_clients(
            session, therapist, clients.ClientQuery(filters=frozenset({name})), now)
        assert found.total >= 1, name
        assert found.total < everyone.total, name  # a filter that matches all shows nothing
    rows = {row.client.email: row for row in everyone.rows}
    active = [row for row in rows.values() if row.client.active and row.percent is not None]
    assert max(row.percent for row in active) >= 75  # someone keeps up well
    assert min(row.percent for row in active) < clients.LOW_ADHERENCE_PERCENT
    assert sum(row.pain_flags for row in rows.values()) == 1


def check_conversations_read_in_order_and_some_wait_for_the_therapist(app, session, seeded):
    now, therapist = seeded
    threads = list(session.scalars(select(MessageThread).order_by(MessageThread.id)))
    assert len(threads) >= 3
    for thread in threads:
        times = [m.created_at for m in thread.messages]
        assert times == sorted(times) and times[-1] <= now, thread.subject
        assert thread.created_at == times[0] and thread.last_message_at == times[-1]
        for message in thread.messages:
            assert message.read_at is None or message.created_at <= message.read_at <= now
        if thread.exercise_id is not None:
            version = thread.programme_version
            assert version.created_at <= times[0]
            assert thread.exercise_id in {i.exercise_id for i in version.items}
        if thread.appointment_id is not None:
            assert thread.appointment.client_id == thread.client_id
    waiting = messages.unread_summary(session, therapist)
    assert waiting.messages >= 2 and waiting.threads >= 2
    assert any(t.is_done for t in threads) and any(t.exercise_id for t in threads)
    alex = session.scalar(select(User).where(User.email == demo.CLIENTS[0][1]))
    assert any(t.client_id == alex.id and t.exercise_id for t in threads)
    # Every answer of Jo's has been read by its client (an hour after it came, or by now).
    answered = session.scalar(select(func.count()).select_from(Message).where(
        Message.from_client == False, Message.read_at.is_(None)))  # noqa: E712
    assert answered == 0


def check_clients_joined_were_invited_or_left_and_the_demo_logins_work(app, session, seeded):
    now, therapist = seeded
    people = list(session.scalars(select(User).where(User.role == Role.CLIENT)))
    assert all(p.email.endswith("@example.com") for p in people)
    assert len({p.name for p in people}) == len(people)
    joined = [p for p in people if p.has_password and p.active]
    invited = [p for p in people if not p.has_password]
    assert len(joined) >= 8 and 1 <= len(invited) <= 2
    assert len([p for p in people if not p.active]) == 1

    for client in people:
        assert intake.is_complete(session, client) == client.has_password, client.email
    forms = list(session.scalars(select(IntakeForm)))
    assert len(forms) == len([p for p in people if p.has_password])
    flagged = [f for f in forms if f.red_flags]
    assert len(flagged) == 1 and flagged[0].answers["red_flag_details"]

    with_programme = [p for p in joined if programmes.current_version(session, p)]
    assert len(with_programme) >= len(joined) - 2
    histories = [programmes.version_history(session, p) for p in with_programme]
    longest = max(histories, key=len)
    assert len(longest) >= 3
    for version in longest[:-1]:  # newest first; the first version has nothing to compare
        assert version.changes and version.note and version.appointment_id

    passwords = app.extensions["portal.passwords"]
    for _role, email, password in demo.LOGINS:
        user = accounts.authenticate(session, passwords, email=email, password=password,
                                     now=now)
        assert user.email == email
    # The demo therapist signs in with the published authenticator key (`flask demo-code`).
    assert two_factor.is_on(session, therapist)
    code = two_factor.current_code(demo.THERAPIST_TOTP_SECRET, now)
    assert two_factor.check_code(session, app.extensions["portal.secret_box"], therapist,
                                 code=code, now=now) == two_factor.APP


# Seeding the demo is the slow part of these tests, so each moment is seeded once and every
# check above runs on it (they were five tests each seeding its own copy). The login check
# goes last: signing in writes to the users it reads.
CHECKS = [
    check_the_diary_never_double_books_and_keeps_to_the_hours,
    check_the_week_is_full_with_past_and_upcoming_sessions,
    check_recent_sessions_include_a_no_show_and_both_kinds_of_cancellation,
    check_every_client_list_filter_finds_someone,
    check_conversations_read_in_order_and_some_wait_for_the_therapist,
    check_clients_joined_were_invited_or_left_and_the_demo_logins_work,
]


def test_the_demo_practice_at_each_moment(app, session, seeded):
    for check in CHECKS:
        check(app, session, seeded)


def test_seeding_twice_is_refused(app, session):
    now = NOWS["wednesday-1400"]
    passwords = app.extensions["portal.passwords"]
    box = app.extensions["portal.secret_box"]
    demo.seed(session, passwords, box=box, now=now, timezone="Europe/London")
    session.commit()
    users = session.scalar(select(func.count()).select_from(User))

    with pytest.raises(InvalidInput, match="already exist"):
        demo.seed(session, passwords, box=box, now=now + timedelta(days=1),
                  timezone="Europe/London")
    session.rollback()

    assert session.scalar(select(func.count()).select_from(User)) == users
    assert users == 1 + len(demo.PEOPLE)


def test_the_anchor_week_is_this_week_or_on_a_sunday_the_next():
    assert demo.anchor_monday(date(2026, 11, 23)) == date(2026, 11, 23)
    assert demo.anchor_monday(date(2026, 11, 28)) == date(2026, 11, 23)
    assert demo.anchor_monday(date(2026, 11, 29)) == date(2026, 11, 30)
