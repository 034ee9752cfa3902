"""UFTP FlexReservationUpdate carries a DSO's FLECH reservations (paper §5.3, FLECH refs
[54,55]: in the reservation phase the DSO contracts aggregators to hold flexibility at a
congestion point for a window of ISPs; ``localflex.market.flech`` is that design).

A FlexReservationUpdate from a DSO names a congestion point it operates, a ContractID and,
per ISP of a day, the power reserved (W, UFTP sign: + = more consumption). The market checks
the point and the ISPs (each must have a gate), keeps the reservation with the message
(``detail``: ``reserved_kw`` and direction per ISP, the form of FLECH's contract windows)
and relays it only to the aggregator holding the ContractID (registered with the
participant, ``contracts``) with a connection at the point — a reservation is bilateral,
other aggregators never see it; its FlexReservationUpdateResponse is stored on the relayed
message. An unknown ContractID is Rejected. A new update for the same
ContractID and day supersedes the previous one.

FLECH's activation phase: the reservation caps the gate clearings of its ISPs
(``localflex.service.activation_caps``). The UFTP message carries no price, so the cap is
the activation price registered with the holder's contract (participant field
``contract_prices``), kept in ``detail.holders``; a contract registered without a price
reserves without capping.
"""

from __future__ import annotations

from shapeshifter_uftp.uftp import FlexReservationUpdate
from sqlalchemy import select

from localflex.domain import InputError, Role
from localflex.service import market_ops
from localflex.service.errors import Forbidden, NotFound
from localflex.service.uftp.messaging import (
    Handled,
    Inbound,
    Outgoing,
    acceptance,
    copy_message,
    expand_isps,
)
from localflex.service.uftp.models import UftpParticipant
from localflex.service.uftp.protocol import (
    cp_of_entity_address,
    isp_minutes_of,
    isp_start,
    power_direction,
)
from localflex.store.models import CongestionPoint, Gate

__all__ = ["on_flex_reservation_update"]


def on_flex_reservation_update(inb: Inbound) -> Handled:
    m: FlexReservationUpdate = inb.message
    cp_id = cp_of_entity_address(inb.state.domain, m.congestion_point)
    cp = inb.session.get(CongestionPoint, cp_id)
    if cp is None:
        raise NotFound("CongestionPoint", m.congestion_point, "a congestion point of the grid")
    if cp.dso_id != inb.caller.party_id:
        raise Forbidden(Role.DSO.value, f"reserve flexibility at {cp_id}, a congestion point "
                        "operated by another DSO")
    period, minutes = m.period.to_date(), isp_minutes_of(m.isp_duration)
    reserved = []
    for n, isp in expand_isps(m.isps):
        start = isp_start(period, m.time_zone, minutes, n)
        gate = inb.session.get(Gate, market_ops.gate_id_of(start))
        if gate is None:
            raise NotFound("ISP", n, f"an ISP for which the market has a gate ({start})")
        if isp.power != 0:
            reserved.append({"isp": n, "gate_id": gate.gate_id,
                             "direction": power_direction(isp.power).value,
                             "reserved_kw": abs(isp.power) / 1000.0})
    holders = [agr for agr in inb.session.scalars(select(UftpParticipant).where(
        UftpParticipant.role == "AGR", UftpParticipant.revoked_at.is_(None))
        .order_by(UftpParticipant.domain))
        if cp_id in (agr.connections or {}) and m.contract_id in (agr.contracts or [])]
    if not holders:
        raise InputError("ContractID", m.contract_id, f"the ContractID of an aggregator "
                         f"connected at {cp_id} (registered with the aggregator)")
    forwards = [Outgoing(copy_message(m), agr, reference=f"{m.contract_id}|{period}",
                         ref_message_id=m.message_id) for agr in holders]
    holder_prices = [{"party_id": agr.party_id, "activation_price_eur_per_mwh":
                      (agr.contract_prices or {}).get(m.contract_id)} for agr in holders]
    detail = {"cp_id": cp_id, "period": period.isoformat(), "contract_id": m.contract_id,
              "reservation_reference": m.reference, "reserved": reserved,
              "holders": holder_prices,
              "relayed_to": [f.recipient.domain for f in forwards]}
    return Handled(response=acceptance(m), forwards=forwards,
                   reference=f"{m.contract_id}|{period.isoformat()}", detail=detail)
