"""Aggregators' offers on PostgreSQL: gate check, offer, audit, idempotency in one statement,
and concurrent offers committed together (group commit).

Paper §5.3: aggregators submit offers to the DSO's market while the gate of the ISP is open.
``OfferWriter.insert`` writes what the ORM path of ``localflex.service.market_ops.post_offer``
writes — the ``offers`` row, its ``audit_log`` entry and, with an ``Idempotency-Key``, the
``idempotency_keys`` record of the answer — with one data-modifying ``WITH`` statement over
the rows sent as one JSON parameter, which PostgreSQL runs as one transaction:

* each offer's gate row is read ``FOR KEY SHARE`` (the lock the offer's foreign key takes
  anyway) and must be open at the offer's ``now`` (not cleared, ``opens_at <= now <
  closes_at``); a clearing that holds the gate ``FOR UPDATE`` makes the statement wait and
  re-read the gate, so an offer is never accepted into a gate whose clearing missed it;
* an offer whose gate is not open writes nothing and ``insert`` returns ``False`` (the caller
  reads the gate to say why: unknown, scheduled, closed or cleared);
* an idempotency key used before → ``psycopg.errors.UniqueViolation`` on
  ``idempotency_party_key`` and nothing is written (the caller replays the stored answer).

Group commit: offers that arrive while ``max_inflight`` statements are running wait and go
together in the next statement (at most ``max_batch``), so one commit — one WAL flush with
``synchronous_commit=on`` — carries many offers. ``insert`` returns only after the statement
that holds its offer has committed. If a statement of several offers fails (a repeated
idempotency key, say), nothing of it was written and each offer is retried alone, so one
offer's error never becomes another's.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import psycopg

from localflex.domain import InputError
from localflex.store.pg_async import AsyncPgPool
from localflex.store.vocab import GateStatus

__all__ = ["OFFERS_SQL", "OfferWriter", "offer_row"]

# the statement's rows: (name, PostgreSQL type); they travel as one JSON array of objects
# (``json_to_recordset``), cheaper to send than one array parameter per column
_COLUMNS = (
    ("offer_id", "text"), ("aggregator_id", "text"), ("gate_id", "text"), ("bus", "int"),
    ("direction", "text"), ("max_power_kw", "float8"), ("min_power_kw", "float8"),
    ("price_eur_per_mwh", "float8"), ("der_type", "text"), ("status", "text"),
    ("awarded_kw", "float8"), ("created_at", "timestamp"), ("now", "timestamp"),
    ("audit_at", "timestamp"), ("audit_detail", "json"), ("idem_key", "text"),
    ("idem_endpoint", "text"), ("idem_hash", "text"), ("idem_status", "int"),
    ("idem_response", "text"),
)

OFFERS_SQL = f"""
WITH v AS (
    SELECT * FROM json_to_recordset(%(rows)s::json)
        AS v({", ".join(f"{name} {pg_type}" for name, pg_type in _COLUMNS)})
), g AS (
    SELECT gate_id, opens_at, closes_at FROM gates
    WHERE gate_id IN (SELECT gate_id FROM v) AND status <> %(cleared)s
    FOR KEY SHARE
), o AS (
    INSERT INTO offers (offer_id, aggregator_id, gate_id, bus, direction, max_power_kw,
                        min_power_kw, price_eur_per_mwh, der_type, status, awarded_kw,
                        created_at)
    SELECT v.offer_id, v.aggregator_id, v.gate_id, v.bus, v.direction, v.max_power_kw,
           v.min_power_kw, v.price_eur_per_mwh, v.der_type, v.status, v.awarded_kw,
           v.created_at
    FROM v JOIN g ON g.gate_id = v.gate_id
    WHERE g.opens_at <= v.now AND g.closes_at > v.now
    RETURNING offer_id
), a AS (
    INSERT INTO audit_log (at, party_id, action, entity, entity_id, detail)
    SELECT v.audit_at, v.aggregator_id, 'create', 'offer', v.offer_id, v.audit_detail
    FROM v JOIN o ON o.offer_id = v.offer_id
), i AS (
    INSERT INTO idempotency_keys (party_id, key, endpoint, request_hash, status_code,
                                  response, created_at)
    SELECT v.aggregator_id, v.idem_key, v.idem_endpoint, v.idem_hash, v.idem_status,
           v.idem_response, v.audit_at
    FROM v JOIN o ON o.offer_id = v.offer_id
    WHERE v.idem_key IS NOT NULL
)
SELECT offer_id FROM o
"""


def _utc_text(t: datetime) -> str:
    """A timezone-aware time as the naive-UTC ISO text the store keeps (``UtcDateTime``)."""
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: localflex stores UTC-aware timestamps")
    return t.astimezone(UTC).replace(tzinfo=None).isoformat()


def offer_row(offer: dict[str, Any], *, now: datetime, audit_detail: dict[str, Any],
              idempotency: dict[str, Any] | None = None) -> dict[str, Any]:
    """One row of the statement: the ``offers`` columns of ``offer``, the gate check's
    ``now``, the audit entry and the optional idempotency record
    (``{"key", "endpoint", "request_hash", "status_code", "response"}``)."""
    idem = idempotency or {}
    return {**offer, "created_at": _utc_text(offer["created_at"]), "now": _utc_text(now),
            "audit_at": _utc_text(datetime.now(UTC)), "audit_detail": audit_detail,
            "idem_key": idem.get("key"), "idem_endpoint": idem.get("endpoint"),
            "idem_hash": idem.get("request_hash"), "idem_status": idem.get("status_code"),
            "idem_response": idem.get("response")}


class OfferWriter:
    """Writes offers with ``OFFERS_SQL``, many per statement when they arrive together."""

    def __init__(self, pool: AsyncPgPool, *, max_batch: int = 256,
                 max_inflight: int = 2) -> None:
        if max_batch < 1 or not 1 <= max_inflight <= pool.size:
            raise InputError("max_inflight", max_inflight,
                             f"1..{pool.size} (the pool size), with max_batch >= 1")
        self.pool = pool
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task] = set()

    async def insert(self, row: dict[str, Any]) -> bool:
        """Write one ``offer_row``; True once committed, False if its gate is not open."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._inflight < self.max_inflight:
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:self.max_batch]
                del self._pending[:self.max_batch]
                await self._write(batch)
        finally:
            self._inflight -= 1

    async def _write(self, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        try:
            written = await self._statement([row for row, _ in batch])
        except psycopg.OperationalError as exc:  # connection lost: outcome unknown
            for _, future in batch:
                _settle(future, exc=exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc=exc)
                return
            for item in batch:  # nothing was written: each offer on its own
                await self._write([item])
            return
        for row, future in batch:
            _settle(future, result=row["offer_id"] in written)

    async def _statement(self, rows: list[dict[str, Any]]) -> set[str]:
        params = {"rows": json.dumps(rows, allow_nan=False),
                  "cleared": GateStatus.CLEARED.value}
        async with self.pool.connection() as conn:
            cur = await conn.execute(OFFERS_SQL, params)
            return {r[0] for r in await cur.fetchall()}

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _settle(future: asyncio.Future[bool], *, result: bool = False,
            exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
