"""Heat pumps in 1R1C buildings: comfort-bounded flexibility with rebound (paper §2, Fig. 1–2).

§2: a residential thermostatically controllable load "can modify its consumption by up to a
few hours; however, the change in power is not significant, because it is bound by the
violation of the comfort constraints of the end-user", and "controlling the set-points of
residential heat pumps ... will directly affect the internal temperature of the building".

Building model (one thermal node, 1R1C), per unit::

    C dT_in/dt = (T_out − T_in) / R + COP · P_el

``C`` = ``thermal_capacity_kwh_per_k`` (kWh/K), ``R`` = ``thermal_resistance_k_per_kw``
(K/kW), ``P_el`` electric power (kW), ``COP`` coefficient of performance (constant per unit).
With ``P_el`` and ``T_out`` constant over an ISP of ``dt`` hours the exact discretisation is::

    T[t+1] = a T[t] + (1 − a) (T_out[t] + R · COP · P_el[t]),      a = exp(−dt / (R C))

Controller (baseline and rebound): the proportional power that brings ``T_in`` to ``t_set`` at
the end of the ISP, ``P = ((t_set − a T) / (1 − a) − T_out) / (R COP)``, clipped to
``[0, rated_kw_el]`` (hysteresis-free; at ``T = t_set`` it is the steady-state loss
``(t_set − T_out) / (R COP)``). After an UP activation the same controller reheats the
building to ``t_set``, which is the rebound: consumption above baseline afterwards.

Comfort: ``t_set − comfort_band_k <= T_in <= t_set + comfort_band_k`` under activation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.der._fleet import Fleet
from localflex.der._headroom import comfort_headroom, comfort_request, whole_isps
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, TimeGrid

__all__ = ["HeatPumpFleet", "outdoor_temperature_c"]


def outdoor_temperature_c(
    time_grid: TimeGrid,
    day_mean_c: float = 2.0,
    amplitude_k: float = 4.0,
    coldest_hour_utc: float = 5.0,
) -> np.ndarray:
    """A parametric daily outdoor temperature [T] in °C.

    ``T_out(h) = day_mean_c − amplitude_k · cos(2π (h − coldest_hour_utc) / 24)`` with ``h``
    the UTC hour at the middle of the ISP: coldest at ``coldest_hour_utc`` (≈ dawn), warmest
    twelve hours later, daily mean ``day_mean_c``. Defaults: a Central-European winter day.
    """
    hour = v.isp_mid_hour_utc(time_grid)
    return day_mean_c - amplitude_k * np.cos(2.0 * np.pi * (hour - coldest_hour_utc) / 24.0)


class HeatPumpFleet(Fleet):
    """``N`` heat pumps, each heating one 1R1C building (see the module docstring)."""

    der_type = DerType.HEAT_PUMP
    STATE_ATTR = "t_indoor0_c"  # carried from one day to the next (Fleet.end_state)
    DEFAULT_RAMP_FRACTION_PER_MIN = 0.5  # inverter compressor: full range in ~2 min

    def __init__(
        self,
        der_id: Any,
        bus: Any,
        rated_kw_el: Any,
        cop: Any,
        thermal_resistance_k_per_kw: Any,
        thermal_capacity_kwh_per_k: Any,
        t_set_c: Any,
        comfort_band_k: Any,
        t_indoor0_c: Any | None,
        outdoor_temp_c: Any,
        *,
        ramp_kw_per_min: Any | None = None,
        notification_min: Any = 15.0,
        response_min: Any = 5.0,
    ) -> None:
        n = self._init_units(der_id, bus)
        self.rated_kw_el = v.vector("rated_kw_el", rated_kw_el, n, lo=0.0)
        self.cop = v.vector("cop", cop, n, lo=0.0, lo_open=True)
        self.r_k_per_kw = v.vector("thermal_resistance_k_per_kw", thermal_resistance_k_per_kw,
                                   n, lo=0.0, lo_open=True)
        self.c_kwh_per_k = v.vector("thermal_capacity_kwh_per_k", thermal_capacity_kwh_per_k,
                                    n, lo=0.0, lo_open=True)
        self.t_set_c = v.vector("t_set_c", t_set_c, n)
        self.comfort_band_k = v.vector("comfort_band_k", comfort_band_k, n, lo=0.0)
        self.t_indoor0_c = (
            self.t_set_c.copy() if t_indoor0_c is None
            else v.vector("t_indoor0_c", t_indoor0_c, n)
        )
        self.outdoor_temp_c = v.matrix("outdoor_temp_c", outdoor_temp_c, n, allow_1d=True)
        self._init_timing(self.rated_kw_el, ramp_kw_per_min, notification_min, response_min)
        self.t_min_c = self.t_set_c - self.comfort_band_k
        self.t_max_c = self.t_set_c + self.comfort_band_k
        self._gain_k_per_kw = self.r_k_per_kw * self.cop  # steady-state K per kW_el

    # --- physics -------------------------------------------------------------------------
    def _decay(self, time_grid: TimeGrid) -> np.ndarray:
        """``a = exp(−dt / (R C))`` per unit."""
        return np.exp(-time_grid.isp_hours / (self.r_k_per_kw * self.c_kwh_per_k))

    def _power_to_reach(
        self, target_c: np.ndarray, t_in_c: np.ndarray, t_out_c: np.ndarray, a: np.ndarray
    ) -> np.ndarray:
        """Unclipped electric power (kW) that takes T_in to ``target_c`` by the ISP's end."""
        return ((target_c - a * t_in_c) / (1.0 - a) - t_out_c) / self._gain_k_per_kw

    def _outdoor(self, time_grid: TimeGrid) -> np.ndarray:
        v.rows_match("outdoor_temp_c", self.outdoor_temp_c, time_grid)
        return self.outdoor_temp_c

    def simulate(
        self, time_grid: TimeGrid, delta_injection_kw: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Electric power [T, N] kW and indoor temperature [T+1, N] °C.

        Without a delta: the controller alone (baseline). Where the delta is non-zero the
        heat pump is asked for ``baseline − delta``, clipped to ``[0, rated]`` and to the
        power range that keeps ``T_in`` in the comfort band at the ISP's end (the band wins
        over the request; if the building is already outside the band, the rated limits win).
        Elsewhere the controller runs, which produces the rebound.
        """
        t_out = self._outdoor(time_grid)
        a = self._decay(time_grid)
        n_isps = time_grid.n_isps
        p_out = np.empty((n_isps, self.n_units))
        temp = np.empty((n_isps + 1, self.n_units))
        temp[0] = self.t_indoor0_c
        p_base = None if delta_injection_kw is None else self.simulate(time_grid)[0]
        for t in range(n_isps):
            p = np.clip(self._power_to_reach(self.t_set_c, temp[t], t_out[t], a),
                        0.0, self.rated_kw_el)
            if p_base is not None:
                p = comfort_request(
                    p, self._power_to_reach(self.t_min_c, temp[t], t_out[t], a),
                    self._power_to_reach(self.t_max_c, temp[t], t_out[t], a),
                    self.rated_kw_el, p_base[t], delta_injection_kw[t])
            p_out[t] = p
            temp[t + 1] = a * temp[t] + (1.0 - a) * (t_out[t] + self._gain_k_per_kw * p)
        return p_out, temp

    # --- contract ------------------------------------------------------------------------
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray:
        """Net load [T, N] kW of the controller holding ``t_set``."""
        return self.simulate(time_grid)[0]

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        """Single-ISP power headroom from the baseline state, comfort-bounded; energy bounds.

        ``up_kw[t]``: power reduction that keeps ``T_in[t+1] >= t_set − band`` (at most the
        baseline power); ``down_kw[t]``: increase that keeps ``T_in[t+1] <= t_set + band`` (at
        most rated − baseline). Energy bounds: the band's stored heat over COP,
        ``C · min_t (T_base − T_min) / COP`` (UP) and ``C · min_t (T_max − T_base) / COP``
        (DOWN), capped by the baseline energy (UP) and the unused rated energy (DOWN). They
        neglect the smaller (UP) or larger (DOWN) heat loss at the shifted temperature, so are
        conservative. ``max_duration_isps``: ISPs with the heat pump off until ``T_in`` leaves
        the band, the shortest over start times where the baseline heats (closed form of the
        free exponential decay).
        """
        dt = time_grid.isp_hours
        t_out = self._outdoor(time_grid)
        a = self._decay(time_grid)
        p_base, temp = self.simulate(time_grid)
        # d T[t+1] / d P[t] = (1 - a) R COP  (K per kW over one ISP); kWh_el per K = C / COP
        headroom = comfort_headroom(temp[1:], self.t_min_c, self.t_max_c,
                                    (1.0 - a) * self._gain_k_per_kw, self.c_kwh_per_k / self.cop,
                                    p_base, self.rated_kw_el, dt)
        # free decay T(τ) = T_out + (T0 − T_out) e^{−τ/RC}: hours until T = T_min
        tau_h = self.r_k_per_kw * self.c_kwh_per_k
        above = temp[:-1] - t_out
        floor = self.t_min_c - t_out
        decays = (floor > 0.0) & (above > floor)
        ratio = np.where(decays, above / np.where(decays, floor, 1.0), 1.0)
        hours = np.where(decays, tau_h * np.log(ratio), np.inf)
        hours = np.where(temp[:-1] <= self.t_min_c, 0.0, hours)
        hours = np.where(p_base > 0.0, hours, np.inf).min(axis=0)
        return self._envelope(time_grid, *headroom,
                              max_duration_isps=whole_isps(hours, time_grid))

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N]: comfort-clipped activation, then controller rebound."""
        return self.simulate(time_grid, self._delta(time_grid, delta_injection_kw))[0]
