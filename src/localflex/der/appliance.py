"""Smart appliances with shiftable cycles: washing machines, dishwashers, tumble dryers
(paper §2, Fig. 1 "Dispatchable Loads / Smart Appliances", Fig. 2).

§2: "inter-temporal constraints of some resources, such as smart appliances, come in play.
The flexibility that is available at time t depends on the flexibility offered and then
activated at time t − 1". Each unit runs one cycle with a fixed power profile
``cycle_kw[n, k]`` (kW in the k-th ISP of the cycle, zero-padded to a common length ``K``;
its length ``L`` is up to the last non-zero step). The user sets it to start at
``baseline_start_isp``; it may start anywhere in ``[earliest_start_isp, deadline_isp − L]``
(it must have finished by the deadline). A cycle is never interrupted: a shifted cycle moves
its WHOLE energy.

Envelope (sign convention of ``Direction``): over all feasible starts ``s``,

* ``up_kw[t] = baseline[t] − min_s cycle_at(s)[t]``: where the baseline cycle runs and it can
  be moved away (postponed or advanced);
* ``down_kw[t] = max_s cycle_at(s)[t] − baseline[t]``: where the cycle could run instead.

Energy bounds are one cycle's energy for a movable unit (0 for a fixed one), and the
activation duration is the cycle's length (``min = max = L``): a partial move is impossible.

``respond`` moves whole cycles: each unit picks the feasible start that delivers most of the
requested change in the ISPs where the delta is non-zero (delivered change counted up to
the request, change in the wrong direction counted against it; ISPs without a request are
free — what the move changes there is the rebound). It stays at its baseline start unless a
move delivers something (ties: the start closest to the baseline). Energy is conserved
exactly: the realised column holds the same cycle values, shifted.

``APPLIANCE_CYCLES_15MIN_KW`` are typical cycles at 15-min resolution (documented
assumptions: a 60 °C wash ≈ 1.1 kWh, an eco dishwasher run ≈ 1.0 kWh, a vented dryer load
≈ 2.7 kWh, heating phases at the element's 2–2.5 kW).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from localflex.der import _validate as v
from localflex.der._fleet import Fleet, draw_buses, sample_args, unit_ids
from localflex.der.envelope import FlexEnvelope
from localflex.domain import DerType, InputError, TimeGrid

__all__ = ["APPLIANCE_CYCLES_15MIN_KW", "SmartApplianceFleet", "cycle_on_grid_kw"]

APPLIANCE_CYCLES_15MIN_KW: dict[str, tuple[float, ...]] = {
    "washing_machine": (2.0, 1.6, 0.15, 0.15, 0.15, 0.4),
    "dishwasher": (1.9, 0.1, 0.1, 0.1, 1.8, 0.1, 0.1),
    "tumble_dryer": (2.5, 2.5, 2.5, 2.5, 0.6),
}


def cycle_on_grid_kw(cycle_15min_kw: Any, isp_minutes: int) -> np.ndarray:
    """A 15-min cycle profile on ISPs of ``isp_minutes`` (15, 30, 60): block means, so the
    cycle's energy is kept exactly up to rounding."""
    prof = np.asarray(cycle_15min_kw, dtype=float)
    if isp_minutes % 15 != 0 or isp_minutes <= 0:
        raise InputError("isp_minutes", isp_minutes, "a multiple of 15 minutes")
    m = isp_minutes // 15
    pad = (-prof.size) % m
    return np.concatenate([prof, np.zeros(pad)]).reshape(-1, m).mean(axis=1)


class SmartApplianceFleet(Fleet):
    """``N`` appliances, one shiftable cycle each (see the module docstring)."""

    der_type = DerType.SMART_APPLIANCE
    DEFAULT_RAMP_FRACTION_PER_MIN = 6.0  # a start/postpone command (assumption)

    def __init__(
        self,
        der_id: Any,
        bus: Any,
        cycle_kw: Any,
        baseline_start_isp: Any,
        earliest_start_isp: Any,
        deadline_isp: Any,
        *,
        appliance: Any | None = None,
        ramp_kw_per_min: Any | None = None,
        notification_min: Any = 15.0,
        response_min: Any = 1.0,
    ) -> None:
        n = self._init_units(der_id, bus)
        cycle = np.asarray(cycle_kw, dtype=float)
        if cycle.ndim == 1:
            cycle = np.broadcast_to(cycle, (n, cycle.size))
        if cycle.ndim != 2 or cycle.shape[0] != n or cycle.shape[1] == 0:
            raise InputError("cycle_kw", cycle.shape, f"shape [{n}, K] (K ISPs per cycle)")
        self.cycle_kw = v.matrix("cycle_kw", cycle.T, n, lo=0.0).T.copy()  # [N, K]
        nonzero = self.cycle_kw > 0.0
        self.cycle_isps = np.where(nonzero.any(axis=1),
                                   self.cycle_kw.shape[1] - np.argmax(nonzero[:, ::-1], axis=1),
                                   0).astype(np.int64)
        self.baseline_start_isp = v.vector("baseline_start_isp", baseline_start_isp, n,
                                           dtype=int, lo=0)
        self.earliest_start_isp = v.vector("earliest_start_isp", earliest_start_isp, n,
                                           dtype=int, lo=0)
        self.deadline_isp = v.vector("deadline_isp", deadline_isp, n, dtype=int, lo=0)
        self.latest_start_isp = self.deadline_isp - self.cycle_isps
        v.first_bad("earliest_start_isp", self.earliest_start_isp,
                    self.earliest_start_isp > self.baseline_start_isp, "at most baseline_start_isp")
        v.first_bad("deadline_isp", self.deadline_isp,
                    self.baseline_start_isp > self.latest_start_isp,
                    "at least baseline_start_isp + the cycle's length")
        self.appliance = (np.full(n, "appliance") if appliance is None
                          else np.broadcast_to(np.asarray(appliance, dtype=str), (n,)).copy())
        self._init_timing(self.cycle_kw.max(axis=1), ramp_kw_per_min, notification_min,
                          response_min)

    @classmethod
    def sample(
        cls,
        n: int,
        buses: Any,
        rng: np.random.Generator,
        time_grid: TimeGrid,
        *,
        appliances: tuple[str, ...] = ("washing_machine", "dishwasher", "tumble_dryer"),
        weights: tuple[float, ...] = (0.4, 0.4, 0.2),
        start_utc_h: tuple[float, float] = (7.0, 20.0),
        advance_h: tuple[float, float] = (0.0, 4.0),
        slack_h: tuple[float, float] = (2.0, 10.0),
        id_prefix: str = "appliance_",
    ) -> SmartApplianceFleet:
        """Draw ``n`` cycles from ``rng`` (deterministic per seed) on the first day of the grid.

        Appliance type ~ ``weights``; user start ~ U(``start_utc_h``); earliest start up to
        U(``advance_h``) earlier (the load is ready); deadline U(``slack_h``) after the
        baseline end; all clipped to the horizon. ``buses``: one per unit if of length ``n``,
        else a pool drawn from uniformly.
        """
        buses = sample_args(n, buses, "appliances")
        unknown = set(appliances) - set(APPLIANCE_CYCLES_15MIN_KW)
        if unknown:
            raise InputError("appliances", sorted(unknown),
                             f"names of {sorted(APPLIANCE_CYCLES_15MIN_KW)}")
        w = np.asarray(weights, dtype=float)
        kind = rng.choice(len(appliances), size=n, p=w / w.sum())
        profiles = [cycle_on_grid_kw(APPLIANCE_CYCLES_15MIN_KW[a], time_grid.isp_minutes)
                    for a in appliances]
        k_max = max(p.size for p in profiles)
        table = np.zeros((len(appliances), k_max))
        for i, p in enumerate(profiles):
            table[i, : p.size] = p
        cycle = table[kind]
        length = np.array([p.size for p in profiles])[kind]
        isp_h = time_grid.isp_hours
        t = time_grid.n_isps
        start = np.floor(rng.uniform(*start_utc_h, n) / isp_h).astype(np.int64)
        start = np.clip(start, 0, t - length)
        earliest = np.maximum(start - np.floor(rng.uniform(*advance_h, n) / isp_h), 0)
        deadline = np.minimum(start + length + np.floor(rng.uniform(*slack_h, n) / isp_h), t)
        bus = draw_buses(buses, n, rng)
        return cls(unit_ids(id_prefix, n), bus, cycle, start, earliest.astype(np.int64),
                   deadline.astype(np.int64), appliance=np.asarray(appliances)[kind])

    def cycle_energy_kwh(self, time_grid: TimeGrid) -> np.ndarray:
        """Energy of each unit's cycle [N] kWh."""
        return self.cycle_kw.sum(axis=1) * time_grid.isp_hours

    def load_for_start(self, time_grid: TimeGrid, start_isp: np.ndarray) -> np.ndarray:
        """Net load [T, N] with each unit's cycle starting at ``start_isp`` [N]."""
        v.within_horizon("deadline_isp", self.deadline_isp, time_grid)
        out = np.zeros((time_grid.n_isps, self.n_units))
        cols = np.arange(self.n_units)
        for k in range(self.cycle_kw.shape[1]):
            rows = start_isp + k
            ok = (k < self.cycle_isps) & (rows < time_grid.n_isps)
            out[rows[ok], cols[ok]] = self.cycle_kw[ok, k]
        return out

    # --- contract ------------------------------------------------------------------------
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray:
        """Net load [T, N] kW: each cycle at the user's start."""
        return self.load_for_start(time_grid, self.baseline_start_isp)

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        """UP where the baseline cycle can be moved away, DOWN where it could run instead."""
        base = self.baseline_kw(time_grid)
        n_isps, n = time_grid.n_isps, self.n_units
        t = np.arange(n_isps)[:, None]
        n_starts = self.latest_start_isp - self.earliest_start_isp + 1
        max_shift = np.zeros((n_isps, n))
        covering = np.zeros((n_isps, n), dtype=np.int64)  # feasible starts whose cycle hits t
        min_in = np.full((n_isps, n), np.inf)
        for k in range(self.cycle_kw.shape[1]):
            s = t - k
            feas = (s >= self.earliest_start_isp) & (s <= self.latest_start_isp) & (
                k < self.cycle_isps)
            val = self.cycle_kw[:, k]
            max_shift = np.where(feas, np.maximum(max_shift, val), max_shift)
            min_in = np.where(feas, np.minimum(min_in, val), min_in)
            covering += feas
        min_shift = np.where(covering < n_starts, 0.0, min_in)
        min_shift = np.where(np.isfinite(min_shift), min_shift, 0.0)
        movable = n_starts > 1
        energy = np.where(movable, self.cycle_kw.sum(axis=1) * time_grid.isp_hours, 0.0)
        dur = np.where(movable, self.cycle_isps, 0).astype(np.int64)
        return self._envelope(time_grid, np.maximum(base - min_shift, 0.0),
                              np.maximum(max_shift - base, 0.0), energy, energy,
                              max_duration_isps=dur, min_duration_isps=dur,
                              earliest_start_isp=self.earliest_start_isp)

    def chosen_start_isp(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """The start [N] each unit picks for the request (see the module docstring)."""
        delta = self._delta(time_grid, delta_injection_kw)
        base = self.baseline_kw(time_grid)
        n_isps, n = time_grid.n_isps, self.n_units
        active = delta != 0.0
        sign = np.sign(delta)
        asked = np.abs(delta)

        def gain(shift: np.ndarray | float) -> np.ndarray:
            """Request delivered in each ISP if the unit draws ``shift`` there."""
            return np.where(active, np.minimum((base - shift) * sign, asked), 0.0)

        g0 = gain(0.0)
        score = np.full((n_isps, n), g0.sum(axis=0))  # score[s]: start at s
        for k in range(self.cycle_kw.shape[1]):
            corr = gain(self.cycle_kw[:, k]) - g0  # [T, N] at ISP t = s + k
            inside = k < self.cycle_isps
            score[: n_isps - k] += np.where(inside, corr[k:], 0.0)
        s = np.arange(n_isps)[:, None]
        feasible = (s >= self.earliest_start_isp) & (s <= self.latest_start_isp)
        base_score = score[self.baseline_start_isp, np.arange(n)]
        tie = 1e-9 * (1.0 + np.abs(s - self.baseline_start_isp))  # prefer close to baseline
        score = np.where(feasible, score - tie, -np.inf)
        best = np.argmax(score, axis=0)
        improves = score[best, np.arange(n)] > base_score + 1e-7
        return np.where(improves, best, self.baseline_start_isp).astype(np.int64)

    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray:
        """Realised net load [T, N]: whole cycles moved to the chosen start."""
        return self.load_for_start(time_grid, self.chosen_start_isp(time_grid,
                                                                     delta_injection_kw))
