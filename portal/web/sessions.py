"""Signed-in sessions: starting and ending them, loading the user with the device each one
belongs to, and idle and absolute timeouts.

Flask-Login keeps one string for the signed-in user, in the session and (with "keep me
signed in") in the remember-me cookie: here it is "<user id>:<session version>:<device key>".
The version dies with "sign out everywhere" and every new password; the device key dies
when that one device is signed out (services/devices.py). Either way the session and the
remember-me cookie stop working together, because they carry the same string.
"""

from __future__ import annotations

from flask import after_this_request, current_app, flash, g, request, session
from flask_login import current_user, login_user, logout_user

from portal.extensions import db, login_manager
from portal.models import User
from portal.services import devices, throttle
from portal.web import device_cookie
from portal.web.deps import client_ip, now

# Sent with the response that signs a browser out: the browser then forgets its HTTP cache,
# Cache Storage, IndexedDB, localStorage and service workers for the site, so the next person
# on a shared phone finds nothing of the last one's Today. Not "cookies": the device cookie
# that vouches for this browser at sign-in (see login_guard) stays.
CLEAR_SITE_DATA = '"cache", "storage"'
# Noted in the (signed-out) session of a browser whose sign-in was ended elsewhere ("Your
# devices", sign out everywhere, a new password, a deactivated or erased account), until the
# browser confirms it has forgotten what it kept for offline use (static/js/forget.js).
FORGET = "forget_this_device"


def lifetimes() -> devices.Lifetimes:
    """How long sign-ins last, from the configuration."""
    return devices.Lifetimes.from_config(current_app.config)


def login_guard() -> throttle.Guard:
    """What accounts.authenticate needs to throttle this browser's attempt fairly."""
    return device_cookie.login_guard()


def trust_browser(user: User) -> None:
    """This browser proved it is the account holder's: vouch for it at the next sign-in."""
    device_cookie.trust(user)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Accept a session only when its version matches the user's current one and its device
    is still signed in."""
    raw_id, raw_version, key = (user_id.split(":", 2) + ["", ""])[:3]
    if not raw_id.isdigit() or not raw_version.isdigit() or not key:
        return None
    found = devices.find(db.session, int(raw_id), key, now=now(), lifetimes=lifetimes())
    if found is None:
        return None
    user, device = found
    if not user.is_active or user.session_version != int(raw_version):
        return None
    g.device = device
    return user


def current_device():
    """The device row of this request's session (None when nobody is signed in)."""
    return g.get("device") if current_user.is_authenticated else None


def device_name() -> str:
    """This browser as "Your devices" names it ("Chrome on Android"): its device row's name
    when signed in, else read from its User-Agent the same way (the sign-in steps)."""
    device = current_device()
    return device.description if device is not None else devices.describe(
        request.user_agent.string)


def start(user: User, *, remember: bool) -> None:
    """A fresh session, on a new device row, for a user who just proved who they are."""
    # A new session on every login: nothing from before survives (no fixation).
    had_remember_cookie = current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies
    session.clear()
    login_user(user, remember=remember)
    key = devices.new_key()
    g.device = devices.start(db.session, user, key=key, user_agent=request.user_agent.string,
                             ip=client_ip(), remember=remember, now=now())
    # login_user stored get_id(); the remember-me cookie is written from this same value
    # when the response goes out, so both carry the device key.
    session["_user_id"] = f"{user.get_id()}:{key}"
    # Without "keep me signed in" the cookie has no expiry: it ends with the browser.
    session.permanent = remember
    if not remember and had_remember_cookie:
        session["_remember"] = "clear"  # an older remember-me cookie must not outlive this
    trust_browser(user)
    stamp = now().timestamp()
    session["login_at"] = stamp
    session["seen_at"] = stamp
    session["remember"] = remember


def end(*, clear_site_data: bool = False) -> None:
    """Sign the current browser out: its device row ends and its session is forgotten.
    With clear_site_data (the person pressed "Sign out"), the browser is also told to
    delete what the site stored on it."""
    device = g.pop("device", None)
    if device is not None:
        devices.end(db.session, device, now())
    logout_user()
    session.clear()
    # logout_user() asks Flask-Login to delete the remember-me cookie through a session flag
    # that clear() just wiped; without it the browser would keep a (dead) cookie.
    session["_remember"] = "clear"
    if clear_site_data:
        after_this_request(_clear_site_data)


def must_forget() -> bool:
    """Whether this browser was signed out from elsewhere and has not yet confirmed that it
    forgot what it kept for offline use (base.html then loads static/js/forget.js)."""
    return bool(session.get(FORGET))


def forgotten() -> None:
    """The browser forgot what it kept (or is told to now, by this response's
    Clear-Site-Data, should its script have missed anything)."""
    session.pop(FORGET, None)
    after_this_request(_clear_site_data)


def _clear_site_data(response):
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


def enforce_timeouts():
    """before_request: sign out sessions idle or old beyond the configured limits, forget
    sessions whose device was signed out, and note when each device was last seen."""
    if not current_user.is_authenticated:
        remembered = current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies
        if "_user_id" in session or (remembered and session.get("_remember") != "clear"):
            # Signed out elsewhere (this device, or everywhere), or the account changed: drop
            # the dead cookies, and have the browser forget the Today it kept for offline
            # use, which it would otherwise go on showing to whoever holds the phone.
            session.clear()
            session["_remember"] = "clear"
            session[FORGET] = True
        return
    current = now().timestamp()
    if "login_at" not in session:
        # Restored from a remember-me cookie: this is a new session.
        session["login_at"] = current
        session["remember"] = True
    elif not session.get("remember"):
        idle = current_app.config["SESSION_IDLE_TIMEOUT"].total_seconds()
        absolute = current_app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds()
        was_idle = current - session.get("seen_at", 0) > idle
        if was_idle or current - session["login_at"] > absolute:
            end()
            # Someone signed out mid-task must not be told they were inactive.
            flash("You were signed out after a period of inactivity. Please sign in again."
                  if was_idle else
                  "For your security, sessions end after a few hours. Please sign in again.",
                  "info")
            return
    # Writing on every request would reissue the cookie each time; a minute is plenty.
    if current - session.get("seen_at", 0) > 60:
        session["seen_at"] = current
    device = current_device()
    if device is not None:
        devices.touch(device, ip=client_ip(), now=now())
