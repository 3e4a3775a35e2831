"""The therapist's client list, client record and audit trail pages: who may see them, odd
search input, pagination, the audit row a view writes, the adherence chart and its table,
and fixed query counts."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AppointmentStatus, AuditEvent, Role, User
from portal.services.intake import CONSENT_VERSION
from tests.clients_support import (
    NOW,
    TODAY,
    add_note,
    book,
    counting_statements,
    give_programme,
    intake,
    log,
    set_up_practice,
)
from tests.conftest import form_post, login, sign_in_directly


@pytest.fixture
def world(app, make_therapist, make_client):
    """Jo; Alex with a programme, logs, a red-flagged questionnaire and a booked session; Sam
    invited but not joined; the clock fixed at NOW."""
    app.config["PORTAL_CLOCK"] = lambda: NOW
    jo_id = make_therapist(name="Jo Fletcher").id
    alex_id = make_client(name="Alex Morgan", email="alex@example.com").id
    sam_id = make_client(name="Sam Rivera", email="sam@example.com", password=None).id
    with app.app_context():
        jo, alex = db.session.get(User, jo_id), db.session.get(User, alex_id)
        practice = set_up_practice(db.session, jo)
        item = give_programme(db.session, practice, alex)
        for day in (TODAY - timedelta(days=n) for n in (7, 6, 2, 1, 0)):
            log(db.session, alex, item, day)
        log(db.session, alex, item, TODAY - timedelta(days=5), pain=True, note="Twinge <b>")
        intake(db.session, alex, NOW - timedelta(days=10), ["night_pain"])
        book(db.session, practice, alex, NOW + timedelta(days=1))
        db.session.commit()
    return {"jo": jo_id, "alex": alex_id, "sam": sam_id, "practice": practice, "item": item}


@pytest.fixture
def as_jo(client, world, app):
    with app.app_context():
        jo = db.session.get(User, world["jo"])
    sign_in_directly(client, jo)
    return client


def text(response) -> str:
    body = response.get_data(as_text=True)
    main = body.split("<main", 1)[-1].split("</main>", 1)[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main.split(">", 1)[-1])).split())


def test_clients_see_403_and_unknown_ids_404(client, world, app):
    assert login(client, "alex@example.com").status_code == 302
    for url in ["/clients/", f"/clients/{world['alex']}",
                f"/clients/{world['alex']}/audit"]:
        assert client.get(url).status_code == 403, url


def test_unknown_or_non_client_ids_are_404(as_jo, world):
    for url in ["/clients/999999", "/clients/999999/audit",
                f"/clients/{world['jo']}", f"/clients/{world['jo']}/audit"]:
        assert as_jo.get(url).status_code == 404, url


def test_strangers_are_sent_to_sign_in(client, world):
    response = client.get(f"/clients/{world['alex']}")
    assert response.status_code == 302 and "/auth/login" in response.location


def test_list_links_each_row_to_the_record_and_shows_status(as_jo, world):
    response = as_jo.get("/clients/")
    body = response.get_data(as_text=True)
    assert f'href="/clients/{world["alex"]}"' in body
    page = text(response)
    assert "Alex Morgan" in page and "Sam Rivera" in page and "Invited" in page
    assert "Pain reported: 1" in page and "2 clients." in page


@pytest.mark.parametrize("query", [
    {"q": "x" * 10_000}, {"q": "%"}, {"q": "_"}, {"q": "\\"}, {"q": "%%%\\_"},
    {"q": "Zoë 🙂 Åsa"}, {"q": "\x1b[31m\u202e"}, {"q": "' OR 1=1 --"},
    {"page": "-1"}, {"page": "abc"}, {"page": "9" * 400}, {"page": "99999"},
    {"filter": ["pain", "pain", "nonsense", "x" * 1000]},
    {"q": "alex", "filter": ["upcoming", "low_adherence", "no_programme", "pain"]},
])
def test_odd_input_never_fails(as_jo, world, query):
    assert as_jo.get("/clients/", query_string=query).status_code == 200
    response = as_jo.get(f"/clients/{world['alex']}/audit", query_string=query)
    assert response.status_code == 200


def test_a_nul_byte_is_refused_not_a_500(as_jo, world):
    assert as_jo.get("/clients/", query_string={"q": "a\x00b"}).status_code == 400


def test_search_and_filters(as_jo, world):
    assert "Alex Morgan" in text(as_jo.get("/clients/?q=ALEX"))
    assert "Sam Rivera" not in text(as_jo.get("/clients/?q=ALEX"))
    page = text(as_jo.get("/clients/?filter=no_programme"))
    assert "Sam Rivera" in page and "Alex Morgan" not in page
    page = text(as_jo.get("/clients/?q=%25"))
    assert "No clients match" in page


def test_pagination(as_jo, world, app):
    with app.app_context():
        for n in range(30):
            db.session.add(User(email=f"p{n:02}@example.com", name=f"Pat {n:02}",
                                role=Role.CLIENT))
        db.session.commit()
    first = as_jo.get("/clients/?q=pat")
    assert first.get_data(as_text=True).count('class="client-list__item card') == 25
    assert "Page 1 of 2" in text(first) and "page=2" in first.get_data(as_text=True)
    last = text(as_jo.get("/clients/?q=pat&page=7"))
    assert "Page 2 of 2" in last and "Pat 29" in last and "Pat 00" not in last


def test_record_shows_everything_and_writes_an_audit_row(as_jo, world, app):
    response = as_jo.get(f"/clients/{world['alex']}",
                         environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    page = text(response)
    assert "alex@example.com" in page and "Red flags: 1" in page
    assert "worse at night" in page and f"consent version {CONSENT_VERSION}" in page
    assert "Current: version 1" in page and f'href="/programmes/{world["alex"]}"' in body
    assert "60 minute massage" in page and "Booked" in page
    assert "Twinge <b>" in page and "<b>" not in body.split("Twinge", 1)[1][:10]
    assert "Pain reported: 1" in page
    with app.app_context():
        rows = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "client.record_viewed")).all()
        assert [(r.actor_id, r.subject_user_id, r.ip) for r in rows] == [
            (world["jo"], world["alex"], "198.51.100.7")]


def test_adherence_chart_and_table(as_jo, world):
    body = as_jo.get(f"/clients/{world['alex']}").get_data(as_text=True)
    svg = re.search(r"<svg[^>]*>.*?</svg>", body, re.S).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="adherence-title adherence-desc"' in svg
    assert '<title id="adherence-title">' in svg and '<desc id="adherence-desc">' in svg
    percents = re.findall(r'class="adherence-chart__bar"[^>]*data-percent="(\d*)"', svg)
    # Week of 23 Feb: started Wed 25th, 5 due, 2 done (the pain log on the 27th makes 3).
    assert percents == ["", "", "", "", "", "", "60", "100"]
    heights = re.findall(r'class="adherence-chart__bar"[^>]*height="(\d+)"', svg)
    assert heights[-2:] == ["72", "120"]
    table = re.search(r'<table[^>]*id="adherence-table".*?</table>', body, re.S).group(0)
    rows = re.findall(r"<tr><th scope=\"row\">([^<]+)</th><td>(\d+)</td><td>(\d+)</td>"
                      r"<td>([^<]+)</td></tr>", table)
    assert len(rows) == 8
    assert rows[-2:] == [("2026-02-23", "3", "5", "60%"), ("2026-03-02", "3", "3", "100%")]
    assert rows[0][3] == "Nothing due"


def test_invite_again_and_deactivate_from_the_record(as_jo, world, app, outbox):
    page = as_jo.get(f"/clients/{world['sam']}").get_data(as_text=True)
    assert "Send the invitation again" in page
    response = form_post(as_jo, f"/clients/{world['sam']}",
                         {"name": "Sam Rivera", "email": "sam@example.com"},
                         action="/clients/invite")
    assert response.status_code == 302
    assert "Send the invitation again" not in as_jo.get(
        f"/clients/{world['alex']}").get_data(as_text=True)
    response = form_post(as_jo, f"/clients/{world['alex']}", {"active": "0"},
                         action=f"/clients/{world['alex']}/access")
    assert response.status_code == 302
    assert "Reactivate" in as_jo.get(f"/clients/{world['alex']}").get_data(
        as_text=True)


def test_audit_trail_lists_views_newest_first_in_local_time(as_jo, world):
    as_jo.get(f"/clients/{world['alex']}", environ_base={"REMOTE_ADDR": "192.0.2.5"})
    page = text(as_jo.get(f"/clients/{world['alex']}/audit"))
    assert "client.record_viewed" in page and "Jo Fletcher" in page and "192.0.2.5" in page
    assert "4 March 2026, 12:00" in page


def grow(app, world, clients: int, logs: int, appointments: int) -> None:
    with app.app_context():
        alex = db.session.get(User, world["alex"])
        base = db.session.scalar(sa.select(sa.func.count()).select_from(User))
        slot = NOW + timedelta(days=40 + base)
        for n in range(clients):
            user = User(email=f"g{base}-{n}@example.com", name=f"Grown {base}-{n}",
                        role=Role.CLIENT)
            db.session.add(user)
            db.session.flush()
            item = give_programme(db.session, world["practice"], user)
            log(db.session, user, item, TODAY)
            book(db.session, world["practice"], user, slot)
            slot += timedelta(hours=2)
        for d in range(logs):
            log(db.session, alex, world["item"], TODAY - timedelta(days=d % 7))
        for n in range(appointments):
            appointment = book(db.session, world["practice"], alex, slot)
            for k in range(2):
                add_note(db.session, world["jo"], appointment, f"Note {n}.{k}\nsecond line",
                         NOW + timedelta(minutes=2 * n + k))
            slot += timedelta(hours=2)
        db.session.commit()


def statements_for(app, browser, url: str) -> int:
    with app.app_context(), counting_statements() as seen:
        response = browser.get(url)
    assert response.status_code == 200, url
    return len(seen)


def test_query_counts_stay_fixed_at_n_and_10n(as_jo, world, app):
    urls = ["/clients/", "/clients/?filter=low_adherence&q=grown",
            f"/clients/{world['alex']}", f"/clients/{world['alex']}/audit",
            f"/clients/{world['alex']}/export"]
    grow(app, world, clients=3, logs=3, appointments=3)
    for url in urls:
        statements_for(app, as_jo, url)  # warm up: audit rows exist from here on
    small = {url: statements_for(app, as_jo, url) for url in urls}
    grow(app, world, clients=27, logs=27, appointments=27)
    large = {url: statements_for(app, as_jo, url) for url in urls}
    assert large == small
    body = as_jo.get(f"/clients/{world['alex']}").get_data(as_text=True)
    assert body.count("Note 26.1<br>second line") == 1  # the notes really were on the page


def test_record_shows_session_notes_under_each_appointment(as_jo, world, app):
    with app.app_context():
        alex = db.session.get(User, world["alex"])
        past = book(db.session, world["practice"], alex, NOW - timedelta(days=2, hours=-1),
                    status=AppointmentStatus.ATTENDED)
        add_note(db.session, world["jo"], past, "Second, later", NOW - timedelta(days=1))
        add_note(db.session, world["jo"], past, "Tight psoas <script>alert(1)</script>\n"
                 "Review & stretch", NOW - timedelta(days=2))
        db.session.commit()
        past_id = past.id
    body = as_jo.get(f"/clients/{world['alex']}").get_data(as_text=True)
    # From this appointment's entry to the next one.
    entry = body.split(f'id="record-appointment-{past_id}"', 1)[1].split(
        'class="history-entry"', 1)[0]
    assert "Tight psoas &lt;script&gt;alert(1)&lt;/script&gt;<br>Review &amp; stretch" in entry
    assert "<script>" not in entry
    assert entry.index("Tight psoas") < entry.index("Second, later")
    assert "Session note, Mon 2 March 2026, 12:00, Jo Fletcher" in html.unescape(entry)
    assert "Mon 2 March 2026, 13:00</time>" in entry
    assert (f'href="/diary/days?day=2026-03-02&amp;view=day#appointment-{past_id}"'
            in entry)
    assert "Attended" in entry
    assert "No session notes." in body  # the booked session has none


def test_record_offers_the_download(as_jo, world):
    body = as_jo.get(f"/clients/{world['alex']}").get_data(as_text=True)
    assert (f'<a class="button button--secondary" href="/clients/{world["alex"]}'
            f'/export" download>Download record</a>') in body


def test_export_is_a_json_file_and_is_audited(as_jo, world, app):
    response = as_jo.get(f"/clients/{world['alex']}/export",
                         environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="client-{world["alex"]}-record-2026-03-04.json"')
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["email"] == "alex@example.com"
    assert data["audit_trail"][-1]["action"] == "client.exported"
    assert any(log["note"] == "Twinge <b>" and log["pain"] for log in data["completion_logs"])
    assert data["appointments"][0]["starts_at"] == "2026-03-05T12:00:00Z"
    raw = response.get_data(as_text=True)
    assert "password" not in raw.replace("password_changed", "")
    with app.app_context():
        rows = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "client.exported")).all()
        assert [(r.actor_id, r.subject_user_id, r.ip, r.at) for r in rows] == [
            (world["jo"], world["alex"], "198.51.100.8", NOW)]
    trail = text(as_jo.get(f"/clients/{world['alex']}/audit"))
    assert "Downloaded the whole client record" in trail and "198.51.100.8" in trail


def test_export_is_for_therapists_and_real_clients_only(client, world):
    assert login(client, "alex@example.com").status_code == 302
    assert client.get(f"/clients/{world['alex']}/export").status_code == 403


def test_export_of_unknown_or_non_clients_is_404(as_jo, world, app):
    for client_id in (999_999, world["jo"]):
        assert as_jo.get(f"/clients/{client_id}/export").status_code == 404
    with app.app_context():
        assert not db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "client.exported")).all()


def test_export_with_odd_characters_is_valid_json(as_jo, world, make_client):
    name = 'Zoë "Z" \\ </script> \u2028 🙂 \x07 O\'Neil'
    odd = make_client(name=name, email="odd@example.com")
    response = as_jo.get(f"/clients/{odd.id}/export")
    assert response.status_code == 200
    assert json.loads(response.get_data())["account"]["name"] == name


def test_no_file_is_sent_unless_the_audit_row_is_stored(as_jo, world, app, monkeypatch):
    def refuse():
        raise RuntimeError("the database refused the commit")

    monkeypatch.setattr(db.session, "commit", refuse)
    with pytest.raises(RuntimeError):
        as_jo.get(f"/clients/{world['alex']}/export")
