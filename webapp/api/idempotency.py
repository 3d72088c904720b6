"""Idempotency-Key (RELIABILITY 12): one key -> one effect, retries get the first answer back.

How: the key row is inserted (INSERT ... ON CONFLICT DO NOTHING) in the same transaction that creates
the case. A parallel request with the same key blocks on the unique index until that transaction ends:
after a commit it finds the row and replays the stored answer; after a rollback its own insert goes
through and it does the work. Only successful answers are stored, so a failed request can be retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert

from grids.db import prepared
from grids.errors import Conflict, Invalid
from grids.models import IdempotencyRecord
from webapp import db

MAX_KEY_LENGTH = 200
Answer = tuple[Any, int]
#: The table, not the mapped class: its INSERT and UPDATE then skip the ORM's bulk-statement layer, which cost
#: more than the statements themselves on every keyed request (bench/intake.py).
RECORDS = IdempotencyRecord.__table__
#: Built once and prepared (grids.db.prepared): every keyed request runs both.
_CLAIM = prepared(insert(RECORDS).on_conflict_do_nothing().returning(RECORDS.c.id))
_ANSWER = prepared(update(RECORDS).where(RECORDS.c.id == bindparam("record_id", type_=RECORDS.c.id.type)))


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def once(principal: str, key: str | None, body: Any, produce: Callable[[], Answer]) -> tuple[Any, int, bool]:
    """(answer, status, replayed): `produce` runs at most once per (principal, key)."""
    if not key:
        return *produce(), False
    if len(key) > MAX_KEY_LENGTH:
        raise Invalid(f"Idempotency-Key is limited to {MAX_KEY_LENGTH} characters", code="bad_idempotency_key")
    # Core statements on the session's connection: the ORM session layer cost more than these statements.
    connection, digest = db().connection(), fingerprint(body)
    claimed = connection.scalar(_CLAIM, {"principal": principal, "key": key, "fingerprint": digest})
    if claimed is None:
        record = connection.execute(select(RECORDS).where(RECORDS.c.principal == principal,
                                                       RECORDS.c.key == key)).one()
        if record.fingerprint != digest:
            raise Conflict("this Idempotency-Key was already used with a different request; use a new key",
                           code="idempotency_key_reused")
        return record.response, record.status_code, True
    answer, status = produce()
    connection.execute(_ANSWER, {"record_id": claimed, "response": answer, "status_code": status})
    return answer, status, False
