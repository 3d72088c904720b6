"""API keys for machine clients (Open311 `api_key`, `Authorization: Bearer` on /api/v1) and their rate limit.

Why SHA-256 and not Argon2 as for passwords: a key is 256 bits from `secrets`, so nobody can guess it
from its hash however fast the hash is; a slow KDF only protects low-entropy secrets such as
passwords, and would cost every API call tens of milliseconds. The raw key is shown once and never
stored; revoking sets `revoked_at`, so the history of who submitted what keeps its key row.

Why a key has no zone: a machine client serves a whole city, so only city-wide roles may hold a key.

The rate limit is a fixed one-minute window counted in process memory: cheap, and it counts every
request, refused ones included. With N server processes a client can reach N times the limit; put
the limit in front (a proxy) when that matters. Open311's reads need no key: they are limited per client
address instead (an IPv6 client per /64, the network one subscriber's addresses come from).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import threading
import time
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, String, bindparam, select
from sqlalchemy.orm import Session

from grids.db import prepared
from grids.divisions import known_city
from grids.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized
from grids.incidents import Actor
from grids.models import ApiKey

KEY_PREFIX = "glk_"
API_KEY_ROLES = ("reporter", "viewer", "dispatcher", "supervisor")
DEFAULT_RATE_PER_MINUTE = 120
NAME_LIMIT = ApiKey.name.type.length  # the column's width


def digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_key(session: Session, city_code: str, name: str, role: str = "reporter",
               rate_per_minute: int = DEFAULT_RATE_PER_MINUTE) -> tuple[ApiKey, str]:
    """A new key row and the raw key, which the caller shows once: only its hash is kept."""
    if role not in API_KEY_ROLES:
        raise Invalid(f"an API key's role must be one of {', '.join(API_KEY_ROLES)} (keys have no zone)",
                      code="unknown_role")
    if rate_per_minute < 1:
        raise Invalid("the rate limit must be at least 1 request a minute", code="bad_rate")
    name = name.strip()
    if not name or len(name) > NAME_LIMIT:
        raise Invalid(f"a key's name is the client it is for (hotline, 12345-app): 1 to {NAME_LIMIT} characters",
                      code="bad_key_name")
    known_city(session, city_code)
    existing = session.scalar(select(ApiKey).where(ApiKey.city_code == city_code, ApiKey.name == name))
    if existing is not None:  # names stay taken after a revoke: the audit trail keeps naming one key
        state = "was revoked; names are not reused, so" if existing.revoked_at else "exists; revoke it or"
        raise Conflict(f"an API key named {name!r} {state} choose another name", code="key_exists")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(city_code=city_code, name=name, role=role, key_hash=digest(raw), prefix=raw[:12],
                 rate_per_minute=rate_per_minute)
    session.add(key)
    session.flush()
    return key, raw


def revoke_key(session: Session, city_code: str, name: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.city_code == city_code, ApiKey.name == name))
    if key is None:
        raise NotFound(f"no API key named {name!r}; list them with `gridlink apikeys list`", code="unknown_key")
    key.revoked_at = key.revoked_at or datetime.now(UTC)
    session.flush()
    return key


def list_keys(session: Session, city_code: str) -> list[ApiKey]:
    known_city(session, city_code)
    return list(session.scalars(select(ApiKey).where(ApiKey.city_code == city_code).order_by(ApiKey.name)))


#: Built once and prepared: every machine request runs it (bench/intake.py). Columns, not the mapped class:
#: authenticating a request needs the values, not an ORM identity, and loading one cost more than the query.
_BY_HASH = prepared(select(*ApiKey.__table__.c).where(ApiKey.key_hash == bindparam("key_hash", type_=String)))
KeyRow = Row[Any]  # an api_keys row: what key_for answers, and what actor_of and the limiter read


def key_for(session: Session, city_code: str, raw_key: str) -> KeyRow:
    """The live key of the city matching `raw_key` (its row), or Unauthorized. A live key of another city served
    by the same database says so: the operator made it with the wrong --city, and "invalid or revoked" sent them
    looking for a typo (whoever holds a live key learns only which city it is for)."""
    key = session.connection().execute(_BY_HASH, {"key_hash": digest(raw_key or "")}).first()
    if key is not None and key.revoked_at is None and key.city_code != city_code:
        raise Unauthorized(f"this API key belongs to city {key.city_code}, and this server serves city {city_code}: "
                           f"make one with `gridlink apikeys create NAME --city {city_code}`",
                           code="key_of_another_city")
    if key is None or key.revoked_at is not None:
        raise Unauthorized("invalid or revoked API key", code="bad_api_key")
    return key


def actor_of(key: KeyRow) -> Actor:
    return Actor(city_code=key.city_code, role=key.role, label=f"api key {key.name}")


def client_bucket(address: str | None) -> str:
    """What a per-address limit counts: the IPv4 address, or the /64 of an IPv6 one (a subscriber's network,
    within which a client picks new addresses at will)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or ""
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ip.ipv4_mapped or ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class FixedWindowLimiter:
    """Requests per bucket (a key's id, a client's address) per clock minute, in this process (see the module
    docstring for why). Only the current minute's counts are kept: one address a request cannot grow it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[Hashable, int] = {}

    def hit(self, bucket: Hashable, limit: int, now: float | None = None, *, advice: str = "") -> None:
        """Count one request of `bucket`; TooManyRequests (with retry_after) past `limit` this minute."""
        now = time.time() if now is None else now
        window = int(now // 60)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts[bucket] = self._counts.get(bucket, 0) + 1
        if count > limit:
            wait = 60 - int(now % 60)
            raise TooManyRequests(f"rate limit of {limit} requests a minute reached; retry in {wait} s{advice}",
                                  code="rate_limited", details={"retry_after": wait})

    def hit_key(self, key: KeyRow) -> None:
        self.hit(("key", key.id), key.rate_per_minute)
