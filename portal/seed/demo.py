"""The demo practice created by `flask seed-demo` (development and screenshots only).

Everything is placed relative to the `now` given to `seed`, so the diary looks alive whenever
it runs: a full working week (Monday to Saturday) around now, a lighter week before and after
it and a few visits further back. On a Sunday the full week is the coming one. Local times are
turned into UTC by the slot engine, in the practice's zone, so clock-change weeks come out
right. Nothing is random: the same `now` always gives the same practice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from portal.models import (
    Appointment,
    AppointmentStatus,
    CompletionLog,
    Enquiry,
    EnquiryStatus,
    Exercise,
    Feedback,
    Message,
    MessageThread,
    Moment,
    Practice,
    ProgrammeItem,
    ProgrammeVersion,
    Role,
    Service,
    Sides,
    ThreadStatus,
    User,
    WorkingHours,
)
from portal.seed import library as library_seed
from portal.services import (
    accounts,
    articles,
    audit,
    client_day,
    diary_days,
    intake,
    library,
    programmes,
    slots,
    two_factor,
    wording,
)
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput
from portal.services.passwords import Passwords
from portal.services.secret_box import SecretBox

THERAPIST = ("therapist", "jo@example.com", "knead-to-know-2026")
# Therapists sign in with a second factor. The demo therapist's authenticator key is published
# like the passwords: `flask demo-code` prints the code it gives now, or add the key to an app.
THERAPIST_TOTP_SECRET = "JBSWY3DPEHPK3PXPDEMOJOFLETCHER23"  # noqa: S105 - published demo key
CLIENTS = [
    ("client", "alex@example.com", "hip-flexor-friday"),
    ("client", "sam@example.com", "long-run-sunday"),
]
LOGINS = [THERAPIST, *CLIENTS]


# --- the people ------------------------------------------------------------------------------

JOINED, INVITED, DEACTIVATED = "joined", "invited", "deactivated"


@dataclass(frozen=True)
class Person:
    """A demo client: `key` names them in the tables below."""

    key: str
    name: str
    email: str
    state: str = JOINED
    answers: dict[str, str] = field(default_factory=dict)
    red_flags: tuple[str, ...] = ()


def _answers(phone: str, contact: str, gp: str, complaints: str, conditions: str,
             medication: str, activity: str, red_flag_details: str = "") -> dict[str, str]:
    return {"phone": phone, "emergency_contact": contact, "gp_details": gp,
            "complaints": complaints, "conditions": conditions, "medication": medication,
            "activity": activity, "red_flag_details": red_flag_details}


PEOPLE = [
    Person("alex", "Alex Morgan", CLIENTS[0][1], answers=_answers(
        "07700 900123", "Chris Morgan (partner), 07700 900124", "Borough Medical Centre",
        "Stiff lower back after long days at the desk, worse on Monday mornings. Hips feel "
        "tight when I start a run.", "None.", "None.",
        "Desk job. Runs 3 times a week (5 to 10 km), gym once a week.")),
    Person("sam", "Sam Patel", CLIENTS[1][1], answers=_answers(
        "07700 900456", "Priya Patel (sister), 07700 900457", "",
        "Tight calves and the back of my left thigh since increasing mileage for a half "
        "marathon. Left calf cramps late in long runs.", "Mild asthma, well controlled.",
        "Salbutamol inhaler as needed.",
        "Running 40 km a week, training for a half marathon in the spring.")),
    Person("tomasz", "Tomasz Wróbel", "tomasz@example.com", answers=_answers(
        "07700 900211", "Agata Wróbel (wife), 07700 900212", "Tower Bridge Surgery",
        "Lower back aches after long rides, and the front of my hips feel short when I stand "
        "up off the bike.", "None.", "None.",
        "Cycles to work every day (12 km each way); club ride on Wednesdays, sportives most "
        "weekends.")),
    Person("funmi", "Funmi Adeyemi", "funmi@example.com", answers=_answers(
        "07700 900318", "Tunde Adeyemi (brother), 07700 900319", "Bermondsey Health Centre",
        "Both calves are tight and my left Achilles is stiff first thing in the morning, "
        "especially after matches.", "None.", "None.",
        "Netball (goal defence): training Monday and Thursday evenings, matches on "
        "Saturdays. Office job.")),
    Person("hannah", "Hannah Brooks", "hannah@example.com", answers=_answers(
        "07700 900427", "Mark Brooks (husband), 07700 900428", "Borough Medical Centre",
        "Neck and shoulders ache by the end of the day, worse on the right, and I get "
        "headaches at the back of my head in busy weeks.", "None.",
        "Ibuprofen now and then for headaches.",
        "Accountant, long hours at a laptop. Pilates once a week when I can.")),
    Person("declan", "Declan Byrne", "declan@example.com", red_flags=("recent_injury",),
           answers=_answers(
               "07700 900533", "Niamh Byrne (mother), 07700 900534", "Southwark Park Practice",
               "Getting back to football after knee surgery. The back of both thighs is "
               "tight and the right knee feels stiff after sitting.", "None.", "None.",
               "Five-a-side twice a week before the operation; walking and the gym programme "
               "from the physio now.",
               "Keyhole surgery on my right knee (a torn meniscus trimmed) about two months "
               "ago. The surgeon and physio have signed me off to start running and playing "
               "again, building up slowly.")),
    Person("ines", "Inês Carvalho", "ines@example.com", answers=_answers(
        "07700 900642", "Rui Carvalho (husband), 07700 900643", "",
        "Right shoulder and the front of my chest get sore after padel, and my neck is stiff "
        "after long flights.", "None.", "None.",
        "Padel three times a week; flies for work about twice a month.")),
    Person("kwame", "Kwame Mensah", "kwame@example.com", answers=_answers(
        "07700 900751", "Efua Mensah (sister), 07700 900752", "Borough Medical Centre",
        "A pinch at the front of my right hip at the bottom of deep squats, for about six "
        "weeks. Fine when walking or running.", "None.", "Creatine and whey protein.",
        "Powerlifting four times a week; competing in the autumn.")),
    Person("ruth", "Ruth Abernethy", "ruth@example.com", answers=_answers(
        "07700 900864", "Graham Abernethy (husband), 07700 900865", "Dulwich Medical Centre",
        "Calves and hips tighten up on long walks, and my knees grumble on steep descents.",
        "Mild arthritis in both knees. Blood pressure, controlled with tablets.",
        "Amlodipine 5 mg daily.",
        "Retired teacher. Walks 10 to 20 miles a week; training for the Coast to Coast "
        "walk.")),
    Person("mei", "Mei Chen", "mei@example.com", answers=_answers(
        "07700 900972", "Lin Chen (mother), 07700 900973", "Waterloo Health Centre",
        "Tight neck and upper back on my left side, and a dull ache between the shoulder "
        "blades after long rehearsals.", "None.", "None.",
        "Orchestral violinist: four to six hours of playing a day. Swims on Sundays.")),
    Person("oskar", "Oskar Lindqvist", "oskar@example.com", answers=_answers(
        "07700 900185", "Sara Lindqvist (partner), 07700 900186", "",
        "Rounded shoulders and a tight chest from climbing; the front of my left shoulder "
        "aches on overhanging routes.", "None.", "None.",
        "Indoor bouldering on Monday, Wednesday and Friday evenings; works from home.")),
    Person("gareth", "Gareth Pryce", "gareth@example.com", state=DEACTIVATED, answers=_answers(
        "07700 900294", "Carys Pryce (wife), 07700 900295", "Borough Medical Centre",
        "Hamstrings and calves tight since starting to train for a marathon.", "None.",
        "None.", "Running 50 km a week.")),
    Person("olivia", "Olivia Grant", "olivia@example.com", state=INVITED),
    Person("yusuf", "Yusuf Rahman", "yusuf@example.com", state=INVITED),
]
# When the invitations still waiting were sent, in days before now.
INVITED_DAYS_AGO = {"olivia": 9, "yusuf": 3}


# --- the diary -----------------------------------------------------------------------------

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
CONSULT, S30, S60, S90 = range(4)
BUFFER_MINUTES = 15
CANCEL_WINDOW_HOURS = 24
# weekday (0 = Monday) -> working ranges; the gap from 13:00 to 14:00 is lunch.
HOURS = {
    **{day: [(time(9), time(13)), (time(14), time(18))] for day in range(5)},
    5: [(time(9), time(13))],
}


@dataclass(frozen=True)
class Visit:
    """A session in the plan: `week` counts from the anchor week (0), `weekday` from Monday,
    `at` is the earliest local start wanted (the first free slot from then is taken)."""

    week: int
    weekday: int
    client: str
    service: int
    at: str
    note: str = ""


V = Visit
PLAN = [
    # A few visits in the weeks before, where the programmes were set.
    V(-8, 0, "gareth", CONSULT, "16:00"), V(-8, 3, "ruth", CONSULT, "11:00"),
    V(-7, 1, "ines", CONSULT, "17:00"),
    V(-6, 0, "gareth", S60, "16:00"), V(-6, 3, "sam", CONSULT, "12:00"),
    V(-5, 1, "alex", CONSULT, "10:00"), V(-5, 4, "hannah", CONSULT, "12:00"),
    V(-4, 0, "tomasz", CONSULT, "09:00"), V(-4, 3, "ruth", S90, "11:00"),
    V(-4, 3, "declan", CONSULT, "14:00"),
    V(-3, 1, "funmi", CONSULT, "12:00"), V(-3, 1, "ines", S60, "14:30"),
    V(-3, 2, "alex", S60, "11:00"), V(-3, 2, "mei", CONSULT, "14:00"),
    V(-3, 5, "sam", S60, "09:00"),
    V(-2, 1, "oskar", CONSULT, "17:00"), V(-2, 3, "declan", S60, "14:00"),
    V(-2, 4, "hannah", S30, "12:00"),
    # Last week: a quieter one.
    V(-1, 0, "ines", S30, "12:00"), V(-1, 0, "declan", S60, "14:00"),
    V(-1, 1, "tomasz", S60, "09:00"),
    V(-1, 2, "mei", S60, "10:00"), V(-1, 2, "alex", S60, "17:00",
                                      "Back much better; hips still tight."),
    V(-1, 3, "sam", S60, "12:00", "Long run of 18 km on Sunday."),
    V(-1, 3, "declan", S60, "14:00"),
    V(-1, 4, "oskar", S60, "15:00"),
    V(-1, 5, "funmi", S60, "10:00", "Tight calves after Thursday's training."),
    # The week the demo is about: four sessions a day, three on Saturday morning.
    V(0, 0, "tomasz", S60, "09:00", "Lower back tight after a 90 km sportive on Saturday."),
    V(0, 0, "hannah", S30, "10:30", "Neck has locked up again: deadline week."),
    V(0, 0, "declan", S60, "14:00"),
    V(0, 0, "sam", S90, "15:45", "Long run of 21 km on Sunday; left calf cramped near the end."),
    V(0, 1, "mei", S60, "09:00", "Touring with the orchestra next week, shoulders are tense."),
    V(0, 1, "funmi", S30, "12:00"),
    V(0, 1, "ines", S60, "14:30", "Right shoulder sore after the club tournament."),
    V(0, 1, "oskar", S30, "17:00"),
    V(0, 2, "alex", S60, "09:30", "Lower back stiff again after a long drive at the weekend."),
    V(0, 2, "hannah", S30, "12:00"),
    V(0, 2, "sam", S30, "14:30", "Quick calf check before the half marathon."),
    V(0, 2, "kwame", CONSULT, "16:00", "First visit. Right hip pinches when I squat deep."),
    V(0, 3, "olivia", CONSULT, "09:30"),
    V(0, 3, "ruth", S90, "11:00", "Walking the Coast to Coast in May!"),
    V(0, 3, "declan", S60, "14:00"),
    V(0, 3, "mei", S30, "16:30"),
    V(0, 4, "oskar", S60, "09:30"),
    V(0, 4, "yusuf", CONSULT, "11:00"),
    V(0, 4, "ines", S30, "14:00"),
    V(0, 4, "funmi", S60, "16:00", "Match on Saturday."),
    V(0, 5, "kwame", S30, "09:00", "Follow-up, booked with my consultation."),
    V(0, 5, "tomasz", S60, "10:00"),
    V(0, 5, "alex", S30, "11:30"),
    # Booked ahead.
    V(1, 0, "hannah", S30, "12:00"), V(1, 0, "declan", S60, "14:00"),
    V(1, 1, "tomasz", S60, "17:00"),
    V(1, 2, "mei", S60, "10:00"),
    V(1, 3, "oskar", S30, "12:00"),
    V(1, 3, "sam", S60, "16:00", "Recovery session after the half."),
    V(1, 4, "ines", S60, "14:30"),
    V(1, 5, "funmi", S30, "09:30"),
    V(2, 1, "alex", S60, "17:00"),
    V(4, 3, "ruth", S90, "11:00"),
]
# Booked by the therapist on the phone; they come in without having set up their login.
BOOKED_BY_THERAPIST = {"olivia", "yusuf"}
DEACTIVATED_WEEK = -4  # Gareth moved away and his access was closed then.

CANCEL_REASON = ("Sorry, work is sending me to Manchester that day. I'll book again when I'm "
                 "back.")
LATE_CANCEL_REASON = ("Phoned first thing with a temperature, so I asked them not to come in. "
                      "Recorded as a late cancellation; no charge this time.")
NO_SHOW_NOTE = ("Didn't arrive and no message. Sent a text to check all is well and to remind "
                "them of the cancellation policy.")
# A private note on each of these clients' latest attended session.
SESSION_NOTES = {
    "tomasz": "Right QL and lumbar erectors tight after the sportive; hip flexors short on "
              "both sides (Thomas test positive, right worse). Worked glutes, adductors and "
              "TFL. Hamstring stretch going well: progress to level 2 next time.",
    "declan": "Right knee: full extension, flexion to about 120 degrees, no swelling. "
              "Hamstrings guarded after his first game back; kept pressure light around the "
              "portal scars. Fine to keep playing, 40 minutes a game for now.",
    "hannah": "Upper traps and levator scapulae very tight, right worse than left; tender "
              "point in the right rhomboid. Works from the sofa most evenings: suggested a "
              "laptop stand. Keep the neck stretches gentle.",
    "sam": "Left soleus tight with a tender band mid-calf; right side fine. Worked calves, "
           "hamstrings and glutes, light on the ITB. Taper from here: easy miles only.",
    "funmi": "Achilles non-tender today; both calves tight. Honest that the stretches haven't "
             "happened. Agreed on one thing only: the calf stretch straight after training. "
             "Check in on it next visit.",
    "kwame": "Initial assessment. Right hip: pinch at the front in deep flexion, no click, "
             "strength normal. Adductors and glute med tight. Likely load from the heavier "
             "squat block. Programme to follow once he has tried a narrower stance.",
}
NOTE_ON_FIRST_VISIT = {"kwame"}


# --- the public pages --------------------------------------------------------------------

PRACTICE_INTRO = "\n\n".join((
    "Sports massage and home stretching programmes for runners, riders, gym-goers and "
    "anyone whose back has had enough of the desk. Sessions are in a quiet room by the "
    "river, five minutes from London Bridge.",
    "After each session you get a short programme of stretches in the portal, with a timer "
    "and reminders at the moments that suit your day, so the good work carries on between "
    "visits.",
))

HIP_ARTICLE_TITLE = "Exercise of the week: hip flexor stretch to ease lower back pain"
HIP_ARTICLE_SLUG = "hip-flexor-stretch-lower-back-pain"
HIP_ARTICLE_SUMMARY = ("Long hours of sitting shorten the muscles at the front of your hips, "
                       "and your lower back pays for it. A two-minute stretch that gives them "
                       "some length back, and when to fit it into your day.")
HIP_ARTICLE = "\n\n".join((
    "## Why tight hip flexors load your lower back",
    "Deep at the front of each hip sit your hip flexors. The biggest, the iliopsoas, is "
    "really two muscles: the psoas major, which starts on the sides of your lower spine, "
    "and the iliacus, which lines the inside of your pelvis. Both end at the top of your "
    "thigh bone. They lift your knee towards your chest, and they help hold your pelvis "
    "and trunk steady when you walk, run or simply stand.",
    "Spend most of the day sitting (at a desk, behind the wheel, on the train home) and "
    "they stay short for hours at a time. Over weeks they get used to that length. When "
    "you stand up, short hip flexors pull the top of your pelvis forwards and down. That "
    "forward tilt deepens the curve of your lower back and loads its joints, makes it "
    "harder for your glutes to do their share, and leaves your core working from a poor "
    "position. Many people feel the result as an ache or stiffness across the lower back, "
    "often worst at the end of a long day or first thing in the morning.",
    "Stretching the front of the hip won't cancel out a sitting job, but done regularly it "
    "gives those muscles back some length. Plenty of our clients notice their back "
    "settling within a couple of weeks.",
    "[[exercise]]",
    "## When to slot it in",
    "Little and often works better than one long session:",
    "- **After training**, especially runs, rides or a leg day in the gym, while you're "
    "still warm.\n"
    "- **In a break from sitting**: every hour or two at your desk, stand up and do one "
    "round each side. It takes less than two minutes.\n"
    "- **In the morning**, as part of a few minutes of mobility before the day starts.\n"
    "- **Before bed**, slowly, to let your hips and lower back unwind.",
    "If your lower back stiffens up often, aim for once a day to begin with. When 30 "
    "seconds each side feels easy, move on to the overhead reach.",
    "## Not sure it suits you?",
    "A stretch should feel like mild tension, never pain. If you've had a hip, knee or "
    "back injury, if the stretch brings on pain, or if your back pain spreads down your "
    "leg, check with us before you try it. Unsure whether it's right for you? Feel free to "
    "[get in touch](/ask?article=" + HIP_ARTICLE_SLUG + "): we're happy to "
    "answer questions, and we can work on it together at your next session.",
))

NECK_ARTICLE_TITLE = "Chin tucks for a desk-bound neck"
NECK_ARTICLE_SUMMARY = ("The small movement that undoes a day of leaning towards the screen: "
                        "why your neck aches by the afternoon, and how to fit chin tucks in.")
NECK_ARTICLE = "\n\n".join((
    "## Why your neck aches by the afternoon",
    "Notes for next week: the head's weight as it drifts forwards, the muscles at the back "
    "of the neck holding it up all day, and headaches at the base of the skull.",
    "[[exercise]]",
    "Finish with when to do them: at every screen break, and in the car at red lights.",
))

ENQUIRY = ("Maya Collins", "maya.collins@example.com",
           "Hi, I read your hip flexor article. I've had lower back pain on and off since my "
           "second baby and I sit at a desk all day, so it sounds like me. Is the kneeling "
           "stretch OK to do if my knees don't like kneeling? And would a 60 minute massage "
           "or the initial consultation be better to start with?")


# --- programmes ----------------------------------------------------------------------------

HIP, KNEE, CAT, CHILD, GLUTE = ("kneeling-hip-flexor-stretch", "knee-to-chest", "cat-cow",
                                "childs-pose", "figure-four-glute-stretch")
HAM, CALF, CHIN, NECK, CHEST = ("standing-hamstring-stretch", "wall-calf-stretch",
                                "chin-tuck", "side-neck-stretch", "doorway-chest-stretch")
M, W, T, B = Moment.MORNING, Moment.WORK_BREAK, Moment.AFTER_TRAINING, Moment.BEFORE_BED
FEATURED_SLUG = HIP
TEMPLATE_NAME = "Desk worker's lower back"
HIP_NOTE = ("Tuck your tailbone under before you lean in: you should feel it at the front of "
            "the hip, as mild tension. If it pinches, come up a little and ease off.")
NECK_NOTE = ("Let your head tip by its own weight: a gentle pull along the side of the neck, "
             "never a pinch. Stop if it sends anything down your arm.")


@dataclass(frozen=True)
class Version:
    """A programme version saved just after the client's session in (week, weekday)."""

    week: int
    weekday: int
    note: str
    items: tuple[tuple[str, dict], ...]


PROGRAMMES: dict[str, list[Version]] = {
    "alex": [
        Version(-3, 2, "Little and often: a couple of minutes in your work breaks, a few "
                       "before bed.", (
                           (HIP, {"hold_seconds": 20, "moments": (W,)}),
                           (CAT, {"moments": (M,)}),
                           (KNEE, {"moments": (B,), "days_per_week": 5}),
                           (CHILD, {"moments": (B,)}))),
        Version(-1, 2, "Your hips are still tight after runs, so the hip flexor stretch now "
                       "holds for 30 s and comes after training too. New: the figure-four "
                       "stretch after your runs.", (
                           (HIP, {"moments": (W, T), "personal_note": HIP_NOTE}),
                           (GLUTE, {"moments": (T,), "days_per_week": 3}),
                           (CAT, {"moments": (M,)}),
                           (CHILD, {"moments": (B,)}))),
    ],
    "sam": [
        Version(-6, 3, "Calves and hamstrings after every run, and child's pose to wind down.",
                ((CALF, {"moments": (T,), "days_per_week": 4}),
                 (HAM, {"hold_seconds": 20, "moments": (T,), "days_per_week": 4}),
                 (CHILD, {"moments": (B,)}))),
        Version(-3, 5, "Half marathon block: the calf stretch moves to level 2 (knee bent, for "
                       "the deeper calf muscle) and the figure-four joins after long runs.",
                ((CALF, {"moments": (T,), "days_per_week": 4, "level": 2}),
                 (HAM, {"moments": (T,), "days_per_week": 4}),
                 (GLUTE, {"moments": (T,), "days_per_week": 4}),
                 (CHILD, {"moments": (B,)}))),
    ],
    "tomasz": [
        Version(-4, 0, "Four short ones that fit round your rides. The hip flexor stretch is "
                       "the one that matters most after a long day in the saddle.",
                ((HIP, {"moments": (W,), "personal_note": HIP_NOTE}),
                 (CAT, {"moments": (M,)}),
                 (HAM, {"moments": (T,), "days_per_week": 3}),
                 (KNEE, {"moments": (B,)}))),
    ],
    "funmi": [
        Version(-3, 1, "Three stretches for your calves and the back of your legs. Even two "
                       "minutes after training helps.",
                ((CALF, {"moments": (T,), "days_per_week": 3}),
                 (HAM, {"moments": (B,)}),
                 (GLUTE, {"moments": (M,), "days_per_week": 5}))),
    ],
    "hannah": [
        Version(-5, 4, "For the desk days: chin tucks and the neck stretch in your breaks, the "
                       "chest stretch in the morning.",
                ((CHIN, {"moments": (W,)}),
                 (NECK, {"moments": (W,)}),
                 (CHEST, {"moments": (M,)}))),
        Version(-2, 4, "Deadline season: the neck stretch now holds for 30 s, and cat-cow first "
                       "thing to loosen your upper back.",
                ((CHIN, {"moments": (W,)}),
                 (NECK, {"hold_seconds": 30, "moments": (W,), "personal_note": NECK_NOTE}),
                 (CHEST, {"moments": (M,)}),
                 (CAT, {"moments": (M,)}))),
    ],
    "declan": [
        Version(-4, 3, "Gentle to start: nothing here should bother the knee. Stop and message "
                       "me if it swells.",
                ((HAM, {"hold_seconds": 20, "moments": (M,)}),
                 (KNEE, {"moments": (M,)}),
                 (GLUTE, {"moments": (B,)}))),
        Version(-2, 3, "The knee is settling well. The hamstring stretch moves to level 2 and "
                       "a calf stretch comes in after your runs.",
                ((HAM, {"moments": (M,), "level": 2}),
                 (KNEE, {"moments": (M,)}),
                 (GLUTE, {"moments": (B,)}),
                 (CALF, {"moments": (T,), "days_per_week": 3}))),
        Version(-1, 3, "Back to five-a-side: knee-to-chest has done its job and is out. New: "
                       "the hip flexor stretch after games, and the hamstring stretch after "
                       "training as well as in the morning.",
                ((HAM, {"moments": (M, T), "level": 2}),
                 (GLUTE, {"moments": (B,)}),
                 (CALF, {"moments": (T,), "days_per_week": 3}),
                 (HIP, {"moments": (T,), "days_per_week": 3}))),
    ],
    "ines": [
        Version(-3, 1, "Open the chest after padel, and keep the neck moving on travel days.",
                ((CHEST, {"moments": (T,), "days_per_week": 3}),
                 (NECK, {"moments": (W,)}),
                 (CAT, {"moments": (M,)}))),
    ],
    "ruth": [
        Version(-8, 3, "Before and after your walks: calves and hips in the morning, "
                       "knee-to-chest before bed.",
                ((CALF, {"moments": (M,)}),
                 (HIP, {"moments": (M,)}),
                 (KNEE, {"moments": (B,)}))),
    ],
    "mei": [
        Version(-3, 2, "Short breaks between rehearsals: chin tucks and the neck stretch. The "
                       "chest stretch before bed undoes the playing position.",
                ((CHIN, {"moments": (W,)}),
                 (NECK, {"moments": (W,)}),
                 (CHEST, {"moments": (B,)}),
                 (CAT, {"moments": (M,)}))),
    ],
    "oskar": [
        Version(-2, 1, "Counter the climbing posture: chest stretch after sessions, chin tucks "
                       "and cat-cow in the morning.",
                ((CHEST, {"moments": (T,), "days_per_week": 3}),
                 (CHIN, {"moments": (M,)}),
                 (CAT, {"moments": (M,)}))),
    ],
    "gareth": [
        Version(-8, 0, "Marathon block: hamstrings and calves after every run.",
                ((HAM, {"moments": (T,), "days_per_week": 5}),
                 (CALF, {"moments": (T,), "days_per_week": 5}),
                 (GLUTE, {"moments": (B,)}))),
    ],
}

# When in the day each moment's log is made (local time).
LOG_TIMES = {Moment.MORNING: time(7, 30), Moment.WORK_BREAK: time(11, 15),
             Moment.AFTER_TRAINING: time(19, 10), Moment.BEFORE_BED: time(22, 0)}
# The days each client trains (0 = Monday): after-training items are done on these.
TRAINING_DAYS = {"alex": {1, 3, 6}, "sam": {1, 3, 5, 6}, "tomasz": {2, 5, 6},
                 "funmi": {0, 3, 5}, "declan": {1, 3, 6}, "ines": {1, 4, 5},
                 "oskar": {0, 2, 4}, "gareth": {0, 2, 3, 5, 6}, "hannah": set(),
                 "ruth": set(), "mei": set()}
# How well each client keeps up: "high", "low" or the default (about three in four).
KEEPS_UP = {"tomasz": "high", "funmi": "low"}
# What a client sometimes writes with a log of a stretch done on each side in turn.
LOG_NOTES = {
    "alex": "Left side still tighter than the right.",
    "sam": "Left side tighter after the long run.",
    "tomasz": "Right side tight after the club ride.",
    "hannah": "Right side much tighter today.",
    "declan": "Knee fine; the right side is the tight one.",
    "ines": "Right side sore after padel.",
    "ruth": "Stiff after a hilly walk, eased as I held it.",
    "mei": "Left side tighter after a long rehearsal.",
    "funmi": "Only remembered after training.",
    "gareth": "Legs heavy after the long run.",
}
ALEX_PAIN_NOTE = ("Sharp pinch at the front of the left hip when I leaned forward, so I "
                  "stopped.")
# Conversations: (client, what about, subject for a general one, messages as (days before
# today, local time, from the client?, text), marked done?). Alex's ends with a question Jo has
# not read yet, and so does Hannah's.
HIP_QUESTION = ("When I lean forward in the hip flexor stretch I sometimes feel a pinch at the "
                "front of my left hip instead of a stretch. Am I doing it wrong?")
HIP_ANSWER = ("Thanks for asking rather than pushing through. A pinch usually means the hip is "
              "hinging forward instead of the pelvis tucking under. Before you lean, squeeze "
              "your bottom and think \"tailbone down\"; then lean only until you feel a gentle "
              "stretch at the front of the hip. Smaller is fine.")
HIP_FOLLOW_UP = ("Tried it this morning with the tailbone tucked: no pinch, just a stretch. "
                 "Should I still hold for 30 seconds each side?")
CONVERSATIONS = [
    ("alex", HIP, None, [(2, "19:40", True, HIP_QUESTION), (1, "08:15", False, HIP_ANSWER),
                         (0, "07:50", True, HIP_FOLLOW_UP)], False),
    ("sam", None, "Stretching the week of the half marathon", [
        (6, "20:05", True, "Should I keep doing my calf stretches in the days before the half "
                           "marathon, or rest them?"),
        (5, "09:30", False, "Keep them, but gently: hold each stretch for 20 seconds rather "
                            "than 30 and skip them on race morning. After the race, start "
                            "again the next day.")], True),
    ("hannah", "next_visit", None, [
        (0, "07:10", True, "My neck is still stiff from last week. Is it better to keep the "
                           "stretches going until I see you, or rest it?")], False),
]
HANNAH_PAIN_NOTE = ("Sharp pain into my right shoulder blade when I tipped my head, so I "
                    "stopped straight away.")


# --- seeding -------------------------------------------------------------------------------


@dataclass
class _Context:
    """What the steps share: time, the practice's zone and the rows made so far."""

    session: Session
    now: datetime
    zone: ZoneInfo
    monday: date  # the anchor week's Monday
    therapist: User
    people: dict[str, User] = field(default_factory=dict)
    joined_at: dict[str, datetime] = field(default_factory=dict)
    visits: dict[tuple[str, int, int], Appointment] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def day(self, week: int, weekday: int) -> date:
        return self.monday + timedelta(weeks=week, days=weekday)


def anchor_monday(today: date) -> date:
    """The Monday of the week the demo is about: this week's, or the coming one's on a
    Sunday (when this week's work is over)."""
    if today.weekday() == 6:
        return today + timedelta(days=1)
    return today - timedelta(days=today.weekday())


def seed(session: Session, passwords: Passwords, *, box: SecretBox, now: datetime,
         timezone: str) -> None:
    """Create the practice, its therapist (with an authenticator app), fourteen clients (two
    with the demo logins), a busy diary around `now`, questionnaires, programmes with logs and
    session notes."""
    taken = [p.email for p in PEOPLE if accounts.find_by_email(session, p.email)]
    taken += [THERAPIST[1]] if accounts.find_by_email(session, THERAPIST[1]) else []
    if taken:
        # Checked up front: a clash on a client's address would otherwise surface only as an
        # IntegrityError traceback at commit.
        raise InvalidInput("email", f"The demo accounts already exist ({', '.join(taken)}).")
    # A practice made earlier by create-therapist keeps its zone; the diary follows it.
    existing = practice_service.current(session)
    zone = practice_service.zone_of(existing) if existing else ZoneInfo(timezone)
    monday = anchor_monday(now.astimezone(zone).date())
    opened = slots.resolve(monday - timedelta(weeks=9), time(9), zone)
    practice = accounts.ensure_practice(
        session, name="Riverside Sports Massage", timezone=timezone, now=opened)
    practice.email = "hello@example.com"
    practice.phone = "020 7946 0321"
    practice.address = "12 Mill Lane, London SE1 9XX"
    practice.intro = PRACTICE_INTRO
    therapist = accounts.create_therapist(
        session, passwords, email=THERAPIST[1], name="Jo Fletcher", password=THERAPIST[2],
        now=opened)
    two_factor.enrol_app(session, box, therapist, secret=THERAPIST_TOTP_SECRET, now=opened)
    ctx = _Context(session=session, now=now, zone=zone, monday=monday, therapist=therapist)
    services = seed_practice(session, practice, therapist, since=opened)
    exercises = seed_exercise_library(session, therapist, now=now,
                                      written=opened + timedelta(hours=2))
    seed_clients(ctx, passwords)
    seed_diary(ctx, services)
    seed_programmes(ctx, {e.slug: e for e in exercises})
    seed_notes(ctx)
    seed_messages(ctx)
    seed_articles(ctx, {e.slug: e for e in exercises})
    gareth = ctx.people["gareth"]
    accounts.set_active(session, therapist, gareth, active=False,
                        now=slots.resolve(ctx.day(DEACTIVATED_WEEK, 2), time(18), ctx.zone))
    session.flush()


def seed_practice(session: Session, practice: Practice, therapist: User, *,
                  since: datetime) -> list[Service]:
    """The booking rules, the four services and the weekly hours; returns the services."""
    practice.slot_step_minutes = 15
    practice.min_notice_minutes = 12 * 60
    practice.horizon_days = 56
    practice.cancel_window_hours = CANCEL_WINDOW_HOURS
    practice.reminder_lead_hours = 24
    services = []
    for order, (name, minutes, pence, description) in enumerate(SERVICES):
        service = Service(name=name, duration_minutes=minutes, price_pence=pence,
                          description=description, buffer_minutes=BUFFER_MINUTES,
                          sort_order=order, active=True, created_at=since)
        session.add(service)
        services.append(service)
    for weekday, ranges in HOURS.items():
        for start, end in ranges:
            session.add(WorkingHours(therapist_id=therapist.id, weekday=weekday,
                                     start_time=start, end_time=end))
    session.flush()
    return services


def seed_exercise_library(session: Session, therapist: User, *, now: datetime,
                          written: datetime) -> list[Exercise]:
    """The starter library (published when the practice opened) with the kneeling hip flexor
    stretch as the exercise of the week; returns the exercises in seed order."""
    exercises = library_seed.seed_library(session, therapist, written)
    featured = next(e for e in exercises if e.slug == FEATURED_SLUG)
    library.feature_exercise(session, therapist, featured.id, now)
    return exercises


def _first_visit(ctx: _Context, key: str) -> date | None:
    days = [ctx.day(v.week, v.weekday) for v in PLAN if v.client == key]
    return min(days) if days else None


def seed_clients(ctx: _Context, passwords: Passwords) -> None:
    """The clients: joined ones a few days before their first visit (with a questionnaire),
    invitations still waiting, and one account closed."""
    # The other joined clients never sign in to the demo: they share one hash of a password
    # nobody knows (hashing each costs a tenth of a second, and the seed runs in tests).
    unknown = passwords.hash(secrets.token_urlsafe(24))
    logins = {email: password for _, email, password in CLIENTS}
    for person in PEOPLE:
        if person.state == INVITED:
            invited = ctx.now - timedelta(days=INVITED_DAYS_AGO[person.key], hours=3)
            user = User(email=person.email, name=person.name, role=Role.CLIENT,
                        invited_by_id=ctx.therapist.id, invited_at=invited, created_at=invited)
        else:
            first = _first_visit(ctx, person.key)
            joined = slots.resolve(first - timedelta(days=5), time(20, 30), ctx.zone)
            joined = min(joined, ctx.now - timedelta(hours=1))
            password = logins.get(person.email)
            user = User(email=person.email, name=person.name, role=Role.CLIENT,
                        password_hash=passwords.hash(password) if password else unknown,
                        password_changed_at=joined, invited_by_id=ctx.therapist.id,
                        invited_at=joined - timedelta(days=1),
                        created_at=joined - timedelta(days=1),
                        last_login_at=joined)
            ctx.joined_at[person.key] = joined
        ctx.session.add(user)
        ctx.people[person.key] = user
    ctx.session.flush()
    for person in PEOPLE:
        if person.key in ctx.joined_at:
            intake.submit(ctx.session, ctx.people[person.key], ctx.people[person.key],
                          answers=person.answers,
                          red_flags=dict.fromkeys(person.red_flags, True), consent=True,
                          now=ctx.joined_at[person.key] + timedelta(minutes=10))


def _place(rules: slots.Rules, hours: list[slots.WeeklyRange], busy: list[slots.Interval],
           service: Service, day: date, earliest: time) -> datetime | None:
    """The first free start on `day` at or after `earliest` (local), else the day's first
    free start, else None. Buffers and working hours as for a client's booking."""
    free = slots.free_slots(rules=rules, hours=hours, time_off=[], busy=busy,
                            duration=timedelta(minutes=service.duration_minutes),
                            buffer=timedelta(minutes=service.buffer_minutes),
                            now=slots.resolve(day, time.min, rules.zone) - timedelta(days=1),
                            first=day, last=day)
    later = [s for s in free if s.astimezone(rules.zone).time() >= earliest]
    return (later or free or [None])[0]


def seed_diary(ctx: _Context, services: list[Service]) -> None:
    """Every visit of the plan on a real free slot (so none overlap, buffers included), then
    what happened to the ones that are over: attended, except for one no-show, one
    cancellation and one late cancellation, chosen among the latest sessions so that they
    fall in this week whenever this week has a past."""
    zone = ctx.zone
    rules = slots.Rules(zone=zone, step=timedelta(minutes=15), min_notice=timedelta(0),
                        horizon=timedelta(days=3))
    hours = [slots.WeeklyRange(day, start, end)
             for day, ranges in HOURS.items() for start, end in ranges]
    busy: list[slots.Interval] = []
    anchors = {(key, v.week, v.weekday) for key, versions in PROGRAMMES.items()
               for v in versions}
    appointments: list[Appointment] = []
    fixed: set[Appointment] = set()  # sessions a programme was set at, and first visits
    for n, visit in enumerate(PLAN):
        service = services[visit.service]
        hour, minute = map(int, visit.at.split(":"))
        starts_at = _place(rules, hours, busy, service, ctx.day(visit.week, visit.weekday),
                           time(hour, minute))
        if starts_at is None:
            continue  # only possible if the hours above change; a demo can do without it
        ends_at = starts_at + timedelta(minutes=service.duration_minutes)
        blocked_until = ends_at + timedelta(minutes=service.buffer_minutes)
        busy.append((starts_at, blocked_until))
        client = ctx.people[visit.client]
        by_therapist = visit.client in BOOKED_BY_THERAPIST
        if by_therapist:
            booked_at = client.invited_at + timedelta(minutes=10)
        elif visit.service == CONSULT:
            booked_at = ctx.joined_at[visit.client] + timedelta(minutes=30)
        else:
            booked_at = max(ctx.joined_at[visit.client] + timedelta(hours=1),
                            min(starts_at - timedelta(days=5 + n % 9),
                                ctx.now - timedelta(hours=2 + n % 5)))
        appointment = Appointment(
            client=client, therapist=ctx.therapist, service=service, starts_at=starts_at,
            ends_at=ends_at, blocked_until=blocked_until, status=AppointmentStatus.BOOKED,
            price_pence=service.price_pence, client_note=visit.note,
            booked_by_id=ctx.therapist.id if by_therapist else client.id,
            created_at=booked_at, updated_at=booked_at)
        ctx.session.add(appointment)
        appointments.append(appointment)
        ctx.visits[(visit.client, visit.week, visit.weekday)] = appointment
        if (visit.client, visit.week, visit.weekday) in anchors or visit.service == CONSULT:
            fixed.add(appointment)
    ctx.session.flush()

    appointments.sort(key=lambda a: a.starts_at)
    window = slots.resolve(ctx.monday - timedelta(weeks=1), time.min, zone)
    over = [a for a in appointments if a.ends_at <= ctx.now]
    # Most recent first, leaving alone the sessions programmes were set at and first visits.
    candidates = [a for a in reversed(over)
                  if a.starts_at >= window and a not in fixed]
    # One of each, on different days, skipping the session just over (often still being
    # written up) and leaving a session between two picks.
    chosen: list[Appointment] = []
    days: set[date] = set()
    index = 1
    while index < len(candidates) and len(chosen) < 3:
        day = candidates[index].starts_at.astimezone(zone).date()
        if day in days:
            index += 1
            continue
        chosen.append(candidates[index])
        days.add(day)
        index += 2
    outcomes = dict(zip((a.id for a in chosen), ("no_show", "cancelled", "late"),
                        strict=False))
    for a in over:
        outcome = outcomes.get(a.id)
        if outcome == "no_show":
            diary_days.mark_no_show(ctx.session, ctx.therapist, a,
                                now=a.starts_at + timedelta(minutes=20))
            diary_days.add_note(ctx.session, ctx.therapist, a, NO_SHOW_NOTE,
                            now=a.starts_at + timedelta(minutes=25))
        elif outcome == "cancelled":
            _cancel(ctx, a, a.client, a.starts_at - timedelta(days=2, hours=3), CANCEL_REASON)
        elif outcome == "late":
            _cancel(ctx, a, ctx.therapist, a.starts_at - timedelta(hours=3),
                    LATE_CANCEL_REASON)
        else:
            diary_days.mark_attended(ctx.session, ctx.therapist, a,
                                 now=a.ends_at + timedelta(minutes=5))


def _cancel(ctx: _Context, appointment: Appointment, actor: User, at: datetime,
            reason: str) -> None:
    """What booking.cancel() records, back-dated, without queueing an email about a
    cancellation that happened before the demo existed."""
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancelled_at = at
    appointment.cancelled_by_id = actor.id
    appointment.cancel_reason = reason
    appointment.late_cancellation = (
        at >= appointment.starts_at - timedelta(hours=CANCEL_WINDOW_HOURS))
    appointment.sequence += 1
    appointment.updated_at = at
    ctx.session.flush()
    audit.record(ctx.session, actor=actor, subject=appointment.client, now=at,
                 action="appointment.cancelled", appointment=appointment.id,
                 late=appointment.late_cancellation or None)


def seed_programmes(ctx: _Context, exercises: dict[str, Exercise]) -> None:
    """Each programme version saved twenty minutes after the session it was set at (so it is
    linked to it), and the client's logs while it was current."""
    for key, versions in PROGRAMMES.items():
        client = ctx.people[key]
        saved: list[tuple[ProgrammeVersion, datetime]] = []
        for spec in versions:
            visit = ctx.visits[(key, spec.week, spec.weekday)]
            at = visit.ends_at + timedelta(minutes=20)
            items = [programmes.ItemInput.from_exercise(exercises[slug], **overrides)
                     for slug, overrides in spec.items]
            if saved:
                # The logs of the version this one replaces, up to the day before.
                previous, previous_at = saved[-1]
                _seed_logs(ctx, key, previous, previous_at, at)
            version = programmes.save_version(
                ctx.session, ctx.therapist, client, items, spec.note, at,
                base_version=saved[-1][0].number if saved else None)
            if key == "alex" and not saved:
                programmes.save_as_template(
                    ctx.session, ctx.therapist, client, TEMPLATE_NAME,
                    at + timedelta(minutes=5),
                    description="For stiff lower backs from long days at a desk: hip flexors, "
                                "spine mobility and an easy wind-down before bed.")
            saved.append((version, at))
        last, last_at = saved[-1]
        until = ctx.now
        if key == "gareth":
            until = min(until, slots.resolve(ctx.day(DEACTIVATED_WEEK - 1, 0), time(0),
                                              ctx.zone))
        _seed_logs(ctx, key, last, last_at, until)
    ctx.session.flush()


def _done(keeps_up: str, key: str, day: date, position: int, training: set[int]) -> bool:
    """Whether the client did an item that day: a fixed pattern, so the same day always
    gives the same answer whenever the demo is seeded."""
    n = day.toordinal()
    if keeps_up == "high":
        return n % 13 != 5
    if keeps_up == "low":
        # Only on training evenings, and only the first two exercises: well under half.
        return day.weekday() in training - {5} and position < 2
    return (n * 3 + position * 5 + len(key)) % 10 not in (0, 7)


def _seed_logs(ctx: _Context, key: str, version: ProgrammeVersion, since: datetime,
               until: datetime) -> None:
    """The client's logs of a version's items made after it was saved and before `until`
    (and now), with one pain report for Alex (seen by the therapist) and one for Hannah (not
    yet seen). Plain rows, as client_day.log_completion() stores them; the pain reports go
    through it."""
    zone = ctx.zone
    until = min(until, ctx.now)
    first = since.astimezone(zone).date()
    last = until.astimezone(zone).date()
    training = TRAINING_DAYS.get(key, set())
    keeps_up = KEEPS_UP.get(key, "")
    pain: tuple[date, str, str] | None = None
    if key == "alex" and version.number == 1:
        pain = (first + timedelta(days=(last - first).days // 2), HIP, ALEX_PAIN_NOTE)
    elif key == "hannah" and version.number == 2:
        pain = (ctx.today - timedelta(days=1), NECK, HANNAH_PAIN_NOTE)
    items: list[ProgrammeItem] = list(version.items)
    rows = []
    pain_logs = []
    day = first
    while day <= last:
        for item in items:
            moment = _moment(item, day, training)
            if moment is None:
                continue
            logged_at = slots.resolve(day, LOG_TIMES[moment], zone)
            if not since < logged_at <= until:
                continue
            if pain and item.exercise.slug == pain[1]:
                if day == pain[0]:
                    pain_logs.append((item, day, logged_at, pain[2]))
                    continue
                if day > pain[0] and key == "hannah":
                    continue  # she stopped it until she has spoken to her therapist
            if not _done(keeps_up, key, day, item.position, training):
                continue
            n = day.toordinal() + item.position
            tight = n % 4 == 0
            felt = Feedback.MILD_TENSION if tight else Feedback.NOTHING
            each_side = item.sides is Sides.EACH_SIDE
            note = LOG_NOTES.get(key, "") if each_side and tight and n % 3 == 0 else ""
            sides = ({"feedback_left": felt, "feedback_right":
                      Feedback.MILD_TENSION if tight and n % 8 == 0 else Feedback.NOTHING}
                     if each_side else {"feedback": felt})
            rows.append(CompletionLog(
                client_id=ctx.people[key].id, programme_id=version.programme_id,
                version_id=version.id, item_id=item.id, exercise_id=item.exercise_id,
                local_date=day, moment=moment, logged_at=logged_at, pain=False, note=note,
                client_key=f"demo-{item.id}-{day.isoformat()}", **sides))
        day += timedelta(days=1)
    ctx.session.add_all(rows)
    client = ctx.people[key]
    for item, day, logged_at, note in pain_logs:
        hurt = client_day.FeedbackInput(left=Feedback.PAIN, right=Feedback.MILD_TENSION,
                                        both=Feedback.PAIN)
        result = client_day.log_completion(
            ctx.session, client, item.id, hurt, note, f"demo-{item.id}-{day.isoformat()}",
            day, logged_at, moment=_moment(item, day, training))
        if key == "alex":
            client_day.acknowledge_pain(ctx.session, ctx.therapist, result.log.id,
                                        logged_at + timedelta(hours=14))


def _moment(item: ProgrammeItem, day: date, training: set[int]) -> Moment | None:
    """The moment an item is done on a day; None when it is only for training days and this
    is not one."""
    moments = item.moment_list
    if Moment.AFTER_TRAINING in moments and day.weekday() in training:
        return Moment.AFTER_TRAINING
    others = [m for m in moments if m is not Moment.AFTER_TRAINING]
    if others:
        return others[0]
    return None if moments else Moment.MORNING


def seed_notes(ctx: _Context) -> None:
    """A private note on the latest attended session of a few clients (Kwame's on his first
    visit), written just after it."""
    attended: dict[int, list[Appointment]] = {}
    for appointment in sorted(ctx.visits.values(), key=lambda a: a.starts_at):
        if appointment.status is AppointmentStatus.ATTENDED:
            attended.setdefault(appointment.client_id, []).append(appointment)
    for key, body in SESSION_NOTES.items():
        sessions = attended.get(ctx.people[key].id)
        if sessions:
            appointment = sessions[0] if key in NOTE_ON_FIRST_VISIT else sessions[-1]
            diary_days.add_note(ctx.session, ctx.therapist, appointment, body,
                            now=appointment.ends_at + timedelta(minutes=10))


def _said_at(ctx: _Context, days: int, local: str, *, latest: datetime) -> datetime:
    """A local time `days` before today; `latest` instead when that time has not come yet."""
    return min(slots.resolve(ctx.today - timedelta(days=days), time.fromisoformat(local),
                             ctx.zone), latest)


def seed_messages(ctx: _Context) -> None:
    """A few conversations between clients and Jo (see CONVERSATIONS), written as rows: the
    demo sends no email about them. Jo read each client message that came before her reply;
    each client read her replies an hour after they came."""
    for key, about, subject, lines, done in CONVERSATIONS:
        client = ctx.people[key]
        thread = MessageThread(client_id=client.id, status=ThreadStatus.OPEN)
        if about == "next_visit":
            upcoming = sorted((a for a in ctx.visits.values()
                               if a.client_id == client.id and a.starts_at > ctx.now),
                              key=lambda a: a.starts_at)
            thread.appointment_id = upcoming[0].id
            thread.subject = ("Session on "
                              f"{wording.day_and_time(upcoming[0].starts_at, ctx.zone)}")
        elif about is not None:
            version = programmes.current_version(ctx.session, client, with_ladders=False)
            item = next(i for i in version.items if i.exercise.slug == about)
            thread.exercise_id, thread.programme_version_id = item.exercise_id, version.id
            thread.subject = item.exercise.name
        else:
            thread.subject = subject
        times = [_said_at(ctx, days, at,
                          latest=ctx.now - timedelta(minutes=10 * (len(lines) - n)))
                 for n, (days, at, _, _) in enumerate(lines)]
        thread.created_at, thread.last_message_at = times[0], times[-1]
        ctx.session.add(thread)
        ctx.session.flush()
        audit.record(ctx.session, actor=client, subject=client,
                     action="message_thread.started", now=times[0], thread=thread.id,
                     about="exercise" if thread.exercise_id else
                     "appointment" if thread.appointment_id else "general")
        for n, ((_, _, from_client, text), at) in enumerate(zip(lines, times, strict=True)):
            author = client if from_client else ctx.therapist
            answered = any(not later for _, _, later, _ in lines[n + 1:])
            # A client message Jo answered was read by her as she replied; a reply was read
            # by the client an hour later (or now, if that hour has not passed).
            read_at = None
            if from_client and answered:
                read_at = next(t for (_, _, f, _), t in zip(lines[n + 1:], times[n + 1:],
                                                             strict=True) if not f)
                audit.record(ctx.session, actor=ctx.therapist, subject=client,
                             action="message_thread.read", now=read_at, thread=thread.id)
            elif not from_client:
                read_at = min(at + timedelta(hours=1), ctx.now)
            message = Message(thread_id=thread.id, author_id=author.id,
                              from_client=from_client, body=text, created_at=at,
                              read_at=read_at)
            ctx.session.add(message)
            ctx.session.flush()
            audit.record(ctx.session, actor=author, subject=client, action="message.sent",
                         now=at, thread=thread.id, message=message.id)
        if done:
            thread.status, thread.done_at = ThreadStatus.DONE, times[-1]
            thread.done_by_id = ctx.therapist.id
            audit.record(ctx.session, actor=ctx.therapist, subject=client,
                         action="message_thread.done", now=times[-1], thread=thread.id)
    ctx.session.flush()


def seed_articles(ctx: _Context, exercises: dict[str, Exercise]) -> None:
    """The hip flexor article, published two days ago and making its stretch the exercise of
    the week; a draft for next week; and an unread enquiry about the first one."""
    session, therapist = ctx.session, ctx.therapist
    written = ctx.now - timedelta(days=3)
    hip = articles.create_article(session, therapist, articles.ArticleInput(
        title=HIP_ARTICLE_TITLE, summary=HIP_ARTICLE_SUMMARY, body=HIP_ARTICLE,
        exercise_id=exercises[HIP].id, slug=HIP_ARTICLE_SLUG), written)
    articles.publish(session, therapist, hip.id, ctx.now - timedelta(days=2),
                     feature_exercise=True)
    articles.create_article(session, therapist, articles.ArticleInput(
        title=NECK_ARTICLE_TITLE, summary=NECK_ARTICLE_SUMMARY, body=NECK_ARTICLE,
        exercise_id=exercises[CHIN].id), ctx.now - timedelta(hours=20))
    # Stored as the form stores it; the demo sends no email.
    name, email, message = ENQUIRY
    session.add(Enquiry(name=name, email=email, message=message, consent=True,
                        article_id=hip.id, status=EnquiryStatus.NEW,
                        received_at=ctx.now - timedelta(hours=5)))
    session.flush()
