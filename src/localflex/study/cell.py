"""One cell of a study: a design on a scenario and seed over a date range, day by day.

The cell's scenario is validated once and its grid loaded once per process (the SimBench
loader caches it); each day is ``localflex.study.day.run_day``. The result is one row per
day: the cell's names (``Cell.meta``), the day and the ``DAY_KPIS``.
"""

from __future__ import annotations

import pandas as pd

from localflex.market.designs import design_params_from_mapping
from localflex.settlement.delivery import DeliveryRules
from localflex.sim.scenario import parse_scenario
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
    rules = DeliveryRules(**cell.delivery)
    rows = []
    for day in cell.days():
        outcome = run_day(scenario, day, cell.design, params, rules, seed=cell.seed,
                          intraday=cell.intraday,
                          error_scale=float(cell.forecast["error_scale"]))
        rows.append({**cell.meta(), "day": pd.Timestamp(day), **outcome.kpis})
    frame = pd.DataFrame(rows)
    return frame[[*cell.meta(), "day", *DAY_KPIS]]
