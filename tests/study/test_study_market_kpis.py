"""A study day reports welfare, the DSO's price and the concentration of sales, and they move
with the number of aggregators and the bidding strategy (the designs issue: "the study of
the studies issue show welfare, prices and HHI that move with the number of aggregators and
the bidding strategy")."""

from datetime import date

import numpy as np
from study_builders import EXAMPLES

from localflex.aggregator.strategies import parse_strategy
from localflex.market.designs import DesignParams
from localflex.settlement.delivery import DeliveryRules
from localflex.sim.engine import DSO_MARKET_DAY
from localflex.sim.scenario import load_scenario, with_equal_aggregators
from localflex.study.day import DAY_KPIS, run_day

DAY = date(2016, 6, 21)
RULES = DeliveryRules(under_delivery="penalty")


def _kpis(scenario, design="sequential_dso_first", strategy=None):
    return run_day(scenario, DAY, design, DesignParams(), RULES, seed=3, error_scale=0.0,
                   strategy=strategy).kpis


def test_concentration_and_prices_move_with_aggregators_and_strategy():
    base = load_scenario(EXAMPLES / "demo.yaml")
    one = _kpis(with_equal_aggregators(base, 1))
    four = _kpis(with_equal_aggregators(base, 4))
    assert one["sellers"] == 1 and one["hhi_sales"] == 10_000.0
    assert four["sellers"] >= 2 and four["hhi_sales"] < one["hhi_sales"]
    marked = _kpis(with_equal_aggregators(base, 4), strategy=parse_strategy("markup:1.0"))
    assert marked["mean_markup"] == 1.0
    assert marked["dso_price_eur_per_mwh"] > four["dso_price_eur_per_mwh"] > 0
    # the DSO values the same avoided overload; sellers' true cost is unchanged, so
    # the markup moves money from the DSO to the sellers, not welfare
    assert np.isclose(marked["welfare_eur"], four["welfare_eur"], rtol=0.05)
    for k in ("welfare_eur", "dso_price_eur_per_mwh", "sellers", "hhi_sales"):
        assert k in DAY_KPIS


def test_the_dso_market_day_reports_the_same_market_kpis():
    kpis = _kpis(load_scenario(EXAMPLES / "demo.yaml"), design=DSO_MARKET_DAY)
    assert kpis["welfare_eur"] > 0 and kpis["dso_price_eur_per_mwh"] > 0
    assert kpis["sellers"] >= 1 and 0 < kpis["hhi_sales"] <= 10_000
