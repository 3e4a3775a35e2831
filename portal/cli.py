"""Flask commands. Each calls services and commits once (the outbox sender excepted)."""

from __future__ import annotations

import os
import shutil
import socket
import time
from datetime import timedelta
from importlib import metadata as package_metadata
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from portal.extensions import db
from portal.models import User, utcnow
from portal.services import accounts, outbox
from portal.services.errors import InvalidInput
from portal.services.tokens import Tokens


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(create_therapist)
    app.cli.add_command(seed_demo)
    app.cli.add_command(seed_scale)
    app.cli.add_command(send_outbox)
    app.cli.add_command(send_reminders)
    app.cli.add_command(backup)
    app.cli.add_command(restore)
    app.cli.add_command(purge_expired)
    app.cli.add_command(demo_code)
    app.cli.add_command(reset_two_factor)
    app.cli.add_command(rebuild_adherence)


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
        from portal.services import adherence_summary, practice

        now = utcnow()
        try:
            demo.seed(db.session, current_app.extensions["portal.passwords"],
                      box=current_app.extensions["portal.secret_box"], now=now,
                      timezone=current_app.config["PRACTICE_TIMEZONE"])
            # The demo writes its history of logs as plain rows: summarise them once.
            adherence_summary.rebuild(db.session, practice.zone(db.session), now)
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


@click.command("seed-scale")
@with_appcontext
@click.option("--clients", type=click.IntRange(1, 1_000_000), required=True,
              help="How many generated clients (5,000 is issue 11's 1x, 50,000 its 10x).")
def seed_scale(clients: int) -> None:
    """Build a practice of that size on the demo practice, for measuring (bulk inserts)."""
    from portal.seed import scale

    if current_app.config["PORTAL_ENV"] == "production":
        # Like the demo: generated clients share a password printed below.
        raise click.ClickException(
            "seed-scale creates accounts with a published password and is refused in "
            "production. Set PORTAL_ENV=development to build a practice for measuring.")
    click.echo(f"Building a practice of {clients:,} clients with two years of history.")
    try:
        report = scale.seed(db.session, current_app.extensions["portal.passwords"],
                            box=current_app.extensions["portal.secret_box"], clients=clients,
                            now=utcnow(), timezone=current_app.config["PRACTICE_TIMEZONE"],
                            progress=click.echo)
    except InvalidInput as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    # No request hook commits for a command: the whole practice is stored at once, or not.
    started = time.monotonic()
    db.session.commit()
    click.echo(f"Committed in {time.monotonic() - started:.0f} s; updating the planner's "
               "statistics.")
    scale.settle(db.session)
    for line in scale.summary(report):
        click.echo(line)


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


@click.command("rebuild-adherence")
@with_appcontext
def rebuild_adherence() -> None:
    """Recompute the stored adherence summary from every programme and log (after a bulk
    import, or if it is ever in doubt). Safe to run at any time."""
    from portal.services import adherence_summary, practice

    clients = adherence_summary.rebuild(db.session, practice.zone(db.session), utcnow())
    # No request hook commits for a command: the summary is replaced at once, or not at all.
    db.session.commit()
    click.echo(f"Adherence summary rebuilt: {clients:,} client{'s' if clients != 1 else ''} "
               "with a programme.")


@click.command("send-outbox")
@with_appcontext
@click.option("--loop", is_flag=True, help="Keep running and send new emails as they come.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between polls.")
@click.option("--retry-failed", is_flag=True,
              help="First put every email marked not delivered back in the queue.")
def send_outbox(loop: bool, interval: float, retry_failed: bool) -> None:
    """Deliver pending emails by SMTP (or to instance/mail/ when no server is set)."""
    from portal.services import undelivered

    transport = make_transport(current_app.config)
    worker = worker_name()
    retry_for = timedelta(days=current_app.config["OUTBOX_RETRY_DAYS"])
    if retry_failed:
        requeued = undelivered.send_all_again(db.session, now=utcnow())
        # Its own unit of work: the emails stay queued even if this run's sending fails.
        db.session.commit()
        click.echo(f"outbox: {requeued} not delivered email{'' if requeued == 1 else 's'} "
                   "queued again")
    tokens = Tokens(current_app.secret_key)
    while True:
        try:
            # Password reset requests become emails here, not in the request that asked (see
            # accounts.request_password_reset); their own unit of work, before sending.
            accounts.answer_reset_requests(db.session, tokens, now=utcnow())
            db.session.commit()
            sent, failed = outbox.deliver_pending(
                db.session, transport, sender=current_app.config["MAIL_FROM"], worker=worker,
                clock=utcnow, retry_for=retry_for,
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
    from cron, or with --loop). Each is queued once; send-outbox delivers them. Each run also
    deletes sign-in records past keeping: devices signed out (or unused) over 30 days ago,
    and failed sign-in counters that no longer count; and makes the exercise of each article
    that went live on its date the exercise of the week, when the therapist asked for it."""
    from portal.services import articles, devices, reminders, throttle

    config = current_app.config
    while True:
        try:
            now = utcnow()
            queued = reminders.queue_due(db.session, now=now)
            devices.purge(db.session, now=now, lifetimes=devices.Lifetimes.from_config(config))
            throttle.purge(db.session, now=now, limits=throttle.Limits.from_config(config))
            articles.feature_due(db.session, now)
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


@click.command("purge-expired")
@with_appcontext
@click.option("--loop", is_flag=True, help="Keep running and purge records as they fall due.")
@click.option("--interval", default=3600.0, show_default=True, help="Seconds between runs.")
def purge_expired(loop: bool, interval: float) -> None:
    """Delete for good the clinical records of erased clients whose retention date has
    passed, and enquiries marked done over a year ago (run it daily from cron, or with
    --loop). Safe on several hosts at once."""
    from portal.services import enquiries, erasure

    while True:
        purged = enquiries_purged = 0
        try:
            # A batch at a time, each its own unit of work: a long backlog is never one huge
            # transaction, and what is done stays done if a later batch fails.
            while batch := erasure.purge_due(db.session, utcnow()):
                db.session.commit()
                purged += batch
            while batch := enquiries.purge_done(db.session, utcnow()):
                db.session.commit()
                enquiries_purged += batch
        except SQLAlchemyError:
            db.session.rollback()
            if not loop:
                raise
            # A database hiccup must not end the loop: report it and try again next round.
            current_app.logger.exception("purge-expired: this run failed; retrying")
        if purged or enquiries_purged or not loop:
            click.echo(f"purge: records of {purged} erased account{'s' if purged != 1 else ''} "
                       f"deleted; {enquiries_purged} old "
                       f"enquir{'ies' if enquiries_purged != 1 else 'y'} deleted")
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


# --- backups ------------------------------------------------------------------------------


@click.command("backup")
@with_appcontext
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Where archives go (default: BACKUP_DIR, instance/backups/).")
@click.option("--keep", type=click.IntRange(min=1),
              help="How many archives to keep, the newest (default: BACKUP_KEEP, 14).")
def backup(directory: Path | None, keep: int | None) -> None:
    """Write the database and the uploaded pictures to one archive (encrypted when
    PORTAL_BACKUP_KEY is set), then remove all but the newest --keep archives."""
    from portal.services import backup_archive, backups

    config = current_app.config
    keep = keep or int(config["BACKUP_KEEP"])
    try:
        result = backups.create(
            db.engine, db.metadata, upload_dir=Path(config["UPLOAD_DIR"]),
            backup_dir=Path(directory or config["BACKUP_DIR"]),
            key=backup_archive.parse_key(config["BACKUP_KEY"]), now=utcnow(), keep=keep,
            app_version=app_version(),
            tools=backups.Tools(config["PG_DUMP"], config["PG_RESTORE"]),
        )
    except backup_archive.BackupError as error:
        raise click.ClickException(error.message) from error
    except OperationalError as error:
        raise click.ClickException(f"The database could not be read: {error.orig}") from error
    rows = {table.name: table.rows for table in result.tables}
    click.echo(f"Backup written: {result.path}")
    click.echo(f"  {human_size(result.size)}, " + (
        "encrypted with PORTAL_BACKUP_KEY" if result.encrypted
        else "not encrypted (set PORTAL_BACKUP_KEY to encrypt backups)"))
    click.echo(f"  Database: {result.engine} at revision {result.revision}, "
               f"{sum(rows.values()):,} rows in {len(rows)} tables")
    echo_wrapped(backups.describe_rows(rows), "    ")
    click.echo(f"  Pictures: {result.pictures} ({human_size(result.picture_bytes)})")
    if result.removed:
        click.echo(f"  Removed {len(result.removed)} older backup(s), keeping the newest "
                   f"{keep}: {', '.join(path.name for path in result.removed)}")
    if result.missing_pictures:
        click.echo(f"Warning: {len(result.missing_pictures)} picture(s) recorded in the "
                   f"database have no file in {config['UPLOAD_DIR']}: "
                   f"{', '.join(result.missing_pictures)}", err=True)
    if result.damaged_pictures:
        click.echo(f"Warning: {len(result.damaged_pictures)} picture file(s) no longer match "
                   f"the checksum recorded at upload: {', '.join(result.damaged_pictures)}",
                   err=True)


@click.command("restore")
@with_appcontext
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True,
              help="Delete the rows this database holds, in the same transaction that loads "
                   "the archive, and overwrite pictures of the same name.")
@click.option("--extract-to", type=click.Path(file_okay=False, path_type=Path),
              help="Only check the archive and write its files to this new folder; the "
                   "database is not touched.")
def restore(archive: Path, replace: bool, extract_to: Path | None) -> None:
    """Rebuild the database (empty, or new: the schema is created) and the pictures from an
    archive made by `flask backup`, checking every checksum."""
    from flask_migrate import upgrade

    from portal.services import backup_archive, backups

    config = current_app.config
    upload_dir = Path(config["UPLOAD_DIR"])
    try:
        key = backup_archive.parse_key(config["BACKUP_KEY"])
        with backup_archive.opened(archive, key) as contents:
            manifest = contents.manifest
            click.echo(f"Archive checked: {len(manifest['files'])} files match their "
                       f"checksums (made {manifest['created_at']} from {manifest['engine']}, "
                       f"revision {manifest['alembic_revision']}"
                       + (", encrypted)." if contents.encrypted else ")."))
            if extract_to is not None:
                _extract(contents, extract_to)
                return
            head = head_revision()
            backups.check_archive_matches(contents, db.metadata, head)
            state = backups.database_state(db.engine, db.metadata)
            if state.blank:
                click.echo("The database is empty: creating the schema (flask db upgrade).")
                upgrade()
            elif state.revision != head:
                raise backup_archive.BackupError(
                    f"This database's schema is at revision {state.revision or 'unknown'}, "
                    f"the archive's at {head}. Restore into a new, empty database.")
            # Checked again inside the restore's transaction; here, before any picture is
            # written.
            backups.refuse_data(state.rows, replace=replace)
            plan = backups.plan_pictures(contents, upload_dir, replace=replace)
            written = backups.restore_pictures(contents, upload_dir, plan)
            result = backups.restore_rows(db.engine, db.metadata, contents, replace=replace)
    except backup_archive.BackupError as error:
        raise click.ClickException(error.message) from error
    except OperationalError as error:
        raise click.ClickException(f"The database could not be reached: {error.orig}") from error
    rows = {table.name: table.rows for table in result.tables}
    target = db.engine.url.render_as_string(hide_password=True)
    if result.deleted:
        click.echo(f"Replaced {sum(result.deleted.values()):,} rows that were in the database.")
    click.echo(f"Restored {sum(rows.values()):,} rows in {len(rows)} tables into {target}:")
    echo_wrapped(backups.describe_rows(rows), "  ")
    click.echo("Every table's row count and checksum match the archive.")
    click.echo(f"Pictures: {len(plan.write)} written ({human_size(written)}) to {upload_dir}"
               + (f", {len(plan.present)} already there" if plan.present else "") + ".")
    if manifest.get("missing_pictures"):
        click.echo(f"Warning: {len(manifest['missing_pictures'])} picture(s) were already "
                   "missing from the upload directory when the backup was made: "
                   f"{', '.join(manifest['missing_pictures'])}", err=True)


def _extract(contents, target: Path) -> None:
    """Copy an opened archive's checked files into a new (or empty) folder."""
    if target.exists() and any(target.iterdir()):
        raise click.ClickException(f"{target} is not empty: choose a new folder.")
    shutil.copytree(contents.root, target, dirs_exist_ok=True)
    click.echo(f"Extracted to {target}; the database was not touched.")


def head_revision() -> str:
    """The schema revision this code's migrations end at."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(current_app.extensions["migrate"].directory))
    return ScriptDirectory.from_config(config).get_current_head()


def app_version() -> str:
    """The installed portal's version, for the backup manifest."""
    try:
        return package_metadata.version("portal")
    except package_metadata.PackageNotFoundError:
        return "unknown"


def human_size(size: int) -> str:
    """1,234 bytes, 12.3 KB, 4.5 MB ..."""
    value, unit = float(size), "bytes"
    for bigger in ("KB", "MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{size:,} bytes" if unit == "bytes" else f"{value:,.1f} {unit}"


def echo_wrapped(items: list[str], indent: str, width: int = 96) -> None:
    """Items joined with commas, wrapped between items and indented."""
    line = ""
    for number, item in enumerate(items, start=1):
        piece = item if number == len(items) else f"{item},"
        if line and len(indent) + len(line) + 1 + len(piece) > width:
            click.echo(indent + line)
            line = piece
        else:
            line = f"{line} {piece}" if line else piece
    if line:
        click.echo(indent + line)
