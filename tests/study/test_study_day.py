"""One study day: a perfect forecast leaves nothing to intraday; errors are shared (CRN)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from study_builders import EXAMPLES

from localflex.domain import InputError
from localflex.market.designs import DesignParams
from localflex.settlement.delivery import DeliveryRules
from localflex.sim.scenario import load_scenario
from localflex.study.day import declared_baseline_kw, realisation_factor, run_day


def test_perfect_forecast_and_the_error_model():
    scenario = load_scenario(EXAMPLES / "demo.yaml")
    day = date(2016, 6, 21)
    rules = DeliveryRules(under_delivery="penalty")
    exact = run_day(scenario, day, "sequential_dso_first", DesignParams(), rules, seed=5,
                    error_scale=0.0).kpis
    noisy = run_day(scenario, day, "sequential_dso_first", DesignParams(), rules, seed=5).kpis
    assert exact["forecast_error_kwh"] == exact["load_forecast_error_kwh"] == 0.0
    assert noisy["load_forecast_error_kwh"] > 0
    assert exact["forecast_overload_kwh"] == noisy["forecast_overload_kwh"] > 0
    assert exact["realised_overload_kwh"] < 0.05 * exact["forecast_overload_kwh"]
    assert noisy["forecast_error_kwh"] > 0
    assert noisy["realised_overload_kwh"] > exact["realised_overload_kwh"]
    assert noisy["id_grid_kwh"] > 0  # the intraday market buys what reality adds
    assert noisy["residual_overload_kwh"] < noisy["realised_overload_kwh"]


def test_realisation_draws_the_family_error_model():
    types = np.array(["pv"] * 400 + ["ev"] * 400, dtype=object)
    factor = realisation_factor(types, 96, np.random.default_rng(0))
    pv, ev = factor[:, :400], factor[:, 400:]
    # PV errors are mostly common to the area (70 %): units move together within an ISP
    assert np.corrcoef(pv[:, 0], pv[:, 1])[0, 1] > 0.4
    assert abs(np.corrcoef(ev[:, 0], ev[:, 1])[0, 1]) < 0.4
    assert (factor >= 0).all()
    again = realisation_factor(types, 96, np.random.default_rng(0))
    assert np.array_equal(factor, again)


def test_the_dso_market_day_is_a_study_design():
    """The engine of `localflex run` runs inside the study day: under forecast error its
    day-ahead rounds clear the forecast and the intraday market what reality adds."""
    from localflex.sim.engine import DSO_MARKET_DAY

    scenario = load_scenario(EXAMPLES / "demo.yaml")
    day = date(2016, 6, 21)
    rules = DeliveryRules(under_delivery="penalty")
    params = DesignParams(dso_price_cap_eur_per_mwh=scenario.market.price_cap_eur_per_mwh)
    exact = run_day(scenario, day, DSO_MARKET_DAY, params, rules, seed=5, error_scale=0.0)
    noisy = run_day(scenario, day, DSO_MARKET_DAY, params, rules, seed=5)
    assert exact.kpis["forecast_error_kwh"] == 0.0
    assert exact.kpis["forecast_overload_kwh"] == noisy.kpis["forecast_overload_kwh"] > 0
    assert exact.kpis["realised_overload_kwh"] == exact.kpis["da_residual_overload_kwh"]
    assert exact.kpis["id_grid_kwh"] == 0.0
    assert noisy.kpis["realised_overload_kwh"] > exact.kpis["realised_overload_kwh"]
    assert noisy.kpis["residual_overload_kwh"] < noisy.kpis["realised_overload_kwh"]
    assert int(exact.ledger["amount_cents"].sum()) == 0
    assert exact.kpis["dso_cost_eur"] > 0 and exact.detail is None


def test_every_design_runs_a_day_without_a_monitored_point():
    """1 January on the demo feeder: no point is near its limit, so the designs' point axis
    is empty; every design still clears (nothing for the DSO) instead of failing."""
    from localflex.market.designs import DESIGNS
    from localflex.sim.setup import design_input_from_setup, prepare_market
    from localflex.study.day import day_scenario

    scenario = load_scenario(EXAMPLES / "demo.yaml")
    day = date(2016, 1, 1)
    setup = prepare_market(day_scenario(scenario, day, 1))
    assert len(design_input_from_setup(setup, DesignParams()).cps) == 0
    rules = DeliveryRules(under_delivery="penalty")
    for design in DESIGNS:
        kpis = run_day(scenario, day, design, DesignParams(), rules, seed=1).kpis
        assert kpis["da_grid_kwh"] == 0.0, design
        assert kpis["forecast_overload_kwh"] == 0.0, design


def test_the_declared_baseline_decides_what_forecast_error_costs():
    """Checked against the day-ahead declaration, every forecast error of a unit counts as
    missing (or extra) energy; re-declared close to delivery, only the 1-hour error does.
    The market and reality are the same either way; under a perfect forecast so is all."""
    scenario = load_scenario(EXAMPLES / "demo.yaml")
    rules = DeliveryRules(under_delivery="penalty")
    kpis = {}
    for baseline in ("day_ahead", "intraday"):
        for error_scale in (0.0, 1.0):
            rows = [run_day(scenario, date(2016, 6, d), "sequential_dso_first",
                            DesignParams(), rules, seed=seed, error_scale=error_scale,
                            baseline=baseline).kpis for d in (20, 21) for seed in (1, 2)]
            kpis[baseline, error_scale] = pd.DataFrame(rows)
    assert kpis["day_ahead", 0.0].equals(kpis["intraday", 0.0])
    da, id_ = kpis["day_ahead", 1.0], kpis["intraday", 1.0]
    for kpi in ("awarded_kwh", "realised_overload_kwh", "residual_overload_kwh",
                "forecast_error_kwh", "load_forecast_error_kwh"):
        assert da[kpi].equals(id_[kpi]), kpi
    assert not da["delivered_kwh"].equals(id_["delivered_kwh"])
    with pytest.raises(InputError, match=r"delivery\.baseline"):
        run_day(scenario, date(2016, 6, 21), "sequential_dso_first", DesignParams(), rules,
                seed=1, baseline="weekly")


def test_a_baseline_redeclared_close_to_delivery_is_nearer_reality():
    types = np.array(["pv"] * 300 + ["ev"] * 300 + ["heat_pump"] * 300, dtype=object)
    forecast = np.full((96, types.size), 2.0)
    real = forecast * realisation_factor(types, 96, np.random.default_rng(1))
    day_ahead = declared_baseline_kw("day_ahead", forecast, real, types,
                                     np.random.default_rng(2))
    intraday = declared_baseline_kw("intraday", forecast, real, types,
                                    np.random.default_rng(2))
    assert day_ahead is forecast
    assert np.abs(intraday - real).mean() < 0.6 * np.abs(forecast - real).mean()
    again = declared_baseline_kw("intraday", forecast, real, types, np.random.default_rng(2))
    assert np.array_equal(intraday, again)  # seeded: the same for every design (CRN)
    exact = declared_baseline_kw("intraday", forecast, real, types, np.random.default_rng(2),
                                 error_scale=0.0)
    assert np.array_equal(exact, real)
