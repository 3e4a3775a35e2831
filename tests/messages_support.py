"""Helpers for the messages tests: links for the emails, a practice with two clients who each
have a programme and an appointment, and a way to add conversations quickly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from portal.models import MessageThread, User
from portal.services import messages
from portal.services.messages import MessageLinks
from tests.clients_support import NOW, Practice, book, give_programme, set_up_practice

LINKS = MessageLinks(thread=lambda thread: f"https://portal.test/messages/{thread.id}",
                     account=lambda: "https://portal.test/account/#message-emails")
SECRET = "My left hip pinches when I lean forward"


@dataclass
class People:
    """Jo (a therapist), Alex and Bea (clients), each client with a programme item and an
    appointment to ask about."""

    jo: User
    alex: User
    bea: User
    practice: Practice
    items: dict[int, int]  # client id -> programme item id
    appointments: dict[int, int]  # client id -> appointment id


def make_people(session: Session, make_therapist, make_client) -> People:
    """Jo, Alex and Bea, loaded in the session."""
    jo = session.get(User, make_therapist(name="Jo Fletcher", email="jo@example.com").id)
    alex = session.get(User, make_client(name="Alex Morgan", email="alex@example.com").id)
    bea = session.get(User, make_client(name="Bea Lund", email="bea@example.com").id)
    practice = set_up_practice(session, jo)
    items, appointments = {}, {}
    for n, client in enumerate((alex, bea)):
        items[client.id] = give_programme(session, practice, client)
        appointments[client.id] = book(session, practice, client,
                                       NOW + timedelta(days=2, hours=n)).id
    session.commit()
    return People(jo, alex, bea, practice, items, appointments)


def ask(session: Session, client: User, body: str = SECRET, *, subject: str = "A question",
        when=NOW, topic: messages.Topic = messages.GENERAL) -> MessageThread:
    """A client starts a conversation (general unless a topic is given)."""
    return messages.start_thread(session, client, topic=topic, subject=subject, body=body,
                                 now=when, links=LINKS)
