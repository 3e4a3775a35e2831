"""The demo practice created by `flask seed-demo` (development and screenshots only)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from portal.models import (
    Appointment,
    AppointmentStatus,
    Exercise,
    IntakeForm,
    Practice,
    Role,
    Service,
    User,
    WorkingHours,
)
from portal.services import accounts, library, library_seed, slots
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
    seed_exercise_library(session, therapist, now=now)


# --- the exercise library ----------------------------------------------------------------

FEATURED_SLUG = "kneeling-hip-flexor-stretch"


def seed_exercise_library(session: Session, therapist: User, *, now: datetime) -> list[Exercise]:
    """The starter library (published, written a few weeks ago) with the kneeling hip flexor
    stretch as the exercise of the week; returns the exercises in seed order."""
    exercises = library_seed.seed_library(session, therapist, now - timedelta(days=45))
    featured = next(e for e in exercises if e.slug == FEATURED_SLUG)
    library.feature_exercise(session, therapist, featured.id, now)
    return exercises


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
