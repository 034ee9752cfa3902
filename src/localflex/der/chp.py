"""Heat-led CHP units with a heat store: bidirectional flexibility (paper §2, Fig. 1 "DG").

A combined heat and power unit makes electricity ``p`` (kW_el) and heat ``p / sigma`` (kW_th)
with a fixed power-to-heat ratio ``sigma``. It is *heat-led*: its output follows the heat
demand of the building (or heat network) it serves, within ``[p_min_kw, p_max_kw]`` while
running, or it is off (``p = 0``; the gap ``0 < p < p_min_kw`` is not allowed). A heat store
of ``storage_kwh_th`` decouples electricity from heat, which is the flexibility:

* UP (more electric output) stores the extra heat, bounded by the store's free room;
* DOWN (less output, down to off) covers the heat from the store, bounded by its content.

Heat store per ISP of ``dt`` hours (standing loss ``loss_per_h``, fraction of the content)::

    e[t+1] = e[t] · exp(−loss_per_h · dt) + (p[t] / sigma − q_demand[t]) · dt

A backup boiler (not electric, so not part of the net load) covers any heat the CHP and the
store cannot; ``simulate`` reports it. Heat demand is a per-unit profile ``heat_demand_kw_th``
[T, N], e.g. from outdoor temperature with ``localflex.der.heat_demand.heat_demand_kw_th``.

Controller (baseline and rebound): the output that brings the store back to its reference
content ``soc_ref`` by the ISP's end, ``p = sigma (q + (e_ref − e·k) / dt)``, clipped to the
feasible range of the ISP (see ``_bounds``). Net load = −p (a generator). Under an activation
the store content is carried forward, so an activation at ``t`` changes what is possible at
``t+1``, and the controller's return to ``e_ref`` afterwards is the rebound.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.der._fleet import Fleet
from localflex.der._headroom import band_margins
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, TimeGrid

__all__ = ["ChpFleet"]


class ChpFleet(Fleet):
    """``N`` heat-led CHP units with heat stores (see the module docstring)."""

    der_type = DerType.CHP
    STATE_ATTR = "e0_kwh"  # carried from one day to the next (Fleet.end_state)
    DEFAULT_RAMP_FRACTION_PER_MIN = 0.2  # gas engine: full range in ~5 min (assumption)

    def __init__(
        self,
        der_id: Any,
        bus: Any,
        p_max_kw: Any,
        heat_demand_kw_th: Any,
        *,
        p_min_kw: Any = 0.0,
        power_to_heat: Any = 0.5,
        storage_kwh_th: Any = 1.0,
        soc0: Any = 0.5,
        soc_ref: Any | None = None,
        loss_per_h: Any = 0.005,
        ramp_kw_per_min: Any | None = None,
        notification_min: Any = 15.0,
        response_min: Any = 5.0,
    ) -> None:
        n = self._init_units(der_id, bus)
        self.p_max_kw = v.vector("p_max_kw", p_max_kw, n, lo=0.0)
        self.p_min_kw = v.vector("p_min_kw", p_min_kw, n, lo=0.0)
        v.first_bad("p_min_kw", self.p_min_kw, self.p_min_kw > self.p_max_kw,
                    lambda i: f"at most p_max_kw = {self.p_max_kw[i]}")
        self.sigma = v.vector("power_to_heat", power_to_heat, n, lo=0.0, lo_open=True)
        self.storage_kwh_th = v.vector("storage_kwh_th", storage_kwh_th, n, lo=0.0,
                                       lo_open=True)
        self.soc0 = v.vector("soc0", soc0, n, lo=0.0, hi=1.0)
        self.soc_ref = self.soc0.copy() if soc_ref is None else v.vector("soc_ref", soc_ref, n,
                                                                         lo=0.0, hi=1.0)
        self.loss_per_h = v.vector("loss_per_h", loss_per_h, n, lo=0.0)
        self.heat_demand_kw_th = v.matrix("heat_demand_kw_th", heat_demand_kw_th, n, lo=0.0,
                                          allow_1d=True)
        self._init_timing(self.p_max_kw, ramp_kw_per_min, notification_min, response_min)
        self.e_max_kwh = self.storage_kwh_th
        self.e0_kwh = self.soc0 * self.storage_kwh_th
        self.e_ref_kwh = self.soc_ref * self.storage_kwh_th

    def _demand(self, time_grid: TimeGrid) -> np.ndarray:
        v.rows_match("heat_demand_kw_th", self.heat_demand_kw_th, time_grid)
        return self.heat_demand_kw_th

    # --- physics -------------------------------------------------------------------------
    def _bounds(
        self, kept_kwh: np.ndarray, q_kw: np.ndarray, dt: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feasible electric output [p_lo, p_hi] in one ISP (``kept_kwh`` = e·k after loss).

        ``p_lo``: 0 if the store can cover the ISP's heat, else the output that keeps it at
        empty (at least ``p_min``; at most ``p_max`` — the boiler covers the rest). ``p_hi``:
        the output whose heat fills the store exactly, at most ``p_max``; if even ``p_min``
        would overfill it, the unit must stay at ``p_lo``.
        """
        required = self.sigma * np.maximum(q_kw - kept_kwh / dt, 0.0)
        p_lo = np.where(required > 0.0, np.minimum(np.maximum(required, self.p_min_kw),
                                                    self.p_max_kw), 0.0)
        room = self.sigma * (q_kw + (self.e_max_kwh - kept_kwh) / dt)
        p_hi = np.maximum(np.minimum(self.p_max_kw, room), p_lo)
        p_hi = np.where(p_hi < self.p_min_kw, p_lo, p_hi)
        return p_lo, p_hi

    def _clip(self, want: np.ndarray, p_lo: np.ndarray, p_hi: np.ndarray) -> np.ndarray:
        """``want`` clipped to [p_lo, p_hi] and out of the gap (0, p_min): nearest of 0, p_min."""
        p = np.clip(want, p_lo, p_hi)
        gap = (p > 0.0) & (p < self.p_min_kw)
        up = gap & (p >= 0.5 * self.p_min_kw) & (self.p_min_kw <= p_hi)
        return np.where(gap, np.where(up, self.p_min_kw, 0.0), p)

    def simulate(
        self, time_grid: TimeGrid, delta_injection_kw: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Electric output [T, N] kW, store content [T+1, N] kWh_th, boiler heat [T, N] kW_th.

        Where the delta is non-zero the unit is asked for ``baseline output + delta`` (UP =
        more output), clipped to the ISP's feasible range; elsewhere the controller runs.
        """
        dt = time_grid.isp_hours
        q = self._demand(time_grid)
        k = np.exp(-self.loss_per_h * dt)
        n_isps = time_grid.n_isps
        p_out = np.empty((n_isps, self.n_units))
        boiler = np.empty((n_isps, self.n_units))
        e_out = np.empty((n_isps + 1, self.n_units))
        e_out[0] = e = self.e0_kwh.copy()
        p_base = None if delta_injection_kw is None else self.simulate(time_grid)[0]
        for t in range(n_isps):
            kept = e * k
            p_lo, p_hi = self._bounds(kept, q[t], dt)
            want = self.sigma * (q[t] + (self.e_ref_kwh - kept) / dt)
            if p_base is not None:
                want = np.where(delta_injection_kw[t] != 0.0,
                                p_base[t] + delta_injection_kw[t], want)
            p = p_out[t] = self._clip(want, p_lo, p_hi)
            e_next = kept + (p / self.sigma - q[t]) * dt
            boiler[t] = np.maximum(-e_next, 0.0) / dt
            e = e_out[t + 1] = np.clip(e_next, 0.0, self.e_max_kwh)
        return p_out, e_out, boiler

    # --- contract ------------------------------------------------------------------------
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray:
        """Net load [T, N] kW: −electric output of the heat-led controller."""
        return -self.simulate(time_grid)[0]

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        """Single-ISP headroom from the baseline store content; energy bounds from the store.

        ``up_kw = p_hi − p_base`` (heat into the store's free room), ``down_kw = p_base −
        p_lo`` (heat from the store, down to off). Energy: ``sigma · (E_max − max_t e_base)``
        (UP) and ``sigma · min_t e_base`` (DOWN): what the store can absorb or give at any
        time without the baseline hitting a bound afterwards (standing loss neglected).
        """
        dt = time_grid.isp_hours
        q = self._demand(time_grid)
        p_base, e_base, _ = self.simulate(time_grid)
        k = np.exp(-self.loss_per_h * dt)
        p_lo, p_hi = self._bounds(e_base[:-1] * k, q, dt)
        content_kwh, room_kwh = band_margins(e_base, 0.0, self.e_max_kwh)
        return self._envelope(time_grid, np.maximum(p_hi - p_base, 0.0),
                              np.maximum(p_base - p_lo, 0.0), self.sigma * room_kwh,
                              self.sigma * content_kwh)

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N] (−output): store content carried forward, then rebound."""
        return -self.simulate(time_grid, self._delta(time_grid, delta_injection_kw))[0]
