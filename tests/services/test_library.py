"""Library service: the seeded exercises, validation, ladders, publishing, featuring, search
and the rule that an exercise in use is never deleted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.models import AuditEvent, Exercise, ExerciseLevel, Practice, Sides, User
from portal.seed.library import SEED, seed_library
from portal.services import library, programmes
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.services.library import ExerciseInput, LevelInput

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def people(session, practice, make_therapist, make_client):
    """A therapist and a client, attached to the test's session."""
    therapist_id, client_id = make_therapist().id, make_client().id
    return session.get(User, therapist_id), session.get(User, client_id)


@pytest.fixture
def therapist(people):
    """The therapist who writes the library."""
    return people[0]


@pytest.fixture
def seeded(session, therapist):
    """The starter library, by slug."""
    return {e.slug: e for e in seed_library(session, therapist, NOW)}


def _input(**overrides) -> ExerciseInput:
    values = {"name": "Seated twist", "summary": "Turns the upper back gently.",
              "body_areas": ["upper_back"], "steps": ["Sit tall.", "Turn to one side."],
              "hold_seconds": 20, "sets": 2, "sides": Sides.EACH_SIDE}
    return ExerciseInput(**{**values, **overrides})


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# --- the seeded library ---------------------------------------------------------------------


def test_seed_writes_ten_published_exercises_starting_with_the_hip_flexor_stretch(
        session, seeded):
    exercises = list(seeded.values())
    assert len(exercises) == len(SEED) == 10
    first = exercises[0]
    assert first.slug == "kneeling-hip-flexor-stretch"
    assert first.published and first.picture_path == \
        "img/exercises/kneeling-hip-flexor-stretch.svg"
    assert (first.hold_seconds, first.reps, first.sets, first.sides) == (30, 0, 2,
                                                                        Sides.EACH_SIDE)
    text = " ".join([first.why_it_helps, *first.steps, *first.cues, *first.cautions])
    for fact in ("iliopsoas", "90 degrees", "tailbone", "20 to 30 seconds", "breathing slowly",
                 "Mild tension, never pain", "after training", "before bed"):
        assert fact.lower() in text.lower(), fact
    assert [level.name for level in first.levels] == [
        "Kneeling stretch", "With an overhead reach", "Overhead reach and side lean"]
    assert first.levels[0].criterion == "When 30 s each side feels easy, add the overhead reach."
    assert first.levels[-1].criterion == ""
    areas = {area for e in exercises for area in e.body_areas}
    assert {"lower_back", "hips", "neck_shoulders", "hamstrings", "calves"} <= areas
    for exercise in exercises:
        assert exercise.steps and exercise.cues and exercise.cautions and exercise.regression
        assert 2 <= len(exercise.levels) <= 3
        assert all(level.criterion for level in exercise.levels[:-1])


def test_seeding_twice_adds_nothing(session, therapist, seeded):
    again = seed_library(session, therapist, NOW)
    assert [e.id for e in again] == [e.id for e in seeded.values()]
    assert _count(session, Exercise) == 10


# --- writing and validation -----------------------------------------------------------------


def test_create_exercise_cleans_input_derives_a_unique_slug_and_audits(session, therapist):
    first = library.create_exercise(session, therapist, _input(
        name="  Seated   twist ", steps="Sit tall.\n\n  Turn to one side. \n",
        body_areas=["upper_back", "lower_back", "upper_back"]), NOW)
    second = library.create_exercise(session, therapist, _input(), NOW)
    assert (first.name, first.slug, second.slug) == ("Seated twist", "seated-twist",
                                                     "seated-twist-2")
    assert first.steps == ["Sit tall.", "Turn to one side."]
    assert first.body_areas == ["upper_back", "lower_back"]  # vocabulary order, no repeats
    assert not first.published
    assert session.scalar(select(AuditEvent.action).where(
        AuditEvent.details["exercise"].as_integer() == first.id)) == "exercise.created"


@pytest.mark.parametrize("overrides, field", [
    ({"name": "  "}, "name"),
    ({"summary": ""}, "summary"),
    ({"summary": "x" * 301}, "summary"),
    ({"body_areas": []}, "body_areas"),
    ({"body_areas": ["knees"]}, "body_areas"),
    ({"steps": []}, "steps"),
    ({"steps": ["x" * 301]}, "steps"),
    ({"cues": ["a"] * 21}, "cues"),
    ({"hold_seconds": -1}, "hold_seconds"),
    ({"hold_seconds": 301}, "hold_seconds"),
    ({"hold_seconds": 0, "reps": 0}, "hold_seconds"),
    ({"reps": 101}, "reps"),
    ({"sets": 0}, "sets"),
    ({"sets": 11}, "sets"),
    ({"sets": "2"}, "sets"),
    ({"sides": "left"}, "sides"),
    ({"picture_path": "../secrets.svg"}, "picture"),
    ({"picture_path": "img/exercises/x.svg", "picture_id": 1}, "picture"),
    ({"picture_id": 999}, "picture"),
    ({"slug": "Not A Slug"}, "slug"),
])
def test_create_exercise_refuses_bad_input(session, therapist, overrides, field):
    with pytest.raises(InvalidInput) as caught:
        library.create_exercise(session, therapist, _input(**overrides), NOW)
    assert caught.value.field == field
    assert _count(session, Exercise) == 0


def test_explicit_slug_must_be_free(session, therapist, seeded):
    with pytest.raises(InvalidInput) as caught:
        library.create_exercise(session, therapist, _input(slug="chin-tuck"), NOW)
    assert caught.value.field == "slug"


def test_only_therapists_write_the_library(session, people):
    _, client = people
    with pytest.raises(PermissionDenied):
        library.create_exercise(session, client, _input(), NOW)


def test_update_exercise_changes_text_and_keeps_the_slug(session, therapist, seeded):
    chin = seeded["chin-tuck"]
    data = _input(name="Chin tuck", summary="New summary.", body_areas=["neck_shoulders"])
    updated = library.update_exercise(session, therapist, chin.id, data, NOW)
    assert (updated.slug, updated.summary, updated.hold_seconds) == ("chin-tuck",
                                                                      "New summary.", 20)
    assert updated.updated_at == NOW


def test_database_refuses_an_absurd_dose_even_without_the_service(session, seeded):
    exercise = seeded["chin-tuck"]
    with pytest.raises(IntegrityError), session.begin_nested():
        exercise.hold_seconds = 301
        session.flush()


# --- ladders --------------------------------------------------------------------------------


def test_replace_levels_and_criterion_rules(session, therapist, seeded):
    calf = seeded["wall-calf-stretch"]
    levels = library.replace_levels(session, therapist, calf.id, [
        LevelInput("Straight knee", "Knee straight.", "When easy, bend the knee."),
        LevelInput("Bent knee", "Knee bent."),
    ], NOW)
    assert [(lvl.position, lvl.name) for lvl in levels] == [(1, "Straight knee"),
                                                             (2, "Bent knee")]
    assert session.scalar(select(func.count()).select_from(ExerciseLevel)
                          .where(ExerciseLevel.exercise_id == calf.id)) == 2
    with pytest.raises(InvalidInput) as caught:
        library.replace_levels(session, therapist, calf.id, [
            LevelInput("One", "First."), LevelInput("Two", "Second.")], NOW)
    assert caught.value.field == "levels-0-criterion"


def test_ladder_step_names_the_next_rung_and_its_criterion(seeded):
    hip = seeded["kneeling-hip-flexor-stretch"]
    step = library.ladder_step(hip, 1)
    assert (step.number, step.total, step.next.name) == (1, 3, "With an overhead reach")
    assert step.criterion == "When 30 s each side feels easy, add the overhead reach."
    top = library.ladder_step(hip, 9)  # a ladder that shrank: clamp to the top rung
    assert (top.number, top.next, top.criterion) == (3, None, "")


# --- publishing, featuring, search ----------------------------------------------------------


def test_unpublished_exercises_are_hidden_from_search_and_stop_being_featured(
        session, therapist, seeded):
    hip = seeded["kneeling-hip-flexor-stretch"]
    library.feature_exercise(session, therapist, hip.id, NOW)
    assert library.featured_exercise(session).id == hip.id
    assert session.scalar(select(Practice.featured_at)) == NOW

    library.unpublish(session, therapist, hip.id, NOW)

    assert library.featured_exercise(session) is None
    assert session.scalar(select(Practice.featured_exercise_id)) is None
    assert hip.id not in [e.id for e in library.search_exercises(session, "hip")]
    assert hip.id in [e.id for e in library.search_exercises(session, "hip",
                                                             published_only=False)]
    with pytest.raises(NotFound):
        library.get_exercise(session, hip.id, published_only=True)
    with pytest.raises(InvalidInput):
        library.feature_exercise(session, therapist, hip.id, NOW)
    library.publish(session, therapist, hip.id, NOW)
    assert library.feature_exercise(session, therapist, hip.id, NOW).id == hip.id
    assert library.feature_exercise(session, therapist, None, NOW) is None
    assert library.featured_exercise(session) is None


@pytest.mark.parametrize("text, area, expected", [
    ("HIP", None, {"kneeling-hip-flexor-stretch", "figure-four-glute-stretch", "knee-to-chest",
                   "childs-pose"}),
    ("", "calves", {"wall-calf-stretch"}),
    ("stretch", "neck_shoulders", {"side-neck-stretch", "doorway-chest-stretch"}),
    ("100%", None, set()),
    ("_", None, set()),
])
def test_search_by_text_and_body_area(session, seeded, text, area, expected):
    found = library.search_exercises(session, text, area)
    assert {e.slug for e in found} == expected


def test_search_refuses_an_unknown_body_area(session, seeded):
    with pytest.raises(InvalidInput):
        library.search_exercises(session, "", "knees")


# --- deleting -------------------------------------------------------------------------------


def test_an_unused_exercise_is_deleted_with_its_ladder(session, therapist, seeded):
    calf = seeded["wall-calf-stretch"]
    library.feature_exercise(session, therapist, calf.id, NOW)
    library.delete_exercise(session, therapist, calf.id, NOW)
    assert session.get(Exercise, calf.id) is None
    assert session.scalar(select(func.count()).select_from(ExerciseLevel)
                          .where(ExerciseLevel.exercise_id == calf.id)) == 0
    assert session.scalar(select(Practice.featured_exercise_id)) is None


def test_an_exercise_in_a_programme_or_template_is_never_deleted(session, people, seeded):
    therapist, client = people
    hip, chin = seeded["kneeling-hip-flexor-stretch"], seeded["chin-tuck"]
    programmes.save_version(session, therapist, client,
                            [programmes.ItemInput.from_exercise(hip)], "", NOW)
    # Removed again in version 2: still in the history, so still protected.
    programmes.save_version(session, therapist, client,
                            [programmes.ItemInput.from_exercise(chin)], "", NOW)
    programmes.save_as_template(session, therapist, client, "Desk worker's neck", NOW)

    with pytest.raises(Conflict) as caught:
        library.delete_exercise(session, therapist, hip.id, NOW)
    assert caught.value.message == (
        "\u201cKneeling hip flexor stretch\u201d is used in 1 client programme, so it can't be "
        "deleted. Unpublish it instead to hide it from the library.")
    with pytest.raises(Conflict) as caught:
        library.delete_exercise(session, therapist, chin.id, NOW)
    assert "1 client programme and 1 template" in caught.value.message
    assert session.get(Exercise, hip.id) is not None
    assert library.exercise_usage(session, chin.id).in_use


# --- pictures -------------------------------------------------------------------------------


def test_record_picture_checks_metadata_and_an_exercise_can_use_it(session, therapist):
    with pytest.raises(InvalidInput):
        library.record_picture(session, therapist, stored_name="a.gif",
                               content_type="image/gif", width=10, height=10, byte_size=10,
                               sha256="0" * 64, now=NOW)
    picture = library.record_picture(session, therapist, stored_name="3f2a.webp",
                                     content_type="image/webp", width=800, height=600,
                                     byte_size=51234, sha256="ab" * 32, now=NOW)
    exercise = library.create_exercise(session, therapist, _input(picture_id=picture.id), NOW)
    assert library.get_exercise(session, exercise.id).picture.stored_name == "3f2a.webp"
    updated = replace(_input(picture_id=picture.id), picture_path="img/exercises/x.svg")
    with pytest.raises(InvalidInput):
        library.update_exercise(session, therapist, exercise.id, updated, NOW)


def test_the_moments_an_exercise_suits_are_kept_in_the_order_of_the_day(session, therapist):
    exercise = library.create_exercise(
        session, therapist, _input(moments=["before_bed", "morning", "morning"]), NOW)
    assert exercise.moments == ["morning", "before_bed"]
    assert [m.label for m in library.good_moments(exercise)] == ["Morning", "Before bed"]
    with pytest.raises(InvalidInput, match="Choose moments from the list") as caught:
        library.update_exercise(session, therapist, exercise.id, _input(moments=["lunch"]), NOW)
    assert caught.value.field == "moments"


def test_the_seeded_hip_flexor_stretch_suits_every_moment(seeded):
    assert seeded["kneeling-hip-flexor-stretch"].moments == [
        "morning", "work_break", "after_training", "before_bed"]
