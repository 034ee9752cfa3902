"""The days of a scenario: the study loop's cell of the DSO's market day, one seed, no error.

``localflex run`` and ``localflex demo`` are the one-design, one-seed case of the study loop
(paper §5.3 for the market, §2 and §4.2 for forecast and delivery; ``localflex.study``): the
scenario's ``time.days`` days run in order, each as ``study.day.run_day`` with

* the design ``DSO_MARKET_DAY`` (``sim.engine.clear_day_ahead``: the DSO as single buyer,
  network-aware with voltage, in rounds verified by power flow, up to ``market.max_rounds``);
* a perfect forecast (``error_scale`` 0: reality is the forecast the DSO cleared, so there is
  nothing for an intraday market to add and it does not run);
* delivery checked and paid by the settlement's rule ``engine.DELIVERY_RULES`` on a
  balanced ledger;
* the DERs' state at the end of a day (room and tank temperatures, stored energy) as the
  next day's start (``DayOutcome.der_states``), as a study cell carries it.

Hand-entered offers (``market.extra_offers``) name an ISP of the whole horizon; each day
gets its own, at the day's ISP. ``market_days`` yields one ``DayResult`` per day and keeps
nothing of the days it has yielded, so a run folder of many days (``sim.outputs``) holds one
day's frames at a time; ``join_days`` joins days into one result for the library
(``localflex.sim.engine.simulate``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from localflex.domain import TimeGrid
from localflex.grid import Monitored, PowerFlowResult, load_simbench_grid
from localflex.market.designs import DesignParams
from localflex.sim.engine import DELIVERY_RULES, DSO_MARKET_DAY, DayResult
from localflex.sim.scenario import Scenario
from localflex.sim.setup import extra_offers, scenario_time_grid

__all__ = ["check_horizon", "join_days", "market_days", "replay_baselines", "run_days",
           "shift_day"]


def run_days(scenario: Scenario) -> list[date]:
    """The market days of ``scenario`` in order."""
    return [scenario.time.day + timedelta(days=k) for k in range(scenario.time.days)]


def check_horizon(scenario: Scenario) -> None:
    """Check the hand-entered offers against the grid and the whole horizon (one-line
    ``InputError`` naming ``market.extra_offers[i]``) before any day runs."""
    if scenario.market.extra_offers:
        extra_offers(scenario, load_simbench_grid(scenario.grid.simbench_code),
                     scenario_time_grid(scenario))


def _of_day(scenario: Scenario, k: int, per_day: int) -> Scenario:
    """``scenario`` with the hand-entered offers of day ``k`` only, at the day's ISP."""
    if not scenario.market.extra_offers or scenario.time.days == 1:
        return scenario
    offers = [o.model_copy(update={"isp": o.isp - k * per_day})
              for o in scenario.market.extra_offers if o.isp // per_day == k]
    return scenario.model_copy(update={
        "market": scenario.market.model_copy(update={"extra_offers": offers})})


def market_days(scenario: Scenario, step: Callable[[str], None] | None = None
                ) -> Iterator[DayResult]:
    """Run the scenario's days in order (module docstring); yield each day's record."""
    from localflex.study.day import run_day  # study.day builds on sim.engine

    check_horizon(scenario)
    per_day = 1440 // scenario.time.isp_minutes
    params = DesignParams(dso_price_cap_eur_per_mwh=scenario.market.price_cap_eur_per_mwh)
    der_states = None
    for k, day in enumerate(run_days(scenario)):
        outcome = run_day(_of_day(scenario, k, per_day), day, DSO_MARKET_DAY, params,
                          DELIVERY_RULES, seed=scenario.seed, intraday=False,
                          error_scale=0.0, der_states=der_states, step=step, detail=True)
        der_states = outcome.der_states
        assert outcome.detail is not None
        yield outcome.detail


def shift_day(frame: pd.DataFrame, k: int, per_day: int, prefix: str) -> pd.DataFrame:
    """Rows of day ``k`` with ISPs of the whole horizon and offer ids made unique by the
    day's ``prefix`` (``YYYY-MM-DD/``; none when the run is one day)."""
    if frame.empty or "isp" not in frame:
        return frame
    out = frame.assign(isp=frame["isp"].to_numpy(dtype=np.int64) + k * per_day)
    if prefix and "offer_id" in out:
        out["offer_id"] = prefix + out["offer_id"].astype(str)
    return out


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    filled = [f for f in frames if len(f)]
    return pd.concat(filled, ignore_index=True) if filled else frames[0]


def join_days(days: list[DayResult], scenario: Scenario) -> DayResult:
    """The days as one result over the whole horizon (one day: that day's result)."""
    if len(days) == 1:
        return days[0]
    per_day = days[0].time_grid.n_isps
    prefixes = [f"{d.time_grid.start:%Y-%m-%d}/" for d in days]

    def frames(name: str) -> pd.DataFrame:
        return _concat([shift_day(getattr(d, name), k, per_day, prefixes[k])
                        for k, d in enumerate(days)])

    def flows(name: str) -> PowerFlowResult:
        first = getattr(days[0], name)
        joined = {}
        for f in fields(PowerFlowResult):
            value = getattr(first, f.name)
            if isinstance(value, np.ndarray):
                joined[f.name] = np.concatenate([getattr(getattr(d, name), f.name)
                                                 for d in days])
        return replace(first, converged=all(getattr(d, name).converged for d in days),
                       **joined)

    monitored = [d.monitored for d in days if d.monitored is not None]
    first = days[0]
    return replace(
        first,
        scenario=scenario,
        time_grid=TimeGrid(first.time_grid.start, per_day * len(days),
                           first.time_grid.isp_minutes),
        before=flows("before"), after=flows("after"),
        offers=frames("offers"), awards=frames("awards"), shortfalls=frames("shortfalls"),
        merit_order=frames("merit_order"), payments=frames("payments"),
        voltage_shortfalls=frames("voltage_shortfalls"), delivery=frames("delivery"),
        baseline_kw=np.concatenate([d.baseline_kw for d in days]),
        realised_kw=np.concatenate([d.realised_kw for d in days]),
        requested_delta_kw=np.concatenate([d.requested_delta_kw for d in days]),
        rounds=[{"day": f"{d.time_grid.start:%Y-%m-%d}", **r} for d in days for r in d.rounds],
        monitored=Monitored(
            np.unique(np.concatenate([m.cp_pos for m in monitored])),
            np.unique(np.concatenate([m.bus_pos for m in monitored]))) if monitored else None,
    )


def replay_baselines(scenario: Scenario, requested_kw: Callable[[np.ndarray], np.ndarray]
                     ) -> tuple[TimeGrid, object, np.ndarray, np.ndarray]:
    """The run's DER baselines again, for its settlement (``localflex settle``).

    Each day is prepared as ``market_days`` prepares it and its DERs start where the day
    before left them after the setpoints the run asked (``requested_kw(der_id)`` -> [T, N]
    over the whole horizon, from the run folder's activations). Returns the horizon's time
    grid, the grid, the unit ids and the baseline [T, N] (consumption positive)."""
    from localflex.sim.setup import prepare_market
    from localflex.study.day import day_scenario

    per_day = 1440 // scenario.time.isp_minutes
    horizon = scenario_time_grid(scenario)
    der_states, parts, der_id, grid, requested = None, [], None, None, None
    for k, day in enumerate(run_days(scenario)):
        setup = prepare_market(day_scenario(_of_day(scenario, k, per_day), day, scenario.seed),
                               der_states=der_states)
        ids = setup.envelope.der_id.astype(str)
        if der_id is None:
            der_id, grid = ids, setup.grid
            requested = requested_kw(der_id)
        elif ids.tolist() != der_id.tolist():
            raise ValueError(f"the units of {day} differ from the first day's")
        parts.append(setup.baseline_kw)
        if k + 1 < scenario.time.days:
            der_states = setup.placed.end_states(
                setup.time_grid, requested[k * per_day:(k + 1) * per_day])
    return horizon, grid, der_id, np.concatenate(parts)
