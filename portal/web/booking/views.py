"""Clients book a session: service, then a free slot by day, then confirm.

The same pages move an existing appointment when they carry `reschedule=<appointment id>`.
Nothing the browser sends is trusted: the service and start are re-checked by booking.book or
booking.reschedule, inside the transaction that writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus, Practice, Role, Service, User
from portal.services import accounts, booking, intake, wording
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput, NotFound, PermissionDenied
from portal.web import transactions
from portal.web.access import restrict
from portal.web.booking.forms import ConfirmForm
from portal.web.changes_closed import closed_page
from portal.web.deps import client_ip, now, practice_zone
from portal.web.errors import render_error
from portal.web.forms import apply_error
from portal.web.links import BOOKING_LINKS

bp = Blueprint("booking", __name__, url_prefix="/booking")
restrict(bp, Role.CLIENT)

# 2026-03-04T10:00:00Z (also +00:00 or another explicit offset); nothing looser.
ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})")
BAD_START = "That link doesn't name a time we can book. Choose one from the list."


# --- parsing and presenting -----------------------------------------------------------------


def parse_start(raw: str | None) -> datetime:
    """A start time from a link or form: strict ISO 8601 with an offset, returned in UTC."""
    if not raw or len(raw) > 32 or not ISO_INSTANT.fullmatch(raw):
        raise InvalidInput("start", BAD_START)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:  # 2026-02-30 and the like
        raise InvalidInput("start", BAD_START) from exc
    return value.astimezone(UTC)


def start_param(value: datetime) -> str:
    """The form a start travels in: UTC, to the second, with a Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _week_param(raw: str | None) -> date | None:
    if not raw or len(raw) != 10:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class Slot:
    """A free start as the page shows it."""

    start: datetime
    label: str  # "09:15"; "01:15 BST" when the clocks go back and the time appears twice
    iso: str
    current: bool = False  # the appointment being moved sits here


@dataclass(frozen=True)
class Day:
    """One local date of the week view."""

    day: date
    label: str  # "Wednesday 4 March"
    slots: list[Slot]
    bookable: bool  # inside the booking horizon


def _slots_for_day(starts: list[datetime], practice: Practice, moving: Appointment | None
                   ) -> list[Slot]:
    zone = practice_service.zone_of(practice)
    local = [s.astimezone(zone) for s in starts]
    labels = [wording.clock_time(t.time()) for t in local]
    repeated = {label for label in labels if labels.count(label) > 1}
    return [
        Slot(start=s, iso=start_param(s),
             label=f"{label} {t.tzname()}" if label in repeated else label,
             current=moving is not None and s == moving.starts_at)
        for s, t, label in zip(starts, local, labels, strict=True)
    ]


# --- what a page is about -------------------------------------------------------------------


@dataclass
class Context:
    """The practice, therapist and service of a booking page, and the appointment being moved."""

    practice: Practice
    therapist: User
    service: Service
    moving: Appointment | None

    def url_args(self) -> dict:
        """Query arguments that keep a reschedule a reschedule from page to page."""
        return {"reschedule": self.moving.id} if self.moving else {}


def _context(service_id: int) -> Context:
    """Resolve the URL's service (and appointment to move) or raise NotFound."""
    user = current_user._get_current_object()
    practice = accounts.get_practice(db.session)
    raw = request.args.get("reschedule")
    if raw is None:
        service = db.session.get(Service, service_id)
        if service is None or not service.active:
            raise NotFound("That service isn't offered.")
        return Context(practice, booking.default_therapist(db.session), service, None)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise NotFound("No such appointment.")
    appointment = booking.get_appointment(db.session, user, int(raw))
    if appointment.service_id != service_id:
        raise NotFound("No such appointment.")
    return Context(practice, appointment.therapist, appointment.service, appointment)


def _intake_gate(target: str):
    """Send a client without a current questionnaire to fill it in, then back to target."""
    if intake.is_complete(db.session, current_user):
        return None
    flash("Before your first booking, please fill in this short health questionnaire. It "
          "helps your therapist keep your sessions safe, and you only do it once.", "info")
    return redirect(url_for("intake.index", next=target))


def _limit_refusal(practice: Practice) -> booking.UpcomingLimitReached | None:
    """Why the signed-in client can't book another session now, or None when they can."""
    return booking.upcoming_limit_refusal(db.session, practice, current_user, now())


def _limit_page(ctx: Context, refusal: booking.UpcomingLimitReached):
    """409: the client already holds the most upcoming sessions they can book online."""
    return render_template("booking/limit.html", ctx=ctx, refusal=refusal), 409


def _new_booking_gate(ctx: Context, target: str):
    """The questionnaire first, then the limit of upcoming sessions: a page to answer with
    instead of free times, or None."""
    gate = _intake_gate(target)
    if gate:
        return gate
    refusal = _limit_refusal(ctx.practice)
    return _limit_page(ctx, refusal) if refusal else None


def _here() -> str:
    query = request.query_string.decode()
    return f"{request.path}?{query}" if query else request.path


def _not_found(error: NotFound):
    return render_error(404, error.message or None)


# --- pages ----------------------------------------------------------------------------------


@bp.route("/")
def index():
    """Choose a service."""
    gate = _intake_gate(url_for("booking.index"))
    if gate:
        return gate
    try:
        booking.default_therapist(db.session)
    except NotFound:
        open_for_booking = False
    else:
        open_for_booking = True
    refusal = _limit_refusal(accounts.get_practice(db.session)) if open_for_booking else None
    services = booking.active_services(db.session) if open_for_booking and not refusal else []
    return render_template("booking/index.html", services=services, refusal=refusal)


@bp.route("/<int:service_id>")
def slots(service_id: int):
    """One week of free slots for a service (Monday to Sunday in the practice's zone): this
    week, the one asked for, or, when moving a session, the session's own week."""
    try:
        ctx = _context(service_id)
    except NotFound as error:
        return _not_found(error)
    if ctx.moving is None:
        gate = _new_booking_gate(ctx, _here())
        if gate:
            return gate
    else:
        refusal = _refuse_change(ctx)
        if refusal:
            return refusal
    current = now()
    zone = practice_zone()
    today = current.astimezone(zone).date()
    _, last_day = booking.booking_window(ctx.practice, current)
    this_monday = today - timedelta(days=today.weekday())
    last_monday = last_day - timedelta(days=last_day.weekday())
    asked = _week_param(request.args.get("week"))
    if asked is None and ctx.moving is not None:
        # Moving a session: start from its own week, where a new time is most likely wanted.
        asked = ctx.moving.starts_at.astimezone(zone).date()
    monday = this_monday if asked is None else asked - timedelta(days=asked.weekday())
    # A stale or tampered week, or a session booked beyond the horizon: the nearest bookable.
    monday = min(max(monday, this_monday), last_monday)
    first = max(monday, today)
    count = (monday + timedelta(days=7) - first).days
    grouped = booking.slots_by_day(
        db.session, ctx.practice, ctx.therapist, ctx.service, now=current, first=first,
        days=count, ignore_appointment=ctx.moving.id if ctx.moving else None,
    )
    days = [Day(day=day, label=wording.day(day), bookable=day <= last_day,
                slots=_slots_for_day(starts, ctx.practice, ctx.moving))
            for day, starts in sorted(grouped.items())]
    # The day shown open: the one of the session being moved, else the first with a time.
    open_day = next((d.day for d in days if any(slot.current for slot in d.slots)),
                    next((d.day for d in days if d.slots), None))
    earlier = monday - timedelta(days=7) if monday > this_monday else None
    later = monday + timedelta(days=7) if monday < last_monday else None
    return render_template(
        "booking/slots.html", ctx=ctx, days=days,
        week_label=wording.day_range(first, monday + timedelta(days=6)),
        this_week=monday == this_monday, earlier=earlier, later=later, open_day=open_day,
        any_free=any(slot for d in days for slot in d.slots if not slot.current),
        form=ConfirmForm(),
    )


@bp.route("/<int:service_id>/confirm", methods=["GET", "POST"])
def confirm(service_id: int):
    """Show the chosen slot with price and policy (GET); book or move it (POST)."""
    try:
        ctx = _context(service_id)
    except NotFound as error:
        return _not_found(error)
    if ctx.moving is None:
        # A POST leaves the limit to booking.book, which counts under lock and so tells a
        # double submit from a new booking.
        target = url_for("booking.slots", service_id=service_id)
        gate = _intake_gate(target) if request.method == "POST" else _new_booking_gate(
            ctx, target)
        if gate:
            return gate
    else:
        refusal = _refuse_change(ctx)
        if refusal:
            return refusal
    form = ConfirmForm()
    raw = request.form.get("start") if request.method == "POST" else request.args.get("start")
    try:
        start = parse_start(raw)
    except InvalidInput as error:
        return _cannot_book(ctx, error.message, None)
    if request.method == "POST":
        if form.validate_on_submit():
            return _book_or_move(ctx, form, start)
    else:
        form.start.data = start_param(start)
        if not _still_free(ctx, start):
            return _taken(ctx, start, title="Sorry, that time isn't available",
                          text="It may have just been booked, or it's not a time the practice "
                               "offers.")
    return _confirm_page(ctx, form, start)


def _still_free(ctx: Context, start: datetime) -> bool:
    day = start.astimezone(practice_zone()).date()
    return start in booking.free_slots(
        db.session, ctx.practice, ctx.therapist, ctx.service, now=now(), first=day, last=day,
        ignore_appointment=ctx.moving.id if ctx.moving else None,
    )


def _confirm_page(ctx: Context, form: ConfirmForm, start: datetime, status: int = 200):
    practice = ctx.practice
    deadline = start - timedelta(hours=practice.cancel_window_hours)
    return render_template("booking/confirm.html", ctx=ctx, form=form, start=start,
                           end=start + timedelta(minutes=ctx.service.duration_minutes),
                           deadline=deadline, week=_week_of(ctx, start)), status


def _book_or_move(ctx: Context, form: ConfirmForm, start: datetime):
    user = current_user._get_current_object()
    try:
        if ctx.moving is not None:
            if ctx.moving.starts_at == start:
                flash("Your session is already at that time.", "info")
                return redirect(url_for("appointments.index"))
            appointment = booking.reschedule(db.session, user, ctx.moving, starts_at=start,
                                             now=now(), links=BOOKING_LINKS, ip=client_ip())
        else:
            appointment = booking.book(
                db.session, user, client=user, therapist=ctx.therapist,
                service_id=ctx.service.id, starts_at=start, now=now(), links=BOOKING_LINKS,
                note=form.note.data or "", ip=client_ip(),
            )
    except (booking.SlotTaken, booking.UpcomingLimitReached) as error:
        transactions.mark_failed()
        if ctx.moving is None and _already_booked(user, ctx.service.id, start):
            # The second click of a double submit: the slot is taken by this very booking
            # (which may also have been the last one the limit allowed).
            flash("You already booked this session. It's listed below.", "info")
            return redirect(url_for("appointments.index"))
        if isinstance(error, booking.UpcomingLimitReached):
            return _limit_page(ctx, error)
        return _taken(ctx, start, alternatives=error.alternatives)
    except PermissionDenied as error:
        transactions.mark_failed()
        if ctx.moving is not None:
            return closed_page(ctx.moving, ctx.practice)
        gate = _intake_gate(url_for("booking.slots", service_id=ctx.service.id))
        return gate or render_error(403, error.message or None)
    except InvalidInput as error:
        transactions.mark_failed()
        if error.field == "note":
            apply_error(form, error)
            return _confirm_page(ctx, form, start)
        return _cannot_book(ctx, error.message, start)
    except NotFound as error:
        return _not_found(error)
    when = wording.day_and_time(start, practice_zone())
    if ctx.moving is not None:
        flash(f"Done: your {appointment.service.name} is now on {when}. We've emailed you the "
              "new details.", "success")
    else:
        flash(f"Booked: {appointment.service.name} on {when}. A confirmation email with a "
              "calendar file is on its way.", "success")
    return redirect(url_for("appointments.index"))


def _already_booked(user: User, service_id: int, start: datetime) -> bool:
    return any(
        a.starts_at == start and a.service_id == service_id
        and a.status is AppointmentStatus.BOOKED
        for a in booking.client_appointments(db.session, user)
    )


def _refuse_change(ctx: Context):
    """The explanation page when the appointment being moved can no longer be changed."""
    if booking.can_change(current_user, ctx.moving, ctx.practice, now()):
        return None
    return closed_page(ctx.moving, ctx.practice)


def _week_of(ctx: Context, start: datetime | None) -> str | None:
    if start is None:
        return None
    return start.astimezone(practice_zone()).date().isoformat()


def _alternatives(ctx: Context, start: datetime) -> list[Day]:
    found = booking.nearest_alternatives(
        db.session, ctx.practice, ctx.therapist, ctx.service, around=start, now=now(),
        ignore_appointment=ctx.moving.id if ctx.moving else None,
    )
    return _days(ctx, [s for s in found if not (ctx.moving and s == ctx.moving.starts_at)])


def _days(ctx: Context, starts: list[datetime]) -> list[Day]:
    """Starts grouped by local date, for pages that list a few slots over several days."""
    zone = practice_zone()
    grouped: dict[date, list[datetime]] = {}
    for start in sorted(starts):
        grouped.setdefault(start.astimezone(zone).date(), []).append(start)
    return [Day(day=day, label=wording.day(day), bookable=True,
                slots=_slots_for_day(group, ctx.practice, ctx.moving))
            for day, group in grouped.items()]


def _taken(ctx: Context, start: datetime, *, alternatives=None,
           title: str = "Sorry, that slot was just taken",
           text: str = "Someone booked it a moment before you."):
    """409: the slot is gone; offer the nearest free ones."""
    options = _days(ctx, alternatives) if alternatives else _alternatives(ctx, start)
    return render_template("booking/taken.html", ctx=ctx, title=title, text=text,
                           alternatives=options, week=_week_of(ctx, start)), 409


def _cannot_book(ctx: Context, message: str, start: datetime | None):
    """400: the time itself is wrong (malformed, past, outside hours or the horizon)."""
    options = _alternatives(ctx, start) if start is not None else []
    return render_template("booking/taken.html", ctx=ctx, title="That time can't be booked",
                           text=message, alternatives=options, week=_week_of(ctx, start)), 400
