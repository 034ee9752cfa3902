"""EV vehicle-to-grid option: discharge beyond stopping the charge, need still met."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import EvFleet
from localflex.domain import InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")


def _battery_energy(fleet, net):
    """Energy into the battery per unit (discharge takes |p| dt / eff out)."""
    eff = fleet.efficiency
    return np.where(net >= 0, net * eff, net / eff).sum(axis=0) * TG.isp_hours


def _v2g(seed=0, n=30, v2g=7.0, depth=0.0):
    return EvFleet.sample(n, np.arange(4), np.random.default_rng(seed), TG, v2g_kw=v2g,
                          v2g_energy_kwh=depth)


def test_default_is_unchanged_behaviour():
    plain = EvFleet.sample(30, np.arange(4), np.random.default_rng(1), TG)
    zero = _v2g(1, v2g=0.0)
    np.testing.assert_array_equal(plain.envelope(TG).up_kw, zero.envelope(TG).up_kw)
    delta = np.random.default_rng(2).normal(0, 10, (TG.n_isps, 30))
    np.testing.assert_array_equal(plain.respond(TG, delta), zero.respond(TG, delta))
    assert np.all(plain.respond(TG, delta) >= 0)


def test_v2g_adds_up_beyond_stopping_the_charge():
    plain = EvFleet(["e"], [0], 11.0, 72, 96, 10.0, 0.9)
    v2g = EvFleet(["e"], [0], 11.0, 72, 96, 10.0, 0.9, v2g_kw=11.0)
    up_plain, up_v2g = plain.envelope(TG).up_kw, v2g.envelope(TG).up_kw
    assert np.all(up_v2g >= up_plain) and up_v2g.sum() > up_plain.sum()
    base = v2g.baseline_kw(TG)
    assert up_v2g[73, 0] > base[73, 0]  # more than the baseline charge: discharge
    delta = np.zeros_like(base)
    delta[73] = up_v2g[73]
    net = v2g.respond(TG, delta)
    np.testing.assert_allclose(net[73], base[73] - up_v2g[73])
    assert net[73, 0] < 0
    # only what was charged in this session goes back (v2g_energy_kwh = 0)
    assert -net[73, 0] * TG.isp_hours / 0.9 == pytest.approx(11.0 * 0.9 * TG.isp_hours)
    assert _battery_energy(v2g, net)[0] == pytest.approx(10.0)  # need still met


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.floats(0.0, 20.0), scale=st.floats(1.0, 30.0))
def test_need_met_and_depth_kept_under_any_activation(seed, depth, scale):
    fleet = _v2g(seed % 60, depth=depth)
    rng = np.random.default_rng(seed)
    delta = rng.normal(0, scale, (TG.n_isps, fleet.n_units)) * (
        rng.random((TG.n_isps, fleet.n_units)) < 0.5)
    net = fleet.respond(TG, delta)
    tol = 1e-6
    assert np.all(net[~fleet.plugged(TG)] == 0.0)
    assert np.all(net <= fleet.charger_kw + tol) and np.all(net >= -fleet.v2g_kw - tol)
    left = fleet.end_state(TG, delta)["carried_need_kwh"]  # charged after midnight
    np.testing.assert_allclose(_battery_energy(fleet, net), fleet.energy_need_kwh - left,
                               atol=1e-6)
    after = fleet.charger_kw * fleet.efficiency * TG.isp_hours * (fleet.departure_isp - 96)
    assert np.all(left <= after + tol)
    # the battery never goes below its arrival content minus v2g_energy_kwh
    eff = fleet.efficiency
    gained = np.cumsum(np.where(net >= 0, net * eff, net / eff), axis=0) * TG.isp_hours
    assert np.all(gained >= -fleet.v2g_energy_kwh - tol)


def test_bad_input():
    with pytest.raises(InputError, match="v2g_kw"):
        EvFleet(["e"], [0], 11.0, 72, 96, 10.0, v2g_kw=-1.0)
