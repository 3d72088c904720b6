"""Who is calling: an API key (Bearer header or Open311 `api_key`) or a logged-in staff session.

Why cookie sessions need no CSRF token with JSON: a cross-site page cannot send `Content-Type:
application/json` without a CORS preflight, which this app never grants. Any other body from a session (the
department inbox's multipart 处置反馈 with its after-photos) must carry the page's CSRF token, as the pages'
own forms do. Keys are rate-limited per key before any work is done.
"""

from __future__ import annotations

from flask import current_app, request
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from grids.apikeys import actor_of, key_for
from grids.errors import DomainError, Forbidden, Unauthorized
from grids.incidents import Actor
from webapp import db
from webapp.auth import current_user

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def city() -> str:
    return current_app.config["GRIDLINK_CITY"]


def key_sent() -> bool:
    """Whether the request carries an API key (valid or not: principal() checks it)."""
    return bool(_raw_key())


def _raw_key() -> str | None:
    """The key the request carries: a Bearer header, or `api_key` as Open311 and photo links in an `<img>`
    send it. /api/v1 refuses a key in its address, where proxy and server logs would keep it."""
    header = request.headers.get("Authorization", "")
    if "api_key" in request.args and request.path.startswith("/api/"):  # with a header too: it is in the logs
        raise DomainError("send the key as the header Authorization: Bearer KEY, not in the address: addresses "
                          "end up in proxy and server logs", code="key_in_query")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    key = request.form.get("api_key") or request.args.get("api_key")
    return key.strip() if key else key  # pasted with a line break or a space, as a Bearer header may be


def principal() -> tuple[Actor, str]:
    """The acting Actor and a stable principal id ("key:7", "user:3") for idempotency records."""
    raw = _raw_key()
    if raw:
        key = key_for(db(), city(), raw)
        current_app.extensions["gridlink.ratelimit"].hit_key(key)
        return actor_of(key), f"key:{key.id}"
    user = current_user()
    if user is None:
        raise Unauthorized("send an API key (Authorization: Bearer KEY) or log in", code="unauthorized")
    if request.method not in SAFE_METHODS and not request.is_json:
        _require_csrf_token()
    return Actor.of_user(user), f"user:{user.id}"


def _require_csrf_token() -> None:
    try:
        validate_csrf(request.headers.get("X-CSRFToken") or request.form.get("csrf_token"))
    except ValidationError as exc:
        raise Forbidden("a logged-in session changes data with a JSON body, or with a form carrying the page's"
                        " CSRF token (X-CSRFToken)", code="json_required") from exc
