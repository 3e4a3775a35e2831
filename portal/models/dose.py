"""The limits of a dose and its schedule: the one table the database constraints, the
services' checks, the forms and (through the inputs' min and max) the programmes script read.

It lives among the models because the CHECK constraints are generated from it and models
import nothing above them; portal.services.dose is its public face for everyone else.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import CheckConstraint


@dataclass(frozen=True)
class Limit:
    """The whole numbers a field may hold, and the sentence that says so."""

    field: str
    low: int
    high: int
    # Worded with {low} and {high}, so the numbers are written once, above.
    wording: str

    @property
    def message(self) -> str:
        """What to tell someone whose value is outside the range."""
        return self.wording.format(low=self.low, high=self.high)

    def allows(self, value: int) -> bool:
        """True when the value is within the range, both ends included."""
        return self.low <= value <= self.high

    def check(self, name: str) -> CheckConstraint:
        """A CHECK constraint for the column; a fresh object, as each table needs its own."""
        return CheckConstraint(f"{self.field} BETWEEN {self.low} AND {self.high}", name=name)


HOLD_SECONDS = Limit("hold_seconds", 0, 300, "Hold for {low} to {high} seconds.")
REPS = Limit("reps", 0, 100, "Use {low} to {high} reps.")
SETS = Limit("sets", 1, 10, "Use {low} to {high} sets or rounds.")
TIMES_PER_DAY = Limit("times_per_day", 1, 6, "Use {low} to {high} times a day.")
DAYS_PER_WEEK = Limit("days_per_week", 1, 7, "Use {low} to {high} days a week.")

# Field name -> limit, in the order the programme form shows the fields.
DOSE_LIMITS: dict[str, Limit] = {limit.field: limit for limit in (HOLD_SECONDS, REPS, SETS)}
SCHEDULE_LIMITS: dict[str, Limit] = {limit.field: limit for limit in (TIMES_PER_DAY,
                                                                     DAYS_PER_WEEK)}
LIMITS: dict[str, Limit] = {**DOSE_LIMITS, **SCHEDULE_LIMITS}
