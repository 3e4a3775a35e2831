"""Form pieces built from the table of dose limits (portal.models.dose), so a form's range
check, its error message and the inputs' min and max (which programmes.js reads) cannot drift
from what the service and the database allow."""

from __future__ import annotations

from wtforms.validators import NumberRange

from portal.services.dose import Limit


def within_limit(limit: Limit) -> NumberRange:
    """The limit as a validator, so every mistake shows at once (the service checks again)."""
    return NumberRange(limit.low, limit.high, limit.message)


def limit_attrs(limit: Limit) -> dict[str, object]:
    """render_kw for a whole-number input: the browser's min and max come from the limit."""
    return {"inputmode": "numeric", "min": limit.low, "max": limit.high}
