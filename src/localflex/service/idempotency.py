"""Exactly-once submissions: the ``Idempotency-Key`` header (or a UFTP message id).

A write runs in one transaction together with the record of its answer, so an accepted
submission and the answer a client saw are committed before the 2xx leaves (paper §5.2:
the market never loses an accepted message). The same key sent again by the same party
returns the stored answer without applying anything; the same key with a different request
is a 409. Two concurrent first uses of one key: the second transaction fails on the unique
(party, key) constraint, rolls back, and returns the first's answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from localflex.service.auth import Caller
from localflex.service.context import ServiceContext
from localflex.service.errors import Conflict
from localflex.store.models import IdempotencyRecord

__all__ = ["run_write"]

MAX_KEY_LENGTH = 200


def _jsonable(out: Any) -> Any:
    if isinstance(out, BaseModel):
        return out.model_dump(mode="json")
    if isinstance(out, list):
        return [_jsonable(o) for o in out]
    return out


def _stored(session: Session, caller: Caller, key: str) -> IdempotencyRecord | None:
    return session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.party_id == caller.party_id, IdempotencyRecord.key == key))


def run_write(
    svc: ServiceContext,
    caller: Caller,
    endpoint: str,
    payload: Any,
    fn: Callable[[Session], Any],
    *,
    idempotency_key: str | None,
    status_code: int = 201,
) -> tuple[int, Any]:
    """Run ``fn(session)`` in a write transaction, at most once per idempotency key."""
    if idempotency_key is None:
        with svc.db.write() as session:
            data = _jsonable(fn(session))
        return status_code, data
    if not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
        raise Conflict("Idempotency-Key", idempotency_key, f"1..{MAX_KEY_LENGTH} characters")
    digest = hashlib.sha256(
        (endpoint + "\n" + json.dumps(_jsonable(payload), sort_keys=True)).encode()
    ).hexdigest()

    def replay(record: IdempotencyRecord) -> tuple[int, Any]:
        if record.endpoint != endpoint or record.request_hash != digest:
            raise Conflict("Idempotency-Key", idempotency_key,
                           "a new key: this one was used for a different request")
        return record.status_code, json.loads(record.response)

    try:
        with svc.db.write() as session:
            record = _stored(session, caller, idempotency_key)
            if record is not None:
                return replay(record)
            data = _jsonable(fn(session))
            session.add(IdempotencyRecord(
                party_id=caller.party_id, key=idempotency_key, endpoint=endpoint,
                request_hash=digest, status_code=status_code, response=json.dumps(data)))
            session.flush()
        return status_code, data
    except IntegrityError:
        with svc.db.read() as session:
            record = _stored(session, caller, idempotency_key)
        if record is None:
            raise
        return replay(record)
