"""The DSO's covered need after an aggregator rejects a clearing award (paper §5.3: the DSO
buys relief at its congestion points; an award the aggregator will not deliver relieves
nothing).

The gate clearing (``service.clearing``) sets each request's ``covered_kw`` from the
engine's shortfall per congestion point. When the aggregator rejects the FlexOrder of a
clearing award and the award is reversed, ``recompute_coverage`` redoes that bookkeeping for
the buyer's requests of the gate from the awards that remain: the relief at point ``c`` is
``Σ power_kw × relief_kw_per_kw_up[isp, c, bus] × sign(direction)`` (the clearing's own
sensitivities, from the same cached forecast), covered = min(need, relief), handed to the
point's requests in the order they arrived (as the clearing does); the gate's shortfall row
of each such point is updated (or added) with the cause. It runs in the transaction of the
reversal (the forecast is the one the clearing computed, cached per day in the process).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from localflex.domain import Direction
from localflex.service.context import ServiceContext
from localflex.store.models import Award, Gate, Request, Shortfall
from localflex.store.vocab import RequestStatus

__all__ = ["recompute_coverage"]

_TOL_KW = 1e-6


def recompute_coverage(svc: ServiceContext, session: Session, gate_id: str, dso_id: str,
                       cause: str) -> dict[str, float]:
    """Covered kW per congestion point of ``dso_id``'s requests in ``gate_id`` from the
    awards left; the shortfall per point (kW)."""
    requests = list(session.scalars(select(Request).where(
        Request.gate_id == gate_id, Request.requester_id == dso_id,
        Request.status.in_([RequestStatus.COVERED.value, RequestStatus.PARTLY_COVERED.value]))
        .order_by(Request.created_at, Request.request_id)))
    if not requests:
        return {}
    gate = session.get(Gate, gate_id)
    forecast = svc.grid.forecast(gate.isp_start, gate.isp_minutes)
    k = forecast.isp_of(gate.isp_start)
    cp_pos = {c: i for i, c in enumerate(forecast.cp_ids)}
    bus_pos = {int(b): i for i, b in enumerate(forecast.bus_ids)}
    awards = list(session.scalars(select(Award).where(
        Award.gate_id == gate_id, Award.buyer_id == dso_id)))
    power = np.array([a.power_kw * Direction(a.direction).injection_sign for a in awards])
    buses = np.array([bus_pos[a.bus] for a in awards], dtype=np.int64)
    by_cp: dict[str, list[Request]] = defaultdict(list)
    for req in requests:
        by_cp[req.cp_id].append(req)
    short: dict[str, float] = {}
    for cp_id, reqs in by_cp.items():
        need = sum(r.power_kw for r in reqs)
        relief = float(power @ forecast.relief_kw_per_kw_up[k, cp_pos[cp_id], buses]) \
            if awards else 0.0
        covered = min(need, max(relief, 0.0))
        short[cp_id] = need - covered
        for req in reqs:
            req.covered_kw = float(min(req.power_kw, max(covered, 0.0)))
            covered -= req.covered_kw
            req.status = (RequestStatus.COVERED if req.covered_kw >= req.power_kw - _TOL_KW
                          else RequestStatus.PARTLY_COVERED).value
    rows = {r.cp_id: r for r in session.scalars(select(Shortfall).where(
        Shortfall.gate_id == gate_id, Shortfall.dso_id == dso_id))}
    for cp_id, kw in short.items():
        need = sum(r.power_kw for r in by_cp[cp_id])
        row = rows.get(cp_id)
        if row is None and kw > _TOL_KW:
            session.add(Shortfall(gate_id=gate_id, dso_id=dso_id, cp_id=cp_id, need_kw=need,
                                  covered_kw=need - kw, shortfall_kw=kw, cause=cause))
        elif row is not None and abs(row.shortfall_kw - kw) > _TOL_KW:
            row.covered_kw, row.shortfall_kw = need - kw, kw
            row.cause = f"{row.cause}; {cause}"
    return short
