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


def apply(response: Response) -> Response:
    """after_request: strict CSP, no sniffing, no framing, no caching of dynamic pages."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    headers.setdefault(
        "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
    )
    if current_app.config["PORTAL_ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    # Pages can carry health data: never keep them in a shared or browser cache. A view may
    # opt in to the browser's own cache by marking its response private (uploaded exercise
    # pictures, which carry no personal data); shared caches still keep out.
    if request.endpoint != "static" and not response.cache_control.private:
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Pragma", "no-cache")
    return response
