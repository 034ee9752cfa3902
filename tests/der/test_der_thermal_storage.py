"""Thermal storage (night storage heaters): SoC bounds, demand served, charging window."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import (
    ThermalStorageFleet,
    heat_demand_kw_th,
    night_window,
    outdoor_temperature_c,
)
from localflex.domain import InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")
WINDOW = night_window(TG)


def _fleet(seed=0, n=15):
    rng = np.random.default_rng(seed)
    q = heat_demand_kw_th(outdoor_temperature_c(TG), rng.uniform(1.5, 4.0, n))
    return ThermalStorageFleet(np.arange(n), np.zeros(n, int), rng.uniform(8, 14, n),
                               rng.uniform(40, 70, n), q, WINDOW, soc0=rng.uniform(.2, .5, n))


def _check(fleet, p, e, unserved):
    tol = 1e-9
    assert np.all(p >= -tol) and np.all(p <= fleet.rated_kw + tol)
    assert np.all(p[~WINDOW] == 0.0)  # charges only in the off-peak window
    assert np.all(e >= -tol) and np.all(e <= fleet.capacity_kwh + tol)
    np.testing.assert_allclose(unserved, 0.0, atol=1e-9)  # the demand is always served
    k = np.exp(-fleet.loss_per_h * TG.isp_hours)
    np.testing.assert_allclose(e[1:] - e[:-1] * k, (p - fleet.heat_demand_kw_th)
                               * TG.isp_hours, atol=1e-9)


def test_window_and_floor():
    assert WINDOW.sum() == 8 * 4 and WINDOW[0] and not WINDOW[40]
    fleet = _fleet()
    floor = fleet.floor_kwh(TG)
    p, e, unserved = fleet.simulate(TG)
    _check(fleet, p, e, unserved)
    assert np.all(e >= floor - 1e-9)
    env = fleet.envelope(TG)
    assert np.all(env.down_kw[~WINDOW] == 0) and np.all(env.up_kw[~WINDOW] == 0)
    assert env.up_kw.sum() > 0 and env.down_kw.sum() > 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 20.0))
def test_soc_never_out_of_bounds_under_any_activation(seed, scale):
    fleet = _fleet(seed % 25)
    rng = np.random.default_rng(seed)
    delta = rng.normal(0, scale, (TG.n_isps, fleet.n_units)) * (
        rng.random((TG.n_isps, fleet.n_units)) < 0.5)
    p, e, unserved = fleet.simulate(TG, delta)
    _check(fleet, p, e, unserved)
    assert np.all(e >= fleet.floor_kwh(TG) - 1e-9)


def test_shifted_charging_is_caught_up_later():
    fleet = _fleet(2)
    base = fleet.baseline_kw(TG)
    env = fleet.envelope(TG)
    delta = np.zeros_like(base)
    delta[0:4] = env.up_kw[0:4]  # charge less in the first hour
    net = fleet.respond(TG, delta)
    np.testing.assert_allclose(net[0:4], base[0:4] - env.up_kw[0:4], atol=1e-9)
    assert (net[4:] - base[4:]).sum() > 0  # rebound: the controller charges it later
    _, e_act, _ = fleet.simulate(TG, delta)
    _, e_base, _ = fleet.simulate(TG)
    assert np.all(e_act[4] <= e_base[4] - env.up_kw[0:4].sum(axis=0) * TG.isp_hours * 0.9)


def test_bad_input():
    with pytest.raises(InputError, match="charge_window"):
        ThermalStorageFleet(["a"], [0], 5.0, 30.0, np.ones(TG.n_isps), np.ones(TG.n_isps))
