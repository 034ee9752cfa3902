"""FLECH's activation cap on the service's gate clearings (paper §5.3, refs [54,55]).

"An activation market where DSO can call for flexibility activation and other aggregators,
which, even if they are not involved in the reservation phase, can bid at a lower price than
the established price in the reservation phase (considered as a cap)." The rule is
``localflex.market.flech.activate_flexibility``'s, applied to the service's reservations:

* a reservation is a DSO's accepted UFTP FlexReservationUpdate (the latest per ContractID and
  day supersedes earlier ones); it covers the gates of its ISPs with reserved power, at the
  activation price registered with the holder's contract;
* the cap of a DSO's clearing of a gate = the highest activation price among its
  reservations covering the gate (no priced reservation: no cap);
* a contract holder's offer is admitted at a price up to the cap (its committed price);
  any other aggregator's offer only if it strictly undercuts the cap.

The query reads one DSO's reservation messages (a handful per day), not the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from localflex.store.uftp_records import UftpMessage

__all__ = ["ActivationCap", "activation_cap", "admits"]


@dataclass(frozen=True)
class ActivationCap:
    """The cap of one DSO's clearing of one gate and who holds the reservations behind it."""

    price_eur_per_mwh: float
    holders: frozenset[str]
    contract_ids: tuple[str, ...]


def activation_cap(session: Session, dso_id: str, gate_id: str) -> ActivationCap | None:
    """The FLECH activation cap the DSO's reservations set on ``gate_id``, or None."""
    latest: dict[str, dict] = {}
    for ref, detail in session.execute(select(UftpMessage.reference, UftpMessage.detail).where(
            UftpMessage.direction == "in", UftpMessage.message_type == "FlexReservationUpdate",
            UftpMessage.status == "accepted", UftpMessage.party_id == dso_id)
            .order_by(UftpMessage.id)):
        latest[ref] = detail  # a later update of the same ContractID and day supersedes
    prices: list[float] = []
    holders: set[str] = set()
    contracts: list[str] = []
    for detail in latest.values():
        if not any(r["gate_id"] == gate_id and r["reserved_kw"] > 0
                   for r in detail.get("reserved", [])):
            continue
        for holder in detail.get("holders", []):
            price = holder.get("activation_price_eur_per_mwh")
            if price is not None:
                prices.append(float(price))
                holders.add(holder["party_id"])
                contracts.append(detail["contract_id"])
    if not prices:
        return None
    return ActivationCap(max(prices), frozenset(holders), tuple(sorted(set(contracts))))


def admits(cap: ActivationCap | None, aggregator_id: str, price_eur_per_mwh: float) -> bool:
    """Whether an offer enters the capped clearing: holders up to the cap, others below it."""
    if cap is None:
        return True
    if aggregator_id in cap.holders:
        return price_eur_per_mwh <= cap.price_eur_per_mwh
    return price_eur_per_mwh < cap.price_eur_per_mwh
