"""`localflex run` over several days: the study loop's cell of the DSO's market day.

One engine: each day is ``study.day.run_day`` of ``DSO_MARKET_DAY`` with a perfect
forecast; the DERs' state carries from day to day; the run folder streams day by day and
its KPIs add up over the days.
"""

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from localflex.cli import app
from localflex.der import EvFleet
from localflex.market.designs import DesignParams
from localflex.sim.engine import DELIVERY_RULES, DSO_MARKET_DAY, simulate
from localflex.sim.kpis import compute_kpis
from localflex.sim.market_run import join_days, market_days, replay_baselines
from localflex.sim.outputs import run_tables
from localflex.sim.scenario import load_scenario
from localflex.sim.setup import prepare_market
from localflex.study.day import day_scenario, run_day

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def _demo(days: int, **market):
    scenario = load_scenario(EXAMPLES / "demo.yaml")
    update = {"time": scenario.time.model_copy(update={"days": days})}
    if market:
        update["market"] = scenario.market.model_copy(update=market)
    return scenario.model_copy(update=update)


def _write(tmp_path: Path, scenario) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(json.loads(scenario.model_dump_json())), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run3")
    out = tmp / "out"
    result = runner.invoke(app, ["run", str(_write(tmp, _demo(3))), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_a_run_of_days_adds_its_days_up(three_days):
    out, output = three_days
    kpis = json.loads((out / "kpis.json").read_text())
    days = kpis["days"]
    assert [d["day"] for d in days] == ["2016-06-21", "2016-06-22", "2016-06-23"]
    assert kpis["n_isps"] == 3 * 96
    assert kpis["dso_cost_eur"] == pytest.approx(sum(d["dso_cost_eur"] for d in days),
                                                 abs=0.02)
    assert kpis["overload_energy_before_kwh"] == pytest.approx(
        sum(d["overload_energy_before_kwh"] for d in days), abs=0.01)
    assert kpis["worst_loading_before_pct"] == max(d["worst_loading_before_pct"] for d in days)
    assert {r["day"] for r in kpis["rounds"]} <= {d["day"] for d in days}
    assert "3 market days" in output
    tables = out / "tables"
    awards = pd.read_parquet(tables / "awards.parquet")
    assert awards["offer_id"].is_unique
    assert awards["offer_id"].str[:11].isin([d["day"] + "/" for d in days]).all()
    assert awards["cost_eur"].sum() == pytest.approx(kpis["dso_cost_eur"], abs=0.01)
    assert pd.read_csv(tables / "awards.csv").shape == awards.shape
    loading = pd.read_parquet(tables / "cp_loading.parquet")
    assert loading["isp"].min() == 0 and loading["isp"].max() == 3 * 96 - 1
    summary = pd.read_parquet(tables / "cp_summary.parquet")
    assert summary["overload_before_kwh"].sum() == pytest.approx(
        kpis["overload_energy_before_kwh"], abs=0.01)
    assert "the day of the run with the most overload" in (out / "report.html").read_text()


def test_the_first_day_of_a_run_is_the_one_day_run(three_days):
    out, _ = three_days
    one = compute_kpis(simulate(_demo(1)))
    first = json.loads((out / "kpis.json").read_text())["days"][0]
    for key in ("overload_energy_before_kwh", "overload_energy_after_kwh", "dso_cost_eur",
                "dso_paid_eur", "activated_energy_kwh", "n_awards"):
        assert first[key] == one[key], key


def test_the_folder_is_the_days_joined(three_days):
    """The streamed tables are what the days joined in memory give."""
    out, _ = three_days
    scenario = _demo(3)
    days = join_days(list(market_days(scenario)), scenario)
    joined = run_tables(days)
    for name in ("awards", "payments", "cp_loading", "activations", "offers"):
        streamed = pd.read_parquet(out / "tables" / f"{name}.parquet")
        pd.testing.assert_frame_equal(streamed, joined[name].reset_index(drop=True),
                                      check_dtype=False)
    kpis = json.loads((out / "kpis.json").read_text())
    whole = json.loads(json.dumps(compute_kpis(days)))
    for key in set(whole) - {"rounds", "days"}:  # the days added up = the days joined
        assert kpis[key] == whole[key], key


def test_der_state_carries_across_days():
    """Day 2 starts where day 1's dispatch left the DERs: its baseline is not a fresh day's,
    and the settlement's replay of the run finds the same baselines."""
    scenario = _demo(2)
    days = list(market_days(scenario))
    fresh = run_day(scenario, date(2016, 6, 22), DSO_MARKET_DAY,
                    DesignParams(dso_price_cap_eur_per_mwh=scenario.market.price_cap_eur_per_mwh),
                    DELIVERY_RULES, seed=scenario.seed, intraday=False, error_scale=0.0,
                    detail=True).detail
    assert not np.array_equal(days[1].baseline_kw, fresh.baseline_kw)
    requested = np.concatenate([d.requested_delta_kw for d in days])
    _, _, der_id, baseline = replay_baselines(scenario, lambda ids: requested)
    assert der_id.tolist() == days[0].envelope.der_id.astype(str).tolist()
    np.testing.assert_allclose(baseline, np.concatenate([d.baseline_kw for d in days]))


def test_ev_energy_left_at_midnight_is_charged_the_next_morning():
    """A car still plugged at midnight takes what it has not charged into the next day: day
    2's baseline charges it before the car leaves, on top of the day's own sessions (drawn
    alike every day, so the units match), and the settlement's replay agrees."""
    scenario = load_scenario(EXAMPLES / "winter_evening.yaml")
    scenario = scenario.model_copy(update={
        "time": scenario.time.model_copy(update={"days": 2}),
        "ders": scenario.ders.model_copy(update={"ev_charger_kw": 3.7})})  # slow chargers
    days = list(market_days(scenario))
    ids = days[0].envelope.der_id.astype(str)
    assert ids.tolist() == days[1].envelope.der_id.astype(str).tolist()
    (fleet,) = [f for f in prepare_market(day_scenario(scenario, scenario.time.day,
                                                       scenario.seed)).placed.fleets
                if isinstance(f, EvFleet) and f.der_id[0] == "ev:0"]
    cols = np.flatnonzero(np.isin(ids, fleet.der_id))
    assert np.array_equal(ids[cols], fleet.der_id)
    charged_kwh = days[0].realised_kw[:, cols].sum(axis=0) * 0.25 * fleet.efficiency
    morning_kw = (days[1].baseline_kw - days[0].baseline_kw)[:, cols]
    np.testing.assert_allclose(morning_kw.sum(axis=0) * 0.25 * fleet.efficiency,
                               fleet.energy_need_kwh - charged_kwh, atol=1e-6)
    assert (fleet.energy_need_kwh - charged_kwh).sum() > 10.0
    assert np.all(morning_kw >= -1e-9) and np.abs(morning_kw[32:]).max() < 1e-9  # by 08:00
    requested = np.concatenate([d.requested_delta_kw for d in days])
    baseline = replay_baselines(scenario, lambda _ids: requested)[3]
    np.testing.assert_allclose(baseline, np.concatenate([d.baseline_kw for d in days]))


def test_a_hand_entered_offer_acts_on_its_day(tmp_path):
    offer = {"aggregator": "bigcustomer", "bus": 5, "isp": 96 + 50, "direction": "down",
             "power_kw": 1.0, "price_eur_per_mwh": 1.0}
    scenario = _demo(2)
    data = json.loads(scenario.model_dump_json())
    data["market"]["extra_offers"] = [offer]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    offers = pd.read_parquet(out / "tables" / "offers.parquet")
    mine = offers[offers["offer_id"].str.contains("/extra")]
    assert mine["offer_id"].tolist() == ["2016-06-22/bigcustomer/extra0"]
    assert mine["isp"].tolist() == [146]
    data["market"]["extra_offers"] = [{**offer, "isp": 2 * 96}]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    bad = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2
    assert "market.extra_offers[0].isp" in bad.output and "0..191" in bad.output
    assert not (tmp_path / "bad").exists()


def test_days_beyond_the_cap_of_old_and_a_typo(tmp_path):
    assert load_scenario(_write(tmp_path, _demo(365))).time.days == 365
    data = json.loads(_demo(1).model_dump_json())
    data["time"]["days"] = 100_000
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "time.days" in result.output and len(result.output.strip().splitlines()) == 1


def test_the_report_of_a_run_shows_it_day_by_day(three_days):
    out, _ = three_days
    report = (out / "report.html").read_text()
    assert "localflex 3 market days" in report and "The run day by day" in report
    assert report.count("<div class='chart'>") == 5  # the days, then the worst day's four
