"""Enquiries from the public "Get in touch" form: taking them in, the therapist's inbox, replies
by email, and how long they are kept.

An enquiry is stored before anything else happens, so it is never lost: the emails about it
(a note to each therapist, a confirmation to the sender) are queued in the same transaction
and go out through the outbox, retried like every other email.

Anyone can type any address into the form, so the emails it causes carry nothing the sender
wrote: the therapist's note says only that an enquiry waits and which article it came from
(the name and message wait in the portal, like client messages), and the confirmation says only
that the practice will reply. The
form cannot be used to send someone else words of the sender's choosing, and at most
CONFIRMATIONS_PER_DAY confirmations go to one address in a day however often it is typed.

Enquiries are personal data of people who may never become clients. They are kept while
the therapist deals with them, and deleted DONE_KEPT_DAYS after they were marked done (by
`flask purge-expired`); the therapist can delete one at once when its sender asks, and
erasing a client's account deletes the enquiries sent from that client's address.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.models import (
    Article,
    Enquiry,
    EnquiryReply,
    EnquiryStatus,
    OutboxMessage,
    Practice,
    Role,
    User,
)
from portal.services import accounts, articles, audit, emails, outbox, wording
from portal.services import practice as practice_service
from portal.services.errors import InvalidInput, NotFound, PermissionDenied
from portal.services.validation import clean_text

NAME_MAX = 120
MESSAGE_MAX = 3000
REPLY_MAX = 5000
CONFIRMATIONS_PER_DAY = 3
DONE_KEPT_DAYS = 365
PAGE_SIZE = 25
PURGE_BATCH = 200


@dataclass(frozen=True)
class EnquiryInput:
    """What the sender typed; `article_slug` names the article they asked from, if any."""

    name: str
    email: str
    message: str
    consent: bool
    article_slug: str | None = None


@dataclass(frozen=True)
class EnquiryLinks:
    """Absolute links for the emails (built by the web layer, which knows the site's address):
    the therapist's page for an enquiry, an article's public page, and the front page."""

    enquiry: Callable[[Enquiry], str]
    article: Callable[[Article], str]
    front_page: str


@dataclass(frozen=True)
class EnquiryPage:
    """One page of enquiries of one status, newest first."""

    enquiries: list[Enquiry]
    status: EnquiryStatus
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class Counts:
    """How many enquiries wait: not opened yet, and not done."""

    unread: int
    new: int


def _require_therapist(actor: User) -> None:
    if not actor.is_therapist:
        raise PermissionDenied("Only a therapist can read enquiries.")


def _one_line(value: str, field: str, limit: int, required: str) -> str:
    text = " ".join(clean_text(value, field, limit, required=required).split())
    if "\x00" in text:
        raise InvalidInput(field, "Remove the invisible control characters.")
    return text


def _text(value: str, field: str, limit: int, required: str) -> str:
    text = clean_text((value or "").replace("\r\n", "\n"), field, limit, required=required)
    if "\x00" in text:
        raise InvalidInput(field, "Remove the invisible control characters.")
    return text


# --- taking one in --------------------------------------------------------------------------


def submit(session: Session, data: EnquiryInput, now: datetime, links: EnquiryLinks) -> Enquiry:
    """Store an enquiry and queue the emails about it (see the module's docstring)."""
    name = _one_line(data.name, "name", NAME_MAX, "Enter your name.")
    email = accounts.normalise_email(data.email or "")
    message = _text(data.message, "message", MESSAGE_MAX, "Write your question or message.")
    if not data.consent:
        raise InvalidInput("consent", "Tick the box so that we may reply to you.")
    article = None
    if data.article_slug:
        try:
            article = articles.find_live(session, data.article_slug, now)
        except NotFound:
            article = None  # taken down since the form was opened: the question still counts
    enquiry = Enquiry(name=name, email=email, message=message, consent=True,
                      article_id=article.id if article else None,
                      status=EnquiryStatus.NEW, received_at=now)
    session.add(enquiry)
    session.flush()
    practice = accounts.get_practice(session)
    about = article.title if article else None
    for therapist in session.scalars(select(User).where(User.role == Role.THERAPIST,
                                                        User.active).order_by(User.id)):
        mail = emails.compose(
            "enquiry_received", "A new enquiry is waiting",
            practice=practice, name=therapist.first_name, about=about,
            link=links.enquiry(enquiry))
        outbox.queue(session, to=therapist.email, email=mail, kind="enquiry_received", now=now)
    if _confirmations_today(session, email, now) < CONFIRMATIONS_PER_DAY:
        mail = emails.compose(
            "enquiry_confirmation", f"We have your message: {practice.name}",
            practice=practice, about=about,
            article_link=links.article(article) if article else None,
            home_link=links.front_page)
        outbox.queue(session, to=email, email=mail, kind="enquiry_confirmation", now=now)
    return enquiry


def _confirmations_today(session: Session, email: str, now: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.kind == "enquiry_confirmation", OutboxMessage.to_addr == email,
               OutboxMessage.created_at > now - timedelta(days=1))) or 0


# --- the therapist's inbox ------------------------------------------------------------------


def counts(session: Session) -> Counts:
    """Unread and not-done enquiries (one query)."""
    unread, new = session.execute(select(
        func.count().filter(Enquiry.read_at.is_(None)),
        func.count().filter(Enquiry.status == EnquiryStatus.NEW),
    ).select_from(Enquiry)).one()
    return Counts(unread=unread or 0, new=new or 0)


def listing(session: Session, actor: User, status: EnquiryStatus, page: int = 1,
            per_page: int = PAGE_SIZE) -> EnquiryPage:
    """Enquiries of one status, newest first, a page at a time (three queries)."""
    _require_therapist(actor)
    total = session.scalar(select(func.count()).select_from(Enquiry)
                           .where(Enquiry.status == status)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), pages)
    rows = list(session.scalars(
        select(Enquiry).where(Enquiry.status == status)
        .options(joinedload(Enquiry.article), selectinload(Enquiry.replies))
        .order_by(Enquiry.received_at.desc(), Enquiry.id.desc())
        .offset((page - 1) * per_page).limit(per_page)))
    return EnquiryPage(enquiries=rows, status=status, page=page, pages=pages, total=total)


def get(session: Session, actor: User, enquiry_id: int) -> Enquiry:
    """One enquiry with its article and replies, or NotFound."""
    _require_therapist(actor)
    enquiry = session.scalar(
        select(Enquiry).where(Enquiry.id == enquiry_id)
        .options(joinedload(Enquiry.article),
                 selectinload(Enquiry.replies).joinedload(EnquiryReply.outbox_message)))
    if enquiry is None:
        raise NotFound("No such enquiry.")
    return enquiry


def open_enquiry(session: Session, actor: User, enquiry_id: int, now: datetime) -> Enquiry:
    """The enquiry, marked read the first time a therapist opens it."""
    enquiry = get(session, actor, enquiry_id)
    if enquiry.read_at is None:
        enquiry.read_at = now
        session.flush()
    return enquiry


def reply(session: Session, actor: User, enquiry_id: int, body: str, now: datetime, *,
          mark_done: bool = False, ip: str | None = None) -> EnquiryReply:
    """Email a reply to the sender (through the outbox) and keep it with the enquiry."""
    enquiry = get(session, actor, enquiry_id)
    text = _text(body, "body", REPLY_MAX, "Write your reply.")
    practice = accounts.get_practice(session)
    mail = emails.compose(
        "enquiry_reply", f"Re: your question to {practice.name}",
        practice=practice, name=enquiry.name.split()[0], reply=text, therapist=actor.name,
        question=enquiry.message, asked_at=_asked_on(enquiry, practice))
    row = outbox.queue(session, to=enquiry.email, email=mail, kind="enquiry_reply", now=now)
    answer = EnquiryReply(enquiry=enquiry, author_id=actor.id, body=text, sent_at=now,
                          outbox_message_id=row.id)
    session.add(answer)
    enquiry.read_at = enquiry.read_at or now
    if mark_done:
        _set_done(enquiry, True, now)
    session.flush()
    audit.record(session, actor=actor, action="enquiry.replied", now=now, ip=ip,
                 enquiry=enquiry.id, done=True if mark_done else None)
    return answer


def _asked_on(enquiry: Enquiry, practice: Practice) -> str:
    return wording.timestamp(enquiry.received_at, practice_service.zone_of(practice))


def _set_done(enquiry: Enquiry, done: bool, now: datetime) -> None:
    enquiry.status = EnquiryStatus.DONE if done else EnquiryStatus.NEW
    enquiry.done_at = now if done else None


def set_done(session: Session, actor: User, enquiry_id: int, done: bool, now: datetime, *,
             ip: str | None = None) -> Enquiry:
    """Mark an enquiry done (dealt with) or new again."""
    enquiry = get(session, actor, enquiry_id)
    if (enquiry.status is EnquiryStatus.DONE) == done:
        return enquiry
    _set_done(enquiry, done, now)
    enquiry.read_at = enquiry.read_at or now
    session.flush()
    audit.record(session, actor=actor, now=now, ip=ip, enquiry=enquiry.id,
                 action="enquiry.done" if done else "enquiry.reopened")
    return enquiry


def delete_enquiry(session: Session, actor: User, enquiry_id: int, now: datetime, *,
                   ip: str | None = None) -> None:
    """Delete an enquiry and its replies at once (the sender asked to be forgotten), with the
    reply emails still waiting in the outbox; the audit row names it only by id."""
    enquiry = get(session, actor, enquiry_id)
    _delete(session, [enquiry.id])
    audit.record(session, actor=actor, action="enquiry.deleted", now=now, ip=ip,
                 enquiry=enquiry_id)


def _delete(session: Session, ids: list[int]) -> int:
    """Delete enquiries with their replies, and the emails to their senders still held in the
    outbox (replies, and confirmations to an address no other enquiry came from)."""
    if not ids:
        return 0
    addresses = set(session.scalars(select(Enquiry.email).where(Enquiry.id.in_(ids))))
    reply_mail = [i for i in session.scalars(
        select(EnquiryReply.outbox_message_id).where(EnquiryReply.enquiry_id.in_(ids)))
        if i is not None]
    session.execute(delete(EnquiryReply).where(EnquiryReply.enquiry_id.in_(ids)))
    result = session.execute(delete(Enquiry).where(Enquiry.id.in_(ids)))
    if reply_mail:
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(reply_mail)))
    still_asking = set(session.scalars(select(Enquiry.email).where(
        Enquiry.email.in_(addresses))))
    if addresses - still_asking:
        session.execute(delete(OutboxMessage).where(
            OutboxMessage.kind == "enquiry_confirmation",
            OutboxMessage.to_addr.in_(addresses - still_asking)))
    return result.rowcount


# --- keeping --------------------------------------------------------------------------------


def purge_done(session: Session, now: datetime, *, limit: int = PURGE_BATCH) -> int:
    """Delete enquiries marked done more than DONE_KEPT_DAYS ago; returns how many. Safe on
    several hosts at once (rows are claimed with FOR UPDATE SKIP LOCKED)."""
    cutoff = now - timedelta(days=DONE_KEPT_DAYS)
    ids = list(session.scalars(
        select(Enquiry.id).where(Enquiry.status == EnquiryStatus.DONE,
                                 Enquiry.done_at < cutoff)
        .order_by(Enquiry.done_at, Enquiry.id).limit(limit)
        .with_for_update(skip_locked=True)))
    deleted = _delete(session, ids)
    if deleted:
        audit.record(session, actor=None, action="enquiries.purged", now=now, count=deleted)
    session.flush()
    return deleted


def erase_address(session: Session, email: str) -> int:
    """Delete every enquiry sent from an address (an erased client's); returns how many."""
    ids = list(session.scalars(select(Enquiry.id).where(Enquiry.email == email.lower())))
    return _delete(session, ids)
