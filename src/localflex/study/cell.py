"""One cell of a study: a design on a scenario and seed over a date range, day by day.

The cell's scenario is validated once and its grid loaded once per process (the SimBench
loader caches it); each day is ``localflex.study.day.run_day``. What a day leaves is the
next day's start: the DERs' state (``DayOutcome.der_states``) and the aggregators' bidding
state (``study.bidding``: a learning strategy learns across the days of the cell, seeded by
the cell's seed). The result is one row per day: the cell's names (``Cell.meta``), the day
and the ``DAY_KPIS``.
"""

from __future__ import annotations

import pandas as pd

from localflex.aggregator.strategies import parse_strategy
from localflex.market.designs import design_params_from_mapping
from localflex.settlement.delivery import DeliveryRules
from localflex.sim.scenario import parse_scenario, with_equal_aggregators
from localflex.study.day import DAY_KPIS, run_day
from localflex.study.schema import Cell

__all__ = ["run_cell"]


def run_cell(cell: Cell) -> pd.DataFrame:
    """Every day of ``cell`` in order; one row per day (columns: meta, ``day``, DAY_KPIS)."""
    scenario = parse_scenario(cell.scenario)
    params = design_params_from_mapping(cell.design_params)
    if params.dso_price_cap_eur_per_mwh is None and scenario.market.price_cap_eur_per_mwh:
        params = design_params_from_mapping(
            {**cell.design_params,
             "dso_price_cap_eur_per_mwh": scenario.market.price_cap_eur_per_mwh})
    delivery = dict(cell.delivery)
    baseline = delivery.pop("baseline", "day_ahead")  # a cell defined before the key
    rules = DeliveryRules(**delivery)
    bidding = cell.bidding
    if bidding.get("aggregators"):
        scenario = with_equal_aggregators(scenario, int(bidding["aggregators"]))
    strategy = (None if bidding.get("strategy", "scenario") == "scenario"
                else parse_strategy(bidding["strategy"], seed=cell.seed))
    rows = []
    der_states = strategy_state = None
    for day in cell.days():
        outcome = run_day(scenario, day, cell.design, params, rules, seed=cell.seed,
                          intraday=cell.intraday,
                          error_scale=float(cell.forecast["error_scale"]),
                          der_states=der_states, strategy=strategy,
                          strategy_state=strategy_state, baseline=baseline)
        der_states, strategy_state = outcome.der_states, outcome.strategy_state
        rows.append({**cell.meta(), "day": pd.Timestamp(day), **outcome.kpis})
    frame = pd.DataFrame(rows)
    return frame[[*cell.meta(), "day", *DAY_KPIS]]
