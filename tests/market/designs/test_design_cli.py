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


def test_no_coupling_example_leaves_overload_sequential_coupling_removes(tmp_path: Path):
    examples = Path(DEMO_SCENARIO).parent
    out = tmp_path / "nc"
    result = runner.invoke(app, [
        "compare", str(DEMO_SCENARIO), "--params", str(examples / "designs_no_coupling.yaml"),
        "--designs", "no_coupling,sequential_dso_first", "--out", str(out)])
    assert result.exit_code == 0, result.output
    by = pd.read_csv(out / "designs.csv").set_index("design")
    assert by.loc["no_coupling", "residual_overload_kwh"] > 1.0
    assert by.loc["sequential_dso_first", "residual_overload_kwh"] < 0.1
    assert by.loc["no_coupling", "welfare_eur"] < by.loc["sequential_dso_first", "welfare_eur"]
    assert "pay_as_offer" in result.output  # each stage's pricing rule is named


def test_scarce_offers_example_shows_the_backup_value(tmp_path: Path):
    examples = Path(DEMO_SCENARIO).parent
    out = tmp_path / "scarce"
    result = runner.invoke(app, [
        "compare", str(examples / "designs_scarce.yaml"), "--designs",
        "sequential_dso_first,conditional_usef,conditional_bdew", "--out", str(out)])
    assert result.exit_code == 0, result.output
    by = pd.read_csv(out / "designs.csv").set_index("design")
    market_only = by.loc["sequential_dso_first"]
    assert market_only["residual_overload_kwh"] > 100.0
    for name in ("conditional_usef", "conditional_bdew"):
        assert by.loc[name, "control_kwh"] + by.loc[name, "curtailed_kwh"] > 100.0
        assert by.loc[name, "residual_overload_kwh"] < 0.1 * market_only["residual_overload_kwh"]
        assert by.loc[name, "welfare_eur"] > market_only["welfare_eur"]


def _compare(tmp_path: Path, name: str, *args: str) -> pd.DataFrame:
    out = tmp_path / name
    result = runner.invoke(app, ["compare", str(DEMO_SCENARIO), "--designs",
                                 "sequential_dso_first,tso_dso_integrated", "--out", str(out),
                                 *args])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out / "designs.csv").set_index("design")


def test_concentration_and_prices_move_with_aggregators_and_strategy(tmp_path: Path):
    one = _compare(tmp_path, "one", "--aggregators", "1", "--strategy", "cost")
    four = _compare(tmp_path, "four", "--aggregators", "4", "--strategy", "cost")
    assert (one["sellers_total"] == 1).all() and (four["sellers_total"] == 4).all()
    assert (one["hhi_sales"] == 10_000).all()
    assert (four["hhi_sales"] < 5_000).all()
    marked = _compare(tmp_path, "marked", "--aggregators", "4", "--strategy", "markup:0.5")
    for col in ("price_grid_eur_per_mwh", "seller_profit_eur", "dso_cost_eur"):
        assert (marked[col] > four[col] + 1e-6).all(), col
    assert (four["seller_profit_eur"].abs() < 1e-6).all()  # cost-based: no profit
    # welfare is its parts; a markup moves money, not welfare, unless it changes trades
    for frame in (one, four, marked):
        parts = frame["dso_value_eur"] + frame["buyer_value_eur"] - frame["seller_cost_eur"]
        assert (abs(parts - frame["welfare_eur"]) < 1e-6).all()
    assert (marked["buyer_value_eur"] <= four["buyer_value_eur"] + 1e-9).all()


def test_bad_strategy_exits_2_and_names_it(tmp_path: Path):
    out = tmp_path / "never"
    result = runner.invoke(app, ["compare", str(DEMO_SCENARIO), "--strategy", "bluff",
                                 "--out", str(out)])
    assert result.exit_code == 2
    assert "strategy" in result.output and "bluff" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["compare", str(DEMO_SCENARIO), "--aggregators", "0",
                                 "--out", str(out)])
    assert result.exit_code == 2 and "--aggregators" in result.output
    result = runner.invoke(app, ["compare", str(DEMO_SCENARIO), "--strategy", "learn",
                                 "--respond-to", "pony", "--out", str(out)])
    assert result.exit_code == 2 and "--respond-to" in result.output and "pony" in result.output
    assert not out.exists()


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


def test_example_design_variants_parse():
    import yaml

    from localflex.market.designs import design_params_from_mapping

    examples = Path(__file__).resolve().parents[3] / "examples"
    roles = design_params_from_mapping(
        yaml.safe_load((examples / "designs_roles.yaml").read_text()))
    assert roles.brp_offer_share > 0 and roles.aggregator_buy_share > 0
    assert roles.brp_offer_price_eur_per_mwh == (70.0, 130.0)
    no_coupling = design_params_from_mapping(
        yaml.safe_load((examples / "designs_no_coupling.yaml").read_text()))
    assert no_coupling.brp_imbalance_kw == 60.0
