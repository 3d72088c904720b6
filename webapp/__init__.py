"""The HTTP edge of gridlink: the app factory, request-scoped sessions, error rendering, security headers."""

from __future__ import annotations

import os
import secrets
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, current_app, g, request, session
from flask.json.provider import DefaultJSONProvider
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Executable, Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from grids.db import make_engine, session_factory
from grids.errors import DomainError, Invalid
from grids.incidents import UNFIT_CHARACTERS
from webapp.config import load_config

csrf = CSRFProtect()
babel = Babel()
LANGUAGES = ("zh_CN", "en")


#: Paths programs call: they name their language per request (Accept-Language), and get no cookie for it.
API_PREFIXES = ("/api/", "/open311/")


def select_locale() -> str:
    """Chinese first; English when the user chose it (cookie) or asked for it (?lang=en), or when a program
    calling the API with a key prefers it (Accept-Language)."""
    choice = request.args.get("lang") or request.cookies.get("lang")
    # a logged-in page's own API calls speak the page's language, whatever the browser prefers
    if not choice and request.path.startswith(API_PREFIXES) and "user_id" not in session:
        choice = {"zh": "zh_CN", "en": "en"}.get((request.accept_languages.best_match(["zh", "en"]) or "")[:2])
    return choice if choice in LANGUAGES else "zh_CN"


def remember_language(response: Any, code: str) -> None:
    """The reader's language for the pages that follow (a year; the switch in the header, or ?lang=)."""
    if code in LANGUAGES and request.cookies.get("lang") != code and not request.path.startswith(API_PREFIXES):
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                            secure=current_app.config["SESSION_COOKIE_SECURE"])


class _JSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested too deeply for the parser is bad JSON (400/422), not a 500, and
    Chinese text is sent as UTF-8 (escaped as \\uXXXX it took twice the bytes)."""

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides the environment (tests pass DB_BIND, a connection to join)."""
    app = Flask(__name__)
    app.json = _JSONProvider(app)
    overrides = {k: v for k, v in (config or {}).items() if isinstance(v, str)}
    app.config.update(load_config({**os.environ, **overrides}))
    app.config.update(config or {})
    bind = app.config.get("DB_BIND")
    if bind is None:
        engine = make_engine(app.config["DATABASE_URL"]) if app.config["DATABASE_URL"] else make_engine()
        app.extensions["gridlink.sessions"] = session_factory(engine)
        # Read-only hot paths (tiles): autocommit, so no BEGIN/COMMIT round trips, and no ping per checkout.
        app.extensions["gridlink.reads"] = make_engine(engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False)
    if app.config["GRIDLINK_PROXIES"]:  # the client's address and scheme as the proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["GRIDLINK_PROXIES"],  # type: ignore[method-assign]
                                x_proto=app.config["GRIDLINK_PROXIES"])
    _register_request_hooks(app)  # first: the form checks read the raw body before CSRFProtect parses the form
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
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
    from webapp.labels import (
        city_time,
        data_credit,
        duration_label,
        level_label,
        role_label,
        routing_text,
        status_label,
    )

    for command in ALL_COMMANDS:
        app.cli.add_command(command)
    app.jinja_env.globals.update(nav_for=auth.nav_for, current_user=auth.current_user, role_label=role_label,
                                 status_label=status_label, level_label=level_label, duration_label=duration_label,
                                 routing_text=routing_text, city_time=city_time, error_text=errors.error_text,
                                 get_locale=get_locale, data_credit=data_credit)
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


def _unfit_in(value: Any, where: str) -> tuple[str, str] | None:
    """Where in a JSON value an unfit character hides (a key or a string), and the character; or None."""
    if isinstance(value, str):
        found = UNFIT_CHARACTERS.search(value)
        return (where, found.group()) if found else None
    pairs = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in pairs:
        inner = _unfit_in(key, "") or _unfit_in(item, "")
        if inner:
            return (f"{where}.{key}" if isinstance(value, dict) else f"{where}[{key}]"), inner[1]
    return None


def _unfit_field() -> tuple[str, str] | None:
    """The first field of the request (query, form or JSON body) holding an unfit character, and the character:
    every surface refuses it up front (422) instead of failing in the database (500) or in an XML answer."""
    for name, value in (*request.args.items(multi=True), *request.form.items(multi=True)):
        found = UNFIT_CHARACTERS.search(name + value)
        if found:
            return name, found.group()
    return _unfit_in(request.get_json(silent=True), "body") if request.is_json else None


def _form_encoding_problem() -> str | None:
    """Why a form body cannot be read as UTF-8 text, or None. Werkzeug keeps undecodable %XX escapes as the
    literal text "%B2%E2" and ignores a charset parameter: an old hotline system posting GBK would have its
    text stored garbled without a word, so such a body is refused, saying what to send."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return None
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        return f"charset={charset}"
    try:
        unquote_to_bytes(request.get_data(cache=True).replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return "bytes that are not UTF-8"
    return None


def _unfit_error(field: str, char: str) -> Invalid:
    field = field.removeprefix("body.")
    if char == "\x00":
        return Invalid(f"{field} contains a NUL character (\\u0000), which text cannot hold: remove it",
                       code="nul_character", details=[field])
    point = f"U+{ord(char):04X}"
    return Invalid(f"{field} contains {point}, an invisible control character text cannot hold: remove it",
                   code="bad_character", details={"fields": [field], "char": point})


#: A JSON body is a report, an action or a drawn polygon: a few KB. Past this it is refused (413) as it arrives,
#: instead of read and parsed (a 50 MB body cost a worker 4 s before its 422); files go as multipart.
JSON_LIMIT = 1024 * 1024


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.before_request
    def _bounded_bodies() -> None:  # before any hook reads the body
        limit = app.config["MAX_CONTENT_LENGTH"]
        limit = min(JSON_LIMIT, limit) if request.is_json else limit
        # only a chunked body: gunicorn marks every request's input terminated, and a tile GET read its empty body
        chunked = request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "")
        if chunked and request.mimetype != "multipart/form-data":  # photos: the multipart parser refuses (413)
            # chunked: Werkzeug stops at the limit without a word, and a form cut there made a case of its start
            request.max_content_length = limit + 1  # one byte past it tells a body over the limit
            if len(request.get_data(cache=True)) > limit:
                request.max_content_length = limit  # what the 413 names
                raise RequestEntityTooLarge()
        request.max_content_length = limit

    @app.before_request
    def _refuse_other_encodings() -> None:
        problem = _form_encoding_problem()
        if problem:
            raise DomainError(f"the form holds {problem}: send UTF-8 text (percent-encoded UTF-8 bytes)",
                              code="not_utf8", details={"found": problem})

    @app.before_request
    def _refuse_unfit_characters() -> None:
        found = _unfit_field()
        if found is not None:
            raise _unfit_error(*found)

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
