"""Who may open which route. Every route is closed unless it says who it is for.

A view is marked with @public or @roles(...), or inherits its blueprint's roles from
restrict(). The app-wide guard sends strangers to the login page and refuses (403) any
signed-in user a route that declares nothing, so a route that forgets its check fails closed
and the route-walking tests catch it.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, abort, current_app, request
from flask_login import current_user

from portal.extensions import login_manager
from portal.models import Role

PUBLIC = "public"
_BLUEPRINT_ROLES: dict[str, frozenset[Role]] = {}


def public(view: Callable) -> Callable:
    """Anyone, signed in or not, may open this route."""
    view._access = PUBLIC  # type: ignore[attr-defined]
    return view


def roles(*allowed: Role) -> Callable[[Callable], Callable]:
    """Only signed-in users with one of these roles may open this route."""

    def mark(view: Callable) -> Callable:
        view._access = frozenset(allowed)  # type: ignore[attr-defined]
        return view

    return mark


def restrict(blueprint: Blueprint, *allowed: Role) -> None:
    """Every route of the blueprint is for these roles unless the view says otherwise."""
    _BLUEPRINT_ROLES[blueprint.name] = frozenset(allowed)


def open_during_enrolment(view: Callable) -> Callable:
    """A page a therapist who has no second factor yet may open (setting one up); every other
    page sends them there first (portal.web.second_factor.require_enrolment)."""
    view._open_during_enrolment = True  # type: ignore[attr-defined]
    return view


def is_open_during_enrolment(app: Flask, endpoint: str) -> bool:
    """True for public routes and the pages that set up a second factor."""
    view = app.view_functions.get(endpoint)
    return (access_of(app, endpoint) == PUBLIC
            or bool(getattr(view, "_open_during_enrolment", False)))


def access_of(app: Flask, endpoint: str) -> str | frozenset[Role] | None:
    """The declared access of an endpoint: PUBLIC, a set of roles, or None (undeclared)."""
    if endpoint == "static":
        return PUBLIC
    view = app.view_functions.get(endpoint)
    declared = getattr(view, "_access", None)
    if declared is not None:
        return declared
    blueprint = endpoint.rpartition(".")[0]
    return _BLUEPRINT_ROLES.get(blueprint)


def guard():
    """before_request: send strangers to the login page and refuse the wrong role."""
    if request.endpoint is None:
        return None  # 404 or 405 follows
    access = access_of(current_app, request.endpoint)
    if access == PUBLIC:
        return None
    # Strangers go to the login page whatever the route declares, so every non-public URL
    # answers them the same way.
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if access is None:
        current_app.logger.error("route %s declares no access; refused", request.endpoint)
        abort(403)
    if current_user.role not in access:
        abort(403)
    return None
