"""Messages between a client and the practice: starting a thread (about an exercise of the
programme, an appointment, or anything), replying, reading with read receipts, marking a
thread done, the inboxes and unread counts, and the emails that say a message is waiting.

Messages are health data. A client sees only their own threads; every therapist reads all of
them, and each time a therapist opens a thread an audit row says so. The emails never carry
a message, its subject or who wrote it: only that something is waiting, and a link.

Every reading function runs a fixed number of queries however many threads, messages and
clients there are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, joinedload

from portal.models import (
    Appointment,
    AppointmentStatus,
    ClientErasure,
    CompletionLog,
    Exercise,
    Message,
    MessageThread,
    ProgrammeItem,
    ProgrammeVersion,
    Role,
    ThreadStatus,
    User,
)
from portal.models.messages import BODY_MAX, SUBJECT_MAX
from portal.services import audit, booking, client_day, emails, outbox, wording
from portal.services import practice as practice_service
from portal.services import programmes as programme_service
from portal.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied

PAGE_SIZE = 25
DASHBOARD_THREADS = 5
# The therapist's inbox filters, in the order of the tabs; "open" is the default.
INBOX_FILTERS: dict[str, str] = {
    "open": "Open",
    "unread": "Unread",
    "done": "Done",
    "all": "All",
}
EMPTY_BODY = "Write your message."
LONG_BODY = f"Keep your message under {BODY_MAX:,} characters, or send it in two parts."
EMPTY_SUBJECT = "Give your message a subject, in a few words."
LONG_SUBJECT = f"Keep the subject under {SUBJECT_MAX} characters."


@dataclass(frozen=True)
class MessageLinks:
    """Where the emails send people, as absolute addresses; made by the web layer."""

    thread: Callable[[MessageThread], str]  # the thread to read and answer
    account: Callable[[], str]  # where to turn the emails off


# --- permissions ------------------------------------------------------------------------------


def can_view(user: User, thread: MessageThread) -> bool:
    """Therapists see every thread; a client only their own."""
    return user.is_therapist or (user.is_client and thread.client_id == user.id)


def can_write(user: User, thread: MessageThread) -> bool:
    """Whoever may read a thread may write in it."""
    return can_view(user, thread)


def can_mark_done(user: User, thread: MessageThread) -> bool:
    """Only the practice decides a thread needs nothing more (the client reopens it by
    writing)."""
    return user.is_therapist


def _visible(actor: User, thread: MessageThread | None) -> MessageThread:
    """The thread if the actor may see it; NotFound otherwise, so that someone else's thread
    looks exactly like one that does not exist."""
    if thread is None or not can_view(actor, thread):
        raise NotFound("There is no such conversation.")
    return thread


# --- what a thread is about -------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """What a new thread is about: an exercise of the programme (and the version the client
    was on), an appointment, or neither."""

    exercise: Exercise | None = None
    version: ProgrammeVersion | None = None
    appointment: Appointment | None = None

    @property
    def general(self) -> bool:
        """True for a question about nothing in particular."""
        return self.exercise is None and self.appointment is None


GENERAL = Topic()


def topic_for_item(session: Session, client: User, item_id: int) -> Topic:
    """The exercise of an item of the client's current programme, with that version; NotFound
    for anyone else's item or one from an older version."""
    item = client_day.get_item(session, client, item_id)
    return Topic(exercise=item.exercise, version=item.version)


def topic_for_appointment(session: Session, client: User, appointment_id: int) -> Topic:
    """One of the client's own appointments; NotFound for anyone else's."""
    if not client.is_client:
        raise NotFound("No such appointment.")
    return Topic(appointment=booking.get_appointment(session, client, appointment_id))


def topic_subject(session: Session, topic: Topic) -> str:
    """The subject a thread about this topic gets: the exercise's name, or the session."""
    if topic.exercise is not None:
        return topic.exercise.name[:SUBJECT_MAX]
    if topic.appointment is not None:
        zone = practice_service.zone(session)
        return (f"Session on "
                f"{wording.day_and_time(topic.appointment.starts_at, zone)}")[:SUBJECT_MAX]
    return ""


# --- writing ----------------------------------------------------------------------------------


def clean_body(text: str | None) -> str:
    """The message as it will be stored: line endings made plain, the ends trimmed;
    InvalidInput("body") when nothing is left or it is too long."""
    body = (text or "").replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    if not body:
        raise InvalidInput("body", EMPTY_BODY)
    if len(body) > BODY_MAX:
        raise InvalidInput("body", LONG_BODY)
    return body


def clean_subject(text: str | None) -> str:
    """A subject on one line, spaces collapsed; InvalidInput("subject") when empty or long."""
    subject = " ".join((text or "").replace("\x00", "").split())
    if not subject:
        raise InvalidInput("subject", EMPTY_SUBJECT)
    if len(subject) > SUBJECT_MAX:
        raise InvalidInput("subject", LONG_SUBJECT)
    return subject


def start_thread(session: Session, client: User, *, topic: Topic, subject: str | None,
                 body: str, now: datetime, links: MessageLinks,
                 ip: str | None = None) -> MessageThread:
    """A client writes to the practice: a new thread with its first message, and an email
    to each therapist that a message is waiting. A thread about an exercise or a session
    takes its subject from it; a general one needs the client's own."""
    if not client.is_client:
        raise PermissionDenied("Only a client starts a conversation with the practice.")
    subject = clean_subject(topic_subject(session, topic) if not topic.general else subject)
    text = clean_body(body)
    thread = MessageThread(
        client_id=client.id, subject=subject,
        exercise_id=topic.exercise.id if topic.exercise else None,
        programme_version_id=topic.version.id if topic.version else None,
        appointment_id=topic.appointment.id if topic.appointment else None,
        status=ThreadStatus.OPEN, created_at=now, last_message_at=now)
    thread.client = client
    session.add(thread)
    session.flush()
    audit.record(session, actor=client, subject=client, action="message_thread.started",
                 now=now, ip=ip, thread=thread.id, about=_topic_kind(topic))
    _add(session, client, thread, text, now, links, ip=ip)
    return thread


def _topic_kind(topic: Topic) -> str:
    if topic.exercise is not None:
        return "exercise"
    return "appointment" if topic.appointment is not None else "general"


def reply(session: Session, actor: User, thread: MessageThread, body: str, *,
          now: datetime, links: MessageLinks, ip: str | None = None,
          mark_done: bool = False) -> Message:
    """Add a message to a thread. The client writing again reopens a thread marked done; a
    therapist may mark it done with the reply. The other side is emailed that a message is
    waiting, unless an earlier one is still unread."""
    if not can_write(actor, thread):
        # Someone else's conversation looks exactly like one that does not exist.
        raise NotFound("There is no such conversation.")
    if mark_done and not can_mark_done(actor, thread):
        raise PermissionDenied("Only the practice marks a conversation done.")
    text = clean_body(body)
    if actor.is_therapist and _erased(session, thread.client_id):
        raise Conflict("This client's account was erased, so they can no longer read "
                       "messages. The conversation is kept with their records.")
    message = _add(session, actor, thread, text, now, links, ip=ip)
    if actor.is_client and thread.is_done:
        _set_status(session, actor, thread, ThreadStatus.OPEN, now, ip)
    elif mark_done and not thread.is_done:
        _set_status(session, actor, thread, ThreadStatus.DONE, now, ip)
    return message


def _add(session: Session, author: User, thread: MessageThread, text: str, now: datetime,
         links: MessageLinks, *, ip: str | None) -> Message:
    """Insert one message, move the thread up the inboxes, audit it and tell the other side."""
    from_client = author.id == thread.client_id
    # Asked before the insert: is something from this side already waiting to be read? Then
    # the other side was told about it and has not looked yet; one email is enough.
    waiting = session.scalar(
        select(func.count(Message.id)).where(
            Message.thread_id == thread.id, Message.from_client == from_client,
            Message.read_at.is_(None))) or 0
    # Whoever answers has read what the other side wrote: their receipts say so.
    session.execute(update(Message).where(
        Message.thread_id == thread.id, Message.from_client == (not from_client),
        Message.read_at.is_(None)).values(read_at=now))
    message = Message(thread_id=thread.id, author_id=author.id, from_client=from_client,
                      body=text, created_at=now)
    message.author = author
    session.add(message)
    thread.last_message_at = now
    session.flush()
    # The text stays out of the trail: the row says only that a message was sent.
    audit.record(session, actor=author, subject=thread.client, action="message.sent",
                 now=now, ip=ip, thread=thread.id, message=message.id)
    if not waiting:
        _notify(session, thread, from_client, links, now)
    return message


def _set_status(session: Session, actor: User, thread: MessageThread, status: ThreadStatus,
                now: datetime, ip: str | None) -> None:
    thread.status = status
    thread.done_at = now if status is ThreadStatus.DONE else None
    thread.done_by_id = actor.id if status is ThreadStatus.DONE else None
    session.flush()
    action = "message_thread.done" if status is ThreadStatus.DONE else "message_thread.reopened"
    audit.record(session, actor=actor, subject=thread.client, action=action, now=now, ip=ip,
                 thread=thread.id)


def mark_done(session: Session, actor: User, thread: MessageThread, *, now: datetime,
              ip: str | None = None) -> bool:
    """The practice needs to do nothing more about the thread; False if it already was."""
    _visible(actor, thread)
    if not can_mark_done(actor, thread):
        raise PermissionDenied("Only the practice marks a conversation done.")
    if thread.is_done:
        return False
    _set_status(session, actor, thread, ThreadStatus.DONE, now, ip)
    return True


def reopen(session: Session, actor: User, thread: MessageThread, *, now: datetime,
           ip: str | None = None) -> bool:
    """Put a thread marked done back among the open ones; False if it already was open."""
    _visible(actor, thread)
    if not can_mark_done(actor, thread):
        raise PermissionDenied("Only the practice reopens a conversation.")
    if not thread.is_done:
        return False
    _set_status(session, actor, thread, ThreadStatus.OPEN, now, ip)
    return True


def _erased(session: Session, client_id: int) -> bool:
    return session.scalar(
        select(ClientErasure.id).where(ClientErasure.client_id == client_id)) is not None


# --- the emails -------------------------------------------------------------------------------


def _notify(session: Session, thread: MessageThread, from_client: bool, links: MessageLinks,
            now: datetime) -> None:
    """Email the other side that a message is waiting: each therapist for a client's message,
    the client for the practice's. Only people who can sign in and have not turned these
    emails off; the email names no one and quotes nothing."""
    if from_client:
        recipients = list(session.scalars(
            select(User).where(User.role == Role.THERAPIST, User.active,
                               User.password_hash.is_not(None), User.message_emails)
            .order_by(User.id)))
    else:
        client = thread.client
        recipients = [client] if client.is_active and client.message_emails else []
    practice = practice_service.current(session)
    # No practice row means no therapist has been set up yet: nobody to write to or from.
    if not recipients or practice is None:
        return
    subject = ("A client sent you a message" if from_client
               else f"A new message from {practice.name}")
    for person in recipients:
        mail = emails.compose("message_waiting", subject, practice=practice,
                              name=person.first_name, for_client=not from_client,
                              link=links.thread(thread), account_link=links.account())
        outbox.queue(session, to=person.email, email=mail, kind="message_waiting", now=now)


def set_message_emails(session: Session, user: User, on: bool, *, now: datetime,
                       ip: str | None = None) -> bool:
    """Turn the "a message is waiting" emails on or off for oneself; False when unchanged."""
    if user.message_emails == on:
        return False
    user.message_emails = on
    session.flush()
    audit.record(session, actor=user, subject=user, action="account.message_emails_changed",
                 now=now, ip=ip, on=on)
    return True


# --- reading a thread -------------------------------------------------------------------------


def get_thread(session: Session, actor: User, thread_id: int) -> MessageThread:
    """A thread the actor may see, with its client and what it is about (one query);
    NotFound otherwise."""
    thread = session.scalar(
        select(MessageThread).where(MessageThread.id == thread_id)
        .options(joinedload(MessageThread.client), joinedload(MessageThread.exercise),
                 joinedload(MessageThread.programme_version),
                 joinedload(MessageThread.appointment)))
    return _visible(actor, thread)


@dataclass(frozen=True)
class ThreadView:
    """A thread as one side reads it: its messages oldest first, and which of them arrived
    since that side last looked."""

    thread: MessageThread
    messages: list[Message]
    new: frozenset[int] = field(default_factory=frozenset)


def read_thread(session: Session, actor: User, thread: MessageThread, *, now: datetime,
                ip: str | None = None) -> ThreadView:
    """The thread's messages; those from the other side not read yet are marked read now
    (the read receipt), and a therapist's reading is audited. One query and, when there is
    something to mark, an update; one insert for a therapist."""
    _visible(actor, thread)
    messages = list(session.scalars(
        select(Message).where(Message.thread_id == thread.id)
        .options(joinedload(Message.author))
        .order_by(Message.created_at, Message.id)))
    # The client reads the practice's messages; any therapist reads the client's.
    theirs = actor.is_therapist
    new = frozenset(m.id for m in messages if m.from_client is theirs and m.read_at is None)
    if new:
        # The ORM update also sets read_at on the messages loaded above (synchronize_session
        # evaluates the condition in Python), so the page shows the receipt it just wrote.
        session.execute(update(Message).where(
            Message.thread_id == thread.id, Message.from_client == theirs,
            Message.read_at.is_(None)).values(read_at=now))
    if actor.is_therapist:
        audit.record(session, actor=actor, subject=thread.client, action="message_thread.read",
                     now=now, ip=ip, thread=thread.id)
    session.flush()
    return ThreadView(thread=thread, messages=messages, new=new)


# --- lists and counts -------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadRow:
    """A thread in a list, with how many messages in it wait for the reader."""

    thread: MessageThread
    unread: int


@dataclass(frozen=True)
class ThreadPage:
    """One page of threads, and how many threads each inbox filter holds (therapist)."""

    rows: list[ThreadRow]
    page: int
    pages: int
    total: int
    filter: str = "all"
    counts: dict[str, int] = field(default_factory=dict)
    client: User | None = None


def _waiting(for_practice: bool):
    """SQL: how many messages in the thread (correlated) wait for the reader: the client's
    for the practice, the practice's for the client."""
    return (select(func.count(Message.id))
            .where(Message.thread_id == MessageThread.id, Message.from_client == for_practice,
                   Message.read_at.is_(None))
            .correlate(MessageThread).scalar_subquery())


def _unread_threads():
    """SQL: the ids of threads with a client's message no therapist has read yet."""
    return select(Message.thread_id).where(Message.from_client == True,  # noqa: E712
                                           Message.read_at.is_(None))


def unread_from_client(client_id_column):
    """SQL: how many of a client's messages (the client's id column, correlated) no therapist
    has read yet, for lists of clients."""
    return (select(func.count(Message.id))
            .join(MessageThread, Message.thread_id == MessageThread.id)
            .where(MessageThread.client_id == client_id_column,
                   Message.from_client == True,  # noqa: E712
                   Message.read_at.is_(None))
            .scalar_subquery())


TOPIC_LOADERS = (joinedload(MessageThread.exercise), joinedload(MessageThread.programme_version),
                 joinedload(MessageThread.appointment))


def _pages(total: int, page: int, per_page: int) -> tuple[int, int]:
    """(page, pages): a page past the end shows the last one."""
    pages = max(1, math.ceil(total / per_page))
    return min(max(1, page), pages), pages


def client_threads(session: Session, client: User, page: int = 1,
                   per_page: int = PAGE_SIZE) -> ThreadPage:
    """The client's own threads, newest activity first, each with the replies they have not
    read; one page (two queries)."""
    if not client.is_client:
        raise PermissionDenied("Only a client has their own conversations.")
    condition = MessageThread.client_id == client.id
    total = session.scalar(select(func.count(MessageThread.id)).where(condition)) or 0
    page, pages = _pages(total, page, per_page)
    unread = _waiting(for_practice=False)
    rows = [ThreadRow(thread=thread, unread=count) for thread, count in session.execute(
        select(MessageThread, unread).where(condition).options(*TOPIC_LOADERS)
        .order_by(MessageThread.last_message_at.desc(), MessageThread.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).unique()]
    return ThreadPage(rows=rows, page=page, pages=pages, total=total)


def client_unread(session: Session, client: User) -> int:
    """How many of the practice's messages to the client wait to be read (one query)."""
    return session.scalar(
        select(func.count(Message.id)).join(MessageThread, Message.thread_id == MessageThread.id)
        .where(MessageThread.client_id == client.id, Message.from_client == False,  # noqa: E712
               Message.read_at.is_(None))) or 0


def _require_therapist(actor: User) -> None:
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist reads the practice's messages.")


def parse_filter(value: str | None) -> str:
    """An inbox filter from the query string; anything unknown is the default, "open"."""
    return value if value in INBOX_FILTERS else "open"


def inbox(session: Session, actor: User, *, filter: str = "open", page: int = 1,
          client: User | None = None, per_page: int = PAGE_SIZE) -> ThreadPage:
    """The practice's threads (one client's, when given) under a filter: threads with unread
    messages first, then newest activity first; with each filter's count for the tabs. Two
    queries, whatever the size of the practice."""
    _require_therapist(actor)
    filter = parse_filter(filter)
    scope = [MessageThread.client_id == client.id] if client is not None else []
    conditions = {
        "open": MessageThread.status == ThreadStatus.OPEN,
        "unread": MessageThread.id.in_(_unread_threads()),
        "done": MessageThread.status == ThreadStatus.DONE,
        "all": None,
    }

    def count(condition):
        where = [*scope, *([condition] if condition is not None else [])]
        return (select(func.count(MessageThread.id)).where(*where)
                .scalar_subquery())

    totals = session.execute(select(*(count(c).label(n) for n, c in conditions.items()))).one()
    counts = {name: int(getattr(totals, name) or 0) for name in conditions}
    total = counts[filter]
    page, pages = _pages(total, page, per_page)
    unread = _waiting(for_practice=True)
    where = [*scope, *([conditions[filter]] if conditions[filter] is not None else [])]
    result = session.execute(
        select(MessageThread, unread).where(*where)
        .options(joinedload(MessageThread.client), *TOPIC_LOADERS)
        .order_by(case((unread > 0, 0), else_=1), MessageThread.last_message_at.desc(),
                  MessageThread.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).unique()
    rows = [ThreadRow(thread=thread, unread=n) for thread, n in result]
    return ThreadPage(rows=rows, page=page, pages=pages, total=total, filter=filter,
                      counts=counts, client=client)


@dataclass(frozen=True)
class UnreadSummary:
    """What waits for the practice: unread messages from clients, the threads they are in,
    and the newest of those threads."""

    messages: int
    threads: int
    rows: list[ThreadRow]


def unread_summary(session: Session, actor: User,
                   limit: int = DASHBOARD_THREADS) -> UnreadSummary:
    """For the dashboard: the unread messages from clients and the threads holding the newest
    of them (two queries, however many there are)."""
    _require_therapist(actor)
    messages, threads = session.execute(
        select(func.count(Message.id), func.count(func.distinct(Message.thread_id)))
        .where(Message.from_client == True, Message.read_at.is_(None))  # noqa: E712
    ).one()
    unread = _waiting(for_practice=True)
    rows = [ThreadRow(thread=thread, unread=n) for thread, n in session.execute(
        select(MessageThread, unread).where(MessageThread.id.in_(_unread_threads()))
        .options(joinedload(MessageThread.client))
        .order_by(MessageThread.last_message_at.desc(), MessageThread.id.desc())
        .limit(limit)).unique()]
    return UnreadSummary(messages=messages or 0, threads=threads or 0, rows=rows)


# --- beside the thread: the client's record at a glance ---------------------------------------


@dataclass(frozen=True)
class ThreadContext:
    """What the therapist wants beside a thread: the client's programme now (and the item of
    the exercise asked about, if it is still in it), pain reports not yet seen, the next
    session, and whether the account was erased."""

    version: ProgrammeVersion | None
    item: ProgrammeItem | None
    pain_open: int
    next_appointment: Appointment | None
    erased: bool

    @property
    def asked_on_current(self) -> bool:
        """True when the client asked about the version that is still current."""
        return self.version is not None and self.item is not None


def thread_context(session: Session, actor: User, thread: MessageThread, *,
                   now: datetime) -> ThreadContext:
    """The client's record at a glance beside one of their threads (five queries)."""
    _require_therapist(actor)
    client = thread.client
    version = programme_service.current_version(session, client, with_ladders=False)
    item = None
    if version is not None and thread.exercise_id is not None:
        item = next((i for i in version.items if i.exercise_id == thread.exercise_id), None)
    pain_open = session.scalar(
        select(func.count(CompletionLog.id))
        .where(CompletionLog.client_id == client.id, CompletionLog.pain,
               CompletionLog.pain_acknowledged_at.is_(None))) or 0
    upcoming = session.scalars(
        select(Appointment)
        .where(Appointment.client_id == client.id, Appointment.starts_at > now,
               Appointment.status == AppointmentStatus.BOOKED)
        .order_by(Appointment.starts_at).limit(1)).first()
    return ThreadContext(version=version, item=item, pain_open=pain_open,
                         next_appointment=upcoming, erased=_erased(session, client.id))


RECORD_THREADS = 10


def record_threads(session: Session, actor: User, client: User,
                   limit: int = RECORD_THREADS) -> ThreadPage:
    """The client's newest threads for their record, with the messages waiting for the
    practice, and how many threads there are in all (two queries)."""
    _require_therapist(actor)
    total = session.scalar(select(func.count(MessageThread.id))
                           .where(MessageThread.client_id == client.id)) or 0
    unread = _waiting(for_practice=True)
    rows = [ThreadRow(thread=thread, unread=n) for thread, n in session.execute(
        select(MessageThread, unread).where(MessageThread.client_id == client.id)
        .options(*TOPIC_LOADERS)
        .order_by(case((unread > 0, 0), else_=1), MessageThread.last_message_at.desc(),
                  MessageThread.id.desc())
        .limit(limit)).unique()]
    return ThreadPage(rows=rows, page=1, pages=1, total=total, client=client)
