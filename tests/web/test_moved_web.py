"""Old addresses keep working: each answers with a permanent redirect (308) to its new home,
keeping the query string and, for forms, the method and body; and an old address never lets
in anyone the new page would refuse."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from portal.models import AppointmentStatus
from tests.conftest import csrf_from, login
from tests.web.test_diary_days_web import NOW, add_appointment, status_of


@pytest.fixture
def alex(make_client):
    return make_client(email="alex@example.com", name="Alex Morgan")


def old_and_new(alex_id: int) -> list[tuple[str, str]]:
    return [
        ("/dashboard/clients", "/clients/"),
        ("/dashboard/clients?q=alex&filter=pain&page=2", "/clients/?q=alex&filter=pain&page=2"),
        (f"/dashboard/clients/{alex_id}", f"/clients/{alex_id}"),
        (f"/dashboard/clients/{alex_id}/audit?page=2", f"/clients/{alex_id}/audit?page=2"),
        (f"/dashboard/clients/{alex_id}/export", f"/clients/{alex_id}/export"),
        ("/dashboard/invite", "/clients/invite"),
    ]


def test_old_client_addresses_redirect_permanently_with_the_query(as_therapist, alex):
    for old, new in old_and_new(alex.id):
        response = as_therapist.get(old)
        assert response.status_code == 308, old
        assert response.location == new, old
        assert as_therapist.get(old, follow_redirects=True).status_code == 200, old


def post_like_a_browser(browser, url: str, data: dict):
    """POST, and on a 308 post the same body again to the new address, as browsers do (the
    test client cannot replay a body it has already sent)."""
    response = browser.post(url, data=data)
    assert response.status_code == 308, url
    return browser.post(response.location, data=data, follow_redirects=True)


def test_a_form_posted_to_an_old_address_is_posted_again_and_saved(as_therapist, alex):
    token = csrf_from(as_therapist.get("/clients/").get_data(as_text=True))
    response = as_therapist.post(f"/dashboard/clients/{alex.id}/access?from=old",
                                 data={"csrf_token": token, "active": "0"})
    assert response.status_code == 308
    assert response.location == f"/clients/{alex.id}/access?from=old"
    response = post_like_a_browser(as_therapist, f"/dashboard/clients/{alex.id}/access",
                                   {"csrf_token": token, "active": "0"})
    assert "Alex Morgan can no longer sign in" in response.get_data(as_text=True)

    token = csrf_from(as_therapist.get("/clients/invite").get_data(as_text=True))
    response = post_like_a_browser(as_therapist, "/dashboard/invite",
                                   {"csrf_token": token, "name": "Sam Lee",
                                    "email": "sam@example.com"})
    assert "Invitation sent to Sam Lee" in response.get_data(as_text=True)


def test_old_addresses_refuse_clients_and_send_strangers_to_sign_in(app, alex):
    stranger, client = app.test_client(), app.test_client()
    assert login(client, alex.email).status_code == 302
    for old, _new in old_and_new(alex.id):
        response = stranger.get(old)
        assert response.status_code == 302, old
        assert urlsplit(response.location).path == "/auth/login", old
        assert client.get(old).status_code == 403, old
    assert client.post(f"/dashboard/clients/{alex.id}/access",
                       data={"active": "0"}).status_code == 403


# --- the agenda became the diary's day, week and month views --------------------------------


def test_old_agenda_addresses_redirect_to_the_diary_days(as_therapist):
    for old, new in [("/diary/agenda", "/diary/days"),
                     ("/diary/agenda?day=2026-03-04&view=week",
                      "/diary/days?day=2026-03-04&view=week")]:
        response = as_therapist.get(old)
        assert response.status_code == 308, old
        assert response.location == new, old
    page = as_therapist.get("/diary/agenda?view=month", follow_redirects=True)
    assert page.status_code == 200
    assert "<title>Diary: month" in page.get_data(as_text=True)


def test_old_agenda_forms_post_again_to_the_diary(app, diary):
    app.config["PORTAL_CLOCK"] = lambda: NOW
    therapist = app.test_client()
    assert login(therapist, diary.therapist.email).status_code == 302
    appointment_id = add_appointment(app, diary, NOW - timedelta(hours=1))
    token = csrf_from(therapist.get("/diary/days").get_data(as_text=True))
    old = f"/diary/agenda/appointments/{appointment_id}/attended?day=2026-03-04&view=week"
    response = post_like_a_browser(therapist, old, {"csrf_token": token})
    assert response.status_code == 200
    assert status_of(app, appointment_id) is AppointmentStatus.ATTENDED
    note = therapist.post(f"/diary/agenda/appointments/{appointment_id}/notes",
                          data={"csrf_token": token, "body": "Shoulder easier"})
    assert note.status_code == 308
    assert note.location == f"/diary/appointments/{appointment_id}/notes"

    client = app.test_client()
    assert login(client, diary.client.email).status_code == 302
    assert client.get("/diary/agenda").status_code == 403
    assert client.post(f"/diary/agenda/appointments/{appointment_id}/notes",
                       data={"body": "x"}).status_code == 403


# --- the practice settings became their own surface ----------------------------------------


def test_the_old_settings_address_redirects_and_still_saves(as_therapist, practice):
    response = as_therapist.get("/dashboard/settings?from=old")
    assert response.status_code == 308
    assert response.location == "/settings/?from=old"
    page = as_therapist.get("/dashboard/settings", follow_redirects=True).get_data(as_text=True)
    token = csrf_from(page)
    data = {"csrf_token": token, "name": "Harbour Sports Massage", "email": "", "phone": "",
            "address": "", "timezone": "Europe/London", "slot_step_minutes": "15",
            "min_notice_hours": "12", "horizon_value": "8", "horizon_unit": "weeks",
            "cancel_window_hours": "24", "reminder_lead_hours": "24",
            "max_upcoming_per_client": "4", "retention_years": "8"}
    saved = post_like_a_browser(as_therapist, "/dashboard/settings", data)
    assert "Practice settings saved." in saved.get_data(as_text=True)
    assert "Harbour Sports Massage" in as_therapist.get("/settings/").get_data(as_text=True)


# --- the programme builder became Programmes ----------------------------------------------


def old_programme_addresses(alex_id: int) -> list[tuple[str, str]]:
    return [
        ("/builder/", "/programmes/"),
        ("/builder/?from=old", "/programmes/?from=old"),
        ("/builder/templates", "/programmes/templates"),
        (f"/builder/{alex_id}", f"/programmes/{alex_id}"),
        (f"/builder/{alex_id}?q=calf", f"/programmes/{alex_id}?q=calf"),
        (f"/builder/{alex_id}/versions", f"/programmes/{alex_id}/versions"),
        ("/builder/words?hold_seconds=30&reps=0", "/programmes/words?hold_seconds=30&reps=0"),
    ]


def test_old_builder_addresses_redirect_to_programmes(as_therapist, alex):
    for old, new in old_programme_addresses(alex.id):
        response = as_therapist.get(old)
        assert response.status_code == 308, old
        assert response.location == new, old
    for old in ("/builder/", f"/builder/{alex.id}", f"/builder/{alex.id}/versions",
                "/builder/templates"):
        assert as_therapist.get(old, follow_redirects=True).status_code == 200, old
    page = as_therapist.get("/builder/", follow_redirects=True).get_data(as_text=True)
    assert "Alex Morgan" in page and 'class="programmes-list"' in page


def test_old_builder_forms_post_again_to_programmes(as_therapist, alex, make_client):
    """Applying a template through the old addresses: every form of the old page still lands."""
    sam = make_client(email="sam@example.com", name="Sam Patel")
    token = csrf_from(as_therapist.get(f"/programmes/{alex.id}").get_data(as_text=True))
    saved = post_like_a_browser(as_therapist, f"/builder/{alex.id}/template",
                                {"csrf_token": token, "template-name": "Nothing"})
    # Alex has no programme yet: the new page refuses it exactly as before, next to the field.
    assert saved.status_code == 422
    assert "programme is empty" in saved.get_data(as_text=True)
    for old, new in [(f"/builder/{alex.id}", f"/programmes/{alex.id}"),
                     (f"/builder/{alex.id}/apply", f"/programmes/{alex.id}/apply"),
                     ("/builder/templates/7/delete", "/programmes/templates/7/delete"),
                     (f"/builder/{sam.id}/logs/3/acknowledge",
                      f"/programmes/{sam.id}/logs/3/acknowledge")]:
        response = as_therapist.post(old, data={"csrf_token": token})
        assert response.status_code == 308, old
        assert response.location == new, old


def test_old_builder_addresses_refuse_clients_and_send_strangers_to_sign_in(app, alex):
    stranger, client = app.test_client(), app.test_client()
    assert login(client, alex.email).status_code == 302
    for old, _new in old_programme_addresses(alex.id):
        response = stranger.get(old)
        assert response.status_code == 302, old
        assert urlsplit(response.location).path == "/auth/login", old
        assert client.get(old).status_code == 403, old
    for old in (f"/builder/{alex.id}", f"/builder/{alex.id}/template"):
        assert client.post(old, data={"x": "1"}).status_code == 403, old
        assert stranger.post(old, data={"x": "1"}).status_code == 302, old
