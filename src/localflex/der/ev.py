"""EV home charging as deferrable load with an energy need (paper §2, Fig. 1 "EV", Fig. 2).

One charging session per unit: plugged in ISPs ``arrival_isp <= t < departure_isp``, needing
``energy_need_kwh`` into the battery; the charger draws at most ``charger_kw`` from the grid
with ``efficiency`` (battery kWh = grid kWh × efficiency).

Baseline = "dumb" charging: full power from arrival until the need is met. Flexibility
(sign convention of ``Direction``):

* UP (charge less now) only as far as the need can still be met before departure at full
  power: ``p_t >= rem_t / (eff dt) − charger_kw (departure − t − 1)``.
* DOWN (charge more now) only up to the charger power and the remaining need.

The remaining need is carried forward ISP by ISP, so an activation at ``t`` changes what is
possible later (§2: inter-temporal constraints). After an activation the unit charges as
early as possible again (rebound), which is dumb charging applied to the remaining need.

Vehicle-to-grid (option, ``v2g_kw`` per unit, default 0 = no discharge, the behaviour
above): UP may go beyond stopping the charge, down to discharging at ``v2g_kw``. A discharge
of ``p < 0`` kW for ``dt`` hours takes ``|p| dt / efficiency`` from the battery (so the
remaining need grows by that), and is allowed only as far as (a) the need can still be met
before departure at full charger power and (b) the battery stays above its arrival content
minus ``v2g_energy_kwh`` (default 0: only energy charged in this session can go back)::

    |p| <= min(v2g_kw, (cap_after − rem) · eff / dt, (need + v2g_energy_kwh − rem) · eff / dt)

with ``cap_after = charger_kw · eff · dt · (ISPs left after this one)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.der._fleet import Fleet, draw_buses, sample_args, unit_ids
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, TimeGrid

__all__ = ["EvFleet"]

_EPS = 1e-9


class EvFleet(Fleet):
    """``N`` EV charging sessions (one per unit) with dumb-charging baseline."""

    der_type = DerType.EV
    DEFAULT_RAMP_FRACTION_PER_MIN = 6.0  # charger setpoint: full range in ~10 s (assumption)

    def __init__(
        self,
        der_id: Any,
        bus: Any,
        charger_kw: Any,
        arrival_isp: Any,
        departure_isp: Any,
        energy_need_kwh: Any,
        efficiency: Any = 0.9,
        *,
        v2g_kw: Any = 0.0,
        v2g_energy_kwh: Any = 0.0,
        ramp_kw_per_min: Any | None = None,
        notification_min: Any = 5.0,
        response_min: Any = 1.0,
    ) -> None:
        n = self._init_units(der_id, bus)
        self.charger_kw = v.vector("charger_kw", charger_kw, n, lo=0.0)
        self.arrival_isp = v.vector("arrival_isp", arrival_isp, n, dtype=int, lo=0)
        self.departure_isp = v.vector("departure_isp", departure_isp, n, dtype=int, lo=0)
        v.first_bad("departure_isp", self.departure_isp, self.departure_isp < self.arrival_isp,
                    lambda i: f"at least arrival_isp = {self.arrival_isp[i[0]]}")
        self.energy_need_kwh = v.vector("energy_need_kwh", energy_need_kwh, n, lo=0.0)
        self.efficiency = v.vector("efficiency", efficiency, n, lo=0.0, lo_open=True, hi=1.0)
        self.v2g_kw = v.vector("v2g_kw", v2g_kw, n, lo=0.0)
        self.v2g_energy_kwh = v.vector("v2g_energy_kwh", v2g_energy_kwh, n, lo=0.0)
        self._init_timing(self.charger_kw, ramp_kw_per_min, notification_min, response_min)

    @classmethod
    def sample(
        cls,
        n: int,
        buses: Any,
        rng: np.random.Generator,
        time_grid: TimeGrid,
        *,
        arrival_h: tuple[float, float] = (17.0, 20.0),
        departure_h: tuple[float, float] = (6.0, 8.0),
        energy_need_kwh: tuple[float, float] = (5.0, 25.0),
        charger_kw: Any | None = None,
        charger_kw_choices: tuple[float, ...] = (3.7, 7.4, 11.0),
        charger_kw_weights: tuple[float, ...] = (0.3, 0.3, 0.4),
        efficiency: float = 0.9,
        utc_offset_h: float = 0.0,
        id_prefix: str = "ev_",
        v2g_kw: Any = 0.0,
        v2g_energy_kwh: Any = 0.0,
    ) -> EvFleet:
        """Draw ``n`` plausible home-charging sessions from ``rng`` (deterministic per seed).

        Local arrival hour ~ U(arrival_h), departure the next morning ~ U(departure_h), need
        ~ U(energy_need_kwh) kWh, charger power ``charger_kw`` (scalar or per EV) or, if None,
        drawn from ``charger_kw_choices`` with ``charger_kw_weights``. ``buses``: one bus per
        EV if it has length ``n`` (kept in order), otherwise a pool drawn from uniformly. Ids
        are ``id_prefix`` + running number. Local time = UTC + ``utc_offset_h``. The session
        is the first arrival at or after the grid's start; its departure is cut at the
        horizon's end and its need capped to what full-power charging can deliver in the (cut)
        window, so every sampled session is feasible. One session per unit: a multi-day
        horizon needs one unit per session. ``v2g_kw`` / ``v2g_energy_kwh``: see the class.
        """
        buses = sample_args(n, buses, "EVs")
        if charger_kw is None:
            weights = np.asarray(charger_kw_weights, dtype=float)
            charger = rng.choice(np.asarray(charger_kw_choices, float), size=n,
                                 p=weights / weights.sum())
        else:
            charger = v.vector("charger_kw", charger_kw, n, lo=0.0)
        arr_h = rng.uniform(*arrival_h, size=n)
        dep_h = rng.uniform(*departure_h, size=n)
        need = rng.uniform(*energy_need_kwh, size=n)
        bus = draw_buses(buses, n, rng)
        start = time_grid.start
        start_local_h = (start.hour + start.minute / 60.0 + utc_offset_h) % 24.0
        arrival_offset_h = (arr_h - start_local_h) % 24.0
        dwell_h = (dep_h - arr_h) % 24.0
        isp_h = time_grid.isp_hours
        arrival = np.minimum(np.ceil(arrival_offset_h / isp_h - _EPS), time_grid.n_isps)
        departure = np.minimum(np.floor((arrival_offset_h + dwell_h) / isp_h + _EPS),
                               time_grid.n_isps)
        departure = np.maximum(departure, arrival)
        capacity = charger * efficiency * isp_h * (departure - arrival)
        return cls(unit_ids(id_prefix, n), bus, charger, arrival.astype(np.int64),
                   departure.astype(np.int64), np.minimum(need, capacity), efficiency,
                   v2g_kw=v2g_kw, v2g_energy_kwh=v2g_energy_kwh)

    def plugged(self, time_grid: TimeGrid) -> np.ndarray:
        """[T, N] bool: the EV is connected in the ISP."""
        t = np.arange(time_grid.n_isps)[:, None]
        return (t >= self.arrival_isp) & (t < self.departure_isp)

    def _baseline(self, time_grid: TimeGrid) -> tuple[np.ndarray, np.ndarray]:
        """Dumb charging in closed form: net load [T, N] and remaining need at ISP start."""
        v.within_horizon("departure_isp", self.departure_isp, time_grid)
        dt = time_grid.isp_hours
        step_kwh = self.charger_kw * self.efficiency * dt  # battery kWh per full ISP
        window = self.departure_isp - self.arrival_isp
        rel = np.arange(time_grid.n_isps)[:, None] - self.arrival_isp
        done_before = np.minimum(self.energy_need_kwh, np.clip(rel, 0, window) * step_kwh)
        done_after = np.minimum(self.energy_need_kwh, np.clip(rel + 1, 0, window) * step_kwh)
        p_kw = (done_after - done_before) / (self.efficiency * dt)
        return p_kw, self.energy_need_kwh - done_before

    def _p_floor(self, rem: np.ndarray, isps_after: np.ndarray, dt: float) -> np.ndarray:
        """Least net load (kW) that still meets the need; negative = V2G discharge allowed."""
        eff = self.efficiency
        must = rem / (eff * dt) - self.charger_kw * isps_after
        cap_after = self.charger_kw * eff * dt * isps_after
        discharge = np.minimum(self.v2g_kw, np.maximum(np.minimum(
            cap_after - rem, self.energy_need_kwh + self.v2g_energy_kwh - rem), 0.0) * eff / dt)
        return np.maximum(must, -discharge)

    def _rem_after(self, rem: np.ndarray, p_kw: np.ndarray, dt: float) -> np.ndarray:
        """Remaining need after one ISP at ``p_kw`` (discharge adds ``|p| dt / eff``)."""
        eff = self.efficiency
        return np.maximum(rem - np.where(p_kw >= 0.0, p_kw * eff, p_kw / eff) * dt, 0.0)

    # --- contract ------------------------------------------------------------------------
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray:
        """Net load [T, N] kW: full charger power from arrival until the need is met."""
        return self._baseline(time_grid)[0]

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        """UP = deferrable charging (need still met at full power), DOWN = advance charging.

        ``energy_up_max_kwh`` = the session's slack, ``charger_kw·dt·window − need/eff``
        (grid kWh that can be deferred in total), at most the baseline's energy — plus, with
        V2G, at most ``eff · (need + v2g_energy_kwh)`` discharged (still within the slack:
        every discharged kWh costs ``1/eff²`` kWh of charging time later).
        ``max_duration_isps`` = ISPs charging can be paused entirely.
        """
        dt = time_grid.isp_hours
        p_base, rem = self._baseline(time_grid)
        plugged = self.plugged(time_grid)
        t = np.arange(time_grid.n_isps)[:, None]
        isps_after = np.maximum(self.departure_isp - t - 1, 0)
        p_floor = self._p_floor(rem, isps_after, dt)
        p_ceil = np.minimum(self.charger_kw, rem / (self.efficiency * dt))
        up = np.where(plugged, np.clip(p_base - p_floor, 0.0, p_base + self.v2g_kw), 0.0)
        down = np.where(plugged, np.maximum(p_ceil - p_base, 0.0), 0.0)
        window = self.departure_isp - self.arrival_isp
        need_grid_kwh = self.energy_need_kwh / self.efficiency
        slack_kwh = self.charger_kw * dt * window - need_grid_kwh
        slack_kwh = np.where(slack_kwh > _EPS, slack_kwh, 0.0)  # float dust of a full window
        step_kwh = self.charger_kw * self.efficiency * dt
        with np.errstate(divide="ignore", invalid="ignore"):
            full_isps = np.where(step_kwh > 0,
                                 np.ceil(self.energy_need_kwh / step_kwh - _EPS), window)
        max_dur = np.clip(window - full_isps, 0, None).astype(np.int64)
        v2g_kwh = np.where(self.v2g_kw > 0,
                           self.efficiency * (self.energy_need_kwh + self.v2g_energy_kwh), 0.0)
        return self._envelope(
            time_grid, up, down, np.minimum(slack_kwh, p_base.sum(axis=0) * dt + v2g_kwh),
            np.minimum(down.sum(axis=0) * dt, need_grid_kwh), max_duration_isps=max_dur,
            earliest_start_isp=self.arrival_isp,  # n_isps = not plugged in the horizon
        )

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N]; the remaining need is carried forward per ISP.

        Where the delta is non-zero the charger is asked for ``baseline − delta``, clipped to
        ``[p_floor, p_ceil]`` (need still reachable; charger power and remaining need; a
        negative floor is V2G discharge) and to 0 when unplugged; elsewhere it charges as
        early as possible (rebound).
        """
        delta = self._delta(time_grid, delta_injection_kw)
        p_base, _ = self._baseline(time_grid)
        dt = time_grid.isp_hours
        eff_dt = self.efficiency * dt
        rem = self.energy_need_kwh.copy()
        out = np.empty_like(p_base)
        active = delta != 0.0
        for t in range(time_grid.n_isps):
            plugged = (t >= self.arrival_isp) & (t < self.departure_isp)
            p_ceil = np.where(plugged, np.minimum(self.charger_kw, rem / eff_dt), 0.0)
            isps_after = np.maximum(self.departure_isp - t - 1, 0)
            p_floor = np.where(plugged, np.minimum(self._p_floor(rem, isps_after, dt), p_ceil),
                               0.0)
            want = np.where(active[t], p_base[t] - delta[t], p_ceil)
            out[t] = np.clip(want, p_floor, p_ceil)
            rem = self._rem_after(rem, out[t], dt)
        return out
