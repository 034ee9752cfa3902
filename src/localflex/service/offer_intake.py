"""``POST /api/v1/offers`` on PostgreSQL: one statement per offer, on the event loop.

Paper §5.3: while a gate is open, aggregators send their offers to the DSO's market — the
submission with the highest rate. ``post_offer`` applies the same rules as the ORM path
(``market_ops.check_offer``: role, bus, powers, DER type; then the gate must be open) and
writes the same rows (offer, audit entry, idempotency record) with
``localflex.store.offer_writes.OfferWriter``: one statement, committed before the answer,
shared with the offers that arrived at the same time (group commit).

Exactly-once with an ``Idempotency-Key``: a repeat of a key hits the unique
``(party, key)`` constraint, writes nothing and gets the stored answer (409 if the key was
used for a different request); a repeat whose first answer is stored also gets it when the
request would now fail (gate closed since), as in ``idempotency.run_write``.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from starlette.concurrency import run_in_threadpool

from localflex.domain import LocalflexError
from localflex.service import idempotency
from localflex.service.auth import Caller
from localflex.service.context import ServiceContext
from localflex.service.errors import Conflict
from localflex.service.market_ops import (
    check_offer,
    gate_status,
    get_gate,
    offer_audit_detail,
    offer_values,
)
from localflex.service.schemas import OfferIn, OfferOut
from localflex.store.offer_writes import offer_row

__all__ = ["post_offer"]

_IDEMPOTENCY_CONSTRAINT = "idempotency_party_key"


def _why_not_open(svc: ServiceContext, gate_id: str, now) -> LocalflexError:
    """The error for an offer whose gate was not open at ``now`` (404 or 409)."""
    with svc.db.read() as session:
        try:
            gate = get_gate(session, gate_id)
        except LocalflexError as exc:
            return exc
        status = gate_status(gate, now)
        return Conflict("gate_id", gate_id, f"an open gate (this one is {status.value}: open "
                        f"{gate.opens_at.isoformat()} – {gate.closes_at.isoformat()})")


async def _replay_or_raise(svc: ServiceContext, caller: Caller, key: str | None,
                           endpoint: str, digest: str, exc: LocalflexError) -> tuple[int, Any]:
    if key is not None:
        record = await run_in_threadpool(idempotency.stored_answer, svc, caller, key)
        if record is not None:
            return idempotency.replay(record, key, endpoint, digest)
    raise exc


async def post_offer(svc: ServiceContext, caller: Caller, endpoint: str, body: OfferIn,
                     idempotency_key: str | None) -> tuple[int, Any]:
    """``(201, offer)`` once the offer is committed; raises a LocalflexError (4xx) if not."""
    writer = svc.offer_writer
    assert writer is not None
    key = idempotency_key
    digest = ""
    if key is not None:
        idempotency.check_key(key)
        digest = idempotency.request_digest(endpoint, body)
    if not svc.grid.bus_ids_known:
        await run_in_threadpool(svc.grid.bus_ids)
    try:
        check_offer(svc, caller, body)
    except LocalflexError as exc:
        return await _replay_or_raise(svc, caller, key, endpoint, digest, exc)
    now = svc.now()
    values = offer_values(caller, body, now)
    data = OfferOut(**values).model_dump(mode="json")
    record = None
    if key is not None:
        record = {"key": key, "endpoint": endpoint, "request_hash": digest,
                  "status_code": 201, "response": json.dumps(data)}
    try:
        written = await writer.insert(offer_row(values, now=now,
                                                audit_detail=offer_audit_detail(body),
                                                idempotency=record))
    except psycopg.errors.UniqueViolation as exc:
        if key is None or exc.diag.constraint_name != _IDEMPOTENCY_CONSTRAINT:
            raise
        stored = await run_in_threadpool(idempotency.stored_answer, svc, caller, key)
        if stored is None:
            raise
        return idempotency.replay(stored, key, endpoint, digest)
    if not written:
        why = await run_in_threadpool(_why_not_open, svc, body.gate_id, now)
        return await _replay_or_raise(svc, caller, key, endpoint, digest, why)
    return 201, data
