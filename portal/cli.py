"""Flask commands. Each calls services and commits once (the outbox sender excepted)."""

from __future__ import annotations

import os
import socket
import time

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.models import User, utcnow
from portal.services import accounts, outbox
from portal.services.errors import InvalidInput


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(create_therapist)
    app.cli.add_command(seed_demo)
    app.cli.add_command(send_outbox)
    app.cli.add_command(send_reminders)
    app.cli.add_command(demo_code)
    app.cli.add_command(reset_two_factor)


@click.command("create-therapist")
@with_appcontext
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.option("--practice-name", default="My practice", show_default=True,
              help="Used only when no practice exists yet.")
@click.password_option()
def create_therapist(email: str, name: str, practice_name: str, password: str) -> None:
    """Create a therapist who can sign in (and the practice, on first use)."""
    now = utcnow()
    accounts.ensure_practice(db.session, name=practice_name,
                             timezone=current_app.config["PRACTICE_TIMEZONE"], now=now)
    try:
        user = accounts.create_therapist(
            db.session, current_app.extensions["portal.passwords"], email=email, name=name,
            password=password, now=now,
        )
    except InvalidInput as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    # No request hook commits for a command: each one is its own unit of work.
    db.session.commit()
    click.echo(f"Therapist {user.name} <{user.email}> created.")


@click.command("seed-demo")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has users.")
def seed_demo(if_empty: bool) -> None:
    """Create the demo practice, its therapist and clients, and print the logins."""
    from portal.seed import demo

    if current_app.config["PORTAL_ENV"] == "production":
        # The demo accounts' passwords are in the source code and printed below.
        raise click.ClickException(
            "seed-demo creates accounts with published passwords and is refused in "
            "production. Set PORTAL_ENV=development to try the portal locally."
        )
    has_users = db.session.scalar(select(func.count()).select_from(User)) > 0
    if has_users and if_empty:
        click.echo("The database already has data; the demo was not seeded again.")
    else:
        try:
            demo.seed(db.session, current_app.extensions["portal.passwords"],
                      box=current_app.extensions["portal.secret_box"], now=utcnow(),
                      timezone=current_app.config["PRACTICE_TIMEZONE"])
        except InvalidInput as error:
            db.session.rollback()
            raise click.ClickException(error.message) from error
        # No request hook commits for a command: the whole demo is stored at once, or not.
        db.session.commit()
        click.echo("Demo practice created.")
    if db.session.scalar(select(User).where(User.email == demo_logins()[0][1])):
        click.echo("\nDemo logins (development only):")
        for role, email, password in demo_logins():
            click.echo(f"  {role:<10} {email:<28} {password}")
        click.echo("\nThe therapist then gives a code from an authenticator app. In another "
                   "terminal,\n  .venv/bin/flask demo-code\nprints the current one; or add "
                   f"this key to your app: {demo.THERAPIST_TOTP_SECRET}")
        click.echo("")


@click.command("demo-code")
@with_appcontext
def demo_code() -> None:
    """Print the demo therapist's current two-factor code (development only)."""
    from portal.seed import demo
    from portal.services import two_factor

    if current_app.config["PORTAL_ENV"] == "production":
        raise click.ClickException("demo-code is for the demo practice, not production.")
    click.echo(two_factor.current_code(demo.THERAPIST_TOTP_SECRET, utcnow()))


@click.command("reset-two-factor")
@with_appcontext
@click.argument("email")
def reset_two_factor(email: str) -> None:
    """Turn two-factor sign-in off for someone who lost their device and recovery codes.

    They sign in with their password alone next time (a therapist is then asked to set up a
    second factor again); every session they have is ended."""
    from portal.services import two_factor

    user = accounts.find_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"No account has the email {email}.")
    two_factor.reset(db.session, user, now=utcnow())
    # No request hook commits for a command: each one is its own unit of work.
    db.session.commit()
    click.echo(f"Two-factor sign-in is off for {user.name} <{user.email}>.")


def demo_logins() -> list[tuple[str, str, str]]:
    """The demo accounts, for printing."""
    from portal.seed import demo

    return demo.LOGINS


@click.command("send-outbox")
@with_appcontext
@click.option("--loop", is_flag=True, help="Keep running and send new emails as they come.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
def send_outbox(loop: bool, interval: float) -> None:
    """Deliver pending emails by SMTP (or to instance/mail/ when no server is set)."""
    transport = make_transport(current_app.config)
    worker = worker_name()
    while True:
        try:
            sent, failed = outbox.deliver_pending(
                db.session, transport, sender=current_app.config["MAIL_FROM"], worker=worker,
                clock=utcnow, max_attempts=current_app.config["OUTBOX_MAX_ATTEMPTS"],
            )
        except SQLAlchemyError:
            db.session.rollback()
            if not loop:
                raise
            # A database restart must not stop the sender for good: the rows wait, claimed
            # ones come back after the lease, and the next round tries again.
            current_app.logger.exception("send-outbox: this run failed; retrying")
            sent = failed = 0
        if sent or failed or not loop:
            click.echo(f"outbox: {sent} sent, {failed} failed attempts")
        if not loop:
            return
        db.session.remove()
        time.sleep(interval)


@click.command("send-reminders")
@with_appcontext
@click.option("--loop", is_flag=True, help="Keep running and queue reminders as they fall due.")
@click.option("--interval", default=60.0, show_default=True, help="Seconds between runs.")
def send_reminders(loop: bool, interval: float) -> None:
    """Queue the reminder email for every session now within the reminder lead time (run it
    from cron, or with --loop). Each is queued once; send-outbox delivers them."""
    from portal.services import reminders

    while True:
        try:
            queued = reminders.queue_due(db.session, now=utcnow())
            # One unit of work per run, with no request hook to commit it: what this run
            # queued is kept even if a later run fails.
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            if not loop:
                raise
            # A database hiccup must not end the loop: report it and try again next round.
            current_app.logger.exception("send-reminders: this run failed; retrying")
            queued = 0
        if queued or not loop:
            click.echo(f"reminders: {queued} queued")
        if not loop:
            return
        db.session.remove()
        time.sleep(interval)


def worker_name() -> str:
    """host:pid, cut to fit outbox_message.claimed_by (64 characters)."""
    pid = str(os.getpid())
    return f"{socket.gethostname()[:63 - len(pid)]}:{pid}"


def make_transport(config) -> outbox.Transport:
    """SMTP when MAIL_SERVER is set, otherwise .eml files for development."""
    if config["MAIL_SERVER"]:
        return outbox.SmtpTransport(
            config["MAIL_SERVER"], int(config["MAIL_PORT"]),
            username=config["MAIL_USERNAME"], password=config["MAIL_PASSWORD"],
            use_tls=bool(config["MAIL_USE_TLS"]), use_ssl=bool(config["MAIL_USE_SSL"]),
            timeout=float(config["MAIL_TIMEOUT"]),
        )
    return outbox.FileTransport(config["MAIL_FILE_DIR"])
