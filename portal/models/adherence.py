"""The stored adherence summary: per client, what the current programme prescribes over the
first days of a week, and per client and week, the sessions done by the end of each day.

Derived data, kept current by services/adherence_summary.py whenever logs, programme versions
or the practice's time zone change; `flask rebuild-adherence` recomputes it from the logs.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base

DAYS = range(1, 8)


class AdherencePlan(Base):
    """What a client's current version prescribes, summed over its items: `due_k` is the
    sessions due over the first k days of a week the programme runs all of (k = 1 to 7).
    Only clients whose current version has items have a row."""

    __tablename__ = "adherence_plan"
    __table_args__ = tuple(CheckConstraint(f"due_{k} >= 0", name=f"due_{k}_positive")
                           for k in DAYS)

    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)
    # The local day (in the practice's zone) the programme started: no day before counts.
    start_day: Mapped[date] = mapped_column(Date)
    due_1: Mapped[int]
    due_2: Mapped[int]
    due_3: Mapped[int]
    due_4: Mapped[int]
    due_5: Mapped[int]
    due_6: Mapped[int]
    due_7: Mapped[int]


class AdherenceWeek(Base):
    """Sessions a client did in one Monday-to-Sunday week, counted by the adherence rule
    against the current version: `done_k` is the total by the end of the week's k-th day.
    Only weeks with logs have a row, and only recent weeks are kept."""

    __tablename__ = "adherence_week"
    __table_args__ = tuple(CheckConstraint(f"done_{k} >= 0", name=f"done_{k}_positive")
                           for k in DAYS)

    client_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    done_1: Mapped[int]
    done_2: Mapped[int]
    done_3: Mapped[int]
    done_4: Mapped[int]
    done_5: Mapped[int]
    done_6: Mapped[int]
    done_7: Mapped[int]
