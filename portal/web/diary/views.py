"""The therapist's diary: services, hours, time off, booking rules and appointments."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.extensions import db
from portal.models import Appointment, AppointmentStatus, Practice, Role, User
from portal.services import accounts, booking, diary, diary_days, intake, wording
from portal.services.errors import Conflict, InvalidInput, PermissionDenied
from portal.web import transactions
from portal.web.access import restrict
from portal.web.deps import client_ip, now, practice_zone
from portal.web.diary.forms import (
    BookChoiceForm,
    BookForm,
    CancelForm,
    HoursForm,
    OutcomeForm,
    RescheduleForm,
    ServiceForm,
    SessionNoteForm,
    TimeOffForm,
)
from portal.web.forms import apply_error, choice
from portal.web.links import BOOKING_LINKS
from portal.web.moved import moved

bp = Blueprint("diary", __name__, url_prefix="/diary")
restrict(bp, Role.THERAPIST)

# The day, week and month views were the "agenda" (/diary/agenda): one word, the Diary, now.
moved(bp, "/agenda", "diary.days")
moved(bp, "/agenda/appointments/<int:appointment_id>/<any(attended, 'no-show'):outcome>",
      "diary.record_outcome", methods=["POST"])
moved(bp, "/agenda/appointments/<int:appointment_id>/notes", "diary.note", methods=["POST"])


def _me() -> User:
    """The signed-in therapist (the real object, not the proxy)."""
    return current_user._get_current_object()


def _practice() -> Practice:
    """The practice row."""
    return accounts.get_practice(db.session)


def _today() -> date:
    """Today in the practice's zone."""
    return now().astimezone(practice_zone()).date()


@bp.context_processor
def diary_helpers():
    """Local-time helpers for the diary templates (worded by services.wording)."""
    zone = practice_zone()

    def clock(value: datetime) -> str:
        return wording.clock(value, zone)

    def day_label(day: date) -> str:
        return wording.relative_day(day, _today())

    return {"clock": clock, "day_label": day_label, "price": booking.format_price,
            "one_day": timedelta(days=1)}


def _day_arg(name: str = "day") -> date | None:
    """A YYYY-MM-DD query parameter as a date, or None when missing or malformed."""
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


# --- upcoming ------------------------------------------------------------------------------


@bp.route("/")
def index():
    """The next two weeks of appointments, by day."""
    practice = _practice()
    me = _me()
    days = diary.upcoming(db.session, practice, me, now=now())
    current = now()
    changeable = {
        a.id for items in days.values() for a in items
        if booking.can_change(me, a, practice, current) and a.starts_at > current
    }
    return render_template("diary/index.html", days=days, changeable=changeable,
                           horizon=diary.UPCOMING_DAYS,
                           count=sum(1 for items in days.values() for a in items
                                     if a.status is not AppointmentStatus.CANCELLED))


# --- services ------------------------------------------------------------------------------


@bp.route("/services")
def services():
    """Every service, with its length, price and buffer."""
    return render_template("diary/services.html", services=diary.all_services(db.session))


@bp.route("/services/new", methods=["GET", "POST"])
def service_new():
    """Add a service."""
    return _service_page(None)


@bp.route("/services/<int:service_id>", methods=["GET", "POST"])
def service_edit(service_id: int):
    """Change a service, or hide it from clients."""
    return _service_page(diary.get_service(db.session, service_id))


def _service_page(service):
    """The create/edit form for a service (None: a new one)."""
    form = ServiceForm(obj=service)
    if service is not None and not form.is_submitted():
        form.price.data = diary.pence_to_pounds(service.price_pence)
    if form.validate_on_submit():
        try:
            saved = diary.save_service(
                db.session, _me(), service, name=form.name.data,
                description=form.description.data or "",
                duration_minutes=form.duration_minutes.data, price=form.price.data,
                buffer_minutes=form.buffer_minutes.data, active=form.active.data,
                sort_order=form.sort_order.data, now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            apply_error(form, error)
        else:
            state = "" if saved.active else " It is hidden from clients."
            flash(f"{saved.name} saved.{state}", "success")
            return redirect(url_for("diary.services"))
    return render_template("diary/service_form.html", form=form, service=service)


# --- weekly hours --------------------------------------------------------------------------


@bp.route("/hours", methods=["GET", "POST"])
def hours():
    """Weekly working hours: up to four ranges per day; the gaps are breaks."""
    me = _me()
    form = HoursForm()
    if not form.is_submitted():
        for weekday, ranges in diary.weekly_hours(db.session, me).items():
            for index, (start, end) in enumerate(ranges[:diary.RANGES_PER_DAY]):
                form[diary.hours_field(weekday, index, "start")].data = start
                form[diary.hours_field(weekday, index, "end")].data = end
    if form.validate_on_submit():
        days = {
            weekday: [(form[diary.hours_field(weekday, i, "start")].data,
                       form[diary.hours_field(weekday, i, "end")].data)
                      for i in range(diary.RANGES_PER_DAY)]
            for weekday in range(7)
        }
        try:
            diary.replace_hours(db.session, me, me, days, now=now(), ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            outside = diary.booked_outside_hours(db.session, _practice(), me, now=now())
            flash("Weekly hours saved.", "success")
            if outside:
                flash(_listing("These booked sessions are now outside your hours. They are "
                               "kept; move or cancel them if needed", outside), "warning")
            return redirect(url_for("diary.hours"))
    return render_template("diary/hours.html", form=form, ranges=diary.RANGES_PER_DAY,
                           field_name=diary.hours_field, weekdays=diary.WEEKDAYS)


def _listing(intro: str, appointments: list[Appointment]) -> str:
    """A flash sentence naming each appointment."""
    return f"{intro}: {'; '.join(diary.describe(appointments, practice_zone()))}."


# --- time off ------------------------------------------------------------------------------


@bp.route("/time-off", methods=["GET", "POST"])
def time_off():
    """Upcoming time off, and a form to add more."""
    me = _me()
    form = TimeOffForm()
    if form.validate_on_submit():
        try:
            _, clashes = diary.add_time_off(
                db.session, me, me, first_day=form.first_day.data, last_day=form.last_day.data,
                start=form.start.data, end=form.end.data, reason=form.reason.data or "",
                now=now(), ip=client_ip(),
            )
        except InvalidInput as error:
            apply_error(form, error)
        else:
            flash("Time off added. Clients can't book those times.", "success")
            if clashes:
                several = len(clashes) != 1
                flash(_listing(f"This time off overlaps {len(clashes)} booked "
                               f"session{'s' if several else ''}, which "
                               f"{'stay' if several else 'stays'} booked", clashes)
                      + f" Move or cancel {'them' if several else 'it'} from the diary if "
                        "needed.", "warning")
            return redirect(url_for("diary.time_off"))
    entries = [(row, _span(row)) for row in diary.upcoming_time_off(db.session, me, now=now())]
    return render_template("diary/time_off.html", form=form, entries=entries)


def _span(row) -> str:
    """'Mon 6 April (whole day)', 'Mon 6 – Fri 10 April', 'Mon 6 April, 14:00–17:00'."""
    return wording.span(row.starts_at, row.ends_at, practice_zone())


@bp.route("/time-off/<int:time_off_id>/delete", methods=["POST"])
def time_off_delete(time_off_id: int):
    """Remove time off."""
    diary.delete_time_off(db.session, _me(), time_off_id, now=now(), ip=client_ip())
    flash("Time off removed. Those times can be booked again.", "success")
    return redirect(url_for("diary.time_off"))


# --- booking rules -------------------------------------------------------------------------


@bp.route("/rules", methods=["GET", "POST"])
def rules():
    """The booking rules moved to the practice settings page: send old links and bookmarks
    there (a form posted from a page opened before the move is not saved, and says so)."""
    if request.method == "POST":
        flash("Booking rules are now part of Practice settings. Your change was not saved: "
              "please make it again here.", "info")
    return redirect(url_for("settings.index", _anchor="rules"))


# --- booking for a client ------------------------------------------------------------------


def _choices(form, clients: list[User], services) -> None:
    """Fill the client and service lists of a booking form."""
    form.client.choices = [choice("", "Choose a client")] + [
        choice(c.id, c.name if c.has_password else f"{c.name} (invited)") for c in clients
    ]
    form.service.choices = [choice("", "Choose a service")] + [
        choice(s.id, s.name + ("" if s.active else " (hidden from clients)"))
        for s in services
    ]


@bp.route("/book", methods=["GET", "POST"])
def book():
    """Book for a client: choose client, service and day, then a free time (or, deliberately,
    a time over another appointment)."""
    practice = _practice()
    me = _me()
    clients = diary.bookable_clients(db.session)
    services = diary.all_services(db.session)
    posted = request.method == "POST"
    choice = BookChoiceForm(formdata=(request.form if posted else request.args) or None)
    _choices(choice, clients, services)
    if choice.day.data is None and not choice.day.raw_data:
        choice.day.data = _today()
    form = BookForm()
    _choices(form, clients, services)
    if posted and form.validate_on_submit():
        try:
            appointment = diary.book_for_client(
                db.session, me, client_id=form.client.data, service_id=form.service.data,
                day=form.day.data, slot=form.start.data, override=form.override.data,
                override_time=form.override_time.data, now=now(), links=BOOKING_LINKS,
                ip=client_ip(),
            )
        except InvalidInput as error:
            apply_error(form, error)
            if error.field in ("client", "service", "day"):
                apply_error(choice, error)
        except booking.SlotTaken as error:
            transactions.mark_failed()
            form.start.errors = [f"{error.message} Choose another time."]
        else:
            extra = " (double booking)" if appointment.overlap_override else ""
            flash(f"Booked {appointment.client.name} for {appointment.service.name} on "
                  f"{_when(appointment.starts_at)}{extra}. A confirmation email is on its way.",
                  "success")
            return redirect(url_for("diary.index"))
    # A link may preset only the client; the list appears once all three are chosen.
    ready = (posted or {"client", "service", "day"} <= set(request.args)) and choice.validate()
    client = db.session.get(User, choice.client.data) if ready and choice.client.data else None
    service = next((s for s in services if s.id == choice.service.data), None)
    if ready and (client is None or not client.is_client or not client.active):
        choice.client.errors = ["Choose an active client."]
        ready = False
    if ready and service is None:
        choice.service.errors = ["Choose a service."]
        ready = False
    free = []
    if ready:
        free = booking.free_slots(db.session, practice, me, service, now=now(),
                                  first=choice.day.data, last=choice.day.data,
                                  enforce_notice=False)
    questionnaire_done = client is not None and intake.is_complete(db.session, client)
    return render_template(
        "diary/book.html", choice=choice, form=form, ready=ready, client=client,
        service=service, free=free, questionnaire_done=questionnaire_done,
        day=choice.day.data, today=_today(), posted=posted,
    )


def _when(instant: datetime) -> str:
    """'Wednesday 4 March at 10:00' in the practice's zone."""
    return wording.day_and_time(instant, practice_zone())


# --- changing an appointment ---------------------------------------------------------------


def _changeable(appointment_id: int) -> tuple[Appointment, Practice] | None:
    """The appointment and practice when it can still be moved or cancelled; otherwise
    None, with a message flashed."""
    appointment = booking.get_appointment(db.session, _me(), appointment_id)
    practice = _practice()
    if (not booking.can_change(_me(), appointment, practice, now())
            or appointment.starts_at <= now()):
        flash("That appointment can no longer be changed: it is cancelled or already over.",
              "info")
        return None
    return appointment, practice


@bp.route("/appointments/<int:appointment_id>/reschedule", methods=["GET", "POST"])
def reschedule(appointment_id: int):
    """Move an appointment to another free time."""
    found = _changeable(appointment_id)
    if found is None:
        return redirect(url_for("diary.index"))
    appointment, practice = found
    today = _today()
    day = _day_arg() or max(appointment.starts_at.astimezone(practice_zone()).date(), today)
    form = RescheduleForm()
    if form.validate_on_submit():
        starts_at = diary.parse_slot(form.start.data)
        try:
            if starts_at is None:
                raise InvalidInput("start", "Choose a new time from the list.")
            booking.reschedule(db.session, _me(), appointment, starts_at=starts_at, now=now(),
                               links=BOOKING_LINKS, ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        except booking.SlotTaken as error:
            transactions.mark_failed()
            form.start.errors = [f"{error.message} Choose another time."]
        except PermissionDenied as error:
            transactions.mark_failed()
            flash(error.message, "error")
            return redirect(url_for("diary.index"))
        else:
            flash(f"Moved {appointment.client.name}'s {appointment.service.name} to "
                  f"{_when(appointment.starts_at)}. They have been emailed.", "success")
            return redirect(url_for("diary.index"))
        if starts_at is not None:
            day = starts_at.astimezone(practice_zone()).date()
        appointment = booking.get_appointment(db.session, _me(), appointment_id)
    free = booking.free_slots(db.session, practice, _me(), appointment.service, now=now(),
                              first=day, last=day, ignore_appointment=appointment.id,
                              enforce_notice=False)
    # The appointment's own time is not a move.
    free = [s for s in free if s != appointment.starts_at]
    return render_template("diary/reschedule.html", appointment=appointment, form=form,
                           free=free, day=day, today=today)


@bp.route("/appointments/<int:appointment_id>/cancel", methods=["GET", "POST"])
def cancel(appointment_id: int):
    """Cancel an appointment with a message to the client."""
    found = _changeable(appointment_id)
    if found is None:
        return redirect(url_for("diary.index"))
    appointment, practice = found
    late = now() >= booking.policy_deadline(practice, appointment)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            booking.cancel(db.session, _me(), appointment, now=now(), links=BOOKING_LINKS,
                           reason=form.message.data or "", ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            note = " It is recorded as a late cancellation." if appointment.late_cancellation \
                else ""
            flash(f"Cancelled {appointment.client.name}'s {appointment.service.name} on "
                  f"{_when(appointment.starts_at)}. They have been emailed.{note}", "success")
            return redirect(url_for("diary.index"))
    return render_template("diary/cancel.html", appointment=appointment, form=form, late=late,
                           window=practice.cancel_window_hours)


# --- day, week and month ------------------------------------------------------------------


def _days_args() -> tuple[date, str]:
    """The day and view of the diary days from the query string (today and "day" by default)."""
    view = request.args.get("view", "day")
    day = _day_arg()
    if day is None or not diary_days.in_range(day):
        day = _today()
    return day, view if view in diary_days.VIEWS else "day"


def _days_page(day: date, view: str, *, note_form: SessionNoteForm | None = None,
                 note_for: int | None = None):
    """The day, week or month page; `note_form` with errors is shown under `note_for`."""
    me = _me()
    current = now()
    steps = {"previous": diary_days.step(day, view, -1),
             "following": diary_days.step(day, view, 1)}
    if view == "month":
        # Counts and names only: the pre-session summaries are for the day and week views.
        found = diary_days.month(db.session, me, practice_zone(), day=day)
        return render_template("diary/days.html", month=found, day=day, view=view,
                               today=_today(), **steps)
    found = diary_days.days_of(db.session, me, practice_zone(), day=day, view=view,
                                  now=current)
    markable = {e.appointment.id for entries in found.days.values() for e in entries
                if diary_days.can_mark(me, e.appointment, current)}
    changeable = {e.appointment.id for entries in found.days.values() for e in entries
                  if e.appointment.status is AppointmentStatus.BOOKED
                  and e.appointment.starts_at > current}
    return render_template(
        "diary/days.html", diary=found, day=day, view=view, today=_today(), **steps,
        markable=markable, changeable=changeable,
        note_form=note_form or SessionNoteForm(formdata=None), note_for=note_for,
    )


@bp.route("/days")
def days():
    """A day or week of appointments, each with how the client got on since the last visit,
    or a month of sessions per day."""
    day, view = _days_args()
    return _days_page(day, view)


def _back_to_days(appointment: Appointment):
    """Back to the page the action came from (the appointment's day otherwise)."""
    day, view = _days_args()
    if _day_arg() is None:
        day = appointment.starts_at.astimezone(practice_zone()).date()
    return redirect(url_for("diary.days", day=day.isoformat(), view=view,
                            _anchor=f"appointment-{appointment.id}"))


@bp.route("/appointments/<int:appointment_id>/<any(attended, 'no-show'):outcome>",
          methods=["POST"])
def record_outcome(appointment_id: int, outcome: str):
    """Mark a session that has started as attended or a no-show."""
    appointment = booking.get_appointment(db.session, _me(), appointment_id)
    form = OutcomeForm()
    if not form.validate_on_submit():
        flash("The page had expired; please try again.", "error")
        return _back_to_days(appointment)
    mark = (diary_days.mark_attended if outcome == "attended"
            else diary_days.mark_no_show)
    try:
        mark(db.session, _me(), appointment, now=now(), ip=client_ip())
    except (Conflict, PermissionDenied) as error:
        transactions.mark_failed()
        flash(error.message, "error")
    else:
        words = "attended" if outcome == "attended" else "a no-show"
        flash(f"Marked {appointment.client.name}'s session at "
              f"{_when(appointment.starts_at)} as {words}.", "success")
    return _back_to_days(appointment)


@bp.route("/appointments/<int:appointment_id>/notes", methods=["POST"])
def note(appointment_id: int):
    """Add a private session note to an appointment."""
    appointment = booking.get_appointment(db.session, _me(), appointment_id)
    form = SessionNoteForm()
    if form.validate_on_submit():
        try:
            diary_days.add_note(db.session, _me(), appointment, form.body.data, now=now(),
                                    ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            flash(f"Note saved for {appointment.client.name}'s session.", "success")
            return _back_to_days(appointment)
    day, view = _days_args()
    if _day_arg() is None:
        day = appointment.starts_at.astimezone(practice_zone()).date()
    # Notes are written from the day and week views; the month view has no note forms.
    return _days_page(day, "day" if view == "month" else view, note_form=form,
                        note_for=appointment.id)
