"""The command line end to end: the demo day, and bad input that leaves no run folder."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from localflex.cli import app
from localflex.cli.run import DEMO_SCENARIO

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_demo_relieves_congestion(demo_run):
    out, output = demo_run
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["overload_energy_before_kwh"] > 0
    after, before = kpis["overload_energy_after_kwh"], kpis["overload_energy_before_kwh"]
    assert after <= 0.05 * before or kpis["unsolved"], "residual must be explained"
    for item in kpis["unsolved"]:
        assert item["cause"]
    assert kpis["dso_cost_eur"] > 0
    assert "overload energy" in output


def test_demo_writes_tables_and_report(demo_run):
    out, _ = demo_run
    for name in ("cp_loading", "bus_voltage", "offers", "awards", "merit_order", "payments",
                 "der_units", "activations"):
        assert (out / "tables" / f"{name}.parquet").is_file(), name
        assert (out / "tables" / f"{name}.csv").is_file(), name
    awards = pd.read_parquet(out / "tables" / "awards.parquet")
    payments = pd.read_parquet(out / "tables" / "payments.parquet")
    kpis = json.loads((out / "kpis.json").read_text())
    assert payments["amount_eur"].sum() == pytest.approx(awards["cost_eur"].sum())
    assert awards["cost_eur"].sum() == pytest.approx(kpis["dso_cost_eur"], abs=0.01)
    report = (out / "report.html").read_text()
    assert report.count("<div class='chart'>") == 4


def test_same_seed_same_numbers(demo_run, tmp_path):
    out, _ = demo_run
    again = tmp_path / "again"
    assert runner.invoke(app, ["demo", "--out", str(again)]).exit_code == 0
    first = json.loads((out / "kpis.json").read_text())
    second = json.loads((again / "kpis.json").read_text())
    assert first == second


def _scenario(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(DEMO_SCENARIO.read_text())
    change(data)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d["grid"].update(simbench_code="1-LV-nowhere--0-sw"), "grid.simbench_code"),
        (lambda d: d["grid"].update(lod_scale=2), "grid.lod_scale"),
        (lambda d: d["ders"].update(ev_charger_kw=-11), "ders.ev_charger_kw"),
        (lambda d: d["market"].update(extra_offers=[{
            "aggregator": "x", "bus": 0, "isp": 96, "direction": "up", "power_kw": 5,
            "price_eur_per_mwh": 50}]), "market.extra_offers[0].isp"),
        (lambda d: d["market"].update(extra_offers=[{
            "aggregator": "x", "bus": 9999, "isp": 3, "direction": "up", "power_kw": 5,
            "price_eur_per_mwh": 50}]), "market.extra_offers[0].bus"),
    ],
)
def test_bad_input_exits_nonzero_without_run_folder(tmp_path, change, needle):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(_scenario(tmp_path, change)), "--out", str(out)])
    assert result.exit_code == 2
    assert needle in result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def _one_line_exit_2(result, needle: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert needle in result.output


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ders: {outdoor_day_mean_c: 1e308}", "ders.outdoor_day_mean_c"),
        ("grid: {simbench_code: 1-LV-rural1--2-sw, load_scale: .inf}", "grid.load_scale"),
        ("grid: {simbench_code: 1-LV-rural1--2-sw, sgen_scale: .inf}", "grid.sgen_scale"),
        ("market: {extra_offers: [{aggregator: x, bus: 1, isp: 3, direction: up, "
         "power_kw: .inf, price_eur_per_mwh: 50}]}", "market.extra_offers[0].power_kw"),
        ("grid: {simbench_code: [unclosed", "valid YAML"),
    ],
)
def test_bad_values_fail_before_the_grid_loads(tmp_path, monkeypatch, text, needle):
    import localflex.sim.setup

    def no_grid(*_args, **_kwargs):
        raise AssertionError("the grid must not load for a scenario that does not validate")

    monkeypatch.setattr(localflex.sim.setup, "load_simbench_grid", no_grid)
    base = yaml.safe_load(DEMO_SCENARIO.read_text())
    path = tmp_path / "s.yaml"
    try:
        base.update(yaml.safe_load(text))
        path.write_text(yaml.safe_dump(base))
    except yaml.YAMLError:
        path.write_text(DEMO_SCENARIO.read_text() + "\n" + text + "\n")
    out = tmp_path / "run"
    _one_line_exit_2(runner.invoke(app, ["run", str(path), "--out", str(out)]), needle)
    assert not out.exists()


def test_negative_seed_is_one_line(tmp_path):
    out = tmp_path / "run"
    _one_line_exit_2(runner.invoke(app, ["demo", "--seed", "-1", "--out", str(out)]), "--seed")
    assert not out.exists()


def test_demo_overwrite_keeps_the_users_files(demo_run, tmp_path):
    import shutil

    out, _ = demo_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "notes.md").write_text("mine")
    (copy / "tables" / "extra.csv").write_text("mine")
    (copy / "kpis.json").write_text("{}")
    result = runner.invoke(app, ["demo", "--out", str(copy)])
    _one_line_exit_2(result, "--overwrite")
    result = runner.invoke(app, ["demo", "--out", str(copy), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (copy / "notes.md").read_text() == "mine"
    assert (copy / "tables" / "extra.csv").read_text() == "mine"
    assert json.loads((copy / "kpis.json").read_text()) == json.loads(
        (out / "kpis.json").read_text())


def test_demo_runs_from_an_empty_directory(demo_run, tmp_path, monkeypatch):
    """The bundled demo scenario is package data, not a file of the source checkout."""
    from localflex.bundled_examples import example_names

    assert {"demo.yaml", "designs.yaml"} <= set(example_names())
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "demo" / "kpis.json").is_file()
