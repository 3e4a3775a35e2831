"""Programme service: versions and what changed, dose validation, templates, the client's day,
idempotent logging, pain flags, adherence maths, share links and fixed query counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import (
    Appointment,
    AppointmentStatus,
    AuditEvent,
    CompletionLog,
    Exercise,
    Feedback,
    Moment,
    ProgrammeShare,
    ProgrammeVersion,
    Service,
    Sides,
    User,
)
from portal.seed.library import seed_library
from portal.services import (
    adherence,
    client_day,
    dose,
    library,
    moment_reminders,
    programme_shares,
    programmes,
)
from portal.services.client_day import FeedbackInput
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.services.programmes import ItemInput

# Wednesday 4 March 2026, noon in London (GMT until the clocks change on 29 March).
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TODAY = date(2026, 3, 4)
MONDAY = date(2026, 3, 2)
# The programme started on the Wednesday of the week before.
STARTED = datetime(2026, 2, 25, 10, 0, tzinfo=UTC)

HIP, CHIN, CAT, CHILD, CALF = ("kneeling-hip-flexor-stretch", "chin-tuck", "cat-cow",
                               "childs-pose", "wall-calf-stretch")


@dataclass
class World:
    """A therapist, two clients and the starter library, attached to the test's session."""

    therapist: User
    client: User
    other: User
    exercises: dict[str, Exercise]
    services: dict[str, int]


@pytest.fixture
def world(session, practice, diary, make_client) -> World:
    """The diary's therapist and client, a second client and the seeded library."""
    other_id = make_client(name="Sam Patel").id
    therapist = session.get(User, diary.therapist.id)
    exercises = {e.slug: e for e in seed_library(session, therapist, STARTED - timedelta(days=1))}
    return World(therapist=therapist, client=session.get(User, diary.client.id),
                 other=session.get(User, other_id), exercises=exercises,
                 services=diary.services)


def item(world: World, slug: str, **overrides) -> ItemInput:
    """The library's default dose for an exercise, with overrides."""
    return ItemInput.from_exercise(world.exercises[slug], **overrides)


def save(session, world: World, items, note: str = "", *, now: datetime = NOW,
         client: User | None = None, **kwargs) -> ProgrammeVersion:
    """Save a version as the world's therapist."""
    return programmes.save_version(session, world.therapist, client or world.client, items,
                                   note, now, **kwargs)


def log(session, client: User, item_id: int, day: date = TODAY, *,
        feedback: FeedbackInput | None = None, moment=None, key: str | None = None,
        now: datetime = NOW, note: str = "") -> client_day.LogResult:
    """Log an item with "nothing" on every side unless told otherwise."""
    feedback = feedback or FeedbackInput(both=Feedback.NOTHING)
    return client_day.log_completion(session, client, item_id, feedback, note,
                                     key or uuid.uuid4().hex, day, now, moment=moment)


def item_id(version: ProgrammeVersion, world: World, slug: str) -> int:
    """The id of the item for an exercise in a version."""
    return next(i.id for i in version.items if i.exercise_id == world.exercises[slug].id)


def add_appointment(session, world: World, starts_at: datetime,
                    status: AppointmentStatus = AppointmentStatus.BOOKED) -> Appointment:
    """An appointment row for the world's client, straight into the table."""
    service = session.get(Service, world.services["60 minute massage"])
    ends_at = starts_at + timedelta(minutes=60)
    appointment = Appointment(
        client_id=world.client.id, therapist_id=world.therapist.id, service_id=service.id,
        starts_at=starts_at, ends_at=ends_at, blocked_until=ends_at + timedelta(minutes=15),
        status=status, price_pence=service.price_pence, booked_by_id=world.client.id,
        created_at=STARTED - timedelta(days=30), updated_at=STARTED - timedelta(days=30))
    session.add(appointment)
    session.flush()
    return appointment


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


# --- versions and what changed --------------------------------------------------------------


def test_each_save_is_a_new_version_linked_to_the_latest_appointment(session, world):
    earlier = add_appointment(session, world, datetime(2026, 2, 20, 10, 0, tzinfo=UTC),
                              AppointmentStatus.ATTENDED)
    yesterday = add_appointment(session, world, datetime(2026, 3, 3, 10, 0, tzinfo=UTC))
    add_appointment(session, world, datetime(2026, 3, 4, 9, 0, tzinfo=UTC),
                    AppointmentStatus.CANCELLED)
    add_appointment(session, world, datetime(2026, 3, 10, 10, 0, tzinfo=UTC))

    first = save(session, world, [item(world, HIP)], now=STARTED)
    second = save(session, world, [item(world, HIP, hold_seconds=20)])

    assert (first.number, second.number) == (1, 2)
    assert first.appointment_id == earlier.id
    assert second.appointment_id == yesterday.id  # not the cancelled one, not the future one
    assert second.created_by_id == world.therapist.id
    assert [v.number for v in programmes.version_history(session, world.client)] == [2, 1]
    assert programmes.current_version(session, world.client).id == second.id
    assert programmes.current_version(session, world.other) is None
    assert session.scalar(select(AuditEvent.action).order_by(AuditEvent.id.desc())
                          .limit(1)) == "programme.saved"


def test_a_version_without_any_appointment_links_none(session, world):
    assert save(session, world, [item(world, CHIN)]).appointment_id is None


def test_changes_are_described_in_plain_words(session, world):
    first = save(session, world, [
        item(world, HIP, hold_seconds=20, moments=["morning"]),
        item(world, CHIN, moments=["work_break"]),
        item(world, CAT),
    ], now=STARTED)
    assert [c["text"] for c in first.changes] == [
        "Added Kneeling hip flexor stretch", "Added Chin tuck", "Added Cat\u2013cow"]

    second = save(session, world, [
        item(world, CAT),
        item(world, HIP, hold_seconds=30, moments=["before_bed", "morning"], level=2,
             personal_note="Keep the tailbone tucked."),
        item(world, CALF),
    ], "Great session today: let's add the reach.")

    assert [c["text"] for c in second.changes] == [
        "Kneeling hip flexor stretch: hold 20 s \u2192 30 s; when: morning \u2192 morning, "
        "before bed; level 1 \u2192 2 (With an overhead reach); new note from your therapist",
        "Added Wall calf stretch",
        "Removed Chin tuck",
        "Exercises reordered",
        "New message from your therapist",
    ]
    hip_change = second.changes[0]
    assert hip_change["kind"] == "changed"
    assert hip_change["exercise_id"] == world.exercises[HIP].id
    assert hip_change["details"][0] == "Hold 20 s \u2192 30 s"
    assert [i.moments for i in second.items] == [[], ["morning", "before_bed"], []]

    third = save(session, world, [
        item(world, CAT, reps=12, sets=3, times_per_day=2, days_per_week=5),
        item(world, HIP, hold_seconds=30, moments=["before_bed", "morning"], level=2,
             personal_note="Keep the tailbone tucked.", sides=Sides.BOTH),
        item(world, CALF),
    ], "Great session today: let's add the reach.")
    assert [c["text"] for c in third.changes] == [
        "Cat\u2013cow: reps 10 \u2192 12; sets 2 \u2192 3; how often: once a day, every day "
        "\u2192 twice a day, 5 days a week",
        "Kneeling hip flexor stretch: sides: each side \u2192 both sides together",
    ]


def test_a_save_that_changes_nothing_returns_the_current_version(session, world):
    items = [item(world, HIP), item(world, CHIN)]
    first = save(session, world, items, "Daily, please.")
    again = save(session, world, items, "Daily, please.")
    assert again.id == first.id
    assert count(session, ProgrammeVersion) == 1


def test_a_save_from_a_stale_page_is_a_conflict(session, world):
    save(session, world, [item(world, HIP)])
    save(session, world, [item(world, HIP, hold_seconds=20)], base_version=1)
    with pytest.raises(Conflict):
        save(session, world, [item(world, HIP, hold_seconds=25)], base_version=1)
    assert count(session, ProgrammeVersion) == 2


def test_form_values_arrive_as_strings_and_are_normalised(session, world):
    version = save(session, world, [
        item(world, HIP, sides="each_side", moments=["before_bed", "morning", "morning"])])
    saved = version.items[0]
    assert saved.sides is Sides.EACH_SIDE
    assert saved.moments == ["morning", "before_bed"]
    assert saved.moment_list == [Moment.MORNING, Moment.BEFORE_BED]


def test_only_a_therapist_saves_and_only_for_a_client(session, world):
    with pytest.raises(PermissionDenied):
        programmes.save_version(session, world.client, world.client, [item(world, HIP)], "",
                                NOW)
    with pytest.raises(NotFound):
        programmes.save_version(session, world.therapist, world.therapist,
                                [item(world, HIP)], "", NOW)


# --- dose validation ------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, field", [
    ({"hold_seconds": -5}, "hold_seconds"),
    ({"hold_seconds": 301}, "hold_seconds"),
    ({"hold_seconds": 30.5}, "hold_seconds"),
    ({"hold_seconds": 0, "reps": 0}, "hold_seconds"),
    ({"reps": -1}, "reps"),
    ({"reps": 101}, "reps"),
    ({"sets": 0}, "sets"),
    ({"sets": 11}, "sets"),
    ({"sides": "left"}, "sides"),
    ({"times_per_day": 0}, "times_per_day"),
    ({"times_per_day": 7}, "times_per_day"),
    ({"days_per_week": 0}, "days_per_week"),
    ({"days_per_week": 8}, "days_per_week"),
    ({"level": 0}, "level"),
    ({"level": 4}, "level"),  # the hip flexor ladder has three rungs
    ({"moments": ["lunch"]}, "moments"),
    ({"personal_note": "x" * 2001}, "personal_note"),
])
def test_bad_doses_are_refused_per_field(session, world, overrides, field):
    with pytest.raises(InvalidInput) as caught:
        save(session, world, [item(world, CHIN), item(world, HIP, **overrides)])
    assert caught.value.field == f"items-1-{field}"
    assert count(session, ProgrammeVersion) == 0


def test_duplicate_unknown_and_unpublished_exercises_are_refused(session, world):
    with pytest.raises(InvalidInput) as caught:
        save(session, world, [item(world, HIP), item(world, HIP)])
    assert caught.value.field == "items-1-exercise_id"
    with pytest.raises(InvalidInput) as caught:
        save(session, world, [ItemInput(exercise_id=99_999, hold_seconds=10)])
    assert caught.value.field == "items-0-exercise_id"

    save(session, world, [item(world, HIP)])
    library.unpublish(session, world.therapist, world.exercises[HIP].id, NOW)
    library.unpublish(session, world.therapist, world.exercises[CALF].id, NOW)
    # Already in the programme: it stays, and can still be tailored.
    version = save(session, world, [item(world, HIP, hold_seconds=25)])
    assert version.number == 2
    with pytest.raises(InvalidInput) as caught:
        save(session, world, [item(world, HIP), item(world, CALF)])
    assert "Publish \u201cWall calf stretch\u201d" in caught.value.message


def test_the_database_refuses_absurd_doses_too(session, world):
    version = save(session, world, [item(world, HIP)])
    with pytest.raises(IntegrityError), session.begin_nested():
        version.items[0].times_per_day = 9
        session.flush()


@pytest.mark.parametrize("hold, reps, sets, sides, expected", [
    (30, 0, 2, Sides.EACH_SIDE, "30 s each side, 2 rounds"),
    (30, 0, 1, Sides.EACH_SIDE, "30 s each side"),
    (45, 0, 2, Sides.BOTH, "Hold 45 s, 2 rounds"),
    (45, 0, 1, Sides.NONE, "Hold 45 s"),
    (0, 10, 3, Sides.NONE, "10 reps, 3 sets"),
    (0, 8, 2, Sides.EACH_SIDE, "8 reps each side, 2 sets"),
    (0, 1, 1, Sides.NONE, "1 rep"),
    (5, 10, 2, Sides.NONE, "10 reps, holding 5 s, 2 sets"),
])
def test_describe_dose(hold, reps, sets, sides, expected):
    item = ItemInput(exercise_id=1, hold_seconds=hold, reps=reps, sets=sets, sides=sides)
    assert dose.describe_dose(item) == expected


@pytest.mark.parametrize("times, days, expected", [
    (1, 7, "Once a day, every day"),
    (2, 5, "Twice a day, 5 days a week"),
    (3, 1, "3 times a day, 1 day a week"),
])
def test_describe_schedule(times, days, expected):
    schedule = ItemInput(exercise_id=1, hold_seconds=30, times_per_day=times,
                         days_per_week=days)
    assert dose.describe_schedule(schedule) == expected


# --- templates ------------------------------------------------------------------------------


def test_save_as_template_then_apply_to_another_client_and_tailor(session, world):
    save(session, world, [item(world, HIP, hold_seconds=30, moments=["morning"], level=2),
                          item(world, CAT, reps=8)])
    template = programmes.save_as_template(session, world.therapist, world.client,
                                           "Desk worker's lower back", NOW)
    assert [(t.exercise_id, t.level) for t in template.items] == [
        (world.exercises[HIP].id, 2), (world.exercises[CAT].id, 1)]

    applied = programmes.apply_template(session, world.therapist, world.other, template.id, NOW)

    assert applied.number == 1
    assert [c["text"] for c in applied.changes] == [
        "Started from the template \u201cDesk worker's lower back\u201d",
        "Added Kneeling hip flexor stretch", "Added Cat\u2013cow"]
    assert [(i.exercise_id, i.hold_seconds, i.reps, i.moments, i.level) for i in applied.items] \
        == [(world.exercises[HIP].id, 30, 0, ["morning"], 2),
            (world.exercises[CAT].id, 0, 8, [], 1)]
    tailored = save(session, world, [ItemInput.from_item(applied.items[0], hold_seconds=20)],
                    client=world.other)
    assert tailored.number == 2
    assert [c["text"] for c in tailored.changes] == [
        "Kneeling hip flexor stretch: hold 30 s \u2192 20 s", "Removed Cat\u2013cow"]
    assert [t.name for t in programmes.list_templates(session)] == ["Desk worker's lower back"]


def test_template_names_are_unique_and_empty_programmes_cannot_be_templates(session, world):
    with pytest.raises(InvalidInput):
        programmes.save_as_template(session, world.therapist, world.client, "Empty", NOW)
    save(session, world, [item(world, HIP)])
    programmes.save_as_template(session, world.therapist, world.client, "Hips", NOW)
    with pytest.raises(InvalidInput) as caught:
        programmes.save_as_template(session, world.therapist, world.client, " Hips ", NOW)
    assert caught.value.field == "name"


def test_a_template_with_an_unpublished_exercise_is_refused_clearly(session, world):
    save(session, world, [item(world, CALF)])
    template = programmes.save_as_template(session, world.therapist, world.client, "Calves",
                                           NOW)
    library.unpublish(session, world.therapist, world.exercises[CALF].id, NOW)
    with pytest.raises(Conflict) as caught:
        programmes.apply_template(session, world.therapist, world.other, template.id, NOW)
    assert "Wall calf stretch" in caught.value.message
    programmes.delete_template(session, world.therapist, template.id, NOW)
    assert programmes.list_templates(session) == []


# --- the client's day -----------------------------------------------------------------------


def test_today_groups_items_by_moment_in_the_order_of_the_day(session, world):
    version = save(session, world, [
        item(world, HIP, moments=["after_training", "morning"], times_per_day=2),
        item(world, CHIN, moments=["work_break"]),
        item(world, CAT),
        item(world, CHILD, moments=["before_bed"]),
    ])
    day = client_day.today(session, world.client, TODAY)
    assert [g.label for g in day.groups] == ["Morning", "Work break", "After training",
                                             "Before bed", "Any time"]
    assert [[e.item.exercise.slug for e in g.entries] for g in day.groups] == [
        [HIP], [CHIN], [HIP], [CHILD], [CAT]]
    assert day.groups[0].entries[0].dose == "30 s each side, 2 rounds"
    assert day.groups[0].entries[0].schedule == "Twice a day, every day"
    assert (day.done, day.total, day.percent) == (0, 5, 0)

    hip = item_id(version, world, HIP)
    log(session, world.client, hip, moment=Moment.MORNING)
    log(session, world.client, item_id(version, world, CHIN), TODAY - timedelta(days=1))
    day = client_day.today(session, world.client, TODAY)
    assert [[e.done for e in g.entries] for g in day.groups] == [
        [True], [False], [False], [False], [False]]

    log(session, world.client, hip)  # no moment: ticks the first unticked one
    log(session, world.client, item_id(version, world, CHIN))
    log(session, world.client, item_id(version, world, CHIN))  # beyond times per day
    log(session, world.client, item_id(version, world, CAT))
    day = client_day.today(session, world.client, TODAY)
    assert [[e.done for e in g.entries] for g in day.groups] == [
        [True], [True], [True], [False], [True]]
    assert day.groups[0].entries[0].done_today == 2
    assert (day.done, day.total, day.percent) == (4, 5, 80)


def test_today_without_a_programme_is_empty(session, world):
    day = client_day.today(session, world.client, TODAY)
    assert (day.version, day.groups, day.total) == (None, [], 0)


def test_a_single_daily_item_in_two_moments_is_done_at_both_once_logged(session, world):
    version = save(session, world, [item(world, CHIN, moments=["morning", "before_bed"])])
    log(session, world.client, version.items[0].id, moment="morning")
    day = client_day.today(session, world.client, TODAY)
    assert [g.entries[0].done for g in day.groups] == [True, True]


# --- logging --------------------------------------------------------------------------------


def test_logging_twice_with_one_key_stores_one_log(session, world):
    version = save(session, world, [item(world, CHIN)])
    first = log(session, world.client, version.items[0].id, key="tap-0123456789")
    second = log(session, world.client, version.items[0].id, key="tap-0123456789",
                 feedback=FeedbackInput(both=Feedback.PAIN))
    assert first.created and not second.created
    assert second.log.id == first.log.id
    assert second.log.feedback is Feedback.NOTHING
    assert count(session, CompletionLog) == 1
    # Keys are per client: someone else's device may make the same one.
    other = save(session, world, [item(world, CHIN)], client=world.other)
    assert log(session, world.other, other.items[0].id, key="tap-0123456789").created


def test_a_racing_duplicate_is_caught_by_the_unique_constraint(session, world, monkeypatch):
    version = save(session, world, [item(world, CHIN)])
    first = log(session, world.client, version.items[0].id, key="offline-replay-1")
    real_find = client_day._find_log
    calls = []

    def find_nothing_first(*args):
        # The other request had not committed yet when this one looked.
        calls.append(args)
        return None if len(calls) == 1 else real_find(*args)

    monkeypatch.setattr(client_day, "_find_log", find_nothing_first)
    replay = log(session, world.client, version.items[0].id, key="offline-replay-1")

    assert not replay.created and replay.log.id == first.log.id
    assert count(session, CompletionLog) == 1
    assert log(session, world.client, version.items[0].id).created  # session still usable


def test_logging_refuses_other_clients_items_old_versions_and_bad_dates(session, world):
    old = save(session, world, [item(world, CHIN), item(world, HIP)])
    new = save(session, world, [item(world, CHIN, reps=12), item(world, HIP)])
    theirs = save(session, world, [item(world, CHIN)], client=world.other)
    with pytest.raises(NotFound):
        log(session, world.client, theirs.items[0].id)
    with pytest.raises(NotFound):
        log(session, world.client, old.items[0].id)
    with pytest.raises(InvalidInput) as caught:
        log(session, world.client, new.items[0].id, TODAY + timedelta(days=1))
    assert caught.value.field == "local_date"
    with pytest.raises(InvalidInput):
        log(session, world.client, new.items[0].id, TODAY - timedelta(days=31))
    with pytest.raises(InvalidInput) as caught:
        log(session, world.client, new.items[0].id, key="short")
    assert caught.value.field == "client_key"
    hip = item_id(new, world, HIP)
    with pytest.raises(InvalidInput) as caught:
        log(session, world.client, hip, feedback=FeedbackInput(left=Feedback.NOTHING))
    assert caught.value.field == "feedback_right"
    with pytest.raises(InvalidInput) as caught:
        log(session, world.client, new.items[0].id, feedback=FeedbackInput(left="pain",
                                                                           right="pain"))
    assert caught.value.field == "feedback"
    assert count(session, CompletionLog) == 0


def test_per_side_feedback_is_stored_per_side(session, world):
    version = save(session, world, [item(world, HIP)])
    result = log(session, world.client, version.items[0].id,
                 feedback=FeedbackInput(left="mild_tension", right="nothing"), note=" tight ")
    stored = result.log
    assert (stored.feedback, stored.feedback_left, stored.feedback_right, stored.note) == (
        None, Feedback.MILD_TENSION, Feedback.NOTHING, "tight")
    assert stored.feedback_by_side == {"left": Feedback.MILD_TENSION,
                                       "right": Feedback.NOTHING}
    assert not result.pain and result.regression == ""
    both = log(session, world.client, version.items[0].id,
               feedback=FeedbackInput(both="mild_tension")).log
    assert (both.feedback_left, both.feedback_right) == (Feedback.MILD_TENSION,) * 2


def test_pain_points_to_the_regression_and_flags_the_therapist(session, world):
    version = save(session, world, [item(world, HIP)])
    result = log(session, world.client, version.items[0].id,
                 feedback=FeedbackInput(left=Feedback.PAIN, right=Feedback.MILD_TENSION))

    assert result.pain and result.log.pain
    assert result.regression == world.exercises[HIP].regression
    assert result.regression.startswith("Do it standing")
    assert result.advice == client_day.PAIN_ADVICE
    assert client_day.pain_flags(session, world.client) == [result.log]
    assert client_day.pain_flags(session) == [result.log]
    assert client_day.pain_flags(session, world.other) == []
    assert client_day.pain_flags(session, since=NOW + timedelta(seconds=1)) == []
    assert count(session, AuditEvent, AuditEvent.action == "programme.pain_reported") == 1
    # A replay of the same log gives the same advice again.
    again = log(session, world.client, version.items[0].id, key=result.log.client_key)
    assert not again.created and again.regression == result.regression

    client_day.acknowledge_pain(session, world.therapist, result.log.id, NOW)

    assert client_day.pain_flags(session) == []
    assert client_day.pain_flags(session, include_acknowledged=True) == [result.log]
    with pytest.raises(PermissionDenied):
        client_day.acknowledge_pain(session, world.client, result.log.id, NOW)


def test_history_is_newest_first(session, world):
    version = save(session, world, [item(world, CHIN)], now=STARTED)
    for days_ago in (3, 0, 1):
        log(session, world.client, version.items[0].id, TODAY - timedelta(days=days_ago))
    assert [h.local_date for h in client_day.history(session, world.client)] == [
        TODAY, TODAY - timedelta(days=1), TODAY - timedelta(days=3)]
    assert len(client_day.history(session, world.client, limit=2)) == 2
    assert len(client_day.history(session, world.client, since=TODAY - timedelta(days=1))) == 2


# --- one tap: "Done, felt fine" and "Tell us how it felt" -----------------------------------


def tap(session, client: User, item_id: int, day: date = TODAY, *, moment=None,
        key: str | None = None, now: datetime = NOW) -> client_day.LogResult:
    """ "Done, felt fine" on an item."""
    return client_day.log_fine(session, client, item_id, key or uuid.uuid4().hex, day, now,
                               moment=moment)


def test_one_tap_logs_fine_on_each_side_the_exercise_has(session, world):
    version = save(session, world, [item(world, HIP, moments=["work_break"]),
                                    item(world, CHILD)])
    hip = tap(session, world.client, item_id(version, world, HIP), moment="work_break")
    child = tap(session, world.client, item_id(version, world, CHILD))

    assert hip.created and not hip.pain and not hip.told
    assert (hip.log.feedback, hip.log.feedback_left, hip.log.feedback_right) == (
        None, Feedback.FINE, Feedback.FINE)
    assert hip.log.moment is Moment.WORK_BREAK and hip.log.local_date == TODAY
    assert (child.log.feedback, child.log.feedback_left, child.log.feedback_right) == (
        Feedback.FINE, None, None)
    assert hip.log.told_in_one_tap and child.log.told_in_one_tap
    assert count(session, CompletionLog) == 2
    assert client_day.pain_flags(session) == []


def test_a_tap_counts_for_adherence_and_the_streak_as_the_log_form_does(session, world, week):
    before = adherence.client_week(session, world.client, MONDAY, today=TODAY)
    tap(session, world.client, week["hip"])
    after = adherence.client_week(session, world.client, MONDAY, today=TODAY)
    # The same numbers as test_adherence_this_week_so_far_by_hand, logged with the form.
    assert (before.done, before.percent, before.streak) == (5, 56, 4)
    assert (after.done, after.percent, after.streak) == (6, 67, 5)
    day = client_day.today(session, world.client, TODAY)
    assert (day.done, day.total) == (1, 3)


def test_a_double_tap_or_a_replay_is_one_log(session, world):
    version = save(session, world, [item(world, HIP)])
    hip = item_id(version, world, HIP)
    first = tap(session, world.client, hip, key="quick-tap-0001")
    again = tap(session, world.client, hip, key="quick-tap-0001")
    replayed = tap(session, world.client, hip, TODAY - timedelta(days=1), key="quick-tap-0001")

    assert first.created and not again.created and not replayed.created
    assert again.log.id == replayed.log.id == first.log.id
    assert first.log.local_date == TODAY
    assert count(session, CompletionLog) == 1


def test_telling_how_a_tap_felt_gives_that_log_the_detail_once(session, world):
    version = save(session, world, [item(world, HIP)])
    hip = item_id(version, world, HIP)
    tapped = tap(session, world.client, hip, key="quick-tap-0002")

    told = log(session, world.client, hip, key="quick-tap-0002", note=" left hurt ",
               feedback=FeedbackInput(left=Feedback.PAIN, right=Feedback.MILD_TENSION),
               now=NOW + timedelta(minutes=5))

    assert told.told and not told.created and told.log.id == tapped.log.id
    assert (told.log.feedback_left, told.log.feedback_right) == (Feedback.PAIN,
                                                                 Feedback.MILD_TENSION)
    assert told.log.note == "left hurt" and not told.log.told_in_one_tap
    assert told.log.logged_at == NOW  # still the time it was done
    # Pain still flags the therapist and points to the easier version.
    assert told.pain and told.regression.startswith("Do it standing")
    assert client_day.pain_flags(session, world.client) == [told.log]
    assert count(session, AuditEvent, AuditEvent.action == "programme.pain_reported") == 1
    # Once told, the detail stays: neither the tap's replay nor another answer changes it.
    tap(session, world.client, hip, key="quick-tap-0002")
    resent = log(session, world.client, hip, key="quick-tap-0002",
                 feedback=FeedbackInput(both=Feedback.NOTHING))
    assert not resent.told and not resent.created and resent.pain
    assert resent.log.feedback_left is Feedback.PAIN
    assert count(session, CompletionLog) == 1
    assert count(session, AuditEvent, AuditEvent.action == "programme.pain_reported") == 1


def test_telling_before_the_tap_arrives_is_one_log_with_the_detail(session, world):
    # Offline, "Tell us how it felt" after a tap replaces the kept tap with the detail: the
    # detail may reach the server first, or alone.
    version = save(session, world, [item(world, CHILD)])
    child = item_id(version, world, CHILD)
    told = log(session, world.client, child, key="quick-tap-0003",
               feedback=FeedbackInput(both=Feedback.MILD_TENSION))
    late_tap = tap(session, world.client, child, key="quick-tap-0003")
    assert told.created and not late_tap.created
    assert late_tap.log.feedback is Feedback.MILD_TENSION
    assert count(session, CompletionLog) == 1


def test_telling_keeps_the_sides_the_tap_was_made_with_and_asks_for_each(session, world):
    version = save(session, world, [item(world, HIP)])
    hip = item_id(version, world, HIP)
    tap(session, world.client, hip, key="quick-tap-0004")
    with pytest.raises(InvalidInput) as caught:
        log(session, world.client, hip, key="quick-tap-0004",
            feedback=FeedbackInput(left=Feedback.NOTHING))
    assert caught.value.field == "feedback_right"
    # Told through another exercise's page: refused, the tap stays as it was.
    other = save(session, world, [item(world, HIP), item(world, CHILD)])
    with pytest.raises(InvalidInput) as caught:
        log(session, world.client, item_id(other, world, CHILD), key="quick-tap-0004",
            feedback=FeedbackInput(both=Feedback.PAIN))
    assert caught.value.field == "client_key"
    stored = session.scalar(select(CompletionLog))
    assert stored.told_in_one_tap and not stored.pain


def test_a_tap_refuses_other_clients_items_old_versions_bad_keys_and_days(session, world):
    old = save(session, world, [item(world, CHIN)])
    new = save(session, world, [item(world, CHIN, reps=12)])
    theirs = save(session, world, [item(world, CHIN)], client=world.other)
    for refused in (theirs.items[0].id, old.items[0].id, 999_999):
        with pytest.raises(NotFound):
            tap(session, world.client, refused)
    with pytest.raises(InvalidInput) as caught:
        tap(session, world.client, new.items[0].id, key="bad key!")
    assert caught.value.field == "client_key"
    with pytest.raises(InvalidInput) as caught:
        tap(session, world.client, new.items[0].id, TODAY + timedelta(days=1))
    assert caught.value.field == "local_date"
    with pytest.raises(InvalidInput) as caught:
        tap(session, world.client, new.items[0].id, moment="midnight")
    assert caught.value.field == "moment"
    assert count(session, CompletionLog) == 0
    # Someone else's tap key is not a way into their log: it is a new log of one's own.
    theirs_tap = tap(session, world.other, theirs.items[0].id, key="quick-tap-0005")
    mine = log(session, world.client, new.items[0].id, key="quick-tap-0005",
               feedback=FeedbackInput(both=Feedback.PAIN))
    assert mine.created and mine.log.client_id == world.client.id
    session.refresh(theirs_tap.log)
    assert theirs_tap.log.told_in_one_tap


def test_today_offers_to_tell_how_the_latest_tap_felt(session, world):
    version = save(session, world, [
        item(world, HIP, moments=["morning", "work_break"], times_per_day=2),
        item(world, CHILD),
    ])
    hip, child = item_id(version, world, HIP), item_id(version, world, CHILD)
    day = client_day.today(session, world.client, TODAY)
    assert [e.next_moment for e in day.items] == [Moment.MORNING, None]
    assert all(e.one_tap is None for g in day.groups for e in g.entries)

    tapped = tap(session, world.client, hip, moment="morning", key="quick-tap-0006")
    log(session, world.client, child)  # with the form: nothing to tell
    day = client_day.today(session, world.client, TODAY)
    morning, work_break, any_time = (g.entries[0] for g in day.groups)
    assert morning.done and morning.one_tap == client_day.OneTapLog("quick-tap-0006", NOW)
    assert not work_break.done and work_break.one_tap is None
    assert any_time.done and any_time.one_tap is None
    hip_day, child_day = day.items
    assert (hip_day.done, hip_day.next_moment, hip_day.done_today) == (False,
                                                                      Moment.WORK_BREAK, 1)
    assert hip_day.one_tap.client_key == "quick-tap-0006"
    assert child_day.done and child_day.one_tap is None
    found = client_day.one_tap_log(session, world.client, tapped.log.item, "quick-tap-0006")
    assert found == tapped.log
    assert client_day.one_tap_log(session, world.client, version.items[1], "quick-tap-0006") \
        is None  # another exercise
    assert client_day.one_tap_log(session, world.client, tapped.log.item, "no such") is None

    log(session, world.client, hip, key="quick-tap-0006",
        feedback=FeedbackInput(left=Feedback.NOTHING, right=Feedback.MILD_TENSION))
    day = client_day.today(session, world.client, TODAY)
    assert day.groups[0].entries[0].one_tap is None and day.items[0].one_tap is None
    assert client_day.one_tap_log(session, world.client, tapped.log.item,
                                  "quick-tap-0006") is None  # told already


# --- adherence ------------------------------------------------------------------------------


@pytest.fixture
def week(session, world) -> dict[str, int]:
    """Hip flexor twice a day every day, chin tuck once a day three days a week, started on
    Wednesday 25 February, and logs from Saturday 28 February to Tuesday 3 March."""
    version = save(session, world, [
        item(world, HIP, times_per_day=2, days_per_week=7),
        item(world, CHIN, times_per_day=1, days_per_week=3),
    ], now=STARTED)
    ids = {"hip": item_id(version, world, HIP), "chin": item_id(version, world, CHIN)}
    logs = [
        (date(2026, 2, 28), "hip", 1),  # Saturday, last week
        (date(2026, 3, 1), "hip", 2),  # Sunday, last week
        (date(2026, 3, 2), "hip", 3),  # Monday: one more than prescribed
        (date(2026, 3, 2), "chin", 1),
        (date(2026, 3, 3), "hip", 1),  # Tuesday
        (date(2026, 3, 3), "chin", 2),  # one more than prescribed
    ]
    for day, name, times in logs:
        for _ in range(times):
            log(session, world.client, ids[name], day)
    return ids


def test_adherence_this_week_so_far_by_hand(session, world, week):
    result = adherence.client_week(session, world.client, MONDAY, today=TODAY)
    # Three days elapsed (Mon, Tue, Wed).
    # Prescribed: hip 2 x min(7, 3) = 6; chin 1 x min(3, 3) = 3; total 9.
    # Done: hip Mon min(3, 2) = 2 + Tue 1 = 3; chin Mon 1 + Tue min(2, 1) = 1 = 2; total 5.
    assert result.days_elapsed == 3
    assert [(i.name, i.prescribed, i.done) for i in result.items] == [
        ("Kneeling hip flexor stretch", 6, 3), ("Chin tuck", 3, 2)]
    assert (result.prescribed, result.done, result.percent) == (9, 5, 56)
    # Nothing yet today, so the streak runs back from yesterday: Tue, Mon, Sun, Sat.
    assert result.streak == 4

    log(session, world.client, week["hip"], TODAY)

    result = adherence.client_week(session, world.client, MONDAY, today=TODAY)
    assert (result.done, result.percent, result.streak) == (6, 67, 5)


def test_adherence_caps_days_per_week_and_extra_sessions(session, world, week):
    thursday = NOW + timedelta(days=1)
    log(session, world.client, week["chin"], TODAY, now=thursday)
    log(session, world.client, week["chin"], TODAY + timedelta(days=1), now=thursday)
    log(session, world.client, week["hip"], TODAY + timedelta(days=1), now=thursday)

    result = adherence.client_week(session, world.client, MONDAY,
                                   today=TODAY + timedelta(days=1))
    # Four days elapsed. Hip: 2 x 4 = 8 prescribed, done 2 + 1 + 0 + 1 = 4.
    # Chin: 1 x min(3, 4) = 3 prescribed; done on four days but capped at 3.
    assert [(i.prescribed, i.done) for i in result.items] == [(8, 4), (3, 3)]
    assert (result.prescribed, result.done, result.percent) == (11, 7, 64)
    assert result.streak == 6  # Thursday back to Saturday 28 February


def test_adherence_of_last_week_counts_from_the_day_the_programme_started(
        session, world, week):
    result = adherence.client_week(session, world.client, date(2026, 2, 23), today=TODAY)
    # Wed 25 Feb to Sun 1 Mar: five days. Prescribed 2 x 5 + 1 x 3 = 13.
    # Done: hip Sat 1 + Sun 2 = 3; chin 0.
    assert result.days_elapsed == 5
    assert (result.prescribed, result.done, result.percent) == (13, 3, 23)


def test_adherence_without_a_programme_and_a_broken_streak(session, world):
    result = adherence.client_week(session, world.client, MONDAY, today=TODAY)
    assert (result.prescribed, result.done, result.percent, result.streak) == (0, 0, None, 0)
    version = save(session, world, [item(world, CHIN)], now=STARTED)
    log(session, world.client, version.items[0].id, TODAY - timedelta(days=3))
    log(session, world.client, version.items[0].id, TODAY)
    assert adherence.streak(session, world.client, TODAY) == 1
    assert adherence.streak(session, world.client, TODAY - timedelta(days=1)) == 0


# --- share links and reminder times ---------------------------------------------------------


def test_share_links_resolve_until_revoked_and_only_the_hash_is_kept(session, world):
    token = programme_shares.create_share(session, world.client, world.client, NOW)
    second = programme_shares.create_share(session, world.therapist, world.client, NOW)
    assert len(token) >= 40 and token != second
    assert token not in session.scalars(select(ProgrammeShare.token_hash)).all()
    assert programme_shares.resolve_share(session, token).id == world.client.id

    assert programme_shares.revoke_share(session, world.client, world.client, NOW) == 2

    for dead in (token, second, "", "x" * 500, "not-a-token"):
        with pytest.raises(NotFound):
            programme_shares.resolve_share(session, dead)
    assert programme_shares.live_shares(session, world.client) == []
    with pytest.raises(PermissionDenied):
        programme_shares.create_share(session, world.other, world.client, NOW)


def test_a_closed_account_turns_its_links_off(session, world):
    token = programme_shares.create_share(session, world.client, world.client, NOW)
    world.client.active = False
    session.flush()
    with pytest.raises(NotFound):
        programme_shares.resolve_share(session, token)


def test_moment_times(session, world):
    moment_reminders.set_moment_time(session, world.client, "morning", time(7, 30, 45), NOW)
    moment_reminders.set_moment_time(session, world.client, Moment.BEFORE_BED, time(22, 15), NOW)
    moment_reminders.set_moment_time(session, world.client, Moment.BEFORE_BED, time(22, 0), NOW)
    assert moment_reminders.moment_times(session, world.client) == {
        Moment.MORNING: time(7, 30), Moment.BEFORE_BED: time(22, 0)}
    moment_reminders.set_moment_time(session, world.client, "morning", None, NOW)
    assert moment_reminders.moment_times(session, world.client) == {Moment.BEFORE_BED: time(22, 0)}
    with pytest.raises(InvalidInput):
        moment_reminders.set_moment_time(session, world.client, "lunch", time(12), NOW)


# --- query counts ---------------------------------------------------------------------------


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement run inside the block, except transaction control."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _add_logs(session, client_id: int, version: ProgrammeVersion, rounds: int) -> None:
    """`rounds` logs of every item on each of the last 14 days, straight into the table."""
    for n in range(rounds):
        for days_ago in range(14):
            for entry in version.items:
                session.add(CompletionLog(
                    client_id=client_id, programme_id=version.programme_id,
                    version_id=version.id, item_id=entry.id, exercise_id=entry.exercise_id,
                    local_date=TODAY - timedelta(days=days_ago), logged_at=NOW,
                    feedback=Feedback.PAIN if n == 0 else Feedback.NOTHING, pain=n == 0,
                    moment=Moment.MORNING if n % 2 else None, client_key=uuid.uuid4().hex))
    session.flush()


def _reading_queries(session, client_id: int) -> dict[str, int]:
    """How many statements each reading service runs, from a cold identity map, touching
    everything a page would show."""
    counts = {}
    session.expunge_all()
    client = session.get(User, client_id)
    with statements() as seen:
        day = client_day.today(session, client, TODAY)
        for group in day.groups:
            for entry in group.entries:
                assert entry.item.exercise.name and entry.item.exercise.picture_path
    counts["today"] = len(seen)
    with statements() as seen:
        adherence.client_week(session, client, MONDAY, today=TODAY)
    counts["adherence"] = len(seen)
    session.expunge_all()
    client = session.get(User, client_id)
    with statements() as seen:
        version = programmes.current_version(session, client)
        for entry in version.items:
            assert library.ladder_step(entry.exercise, entry.level).total
            assert entry.exercise.picture is None
    counts["current_version"] = len(seen)
    with statements() as seen:
        assert all(h.exercise.name for h in client_day.history(session, client))
    counts["history"] = len(seen)
    with statements() as seen:
        assert all(p.exercise.regression and p.client.name
                   for p in client_day.pain_flags(session, client))
    counts["pain_flags"] = len(seen)
    return counts


def test_reading_services_run_the_same_queries_at_n_and_10n_logs(session, world):
    version = save(session, world, [
        item(world, HIP, moments=["morning", "after_training"], times_per_day=2),
        item(world, CHIN, moments=["work_break"]),
        item(world, CAT),
        item(world, CHILD, moments=["before_bed"]),
    ], now=STARTED)
    client_id = world.client.id
    _add_logs(session, client_id, version, rounds=1)  # N = 56 logs
    at_n = _reading_queries(session, client_id)
    version = programmes.current_version(session, session.get(User, client_id))
    _add_logs(session, client_id, version, rounds=9)  # 10N = 560 logs
    assert count(session, CompletionLog) == 560

    at_10n = _reading_queries(session, client_id)

    assert at_n == at_10n
    assert at_n == {"today": 3, "adherence": 4, "current_version": 2, "history": 1,
                    "pain_flags": 1}
