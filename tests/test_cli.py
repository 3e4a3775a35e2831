"""The flask commands: create-therapist, seed-demo, demo-code, reset-two-factor, send-outbox,
send-reminders and purge-expired."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError

from portal import cli, create_app
from portal.extensions import db
from portal.models import (
    AdherencePlan,
    AdherenceWeek,
    Article,
    AuditEvent,
    OutboxMessage,
    OutboxStatus,
    Practice,
    ResetRequest,
    Role,
    User,
    utcnow,
)
from portal.seed import demo
from portal.services import adherence, adherence_summary, outbox
from portal.services import practice as practice_service
from portal.services.emails import Email
from tests.conftest import TEST_PASSWORD, base_config, form_post, link_in, login
from tests.smtp_server import TRY_LATER, SmtpServer, running_smtp_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 and a free port, recording every message it accepts."""
    with running_smtp_server() as server:
        yield server


def count(app, model, *where) -> int:
    """Rows of a model matching the conditions."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def signs_in(app, email: str, password: str) -> bool:
    """True when the login form accepts these credentials (in a fresh browser)."""
    response = login(app.test_client(), email, password)
    return response.status_code == 302 and response.location == "/"


# --- create-therapist -------------------------------------------------------------------


def test_create_therapist_with_prompted_password_can_sign_in(app, runner, client):
    result = runner.invoke(
        args=["create-therapist", "--email", " Jo.Fletcher@Example.COM ", "--name", "Jo Fletcher"],
        input=f"{TEST_PASSWORD}\n{TEST_PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert "Therapist Jo Fletcher <jo.fletcher@example.com> created." in result.output
    with app.app_context():
        user = db.session.scalar(select(User))
        assert (user.email, user.role) == ("jo.fletcher@example.com", Role.THERAPIST)
        assert user.password_hash and TEST_PASSWORD not in user.password_hash
        assert db.session.scalar(select(Practice.name)) == "My practice"
        assert db.session.scalar(select(AuditEvent.action)) == "account.therapist_created"
    response = login(client, "jo.fletcher@example.com", TEST_PASSWORD)
    assert response.status_code == 302
    # Signed in, and asked to set up a second factor before anything else.
    dashboard = client.get("/dashboard/")
    assert dashboard.status_code == 302 and dashboard.location == "/account/two-factor"
    assert client.get("/account/two-factor").status_code == 200


def test_create_therapist_with_password_option_keeps_an_existing_practice(app, runner,
                                                                         practice):
    result = runner.invoke(args=[
        "create-therapist", "--email", "sam@example.com", "--name", "Sam Lee",
        "--password", TEST_PASSWORD, "--practice-name", "Ignored",
    ])

    assert result.exit_code == 0, result.output
    assert count(app, User, User.role == Role.THERAPIST) == 1
    assert count(app, Practice) == 1
    assert count(app, Practice, Practice.name == practice.name) == 1


def test_create_therapist_refuses_a_common_password(app, runner):
    result = runner.invoke(args=["create-therapist", "--email", "jo@example.com",
                                 "--name", "Jo Fletcher", "--password", "password1"])

    assert result.exit_code != 0
    assert "too common" in result.output
    assert "Traceback" not in result.output
    assert count(app, User) == 0
    assert count(app, Practice) == 0  # nothing half-made


def test_create_therapist_refuses_a_duplicate_email(app, runner, make_therapist):
    make_therapist(email="jo@example.com")

    result = runner.invoke(args=["create-therapist", "--email", "JO@example.com",
                                 "--name", "Another Jo", "--password", TEST_PASSWORD])

    assert result.exit_code != 0
    assert "already exists" in result.output
    assert count(app, User) == 1


# --- seed-demo --------------------------------------------------------------------------


def test_seed_demo_creates_the_practice_and_prints_working_logins(app, runner):
    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 0, result.output
    assert "Demo practice created." in result.output
    for _role, email, password in demo.LOGINS:
        assert email in result.output and password in result.output
    assert count(app, Practice) == 1
    assert count(app, User, User.role == Role.THERAPIST) == 1
    assert count(app, User, User.role == Role.CLIENT) == len(demo.PEOPLE)
    for _role, email, password in demo.LOGINS:
        assert signs_in(app, email, password), email


def test_seed_demo_summarises_adherence_and_rebuild_adherence_remakes_it(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        today = utcnow().astimezone(practice_service.zone(db.session)).date()
        read = select(adherence_summary.totals(today).subquery()).order_by("client_id")
        seeded = db.session.execute(read).all()
        zone = practice_service.zone(db.session)
        rule = adherence.weekly(db.session, zone, today, adherence_summary.WEEKS)
        assert len(seeded) >= 8
        assert {row.client_id: (row.prescribed, row.done) for row in seeded} == {
            client_id: (sum(w.prescribed for w in weeks), sum(w.done for w in weeks))
            for client_id, weeks in rule.items()}
        db.session.execute(delete(AdherenceWeek))
        db.session.execute(delete(AdherencePlan))
        db.session.commit()

    result = runner.invoke(args=["rebuild-adherence"])

    assert result.exit_code == 0, result.output
    assert f"Adherence summary rebuilt: {len(seeded)} clients with a programme." in result.output
    with app.app_context():
        assert db.session.execute(read).all() == seeded


def test_seed_demo_prints_how_the_therapist_gets_a_code(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert demo.THERAPIST_TOTP_SECRET in result.output
    assert "flask demo-code" in result.output

    code = runner.invoke(args=["demo-code"])

    assert code.exit_code == 0, code.output
    totp, moment = pyotp.TOTP(demo.THERAPIST_TOTP_SECRET), time.time()
    assert code.output.strip() in {totp.at(moment), totp.at(moment - 30)}  # a step may turn


def test_demo_code_is_refused_in_production(app, runner):
    app.config["PORTAL_ENV"] = "production"
    result = runner.invoke(args=["demo-code"])
    assert result.exit_code != 0 and "not production" in result.output


def test_reset_two_factor_lets_someone_who_lost_everything_back_in(app, runner,
                                                                   make_therapist):
    jo = make_therapist(email="jo@example.com")
    browser = app.test_client()
    assert login(browser, jo.email).status_code == 302

    result = runner.invoke(args=["reset-two-factor", "JO@example.com"])

    assert result.exit_code == 0, result.output
    assert "Two-factor sign-in is off for" in result.output
    assert browser.get("/account/").status_code == 302  # their sessions ended
    fresh = app.test_client()
    first = login(fresh, jo.email)  # the password alone, then straight to the setup
    assert first.location == "/"
    assert fresh.get("/dashboard/").location == "/account/two-factor"
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).order_by(
            AuditEvent.id.desc())) == "account.two_factor_reset"
    assert runner.invoke(args=["reset-two-factor", "nobody@example.com"]).exit_code != 0


def test_seed_demo_if_empty_twice_seeds_once(app, runner):
    first = runner.invoke(args=["seed-demo", "--if-empty"])
    second = runner.invoke(args=["seed-demo", "--if-empty"])

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "not seeded again" in second.output
    assert demo.THERAPIST[1] in second.output  # the logins are still shown
    assert count(app, User) == 1 + len(demo.PEOPLE)
    assert count(app, Practice) == 1


def test_seed_demo_if_empty_leaves_a_real_practice_alone(app, runner, make_therapist):
    make_therapist(email="owner@example.com")

    result = runner.invoke(args=["seed-demo", "--if-empty"])

    assert result.exit_code == 0, result.output
    assert count(app, User) == 1
    assert demo.THERAPIST[2] not in result.output


def test_seed_demo_again_says_why_it_stops(app, runner):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0

    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code != 0
    assert "already exist" in result.output
    assert count(app, User) == 1 + len(demo.PEOPLE)


def test_seed_demo_with_a_clashing_client_email_fails_cleanly(app, runner, make_client):
    make_client(email=demo.CLIENTS[0][1])

    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert demo.CLIENTS[0][1] in result.output
    assert count(app, User) == 1


def test_seed_demo_is_refused_in_production(app, tmp_path):
    config = {**base_config(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path),
              "PORTAL_ENV": "production"}
    production = create_app(config)
    try:
        result = production.test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
    finally:
        with production.app_context():
            db.engine.dispose()

    assert result.exit_code != 0
    assert "production" in result.output
    assert count(app, User) == 0


# --- send-outbox ------------------------------------------------------------------------


def queue(app, *subjects: str) -> None:
    """Queue one email per subject, committed."""
    with app.app_context():
        for n, subject in enumerate(subjects):
            outbox.queue(db.session, to=f"client{n}@example.com",
                         email=Email(subject, f"{subject}\n", f"<p>{subject}</p>"),
                         kind="test", now=utcnow())
        db.session.commit()


def test_send_outbox_without_a_server_writes_eml_files(app, runner):
    queue(app, "First", "Second")
    mail_dir = Path(app.config["MAIL_FILE_DIR"])

    result = runner.invoke(args=["send-outbox"])

    assert result.exit_code == 0, result.output
    assert "2 sent, 0 failed" in result.output
    files = sorted(mail_dir.glob("*.eml"))
    assert len(files) == 2
    subjects = sorted(message_from_bytes(f.read_bytes(), policy=policy.default)["Subject"]
                      for f in files)
    assert subjects == ["First", "Second"]
    assert count(app, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 2

    again = runner.invoke(args=["send-outbox"])
    assert "0 sent, 0 failed" in again.output
    assert len(list(mail_dir.glob("*.eml"))) == 2


def test_send_outbox_answers_password_reset_requests(app, runner, client, make_client):
    """A "forgot password" request is only a note; the sender turns it into the email, with a
    link that works, and forgets the note (for an unknown address, it sends nothing)."""
    make_client(email="alex@example.com")
    for email in ("alex@example.com", "nobody@example.com"):
        form_post(app.test_client(), "/auth/forgot", {"email": email})
    assert count(app, ResetRequest) == 2

    result = runner.invoke(args=["send-outbox"])

    assert "1 sent, 0 failed" in result.output, result.output
    assert count(app, ResetRequest) == 0
    [eml] = Path(app.config["MAIL_FILE_DIR"]).glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["To"] == "alex@example.com"
    link = link_in(message.get_body(("plain",)).get_content(), "/auth/reset/")
    assert app.test_client().get(link).status_code == 200


def test_send_outbox_delivers_by_smtp_when_a_server_is_set(app, runner, smtp_server):
    app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port,
                      MAIL_USE_TLS=False, MAIL_FROM="Practice <desk@example.com>")
    queue(app, "By SMTP")

    result = runner.invoke(args=["send-outbox"])

    assert result.exit_code == 0, result.output
    assert "1 sent, 0 failed" in result.output
    [message] = smtp_server.messages
    assert message["Subject"] == "By SMTP"
    assert message["From"] == "Practice <desk@example.com>"
    assert message["To"] == "client0@example.com"
    assert count(app, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 1
    assert not Path(app.config["MAIL_FILE_DIR"]).exists()


def test_send_outbox_reports_a_refusal_and_keeps_the_row(app, runner, smtp_server):
    app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port,
                      MAIL_USE_TLS=False)
    queue(app, "Later")
    smtp_server.refuse_next(1, TRY_LATER)

    result = runner.invoke(args=["send-outbox"])

    assert result.exit_code == 0, result.output
    assert "0 sent, 1 failed" in result.output
    assert count(app, OutboxMessage, OutboxMessage.status == OutboxStatus.PENDING) == 1


def test_send_outbox_with_a_long_host_name(app, runner, monkeypatch):
    """claimed_by holds 64 characters; PostgreSQL refuses a longer worker name."""
    monkeypatch.setattr(cli.socket, "gethostname", lambda: "sender-" + "x" * 120)
    assert len(cli.worker_name()) <= 64
    queue(app, "Long host")

    result = runner.invoke(args=["send-outbox"])

    assert result.exit_code == 0, result.output
    assert count(app, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 1


def test_send_outbox_retry_failed_queues_the_undelivered_again_and_sends_them(app, runner):
    queue(app, "Given up on", "Refused", "Waiting")
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        for row in rows[:2]:
            row.status, row.attempts, row.last_error = OutboxStatus.FAILED, 9, "550 no"
        db.session.commit()

    result = runner.invoke(args=["send-outbox", "--retry-failed"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["outbox: 2 not delivered emails queued again",
                                          "outbox: 3 sent, 0 failed attempts"]
    assert count(app, OutboxMessage, OutboxMessage.status == OutboxStatus.SENT) == 3
    assert len(list(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"))) == 3
    assert count(app, AuditEvent, AuditEvent.action == "email.sent_again",
                 AuditEvent.actor_id.is_(None)) == 2

    again = runner.invoke(args=["send-outbox", "--retry-failed"])
    assert "outbox: 0 not delivered emails queued again" in again.output
    assert len(list(Path(app.config["MAIL_FILE_DIR"]).glob("*.eml"))) == 3


class StopSender(Exception):
    """Ends the otherwise endless --loop in a test."""


def test_send_outbox_loop_survives_a_database_error(app, runner, monkeypatch):
    runs = []

    def deliver_pending(session, transport, **kwargs):
        runs.append(kwargs["worker"])
        if len(runs) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        if len(runs) == 2:
            return 2, 0
        raise StopSender

    monkeypatch.setattr(outbox, "deliver_pending", deliver_pending)

    result = runner.invoke(args=["send-outbox", "--loop", "--interval", "0"])

    assert isinstance(result.exception, StopSender), result.output
    assert len(runs) == 3
    assert "outbox: 2 sent, 0 failed attempts" in result.output

    # Without --loop the error is not swallowed: cron or the operator sees it.
    runs.clear()
    once = runner.invoke(args=["send-outbox"])
    assert isinstance(once.exception, OperationalError)


# --- purge-expired -------------------------------------------------------------------------


def erased_clients(app, *kept_until) -> list[int]:
    """One erased client per date, each with a questionnaire and an attended session, whose
    records are kept until that date; returns their ids."""
    from datetime import timedelta

    from portal.models import Appointment, AppointmentStatus, ClientErasure, IntakeForm, Service
    from portal.services import erasure

    ids = []
    with app.app_context():
        passwords = app.extensions["portal.passwords"]
        now = utcnow()
        db.session.add(Practice(name="Test Practice", timezone="Europe/London"))
        jo = User(email="jo@example.com", name="Jo Fletcher", role=Role.THERAPIST,
                  password_hash=passwords.hash(TEST_PASSWORD))
        service = Service(name="60 minute massage", duration_minutes=60, price_pence=5500)
        db.session.add_all([jo, service])
        db.session.flush()
        for n, until in enumerate(kept_until):
            client = User(email=f"client{n}@example.com", name=f"Client Number{n}",
                          role=Role.CLIENT, password_hash=passwords.hash(TEST_PASSWORD))
            db.session.add(client)
            db.session.flush()
            start = now - timedelta(days=30, hours=2 * n)
            db.session.add_all([
                IntakeForm(client_id=client.id, answers={"complaints": "Stiff"}, red_flags=[],
                           consent_version="2026-11", consent_given_at=start,
                           submitted_at=start),
                Appointment(client_id=client.id, therapist_id=jo.id, service_id=service.id,
                            starts_at=start, ends_at=start + timedelta(hours=1),
                            blocked_until=start + timedelta(hours=1), price_pence=5500,
                            booked_by_id=jo.id, status=AppointmentStatus.ATTENDED)])
            db.session.flush()
            erasure.erase_client(db.session, passwords, jo, client, password=TEST_PASSWORD,
                                 now=now)
            db.session.scalar(select(ClientErasure).where(
                ClientErasure.client_id == client.id)).retain_until = now + until
            ids.append(client.id)
        db.session.commit()
    return ids


def test_purge_expired_deletes_only_records_past_their_date(app, runner, monkeypatch):
    from datetime import timedelta

    from portal.models import Appointment, ClientErasure, IntakeForm
    from portal.services import erasure

    monkeypatch.setattr(erasure, "PURGE_BATCH", 2)  # three due: two batches, two commits
    day = timedelta(days=1)
    *due, kept = erased_clients(app, -day, -2 * day, -3 * day, 300 * day)

    result = runner.invoke(args=["purge-expired"])

    assert result.exit_code == 0, result.output
    assert "records of 3 erased accounts deleted" in result.output
    for model in (IntakeForm, Appointment):
        assert count(app, model, model.client_id.in_(due)) == 0
        assert count(app, model, model.client_id == kept) == 1
    assert count(app, ClientErasure, ClientErasure.purged_at.is_not(None)) == 3
    assert count(app, AuditEvent, AuditEvent.action == "account.records_purged",
                 AuditEvent.subject_user_id.in_(due), AuditEvent.actor_id.is_(None)) == 3
    assert count(app, User, User.id.in_(due)) == 3  # the pseudonymous rows stay

    again = runner.invoke(args=["purge-expired"])
    assert "records of 0 erased accounts deleted" in again.output
    assert count(app, AuditEvent, AuditEvent.action == "account.records_purged") == 3


# --- housekeeping in send-reminders ---------------------------------------------------------


def test_send_reminders_deletes_sign_in_records_past_keeping(app, runner, make_client):
    from datetime import timedelta

    from portal.models import Device, LoginThrottle

    alex = make_client()
    now = utcnow()
    with app.app_context():
        for ended_days_ago in (31, 29):
            when = now - timedelta(days=ended_days_ago)
            db.session.add(Device(user_id=alex.id, key_hash=f"{ended_days_ago:064d}",
                                  description="Chrome on Android", created_at=when,
                                  last_seen_at=when, ended_at=when))
        for hours_ago in (7, 1):
            when = now - timedelta(hours=hours_ago)
            db.session.add(LoginThrottle(key=f"{hours_ago:064d}", failures=1,
                                         window_started_at=when, updated_at=when))
        db.session.commit()

    result = runner.invoke(args=["send-reminders"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert [d.key_hash for d in db.session.scalars(select(Device))] == [f"{29:064d}"]
        assert [t.key for t in db.session.scalars(select(LoginThrottle))] == [f"{1:064d}"]


def test_send_reminders_makes_a_scheduled_articles_exercise_the_exercise_of_the_week(
        app, runner, make_therapist):
    """An article published for a date with "make its exercise the exercise of the week": the
    duty switches it once the date has come, and only then."""
    from datetime import timedelta

    from portal.seed.library import seed_library
    from portal.services import articles, library
    from portal.services.articles import ArticleInput

    jo = make_therapist()
    now = utcnow()
    with app.app_context():
        therapist = db.session.get(User, jo.id)
        hip, calf = seed_library(db.session, therapist, now - timedelta(days=9))[:2]
        library.feature_exercise(db.session, therapist, calf.id, now - timedelta(days=2))
        for title, when in (("Now", now - timedelta(minutes=5)),
                            ("Later", now + timedelta(days=1))):
            article = articles.create_article(db.session, therapist, ArticleInput(
                title=title, summary="Why.", body="Text.", exercise_id=hip.id),
                now - timedelta(days=1))
            articles.publish(db.session, therapist, article.id, now - timedelta(hours=1),
                             at=when, feature_exercise=True)
        db.session.commit()
        hip_id = hip.id

    result = runner.invoke(args=["send-reminders"])

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(Practice.featured_exercise_id)) == hip_id
        applied = dict(db.session.execute(
            select(Article.title, Article.featured_applied_at)).all())
        assert applied["Now"] is not None and applied["Later"] is None


def test_purge_expired_deletes_enquiries_done_over_a_year_ago(app, runner):
    from datetime import timedelta

    from portal.models import Enquiry, EnquiryStatus

    now = utcnow()
    with app.app_context():
        db.session.add(Practice(name="Test Practice", timezone="Europe/London"))
        for name, done_days_ago in (("Old", 400), ("Recent", 30), ("Open", None)):
            db.session.add(Enquiry(
                name=name, email=f"{name.lower()}@example.com", message="A question.",
                consent=True, received_at=now - timedelta(days=500),
                status=EnquiryStatus.NEW if done_days_ago is None else EnquiryStatus.DONE,
                done_at=None if done_days_ago is None else now - timedelta(days=done_days_ago)))
        db.session.commit()

    result = runner.invoke(args=["purge-expired"])

    assert result.exit_code == 0, result.output
    assert "1 old enquiry deleted" in result.output
    with app.app_context():
        assert sorted(db.session.scalars(select(Enquiry.name))) == ["Open", "Recent"]
