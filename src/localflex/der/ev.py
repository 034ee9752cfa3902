"""EV home charging as deferrable load with an energy need (paper §2, Fig. 1 "EV", Fig. 2).

A unit's own charging session: plugged in from ``arrival_isp`` until its real departure
``departure_isp``, needing ``energy_need_kwh`` into the battery; the charger draws at most
``charger_kw`` from the grid with ``efficiency`` (battery kWh = grid kWh × efficiency). The
departure may lie past the horizon's end (an evening arrival leaving the next morning): the
unit is then plugged until the horizon's end and its flexibility still counts on the real
departure — charging may be deferred past midnight as long as the need can be met at full
power before the car leaves.

A unit may also carry a session from the horizon before (``with_state`` of an ``end_state``):
plugged from the horizon's start until ``carried_departure_isp``, needing
``carried_need_kwh`` (what was left at the end of the day before). It ends before the unit's
own session begins, so a unit has at most one session plugged in any ISP.

Baseline = "dumb" charging: full power from each session's start until its need is met (a
session past the horizon charges until the horizon's end; the rest is carried). Flexibility
(sign convention of ``Direction``):

* UP (charge less now) only as far as the need can still be met before departure at full
  power: ``p_t >= rem_t / (eff dt) − charger_kw (departure − t − 1)``.
* DOWN (charge more now) only up to the charger power and the remaining need.

The remaining need is carried forward ISP by ISP, so an activation at ``t`` changes what is
possible later (§2: inter-temporal constraints). After an activation the unit charges as
early as possible again (rebound), which is dumb charging applied to the remaining need.
What is left when the horizon ends is the next horizon's carried session (``end_state``):
energy deferred past midnight is charged the next morning.

Vehicle-to-grid (option, ``v2g_kw`` per unit, default 0 = no discharge, the behaviour
above): UP may go beyond stopping the charge, down to discharging at ``v2g_kw``. A discharge
of ``p < 0`` kW for ``dt`` hours takes ``|p| dt / efficiency`` from the battery (so the
remaining need grows by that), and is allowed only as far as (a) the need can still be met
before departure at full charger power and (b) the battery stays above its arrival content
minus ``v2g_energy_kwh`` (default 0: only energy charged in this session can go back)::

    |p| <= min(v2g_kw, (cap_after − rem) · eff / dt, (need + v2g_energy_kwh − rem) · eff / dt)

with ``cap_after = charger_kw · eff · dt · (ISPs left after this one)`` and ``need`` the
session's need at its arrival (``carried_session_need_kwh`` for a carried session).
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import numpy as np

from localflex.der import _validate as v
from localflex.der._fleet import Fleet, draw_buses, sample_args, unit_ids
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, InputError, TimeGrid

__all__ = ["EvFleet"]

_EPS = 1e-9
_STATE_KEYS = ("carried_need_kwh", "carried_departure_isp", "carried_session_need_kwh")


class _Sessions(NamedTuple):
    """A fleet's two sessions per unit on a horizon (row 0 carried, row 1 own), [2, N]."""

    start: np.ndarray  # first plugged ISP
    end: np.ndarray  # plugged until (exclusive), at most n_isps
    departure: np.ndarray  # real departure (may lie past the horizon)
    need_kwh: np.ndarray  # battery kWh still to charge at ``start``
    session_need_kwh: np.ndarray  # the need at arrival (V2G bound)

    def per_isp(self, n_isps: int) -> tuple[np.ndarray, np.ndarray]:
        """[T, 2, N] bool: session plugged; [T, 2, N] bool: session starts in the ISP."""
        t = np.arange(n_isps)[:, None, None]
        return (t >= self.start) & (t < self.end), t == self.start

    def of_plugged(self, plugged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[T, N] real departure and need at arrival of the session plugged in the ISP
        (0 where none is), from ``plugged`` [T, 2, N]."""
        return (np.where(plugged, self.departure, 0).sum(axis=1),
                np.where(plugged, self.session_need_kwh, 0.0).sum(axis=1))


def _carried(arrival_isp: np.ndarray, need_kwh: Any, departure_isp: Any,
             session_need_kwh: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The checked carried session: need, departure, need at arrival (constructor and
    ``with_state``)."""
    n = arrival_isp.size
    departure = v.vector("carried_departure_isp", departure_isp, n, dtype=int, lo=0)
    v.first_bad("carried_departure_isp", departure, departure > arrival_isp,
                lambda i: f"at most arrival_isp = {arrival_isp[i[0]]} (the carried session "
                          "ends before the unit's own begins)")
    need = v.vector("carried_need_kwh", need_kwh, n, lo=0.0)
    v.first_bad("carried_need_kwh", need, (need > 0) & (departure == 0),
                "0 where carried_departure_isp = 0 (no carried session)")
    session = v.vector("carried_session_need_kwh",
                       need if session_need_kwh is None else session_need_kwh, n, lo=0.0)
    return need, departure, session


class EvFleet(Fleet):
    """``N`` EV charging units (an own and optionally a carried session each) with
    dumb-charging baseline."""

    der_type = DerType.EV
    STATE_ATTR = "carried_need_kwh"  # with carried_departure_isp, carried_session_need_kwh
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
        carried_need_kwh: Any = 0.0,
        carried_departure_isp: Any = 0,
        carried_session_need_kwh: Any | None = None,
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
        self.carried_need_kwh, self.carried_departure_isp, self.carried_session_need_kwh = (
            _carried(self.arrival_isp, carried_need_kwh, carried_departure_isp,
                     carried_session_need_kwh))
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
        is the first arrival at or after the grid's start; its departure may lie past the
        horizon's end (a one-day horizon: the next morning; the unit is plugged until the
        horizon's end and the rest carries over, ``end_state``) and its need is capped to
        what full-power charging can deliver before the departure, so every sampled session
        is feasible. An arrival at or after the horizon's end is no session (need 0). One
        session per unit: a multi-day horizon needs one unit per session. ``v2g_kw`` /
        ``v2g_energy_kwh``: see the class.
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
        departure = np.floor((arrival_offset_h + dwell_h) / isp_h + _EPS)
        departure = np.where(arrival >= time_grid.n_isps, arrival,
                             np.maximum(departure, arrival))
        capacity = charger * efficiency * isp_h * (departure - arrival)
        return cls(unit_ids(id_prefix, n), bus, charger, arrival.astype(np.int64),
                   departure.astype(np.int64), np.minimum(need, capacity), efficiency,
                   v2g_kw=v2g_kw, v2g_energy_kwh=v2g_energy_kwh)

    def _sessions(self, time_grid: TimeGrid) -> _Sessions:
        v.within_horizon("arrival_isp", self.arrival_isp, time_grid)
        departure = np.stack([self.carried_departure_isp, self.departure_isp])
        return _Sessions(
            start=np.stack([np.zeros_like(self.arrival_isp), self.arrival_isp]),
            end=np.minimum(departure, time_grid.n_isps),
            departure=departure,
            need_kwh=np.stack([self.carried_need_kwh, self.energy_need_kwh]),
            session_need_kwh=np.stack([self.carried_session_need_kwh, self.energy_need_kwh]),
        )

    def plugged(self, time_grid: TimeGrid) -> np.ndarray:
        """[T, N] bool: the EV is connected in the ISP (carried or own session)."""
        return self._sessions(time_grid).per_isp(time_grid.n_isps)[0].any(axis=1)

    def _baseline(self, time_grid: TimeGrid
                  ) -> tuple[np.ndarray, np.ndarray, _Sessions, np.ndarray]:
        """Dumb charging in closed form: net load [T, N], remaining need of the plugged
        session at ISP start [T, N] (0 unplugged), the sessions, and which session is
        plugged [T, 2, N]."""
        s = self._sessions(time_grid)
        dt = time_grid.isp_hours
        step_kwh = self.charger_kw * self.efficiency * dt  # battery kWh per full ISP
        window = s.end - s.start
        rel = np.arange(time_grid.n_isps)[:, None, None] - s.start
        done_before = np.minimum(s.need_kwh, np.clip(rel, 0, window) * step_kwh)
        done_after = np.minimum(s.need_kwh, np.clip(rel + 1, 0, window) * step_kwh)
        p_kw = (done_after - done_before).sum(axis=1) / (self.efficiency * dt)
        plugged = s.per_isp(time_grid.n_isps)[0]
        rem = np.where(plugged, s.need_kwh - done_before, 0.0).sum(axis=1)
        return p_kw, rem, s, plugged

    def _latest_kw(self, s: _Sessions, time_grid: TimeGrid) -> np.ndarray:
        """[T, N] net load of the carried session charging as late as possible (full power
        in its last ISPs before the departure)."""
        step_kwh = self.charger_kw * self.efficiency * time_grid.isp_hours
        t = np.arange(time_grid.n_isps + 1)[:, None]
        done = np.clip(s.need_kwh[0] - step_kwh * (s.departure[0] - t), 0.0, s.need_kwh[0])
        done[0] = 0.0  # an infeasible rest shows as more than full power in the first ISP
        return np.diff(done, axis=0) / (self.efficiency * time_grid.isp_hours)

    def _p_floor(self, rem: np.ndarray, isps_after: np.ndarray, dt: float,
                 session_need_kwh: np.ndarray) -> np.ndarray:
        """Least net load (kW) that still meets the need; negative = V2G discharge allowed."""
        eff = self.efficiency
        must = rem / (eff * dt) - self.charger_kw * isps_after
        cap_after = self.charger_kw * eff * dt * isps_after
        discharge = np.minimum(self.v2g_kw, np.maximum(np.minimum(
            cap_after - rem, session_need_kwh + self.v2g_energy_kwh - rem), 0.0) * eff / dt)
        return np.maximum(must, -discharge)

    def _rem_after(self, rem: np.ndarray, p_kw: np.ndarray, dt: float) -> np.ndarray:
        """Remaining need after one ISP at ``p_kw`` (discharge adds ``|p| dt / eff``)."""
        eff = self.efficiency
        return np.maximum(rem - np.where(p_kw >= 0.0, p_kw * eff, p_kw / eff) * dt, 0.0)

    # --- contract ------------------------------------------------------------------------
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray:
        """Net load [T, N] kW: full charger power from each session's start until its need
        is met (or the horizon ends)."""
        return self._baseline(time_grid)[0]

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        """UP = deferrable charging (need still met at full power before the real
        departure), DOWN = advance charging.

        The own session's UP energy is its slack, ``charger_kw·dt·(departure − arrival) −
        need/eff`` (grid kWh that can be deferred in total, past the horizon's end too), at
        most its baseline energy within the horizon — plus, with V2G, at most ``eff · (need +
        v2g_energy_kwh)`` discharged (still within the slack: every discharged kWh costs
        ``1/eff²`` kWh of charging time later). A carried session's UP is what charging as
        late as possible before its departure leaves out of the baseline (no V2G discharge),
        so every activation within it can be delivered, and its energy is that UP's sum.
        ``energy_up_max_kwh`` = the own session's energy, plus the carried session's where
        the own session's UP already fits its energy (otherwise both share the own
        session's: the unit's budget never lets one session sell the other's deferral).
        ``max_duration_isps`` = ISPs charging can be paused entirely within the horizon (the
        longer session's).
        """
        dt = time_grid.isp_hours
        p_base, rem, s, plugged_s = self._baseline(time_grid)
        plugged = plugged_s.any(axis=1)
        t = np.arange(time_grid.n_isps)[:, None]
        departure, session_need = s.of_plugged(plugged_s)
        p_floor = self._p_floor(rem, np.maximum(departure - t - 1, 0), dt, session_need)
        p_ceil = np.minimum(self.charger_kw, rem / (self.efficiency * dt))
        up = np.where(plugged, np.clip(p_base - p_floor, 0.0, p_base + self.v2g_kw), 0.0)
        down = np.where(plugged, np.maximum(p_ceil - p_base, 0.0), 0.0)
        need_grid_kwh = s.need_kwh / self.efficiency  # [2, N]
        span = s.departure - s.start  # [2, N] ISPs plugged, past the horizon's end too
        window = s.end - s.start  # [2, N] ISPs plugged within the horizon
        step_kwh = self.charger_kw * self.efficiency * dt
        slack_kwh = self.charger_kw * dt * span[1] - need_grid_kwh[1]
        slack_kwh = np.where(slack_kwh > _EPS, slack_kwh, 0.0)  # float dust of a full window
        base_kwh = np.minimum(self.energy_need_kwh, window[1] * step_kwh) / self.efficiency
        v2g_kwh = np.where(self.v2g_kw > 0,
                           self.efficiency * (self.energy_need_kwh + self.v2g_energy_kwh), 0.0)
        cap_kwh = np.minimum(slack_kwh, base_kwh + v2g_kwh)  # the own session's
        with np.errstate(divide="ignore", invalid="ignore"):
            full_isps = np.where(step_kwh > 0, np.ceil(s.need_kwh / step_kwh - _EPS), span)
        pause = np.clip(np.minimum(window, span - full_isps), 0, None)
        carrying = self.carried_need_kwh > 0  # a carried session with something to charge
        pause[0] = np.where(carrying, pause[0], 0)
        # the carried session: UP = what charging as late as possible leaves out, so that
        # any activation within it is deliverable; its energy is the UP's sum
        up = np.where(plugged_s[:, 0], np.minimum(up, np.maximum(
            p_base - self._latest_kw(s, time_grid), 0.0)), up)
        carried_kwh = np.where(plugged_s[:, 0], up, 0.0).sum(axis=0) * dt
        own_fits = np.where(plugged_s[:, 1], up, 0.0).sum(axis=0) * dt <= cap_kwh + _EPS
        return self._envelope(
            time_grid, up, down, cap_kwh + np.where(own_fits, carried_kwh, 0.0),
            np.minimum(down.sum(axis=0) * dt, need_grid_kwh.sum(axis=0)),
            max_duration_isps=pause.max(axis=0).astype(np.int64),
            # n_isps = not plugged in the horizon
            earliest_start_isp=np.where(carrying, 0, self.arrival_isp),
        )

    def _run(self, time_grid: TimeGrid, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Realised net load [T, N] and the plugged session's remaining need at the end."""
        p_base, _, s, _ = self._baseline(time_grid)
        plugged_s, starts_s = s.per_isp(time_grid.n_isps)
        plugged = plugged_s.any(axis=1)
        starts = starts_s.any(axis=1)
        start_need = np.where(starts_s, s.need_kwh, 0.0).sum(axis=1)
        departure, session_need = s.of_plugged(plugged_s)
        dt = time_grid.isp_hours
        eff_dt = self.efficiency * dt
        rem = np.zeros(self.n_units)
        out = np.empty_like(p_base)
        active = delta != 0.0
        for t in range(time_grid.n_isps):
            rem = np.where(starts[t], start_need[t], rem)
            p_ceil = np.where(plugged[t], np.minimum(self.charger_kw, rem / eff_dt), 0.0)
            isps_after = np.maximum(departure[t] - t - 1, 0)
            p_floor = np.where(plugged[t], np.minimum(
                self._p_floor(rem, isps_after, dt, session_need[t]), p_ceil), 0.0)
            want = np.where(active[t], p_base[t] - delta[t], p_ceil)
            out[t] = np.clip(want, p_floor, p_ceil)
            rem = self._rem_after(rem, out[t], dt)
        return out, rem

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N]; the remaining need is carried forward per ISP.

        Where the delta is non-zero the charger is asked for ``baseline − delta``, clipped to
        ``[p_floor, p_ceil]`` (need still reachable before the real departure; charger power
        and remaining need; a negative floor is V2G discharge) and to 0 when unplugged;
        elsewhere it charges as early as possible (rebound).
        """
        return self._run(time_grid, self._delta(time_grid, delta_injection_kw))[0]

    def end_state(self, time_grid: TimeGrid, delta_injection_kw: Any | None = None
                  ) -> dict[str, np.ndarray]:
        """The sessions still plugged at the end of ``time_grid`` after the activation
        ``delta_injection_kw`` (None: the baseline): remaining need (battery kWh), departure
        in the next horizon's ISPs and the session's need at arrival; zeros for the other
        units. The next horizon's carried session (``with_state``)."""
        delta = (np.zeros((time_grid.n_isps, self.n_units)) if delta_injection_kw is None
                 else self._delta(time_grid, delta_injection_kw))
        rem = self._run(time_grid, delta)[1]
        n_isps = time_grid.n_isps
        open_ = (self.arrival_isp < n_isps) & (self.departure_isp > n_isps)
        return {
            "carried_need_kwh": np.where(open_, rem, 0.0),
            "carried_departure_isp": np.where(open_, self.departure_isp - n_isps, 0),
            "carried_session_need_kwh": np.where(open_, self.energy_need_kwh, 0.0),
        }

    def with_state(self, state: dict[str, np.ndarray]) -> EvFleet:
        """A copy of the fleet whose units also carry the session ``state`` (an
        ``end_state`` of the same units, the horizon before) from the horizon's start."""
        for name in state:
            if name not in _STATE_KEYS:
                raise InputError("der_state", name, f"one of {_STATE_KEYS} of a {self.der_type}")
        new = copy.copy(self)
        new.carried_need_kwh, new.carried_departure_isp, new.carried_session_need_kwh = (
            _carried(self.arrival_isp, state.get("carried_need_kwh", 0.0),
                     state.get("carried_departure_isp", 0),
                     state.get("carried_session_need_kwh")))
        return new
