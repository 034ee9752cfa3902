"""Parties, roles and API keys (paper §6, Table 2: who may buy, sell and operate).

The market operator creates parties and their keys; a DSO is given the congestion points it
operates (by default every point no other DSO operates). ``bootstrap_operator`` creates the
first market operator and prints nothing: the caller shows its key once.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from localflex.domain import Role
from localflex.service.auth import Caller, require_role
from localflex.service.context import ServiceContext
from localflex.service.errors import Conflict, NotFound
from localflex.service.keysync import announce_revocation
from localflex.service.schemas import KeyOut, PartyCreated, PartyIn, PartyOut
from localflex.store import Database, new_api_key, record
from localflex.store.models import CongestionPoint, Credential, Party, utcnow

__all__ = [
    "bootstrap_operator",
    "create_party",
    "issue_key",
    "list_parties",
    "party_out",
    "revoke_key",
]


def party_out(session: Session, party: Party) -> PartyOut:
    cps: list[str] = []
    if party.role == Role.DSO:
        cps = list(session.scalars(select(CongestionPoint.cp_id).where(
            CongestionPoint.dso_id == party.party_id).order_by(CongestionPoint.cp_id)))
    return PartyOut(party_id=party.party_id, name=party.name, role=Role(party.role),
                    created_at=party.created_at, congestion_points=cps)


def _add_key(session: Session, party_id: str) -> KeyOut:
    key = new_api_key()
    session.add(Credential(key_id=key.key_id, party_id=party_id, salt=key.salt,
                           key_hash=key.key_hash))
    return KeyOut(key_id=key.key_id, api_key=key.api_key)


def create_party(svc: ServiceContext, session: Session, caller: Caller,
                 body: PartyIn) -> PartyCreated:
    require_role(caller, "create parties", Role.MARKET_OPERATOR)
    if session.get(Party, body.party_id) is not None:
        raise Conflict("party_id", body.party_id, "an id no other party has")
    if body.congestion_points is not None and body.role != Role.DSO:
        raise Conflict("congestion_points", body.congestion_points, "null for a non-DSO party")
    party = Party(party_id=body.party_id, name=body.name, role=body.role.value)
    session.add(party)
    session.flush()
    if body.role == Role.DSO:
        cp_rows = {cp.cp_id: cp for cp in svc.grid.cp_rows()}
        wanted = (body.congestion_points if body.congestion_points is not None
                  else [c for c, row in cp_rows.items() if row.dso_id is None])
        for cp_id in wanted:
            if cp_id not in cp_rows:
                raise NotFound("congestion_points", cp_id, f"a congestion point of grid "
                               f"{svc.grid.code!r}")
        taken = session.scalars(select(CongestionPoint.cp_id).where(
            CongestionPoint.cp_id.in_(wanted), CongestionPoint.dso_id.is_not(None))).all()
        if taken:
            raise Conflict("congestion_points", taken[0], "a point no other DSO operates")
        if wanted:
            session.execute(update(CongestionPoint).where(CongestionPoint.cp_id.in_(wanted))
                            .values(dso_id=party.party_id))
    key = _add_key(session, party.party_id)
    record(session, caller.party_id, "create", "party", party.party_id, role=party.role)
    session.flush()
    return PartyCreated(party=party_out(session, party), key=key)


def issue_key(session: Session, caller: Caller, party_id: str) -> KeyOut:
    require_role(caller, "issue API keys", Role.MARKET_OPERATOR)
    if session.get(Party, party_id) is None:
        raise NotFound("party_id", party_id, "an existing party")
    key = _add_key(session, party_id)
    record(session, caller.party_id, "issue_key", "party", party_id, key_id=key.key_id)
    return key


def revoke_key(svc: ServiceContext, session: Session, caller: Caller, party_id: str,
               key_id: str) -> dict:
    require_role(caller, "revoke API keys", Role.MARKET_OPERATOR)
    cred = session.get(Credential, key_id)
    if cred is None or cred.party_id != party_id:
        raise NotFound("key_id", key_id, f"a key of party {party_id!r}")
    if cred.revoked_at is None:
        cred.revoked_at = utcnow()
    record(session, caller.party_id, "revoke_key", "party", party_id, key_id=key_id)
    svc.keys.clear()
    announce_revocation(session)  # the other workers clear theirs at commit
    return {"key_id": key_id, "revoked_at": cred.revoked_at.isoformat()}


def list_parties(session: Session, caller: Caller) -> list[PartyOut]:
    if caller.role == Role.MARKET_OPERATOR:
        parties = session.scalars(select(Party).order_by(Party.party_id)).all()
    else:
        parties = [session.get(Party, caller.party_id)]
    return [party_out(session, p) for p in parties]


def bootstrap_operator(db: Database, party_id: str = "operator",
                       name: str = "Market operator") -> KeyOut | None:
    """Create the first market operator and return its key; None if one exists already."""
    with db.write() as session:
        exists = session.scalar(select(Party).where(Party.role == Role.MARKET_OPERATOR.value))
        if exists is not None:
            return None
        session.add(Party(party_id=party_id, name=name, role=Role.MARKET_OPERATOR.value))
        session.flush()
        key = _add_key(session, party_id)
        record(session, None, "bootstrap", "party", party_id)
    return key
