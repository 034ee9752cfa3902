"""The traffic light per congestion point and ISP (paper §6.2: USEF regimes, BDEW traffic
light concept), as the service shows it.

Rules, per (congestion point, gate):

* **yellow** — the DSO is in the market for this point: a GRID request is open, or the
  gate was cleared and the point's requests were fully covered;
* **red** — the forecast loading exceeds the point's limit and nothing covers it: no
  request, or the clearing left a shortfall (the DSO would have to act outside the market);
* **green** — forecast loading at or below the limit and no request: the market is free.

USEF's orange (direct control of contracted resources) is not used by the service. The
forecast is the day's power flow of the grid's own profiles (``gridstate``); while the grid
is still loading, a point without a request is shown green with the reason "forecast
pending".
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from localflex.domain import TrafficLight
from localflex.service.context import ServiceContext
from localflex.service.errors import GridNotReady
from localflex.service.schemas import TrafficLightOut
from localflex.store.models import CongestionPoint, Gate, Request, Shortfall
from localflex.store.vocab import RequestStatus

__all__ = ["traffic_lights"]


def traffic_lights(svc: ServiceContext, gates: list[Gate],
                   cps: list[CongestionPoint]) -> list[TrafficLightOut]:
    if not gates or not cps:
        return []
    gate_ids = [g.gate_id for g in gates]
    with svc.db.read() as session:
        reqs = session.execute(select(Request.gate_id, Request.cp_id, Request.status).where(
            Request.gate_id.in_(gate_ids),
            Request.status != RequestStatus.CANCELLED.value)).all()
        shorts = session.execute(select(Shortfall.gate_id, Shortfall.cp_id).where(
            Shortfall.gate_id.in_(gate_ids))).all()
    statuses: dict[tuple[str, str], set[str]] = defaultdict(set)
    for gate_id, cp_id, status in reqs:
        statuses[gate_id, cp_id].add(status)
    short = {(g, c) for g, c in shorts}
    out = []
    for gate in gates:
        loading = None
        try:
            if svc.grid.ready.is_set():
                fc = svc.grid.forecast(gate.isp_start, gate.isp_minutes)
                k = fc.isp_of(gate.isp_start)
                loading = dict(zip(fc.cp_ids, fc.loading_pct[k], strict=True))
        except GridNotReady:
            loading = None
        for cp in cps:
            key = (gate.gate_id, cp.cp_id)
            pct = None if loading is None else float(loading.get(cp.cp_id, float("nan")))
            over = pct is not None and pct > cp.max_loading_pct
            st = statuses.get(key, set())
            if RequestStatus.OPEN.value in st:
                light, reason = TrafficLight.YELLOW, "DSO request open"
            elif st and key not in short:
                light, reason = TrafficLight.YELLOW, "DSO bought flexibility (covered)"
            elif over or key in short:
                light = TrafficLight.RED
                reason = ("clearing left a shortfall" if key in short
                          else "forecast overload, no DSO request")
            elif pct is None:
                light, reason = TrafficLight.GREEN, "forecast pending"
            else:
                light, reason = TrafficLight.GREEN, "forecast within limit"
            out.append(TrafficLightOut(
                gate_id=gate.gate_id, isp_start=gate.isp_start, cp_id=cp.cp_id,
                light=light.value, forecast_loading_pct=pct,
                max_loading_pct=cp.max_loading_pct, reason=reason))
    return out
