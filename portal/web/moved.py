"""Addresses that moved keep working: each old rule answers with a permanent redirect (308, so
a form posted to it is posted again, body and all) to the new endpoint, with the same URL
arguments and query string.

The old rule stays on its old blueprint, so the access guard answers it exactly as it answers
the new page (test_route_security checks the two declare the same access)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Blueprint, redirect, request, url_for


def moved(bp: Blueprint, rule: str, endpoint: str, *,
          methods: Iterable[str] = ("GET",)) -> Callable:
    """Register `rule` on `bp` as a 308 redirect to `endpoint`; returns the view."""

    def view(**values):
        target = url_for(endpoint, **values)
        query = request.query_string.decode("latin-1")
        return redirect(f"{target}?{query}" if query else target, code=308)

    view.__doc__ = f"Moved: a permanent redirect to {endpoint}."
    view.moved_to = endpoint  # type: ignore[attr-defined]
    name = "moved_" + endpoint.replace(".", "_")
    bp.add_url_rule(rule, name, view, methods=list(methods))
    return view
