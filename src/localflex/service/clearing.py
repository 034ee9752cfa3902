"""Clearing a gate at its closure with the engine's own DSO single-buyer clearing (§5.3).

``clear_gate`` runs ``localflex.market.clear_dso_single_buyer`` — the very function the
simulator studies — once per DSO with open GRID requests in the gate, in DSO id order:

* needs: ``overload_kw`` at a congestion point = the sum of the DSO's open requests there;
  ``headroom_kw`` = the forecast headroom of every other point (clipped at 0: buying relief
  must not overload a point the DSO did not ask about); sensitivities = the forecast day's
  ``relief_kw_per_kw_up`` at the gate's ISP (``gridstate``);
* offers: the gate's open offers with their remaining volume (``max_power_kw − awarded_kw``,
  after flex orders and earlier DSOs); an offer whose remaining volume is below its
  ``min_power_kw`` is left out;
* price cap: the lowest ``max_price_eur_per_mwh`` among the DSO's requests of the gate (the
  DSO never pays above a cap it stated);
* FLECH activation cap: where the DSO's UFTP reservations (FlexReservationUpdate) cover the
  gate, only the contract holders' offers at or under the reserved activation price and
  other offers strictly under it enter (``activation_caps``; FLECH's activation phase);
* payments: ``pay_as_bid_payments`` (pay-as-bid), one double entry DSO → aggregator per award.

The gate row is locked for the whole clearing, so a gate is cleared once; the awards,
activation instructions, ledger lines, shortfalls and statuses are written in one
transaction with the gate's ``cleared`` status. Requests' ``covered_kw`` is the covered need
of their point, handed out to the point's requests in the order they arrived.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext

import numpy as np
import pandas as pd
from sqlalchemy import select

from localflex.domain import OFFER_COLUMNS
from localflex.market import CongestionNeeds, clear_dso_single_buyer, pay_as_bid_payments
from localflex.service.activation_caps import activation_cap, admits
from localflex.service.auth import Caller
from localflex.service.context import ServiceContext, new_id
from localflex.service.errors import Conflict
from localflex.service.market_ops import (
    activation_for,
    add_payment,
    award_out,
    gate_out,
    gate_status,
    get_gate,
)
from localflex.service.money import eur, split_cents
from localflex.service.schemas import ClearingOut, ShortfallOut
from localflex.store import record
from localflex.store.models import Award, Gate, Offer, Request, Shortfall
from localflex.store.vocab import AwardSource, GateStatus, OfferStatus, RequestStatus

__all__ = ["clear_gate", "due_gates"]

_TOL_KW = 1e-6


def due_gates(svc: ServiceContext) -> list[str]:
    """Ids of gates past closure and not yet cleared."""
    with svc.db.read() as session:
        return list(session.scalars(select(Gate.gate_id).where(
            Gate.status != GateStatus.CLEARED.value, Gate.closes_at <= svc.now())
            .order_by(Gate.closes_at)))


def clear_gate(svc: ServiceContext, caller: Caller | None, gate_id: str) -> ClearingOut:
    """Clear ``gate_id`` now (closing it if it is still open); 409 if already cleared."""
    party_id = caller.party_id if caller else None
    with svc.db.read() as session:
        gate = get_gate(session, gate_id)
        needs_grid = session.scalar(select(Request.request_id).where(
            Request.gate_id == gate_id, Request.status == RequestStatus.OPEN.value).limit(1))
    forecast = svc.grid.forecast(gate.isp_start, gate.isp_minutes) if needs_grid else None
    books = svc.continuous.transaction() if svc.continuous is not None else nullcontext()
    with books, svc.db.write() as session:
        gate = session.scalar(svc.db.locked(select(Gate).where(Gate.gate_id == gate_id)))
        now = svc.now()
        if gate.status == GateStatus.CLEARED:
            raise Conflict("gate_id", gate_id, "a gate not cleared yet")
        if gate_status(gate, now) in (GateStatus.OPEN, GateStatus.SCHEDULED):
            gate.closes_at = now  # an explicit clear closes the gate
            gate.opens_at = min(gate.opens_at, now)
        if svc.continuous is not None:
            svc.continuous.close_gate(session, gate)
        requests = list(session.scalars(select(Request).where(
            Request.gate_id == gate_id, Request.status == RequestStatus.OPEN.value)
            .order_by(Request.created_at, Request.request_id)))
        offers = list(session.scalars(svc.db.locked(select(Offer).where(
            Offer.gate_id == gate_id,
            Offer.status.in_([OfferStatus.OPEN.value, OfferStatus.AWARDED.value]))
            .order_by(Offer.offer_id))))
        by_dso: dict[str, list[Request]] = defaultdict(list)
        for req in requests:
            by_dso[req.requester_id].append(req)
        awards: list[Award] = []
        shortfalls: list[Shortfall] = []
        solve_s = 0.0
        caps: dict[str, dict] = {}
        for dso_id in sorted(by_dso):
            a, s, t = _clear_for_dso(svc, session, gate, dso_id, by_dso[dso_id], offers,
                                     forecast, caps)
            awards += a
            shortfalls += s
            solve_s += t
        for offer in offers:
            if offer.awarded_kw <= 0:
                offer.status = OfferStatus.NOT_AWARDED.value
        total_cents = sum(a.cost_cents for a in awards)
        total = eur(total_cents)
        gate.status = GateStatus.CLEARED.value
        gate.cleared_at = now
        gate.clearing_summary = {
            "n_requests": len(requests), "n_offers": len(offers), "n_awards": len(awards),
            "awarded_kw": float(sum(a.power_kw for a in awards)), "total_cost_eur": total,
            "total_cost_cents": total_cents,
            "shortfall_kw": float(sum(s.shortfall_kw for s in shortfalls)),
            "solve_seconds": solve_s,
        }
        if caps:
            gate.clearing_summary["activation_caps"] = caps
        record(session, party_id, "clear", "gate", gate_id, **gate.clearing_summary)
        session.flush()
        return ClearingOut(
            gate=gate_out(gate, now), awards=[award_out(a) for a in awards],
            shortfalls=[ShortfallOut.model_validate(s) for s in shortfalls],
            total_cost_eur=total, total_cost_cents=total_cents)


def _clear_for_dso(svc, session, gate: Gate, dso_id: str, requests: list[Request],
                   offers: list[Offer], forecast,
                   caps: dict[str, dict]) -> tuple[list[Award], list[Shortfall], float]:
    k = forecast.isp_of(gate.isp_start)
    cp_ids = forecast.cp_ids
    cp_pos = {c: i for i, c in enumerate(cp_ids)}
    overload = np.zeros((1, cp_ids.size))
    for req in requests:
        overload[0, cp_pos[req.cp_id]] += req.power_kw
    headroom = np.maximum(forecast.headroom_kw[k:k + 1], 0.0)
    needs = CongestionNeeds(
        cp_ids=cp_ids, overload_kw=overload, headroom_kw=headroom,
        relief_kw_per_kw_up=forecast.relief_kw_per_kw_up[k:k + 1],
        bus_ids=forecast.bus_ids, isp_hours=gate.isp_minutes / 60.0)
    cap = activation_cap(session, dso_id, gate.gate_id)
    live = [o for o in offers if o.max_power_kw - o.awarded_kw > max(o.min_power_kw, 0) - 1e-12
            and o.max_power_kw - o.awarded_kw > _TOL_KW
            and admits(cap, o.aggregator_id, o.price_eur_per_mwh)]
    if cap is not None:
        caps[dso_id] = {"price_eur_per_mwh": cap.price_eur_per_mwh,
                        "contract_ids": list(cap.contract_ids),
                        "holders": sorted(cap.holders)}
    frame = pd.DataFrame({
        "offer_id": [o.offer_id for o in live],
        "aggregator_id": [o.aggregator_id for o in live],
        "bus": np.array([o.bus for o in live], dtype=np.int64),
        "isp": np.zeros(len(live), dtype=np.int64),
        "direction": [o.direction for o in live],
        "max_power_kw": np.array([o.max_power_kw - o.awarded_kw for o in live], dtype=float),
        "min_power_kw": np.array([min(o.min_power_kw, o.max_power_kw - o.awarded_kw)
                                  for o in live], dtype=float),
        "price_eur_per_mwh": np.array([o.price_eur_per_mwh for o in live], dtype=float),
        "der_type": [o.der_type for o in live],
        "block_id": [""] * len(live),
    }, columns=list(OFFER_COLUMNS))
    caps = [r.max_price_eur_per_mwh for r in requests if r.max_price_eur_per_mwh is not None]
    result = clear_dso_single_buyer(
        frame, needs, n_isps=1,
        shortfall_penalty_eur_per_mwh=svc.settings.shortfall_penalty_eur_per_mwh,
        max_price_eur_per_mwh=min(caps) if caps else None)
    by_id = {o.offer_id: o for o in live}
    now = svc.now()
    awards: list[Award] = []
    payments = pay_as_bid_payments(result.awards, dso_id)
    # the DSO's pay-as-bid total rounded once, split over the awards by largest remainder
    award_cents = split_cents(payments["amount_eur"].to_numpy(dtype=float))
    for row, cost_cents in zip(result.awards.itertuples(index=False), award_cents,
                               strict=True):
        offer = by_id[row.offer_id]
        award = Award(award_id=new_id("awd"), offer_id=offer.offer_id, gate_id=gate.gate_id,
                      buyer_id=dso_id, aggregator_id=offer.aggregator_id, bus=int(row.bus),
                      direction=row.direction, power_kw=float(row.power_kw),
                      price_eur_per_mwh=float(row.price_eur_per_mwh),
                      cost_cents=cost_cents, source=AwardSource.CLEARING.value,
                      created_at=now)
        offer.awarded_kw = min(offer.max_power_kw, offer.awarded_kw + award.power_kw)
        offer.status = OfferStatus.AWARDED.value
        session.add(award)
        awards.append(award)
    session.flush()
    for award, pay in zip(awards, payments.itertuples(index=False), strict=True):
        session.add(activation_for(award, gate))
        add_payment(session, payer=pay.payer, payee=pay.payee, amount_cents=award.cost_cents,
                    gate_id=gate.gate_id, award_id=award.award_id,
                    description=f"clearing of {gate.gate_id}, pay-as-bid")
    short_rows = [
        Shortfall(gate_id=gate.gate_id, dso_id=dso_id, cp_id=str(s.cp_id),
                  need_kw=float(s.need_kw), covered_kw=float(s.covered_kw),
                  shortfall_kw=float(s.shortfall_kw), cause=str(s.cause))
        for s in result.shortfalls.itertuples(index=False)
    ]
    session.add_all(short_rows)
    short_of = {s.cp_id: s.shortfall_kw for s in short_rows}
    by_cp: dict[str, list[Request]] = defaultdict(list)
    for req in requests:
        by_cp[req.cp_id].append(req)
    for cp_id, reqs in by_cp.items():
        covered = overload[0, cp_pos[cp_id]] - short_of.get(cp_id, 0.0)
        for req in reqs:
            req.covered_kw = float(min(req.power_kw, max(covered, 0.0)))
            covered -= req.covered_kw
            req.status = (RequestStatus.COVERED if req.covered_kw >= req.power_kw - _TOL_KW
                          else RequestStatus.PARTLY_COVERED).value
    return awards, short_rows, result.solve_seconds
