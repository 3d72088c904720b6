"""Who is calling: an API key (Bearer header or Open311 `api_key`) or a logged-in staff session.

Why cookie sessions need no CSRF token here: a session may only change data with a JSON body, and a
cross-site page cannot send `Content-Type: application/json` without a CORS preflight, which this app
never grants. Keys are rate-limited per key before any work is done.
"""

from __future__ import annotations

from flask import current_app, request

from grids.apikeys import actor_of, key_for
from grids.errors import Forbidden, Unauthorized
from grids.incidents import Actor
from webapp import db
from webapp.auth import current_user

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def city() -> str:
    return current_app.config["GRIDLINK_CITY"]


def _raw_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.form.get("api_key") or request.args.get("api_key")


def principal() -> tuple[Actor, str]:
    """The acting Actor and a stable principal id ("key:7", "user:3") for idempotency records."""
    raw = _raw_key()
    if raw:
        key = key_for(db(), city(), raw)
        current_app.extensions["gridlink.ratelimit"].hit(key)
        return actor_of(key), f"key:{key.id}"
    user = current_user()
    if user is None:
        raise Unauthorized("send an API key (Authorization: Bearer KEY) or log in", code="unauthorized")
    if request.method not in SAFE_METHODS and not request.is_json:
        raise Forbidden("a logged-in session changes data only with a JSON body", code="json_required")
    return Actor.of_user(user), f"user:{user.id}"
