"""Messages between clients and the practice: a client's conversations and writing a new one
(about an exercise of their programme, an appointment, or anything), the therapist's inbox,
one conversation with its replies, marking it done, and the "message waiting" emails setting.

Who may see a conversation is decided by the messages service (portal.services.messages):
someone else's conversation answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.extensions import db, limiter
from portal.models import MessageThread, Role, User
from portal.services import client_record as record_service
from portal.services import dose, messages
from portal.services import enquiries as enquiry_service
from portal.services.clients import parse_page
from portal.services.errors import Conflict, InvalidInput, NotFound
from portal.web.access import restrict, roles
from portal.web.deps import client_ip, now
from portal.web.formatting import local_when
from portal.web.forms import apply_error, int_or_none
from portal.web.links import MESSAGE_LINKS
from portal.web.messages.forms import MessageEmailsForm, NewMessageForm, ReplyForm
from portal.web.rate_limits import message_limit, signed_in_user

bp = Blueprint("messages", __name__, url_prefix="/messages")
restrict(bp, Role.CLIENT, Role.THERAPIST)

# What a therapist's reply does next, from the button pressed ("then").
THEN_DONE = "done"
THEN_PROGRAMME = "programme"


def _me() -> User:
    """The signed-in user (the real object, not the proxy)."""
    return current_user._get_current_object()


@bp.app_template_global()
def thread_about(thread: MessageThread) -> str:
    """What a thread is about, in the words its subject does not already say: "Programme
    version 3" under a subject that names the exercise, "Session on Wednesday 4 March at
    10:00" under a subject of the client's own; "" for a general question."""
    if thread.exercise is not None:
        version = thread.programme_version
        parts = [] if thread.subject == thread.exercise.name else [thread.exercise.name]
        if version is not None:
            parts.append(f"programme version {version.number}")
        text = ", ".join(parts)
        return text[:1].upper() + text[1:]
    if thread.appointment is not None:
        about = f"Session on {local_when(thread.appointment.starts_at)}"
        return "" if thread.subject == about else about
    return ""


def builder_link(thread: MessageThread) -> str:
    """The client's programme form with the exercise asked about picked out."""
    return url_for("programmes.edit", client_id=thread.client_id, exercise=thread.exercise_id,
                   _anchor="exercise-picked")


# --- lists ------------------------------------------------------------------------------------


@bp.route("/")
def index():
    """A client's own conversations; for a therapist, the practice's inbox (unread first,
    filtered by open, unread, done or all, and optionally one client's)."""
    me = _me()
    page = parse_page(request.args.get("page"))
    if me.is_client:
        result = messages.client_threads(db.session, me, page)
        return render_template("messages/index.html", result=result)
    client = None
    if "client" in request.args:
        client_id = int_or_none(request.args.get("client"))
        if client_id is None:
            raise NotFound("There is no such client.")
        client = record_service.get_client(db.session, me, client_id)
    result = messages.inbox(db.session, me, filter=request.args.get("filter", "open"),
                            page=page, client=client)
    # The same inbox leads to the enquiries from the public pages (people without accounts,
    # answered by email), so everything waiting for a reply is found from one place.
    return render_template("messages/inbox.html", result=result,
                           filters=messages.INBOX_FILTERS,
                           enquiries=None if client else enquiry_service.counts(db.session))


# --- writing to the practice ------------------------------------------------------------------


def _sent(client: User) -> str:
    """What a client is told once their message is on its way."""
    if client.message_emails:
        return "Your message is sent. We'll email you when there's a reply."
    return "Your message is sent. Replies appear in Messages."


def _topic(client: User) -> messages.Topic:
    """What the new message is about, from the address (?item= or ?appointment=); NotFound
    for a number that is not one of the client's own."""
    if "item" in request.args:
        item_id = int_or_none(request.args.get("item"))
        if item_id is None:
            raise NotFound("That exercise isn't in your programme.")
        return messages.topic_for_item(db.session, client, item_id)
    if "appointment" in request.args:
        appointment_id = int_or_none(request.args.get("appointment"))
        if appointment_id is None:
            raise NotFound("No such appointment.")
        return messages.topic_for_appointment(db.session, client, appointment_id)
    return messages.GENERAL


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.CLIENT)
@limiter.limit(message_limit, key_func=signed_in_user, methods=["POST"])
def new():
    """A client writes to the practice: about an exercise of their programme ("Ask about
    this stretch"), one of their appointments, or anything."""
    me = _me()
    topic = _topic(me)
    form = NewMessageForm()
    if form.validate_on_submit():
        try:
            thread = messages.start_thread(
                db.session, me, topic=topic, subject=form.subject.data, body=form.body.data,
                now=now(), links=MESSAGE_LINKS, ip=client_ip())
        except InvalidInput as error:
            apply_error(form, error)
        else:
            flash(_sent(me), "success")
            return redirect(url_for("messages.thread", thread_id=thread.id))
    return render_template("messages/new.html", form=form, topic=topic,
                           subject=messages.topic_subject(db.session, topic))


# --- one conversation -------------------------------------------------------------------------


@bp.route("/<int:thread_id>", methods=["GET", "POST"])
@limiter.limit(message_limit, key_func=signed_in_user, methods=["POST"])
def thread(thread_id: int):
    """One conversation: its messages (reading marks the other side's as read, and a
    therapist's reading is audited) and a reply. A therapist may mark it done with the reply,
    or go on to the programme form at the exercise asked about."""
    me = _me()
    found = messages.get_thread(db.session, me, thread_id)
    form = ReplyForm()
    if request.method == "POST" and form.validate_on_submit():
        then = request.form.get("then", "")
        try:
            sent = messages.reply(db.session, me, found, form.body.data, now=now(),
                           links=MESSAGE_LINKS, ip=client_ip(),
                           mark_done=me.is_therapist and then == THEN_DONE)
        except (InvalidInput, Conflict) as error:
            # The service checks everything before it writes, so nothing of the reply was
            # written; the page below is a real reading of the thread, audited and kept.
            apply_error(form, InvalidInput("body", error.message), keep_writes=True)
        else:
            if me.is_therapist and then == THEN_PROGRAMME and found.exercise_id:
                flash("Reply sent. Adjust the programme below, then save a new version.",
                      "success")
                return redirect(builder_link(found))
            flash("Reply sent." if me.is_therapist else _sent(me), "success")
            if me.is_therapist and then == THEN_DONE:
                return redirect(url_for("messages.index"))
            return redirect(url_for("messages.thread", thread_id=found.id,
                                    _anchor=f"message-{sent.id}"))
    return _thread_page(me, found, form)


def _thread_page(me: User, found: MessageThread, form: ReplyForm):
    """Render a conversation as read now by me; beside it, for a therapist, the client's
    record at a glance."""
    current = now()
    view = messages.read_thread(db.session, me, found, now=current, ip=client_ip())
    context = (messages.thread_context(db.session, me, found, now=current)
               if me.is_therapist else None)
    # Rendered before the commit (transactions.finish), like the client record: a commit
    # first would expire what was loaded and the template would load it again.
    item = context.item if context else None
    return render_template("messages/thread.html", view=view, thread=found, form=form,
                           context=context, dose_words=dose.describe_dose(item) if item else None,
                           builder_url=builder_link(found) if found.exercise_id else None,
                           then_done=THEN_DONE, then_programme=THEN_PROGRAMME)


@bp.route("/<int:thread_id>/done", methods=["POST"])
@roles(Role.THERAPIST)
def done(thread_id: int):
    """Mark a conversation done: nothing more for the practice to do until the client
    writes again."""
    found = messages.get_thread(db.session, _me(), thread_id)
    if messages.mark_done(db.session, _me(), found, now=now(), ip=client_ip()):
        flash(f"Marked done: \u201c{found.subject}\u201d with {found.client.name}. It opens "
              "again if they write.", "success")
    else:
        flash("That conversation was already marked done.", "info")
    return redirect(url_for("messages.index"))


@bp.route("/<int:thread_id>/reopen", methods=["POST"])
@roles(Role.THERAPIST)
def reopen(thread_id: int):
    """Put a conversation marked done back among the open ones."""
    found = messages.get_thread(db.session, _me(), thread_id)
    if messages.reopen(db.session, _me(), found, now=now(), ip=client_ip()):
        flash("Open again.", "success")
    else:
        flash("That conversation was already open.", "info")
    return redirect(url_for("messages.thread", thread_id=found.id))


# --- the emails setting -----------------------------------------------------------------------


@bp.route("/emails", methods=["POST"])
def emails():
    """Turn the "a message is waiting" emails on or off (from the account page)."""
    form = MessageEmailsForm()
    if form.validate_on_submit():
        on = bool(form.message_emails.data)
        messages.set_message_emails(db.session, _me(), on, now=now(), ip=client_ip())
        flash("We'll email you when a message is waiting." if on else
              "No more emails about messages: look in Messages when you sign in.", "success")
    return redirect(url_for("account.index", _anchor="message-emails"))
