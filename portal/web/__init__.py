"""The web layer: one blueprint per area, plus the app-wide guards and error pages."""

from __future__ import annotations

from flask import Flask, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import csrf, db, login_manager
from portal.models import Practice
from portal.web import access, errors, formatting, headers, sessions


def init_app(app: Flask) -> None:
    """Register blueprints, request hooks, template helpers and error pages."""
    from portal.web.account.views import bp as account_bp
    from portal.web.auth.views import bp as auth_bp
    from portal.web.dashboard.views import bp as dashboard_bp
    from portal.web.home.views import bp as home_bp

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    # Order matters: timeouts, then access (strangers go to the login page), then CSRF.
    app.before_request(sessions.enforce_timeouts)
    app.before_request(access.guard)
    csrf.init_app(app)
    app.after_request(headers.apply)

    for bp in (home_bp, auth_bp, account_bp, dashboard_bp):
        app.register_blueprint(bp)
    errors.init_app(app)
    formatting.init_app(app)

    @app.context_processor
    def inject_globals():
        try:
            practice = db.session.scalar(select(Practice).order_by(Practice.id).limit(1))
        except SQLAlchemyError:
            # The database is down: error pages must still render.
            db.session.rollback()
            practice = None
        return {"practice": practice, "current_endpoint": request.endpoint or ""}
