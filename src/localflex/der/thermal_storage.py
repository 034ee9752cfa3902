"""Electric thermal storage: night storage heaters and electric heat stores
(paper §2, Fig. 1 "Energy Storage / Thermal Energy Storage").

A storage heater charges a ceramic core electrically (resistive, efficiency 1) while its
charging is *enabled* (the off-peak window of a night-storage tariff, e.g. 22:00–06:00, set
per ISP in ``charge_window``), and releases the heat the room needs over the day. Model per
ISP of ``dt`` hours, stored heat ``e`` (kWh_th) in ``[0, capacity_kwh]``::

    e[t+1] = e[t] · exp(−loss_per_h · dt) + (P[t] − q[t]) · dt,   0 <= P[t] <= rated_kw · w[t]

``w`` = the charging window (0/1), ``q`` = heat demand [T, N] kW_th (e.g.
``heat_demand_kw_th`` from outdoor temperature),
``loss_per_h`` = uncontrolled release through the casing that does not serve the demand
(a simplification: in practice part of it warms the room too).

Feasibility: the store must always be able to serve the demand until the horizon's end. The
floor ``e_floor[t]`` is the least content at ISP start that still covers the remaining demand
with the remaining charging windows, computed backwards once per unit::

    e_floor[T] = e_end_min,   e_floor[t] = max(0, (e_floor[t+1] + (q[t] − rated·window[t]) dt) / k)

Controller (baseline and rebound): charge as early as possible in the window towards the
charge target ``soc_target`` (the heater's charge controller, set from the day's heat need),
never below the floor and never above the capacity. Flexibility = shifting charging within the
window: UP = charge less now (bounded by the floor), DOWN = charge more now (bounded by the
capacity and the window). The content is carried forward, so an activation at ``t`` changes
what is possible at ``t+1``, and the controller catching up afterwards is the rebound.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.der._fleet import Fleet
from localflex.der._headroom import band_margins
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, InputError, TimeGrid

__all__ = ["ThermalStorageFleet", "night_window"]


def night_window(time_grid: TimeGrid, start_utc_h: float = 21.0, end_utc_h: float = 5.0
                 ) -> np.ndarray:
    """[T] bool: the ISP lies in the off-peak charging window (wraps over midnight)."""
    hour = v.isp_mid_hour_utc(time_grid)
    if start_utc_h <= end_utc_h:
        return (hour >= start_utc_h) & (hour < end_utc_h)
    return (hour >= start_utc_h) | (hour < end_utc_h)


class ThermalStorageFleet(Fleet):
    """``N`` electric thermal stores (see the module docstring)."""

    der_type = DerType.THERMAL_STORAGE
    STATE_ATTR = "e0_kwh"  # carried from one day to the next (Fleet.end_state)
    DEFAULT_RAMP_FRACTION_PER_MIN = 6.0  # contactor switching (assumption)

    def __init__(
        self,
        der_id: Any,
        bus: Any,
        rated_kw: Any,
        capacity_kwh: Any,
        heat_demand_kw_th: Any,
        charge_window: Any,
        *,
        soc0: Any = 0.3,
        soc_target: Any | None = None,
        soc_end_min: Any = 0.0,
        loss_per_h: Any = 0.01,
        ramp_kw_per_min: Any | None = None,
        notification_min: Any = 15.0,
        response_min: Any = 1.0,
    ) -> None:
        n = self._init_units(der_id, bus)
        self.rated_kw = v.vector("rated_kw", rated_kw, n, lo=0.0)
        self.capacity_kwh = v.vector("capacity_kwh", capacity_kwh, n, lo=0.0, lo_open=True)
        self.heat_demand_kw_th = v.matrix("heat_demand_kw_th", heat_demand_kw_th, n, lo=0.0,
                                          allow_1d=True)
        window = np.asarray(charge_window)
        if window.dtype != bool:
            raise InputError("charge_window", window.dtype.name, "a bool array [T] or [T, N]")
        self.charge_window = v.matrix("charge_window", window.astype(float), n,
                                      allow_1d=True) > 0.5
        self.soc0 = v.vector("soc0", soc0, n, lo=0.0, hi=1.0)
        self.soc_end_min = v.vector("soc_end_min", soc_end_min, n, lo=0.0, hi=1.0)
        self.loss_per_h = v.vector("loss_per_h", loss_per_h, n, lo=0.0)
        if soc_target is None:
            need = self.heat_demand_kw_th.sum(axis=0)  # kW·ISP, scaled per horizon below
            self._soc_target_auto = True
            self.soc_target = np.zeros(n)
            self._need_kw_isps = need
        else:
            self._soc_target_auto = False
            self.soc_target = v.vector("soc_target", soc_target, n, lo=0.0, hi=1.0)
        self._init_timing(self.rated_kw, ramp_kw_per_min, notification_min, response_min)
        self.e0_kwh = self.soc0 * self.capacity_kwh

    def _inputs(self, time_grid: TimeGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Demand [T, N], window [T, N] and charge target [N] kWh for this horizon."""
        v.rows_match("heat_demand_kw_th", self.heat_demand_kw_th, time_grid)
        v.rows_match("charge_window", self.charge_window, time_grid)
        if self._soc_target_auto:  # the day's heat need plus the end reserve, at most full
            target = np.minimum(self._need_kw_isps * time_grid.isp_hours
                                + self.soc_end_min * self.capacity_kwh, self.capacity_kwh)
        else:
            target = self.soc_target * self.capacity_kwh
        return self.heat_demand_kw_th, self.charge_window, target

    def floor_kwh(self, time_grid: TimeGrid) -> np.ndarray:
        """[T+1, N] least content at each ISP start that still serves all remaining demand."""
        q, window, _ = self._inputs(time_grid)
        dt = time_grid.isp_hours
        k = np.exp(-self.loss_per_h * dt)
        floor = np.empty((time_grid.n_isps + 1, self.n_units))
        floor[-1] = self.soc_end_min * self.capacity_kwh
        charge = self.rated_kw * window
        for t in range(time_grid.n_isps - 1, -1, -1):
            floor[t] = np.maximum((floor[t + 1] + (q[t] - charge[t]) * dt) / k, 0.0)
        return np.minimum(floor, self.capacity_kwh)

    def _bounds(self, e: np.ndarray, t: int, q: np.ndarray, window: np.ndarray,
                floor: np.ndarray, k: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        kept = e * k - q[t] * dt  # content at the ISP's end without charging
        p_max = self.rated_kw * window[t]
        p_hi = np.clip((self.capacity_kwh - kept) / dt, 0.0, p_max)
        p_lo = np.clip((floor[t + 1] - kept) / dt, 0.0, p_hi)
        return p_lo, p_hi

    def simulate(
        self, time_grid: TimeGrid, delta_injection_kw: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Charging power [T, N] kW, stored heat [T+1, N] kWh_th, unserved heat [T, N] kW_th."""
        q, window, target = self._inputs(time_grid)
        floor = self.floor_kwh(time_grid)
        dt = time_grid.isp_hours
        k = np.exp(-self.loss_per_h * dt)
        n_isps = time_grid.n_isps
        p_out = np.empty((n_isps, self.n_units))
        unserved = np.empty((n_isps, self.n_units))
        e_out = np.empty((n_isps + 1, self.n_units))
        e_out[0] = e = self.e0_kwh.copy()
        p_base = None if delta_injection_kw is None else self.simulate(time_grid)[0]
        for t in range(n_isps):
            p_lo, p_hi = self._bounds(e, t, q, window, floor, k, dt)
            want = (target - (e * k - q[t] * dt)) / dt
            if p_base is not None:
                want = np.where(delta_injection_kw[t] != 0.0,
                                p_base[t] - delta_injection_kw[t], want)
            p = p_out[t] = np.clip(want, p_lo, p_hi)
            e_next = e * k + (p - q[t]) * dt
            unserved[t] = np.maximum(-e_next, 0.0) / dt
            e = e_out[t + 1] = np.clip(e_next, 0.0, self.capacity_kwh)
        return p_out, e_out, unserved

    # --- contract ------------------------------------------------------------------------
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray:
        """Net load [T, N] kW: charging as early as possible in the window to the target."""
        return self.simulate(time_grid)[0]

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        """Charging that can be shifted in each ISP from the baseline content; energy bounds.

        ``up_kw = p_base − p_lo`` (charge less, floor kept), ``down_kw = p_hi − p_base``
        (charge more, capacity kept; zero outside the window). Energy: UP = the margin
        ``min_t (e_base − e_floor)``, DOWN = ``capacity − max_t e_base``, each at most the
        per-ISP headroom summed (losses neglected).
        """
        q, window, _ = self._inputs(time_grid)
        floor = self.floor_kwh(time_grid)
        dt = time_grid.isp_hours
        k = np.exp(-self.loss_per_h * dt)
        p_base, e_base, _ = self.simulate(time_grid)
        kept = e_base[:-1] * k - q * dt
        p_hi = np.clip((self.capacity_kwh - kept) / dt, 0.0, self.rated_kw * window)
        p_lo = np.clip((floor[1:] - kept) / dt, 0.0, p_hi)
        up = np.maximum(p_base - p_lo, 0.0)
        down = np.maximum(p_hi - p_base, 0.0)
        above_floor_kwh, room_kwh = band_margins(e_base, floor, self.capacity_kwh)
        return self._envelope(time_grid, up, down,
                              np.minimum(above_floor_kwh, up.sum(axis=0) * dt),
                              np.minimum(room_kwh, down.sum(axis=0) * dt))

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N]: floor and capacity respected, then controller catch-up."""
        return self.simulate(time_grid, self._delta(time_grid, delta_injection_kw))[0]
