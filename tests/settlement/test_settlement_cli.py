"""``localflex settle RUN_DIR`` end to end on the demo run folder."""

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from localflex.cli import app
from localflex.settlement import eur_to_cents

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("settle") / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_settle_default_country(demo_dir):
    result = runner.invoke(app, ["settle", str(demo_dir), "--overwrite"])
    assert result.exit_code == 0, result.output
    folder = demo_dir / "settlement"
    for name in ("ledger", "statements", "delivery", "compensation", "imbalance",
                 "baseline_accuracy", "imbalance_scenarios"):
        assert (folder / f"{name}.parquet").is_file() and (folder / f"{name}.csv").is_file()
    ledger = pd.read_parquet(folder / "ledger.parquet")
    assert int(ledger["amount_cents"].sum()) == 0
    assert (ledger.groupby("txn_id")["amount_cents"].sum() == 0).all()
    summary = json.loads((folder / "settlement.json").read_text())
    assert summary["country"] == "DE" and summary["compensation_regime"] == "undefined"
    assert summary["brp_compensation_eur"] == 0
    html = (folder / "settlement.html").read_text()
    assert "Baseline accuracy" in html and "high_5_of_10" in html and "Statements" in html
    assert "baseline accuracy" in result.output and "ledger lines" in result.output
    assert (folder / "statements" / "DSO.csv").is_file()


def test_settled_delivery_matches_the_runs_activations(demo_dir):
    """Without meter noise, each award's delivered power is what the run's DER models
    delivered on its pool (tables/activations, injection sign, times the award's sign), the
    tolerance verdict follows from it, and awards delivered in full are paid their
    pay-as-bid cost."""
    result = runner.invoke(app, ["settle", str(demo_dir), "--overwrite", "--meter-noise-kw", "0"])
    assert result.exit_code == 0, result.output
    delivery = pd.read_parquet(demo_dir / "settlement" / "delivery.parquet")
    awards = pd.read_parquet(demo_dir / "tables" / "awards.parquet")
    acts = pd.read_parquet(demo_dir / "tables" / "activations.parquet")
    units = pd.read_parquet(demo_dir / "tables" / "der_units.parquet")
    assert len(delivery) == len(awards)
    acts = acts.merge(units, on="der_id")
    acts["pool"] = (acts["aggregator_id"] + "|" + acts["bus"].astype(str) + "|"
                    + acts["der_type"])
    run = acts.groupby(["pool", "isp"])["delivered_kw"].sum()
    pooled = delivery.groupby(["pool", "isp"]).agg(
        delivered=("delivered_kw", "sum"), sign=("direction", "first"))
    sign = pooled["sign"].map({"up": 1.0, "down": -1.0})
    expected = run.reindex(pooled.index).fillna(0.0) * sign
    assert pooled["delivered"].to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-9)
    full = delivery["delivered_kw"] >= 0.9 * delivery["awarded_kw"]
    assert (delivery["within_tolerance"] == full).all()
    cost = awards["cost_eur"].to_numpy()
    ok = delivery["within_tolerance"].to_numpy()
    assert delivery["utilisation_eur"].to_numpy()[ok] == pytest.approx(cost[ok])
    assert (delivery["utilisation_eur"].to_numpy()[~ok] < cost[~ok]).all()


def test_settle_france_corrected(demo_dir):
    """The demo's awards are DOWN (PV curtailment): the BRP receives customers' extra net
    consumption it did not source, so under 'corrected' the BRP pays the aggregator
    retail price × energy: 80 EUR/MWh × activated kWh."""
    result = runner.invoke(app, ["settle", str(demo_dir), "--overwrite", "--country", "FR",
                                 "--regime", "corrected", "--brps", "2"])
    assert result.exit_code == 0, result.output
    folder = demo_dir / "settlement"
    comp = pd.read_parquet(folder / "compensation.parquet")
    assert set(comp["regime"]) == {"corrected"}
    assert set(comp["brp_id"]) == {"BRP-1", "BRP-2"}
    assert comp["amount_to_brp_eur"].sum() == pytest.approx(
        80.0 * comp["energy_kwh"].sum() / 1000.0)
    assert comp["energy_kwh"].sum() < 0
    ledger = pd.read_parquet(folder / "ledger.parquet")
    assert int(ledger["amount_cents"].sum()) == 0
    assert "brp_compensation_corrected" in set(ledger["rule"])
    # the statements book exactly the computed amounts, to the cent
    summary = json.loads((folder / "settlement.json").read_text())
    booked = summary["booked_eur"]
    for computed, rule in (("utilisation_eur", "utilisation"),
                           ("prosumer_remuneration_eur", "prosumer_remuneration"),
                           ("brp_compensation_eur", "brp_compensation")):
        assert eur_to_cents(summary[computed]) == round(booked[rule] * 100), rule
    assert summary["prosumer_remuneration_eur"] > 0 and summary["utilisation_eur"] > 0


def test_settle_switzerland_corrects_the_perimeter(demo_dir):
    result = runner.invoke(app, ["settle", str(demo_dir), "--overwrite", "--country", "CH",
                                 "--pricing", "dual"])
    assert result.exit_code == 0, result.output
    imb = pd.read_parquet(demo_dir / "settlement" / "imbalance.parquet")
    assert imb["perimeter_correction_kwh"].abs().sum() > 0
    # what remains after the correction is only meter noise and unawarded deviation
    assert imb["imbalance_kwh"].abs().sum() < 0.2 * imb["activation_deviation_kwh"].abs().sum()


def test_settle_bad_input_exit_2(demo_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(demo_dir, broken, ignore=shutil.ignore_patterns("settlement"))
    (broken / "tables" / "activations.parquet").unlink()
    result = runner.invoke(app, ["settle", str(broken)])
    assert result.exit_code == 2
    assert "tables/activations.parquet" in result.output
    assert not (broken / "settlement").exists()
    result = runner.invoke(app, ["settle", str(demo_dir), "--overwrite", "--country", "GB",
                                 "--regime", "corrected"])
    assert result.exit_code == 2 and "regime" in result.output
    result = runner.invoke(app, ["settle", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "RUN_DIR" in result.output
