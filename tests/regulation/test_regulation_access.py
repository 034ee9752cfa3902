"""Market access of a portfolio under a preset, and the §7 what-ifs; the ``access`` command."""

import numpy as np
import pytest
from typer.testing import CliRunner

from localflex.cli import app
from localflex.domain import InputError
from localflex.regulation import Market, country_preset
from localflex.regulation.access import (
    DEFAULT_FIGURES,
    apply_product_rules,
    hold_over_blocks,
    market_access,
    resolve_product,
)


def _portfolio(n_isps=16):
    # 30 units of 5 kW up / 3 kW down each, 10 of them generation
    up = np.full((n_isps, 30), 5.0)
    down = np.full((n_isps, 30), 3.0)
    is_gen = np.arange(30) < 10
    return up, down, is_gen


def test_rules_round_down_hold_blocks_and_symmetry():
    np.testing.assert_allclose(hold_over_blocks(np.array([5.0, 2.0, 4.0, 6.0, 1.0]), 2),
                               [2.0, 2.0, 4.0, 4.0, 1.0])
    up, down = apply_product_rules(np.array([250.0, 99.0]), np.array([120.0, 300.0]),
                                   min_bid_kw=100.0, bid_step_kw=100.0)
    np.testing.assert_allclose(up, [200.0, 0.0])
    np.testing.assert_allclose(down, [100.0, 300.0])
    up, down = apply_product_rules(np.array([250.0]), np.array([120.0]), min_bid_kw=0.0,
                                   symmetric=True)
    np.testing.assert_allclose(up, down)
    np.testing.assert_allclose(up, [120.0])


def test_germany_reserves_closed_by_one_megawatt_and_opened_by_what_ifs():
    up, down, is_gen = _portfolio()
    frame = market_access(up, down, is_gen, country_preset("DE")).set_index("market")
    assert frame.loc["day_ahead", "available_up_kw"] == pytest.approx(150.0)
    # 150 kW up, 90 kW down: intraday (preset: 100 kW min, 100 kW step) takes 100 up only
    assert frame.loc["intraday", "entered_up_kw"] == pytest.approx(100.0)
    assert frame.loc["intraday", "entered_down_kw"] == 0.0
    assert "min_bid_kw" not in frame.loc["intraday", "assumed"]
    assert frame.loc["fcr", "entered_kw"] == 0.0  # 1 MW minimum
    # ≤1 kW min bid on symmetric FCR: min(150, 90) in both directions
    assert frame.loc["fcr", "entered_kw__min_bid_1kw"] == pytest.approx(180.0)
    assert frame.loc["fcr", "entered_kw__min_bid_1kw_asymmetric"] == pytest.approx(240.0)
    assert frame.loc["fcr", "share__min_bid_1kw_asymmetric"] == pytest.approx(1.0)
    assert frame.loc["fcr", "extra_kw__asymmetric"] == 0.0  # the 1 MW minimum still binds
    assert frame.loc["local_dso", "access"] == "yes"  # §5: contractual agreements
    assert "bid_step_kw" in frame.loc["fcr", "assumed"]  # null in the preset


def test_access_no_and_generation_only():
    up, down, is_gen = _portfolio()
    it = market_access(up, down, is_gen, country_preset("IT"))
    assert (it.filter(like="entered_kw") == 0).all().all()
    assert it.set_index("market").loc["local_dso", "assumed"].startswith("access")
    at = market_access(up, down, is_gen, country_preset("AT")).set_index("market")
    assert at.loc["day_ahead", "units_eligible"] == 10
    # 10 gen units: 50 kW up / 30 kW down; below 100 kW → nothing; ≤10 kW (step 10): 50 + 30
    assert at.loc["day_ahead", "entered_kw"] == 0.0
    assert at.loc["day_ahead", "entered_kw__min_bid_10kw"] == pytest.approx(80.0)


def test_timing_limits_and_defaults_are_marked_assumed():
    up, down, is_gen = _portfolio()
    response = np.where(np.arange(30) < 20, 0.1, 10.0)
    frame = market_access(up, down, is_gen, country_preset("DE"),
                          unit_response_min=response, what_if={}).set_index("market")
    assert frame.loc["fcr", "units_eligible"] == 20  # 0.5 min full activation
    assert frame.loc["rr", "units_eligible"] == 30  # 12.5 min
    assert not any(c.startswith("entered_kw__") for c in frame.columns)
    gr = resolve_product(country_preset("GR"), Market.FCR)
    assert gr.min_bid_kw == DEFAULT_FIGURES[Market.FCR]["min_bid_kw"]
    assert "min_bid_kw" in gr.assumed and "max_notification_min" in gr.assumed


def test_bad_input_names_the_field():
    up, down, is_gen = _portfolio()
    preset = country_preset("DE")
    with pytest.raises(InputError, match="unit_is_generation"):
        market_access(up, down, is_gen[:3], preset)
    with pytest.raises(InputError, match="portfolio_down_kw"):
        market_access(up, -down, is_gen, preset)
    with pytest.raises(InputError, match=r"what_if\.x"):
        market_access(up, down, is_gen, preset, what_if={"x": {"colour": 1}})
    with pytest.raises(InputError, match="market"):
        resolve_product(preset, "balancing")


runner = CliRunner()


def test_cli_country_table_and_plot(tmp_path):
    out = tmp_path / "it.png"
    result = runner.invoke(app, ["access", "--country", "de", "--out", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "market access, DE" in result.output
    for market in ("day_ahead", "intraday", "fcr", "frr", "rr", "local_dso"):
        assert market in result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_all_countries(tmp_path):
    out = tmp_path / "sub" / "all.png"
    result = runner.invoke(app, ["access", "--all", "--out", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for code in ("AT", "IT", "SE", "CH"):
        assert f"│ {code} " in result.output
    assert out.is_file()


def test_cli_unknown_country_and_bad_options(tmp_path):
    result = runner.invoke(app, ["access", "--country", "XX", "--out", str(tmp_path / "a.png")])
    assert result.exit_code == 2
    assert "'XX'" in result.output and "IT" in result.output and "SE" in result.output
    assert not (tmp_path / "a.png").exists()
    assert runner.invoke(app, ["access"]).exit_code == 2
    assert runner.invoke(app, ["access", "--all", "--out", str(tmp_path / "a.svg")]).exit_code == 2
    missing = runner.invoke(app, ["access", "--all", "--scenario", str(tmp_path / "no.yaml")])
    assert missing.exit_code == 2 and "--scenario" in missing.output
