"""The persistent records of the running market (paper §5.2 ICT infrastructure, §5.3, §6).

One SQLAlchemy 2 table per thing the market must never lose: parties and their hashed API
keys, the grid's congestion points, gates (one per ISP), the DSO's flexibility requests, the
aggregators' offers, continuous-market orders and trades, awards with their activation
instructions, meter data, double-entry ledger lines and an append-only audit log.

Conventions: ids are strings (``off_…``, ``req_…``; parties choose their own id); timestamps
are timezone-aware UTC (``UtcDateTime`` stores naive UTC, which SQLite and PostgreSQL both
keep exactly); powers in kW, prices in EUR/MWh, money in integer cents (`*_cents`; the
`*_eur` properties are for reading); directions and statuses are the
StrEnum values of ``localflex.domain`` / ``localflex.store.vocab``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Activation",
    "AuditEntry",
    "Award",
    "Base",
    "CongestionPoint",
    "ContinuousEvent",
    "Credential",
    "Gate",
    "GridInfo",
    "IdempotencyRecord",
    "LedgerLine",
    "MeterReading",
    "Offer",
    "Order",
    "Party",
    "Request",
    "Shortfall",
    "Trade",
    "UtcDateTime",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp, stored as naive UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: localflex stores UTC-aware timestamps")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


ID = String(64)


class Party(Base):
    __tablename__ = "parties"
    party_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Credential(Base):
    """An API key, stored as ``scrypt(secret, salt)``; the key itself is shown once."""

    __tablename__ = "credentials"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public key prefix
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    salt: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class GridInfo(Base):
    """The grid the service runs on, kept so a restart does not need to wait for SimBench."""

    __tablename__ = "grids"
    grid_code: Mapped[str] = mapped_column(String(100), primary_key=True)
    bus_ids: Mapped[list[int]] = mapped_column(JSON)
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CongestionPoint(Base):
    __tablename__ = "congestion_points"
    cp_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    grid_code: Mapped[str] = mapped_column(ForeignKey("grids.grid_code"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    rated_kva: Mapped[float] = mapped_column(Float)
    max_loading_pct: Mapped[float] = mapped_column(Float)
    dso_id: Mapped[str | None] = mapped_column(ForeignKey("parties.party_id"), nullable=True)


class Gate(Base):
    """Trading for one ISP: open from ``opens_at`` to ``closes_at``, then cleared."""

    __tablename__ = "gates"
    gate_id: Mapped[str] = mapped_column(ID, primary_key=True)
    isp_start: Mapped[datetime] = mapped_column(UtcDateTime, unique=True)
    isp_minutes: Mapped[int] = mapped_column(Integer)
    opens_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closes_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    clearing_summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Request(Base):
    """A flexibility request (paper §5.3: the DSO states the amount needed and its price cap)."""

    __tablename__ = "requests"
    request_id: Mapped[str] = mapped_column(ID, primary_key=True)
    requester_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.gate_id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    cp_id: Mapped[str] = mapped_column(ForeignKey("congestion_points.cp_id"))
    direction: Mapped[str] = mapped_column(String(8))
    power_kw: Mapped[float] = mapped_column(Float)
    max_price_eur_per_mwh: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    covered_kw: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (CheckConstraint("power_kw > 0", name="request_power_positive"),)


class Offer(Base):
    """An aggregator's offer at one bus for one gate (ISP); ``awarded_kw`` never exceeds it."""

    __tablename__ = "offers"
    offer_id: Mapped[str] = mapped_column(ID, primary_key=True)
    aggregator_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.gate_id"), index=True)
    bus: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    max_power_kw: Mapped[float] = mapped_column(Float)
    min_power_kw: Mapped[float] = mapped_column(Float, default=0.0)
    price_eur_per_mwh: Mapped[float] = mapped_column(Float)
    der_type: Mapped[str] = mapped_column(String(32), default="mixed")
    status: Mapped[str] = mapped_column(String(16), default="open")
    awarded_kw: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (
        CheckConstraint("max_power_kw > 0", name="offer_max_positive"),
        CheckConstraint("min_power_kw >= 0 AND min_power_kw <= max_power_kw",
                        name="offer_min_within_max"),
        CheckConstraint("awarded_kw >= 0 AND awarded_kw <= max_power_kw * (1 + 1e-9)",
                        name="offer_awarded_within_max"),
    )


class Award(Base):
    """Accepted flexibility (a FlexOrder in UFTP terms), from a clearing or a DSO's order."""

    __tablename__ = "awards"
    award_id: Mapped[str] = mapped_column(ID, primary_key=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.offer_id"), index=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.gate_id"), index=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    aggregator_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    bus: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    power_kw: Mapped[float] = mapped_column(Float)
    price_eur_per_mwh: Mapped[float] = mapped_column(Float)
    cost_cents: Mapped[int] = mapped_column(BigInteger)  # money is integer cents
    source: Mapped[str] = mapped_column(String(16))  # "clearing" | "flex_order"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (CheckConstraint("power_kw > 0", name="award_power_positive"),)

    @property
    def cost_eur(self) -> float:
        """``cost_cents`` in EUR, for reading (sums use cents)."""
        return self.cost_cents / 100


class Shortfall(Base):
    """A need of a clearing not fully covered, with the engine's cause."""

    __tablename__ = "shortfalls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.gate_id"), index=True)
    dso_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"))
    cp_id: Mapped[str] = mapped_column(String(64))
    need_kw: Mapped[float] = mapped_column(Float)
    covered_kw: Mapped[float] = mapped_column(Float)
    shortfall_kw: Mapped[float] = mapped_column(Float)
    cause: Mapped[str] = mapped_column(Text)


class Activation(Base):
    """The instruction to deliver an award: power at a bus over the ISP of its gate."""

    __tablename__ = "activations"
    activation_id: Mapped[str] = mapped_column(ID, primary_key=True)
    award_id: Mapped[str] = mapped_column(ForeignKey("awards.award_id"), unique=True)
    aggregator_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    bus: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    power_kw: Mapped[float] = mapped_column(Float)
    start: Mapped[datetime] = mapped_column(UtcDateTime)
    end: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class MeterReading(Base):
    """Metered and baseline power of an awarded delivery (consumption positive)."""

    __tablename__ = "meter_readings"
    reading_id: Mapped[str] = mapped_column(ID, primary_key=True)
    award_id: Mapped[str] = mapped_column(ForeignKey("awards.award_id"), unique=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    baseline_kw: Mapped[float] = mapped_column(Float)
    metered_kw: Mapped[float] = mapped_column(Float)
    delivered_kw: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LedgerLine(Base):
    """One side of a double entry: lines of one ``entry_id`` sum to zero (credit +)."""

    __tablename__ = "ledger_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ID, index=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    counterparty_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"))
    gate_id: Mapped[str | None] = mapped_column(ForeignKey("gates.gate_id"), nullable=True)
    award_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    trade_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # + received, − paid
    description: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @property
    def amount_eur(self) -> float:
        """``amount_cents`` in EUR, for reading (sums use cents)."""
        return self.amount_cents / 100


class ContinuousEvent(Base):
    """The event log of the continuous market; replaying it rebuilds the order books."""

    __tablename__ = "continuous_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # submit | cancel | close_gate
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Order(Base):
    """A continuous-market order (its current state; the events are the source of truth)."""

    __tablename__ = "orders"
    order_id: Mapped[str] = mapped_column(ID, primary_key=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.gate_id"), index=True)
    area: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(8))
    price_eur_per_mwh: Mapped[float] = mapped_column(Float)
    quantity_kw: Mapped[float] = mapped_column(Float)
    filled_kw: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Trade(Base):
    __tablename__ = "trades"
    trade_id: Mapped[str] = mapped_column(ID, primary_key=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.gate_id"), index=True)
    area: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(8))
    buy_order_id: Mapped[str] = mapped_column(ID)
    sell_order_id: Mapped[str] = mapped_column(ID)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    seller_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"), index=True)
    price_eur_per_mwh: Mapped[float] = mapped_column(Float)
    quantity_kw: Mapped[float] = mapped_column(Float)
    value_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @property
    def value_eur(self) -> float:
        """``value_cents`` in EUR, for reading."""
        return self.value_cents / 100


class IdempotencyRecord(Base):
    """The first answer to an ``Idempotency-Key``, replayed for every repeat of it."""

    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("parties.party_id"))
    key: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("party_id", "key", name="idempotency_party_key"),)


class AuditEntry(Base):
    """Append-only: the code has no UPDATE or DELETE path; a trigger enforces it in the db."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    party_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


Index("ix_offers_gate_status", Offer.gate_id, Offer.status)
Index("ix_requests_gate_status", Request.gate_id, Request.status)
