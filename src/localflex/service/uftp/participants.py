"""UFTP participants: a domain and USEF role with an Ed25519 public key, linked to a party.

Paper §6 (Table 2): who may buy (a DSO) and sell (an aggregator) stays the party's role; the
UFTP registration only says which signed messages speak for that party. The market operator
registers participants (the out-of-band key exchange UFTP otherwise does through DNS
``_<role>._usef.<domain>`` TXT records): a ``DSO`` participant must belong to a ``dso``
party, an ``AGR`` participant to an ``aggregator`` party, whose ``connections`` map each
congestion point where it offers to the bus its resources connect to.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from localflex.domain import InputError, Role
from localflex.service.auth import Caller, require_role
from localflex.service.context import ServiceContext
from localflex.service.errors import Conflict, NotFound
from localflex.service.uftp.messaging import PARTY_ROLE
from localflex.service.uftp.models import UftpParticipant
from localflex.service.uftp.protocol import valid_public_key
from localflex.store import record
from localflex.store.models import CongestionPoint, Party, utcnow

__all__ = ["ParticipantIn", "ParticipantOut", "list_participants", "register_participant",
           "revoke_participant"]

Domain = Annotated[str, Field(min_length=4, max_length=253,
                              pattern=r"^([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}$")]


class ParticipantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: Domain
    role: Literal["DSO", "AGR"]
    party_id: Annotated[str, Field(min_length=1, max_length=64)]
    public_key: Annotated[str, Field(min_length=40, max_length=64,
                                     description="base64 Ed25519 public key (32 bytes)")]
    endpoint: Annotated[str, Field(min_length=8, max_length=500, pattern=r"^https?://",
                                   description="where the market POSTs its UFTP messages")]
    connections: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=10_000,
        description="AGR: congestion point id → bus of the aggregator's resources there")
    contracts: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=1_000,
        description="AGR: ContractIDs of its flexibility reservations with DSOs (a "
        "FlexReservationUpdate goes only to the aggregator holding its ContractID)")
    contract_prices: dict[Annotated[str, Field(min_length=1, max_length=200)],
                          Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0,
                                                 le=1e6)]] = Field(
        default_factory=dict, max_length=1_000,
        description="AGR: ContractID → the activation price (EUR/MWh) committed under it in "
        "FLECH's reservation phase; a FlexReservationUpdate carries no price, so this is the "
        "cap its reservation sets on later gate clearings (every key one of `contracts`)")


class ParticipantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    domain: str
    role: str
    party_id: str
    public_key: str
    endpoint: str
    connections: dict[str, int]
    contracts: list[str] = []
    contract_prices: dict[str, float] = {}
    revoked_at: str | None = None


def _out(p: UftpParticipant) -> ParticipantOut:
    return ParticipantOut(domain=p.domain, role=p.role, party_id=p.party_id,
                          public_key=p.public_key, endpoint=p.endpoint,
                          connections=p.connections or {}, contracts=p.contracts or [],
                          contract_prices=p.contract_prices or {},
                          revoked_at=p.revoked_at.isoformat() if p.revoked_at else None)


def register_participant(svc: ServiceContext, session: Session, caller: Caller,
                         body: ParticipantIn) -> ParticipantOut:
    require_role(caller, "register UFTP participants", Role.MARKET_OPERATOR)
    party = session.get(Party, body.party_id)
    if party is None:
        raise NotFound("party_id", body.party_id, "an existing party")
    if party.role != PARTY_ROLE[body.role]:
        raise InputError("role", body.role, f"the UFTP role of a {party.role} party "
                         f"({'DSO' if party.role == Role.DSO else 'AGR'}), or another party")
    valid_public_key(body.public_key)
    if body.connections and body.role != "AGR":
        raise InputError("connections", body.connections, "empty for a DSO participant")
    if body.contracts and body.role != "AGR":
        raise InputError("contracts", body.contracts, "empty for a DSO participant")
    for contract in body.contract_prices:
        if contract not in body.contracts:
            raise InputError("contract_prices", contract, "a ContractID listed in contracts")
    buses = svc.grid.bus_ids()
    known = set(session.scalars(select(CongestionPoint.cp_id)))
    for cp_id, bus in body.connections.items():
        if cp_id not in known:
            raise InputError("connections", cp_id, "a congestion point of the market's grid")
        if bus not in buses:
            raise InputError(f"connections.{cp_id}", bus, f"a bus of grid {svc.grid.code!r}")
    if session.get(UftpParticipant, (body.domain, body.role)) is not None:
        raise Conflict("domain", body.domain, f"a domain not registered as {body.role} yet")
    row = UftpParticipant(domain=body.domain, role=body.role, party_id=body.party_id,
                          public_key=body.public_key, endpoint=body.endpoint,
                          connections=dict(body.connections), contracts=list(body.contracts),
                          contract_prices=dict(body.contract_prices))
    session.add(row)
    record(session, caller.party_id, "register", "uftp_participant",
           f"{body.role}:{body.domain}"[:64], linked_party=body.party_id)
    session.flush()
    return _out(row)


def list_participants(session: Session, caller: Caller) -> list[ParticipantOut]:
    stmt = select(UftpParticipant).order_by(UftpParticipant.role, UftpParticipant.domain)
    if caller.role != Role.MARKET_OPERATOR:
        stmt = stmt.where(UftpParticipant.party_id == caller.party_id)
    return [_out(p) for p in session.scalars(stmt)]


def revoke_participant(session: Session, caller: Caller, role: str,
                       domain: str) -> ParticipantOut:
    require_role(caller, "revoke UFTP participants", Role.MARKET_OPERATOR)
    row = session.get(UftpParticipant, (domain, role))
    if row is None:
        raise NotFound("domain", domain, f"a registered {role} participant")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    record(session, caller.party_id, "revoke", "uftp_participant", f"{role}:{domain}"[:64])
    return _out(row)
