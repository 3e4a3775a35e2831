"""The practice settings page: name, contact details, time zone, self-registration and the
booking rules in one form. Each field's validation (message next to the field and in the
summary, nothing written), what a forged post can do (nothing, and never a 500), and the audit
row a change leaves."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Practice
from tests.conftest import csrf_from, form_post, login
from tests.web.test_diary_web import field_error, text

SETTINGS = "/settings/"
PRACTICE_FORM = {"name": "Test Practice", "email": "desk@example.com", "phone": "020 7946 0000",
                 "address": "", "timezone": "Europe/London"}
RULES_FORM = {"slot_step_minutes": "15", "min_notice_hours": "12", "horizon_value": "8",
              "horizon_unit": "weeks", "cancel_window_hours": "24", "reminder_lead_hours": "24",
              "max_upcoming_per_client": "4"}
RECORDS_FORM = {"retention_years": "8"}
FORM = {**PRACTICE_FORM, **RULES_FORM, **RECORDS_FORM}


def summary(page: str) -> str:
    """The text of the error summary, or ''."""
    match = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(0)) if match else ""


def stored(app) -> tuple:
    """Every setting as stored."""
    with app.app_context():
        p = db.session.scalar(sa.select(Practice))
        return (p.name, p.email, p.phone, p.address, p.timezone, p.self_registration,
                p.slot_step_minutes, p.min_notice_minutes, p.horizon_days,
                p.cancel_window_hours, p.reminder_lead_hours, p.max_upcoming_per_client)


def audit_rows(app, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = sa.select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        rows = list(db.session.scalars(query))
        for row in rows:
            db.session.expunge(row)
        return rows


ORIGINAL = ("Test Practice", "desk@example.com", "020 7946 0000", None, "Europe/London", False,
            15, 720, 56, 24, 24, 4)


# --- showing and saving --------------------------------------------------------------------


def test_page_shows_every_setting_in_two_sections(as_therapist):
    page = text(as_therapist.get(SETTINGS))
    assert ">Practice and contact details</h2>" in page and ">Booking rules</h2>" in page
    assert page.index("Practice and contact details") < page.index('id="rules"')
    assert 'value="Test Practice"' in page and 'value="desk@example.com"' in page
    assert re.search(r'<option selected value="Europe/London">|'
                     r'<option value="Europe/London" selected', page)
    for name in RULES_FORM:
        assert f'name="{name}"' in page, name
    assert page.count('<form method="post" novalidate>') == 1  # one form, saved together
    assert page.count(">Save settings</button>") == 1


def test_saving_both_sections_at_once_writes_both_and_audits_who_what_and_where(
        app, as_therapist):
    response = form_post(as_therapist, SETTINGS, {
        **FORM, "name": "  Northside   Sports Massage ", "email": "Hello@Northside.example",
        "phone": "+44 (0)20 7946-0999", "address": "1 High Street\nLeeds",
        "timezone": "Europe/Dublin", "self_registration": "y",
        "slot_step_minutes": "30", "min_notice_hours": "6", "horizon_value": "4",
        "cancel_window_hours": "48", "reminder_lead_hours": "12",
        "max_upcoming_per_client": "6"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 302 and response.location == SETTINGS
    assert stored(app) == ("Northside Sports Massage", "hello@northside.example",
                           "+44 (0)20 7946-0999", "1 High Street\nLeeds", "Europe/Dublin", True,
                           30, 360, 28, 48, 12, 6)
    assert "Practice settings saved." in text(as_therapist.get(SETTINGS))

    practice_row, = audit_rows(app, "practice.updated")
    assert practice_row.actor_id == as_therapist.user.id
    assert practice_row.ip == "203.0.113.9"
    assert practice_row.details["fields"] == ["address", "email", "name", "phone",
                                              "self_registration", "timezone"]
    assert practice_row.details["changes"]["timezone"] == ["Europe/London", "Europe/Dublin"]
    rules_row, = audit_rows(app, "rules.updated")
    assert rules_row.actor_id == as_therapist.user.id and rules_row.ip == "203.0.113.9"
    assert rules_row.details["slot_step_minutes"] == 30
    assert rules_row.details["previous"]["slot_step_minutes"] == 15


def test_saving_without_a_change_writes_no_audit_row(app, as_therapist):
    assert form_post(as_therapist, SETTINGS, FORM).status_code == 302
    assert stored(app) == ORIGINAL
    assert audit_rows(app) == [] or all(
        r.action not in ("practice.updated", "rules.updated") for r in audit_rows(app))


def test_blank_optional_details_are_cleared(app, as_therapist):
    form_post(as_therapist, SETTINGS, {**FORM, "email": "  ", "phone": ""})
    assert stored(app)[1:3] == (None, None)


# --- each field's validation ---------------------------------------------------------------


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "Enter the practice name."),
    ("name", "   ", "Enter the practice name."),
    ("name", "x" * 121, "Use at most 120 characters."),
    ("email", "desk-at-example", "Enter an email like name@example.com."),
    ("email", "a@b", "Enter an email like name@example.com."),
    ("email", "x" * 250 + "@example.com", "Use at most 254 characters."),
    ("phone", "call me maybe", "digits, spaces, +, brackets and hyphens"),
    ("phone", "020 7946 0000 ext 2", "digits, spaces, +, brackets and hyphens"),
    ("phone", "44+ 20 7946", "digits, spaces, +, brackets and hyphens"),
    ("phone", "12 34", "7 to 15 digits"),
    ("phone", "1" * 16, "7 to 15 digits"),
    ("phone", "0" * 41, "Use at most 40 characters."),
    ("address", "x" * 301, "Use at most 300 characters."),
    ("timezone", "Mars/Olympus_Mons", "Choose a time zone from the list."),
    ("timezone", "../../etc/passwd", "Choose a time zone from the list."),
    ("timezone", "", "Choose a time zone from the list."),
])
def test_bad_practice_details_show_next_to_the_field_and_in_the_summary(
        app, as_therapist, field, value, message):
    response = form_post(as_therapist, SETTINGS, {**FORM, field: value})
    assert response.status_code == 200
    page = text(response)
    assert message in (field_error(page, field) or "")
    assert message in summary(page)
    assert f'href="#{field}"' in page
    assert stored(app) == ORIGINAL
    assert audit_rows(app) == []


def test_horizon_shorter_than_the_notice_is_refused(app, as_therapist):
    response = form_post(as_therapist, SETTINGS, {
        **FORM, "min_notice_hours": "72", "horizon_value": "2", "horizon_unit": "days"})
    assert response.status_code == 200
    assert "at least as far ahead as the minimum notice (72 hours" in (
        field_error(text(response), "horizon_value") or "")
    assert stored(app) == ORIGINAL


def test_a_mistake_in_one_section_keeps_what_was_typed_in_both(app, as_therapist):
    response = form_post(as_therapist, SETTINGS, {
        **FORM, "name": "Renamed Practice", "phone": "not a phone", "min_notice_hours": "3",
        "horizon_value": "2"})
    page = text(response)
    assert field_error(page, "phone") and field_error(page, "name") is None
    assert 'value="Renamed Practice"' in page and 'value="not a phone"' in page
    assert re.search(r'name="min_notice_hours"[^>]*value="3"|value="3"[^>]*name="min_notice_hours"',
                     page)
    # And the other way round: a bad rule keeps the typed practice details.
    response = form_post(as_therapist, SETTINGS, {
        **FORM, "name": "Renamed Practice", "reminder_lead_hours": "500"})
    page = text(response)
    assert "between 1 and 168 hours" in (field_error(page, "reminder_lead_hours") or "")
    assert 'value="Renamed Practice"' in page
    assert stored(app) == ORIGINAL


def test_every_mistake_shows_at_once(as_therapist):
    page = text(form_post(as_therapist, SETTINGS, {
        **FORM, "name": "", "email": "nope", "slot_step_minutes": "1", "horizon_unit": "years"}))
    for field in ("name", "email", "slot_step_minutes", "horizon_unit"):
        assert field_error(page, field), field


def retention(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Practice.retention_years))


def test_the_retention_period_is_shown_saved_and_audited(app, as_therapist):
    page = text(as_therapist.get(SETTINGS))
    assert ">Records</h2>" in page and 'name="retention_years"' in page and 'value="8"' in page
    response = form_post(as_therapist, SETTINGS, {**FORM, "retention_years": "10"},
                         follow_redirects=True)
    assert "Practice settings saved." in text(response)
    assert retention(app) == 10
    [row] = audit_rows(app, "retention.updated")
    assert row.details == {"previous": 8, "retention_years": 10}


@pytest.mark.parametrize("value, message", [
    ("5", "between 6 and 30 years"), ("31", "between 6 and 30 years"),
    ("", "Enter how many years"), ("eight", "whole number of years"),
])
def test_a_bad_retention_period_is_refused_next_to_the_field(app, as_therapist, value,
                                                             message):
    response = form_post(as_therapist, SETTINGS, {**FORM, "retention_years": value,
                                                  "name": "Renamed Practice"})
    page = text(response)
    assert message in (field_error(page, "retention_years") or "")
    assert stored(app) == ORIGINAL and retention(app) == 8
    assert audit_rows(app) == []


# --- forged posts ----------------------------------------------------------------------------


@pytest.mark.parametrize("forged", [
    {"min_notice_hours": "-5", "horizon_value": "-1", "reminder_lead_hours": "-24"},
    {"slot_step_minutes": "9" * 200, "horizon_value": "9" * 200},
    {"cancel_window_hours": "1e9", "min_notice_hours": "NaN"},
    {"name": "x" * 100_000, "address": "y" * 100_000},
    {"self_registration": "y", "timezone": "X" * 5000},
])
def test_forged_junk_writes_nothing_and_never_500s(app, as_therapist, forged):
    response = form_post(as_therapist, SETTINGS, {**FORM, **forged})
    assert response.status_code == 200
    assert summary(text(response))
    assert stored(app) == ORIGINAL
    assert audit_rows(app) == []


@pytest.mark.parametrize("forged", [
    {"name": "Null\x00byte", "address": "bad\x00"},
    {"timezone": "Europe/London\x00", "horizon_unit": "\x00"},
])
def test_nul_characters_are_refused_before_the_form(app, as_therapist, forged):
    """The request hygiene check answers 400 for NUL anywhere in a form (PostgreSQL could not
    store it); the settings stay as they were."""
    response = form_post(as_therapist, SETTINGS, {**FORM, **forged})
    assert response.status_code == 400
    assert stored(app) == ORIGINAL
    assert audit_rows(app) == []


@pytest.mark.parametrize("missing", [*PRACTICE_FORM, *RULES_FORM, *RECORDS_FORM])
def test_a_post_missing_a_field_writes_nothing(app, as_therapist, missing):
    data = {k: v for k, v in FORM.items() if k != missing}
    response = form_post(as_therapist, SETTINGS, data)
    assert response.status_code == 200
    assert "nothing was saved" in summary(text(response)) or field_error(text(response), missing)
    assert stored(app) == ORIGINAL
    assert audit_rows(app) == []


def test_an_empty_post_writes_nothing(app, as_therapist):
    page = as_therapist.get(SETTINGS).get_data(as_text=True)
    response = as_therapist.post(SETTINGS, data={"csrf_token": csrf_from(page)})
    assert response.status_code == 200
    assert stored(app) == ORIGINAL


def test_clients_cannot_open_or_post_the_settings(app, client, make_client, practice):
    user = make_client()
    login(client, user.email)
    assert client.get(SETTINGS).status_code == 403
    assert client.post(SETTINGS, data=FORM).status_code in (400, 403)
    assert stored(app) == ORIGINAL


def test_the_settings_selects_are_valid_html_without_an_empty_option(as_therapist):
    # HTML allows `required` on a one-line select only when its first option is empty; these
    # always show a chosen value, so they carry no `required` and the server checks instead.
    html = as_therapist.get("/settings/").get_data(as_text=True)
    selects = re.findall(r"<select[^>]*>", html)
    assert {re.search(r'name="([^"]+)"', tag).group(1) for tag in selects} >= {
        "timezone", "slot_step_minutes", "horizon_unit"}
    assert not [tag for tag in selects if re.search(r"\brequired\b", tag)]


# --- the most upcoming sessions per client -------------------------------------------------


def limit_input(page: str) -> str:
    """The <input> tag of the upcoming sessions limit."""
    return re.search(r'<input[^>]*name="max_upcoming_per_client"[^>]*>', page).group(0)


def test_the_upcoming_sessions_limit_is_shown_with_its_range_and_saved(app, as_therapist):
    page = text(as_therapist.get(SETTINGS))
    rules = page.split('id="rules"', 1)[1]
    assert re.search(r'<label class="field__label" for="max_upcoming_per_client">'
                     r'Most upcoming sessions per client</label>', rules)
    tag = limit_input(rules)
    for attribute in ('value="4"', 'min="1"', 'max="50"', 'inputmode="numeric"',
                      'aria-describedby="max_upcoming_per_client-help"'):
        assert attribute in tag, attribute
    assert "can't book another online until one has taken place or been cancelled" in rules
    assert "you can book more for them from the diary (1 to 50)" in rules

    assert form_post(as_therapist, SETTINGS, {**FORM, "max_upcoming_per_client": "12"}
                     ).status_code == 302
    assert stored(app)[-1] == 12
    assert 'value="12"' in limit_input(text(as_therapist.get(SETTINGS)))
    row, = audit_rows(app, "rules.updated")
    assert row.details["max_upcoming_per_client"] == 12
    assert row.details["previous"] == {"max_upcoming_per_client": 4}


@pytest.mark.parametrize("value, message", [
    ("0", "Enter between 1 and 50 sessions."),
    ("51", "Enter between 1 and 50 sessions."),
    ("-1", "Enter between 1 and 50 sessions."),
    ("9" * 40, "Enter between 1 and 50 sessions."),
    ("", "Enter how many upcoming sessions a client can hold."),
    ("four", "Enter a whole number of sessions, for example 4."),
    ("2.5", "Enter a whole number of sessions, for example 4."),
])
def test_a_bad_upcoming_sessions_limit_shows_next_to_the_field_and_saves_nothing(
        app, as_therapist, value, message):
    response = form_post(as_therapist, SETTINGS, {**FORM, "max_upcoming_per_client": value})
    assert response.status_code == 200
    page = text(response)
    assert field_error(page, "max_upcoming_per_client") == message
    assert message in summary(page)
    assert stored(app) == ORIGINAL
    assert audit_rows(app) == []


def test_the_front_page_introduction_is_written_in_settings(app, as_therapist):
    """Markdown, sanitised on the front page; named in the audit row, not copied into it; a
    post without the field (not from this page) leaves it alone."""
    client = app.test_client()  # a visitor
    intro = "We **treat** runners.\n\n<script>steal()</script>"
    response = form_post(as_therapist, "/settings/", {**FORM, "intro": intro})
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "We <strong>treat</strong> runners." in page and "steal()" not in page
    [row] = audit_rows(app, "practice.updated")
    assert "intro" in row.details["fields"] and "intro" not in row.details["changes"]
    assert form_post(as_therapist, "/settings/", FORM).status_code == 302
    assert "We <strong>treat</strong> runners." in client.get("/").get_data(as_text=True)
    too_long = form_post(as_therapist, "/settings/", {**FORM, "intro": "x" * 5001})
    assert "Use at most 5000 characters." in too_long.get_data(as_text=True)
