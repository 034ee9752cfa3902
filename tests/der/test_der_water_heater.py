"""Electric water heaters: heat balance, comfort band under any activation, rebound."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import WaterHeaterFleet, hot_water_draw_l
from localflex.domain import InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")


def _fleet(seed=0, n=12):
    rng = np.random.default_rng(seed)
    tank = rng.uniform(80, 300, n)
    draw = hot_water_draw_l(TG, tank * 0.8, rng=rng)
    return WaterHeaterFleet(np.arange(n), np.zeros(n, int), rng.uniform(2, 4, n), tank, draw)


def test_draw_profile_keeps_daily_volume_and_is_seeded():
    a = hot_water_draw_l(TG, [100.0, 200.0], rng=np.random.default_rng(1))
    b = hot_water_draw_l(TG, [100.0, 200.0], rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    plain = hot_water_draw_l(TG, [100.0, 200.0])
    np.testing.assert_allclose(plain.sum(axis=0), [100.0, 200.0])
    assert plain[:, 0].argmax() * TG.isp_hours == pytest.approx(6.5, abs=0.5)


def test_baseline_holds_set_point_and_balances_heat():
    fleet = _fleet()
    p, temp = fleet.simulate(TG)
    assert np.all(temp <= fleet.t_set_c + 1e-9)
    below_rated = p < fleet.rated_kw - 1e-9  # where the element has power left, it holds t_set
    np.testing.assert_allclose(temp[1:][below_rated],
                               np.broadcast_to(fleet.t_set_c, p.shape)[below_rated], atol=1e-9)
    assert np.all(temp >= fleet.t_min_c)
    np.testing.assert_allclose(fleet.heat_balance_kwh(TG, p, temp), 0.0, atol=1e-9)
    drawn_kwh = (0.001163 * fleet.draw_l * (temp[:-1] - fleet.t_cold_c)).sum(axis=0)
    assert np.all(p.sum(axis=0) * TG.isp_hours > drawn_kwh)  # draws plus standing loss


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 10.0))
def test_comfort_band_under_any_activation(seed, scale):
    fleet = _fleet(seed % 30)
    rng = np.random.default_rng(seed)
    delta = rng.normal(0, scale, (TG.n_isps, fleet.n_units)) * (
        rng.random((TG.n_isps, fleet.n_units)) < 0.5)
    p, temp = fleet.simulate(TG, delta)
    tol = 1e-9
    assert np.all(p >= -tol) and np.all(p <= fleet.rated_kw + tol)
    assert np.all(temp >= fleet.t_min_c - tol) and np.all(temp <= fleet.t_max_c + tol)
    np.testing.assert_allclose(fleet.heat_balance_kwh(TG, p, temp), 0.0, atol=1e-8)


def test_envelope_deliverable_then_rebound():
    fleet = _fleet(3)
    env = fleet.envelope(TG)
    base = fleet.baseline_kw(TG)
    t = int(np.argmax(base.sum(axis=1)))  # the busiest ISP
    delta = np.zeros_like(base)
    delta[t] = env.up_kw[t]
    net = fleet.respond(TG, delta)
    np.testing.assert_allclose(net[t], base[t] - env.up_kw[t], atol=1e-9)
    assert (net[t + 1] - base[t + 1]).sum() > 0  # reheating afterwards: the rebound
    # energy is conserved up to the (slightly lower) standing loss of a cooler tank
    assert net.sum() == pytest.approx(base.sum(), rel=1e-3)
    assert np.all(env.max_duration_isps >= 1)


def test_bad_input():
    with pytest.raises(InputError, match="draw_l"):
        WaterHeaterFleet(["a"], [0], 2.0, 50.0, np.full(TG.n_isps, 60.0))
    with pytest.raises(InputError, match="t_set_c"):
        WaterHeaterFleet(["a"], [0], 2.0, 100.0, np.zeros(TG.n_isps), t_set_c=70.0)
