"""Forecast risk: reliable volume, and aggregation shrinking the relative risk (paper §4)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from localflex.cli import app
from localflex.der import (
    FORECAST_ERROR,
    ForecastError,
    forecast_error_std,
    reliable_share_by_size,
    reliable_volume_kw,
    sample_realised_kw,
)
from localflex.domain import DerType, InputError

runner = CliRunner()


def test_every_family_has_an_error_model_growing_with_horizon():
    assert set(FORECAST_ERROR) == {str(d) for d in DerType}
    for family in FORECAST_ERROR:
        assert forecast_error_std(family, 1.0) == pytest.approx(FORECAST_ERROR[family].std_1h)
        assert forecast_error_std(family, 24.0) == pytest.approx(FORECAST_ERROR[family].std_24h)
        assert forecast_error_std(family, 4.0) <= forecast_error_std(family, 24.0)


@pytest.mark.parametrize("family", sorted(FORECAST_ERROR))
def test_reliable_share_grows_with_portfolio_size(family):
    shares = reliable_share_by_size(family, [10, 100, 1000], np.random.default_rng(0))
    assert np.all((shares > 0) & (shares <= 1))
    assert shares[0] < shares[1] < shares[2]  # the relative risk shrinks with N
    # ... towards the limit set by the common (undiversifiable) factor
    err = FORECAST_ERROR[family]
    limit = 1 - 1.2816 * err.std_24h * np.sqrt(err.common_share)
    assert shares[2] <= limit + 1e-3


@pytest.mark.parametrize("family", ["ev", "smart_appliance", "pv"])
def test_monte_carlo_agrees_and_shows_the_same_effect(family):
    rng = np.random.default_rng(7)
    shares = reliable_share_by_size(family, [10, 100, 1000], rng, monte_carlo=True,
                                    n_samples=4000)
    analytic = reliable_share_by_size(family, [10, 100, 1000], np.random.default_rng(7))
    np.testing.assert_allclose(shares, analytic, atol=0.05)
    if FORECAST_ERROR[family].common_share < 0.5:
        assert shares[0] < shares[1] < shares[2]


def test_reliable_volume_is_a_p90():
    env = np.full((3, 200), 2.0)
    p90 = reliable_volume_kw(env, "ev", 0.9)
    draws = np.array([sample_realised_kw(env, "ev", np.random.default_rng(s)).sum(axis=1)
                      for s in range(3000)])
    assert np.mean(draws >= p90) == pytest.approx(0.9, abs=0.02)
    mc = reliable_volume_kw(env, "ev", 0.9, np.random.default_rng(1), n_samples=3000)
    np.testing.assert_allclose(mc, p90, rtol=0.02)
    assert np.all(reliable_volume_kw(env, "ev", 0.5) == pytest.approx(400.0))  # the median


def test_bad_input():
    with pytest.raises(InputError, match="family"):
        reliable_volume_kw(np.ones((1, 3)), "nuclear")
    with pytest.raises(InputError, match="confidence"):
        reliable_volume_kw(np.ones((1, 3)), "pv", 1.0)
    with pytest.raises(InputError, match="envelope_kw"):
        reliable_volume_kw(-np.ones((1, 3)), "pv")
    with pytest.raises(InputError, match="common_share"):
        ForecastError(0.1, 0.2, 1.5)


def test_risk_cli_writes_plot_and_table(tmp_path):
    out = tmp_path / "risk.png"
    result = runner.invoke(app, ["risk", "--family", "pv", "--family", "ev", "--out", str(out),
                                 "--sizes", "10,100,1000"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "N=1,000" in result.output and "pv" in result.output and "ev" in result.output
    bad = runner.invoke(app, ["risk", "--family", "nuclear", "--out", str(tmp_path / "x.png")])
    assert bad.exit_code == 2 and "--family" in bad.output
    assert not (tmp_path / "x.png").exists()
