"""The practice settings service: every value checked again (a form can be bypassed), nothing
written on a refusal, and one audit row per change naming who, what and from where."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, Practice, User
from portal.services import diary as diary_service
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput, PermissionDenied

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
VALUES = {"name": "Test Practice", "email": "desk@example.com", "phone": "020 7946 0000",
          "address": None, "timezone": "Europe/London", "self_registration": False}
RULES = {"slot_step_minutes": 15, "min_notice_hours": 12, "horizon_value": 8,
         "horizon_unit": "weeks", "cancel_window_hours": 24, "reminder_lead_hours": 24,
         "max_upcoming_per_client": 4}


@pytest.fixture
def setup(practice, make_therapist, make_client, session):
    """The practice row and a therapist and a client, in the test's session."""
    therapist, client = make_therapist(), make_client()
    return (session.get(Practice, practice.id), session.get(User, therapist.id),
            session.get(User, client.id))


def audit(session, action):
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def snapshot(row: Practice) -> tuple:
    return (row.name, row.email, row.phone, row.address, row.timezone, row.self_registration)


def test_update_saves_cleaned_values_and_audits_the_change(session, setup):
    row, therapist, _ = setup
    practice_service.update(session, therapist, row, now=NOW, ip="198.51.100.7", **{
        **VALUES, "name": "  Northside \t Sports  Massage ", "email": " Desk@Northside.Example ",
        "phone": " +44 (0)113 496 0000 ", "address": "  1 High Street  ",
        "timezone": "America/New_York", "self_registration": True})
    assert snapshot(row) == ("Northside Sports Massage", "desk@northside.example",
                             "+44 (0)113 496 0000", "1 High Street", "America/New_York", True)
    event, = audit(session, "practice.updated")
    assert (event.actor_id, event.ip, event.subject_user_id) == (therapist.id, "198.51.100.7",
                                                                 None)
    assert event.details["fields"] == ["address", "email", "name", "phone",
                                       "self_registration", "timezone"]
    assert event.details["changes"]["name"] == ["Test Practice", "Northside Sports Massage"]
    assert event.at == NOW


def test_update_without_a_change_writes_no_audit_row(session, setup):
    row, therapist, _ = setup
    practice_service.update(session, therapist, row, now=NOW, **VALUES)
    assert audit(session, "practice.updated") == []


@pytest.mark.parametrize("changes, field, message", [
    ({"name": ""}, "name", "Enter the practice name."),
    ({"name": None}, "name", "Enter the practice name."),
    ({"name": " \t "}, "name", "Enter the practice name."),
    ({"name": "x" * 121}, "name", "at most 120"),
    ({"name": "Bad\x00name"}, "name", "control characters"),
    ({"email": "not-an-email"}, "email", "name@example.com"),
    ({"email": "a b@example.com"}, "email", "name@example.com"),
    ({"email": "x" * 255 + "@example.com"}, "email", "at most 254"),
    ({"phone": "phone me"}, "phone", "digits, spaces, +, brackets and hyphens"),
    ({"phone": "020+7946"}, "phone", "digits, spaces, +, brackets and hyphens"),
    ({"phone": "123"}, "phone", "7 to 15 digits"),
    ({"phone": "1" * 41}, "phone", "at most 40"),
    ({"address": "x" * 301}, "address", "at most 300"),
    ({"timezone": "Not/AZone"}, "timezone", "Choose a time zone"),
    ({"timezone": "../../../etc/passwd"}, "timezone", "Choose a time zone"),
    ({"timezone": ""}, "timezone", "Choose a time zone"),
    ({"timezone": None}, "timezone", "Choose a time zone"),
])
def test_bad_values_are_refused_and_nothing_changes(session, setup, changes, field, message):
    row, therapist, _ = setup
    with pytest.raises(InvalidInput) as caught:
        practice_service.update(session, therapist, row, now=NOW, **{**VALUES, **changes})
    assert caught.value.field == field
    assert message in caught.value.message
    assert snapshot(row) == tuple(VALUES.values())
    assert audit(session, "practice.updated") == []


def test_any_real_iana_zone_is_accepted(session, setup):
    row, therapist, _ = setup
    practice_service.update(session, therapist, row, now=NOW, **{**VALUES, "timezone": "UTC"})
    assert row.timezone == "UTC"


def test_only_a_therapist_may_change_the_settings(session, setup):
    row, _, client = setup
    with pytest.raises(PermissionDenied):
        practice_service.update(session, client, row, now=NOW, **{**VALUES, "name": "Mine"})
    assert row.name == "Test Practice"


@pytest.mark.parametrize("value, problem", [
    ("020 7946 0000", None), ("+44 (0)20 7946-0000", None), ("", None),
    ("07700 900123", None), ("0207946000O", practice_service.PHONE_CHARACTERS),
    ("+", practice_service.PHONE_DIGITS), ("+44 +20", practice_service.PHONE_CHARACTERS),
])
def test_phone_rule(value, problem):
    assert practice_service.phone_problem(value) == problem


# --- the booking rules' audit and the horizon against the notice ---------------------------


def test_rules_audit_names_who_where_the_new_and_the_previous_values(session, setup):
    row, therapist, _ = setup
    diary_service.update_rules(session, therapist, row, now=NOW, ip="198.51.100.7",
                               **{**RULES, "slot_step_minutes": 30, "reminder_lead_hours": 12})
    event, = audit(session, "rules.updated")
    assert (event.actor_id, event.ip) == (therapist.id, "198.51.100.7")
    assert event.details == {"slot_step_minutes": 30, "reminder_lead_hours": 12,
                             "previous": {"slot_step_minutes": 15, "reminder_lead_hours": 24}}


@pytest.mark.parametrize("notice, horizon, unit, ok", [
    (48, 2, "days", True), (49, 2, "days", False), (336, 2, "weeks", True),
    (336, 13, "days", False), (0, 1, "days", True),
])
def test_the_horizon_must_reach_past_the_minimum_notice(session, setup, notice, horizon, unit,
                                                        ok):
    row, therapist, _ = setup
    rules = {**RULES, "min_notice_hours": notice, "horizon_value": horizon, "horizon_unit": unit}
    if ok:
        diary_service.update_rules(session, therapist, row, now=NOW, **rules)
        assert row.min_notice_minutes == notice * 60
    else:
        with pytest.raises(InvalidInput) as caught:
            diary_service.update_rules(session, therapist, row, now=NOW, **rules)
        assert caught.value.field == "horizon_value"
        assert f"minimum notice ({notice} hours" in caught.value.message
        assert (row.min_notice_minutes, row.horizon_days) == (720, 56)
        assert audit(session, "rules.updated") == []
