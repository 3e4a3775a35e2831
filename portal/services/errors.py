"""Domain errors. The web layer maps them to pages and form messages."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a rule of the practice said no."""

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The thing does not exist, or the actor may not know it exists."""


class PermissionDenied(DomainError):
    """The actor may not do this."""


class Conflict(DomainError):
    """The change clashes with the current state (taken slot, stale page)."""


class InvalidInput(DomainError):
    """One field's value breaks a rule; `field` names the form field to mark."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
