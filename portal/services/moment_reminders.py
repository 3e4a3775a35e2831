"""Moment reminder times: the local time of day the client wants to be reminded of the
exercises of each moment (morning, work break, after training, before bed).
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Moment, MomentTime, User
from portal.services import audit
from portal.services.errors import InvalidInput


def moment_times(session: Session, client: User) -> dict[Moment, time]:
    """The local times the client picked for moment reminders (one query)."""
    return {row.moment: row.local_time for row in session.scalars(
        select(MomentTime).where(MomentTime.client_id == client.id))}


def set_moment_time(session: Session, client: User, moment: Moment | str,
                    local_time: time | None, now: datetime, *, ip: str | None = None) -> None:
    """Set (or with None, clear) the local time of one moment's reminder; a change is
    audited (the client's own choice, but part of how their programme reaches them)."""
    try:
        moment = Moment(moment)
    except ValueError as exc:
        raise InvalidInput("moment", "Choose a moment from the list.") from exc
    if local_time is not None and not isinstance(local_time, time):
        raise InvalidInput(moment.value, "Enter a time like 07:30.")
    row = session.scalar(select(MomentTime).where(MomentTime.client_id == client.id,
                                                  MomentTime.moment == moment))
    if local_time is not None:
        local_time = local_time.replace(second=0, microsecond=0)
    before = row.local_time if row is not None else None
    if local_time is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(MomentTime(client_id=client.id, moment=moment, local_time=local_time))
    else:
        row.local_time = local_time
    if before != local_time:
        audit.record(session, actor=client, subject=client, action="programme.moment_time_set",
                     now=now, ip=ip, moment=moment.value,
                     time=local_time.strftime("%H:%M") if local_time else None)
    session.flush()
