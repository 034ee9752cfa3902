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

__all__ = ["check_key", "jsonable", "replay", "request_digest", "run_write",
           "stored_answer"]

MAX_KEY_LENGTH = 200


def jsonable(out: Any) -> Any:
    if isinstance(out, BaseModel):
        return out.model_dump(mode="json")
    if isinstance(out, list):
        return [jsonable(o) for o in out]
    return out


def _stored(session: Session, caller: Caller, key: str) -> IdempotencyRecord | None:
    return session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.party_id == caller.party_id, IdempotencyRecord.key == key))


def stored_answer(svc: ServiceContext, caller: Caller, key: str) -> IdempotencyRecord | None:
    """The recorded first answer to ``caller``'s ``key``, if any (a read transaction)."""
    with svc.db.read() as session:
        return _stored(session, caller, key)


def check_key(idempotency_key: str) -> None:
    if not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
        raise Conflict("Idempotency-Key", idempotency_key, f"1..{MAX_KEY_LENGTH} characters")


def request_digest(endpoint: str, payload: Any) -> str:
    """What identifies a request under one key: the endpoint and the canonical payload."""
    return hashlib.sha256(
        (endpoint + "\n" + json.dumps(jsonable(payload), sort_keys=True)).encode()
    ).hexdigest()


def replay(record: IdempotencyRecord, idempotency_key: str, endpoint: str,
           digest: str) -> tuple[int, Any]:
    """The stored answer, if ``record`` was made by this same request (else 409)."""
    if record.endpoint != endpoint or record.request_hash != digest:
        raise Conflict("Idempotency-Key", idempotency_key,
                       "a new key: this one was used for a different request")
    return record.status_code, json.loads(record.response)


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
            data = jsonable(fn(session))
        return status_code, data
    check_key(idempotency_key)
    digest = request_digest(endpoint, payload)
    try:
        with svc.db.write() as session:
            record = _stored(session, caller, idempotency_key)
            if record is not None:
                return replay(record, idempotency_key, endpoint, digest)
            data = jsonable(fn(session))
            session.add(IdempotencyRecord(
                party_id=caller.party_id, key=idempotency_key, endpoint=endpoint,
                request_hash=digest, status_code=status_code, response=json.dumps(data)))
            session.flush()
        return status_code, data
    except IntegrityError:
        record = stored_answer(svc, caller, idempotency_key)
        if record is None:
            raise
        return replay(record, idempotency_key, endpoint, digest)
