"""DSO planning economics (paper §5.1/§5.3, FlexMart ref. [56]): options, strategies,
deferral and regulatory regimes, on hand-made forecasts and on the demo grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from localflex.domain import InputError
from localflex.grid import load_simbench_grid
from localflex.planning.dso_economics import (
    PlanningParameters,
    PlanningStrategy,
    annuity_factor,
    load_planning_parameters,
    plan_network,
    reinforcement_options,
)
from localflex.planning.economics_forecast import OverloadForecast, forecast_overloads
from localflex.planning.economics_regulation import (
    DEFAULT_REGIMES,
    RegulatoryRegime,
    rab_value_per_eur,
)

W = 0.05
A40 = W * 1.05**40 / (1.05**40 - 1)  # capital recovery factor, 40 years at 5 %


def _cps(n_lines: int = 0) -> pd.DataFrame:
    rows = [{"cp_id": "trafo:0", "kind": "trafo", "rated_kva": 100.0, "max_loading_pct": 100.0,
             "vn_kv": 0.4, "length_km": 0.0}]
    rows += [{"cp_id": f"line:{i}", "kind": "line",
              "rated_kva": np.sqrt(3) * 0.4 * 0.27 * 1e3, "max_loading_pct": 100.0,
              "vn_kv": 0.4, "length_km": 0.5} for i in range(n_lines)]
    return pd.DataFrame(rows)


def _forecast(overload_mwh, peak_kw, peak_kva, feedin_share=0.0, cps=None) -> OverloadForecast:
    e = np.asarray(overload_mwh, dtype=float).reshape(len(overload_mwh), -1)
    pk = np.asarray(peak_kw, dtype=float).reshape(e.shape)
    return OverloadForecast(
        cps=cps if cps is not None else _cps(),
        overload_mwh=e,
        feedin_overload_mwh=e * feedin_share,
        peak_overload_kw=pk,
        peak_demand_overload_kw=pk if feedin_share < 1 else np.zeros_like(pk),
        peak_kva=np.asarray(peak_kva, dtype=float).reshape(e.shape),
    )


def test_annuity_factor_by_hand():
    assert annuity_factor(0.0, 40) == pytest.approx(1 / 40)
    assert annuity_factor(0.05, 40) == pytest.approx(A40)
    assert annuity_factor(0.05, 1) == pytest.approx(1.05)


def test_reinforcement_picks_the_size_that_carries_the_horizon_peak():
    cps = _cps(n_lines=1)
    f = _forecast([[0, 0], [1, 1]], [[0, 0], [20, 30]], [[90, 150], [120, 250]], cps=cps)
    opts = reinforcement_options(f, PlanningParameters()).set_index("cp_id")
    # transformer: 120 kVA needed -> 160 kVA, 10,000 + 40 EUR/kVA
    assert opts.loc["trafo:0", "new_unit_kva"] == 160
    assert opts.loc["trafo:0", "capex_eur"] == pytest.approx(10_000 + 40 * 160)
    assert opts.loc["trafo:0", "annual_cost_eur"] == pytest.approx(16_400 * (A40 + 0.01))
    # LV line: 250 kVA at 0.4 kV = 0.361 kA > 0.357 -> the 0.714 kA class, 200 kEUR/km · 0.5 km
    assert opts.loc["line:0", "capex_eur"] == pytest.approx(100_000)
    # beyond the largest transformer: parallel units
    big = _forecast([[1]], [[1]], [[100_000]])
    row = reinforcement_options(big, PlanningParameters()).iloc[0]
    assert (row["units"], row["new_unit_kva"]) == (2, 63_000)


def test_flexibility_defers_a_reinforcement_by_hand():
    # overload appears in year 1 and doubles in year 2; peak 120 kVA -> a 160 kVA transformer
    f = _forecast([0, 1, 2], [0, 10, 20], [90, 110, 120])
    plan = plan_network(f, PlanningParameters())
    annual = 16_400 * (A40 + 0.01)
    flex = np.array([0.0, 15 * 10 + 150 * 1, 15 * 20 + 150 * 2])  # 300, 600 EUR
    d = 1.05 ** -np.arange(3)
    pv = plan.assets.set_index("cp_id").loc["trafo:0"]
    assert pv["first_overload_year"] == 1
    assert pv["pv_reinforce_eur"] == pytest.approx(annual * (d[1] + d[2]))
    assert pv["pv_flex_only_eur"] == pytest.approx((flex * d).sum())
    # flexibility is cheaper than the annuity in both years: reinforcement leaves the horizon
    assert pv["reinforce_year_flex_first"] == 3
    assert bool(pv["deferred_beyond_horizon"])
    assert pv["deferral_years"] == 2
    assert pv["deferral_value_eur"] == pytest.approx(annual * (d[1] + d[2]) - (flex * d).sum())
    assert plan.recommended in (PlanningStrategy.FLEX_ONLY, PlanningStrategy.FLEX_FIRST)
    decisions = plan.decisions[plan.decisions["strategy"] == "reinforce"]
    assert decisions["decision"].tolist() == ["none", "reinforce", "reinforced"]
    yearly = plan.yearly[plan.yearly["strategy"] == "flex_only"]
    assert yearly["cumulative_discounted_eur"].iloc[-1] == pytest.approx((flex * d).sum())


def test_reinforcement_wins_when_overload_is_large():
    f = _forecast([5, 10], [50, 60], [150, 160])
    plan = plan_network(f, PlanningParameters())
    assert plan.recommended is PlanningStrategy.REINFORCE
    assert plan.assets["deferral_years"].iloc[0] == 0
    assert plan.deferral_value_eur == pytest.approx(0.0)


def test_curtailment_only_covers_feed_in_overload():
    feed = _forecast([2, 2], [10, 10], [110, 110], feedin_share=1.0)
    plan = plan_network(feed, PlanningParameters(curtailment_eur_per_mwh=50))
    s = plan.strategies.set_index("strategy")
    assert s.loc["curtail", "total_pv_eur"] == pytest.approx(100 + 100 / 1.05)
    assert s.loc["curtail", "curtailed_mwh"] == pytest.approx(4)
    assert plan.recommended is PlanningStrategy.CURTAIL
    demand = _forecast([2, 2], [10, 10], [110, 110], feedin_share=0.0)
    s = plan_network(demand, PlanningParameters(curtailment_eur_per_mwh=50)).strategies
    s = s.set_index("strategy")
    assert s.loc["curtail", "curtailed_mwh"] == 0  # covered by flexibility instead
    assert s.loc["curtail", "total_pv_eur"] == pytest.approx(s.loc["flex_only", "total_pv_eur"])


def test_flexibility_limit_makes_flex_infeasible():
    f = _forecast([1, 1], [80, 80], [180, 180])  # peak overload 80 kW on a 100 kVA asset
    plan = plan_network(f, PlanningParameters(flex_max_share_of_rating=0.5))
    s = plan.strategies.set_index("strategy")
    assert not s.loc["flex_only", "feasible"]
    assert s.loc["flex_first", "total_pv_eur"] == pytest.approx(s.loc["reinforce",
                                                                      "total_pv_eur"])
    assert plan.recommended is PlanningStrategy.REINFORCE


def test_no_overload_means_nothing_to_do():
    plan = plan_network(_forecast([0, 0], [0, 0], [50, 60]), PlanningParameters())
    assert plan.assets.empty
    assert plan.strategies["total_pv_eur"].abs().max() == 0


def test_rab_value_is_neutral_at_the_cost_of_capital():
    assert rab_value_per_eur(0.05, 0.05, 40) == pytest.approx(1.0)
    assert rab_value_per_eur(0.07, 0.05, 40) > 1.1
    assert rab_value_per_eur(0.0, 0.0, 10) == pytest.approx(1.0)


def test_capex_biased_regime_prefers_reinforcement_totex_prefers_the_cheapest():
    """The paper's §5.1 point: traditional remuneration induces the DSO to reinforce."""
    f = _forecast([0, 1, 2, 2, 2], [0, 10, 20, 20, 20], [90, 110, 120, 120, 120])
    plan = plan_network(f, PlanningParameters())
    s = plan.strategies.set_index("strategy")["total_pv_eur"]
    assert s["flex_only"] < s["reinforce"]
    prefers = plan.preferred_by_regime()
    assert prefers["capex_biased"] == "reinforce"
    assert s[prefers["totex"]] == pytest.approx(s.min())
    r = plan.regimes.set_index(["regime", "strategy"])
    assert (r["profit_pv_eur"] == r["revenue_pv_eur"] - r["totex_pv_eur"]).all()


def test_output_incentive_can_turn_the_dso_away_from_curtailment():
    f = _forecast([0, 1, 1], [0, 10, 10], [90, 110, 110], feedin_share=1.0)
    base = PlanningParameters(curtailment_eur_per_mwh=80, flex_activation_eur_per_mwh=100,
                              flex_reservation_eur_per_kw_year=0)
    assert plan_network(f, base).preferred_by_regime()["totex"] == "curtail"
    strong = RegulatoryRegime(**{**DEFAULT_REGIMES[2].model_dump(),
                                 "penalty_eur_per_mwh_curtailed": 100.0})
    params = base.model_copy(update={"regimes": [strong]})
    assert plan_network(f, params).preferred_by_regime()["totex_output"] in (
        "flex_only", "flex_first")


def test_planning_parameters_reject_unknown_keys(tmp_path):
    path = tmp_path / "costs.yaml"
    path.write_text(yaml.safe_dump({"transformr_eur_per_kva": 50}))
    with pytest.raises(InputError, match="transformr_eur_per_kva"):
        load_planning_parameters(path)
    path.write_text(yaml.safe_dump({"line_classes": [{"max_voltage_kv": 1, "ampacity_ka": -1,
                                                      "cost_eur_per_km": 1}]}))
    with pytest.raises(InputError, match=r"line_classes\.0\.ampacity_ka"):
        load_planning_parameters(path)
    with pytest.raises(InputError, match="wacc"):
        load_planning_parameters(None, wacc=-0.1)
    path.write_text(yaml.safe_dump({"wacc": 0.07, "transformer_eur_per_kva": 55}))
    params = load_planning_parameters(path, wacc=0.04)  # options override the file
    assert (params.wacc, params.transformer_eur_per_kva) == (0.04, 55)


@pytest.fixture(scope="module")
def demo_forecast() -> OverloadForecast:
    return forecast_overloads(load_simbench_grid("1-LV-rural1--2-sw"), 3,
                              load_growth_per_year=0.01, der_growth_per_year=0.05)


def test_forecast_on_the_demo_grid(demo_forecast):
    f = demo_forecast
    check = f.base_check
    # representative days estimate the full year's overload within 5 %
    assert check["representative_overload_mwh"] == pytest.approx(
        check["full_year_overload_mwh"], rel=0.05)
    assert check["full_year_overload_mwh"] > 30
    assert f.representative_days["weight"].sum() == pytest.approx(366)
    over = f.overload_mwh.sum(axis=0)
    assert f.cps["cp_id"][over > 0].tolist() == ["trafo:0"]  # PV overloads the transformer
    trafo = f.overload_mwh[:, 0]
    assert (np.diff(trafo) > 0).all()  # DER growth makes it worse every year
    assert f.feedin_overload_mwh[:, 0] == pytest.approx(trafo)  # and it is feed-in driven


def test_plan_on_the_demo_grid(demo_forecast):
    plan = plan_network(demo_forecast, PlanningParameters())
    row = plan.assets.iloc[0]
    assert row["cp_id"] == "trafo:0"
    assert row["new_unit_kva"] >= row["required_kva"] > 160
    assert plan.recommended is PlanningStrategy.REINFORCE  # a 2x overload: reinforcing is cheapest
    assert plan.preferred_by_regime()["capex_biased"] == "reinforce"


def test_forecast_rejects_bad_horizons():
    grid = load_simbench_grid("1-LV-rural1--2-sw")
    with pytest.raises(InputError, match="years"):
        forecast_overloads(grid, 0)
    with pytest.raises(InputError, match="der_growth_per_year"):
        forecast_overloads(grid, 2, der_growth_per_year=5.0)
