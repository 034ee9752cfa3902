"""The market day with sparse sensitivities, voltage needs and energy budgets (issue 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import localflex.sim.engine as engine
from localflex.domain import InputError
from localflex.grid import Monitored, congestion_points
from localflex.sim.engine import simulate
from localflex.sim.kpis import compute_kpis, worsened_voltage
from localflex.sim.scenario import load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _scenario(name: str, **grid):
    scenario = load_scenario(EXAMPLES / name)
    if grid:
        spec = scenario.grid.model_copy(update=grid)
        scenario = scenario.model_copy(update={"grid": spec})
    if "-MV-" in scenario.grid.simbench_code:  # an MV grid has no households for EVs
        ders = scenario.ders.model_copy(update={"ev_share_of_households": 0.0})
        scenario = scenario.model_copy(update={"ders": ders})
    return scenario


def delivered_share_by_type(day) -> pd.Series:
    """Per DER type: energy delivered in the awarded direction / energy the DSO bought."""
    h = day.time_grid.isp_hours
    asked = day.requested_delta_kw
    done = day.baseline_kw - day.realised_kw
    got = np.where(asked != 0, np.clip(np.sign(asked) * done, None, np.abs(asked)), 0.0)
    frame = pd.DataFrame({"der_type": day.envelope.der_type,
                          "bought": np.abs(asked).sum(axis=0) * h,
                          "delivered": got.sum(axis=0) * h}).groupby("der_type").sum()
    frame = frame[frame["bought"] > 1e-6]
    return frame["delivered"] / frame["bought"]


@pytest.mark.parametrize("example", ["demo.yaml", "winter_evening.yaml"])
def test_every_der_type_delivers_what_the_dso_bought(example) -> None:
    day = simulate(_scenario(example))
    share = delivered_share_by_type(day)
    assert len(share) >= 1
    assert (share >= 0.95).all(), share.to_dict()
    assert day.payments["amount_eur"].sum() == pytest.approx(day.awards["cost_eur"].sum(),
                                                             abs=0.05)


def test_without_energy_budgets_heat_pumps_are_oversold(monkeypatch) -> None:
    """The check above can fail: offers that ignore a unit's energy content over-sell it."""
    def no_budgets(*_args, **_kwargs):
        return (np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), np.zeros(0),
                np.zeros(0))

    monkeypatch.setattr(engine, "unit_energy_budgets", no_budgets)
    day = simulate(_scenario("demo.yaml"))
    share = delivered_share_by_type(day)
    assert share["heat_pump"] < 0.95
    # and the DSO pays for delivered energy only, with the settlement's penalty
    assert (day.delivery["penalty_eur"] > 0).any()
    assert day.payments["amount_eur"].sum() < day.awards["cost_eur"].sum() - 0.01


@pytest.mark.parametrize("code", ["1-LV-rural1--2-sw", "1-MV-rural--2-sw"])
def test_sparse_monitoring_clears_what_the_dense_method_clears(monkeypatch, code) -> None:
    scenario = _scenario("demo.yaml", simbench_code=code)
    sparse = simulate(scenario)

    def everything(grid, _result, **_kwargs):
        return Monitored(np.arange(len(congestion_points(grid))), np.arange(grid.n_buses))

    monkeypatch.setattr(engine, "monitored_points", everything)
    dense = simulate(scenario)
    assert dense.rounds[0]["offer_buses"] == sparse.rounds[0]["offer_buses"]
    assert sparse.rounds[0]["monitored_points"] < dense.rounds[0]["monitored_points"]
    cols = ["offer_id", "round", "isp", "direction"]
    a = sparse.awards.sort_values(cols).reset_index(drop=True)
    b = dense.awards.sort_values(cols).reset_index(drop=True)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a[cols], b[cols])
    np.testing.assert_allclose(a["power_kw"], b["power_kw"], atol=1e-6)
    np.testing.assert_allclose(a["cost_eur"], b["cost_eur"], atol=1e-6)
    assert abs(a["cost_eur"].sum() - b["cost_eur"].sum()) < 1e-6


def test_mv_voltage_case_creates_no_new_violation() -> None:
    day = simulate(_scenario("demo.yaml", simbench_code="1-MV-rural--2-sw", sgen_scale=2.0))
    kpis = compute_kpis(day)
    volt = kpis["voltage"]
    assert volt["violations_before"] > 0
    assert volt["violations_new_after"] == 0
    assert volt["violations_after"] < volt["violations_before"]
    assert {"bus", "isps", "max_excess_pu", "cause"} <= set(kpis["unsolved_voltage"][0])
    assert all(item["cause"] for item in kpis["unsolved_voltage"])
    assert kpis["rounds"][0]["voltage_need_bus_isps"] > 0
    # no award pushes a violated bus further out in its own ISP: every bus-ISP that ends
    # further out lies in an ISP without awards, moved by the rebound of earlier activations
    worse, awarded = worsened_voltage(day)
    assert volt["violations_worsened_after"] == int(worse.sum())
    assert volt["worsened_in_isps_without_award"] == volt["violations_worsened_after"]
    rebound = np.abs(day.baseline_kw - day.realised_kw).sum(axis=1) > 1e-6  # [T]
    assert (rebound[worse.any(axis=1)] & ~awarded[worse.any(axis=1)]).all()


def test_household_ders_on_an_mv_grid_are_refused_naming_the_key(tmp_path) -> None:
    from typer.testing import CliRunner

    from localflex.cli._app import app

    text = (EXAMPLES / "demo.yaml").read_text().replace(
        "simbench_code: 1-LV-rural1--2-sw", "simbench_code: 1-MV-rural--2-sw")
    path = tmp_path / "mv.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        simulate(load_scenario(path))
    assert info.value.field == "ders.ev_share_of_households"
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "ders.ev_share_of_households" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
