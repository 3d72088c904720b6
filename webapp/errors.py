"""The one place errors become responses: JSON for machine clients, a page for people."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from grids.errors import DomainError, Unavailable
from webapp.api.open311 import open311_error

MACHINE_PREFIXES = ("/api/", "/open311/", "/tiles/", "/healthz")


def wants_json() -> bool:
    return request.path.startswith(MACHINE_PREFIXES) or request.accept_mimetypes.best == "application/json"


def render_error(status: int, code: str, message: str, details: Any = None) -> Any:
    if request.path.startswith("/open311/"):
        return open311_error(status, message)
    if wants_json():
        body: dict[str, Any] = {"error": {"code": code, "message": message}}
        if details is not None:
            body["error"]["details"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, message=message), status


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Any:
        return render_error(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        return render_error(400, "csrf_failed", _("表单已过期或缺少安全令牌，请刷新页面后重试。"))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        code = (exc.name or "error").lower().replace(" ", "_")
        return render_error(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _db_down(exc: Exception) -> Any:
        app.logger.warning("database unavailable: %s", exc)
        err = Unavailable(_("数据库暂时不可用，请稍后重试。"))
        return render_error(err.status, err.code, err.message)
