"""The demo practice created by `flask seed-demo` (development and screenshots only)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    Appointment,
    AppointmentStatus,
    Exercise,
    Feedback,
    IntakeForm,
    Moment,
    Practice,
    ProgrammeVersion,
    Role,
    Service,
    User,
    WorkingHours,
)
from portal.services import accounts, library, library_seed, programmes, slots
from portal.services.errors import InvalidInput
from portal.services.passwords import Passwords

THERAPIST = ("therapist", "jo@example.com", "knead-to-know-2026")
CLIENTS = [
    ("client", "alex@example.com", "hip-flexor-friday"),
    ("client", "sam@example.com", "long-run-sunday"),
]
LOGINS = [THERAPIST, *CLIENTS]


def seed(session: Session, passwords: Passwords, *, now: datetime, timezone: str) -> None:
    """Create the practice, one therapist and two clients (later issues add more)."""
    taken = [email for _, email, _ in LOGINS if accounts.find_by_email(session, email)]
    if taken:
        # Checked up front: a clash on a client's address would otherwise surface only as an
        # IntegrityError traceback at commit.
        raise InvalidInput("email", f"The demo accounts already exist ({', '.join(taken)}).")
    practice = accounts.ensure_practice(
        session, name="Riverside Sports Massage", timezone=timezone, now=now
    )
    practice.email = "hello@example.com"
    practice.phone = "020 7946 0321"
    practice.address = "12 Mill Lane, London SE1 9XX"
    therapist = accounts.create_therapist(
        session, passwords, email=THERAPIST[1], name="Jo Fletcher", password=THERAPIST[2],
        now=now,
    )
    names = ["Alex Morgan", "Sam Patel"]
    clients = []
    for (_, email, password), name in zip(CLIENTS, names, strict=True):
        client = User(
            email=email, name=name, role=Role.CLIENT, password_hash=passwords.hash(password),
            password_changed_at=now, invited_by_id=therapist.id,
            invited_at=now - timedelta(days=40), created_at=now - timedelta(days=40),
        )
        session.add(client)
        clients.append(client)
    session.flush()
    seed_diary(session, practice, therapist, clients, now=now)
    exercises = seed_exercise_library(session, therapist, now=now)
    seed_programme(session, therapist, clients[0], exercises, now=now,
                   zone=ZoneInfo(practice.timezone))


# --- the exercise library ----------------------------------------------------------------

FEATURED_SLUG = "kneeling-hip-flexor-stretch"


def seed_exercise_library(session: Session, therapist: User, *, now: datetime) -> list[Exercise]:
    """The starter library (published, written a few weeks ago) with the kneeling hip flexor
    stretch as the exercise of the week; returns the exercises in seed order."""
    exercises = library_seed.seed_library(session, therapist, now - timedelta(days=45))
    featured = next(e for e in exercises if e.slug == FEATURED_SLUG)
    library.feature_exercise(session, therapist, featured.id, now)
    return exercises


# --- Alex's home programme: two versions, a template and three weeks of logs ---------------

HIP, KNEE, CAT, CHILD, GLUTE = ("kneeling-hip-flexor-stretch", "knee-to-chest", "cat-cow",
                                "childs-pose", "figure-four-glute-stretch")
TEMPLATE_NAME = "Desk worker's lower back"
HIP_NOTE = ("Tuck your tailbone under before you lean in: you should feel it at the front of "
            "the hip, as mild tension. If it pinches, come up a little and ease off.")
# When in the day each moment's log is made (local time).
LOG_TIMES = {Moment.MORNING: time(7, 30), Moment.WORK_BREAK: time(11, 15),
             Moment.AFTER_TRAINING: time(19, 10), Moment.BEFORE_BED: time(22, 0)}
# Alex runs on Tuesdays, Thursdays and Sundays.
RUN_DAYS = {1, 3, 6}


def seed_programme(session: Session, therapist: User, client: User,
                   exercises: list[Exercise], *, now: datetime, zone: ZoneInfo) -> None:
    """Alex's programme: version 1 set at the session three weeks ago (also kept as the
    template "Desk worker's lower back"), version 2 at last week's session with a longer
    hip flexor hold, an after-training moment and a personal note; and the logs in between,
    mostly "nothing" or "mild tension", with one pain report the therapist has seen."""
    by_slug = {e.slug: e for e in exercises}
    item = programmes.ItemInput.from_exercise
    attended = list(session.scalars(
        select(Appointment.ends_at).where(Appointment.client_id == client.id,
                                          Appointment.status == AppointmentStatus.ATTENDED)
        .order_by(Appointment.starts_at)))
    # Saved just after the last two sessions (or three weeks and one week ago without them).
    first_at, second_at = ([t + timedelta(minutes=20) for t in attended[-2:]]
                           if len(attended) >= 2 else [now - timedelta(days=21),
                                                       now - timedelta(days=7)])
    first = programmes.save_version(session, therapist, client, [
        item(by_slug[HIP], hold_seconds=20, moments=(Moment.WORK_BREAK,)),
        item(by_slug[CAT], moments=(Moment.MORNING,)),
        item(by_slug[KNEE], moments=(Moment.BEFORE_BED,), days_per_week=5),
        item(by_slug[CHILD], moments=(Moment.BEFORE_BED,)),
    ], "Little and often: a couple of minutes in your work breaks, a few before bed.",
        first_at)
    programmes.save_as_template(
        session, therapist, client, TEMPLATE_NAME, first_at + timedelta(minutes=5),
        description="For stiff lower backs from long days at a desk: hip flexors, spine "
                    "mobility and an easy wind-down before bed.")
    first_day = first_at.astimezone(zone).date()
    second_day = second_at.astimezone(zone).date()
    pain_day = first_day + timedelta(days=(second_day - first_day).days // 2 + 1)
    pain_logs = _seed_logs(session, client, first, first_day + timedelta(days=1),
                           second_day - timedelta(days=1), now=now, zone=zone,
                           pain_day=pain_day)
    for log_id, logged_at in pain_logs:
        programmes.acknowledge_pain(session, therapist, log_id, logged_at + timedelta(hours=22))

    second = programmes.save_version(session, therapist, client, [
        item(by_slug[HIP], moments=(Moment.WORK_BREAK, Moment.AFTER_TRAINING),
             personal_note=HIP_NOTE),
        item(by_slug[GLUTE], moments=(Moment.AFTER_TRAINING,), days_per_week=3),
        item(by_slug[CAT], moments=(Moment.MORNING,)),
        item(by_slug[CHILD], moments=(Moment.BEFORE_BED,)),
    ], "Your hips are still tight after runs, so the hip flexor stretch now holds for 30 s "
       "and comes after training too. New: the figure-four stretch after your runs.",
        second_at, base_version=first.number)
    _seed_logs(session, client, second, second_day + timedelta(days=1),
               now.astimezone(zone).date(), now=now, zone=zone, pain_day=None)


def _seed_logs(session: Session, client: User, version: ProgrammeVersion, first: date,
               last: date, *, now: datetime, zone: ZoneInfo,
               pain_day: date | None) -> list[tuple[int, datetime]]:
    """Logs of a version's items from `first` to `last` (local dates) with a realistic gap
    now and then; returns (id, logged_at) of the painful ones."""
    pains = []
    day, n = first, 0
    while day <= last:
        n += 1
        # One day in five missed, and the before-bed stretches skipped after late nights.
        if n % 5 == 3 and day != pain_day:
            day += timedelta(days=1)
            continue
        for item in version.items:
            moments = item.moment_list
            if Moment.AFTER_TRAINING in moments and Moment.WORK_BREAK in moments:
                moment = (Moment.AFTER_TRAINING if day.weekday() in RUN_DAYS
                          else Moment.WORK_BREAK)
            elif moments == [Moment.AFTER_TRAINING]:
                if day.weekday() not in RUN_DAYS:
                    continue
                moment = Moment.AFTER_TRAINING
            else:
                moment = moments[0] if moments else Moment.MORNING
            if moment is Moment.BEFORE_BED and n % 4 == 1:
                continue
            logged_at = datetime.combine(day, LOG_TIMES[moment], zone).astimezone(now.tzinfo)
            if logged_at > now:
                continue
            hurt = day == pain_day and item.exercise.slug == HIP
            # Tight at first, easier as the weeks go on; the left hip is the stubborn one.
            tight = (n + item.position) % (2 if version.number == 1 else 4) == 0
            left = Feedback.PAIN if hurt else (Feedback.MILD_TENSION if tight
                                               else Feedback.NOTHING)
            right = Feedback.MILD_TENSION if hurt or (tight and n % 3 == 0) else \
                Feedback.NOTHING
            note = ("Sharp pinch at the front of the left hip when I leaned forward, so I "
                    "stopped." if hurt else
                    "Left side still tighter than the right." if tight and n % 6 == 0 else "")
            result = programmes.log_completion(
                session, client, item.id, programmes.FeedbackInput(left=left, right=right,
                                                                   both=left),
                note, f"demo-{item.id}-{day.isoformat()}", day, logged_at, moment=moment)
            if result.pain:
                pains.append((result.log.id, logged_at))
        day += timedelta(days=1)
    return pains


# --- the diary: services, hours, rules, questionnaires and appointments -------------------

# name, minutes, price in pence, description
SERVICES = [
    ("Initial consultation with massage", 60, 6500,
     "For your first visit. We go through your questionnaire, training and any injuries, "
     "check how you move, then treat the areas that need it most. You leave with a short "
     "home programme written for you."),
    ("30 minute sports massage", 30, 4000,
     "A focused session on one area: calves before a race, a stiff neck after a week at the "
     "desk, or a quick check of something that has flared up."),
    ("60 minute sports massage", 60, 6000,
     "Our most booked session. Time to work two or three areas properly and to review how "
     "your home stretches are going."),
    ("90 minute sports massage", 90, 8500,
     "A full-body session for a heavy training block or the week after an event, with time "
     "for recovery advice and an updated programme."),
]
BUFFER_MINUTES = 15
# weekday (0 = Monday) -> working ranges; the gap from 13:00 to 14:00 is lunch.
HOURS = {
    **{day: [(time(9), time(13)), (time(14), time(18))] for day in range(5)},
    5: [(time(9), time(13))],
}
QUESTIONNAIRES = [
    {"phone": "07700 900123", "emergency_contact": "Chris Morgan (partner), 07700 900124",
     "gp_details": "Borough Medical Centre", "complaints":
     "Stiff lower back after long days at the desk, worse on Monday mornings. Hips feel "
     "tight when I start a run.",
     "conditions": "None.", "medication": "None.",
     "activity": "Desk job. Runs 3 times a week (5 to 10 km), gym once a week.",
     "red_flag_details": ""},
    {"phone": "07700 900456", "emergency_contact": "Priya Patel (sister), 07700 900457",
     "gp_details": "", "complaints":
     "Tight calves and the back of my left thigh since increasing mileage for a half "
     "marathon. Left calf cramps late in long runs.",
     "conditions": "Mild asthma, well controlled.", "medication": "Salbutamol inhaler as needed.",
     "activity": "Running 40 km a week, training for a half marathon in the spring.",
     "red_flag_details": ""},
]
# client index, service index, days from today (local), earliest local time, status, note
APPOINTMENTS = [
    (0, 0, -35, time(10), AppointmentStatus.ATTENDED, ""),
    (0, 2, -21, time(11), AppointmentStatus.ATTENDED, ""),
    (0, 2, -7, time(17), AppointmentStatus.ATTENDED, "Back much better; hips still tight."),
    (1, 0, -28, time(9), AppointmentStatus.ATTENDED, ""),
    (1, 1, -14, time(12), AppointmentStatus.NO_SHOW, ""),
    (1, 3, -10, time(14), AppointmentStatus.ATTENDED, "Long run of 18 km on Sunday."),
    (0, 2, 2, time(10), AppointmentStatus.BOOKED,
     "Lower back stiff again after a long drive at the weekend."),
    (1, 3, 4, time(9), AppointmentStatus.BOOKED, "Left calf still tight after intervals."),
    (1, 1, 9, time(12), AppointmentStatus.BOOKED, ""),
    (0, 2, 16, time(17), AppointmentStatus.BOOKED, ""),
]


def seed_diary(session: Session, practice: Practice, therapist: User, clients: list[User], *,
               now: datetime) -> None:
    """Services, weekly hours, the default booking rules, a completed questionnaire for each
    client and past and future appointments on real free slots (so none overlap)."""
    from portal.services.intake import CONSENT_VERSION

    practice.slot_step_minutes = 15
    practice.min_notice_minutes = 12 * 60
    practice.horizon_days = 56
    practice.cancel_window_hours = 24
    practice.reminder_lead_hours = 24
    services = []
    for order, (name, minutes, pence, description) in enumerate(SERVICES):
        service = Service(name=name, duration_minutes=minutes, price_pence=pence,
                          description=description, buffer_minutes=BUFFER_MINUTES,
                          sort_order=order, active=True, created_at=now - timedelta(days=60))
        session.add(service)
        services.append(service)
    for weekday, ranges in HOURS.items():
        for start, end in ranges:
            session.add(WorkingHours(therapist_id=therapist.id, weekday=weekday,
                                     start_time=start, end_time=end))
    for client, answers in zip(clients, QUESTIONNAIRES, strict=True):
        submitted = now - timedelta(days=38)
        session.add(IntakeForm(client_id=client.id, submitted_at=submitted, answers=answers,
                               red_flags=[], consent_version=CONSENT_VERSION,
                               consent_given_at=submitted))
    session.flush()

    zone = ZoneInfo(practice.timezone)
    hours = [slots.WeeklyRange(day, start, end)
             for day, ranges in HOURS.items() for start, end in ranges]
    busy: list[slots.Interval] = []
    today = now.astimezone(zone).date()
    for client_index, service_index, days, earliest, status, note in APPOINTMENTS:
        service = services[service_index]
        past = status is not AppointmentStatus.BOOKED
        rules = slots.Rules(zone=zone, step=timedelta(minutes=practice.slot_step_minutes),
                            min_notice=timedelta(minutes=0 if past
                                                 else practice.min_notice_minutes),
                            horizon=timedelta(days=3660))
        starts_at = _first_free(rules, hours, busy, service, day=today + timedelta(days=days),
                                earliest=earliest, now=now - timedelta(days=3650) if past else now)
        ends_at = starts_at + timedelta(minutes=service.duration_minutes)
        if past and ends_at > now:
            continue  # only possible with unusual hours; a demo can do without it
        blocked_until = ends_at + timedelta(minutes=service.buffer_minutes)
        busy.append((starts_at, blocked_until))
        booked_at = min(starts_at - timedelta(days=6), now - timedelta(days=1))
        session.add(Appointment(
            client_id=clients[client_index].id, therapist_id=therapist.id,
            service_id=service.id, starts_at=starts_at, ends_at=ends_at,
            blocked_until=blocked_until, status=status, price_pence=service.price_pence,
            client_note=note, booked_by_id=clients[client_index].id, created_at=booked_at,
            updated_at=ends_at if past else booked_at,
        ))
    session.flush()


def _first_free(rules: slots.Rules, hours: list[slots.WeeklyRange],
                busy: list[slots.Interval], service: Service, *, day, earliest: time,
                now: datetime) -> datetime:
    """The first free start at or after `earliest` (local) on `day` or the days after it;
    failing that, the first free start at all."""
    free = slots.free_slots(rules=rules, hours=hours, time_off=[], busy=busy,
                            duration=timedelta(minutes=service.duration_minutes),
                            buffer=timedelta(minutes=service.buffer_minutes), now=now,
                            first=day, last=day + timedelta(days=13))
    preferred = [s for s in free if s.astimezone(rules.zone).time() >= earliest]
    if not free:
        raise InvalidInput(None, "The demo diary has no free time for its appointments.")
    return (preferred or free)[0]
