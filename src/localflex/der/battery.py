"""Behind-the-meter batteries: bidirectional flexibility bounded by state of charge (§2, Fig. 2).

§2: "battery storage can provide both upward and downward regulation". UP = discharge more
(or charge less), DOWN = charge more (or discharge less); both are bounded by the converter's
``power_kw`` and by the state of charge (SoC) window ``[soc_min, soc_max] * energy_kwh``.

State equation per ISP of ``dt`` hours, net load ``p`` (kW, positive = charging), round-trip
efficiency ``eta`` split as ``eta_c = eta_d = sqrt(eta)``::

    e[t+1] = e[t] + eta_c * p * dt      if p >= 0   (charging)
    e[t+1] = e[t] + p / eta_d * dt      if p <  0   (discharging)

The SoC is carried forward ISP by ISP (one numpy step per ISP over all units), so an
activation at ``t`` changes what is possible at ``t+1`` (the inter-temporal coupling of §2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.der._fleet import Fleet
from localflex.der._headroom import band_margins
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, TimeGrid

__all__ = ["BatteryFleet"]


class BatteryFleet(Fleet):
    """``N`` batteries with a baseline schedule (default idle) and SoC-bounded flexibility.

    ``restore_soc=True``: after an activation (ISPs where the requested delta is 0) the unit
    steers back to the baseline SoC trajectory as fast as its power allows (rebound); with
    ``False`` it resumes the baseline schedule and the SoC offset persists.
    """

    der_type = DerType.BATTERY
    STATE_ATTR = "e0_kwh"  # carried from one day to the next (Fleet.end_state)
    DEFAULT_RAMP_FRACTION_PER_MIN = 60.0  # power electronics: full power in ~1 s (assumption)

    def __init__(
        self,
        der_id: Any,
        bus: Any,
        power_kw: Any,
        energy_kwh: Any,
        soc0: Any = 0.5,
        efficiency: Any = 0.9,
        soc_min: Any = 0.1,
        soc_max: Any = 0.9,
        baseline_schedule_kw: Any | None = None,
        *,
        restore_soc: bool = True,
        ramp_kw_per_min: Any | None = None,
        notification_min: Any = 1.0,
        response_min: Any = 0.1,
    ) -> None:
        n = self._init_units(der_id, bus)
        self.power_kw = v.vector("power_kw", power_kw, n, lo=0.0)
        self.energy_kwh = v.vector("energy_kwh", energy_kwh, n, lo=0.0, lo_open=True)
        self.efficiency = v.vector("efficiency", efficiency, n, lo=0.0, lo_open=True, hi=1.0)
        self.soc_min = v.vector("soc_min", soc_min, n, lo=0.0, hi=1.0)
        self.soc_max = v.vector("soc_max", soc_max, n, lo=0.0, hi=1.0)
        self.soc0 = v.vector("soc0", soc0, n, lo=0.0, hi=1.0)
        v.first_bad("soc_max", self.soc_max, self.soc_max < self.soc_min,
                    "soc_min <= soc0 <= soc_max")
        v.first_bad("soc0", self.soc0, (self.soc0 < self.soc_min) | (self.soc0 > self.soc_max),
                    "soc_min <= soc0 <= soc_max")
        self.baseline_schedule_kw = (
            None if baseline_schedule_kw is None
            else v.matrix("baseline_schedule_kw", baseline_schedule_kw, n)
        )
        self.restore_soc = bool(restore_soc)
        self._init_timing(self.power_kw, ramp_kw_per_min, notification_min, response_min)
        self.eta_c = np.sqrt(self.efficiency)
        self.eta_d = np.sqrt(self.efficiency)
        self.e_min_kwh = self.soc_min * self.energy_kwh
        self.e_max_kwh = self.soc_max * self.energy_kwh
        self.e0_kwh = self.soc0 * self.energy_kwh

    # --- physics -------------------------------------------------------------------------
    def _power_bounds(self, e_kwh: np.ndarray, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
        """Feasible net load range [p_min, p_max] (kW) in one ISP from energy ``e_kwh``."""
        p_max = np.minimum(self.power_kw, np.maximum(self.e_max_kwh - e_kwh, 0.0)
                           / (self.eta_c * dt_h))
        p_min = -np.minimum(self.power_kw, np.maximum(e_kwh - self.e_min_kwh, 0.0)
                            * self.eta_d / dt_h)
        return p_min, p_max

    def _step(self, e_kwh: np.ndarray, p_kw: np.ndarray, dt_h: float) -> np.ndarray:
        gain = np.where(p_kw >= 0.0, p_kw * self.eta_c, p_kw / self.eta_d) * dt_h
        return np.clip(e_kwh + gain, self.e_min_kwh, self.e_max_kwh)  # float drift only

    def _power_for(self, e_kwh: np.ndarray, target_kwh: np.ndarray, dt_h: float) -> np.ndarray:
        """Net load that moves the energy from ``e_kwh`` to ``target_kwh`` in one ISP."""
        d = target_kwh - e_kwh
        return np.where(d >= 0.0, d / (self.eta_c * dt_h), d * self.eta_d / dt_h)

    def _schedule(self, time_grid: TimeGrid) -> np.ndarray:
        if self.baseline_schedule_kw is None:
            return np.zeros((time_grid.n_isps, self.n_units))
        v.rows_match("baseline_schedule_kw", self.baseline_schedule_kw, time_grid)
        return self.baseline_schedule_kw

    def simulate(
        self, time_grid: TimeGrid, delta_injection_kw: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Net load [T, N] kW and stored energy [T+1, N] kWh, with an optional activation.

        Without ``delta_injection_kw`` this is the baseline: the schedule clipped to what power
        and SoC allow. Where the delta is non-zero the unit is asked for ``baseline − delta``
        (clipped); elsewhere it follows the baseline schedule, or — with ``restore_soc`` —
        steers back to the baseline energy trajectory.
        """
        dt = time_grid.isp_hours
        sched = self._schedule(time_grid)
        n_isps = time_grid.n_isps
        p_out = np.empty((n_isps, self.n_units))
        e_out = np.empty((n_isps + 1, self.n_units))
        e = self.e0_kwh.copy()
        e_out[0] = e
        if delta_injection_kw is None:
            for t in range(n_isps):
                p_min, p_max = self._power_bounds(e, dt)
                p_out[t] = np.clip(sched[t], p_min, p_max)
                e = e_out[t + 1] = self._step(e, p_out[t], dt)
            return p_out, e_out
        p_base, e_base = self.simulate(time_grid)
        active = delta_injection_kw != 0.0
        for t in range(n_isps):
            p_min, p_max = self._power_bounds(e, dt)
            own = self._power_for(e, e_base[t + 1], dt) if self.restore_soc else sched[t]
            want = np.where(active[t], p_base[t] - delta_injection_kw[t], own)
            p_out[t] = np.clip(want, p_min, p_max)
            e = e_out[t + 1] = self._step(e, p_out[t], dt)
        return p_out, e_out

    # --- contract ------------------------------------------------------------------------
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray:
        """Net load [T, N] kW (positive = charging) of the schedule within power and SoC."""
        return self.simulate(time_grid)[0]

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        """Per-ISP power headroom around the baseline at the baseline SoC, and energy bounds.

        ``energy_up_max_kwh = eta_d * (min_t e_base[t] − e_min)``: the UP energy that can be
        taken at any time without the baseline ever reaching the SoC floor afterwards (exact
        for an idle baseline; conservative where UP only reduces charging, which costs
        ``eta_c`` instead of ``1/eta_d`` kWh of storage per kWh). DOWN mirrors it with
        ``(e_max − max_t e_base[t]) / eta_c``.
        """
        dt = time_grid.isp_hours
        p_base, e_base = self.simulate(time_grid)
        p_min, p_max = self._power_bounds(e_base[:-1], dt)
        above_min_kwh, below_max_kwh = band_margins(e_base, self.e_min_kwh, self.e_max_kwh)
        return self._envelope(time_grid, np.maximum(p_base - p_min, 0.0),
                              np.maximum(p_max - p_base, 0.0), above_min_kwh * self.eta_d,
                              below_max_kwh / self.eta_c)

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N] after the activation, SoC always within its window."""
        return self.simulate(time_grid, self._delta(time_grid, delta_injection_kw))[0]
