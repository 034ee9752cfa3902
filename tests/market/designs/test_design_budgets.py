"""Sell only what can be delivered: every design respects the offers' energy budgets.

Project rule: "offers carry their inter-temporal limits; a test fails when a unit is
over-sold". ``DesignInput.energy_budgets`` (built from the book and the envelope as the
DSO's market day builds them) bound Σ weight · kW · h per budget over every trade of a
design; ``OfferPool`` / ``EnergyUse`` book what each budget has used, ``book_stage`` caps
each fill at what is left, the clearings get the budgets left.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from design_builders import small_input

from localflex.domain import InputError
from localflex.market import EnergyBudgets
from localflex.market.designs import DESIGNS, OfferPool, TradeLog
from localflex.market.designs.ledger import EnergyUse
from localflex.market.designs.stages import book_stage
from localflex.settlement.delivery import DeliveryRules
from localflex.sim.scenario import load_scenario

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SCENARIOS = ("demo.yaml", "designs_scarce.yaml")


@cache
def scenario_input(name: str):
    from localflex.cli.compare import design_input_for_scenario

    return design_input_for_scenario(load_scenario(EXAMPLES / name))


def used_kwh(inp, trades: pd.DataFrame) -> np.ndarray:
    """[K] Σ weight · kW · h of the trades on every budget of the input."""
    b = inp.energy_budgets
    per_offer = trades.groupby("offer_id")["power_kw"].sum()
    kw = per_offer.reindex(b.offer_id).fillna(0.0).to_numpy()
    used = np.zeros(b.limit_kwh.size)
    np.add.at(used, b.budget, b.weight * kw * inp.isp_hours)
    return used


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_design_sells_a_budget_twice(scenario):
    inp = scenario_input(scenario)
    b = inp.energy_budgets
    assert b is not None and b.limit_kwh.size > 0  # the scenario's units have limits
    fullest = 0.0
    for name, design in DESIGNS.items():
        used = used_kwh(inp, design(inp).trades)
        over = used - b.limit_kwh
        assert over.max() <= 1e-6, (scenario, name, int(over.argmax()), over.max())
        fullest = max(fullest, float((used / np.maximum(b.limit_kwh, 1e-9)).max()))
    assert fullest > 0.99  # the limits bind: the test is not vacuous


@pytest.mark.parametrize("day", [date(2016, 6, 20), date(2016, 6, 21)])
@pytest.mark.parametrize("seed", [1, 2])
def test_what_every_design_sells_the_units_deliver_with_a_perfect_forecast(day, seed):
    from localflex.market.designs import DesignParams
    from localflex.study.day import run_day

    scenario = load_scenario(EXAMPLES / "demo.yaml")
    for name in DESIGNS:
        out = run_day(scenario, day, name, DesignParams(),
                      DeliveryRules(under_delivery="penalty"), seed=seed, error_scale=0.0)
        k = out.kpis
        assert k["awarded_kwh"] > 0, name
        assert k["missing_kwh"] <= 0.01 * k["awarded_kwh"], (name, k["missing_kwh"],
                                                              k["awarded_kwh"])


def _budgets(offer_ids, budget, weight, limit_kwh) -> EnergyBudgets:
    return EnergyBudgets(offer_id=np.array(offer_ids, dtype=object),
                         budget=np.array(budget, dtype=np.int64),
                         weight=np.array(weight, dtype=float),
                         limit_kwh=np.array(limit_kwh, dtype=float))


def _offers(n: int, kw: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame({
        "offer_id": [f"o{i}" for i in range(n)], "aggregator_id": "a", "bus": 1,
        "isp": np.arange(n, dtype=np.int64), "direction": "up", "max_power_kw": kw,
        "min_power_kw": 0.0, "price_eur_per_mwh": 50.0, "der_type": "mixed", "block_id": ""})


def test_the_pool_books_what_each_budget_used_and_gives_what_is_left():
    # budget 0: o0, o1, o2 at weight 0.5 (a unit behind half the pool), 5 kWh; budget 1:
    # o2 alone at weight 1, 1 kWh; o3 has no budget
    budgets = _budgets(["o0", "o1", "o2", "o2"], [0, 0, 0, 1], [0.5, 0.5, 0.5, 1.0],
                       [5.0, 1.0])
    pool = OfferPool(_offers(4), EnergyUse(budgets, 0.5))
    np.testing.assert_allclose(pool.budget_cap_kw(["o0", "o2", "o3"]), [20.0, 2.0, np.inf])
    pool.take(["o0", "o0"], np.array([4.0, 2.0]))  # 0.5 · 6 kW · 0.5 h = 1.5 kWh
    np.testing.assert_allclose(pool.energy.used_kwh, [1.5, 0.0])
    np.testing.assert_allclose(pool.energy.left_kwh, [3.5, 1.0])
    np.testing.assert_allclose(pool.remaining_kw, [4.0, 10.0, 10.0, 10.0])
    np.testing.assert_allclose(pool.budget_cap_kw(["o1", "o2"]), [14.0, 2.0])
    # the clearing of some offers gets the budgets left, restricted to their entries
    left = pool.energy_budgets(pool.available()[lambda f: f["offer_id"].isin(["o1", "o3"])])
    assert list(left.offer_id) == ["o1"] and list(left.budget) == [0]
    np.testing.assert_allclose(left.limit_kwh, [3.5, 1.0])
    # a second pool on the same units shares the bookkeeping; giving back releases it
    other = OfferPool(_offers(4), pool.energy)
    other.take(["o2"], np.array([2.0]))
    np.testing.assert_allclose(pool.energy.used_kwh, [2.0, 1.0])
    np.testing.assert_allclose(pool.budget_cap_kw(["o2"]), [0.0])
    other.take(["o2"], np.array([-2.0]))
    np.testing.assert_allclose(pool.energy.used_kwh, [1.5, 0.0])
    # selling every offer at once: each budget's energy left spread pro rata
    np.testing.assert_allclose(pool.energy.pro_rata_kw(["o1", "o2", "o3"], [10.0, 10.0, 10.0]),
                               [7.0, 2.0, 10.0])
    # a copy books on its own
    trial = pool.energy.copy()
    trial.book(["o1"], np.array([4.0]))
    np.testing.assert_allclose(pool.energy.used_kwh, [1.5, 0.0])
    # no budgets: no limit
    free = OfferPool(_offers(2))
    free.take(["o0"], np.array([3.0]))
    assert np.isinf(free.budget_cap_kw(["o0", "o1"])).all() and free.energy_budgets(
        _offers(2)) is None


def test_bad_budgets_are_named():
    for budgets, field in (
        (_budgets(["o0"], [0], [-1.0], [1.0]), "energy_budgets.weight"),
        (_budgets(["o0"], [0], [1.0], [-1.0]), "energy_budgets.limit_kwh"),
        (_budgets(["o0"], [3], [1.0], [1.0]), "energy_budgets.budget"),
        (_budgets(["o0", "o1"], [0], [1.0], [1.0]), "energy_budgets.offer_id"),
    ):
        with pytest.raises(InputError, match=field.replace(".", r"\.")):
            EnergyUse(budgets, 0.25)


def test_the_input_refuses_budgets_of_unknown_offers():
    from localflex.market.designs import make_design_input

    inp = small_input()
    with pytest.raises(InputError, match=r"energy_budgets\.offer_id"):
        make_design_input(inp.grid, inp.forecast_loads, inp.offers, isp_hours=inp.isp_hours,
                          seed=inp.seed, energy_budgets=_budgets(["nope"], [0], [1.0], [1.0]))


def test_the_book_caps_a_fill_at_the_budget_and_keeps_the_next_offer_in_line():
    inp = small_input()
    req = inp.brp_requests.sort_values("power_kw", ascending=False).iloc[:1]
    isp, direction = int(req["isp"].iloc[0]), str(req["direction"].iloc[0])
    offers = inp.offers[(inp.offers["isp"] == isp) & (inp.offers["direction"] == direction)]
    offers = offers.sort_values(["price_eur_per_mwh", "offer_id"]).iloc[:2]
    req = req.assign(price_eur_per_mwh=offers["price_eur_per_mwh"].max() + 1.0,
                     power_kw=offers["max_power_kw"].sum())
    cheap, dear = offers["offer_id"].tolist()
    cheap_kw = float(offers["max_power_kw"].iloc[0])
    limit_kwh = 0.4 * cheap_kw * inp.isp_hours  # the cheap offer's unit has 40 % of it
    budgets = _budgets([cheap], [0], [1.0], [limit_kwh])
    limited = replace(inp, energy_budgets=budgets)

    def session(design_input):
        pool = OfferPool.of(design_input, offers)
        trades = book_stage(design_input, pool, req, TradeLog(inp.isp_hours), stage="s")
        return pool, trades.groupby("offer_id")["power_kw"].sum()

    _, free = session(inp)
    assert free[cheap] == pytest.approx(cheap_kw)
    pool, sold = session(limited)
    assert sold[cheap] == pytest.approx(0.4 * cheap_kw)  # capped at the budget
    assert sold[dear] == pytest.approx(float(offers["max_power_kw"].iloc[1]))  # next in line
    assert pool.energy.used_kwh[0] == pytest.approx(limit_kwh)
    # what the budget held back stays in the pool, but cannot be sold again
    assert pool.remaining_kw[0] == pytest.approx(0.6 * cheap_kw)
    assert pool.budget_cap_kw([cheap])[0] == pytest.approx(0.0)
