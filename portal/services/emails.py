"""Composes emails from the templates in templates/email/ (plain text and HTML parts)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from portal.config import PROJECT_ROOT


@dataclass(frozen=True)
class Email:
    """A composed email, ready to queue."""

    subject: str
    text: str
    html: str


@cache
def _environment() -> Environment:
    # A plain Jinja environment, not Flask's: emails are composed from services and CLI
    # commands too, where no request exists.
    return Environment(
        loader=FileSystemLoader(PROJECT_ROOT / "templates" / "email"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def compose(template: str, subject: str, **context: object) -> Email:
    """Render `<template>.txt` and `<template>.html` with the same context."""
    env = _environment()
    context = {"subject": subject, **context}
    text = env.get_template(f"{template}.txt").render(context)
    html = env.get_template(f"{template}.html").render(context)
    return Email(subject=subject, text=text.strip() + "\n", html=html)
