"""The continuous market's order books, shared by every API worker (paper §6.2, ref. [66]).

The books live in memory in one ``ContinuousMarket`` per ISP length, as a cache of the event
log ``continuous_events`` (submit, cancel, gate closure), which is the source of truth: the
matching engine is deterministic, so replaying the same events gives the same books and
trades. Every write that touches the books calls ``serialise(session)`` first, inside its
store transaction: on PostgreSQL it takes a transaction-scoped advisory lock (one matcher at
a time across all API worker processes) and then applies the events other workers committed
since this process last looked, so it matches against exactly the committed books; its own
event is appended in the same transaction as the orders, trades and ledger lines it
produced, and the lock is released by the commit. Within one process a lock serialises the
threads (``transaction``), and a failed transaction rebuilds the books from the store, so
memory never holds what the store does not. SQLite serialises writes per process only: one
worker there (``localflex serve --workers`` > 1 needs PostgreSQL).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from localflex.market.continuous import ContinuousMarket, OrderStatus
from localflex.store import Database
from localflex.store.models import ContinuousEvent, Gate, Order

__all__ = ["BOOKS_LOCK_KEY", "ContinuousBridge", "isp_index"]

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_N_ISPS = 10**8
# the PostgreSQL advisory lock that serialises matching across worker processes ("lfx_book")
BOOKS_LOCK_KEY = 0x6C66785F626F6F6B


def isp_index(gate: Gate) -> int:
    """The gate's ISP counted from 2000-01-01 UTC (the books' product index)."""
    return int((gate.isp_start - _EPOCH).total_seconds() // (60 * gate.isp_minutes))


class ContinuousBridge:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.lock = threading.RLock()
        self._markets: dict[int, ContinuousMarket] = {}
        self.seq = 0  # the last event applied to the books in memory
        self.rebuild()

    def market(self, isp_minutes: int) -> ContinuousMarket:
        m = self._markets.get(isp_minutes)
        if m is None:
            m = self._markets[isp_minutes] = ContinuousMarket(n_isps=_N_ISPS,
                                                              isp_minutes=isp_minutes)
        return m

    def rebuild(self) -> None:
        """Replay every stored event into fresh books."""
        with self.lock:
            self._markets = {}
            self.seq = 0
            with self.db.read() as session:
                self._catch_up(session)

    def _apply(self, ev: ContinuousEvent) -> None:
        p = ev.payload
        m = self.market(p["isp_minutes"])
        if ev.kind == "submit":
            m.submit(p["party_id"], (p["area"], p["direction"], p["isp"]), p["side"],
                     float(p["price_eur_per_mwh"]), float(p["quantity_kw"]),
                     p["order_type"], order_id=p["order_id"])
        elif ev.kind == "cancel":
            m.cancel(p["order_id"])
        elif ev.kind == "close_gate":
            m.close_gate(p["isp"])
        self.seq = ev.seq

    def _catch_up(self, session: Session) -> None:
        for ev in session.scalars(select(ContinuousEvent).where(ContinuousEvent.seq > self.seq)
                                  .order_by(ContinuousEvent.seq)):
            self._apply(ev)

    def serialise(self, session: Session) -> None:
        """Become the one matcher (advisory lock until commit, PostgreSQL) and bring the
        books up to the committed event log. Call inside ``transaction()`` and the store
        transaction, before reading or changing the books."""
        if not self.db.is_sqlite:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": BOOKS_LOCK_KEY})
        self._catch_up(session)

    def append(self, session: Session, kind: str, payload: dict) -> None:
        """Append an event already applied to the books (its ``seq`` becomes the books')."""
        ev = ContinuousEvent(kind=kind, payload=payload)
        session.add(ev)
        session.flush()
        self.seq = ev.seq

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the books across a store transaction; rebuild them if it fails.

        Callers enter this *before* ``db.write()`` so the in-memory books never run ahead of
        a commit that another thread could observe.
        """
        with self.lock:
            try:
                yield
            except BaseException:
                self.rebuild()
                raise

    def close_gate(self, session: Session, gate: Gate) -> None:
        """Cancel the gate's resting orders (called inside the clearing's transaction)."""
        with self.lock:
            self.serialise(session)
            m = self.market(gate.isp_minutes)
            isp = isp_index(gate)
            if not m.is_gate_open(isp):
                return
            cancelled = m.close_gate(isp)
            self.append(session, "close_gate", {
                "isp_minutes": gate.isp_minutes, "isp": isp, "gate_id": gate.gate_id})
            for order_id in cancelled:
                order = session.get(Order, order_id)
                if order is not None:
                    order.status = OrderStatus.CANCELLED.value
            session.flush()
