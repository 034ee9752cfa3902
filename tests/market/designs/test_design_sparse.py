"""The design input on the monitored set (issue 10's sparse sensitivities): the same trades and
KPIs as the dense every-point × every-bus reference on the demo, memory by offers × needs, and
a one-line refusal where the per-offer relief would not fit in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from localflex.cli import app
from localflex.cli.compare import design_input_for_scenario
from localflex.cli.run import DEMO_SCENARIO
from localflex.domain import InputError
from localflex.grid import congestion_points, flow_sensitivity
from localflex.market.designs import DESIGNS, KPI_KEYS, make_design_input, run_designs
from localflex.market.designs import inputs as inputs_module
from localflex.sim.scenario import load_scenario

_TAPE = ["stage", "purpose", "buyer_id", "seller_id", "isp", "bus", "direction"]


def _dense_like(inp):
    """The same scenario with the dense sensitivity: every congestion point, every bus."""
    return make_design_input(
        inp.grid, inp.forecast_loads, inp.offers, isp_hours=inp.isp_hours, seed=inp.seed,
        params=inp.params, control_up_kw=inp.control_up_kw,
        control_down_kw=inp.control_down_kw, requests=inp.requests,
        sensitivity=flow_sensitivity(inp.grid, inp.forecast_loads), engine=inp.engine,
        dso_id=inp.dso_id, tso_id=inp.tso_id, offer_cost_eur_per_mwh=inp.costs_eur_per_mwh,
        energy_budgets=inp.energy_budgets)


def _tape(trades: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in _TAPE if c in trades.columns]
    return trades.sort_values([*keys, "power_kw"], kind="stable").reset_index(drop=True)


def _compare_fails_in_one_line(out: Path, expected: str) -> None:
    result = CliRunner().invoke(app, ["compare", str(DEMO_SCENARIO), "--out", str(out),
                                      "--designs", "sequential_dso_first"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_the_sparse_input_trades_like_the_dense_reference_on_the_demo():
    sparse = design_input_for_scenario(load_scenario(DEMO_SCENARIO))
    dense = _dense_like(sparse)
    n_cp = len(congestion_points(sparse.grid))
    # the design's CP axis is the monitored set, every overloaded point in it
    assert dense.relief.scale.shape[1] == n_cp
    assert 0 < sparse.relief.scale.shape[1] < n_cp
    assert sparse.needs.overload_kw.sum() == pytest.approx(dense.needs.overload_kw.sum(),
                                                           abs=1e-9)
    for a, b in zip(run_designs(sparse), run_designs(dense), strict=True):
        assert a.design == b.design
        ta, tb = _tape(a.trades), _tape(b.trades)
        assert len(ta) == len(tb), a.design
        pd.testing.assert_frame_equal(ta[[c for c in _TAPE if c in ta]],
                                      tb[[c for c in _TAPE if c in tb]], obj=a.design)
        for col in ("power_kw", "paid_eur", "received_eur"):
            np.testing.assert_allclose(ta[col], tb[col], atol=1e-6, err_msg=a.design)
        for key in KPI_KEYS:
            va, vb = a.kpis[key], b.kpis[key]
            if isinstance(va, float) and isinstance(vb, float):
                assert va == pytest.approx(vb, abs=1e-6, nan_ok=True), (a.design, key)
            elif key != "liquidity":
                assert va == vb, (a.design, key)
    assert [r.design for r in run_designs(sparse)] == list(DESIGNS)


def test_the_input_is_refused_in_one_line_when_its_relief_would_not_fit(monkeypatch):
    inp = design_input_for_scenario(load_scenario(DEMO_SCENARIO))
    monkeypatch.setattr(inputs_module, "DESIGN_MEMORY_SHARE", 1e-12)
    with pytest.raises(InputError, match="monitored points"):
        make_design_input(inp.grid, inp.forecast_loads, inp.offers, isp_hours=inp.isp_hours,
                          seed=inp.seed)


def test_compare_refuses_an_input_that_would_not_fit_without_a_traceback(
        monkeypatch, tmp_path: Path):
    monkeypatch.setattr(inputs_module, "DESIGN_MEMORY_SHARE", 1e-12)
    _compare_fails_in_one_line(tmp_path / "cmp", "monitored points")


def test_compare_turns_running_out_of_memory_into_one_line(monkeypatch, tmp_path: Path):
    import localflex.market.designs as designs

    def out_of_memory(*_args, **_kwargs):
        raise MemoryError  # what numpy raises when an allocation fails

    monkeypatch.setattr(designs, "run_designs", out_of_memory)
    _compare_fails_in_one_line(tmp_path / "cmp", "ran out of memory")


def test_deflex_levels_from_the_factored_relief_equal_the_dense_ones():
    from localflex.market import CongestionNeeds, FactoredRelief
    from localflex.market.deflex import distribution_areas, restriction_levels

    inp = design_input_for_scenario(load_scenario(DEMO_SCENARIO))
    rng = np.random.default_rng(5)
    scale = rng.normal(size=inp.relief.scale.shape)  # both signs, every point
    dp = rng.normal(size=inp.relief.dp_kw_per_kw.shape)
    head = np.abs(rng.normal(50.0, 30.0, size=scale.shape))

    def needs(relief):
        return CongestionNeeds(cp_ids=inp.cps["cp_id"].to_numpy(),
                               overload_kw=np.zeros(scale.shape), headroom_kw=head,
                               relief_kw_per_kw_up=relief, bus_ids=inp.bus_ids,
                               isp_hours=inp.isp_hours)

    areas = distribution_areas(inp.grid)
    factored = restriction_levels(areas, needs(FactoredRelief(scale, dp)))
    dense = restriction_levels(areas, needs(scale[:, :, None] * dp[None, :, :]))
    pd.testing.assert_frame_equal(factored, dense)
    assert set(dense["level"]) > {"none"}  # the comparison covers restricted levels
