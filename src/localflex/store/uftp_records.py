"""The UFTP records of the market (paper §5.2: the market keeps every exchange it accepts).

Three tables of the store (Alembic revision 0002), used by ``localflex.service.uftp``:

* ``uftp_platform`` — the market's own UFTP identity: its domain and Ed25519 signing key
  (libsodium 64-byte secret key, base64) with the public key participants verify against;
* ``uftp_participants`` — a UFTP participant (domain + USEF role ``DSO``/``AGR``) linked to a
  market party, with its Ed25519 public key, its message endpoint and, for an aggregator, the
  bus behind each congestion point where its offers are placed (``connections``);
* ``uftp_messages`` — every message received (``direction='in'``, signed envelope and
  unsealed payload kept as evidence) and the outbox: every message the market sends
  (``'out'``, signed once when queued, so each retry carries the same MessageID;
  ``status`` pending → sent | failed, ``attempts`` and ``next_attempt_at`` for the retry
  with exponential backoff of ``localflex.service.outbox``). The unique (sender_domain,
  message_id) makes a replayed message fail in the very transaction that would apply it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from localflex.store.models import Base, UtcDateTime, utcnow

__all__ = ["UftpMessage", "UftpParticipant", "UftpPlatform"]

DOMAIN = String(253)


class UftpPlatform(Base):
    __tablename__ = "uftp_platform"
    domain: Mapped[str] = mapped_column(DOMAIN, primary_key=True)
    signing_key: Mapped[str] = mapped_column(String(128))  # base64 libsodium secret key
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UftpParticipant(Base):
    __tablename__ = "uftp_participants"
    domain: Mapped[str] = mapped_column(DOMAIN, primary_key=True)
    role: Mapped[str] = mapped_column(String(3), primary_key=True)  # "DSO" | "AGR"
    party_id: Mapped[str] = mapped_column(String(64), index=True)
    public_key: Mapped[str] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(500))
    connections: Mapped[dict] = mapped_column(JSON, default=dict)  # AGR: {cp_id: bus}
    contracts: Mapped[list] = mapped_column(JSON, default=list)  # AGR: ContractIDs held
    # AGR: ContractID -> FLECH's committed activation price (EUR/MWh), the activation cap
    contract_prices: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class UftpMessage(Base):
    __tablename__ = "uftp_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    message_type: Mapped[str] = mapped_column(String(40), index=True)
    message_id: Mapped[str] = mapped_column(String(36))
    conversation_id: Mapped[str] = mapped_column(String(36))
    sender_domain: Mapped[str] = mapped_column(DOMAIN)
    sender_role: Mapped[str] = mapped_column(String(3))
    recipient_domain: Mapped[str] = mapped_column(DOMAIN, index=True)
    recipient_role: Mapped[str] = mapped_column(String(3))
    party_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    reference: Mapped[str | None] = mapped_column(String(300), index=True, nullable=True)
    ref_message_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    origin_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # in: accepted | rejected | received (a response) ; out: pending | sent | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    payload_xml: Mapped[str] = mapped_column(Text)
    signed_xml: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # outbox: when the next delivery attempt is due (None once sent or failed)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True,
                                                             index=True)
    __table_args__ = (UniqueConstraint("sender_domain", "message_id",
                                       name="uftp_sender_message_id"),)
