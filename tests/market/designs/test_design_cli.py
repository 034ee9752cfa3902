"""``localflex compare``: every design on the demo scenario, files written, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from localflex.cli import app
from localflex.cli.run import DEMO_SCENARIO
from localflex.market.designs import DESIGNS, KPI_KEYS

runner = CliRunner()


def test_compare_runs_every_design_on_the_demo(tmp_path: Path):
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["compare", str(DEMO_SCENARIO), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "designs.csv")
    assert frame["design"].tolist() == list(DESIGNS)
    assert list(frame.columns) == [k for k in KPI_KEYS if k != "liquidity"]
    doc = json.loads((out / "designs.json").read_text())
    assert doc["meta"]["forecast_overload_kwh"] > 0
    assert [d["design"] for d in doc["designs"]] == list(DESIGNS)
    assert all(set(KPI_KEYS) <= set(d) for d in doc["designs"])
    assert (out / "designs.png").stat().st_size > 10_000
    trades = pd.read_csv(out / "design_trades.csv")
    assert set(trades["design"]) == set(DESIGNS)
    for name in ("no_coupling", "sequential_dso_first", "tso_dso_integrated"):
        assert name in result.output
    # a design that checks later stages against the grid never leaves more overload than
    # one that does not (the strict conflict is shown on the small scenario in test_design_all)
    by = frame.set_index("design")
    assert by.loc["no_coupling", "residual_overload_kwh"] >= by.loc[
        "sequential_dso_first", "residual_overload_kwh"]
    assert (by["residual_overload_kwh"] <= doc["meta"]["forecast_overload_kwh"]).all()


def test_bad_design_name_exits_2_and_names_it(tmp_path: Path):
    out = tmp_path / "never"
    result = runner.invoke(app, ["compare", str(DEMO_SCENARIO), "--designs",
                                 "no_coupling,pony_market", "--out", str(out)])
    assert result.exit_code == 2
    assert "pony_market" in result.output
    assert not out.exists()


def test_missing_scenario_exits_2(tmp_path: Path):
    result = runner.invoke(app, ["compare", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml" in result.output


def test_bad_params_file_exits_2_naming_the_key(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("brp_imbalance_kw: 10\nbrp_colour: blue\n")
    result = runner.invoke(app, ["compare", str(DEMO_SCENARIO), "--params", str(bad),
                                 "--out", str(tmp_path / "never")])
    assert result.exit_code == 2
    assert "brp_colour" in result.output
    assert not (tmp_path / "never").exists()


def test_example_params_file_parses():
    import yaml

    from localflex.market.designs import DesignParams, design_params_from_mapping

    path = Path(__file__).resolve().parents[3] / "examples" / "designs.yaml"
    params = design_params_from_mapping(yaml.safe_load(path.read_text()))
    assert params == DesignParams()  # the example file states the defaults
