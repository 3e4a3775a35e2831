"""Every calendar file the portal gives out, read by Mozilla's ical.js (Thunderbird and many web
calendars), names the same instants as Python's zoneinfo, across the next clock changes.

The outputs: the appointment download, the client's and the therapist's feeds, the moments
feed (daily reminders) and the .ics attached to the confirmation, change, cancellation and
reminder emails. The practice runs in London, then in New York (other dates for the
changes); appointments lie on the working days either side of each zone's next two clock
changes, and the daily reminders run from today past both. One Node process reads every file
(tests/tools/icaljs_instants.mjs); each instant it gives must equal what zoneinfo gives for
the same wall time in the practice's zone and, for appointments, the UTC times the portal
stored. Before VTIMEZONEs had one RDATE per line, ical.js read winter times an hour early.

Runs once, on SQLite: the files do not depend on the database. Skipped (a failure in CI)
without Node.js or ical.js: `make tools` installs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Appointment, OutboxMessage, Practice, User, utcnow
from portal.seed.library import seed_library
from portal.services import booking, calendar, moment_feed, moment_reminders, programmes
from portal.services import reminders as reminder_service
from portal.services.programmes import ItemInput
from tests.booking_support import EMAIL_LINKS
from tests.conftest import login
from tests.tools import icaljs_command

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

ZONES = ("Europe/London", "America/New_York")
MOMENT_TIMES = {"morning": time(7, 30), "before_bed": time(22, 0)}
# Node's own zone, far from both: a TZID that ical.js failed to resolve would be read in it.
NODE_TZ = "Pacific/Kiritimati"


@dataclass
class Output:
    """One calendar file and what its events must say."""

    name: str
    zone: str
    text: str
    # Appointment UID -> (start, end) in UTC as stored when the file was made.
    appointments: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    # Moment UID -> (local time, first day) for a daily reminder.
    moments: dict[str, tuple[time, date]] = field(default_factory=dict)


def clock_changes(zone: ZoneInfo, after: date, count: int) -> list[date]:
    """The next `count` local dates after `after` on which the zone's UTC offset changes."""
    def offset(day: date) -> timedelta:
        return datetime.combine(day, time(12), zone).utcoffset()

    found, day = [], after
    for _ in range(800):
        if offset(day + timedelta(days=1)) != offset(day):
            found.append(day + timedelta(days=1))
            if len(found) == count:
                return found
        day += timedelta(days=1)
    raise AssertionError(f"{zone.key} has no clock changes")


def working_day(day: date, step: int) -> date:
    """The nearest weekday from `day` in the direction of step (-1 or +1), not day itself."""
    day += timedelta(days=step)
    while day.weekday() >= 5:
        day += timedelta(days=step)
    return day


def stored(appointment: Appointment, practice: Practice) -> dict[str, tuple[datetime, datetime]]:
    return {calendar.uid_for(appointment, practice): (appointment.starts_at.astimezone(UTC),
                                                      appointment.ends_at.astimezone(UTC))}


def new_emails(after_id: int, zone: str, expected: dict) -> list[Output]:
    """The .ics attachments of the emails queued since outbox row `after_id`."""
    rows = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.id > after_id)
                              .order_by(OutboxMessage.id))
    return [Output(f"email-{row.id}-{row.kind}", zone, attachment["data"], appointments=expected)
            for row in rows for attachment in row.attachments
            if attachment["content_type"] == "text/calendar"]


def last_outbox_id() -> int:
    return db.session.scalar(sa.select(sa.func.max(OutboxMessage.id))) or 0


def act_in_zone(app, diary, zone_name: str, now: datetime, changes: list[date]
                ) -> tuple[list[Output], list[int]]:
    """In one zone: book on the working days either side of two clock changes, move one
    across a change, cancel one, send a reminder. Returns the emails' calendar files and the
    ids of the client's booked appointments."""
    zone = ZoneInfo(zone_name)
    outputs: list[Output] = []
    with app.app_context():
        practice = db.session.scalar(sa.select(Practice))
        practice.timezone = zone_name
        jo, alex = db.session.get(User, diary.therapist.id), db.session.get(User, diary.client.id)
        service_id = diary.services["60 minute massage"]

        def book(day: date, at: time) -> Appointment:
            before = last_outbox_id()
            appointment = booking.book(db.session, jo, client=alex, therapist=jo,
                                       service_id=service_id, now=now,
                                       starts_at=datetime.combine(day, at, zone),
                                       links=EMAIL_LINKS)
            outputs.extend(new_emails(before, zone_name, stored(appointment, practice)))
            return appointment

        first = changes[0]
        booked = [book(working_day(change, step), time(10))
                  for change in changes for step in (-1, 1)]
        moved = book(working_day(first, -1), time(15))
        before = last_outbox_id()
        booking.reschedule(db.session, jo, moved, now=now,
                           starts_at=datetime.combine(working_day(first, 1), time(15), zone),
                           links=EMAIL_LINKS)
        outputs += new_emails(before, zone_name, stored(moved, practice))
        cancelled = booked.pop(2)  # the day before the second change
        before = last_outbox_id()
        booking.cancel(db.session, jo, cancelled, now=now, reason="Away that week.",
                       links=EMAIL_LINKS)
        outputs += new_emails(before, zone_name, stored(cancelled, practice))
        reminded = booked[-1]
        before = last_outbox_id()
        assert reminder_service.queue_due(db.session, now=reminded.starts_at - timedelta(hours=2))
        outputs += new_emails(before, zone_name, stored(reminded, practice))
        db.session.commit()
        return outputs, [a.id for a in [*booked, moved]]


def expected_appointments(app, ids: list[int] | None = None, *,
                          client_id: int | None = None) -> dict:
    """UID -> stored (start, end) of the given appointments, or the client's, or all."""
    with app.app_context():
        practice = db.session.scalar(sa.select(Practice))
        query = sa.select(Appointment)
        if ids is not None:
            query = query.where(Appointment.id.in_(ids))
        if client_id is not None:
            query = query.where(Appointment.client_id == client_id)
        return {k: v for a in db.session.scalars(query) for k, v in stored(a, practice).items()}


def downloads_and_feeds(app, diary, browser, zone_name: str, ids: list[int]) -> list[Output]:
    """The files fetched over HTTP: each booked appointment's download, both feeds and the
    moments feed."""
    with app.app_context():
        tokens = {who: calendar.feed_token(db.session, db.session.get(User, user.id))
                  for who, user in (("client", diary.client), ("therapist", diary.therapist))}
        practice = db.session.scalar(sa.select(Practice))
        alex = db.session.get(User, diary.client.id)
        version = programmes.current_version(db.session, alex)
        first_day = version.created_at.astimezone(ZoneInfo(zone_name)).date()
        moments = {moment_feed.uid_for(alex, plan.moment, practice): (plan.local_time, first_day)
                   for plan in moment_feed.moment_plans(db.session, alex)
                   if plan.local_time and plan.items}
        db.session.commit()
    everyone = expected_appointments(app)
    theirs = expected_appointments(app, client_id=diary.client.id)
    outputs = []

    def fetch(path: str, name: str, **expect) -> None:
        response = (browser if path.startswith("/appointments/") else app.test_client()).get(path)
        assert response.status_code == 200 and response.mimetype == "text/calendar", path
        outputs.append(Output(name, zone_name, response.get_data(as_text=True), **expect))

    for appointment_id in ids:
        fetch(f"/appointments/{appointment_id}/calendar.ics", f"download-{appointment_id}",
              appointments=expected_appointments(app, [appointment_id]))
    fetch(f"/calendar/{tokens['client']}.ics", "client-feed", appointments=theirs)
    fetch(f"/calendar/{tokens['therapist']}.ics", "therapist-feed", appointments=everyone)
    fetch(f"/sheet/moments/{tokens['client']}.ics", "moments-feed", moments=moments)
    return outputs


def give_moments(app, diary, now: datetime) -> None:
    """A programme with stretches in the morning and before bed, and a reminder time for each."""
    with app.app_context():
        jo, alex = db.session.get(User, diary.therapist.id), db.session.get(User, diary.client.id)
        exercises = seed_library(db.session, jo, now - timedelta(days=1))
        programmes.save_version(db.session, jo, alex, [
            ItemInput.from_exercise(exercises[0], moments=("morning",)),
            ItemInput.from_exercise(exercises[1], moments=("before_bed",)),
        ], "", now)
        for moment, at in MOMENT_TIMES.items():
            moment_reminders.set_moment_time(db.session, alex, moment, at, now)
        db.session.commit()


def read_with_icaljs(outputs: list[Output], folder: Path, occurrences: int) -> dict:
    """ical.js's reading of every file: {name: [{uid, tzid, occurrences}]}."""
    command = icaljs_command("icaljs_instants.mjs")
    paths = {}
    for output in outputs:
        path = folder / f"{output.zone.replace('/', '_')}-{output.name}.ics"
        path.write_text(output.text, encoding="utf-8")
        paths[str(path)] = output.name, output.zone
    done = subprocess.run([*command, str(occurrences), *paths], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TZ": NODE_TZ}, check=False)
    assert done.returncode == 0, done.stderr
    return {paths[path]: events for path, events in json.loads(done.stdout).items()}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def mismatches(output: Output, events: list[dict], occurrences: int) -> list[str]:
    """Every way ical.js's reading of one file differs from zoneinfo and the stored times
    (a daily reminder must have `occurrences` occurrences)."""
    zone, where = ZoneInfo(output.zone), f"{output.zone} {output.name}"
    problems = []
    expected = output.appointments or output.moments
    if sorted(e["uid"] for e in events) != sorted(expected):
        problems.append(f"{where}: ical.js read events {sorted(e['uid'] for e in events)}, "
                        f"expected {sorted(expected)}")
    for event in events:
        uid = event["uid"]
        if event["tzid"] != output.zone:
            problems.append(f"{where} {uid}: ical.js put it in zone {event['tzid']!r}")
        if uid in output.moments and len(event["occurrences"]) != occurrences:
            problems.append(f"{where} {uid}: ical.js repeats it {len(event['occurrences'])} "
                            f"times, not {occurrences}")
        for n, seen in enumerate(event["occurrences"]):
            local = datetime.fromisoformat(seen["local"])
            start, end = utc(seen["start"]), utc(seen["end"])
            by_zoneinfo = local.replace(tzinfo=zone).astimezone(UTC)
            if start != by_zoneinfo:
                problems.append(f"{where} {uid} at {local}: ical.js says {start:%Y-%m-%d %H:%M}"
                                f" UTC, zoneinfo {by_zoneinfo:%Y-%m-%d %H:%M} UTC")
            if uid in output.appointments and (start, end) != output.appointments[uid]:
                want = output.appointments[uid]
                problems.append(f"{where} {uid}: ical.js reads {start}-{end}, "
                                f"the portal stored {want[0]}-{want[1]}")
            if uid in output.moments:
                at, first_day = output.moments[uid]
                want = datetime.combine(first_day + timedelta(days=n), at)
                if local != want or end - start != timedelta(minutes=moment_feed.EVENT_MINUTES):
                    problems.append(f"{where} {uid}: occurrence {n} is {local} for "
                                    f"{end - start}, expected {want} for "
                                    f"{moment_feed.EVENT_MINUTES} minutes")
    return problems


def test_icaljs_reads_every_calendar_file_as_zoneinfo_does(app, diary, client, tmp_path):
    icaljs_command("icaljs_instants.mjs")  # skip before any setup when it is missing
    now = utcnow().replace(microsecond=0)
    give_moments(app, diary, now)
    assert login(client, diary.client.email).status_code == 302
    outputs: list[Output] = []
    last_change = now.date()
    for zone_name in ZONES:
        # The next two changes at least a week away (the days before them are still ahead).
        changes = clock_changes(ZoneInfo(zone_name), now.date() + timedelta(days=7), 2)
        emails, booked = act_in_zone(app, diary, zone_name, now, changes)
        outputs += emails + downloads_and_feeds(app, diary, client, zone_name, booked)
        last_change = max(last_change, *changes)
    kinds = {o.name.split("-", 2)[-1] for o in outputs if o.name.startswith("email-")}
    assert kinds == {f"appointment_{k}" for k in
                     ("confirmed", "rescheduled", "cancelled", "reminder")}
    # Enough daily reminders to pass every change the appointments straddle.
    occurrences = (last_change - now.date()).days + 3

    read = read_with_icaljs(outputs, tmp_path, occurrences)
    problems = [p for o in outputs for p in mismatches(o, read[o.name, o.zone], occurrences)]
    assert not problems, (f"{len(problems)} instants differ between ical.js and zoneinfo:\n"
                          + "\n".join(problems[:60]))

    # The files really span the clock changes: each zone's events fall at two UTC offsets.
    for zone_name in ZONES:
        zone = ZoneInfo(zone_name)
        for kind in ("appointments", "moments"):
            offsets = {datetime.fromisoformat(seen["local"]).replace(tzinfo=zone).utcoffset()
                       for o in outputs if o.zone == zone_name and getattr(o, kind)
                       for event in read[o.name, o.zone] for seen in event["occurrences"]}
            assert len(offsets) == 2, (zone_name, kind, offsets)
    events = [event for o in outputs for event in read[o.name, o.zone]]
    print(f"\nical.js read {len(outputs)} files, {len(events)} events, "
          f"{sum(len(e['occurrences']) for e in events)} instants")
