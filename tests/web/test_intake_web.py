"""The health questionnaire through the test client: errors on their fields, versions kept."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import IntakeForm
from portal.services.intake import CONSENT_TEXT, CONSENT_VERSION, RED_FLAGS
from tests.conftest import form_post, login, sign_in_directly
from tests.web.test_booking_web import NOW, set_clock


def text(response) -> str:
    """The response body as text, entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def field_error(page: str, field_id: str) -> str | None:
    """The error message shown next to a field, or None."""
    match = re.search(rf'<p class="field__error" id="{field_id}-error">(.*?)</p>', page, re.S)
    if not match:
        return None
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).replace("Error:", "").strip()


def checked(raw: str, input_id: str) -> bool:
    """True when the input with this id is rendered checked."""
    tag = re.search(rf'<input[^>]*\bid="{input_id}"[^>]*>', raw)
    assert tag, f"no input {input_id!r}"
    return re.search(r"\bchecked\b", tag.group(0)) is not None


def answers(**overrides) -> dict:
    """A complete, valid submission: every red flag answered no."""
    data = {
        "phone": "07700 900123",
        "emergency_contact": "Robin Morgan, 07700 900456",
        "gp_details": "Dr Shah, Riverside Surgery",
        "complaints": "Stiff lower back after long days at the desk.",
        "conditions": "",
        "medication": "Ibuprofen now and then",
        "activity": "Desk job; runs 10k twice a week",
        "red_flag_details": "",
        "consent": "y",
        **{f"flag_{flag.key}": "no" for flag in RED_FLAGS},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def forms(app) -> list[IntakeForm]:
    """Every stored submission, oldest first (detached)."""
    with app.app_context():
        rows = list(db.session.scalars(sa.select(IntakeForm).order_by(IntakeForm.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


@pytest.fixture
def newcomer(app, client, make_client):
    """A signed-in client who has not filled the questionnaire in yet."""
    set_clock(app, NOW)
    user = make_client(name="Sam Patel")
    sign_in_directly(client, user)
    client.user = user
    return client


def test_blank_questionnaire_shows_every_question_and_the_consent(newcomer):
    raw = newcomer.get("/intake/").get_data(as_text=True)
    page = html.unescape(raw)
    assert "Health questionnaire" in page
    for flag in RED_FLAGS:
        assert flag.question in page
        assert f'id="flag_{flag.key}-0"' in page and f'id="flag_{flag.key}-1"' in page
    assert CONSENT_TEXT in page and f"Consent wording version {CONSENT_VERSION}" in page
    assert "Last updated" not in page
    assert not checked(raw, "consent")
    assert not any(checked(raw, f"flag_{flag.key}-{i}") for flag in RED_FLAGS for i in (0, 1))


def test_the_consent_says_records_outlive_a_deleted_account_for_the_practices_period(
        app, newcomer, practice):
    page = html.unescape(newcomer.get("/intake/").get_data(as_text=True))
    assert "delete it at any time" not in page
    assert "my health records are kept for the time the practice must keep them" in page
    assert "This practice keeps health records for 8 years after your last session." in page
    with app.app_context():
        db.session.get(type(practice), practice.id).retention_years = 10
        db.session.commit()
    page = html.unescape(newcomer.get("/intake/").get_data(as_text=True))
    assert "This practice keeps health records for 10 years after your last session." in page


def test_empty_submission_marks_each_field_and_writes_nothing(app, newcomer):
    response = form_post(newcomer, "/intake/", {})
    assert response.status_code == 200
    page = text(response)
    assert field_error(page, "complaints") == "Tell us briefly what you'd like help with."
    assert field_error(page, "consent") == ("We need your consent to keep health information "
                                            "before you can book.")
    for flag in RED_FLAGS:
        assert field_error(page, f"flag_{flag.key}") == "Answer yes or no.", flag.key
    assert 'aria-invalid="true"' in page and "Please check the form" in page
    # One line in the summary for the safety questions, linking to the first unanswered.
    assert f'<a href="#flag_{RED_FLAGS[0].key}">Answer yes or no to each safety question ' \
           f'({len(RED_FLAGS)} left).</a>' in page
    assert page.count("Answer yes or no") == len(RED_FLAGS) + 1
    assert field_error(page, "phone") is None
    assert forms(app) == []


def test_a_yes_needs_a_few_words(app, newcomer):
    flag = RED_FLAGS[1].key
    response = form_post(newcomer, "/intake/", answers(**{f"flag_{flag}": "yes"}))
    page = text(response)
    assert "please add a few words" in (field_error(page, "red_flag_details") or "")
    assert checked(response.get_data(as_text=True), f"flag_{flag}-0")  # the answer is kept
    assert forms(app) == []


@pytest.mark.parametrize("overrides, field, message", [
    ({"complaints": "x" * 2001}, "complaints", "Use at most 2,000 characters."),
    ({"phone": "1" * 41}, "phone", "Use at most 40 characters."),
    ({"consent": None}, "consent", "We need your consent"),
    ({"flag_fever": "maybe"}, "flag_fever", "Not a valid choice"),
    ({"complaints": "   "}, "complaints", "Tell us briefly"),
])
def test_bad_answers_are_marked_on_their_field(app, newcomer, overrides, field, message):
    page = text(form_post(newcomer, "/intake/", answers(**overrides)))
    assert message in (field_error(page, field) or ""), field
    assert forms(app) == []


def test_saving_stores_a_version_and_goes_home(app, newcomer):
    flag = RED_FLAGS[0].key
    response = form_post(newcomer, "/intake/", answers(
        **{f"flag_{flag}": "yes", "red_flag_details": "Lost 4 kg since January"}))
    assert response.status_code == 302 and response.location == "/"
    assert "Your health questionnaire is saved." in text(newcomer.get("/"))
    [saved] = forms(app)
    assert saved.client_id == newcomer.user.id
    assert saved.answers["complaints"] == "Stiff lower back after long days at the desk."
    assert saved.answers["gp_details"] == "Dr Shah, Riverside Surgery"
    assert saved.red_flags == [flag]
    assert saved.consent_version == CONSENT_VERSION
    assert saved.consent_given_at == NOW


def test_returning_to_booking_after_saving(app, newcomer):
    start = newcomer.get("/booking/")
    assert start.status_code == 302
    page = text(newcomer.get(start.location))
    assert "Save and continue to booking" in page
    response = form_post(newcomer, start.location, answers(next="/booking/"))
    assert response.status_code == 302 and response.location == "/booking/"
    assert newcomer.get("/booking/").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:x"])
def test_next_never_leaves_the_site(newcomer, target):
    page = text(newcomer.get(f"/intake/?next={target}"))
    assert 'name="next" type="hidden" value=""' in page
    response = form_post(newcomer, "/intake/", answers(next=target))
    assert response.location == "/"


def test_review_shows_the_latest_answers_and_an_update_adds_a_version(app, newcomer):
    flag = RED_FLAGS[2].key
    form_post(newcomer, "/intake/", answers(
        **{f"flag_{flag}": "yes", "red_flag_details": "Tingling in the left foot"}))
    raw = newcomer.get("/intake/").get_data(as_text=True)
    page = html.unescape(raw)
    assert "Last updated Mon 2 March 2026, 08:00." in page
    assert "Stiff lower back after long days at the desk." in page
    assert 'value="07700 900123"' in page
    assert checked(raw, f"flag_{flag}-0") and not checked(raw, f"flag_{flag}-1")
    other = RED_FLAGS[0].key
    assert checked(raw, f"flag_{other}-1") and not checked(raw, f"flag_{other}-0")
    assert checked(raw, "consent")
    assert "You agreed on Mon 2 March 2026" in page

    response = form_post(newcomer, "/intake/", answers(complaints="Now my neck too."))
    assert response.status_code == 302
    first, second = forms(app)
    assert first.answers["complaints"] != second.answers["complaints"] == "Now my neck too."
    assert second.red_flags == []


def test_an_old_consent_version_must_be_agreed_again(app, newcomer):
    with app.app_context():
        db.session.add(IntakeForm(client_id=newcomer.user.id, answers={"complaints": "Calves"},
                                  red_flags=[], consent_version="2020-01",
                                  consent_given_at=NOW, submitted_at=NOW))
        db.session.commit()
    assert newcomer.get("/booking/").status_code == 302  # not complete any more
    raw = newcomer.get("/intake/").get_data(as_text=True)
    assert "The consent wording has changed since then" in html.unescape(raw)
    assert not checked(raw, "consent")
    assert "Calves" in raw  # the answers are still prefilled


def test_therapists_do_not_fill_in_the_questionnaire(app, client, make_therapist):
    therapist = make_therapist()
    assert login(client, therapist.email).status_code == 302
    assert client.get("/intake/").status_code == 403


def test_nul_characters_are_refused_and_nothing_is_stored(app, newcomer):
    response = form_post(newcomer, "/intake/", answers(complaints="Stiff\x00 neck",
                                                       phone="0770\x00"))
    assert response.status_code == 400
    assert "Something in that request" in response.get_data(as_text=True)
    assert forms(app) == []
