"""The web layer: one blueprint per area, plus the app-wide guards and error pages."""

from __future__ import annotations

from flask import Flask, request

from portal.extensions import csrf, login_manager
from portal.web import (
    access,
    deps,
    errors,
    formatting,
    headers,
    hygiene,
    second_factor,
    sessions,
    transactions,
)


def _not_for_static_files(hook):
    """A before_request hook that needs the signed-in user, skipped for stylesheets and
    scripts: loading the user for each file would cost a query apiece, and while the database
    is down the outage page's own styles would fail with it."""

    def run():
        return None if request.endpoint == "static" else hook()

    return run


def init_app(app: Flask) -> None:
    """Register blueprints, request hooks, template helpers and error pages."""
    from portal.web.account.views import bp as account_bp
    from portal.web.appointments.views import bp as appointments_bp
    from portal.web.articles.views import bp as articles_bp
    from portal.web.ask.views import bp as ask_bp
    from portal.web.auth.views import bp as auth_bp
    from portal.web.booking.views import bp as booking_bp
    from portal.web.builder.views import bp as builder_bp
    from portal.web.calendar.views import bp as calendar_bp
    from portal.web.clients.views import bp as clients_bp
    from portal.web.dashboard.views import bp as dashboard_bp
    from portal.web.diary.views import bp as diary_bp
    from portal.web.enquiries.views import bp as enquiries_bp
    from portal.web.home.views import bp as home_bp
    from portal.web.intake.views import bp as intake_bp
    from portal.web.library.views import bp as library_bp
    from portal.web.messages.views import bp as messages_bp
    from portal.web.programme.views import bp as programme_bp
    from portal.web.programmes.views import bp as programmes_bp
    from portal.web.settings.views import bp as settings_bp
    from portal.web.sheet.views import bp as sheet_bp
    from portal.web.writing.views import bp as writing_bp

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    # Order matters: input hygiene, timeouts, then access (strangers go to the login page),
    # then a therapist without a second factor is sent to set one up, then CSRF.
    app.before_request(hygiene.reject_nul_bytes)
    app.before_request(_not_for_static_files(sessions.enforce_timeouts))
    app.before_request(access.guard)
    app.before_request(_not_for_static_files(second_factor.require_enrolment))
    csrf.init_app(app)
    app.after_request(headers.apply)

    for bp in (home_bp, auth_bp, account_bp, dashboard_bp, clients_bp, booking_bp, appointments_bp,
               intake_bp, diary_bp, calendar_bp, programme_bp, library_bp, sheet_bp,
               programmes_bp, builder_bp, settings_bp, messages_bp, articles_bp, ask_bp,
               writing_bp, enquiries_bp):
        app.register_blueprint(bp)
    errors.init_app(app)
    formatting.init_app(app)
    # Last, so it runs first among the after_request hooks: a commit that fails still gets
    # its error page and the security headers.
    transactions.init_app(app)

    @app.context_processor
    def inject_globals():
        return {"practice": deps.practice(), "current_endpoint": request.endpoint or "",
                "enrolment_needed": second_factor.enrolment_needed,
                "forget_this_device": sessions.must_forget}
