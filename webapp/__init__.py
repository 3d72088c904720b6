"""The HTTP edge of gridlink: the app factory, request-scoped sessions, error rendering, security headers."""

from __future__ import annotations

import os
import secrets
from typing import Any

from flask import Flask, current_app, g, request
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Executable, Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from grids.db import make_engine, session_factory
from grids.errors import Invalid
from webapp.config import load_config

csrf = CSRFProtect()
babel = Babel()
LANGUAGES = ("zh_CN", "en")


def select_locale() -> str:
    """Chinese first; English when the user chose it (cookie) or asked for it (?lang=en)."""
    choice = request.args.get("lang") or request.cookies.get("lang")
    return choice if choice in LANGUAGES else "zh_CN"


def remember_language(response: Any, code: str) -> None:
    """The reader's language for the pages that follow (a year; the switch in the header, or ?lang=)."""
    if code in LANGUAGES and request.cookies.get("lang") != code:
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                            secure=current_app.config["SESSION_COOKIE_SECURE"])


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides the environment (tests pass DB_BIND, a connection to join)."""
    app = Flask(__name__)
    overrides = {k: v for k, v in (config or {}).items() if isinstance(v, str)}
    app.config.update(load_config({**os.environ, **overrides}))
    app.config.update(config or {})
    bind = app.config.get("DB_BIND")
    if bind is None:
        engine = make_engine(app.config["DATABASE_URL"]) if app.config["DATABASE_URL"] else make_engine()
        app.extensions["gridlink.sessions"] = session_factory(engine)
        # Read-only hot paths (tiles): autocommit, so no BEGIN/COMMIT round trips, and no ping per checkout.
        app.extensions["gridlink.reads"] = make_engine(engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    _register_request_hooks(app)
    from webapp import auth, dispatch, errors, frontage, pages, plan, tiles, township
    from webapp.cli import ALL_COMMANDS

    errors.register(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    from webapp import api

    api.register(app)
    app.register_blueprint(dispatch.bp)
    app.register_blueprint(township.bp)
    app.register_blueprint(frontage.bp)
    app.register_blueprint(plan.bp)
    app.register_blueprint(tiles.bp)
    from webapp.labels import city_time, duration_label, level_label, role_label, routing_text, status_label

    for command in ALL_COMMANDS:
        app.cli.add_command(command)
    app.jinja_env.globals.update(nav_for=auth.nav_for, current_user=auth.current_user, role_label=role_label,
                                 status_label=status_label, level_label=level_label, duration_label=duration_label,
                                 routing_text=routing_text, city_time=city_time,
                                 get_locale=get_locale)
    return app


def db() -> Session:
    """The request's session; the request commits it once (see _register_request_hooks)."""
    if "db" not in g:
        from flask import current_app

        bind = current_app.config.get("DB_BIND")
        if bind is not None:
            g.db = Session(bind=bind, join_transaction_mode="create_savepoint", expire_on_commit=False)
        else:
            g.db = current_app.extensions["gridlink.sessions"]()
    return g.db


def read_one(statement: Executable, params: dict[str, Any] | None = None) -> Row[Any] | None:
    """The first row of a read-only statement (with `params`) in one round trip: no ORM session, BEGIN or COMMIT.

    Tests (DB_BIND) read on their own connection, so they see their uncommitted rows. The read pool skips
    the liveness ping; a connection that a database restart dropped fails once, SQLAlchemy discards it,
    and the statement is retried on a fresh one (a read is safe to repeat).
    """
    from flask import current_app

    bind = current_app.config.get("DB_BIND")
    if bind is not None:
        return bind.execute(statement, params).first()
    reads = current_app.extensions["gridlink.reads"]
    try:
        with reads.connect() as conn:
            return conn.execute(statement, params).first()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with reads.connect() as conn:  # SQLAlchemy has emptied the pool of the dropped connections
        return conn.execute(statement, params).first()


def _nul_in(value: Any, where: str) -> str | None:
    """Where in a JSON value a NUL character hides (a key or a string), or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        return next((f"{where}.{key}" for key, item in value.items()
                     if "\x00" in key or _nul_in(item, "") is not None), None)
    if isinstance(value, list):
        return next((f"{where}[{i}]" for i, item in enumerate(value) if _nul_in(item, "") is not None), None)
    return None


def _nul_field() -> str | None:
    """The first field of the request (query, form or JSON body) holding a NUL character: PostgreSQL text cannot
    store one, so every surface refuses it up front (422) instead of failing in the database (500)."""
    for name, value in (*request.args.items(multi=True), *request.form.items(multi=True)):
        if "\x00" in name or "\x00" in value:
            return name
    return _nul_in(request.get_json(silent=True), "body") if request.is_json else None


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.before_request
    def _refuse_nul() -> None:
        field = _nul_field()
        if field is not None:
            raise Invalid(f"{field.removeprefix('body.')} contains a NUL character (\\u0000), which text cannot"
                          " hold: remove it", code="nul_character", details=[field.removeprefix("body.")])

    @app.after_request
    def _commit_and_secure(response: Any) -> Any:
        session = g.pop("db", None)
        if session is not None:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
            session.close()
        _security_headers(app, response)
        remember_language(response, request.args.get("lang", ""))  # a /login?lang=en link stays English after login
        return response

    @app.teardown_request
    def _close(exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.rollback()
            session.close()


def _security_headers(app: Flask, response: Any) -> None:
    """A CSP with no 'unsafe-inline' scripts: inline scripts carry the request's nonce."""
    img_src = "'self' data: blob:"
    basemap = app.config.get("GRIDLINK_BASEMAP_URL")
    if basemap:
        from urllib.parse import urlsplit

        parts = urlsplit(basemap)  # a "{s}" subdomain placeholder becomes the CSP wildcard "*"
        img_src += f" {parts.scheme}://{parts.netloc.replace('{s}', '*')}"
    nonce = g.get("csp_nonce")  # none when a request is refused before the hooks ran (a 413 body, say)
    scripts = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    response.headers.setdefault("Content-Security-Policy", (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        f"img-src {img_src}; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
