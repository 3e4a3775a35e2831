"""Small input checks shared by the services: whole numbers in a range and bounded text."""

from __future__ import annotations

from portal.services.errors import InvalidInput


def check_int(value: object, field: str, low: int, high: int, message: str) -> int:
    """A whole number within [low, high], or InvalidInput(field, message)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, "Enter a whole number.")
    if not low <= value <= high:
        raise InvalidInput(field, message)
    return value


def clean_text(value: str | None, field: str, limit: int, *, required: str | None = None) -> str:
    """Trimmed text no longer than limit; `required` is the message when it may not be empty."""
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(field, required)
    if len(text) > limit:
        raise InvalidInput(field, f"Use at most {limit:,} characters.")
    return text
