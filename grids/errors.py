"""One error hierarchy for the whole platform.

Why: use cases raise these; the web edge renders them (JSON under /api, a page elsewhere) and the CLI
prints them, all from `status` and a stable `code`, never by parsing message strings.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a user may see; `message` says what to fix."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class Invalid(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"


class ConfigError(DomainError):
    """A setting or a system component is missing; raised at start-up, never mid-request."""

    status = 500
    code = "config_error"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"
