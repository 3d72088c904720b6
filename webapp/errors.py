"""The one place errors become responses: JSON for machine clients, a page for people."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from grids.errors import DomainError, Unavailable

MACHINE_PREFIXES = ("/api/", "/open311/", "/tiles/", "/healthz")


def wants_json() -> bool:
    return request.path.startswith(MACHINE_PREFIXES) or request.accept_mimetypes.best == "application/json"


def open311_error(status: int, message: str) -> Response:
    """GeoReport v2's error list, [{code, description}], as JSON or (for a .xml path) XML: Open311 clients
    parse this shape, whatever went wrong (a bad value, an unknown path, a wrong method)."""
    if request.path.endswith(".xml"):
        root = ET.Element("errors")
        error = ET.SubElement(root, "error")
        ET.SubElement(error, "code").text, ET.SubElement(error, "description").text = str(status), message
        body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="utf-8")
        return Response(body, status=status, mimetype="text/xml")
    response = jsonify([{"code": status, "description": message}])
    response.status_code = status
    return response


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
