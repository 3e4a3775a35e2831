"""Security headers on every response."""

from __future__ import annotations

from flask import Response, current_app, request

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


_EVERYWHERE = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
_IN_PRODUCTION = {**_EVERYWHERE,
                  "Strict-Transport-Security": "max-age=63072000; includeSubDomains"}


def baseline(production: bool) -> dict[str, str]:
    """The security headers every response carries, pages and static files alike (WhiteNoise
    serves the latter before Flask sees them: portal/web/static_files.py)."""
    return _IN_PRODUCTION if production else _EVERYWHERE


def apply(response: Response) -> Response:
    """after_request: strict CSP, no sniffing, no framing, no caching of dynamic pages."""
    headers = response.headers
    for name, value in baseline(current_app.config["PORTAL_ENV"] == "production").items():
        headers.setdefault(name, value)
    # Pages can carry health data: never keep them in a shared or browser cache. A view may
    # opt in to the browser's own cache by marking its response private (uploaded exercise
    # pictures, which carry no personal data); shared caches still keep out.
    if request.endpoint != "static" and not response.cache_control.private:
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Pragma", "no-cache")
    return response
