"""Electric water heaters: a thermostatically controllable load with a hot-water tank
(paper §2, Fig. 1 "Dispatchable Loads / TCL", Fig. 2).

§2: a TCL "can modify its consumption by up to a few hours; however, the change in power is
not significant, because it is bound by the violation of the comfort constraints". Here the
comfort constraint is the tank temperature band ``[t_min_c, t_max_c]``.

Tank model (fully mixed, one node), per ISP of ``dt`` hours::

    T[t+1] = T[t] + dt · (eff · P[t] − UA (T[t] − T_amb)) / C − (d[t] / V) · (T[t] − T_cold)

``C = 0.001163 · V`` kWh/K (``V`` litres of water, 4.186 kJ/(kg·K)), ``UA`` standing loss
(kW/K), ``P`` electric power (kW, element ``rated_kw``), ``eff`` heating efficiency (≈ 1 for a
resistive element), ``d[t]`` hot water drawn in the ISP (litres; the tank is refilled with
water at ``T_cold``). ``d`` comes from a per-unit draw profile, e.g. ``hot_water_draw_l``.

Controller (baseline and rebound): the power that brings the tank to ``t_set_c`` by the ISP's
end, clipped to ``[0, rated_kw]`` (a thermostat's duty cycle averaged over the ISP). Under an
activation the power is ``baseline − delta`` clipped to the range that keeps ``T`` in the
comfort band at the ISP's end; afterwards the controller reheats to ``t_set_c``: the rebound.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.der._fleet import Fleet
from localflex.der._headroom import comfort_headroom, comfort_request, whole_isps
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, InputError, TimeGrid

__all__ = ["WATER_KWH_PER_L_K", "WaterHeaterFleet", "hot_water_draw_l"]

WATER_KWH_PER_L_K = 4.186 / 3600.0  # 1 litre of water, 1 K


def hot_water_draw_l(
    time_grid: TimeGrid,
    daily_l: Any,
    *,
    peaks_utc_h: tuple[float, ...] = (6.5, 12.0, 19.0),
    peak_weights: tuple[float, ...] = (0.4, 0.2, 0.4),
    peak_width_h: float = 1.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Hot-water draw [T, N] litres per ISP: ``daily_l`` [N] spread over Gaussian peaks.

    The day's volume is split over the peaks (``peak_weights``, morning, noon, evening in UTC)
    as Gaussians of ``peak_width_h``; with ``rng`` every unit's peaks are shifted by
    N(0, 1 h) and scaled by a log-normal factor (σ = 0.3), so units differ (seeded).
    """
    daily = np.asarray(daily_l, dtype=float)
    n = 1 if daily.ndim == 0 else daily.size
    daily = v.vector("daily_l", daily, n, lo=0.0)
    if len(peaks_utc_h) != len(peak_weights) or not peaks_utc_h:
        raise InputError("peak_weights", peak_weights, "one weight per peak")
    hour = v.isp_mid_hour_utc(time_grid)[:, None]
    shift = np.zeros((len(peaks_utc_h), n)) if rng is None else rng.normal(
        0.0, 1.0, (len(peaks_utc_h), n))
    scale = np.ones(n) if rng is None else rng.lognormal(0.0, 0.3, n)
    shape = np.zeros((time_grid.n_isps, n))
    for k, (peak, weight) in enumerate(zip(peaks_utc_h, peak_weights, strict=True)):
        dist = (hour - peak - shift[k] + 12.0) % 24.0 - 12.0
        shape += weight * np.exp(-0.5 * (dist / peak_width_h) ** 2)
    days = time_grid.n_isps * time_grid.isp_hours / 24.0
    shape *= days / shape.sum(axis=0)
    return shape * daily * scale


class WaterHeaterFleet(Fleet):
    """``N`` electric water heaters (see the module docstring)."""

    der_type = DerType.WATER_HEATER
    STATE_ATTR = "t_tank0_c"  # carried from one day to the next (Fleet.end_state)
    DEFAULT_RAMP_FRACTION_PER_MIN = 6.0  # relay / solid-state switch (assumption)

    def __init__(
        self,
        der_id: Any,
        bus: Any,
        rated_kw: Any,
        tank_l: Any,
        draw_l: Any,
        *,
        t_set_c: Any = 55.0,
        t_min_c: Any = 45.0,
        t_max_c: Any = 65.0,
        t_tank0_c: Any | None = None,
        ua_kw_per_k: Any = 0.002,
        t_ambient_c: Any = 20.0,
        t_cold_c: Any = 10.0,
        efficiency: Any = 1.0,
        ramp_kw_per_min: Any | None = None,
        notification_min: Any = 5.0,
        response_min: Any = 1.0,
    ) -> None:
        n = self._init_units(der_id, bus)
        self.rated_kw = v.vector("rated_kw", rated_kw, n, lo=0.0)
        self.tank_l = v.vector("tank_l", tank_l, n, lo=0.0, lo_open=True)
        self.draw_l = v.matrix("draw_l", draw_l, n, lo=0.0, allow_1d=True)
        v.first_bad("draw_l", self.draw_l, self.draw_l > self.tank_l,
                    lambda ti: f"at most tank_l = {self.tank_l[ti[1]]} per ISP")
        self.t_set_c = v.vector("t_set_c", t_set_c, n)
        self.t_min_c = v.vector("t_min_c", t_min_c, n)
        self.t_max_c = v.vector("t_max_c", t_max_c, n)
        v.first_bad("t_set_c", self.t_set_c,
                    (self.t_min_c > self.t_set_c) | (self.t_set_c > self.t_max_c),
                    "t_min_c <= t_set_c <= t_max_c")
        self.t_tank0_c = (self.t_set_c.copy() if t_tank0_c is None
                          else v.vector("t_tank0_c", t_tank0_c, n))
        self.ua_kw_per_k = v.vector("ua_kw_per_k", ua_kw_per_k, n, lo=0.0)
        self.t_ambient_c = v.vector("t_ambient_c", t_ambient_c, n)
        self.t_cold_c = v.vector("t_cold_c", t_cold_c, n)
        self.efficiency = v.vector("efficiency", efficiency, n, lo=0.0, lo_open=True, hi=1.0)
        self._init_timing(self.rated_kw, ramp_kw_per_min, notification_min, response_min)
        self.c_kwh_per_k = WATER_KWH_PER_L_K * self.tank_l

    def _draw(self, time_grid: TimeGrid) -> np.ndarray:
        v.rows_match("draw_l", self.draw_l, time_grid)
        return self.draw_l

    # --- physics -------------------------------------------------------------------------
    def _free(self, temp: np.ndarray, draw: np.ndarray, dt: float) -> np.ndarray:
        """Tank temperature at the ISP's end with the element off."""
        return (temp - dt * self.ua_kw_per_k * (temp - self.t_ambient_c) / self.c_kwh_per_k
                - draw / self.tank_l * (temp - self.t_cold_c))

    def _k_per_kw(self, dt: float) -> np.ndarray:
        return dt * self.efficiency / self.c_kwh_per_k

    def simulate(
        self, time_grid: TimeGrid, delta_injection_kw: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Electric power [T, N] kW and tank temperature [T+1, N] °C (see module docstring)."""
        dt = time_grid.isp_hours
        draw = self._draw(time_grid)
        gain = self._k_per_kw(dt)
        n_isps = time_grid.n_isps
        p_out = np.empty((n_isps, self.n_units))
        temp = np.empty((n_isps + 1, self.n_units))
        temp[0] = self.t_tank0_c
        p_base = None if delta_injection_kw is None else self.simulate(time_grid)[0]
        for t in range(n_isps):
            free = self._free(temp[t], draw[t], dt)
            p = np.clip((self.t_set_c - free) / gain, 0.0, self.rated_kw)
            if p_base is not None:
                p = comfort_request(p, (self.t_min_c - free) / gain, (self.t_max_c - free) / gain,
                                    self.rated_kw, p_base[t], delta_injection_kw[t])
            p_out[t] = p
            temp[t + 1] = free + gain * p
        return p_out, temp

    def heat_balance_kwh(
        self, time_grid: TimeGrid, power_kw: np.ndarray, temp_c: np.ndarray
    ) -> np.ndarray:
        """Per unit: stored-heat change − (heat in − losses − draw heat); ≈ 0 (a check)."""
        dt = time_grid.isp_hours
        draw = self._draw(time_grid)
        stored = self.c_kwh_per_k * (temp_c[-1] - temp_c[0])
        heat_in = (self.efficiency * power_kw).sum(axis=0) * dt
        loss = (self.ua_kw_per_k * (temp_c[:-1] - self.t_ambient_c)).sum(axis=0) * dt
        drawn = (WATER_KWH_PER_L_K * draw * (temp_c[:-1] - self.t_cold_c)).sum(axis=0)
        return stored - (heat_in - loss - drawn)

    # --- contract ------------------------------------------------------------------------
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray:
        """Net load [T, N] kW of the controller holding ``t_set_c``."""
        return self.simulate(time_grid)[0]

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        """Single-ISP headroom from the baseline tank temperature, comfort-bounded.

        ``up_kw[t]``: power reduction that keeps ``T[t+1] >= t_min_c`` (at most the baseline),
        ``down_kw[t]``: increase that keeps ``T[t+1] <= t_max_c`` (at most rated − baseline).
        Energy bounds: the band's stored heat, ``C · min_t (T_base − t_min) / eff`` (UP) and
        ``C · min_t (t_max − T_base) / eff`` (DOWN), capped by the baseline energy (UP) and
        the unused rated energy (DOWN); losses neglected. ``max_duration_isps``: ISPs the
        element can stay off from ``t_set_c`` until ``t_min_c`` at the day's mean draw and
        the loss at ``t_set_c`` (a linear estimate; 0 if the baseline never heats).
        """
        dt = time_grid.isp_hours
        draw = self._draw(time_grid)
        p_base, temp = self.simulate(time_grid)
        headroom = comfort_headroom(temp[1:], self.t_min_c, self.t_max_c, self._k_per_kw(dt),
                                    self.c_kwh_per_k / self.efficiency, p_base, self.rated_kw,
                                    dt)
        # Off-time until the band is left: cooling from t_set at the rate of t_set with the
        # day's mean draw (linear; the real cooling slows as T falls, so this is the shorter).
        mean_draw_l_per_h = draw.mean(axis=0) / dt
        rate_k_per_h = (self.ua_kw_per_k * (self.t_set_c - self.t_ambient_c) / self.c_kwh_per_k
                        + mean_draw_l_per_h / self.tank_l * (self.t_set_c - self.t_cold_c))
        with np.errstate(divide="ignore"):
            hours = np.where(rate_k_per_h > 0, (self.t_set_c - self.t_min_c) / rate_k_per_h,
                             np.inf)
        max_dur = np.where((p_base > 0.0).any(axis=0), whole_isps(hours, time_grid), 0)
        return self._envelope(time_grid, *headroom, max_duration_isps=max_dur)

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N]: comfort-clipped activation, then controller rebound."""
        return self.simulate(time_grid, self._delta(time_grid, delta_injection_kw))[0]
