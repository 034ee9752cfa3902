"""Batteries: SoC always within bounds, energy balance with efficiency, restore (rebound)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import BatteryFleet
from localflex.domain import InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")


def _fleet(n=8, seed=0, restore=True, schedule=True):
    rng = np.random.default_rng(seed)
    power = rng.uniform(2, 10, n)
    sched = rng.normal(0, 4, (TG.n_isps, n)) if schedule else None
    return BatteryFleet(
        [f"b{i}" for i in range(n)], np.arange(n), power, rng.uniform(4, 20, n),
        soc0=rng.uniform(0.2, 0.8, n), efficiency=rng.uniform(0.8, 0.98, n),
        soc_min=0.1, soc_max=0.9, baseline_schedule_kw=sched, restore_soc=restore,
    )


def _check_state(fleet, p, e):
    tol = 1e-9
    assert np.all(e >= fleet.e_min_kwh - tol)
    assert np.all(e <= fleet.e_max_kwh + tol)
    assert np.all(np.abs(p) <= fleet.power_kw + tol)
    # energy balance: stored energy change = eta_c * charged - discharged / eta_d
    dt = TG.isp_hours
    gain = (np.clip(p, 0, None) * fleet.eta_c + np.clip(p, None, 0) / fleet.eta_d).sum(0) * dt
    np.testing.assert_allclose(e[-1] - e[0], gain, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.1, 30.0),
       density=st.floats(0.0, 1.0), restore=st.booleans())
def test_soc_never_leaves_bounds_under_random_deltas(seed, scale, density, restore):
    fleet = _fleet(seed=seed % 997, restore=restore)
    rng = np.random.default_rng(seed)
    delta = rng.normal(0, scale, (TG.n_isps, fleet.n_units))
    delta *= rng.random(delta.shape) < density
    p, e = fleet.simulate(TG, delta)
    _check_state(fleet, p, e)
    np.testing.assert_allclose(fleet.respond(TG, delta), p)


def test_baseline_schedule_is_clipped_to_power_and_soc():
    fleet = _fleet(schedule=True)
    p, e = fleet.simulate(TG)
    _check_state(fleet, p, e)
    np.testing.assert_allclose(fleet.baseline_kw(TG), p)


def test_idle_envelope_and_full_discharge_match_energy_bound():
    fleet = BatteryFleet(["b"], [0], 5.0, 10.0, soc0=0.5, efficiency=0.81)
    env = fleet.envelope(TG)
    assert np.all(env.up_kw[0] == 5.0) and np.all(env.down_kw[0] == 5.0)
    np.testing.assert_allclose(env.energy_up_max_kwh, (5.0 - 1.0) * 0.9)
    np.testing.assert_allclose(env.energy_down_max_kwh, (9.0 - 5.0) / 0.9)
    full_up = np.full((TG.n_isps, 1), 5.0)
    net = fleet.respond(TG, full_up)
    delivered_kwh = -(net.sum() * TG.isp_hours)
    np.testing.assert_allclose(delivered_kwh, env.energy_up_max_kwh)
    # once empty, UP is no longer possible: the activation at t limits t+1 (coupling)
    assert net[-1, 0] == 0.0


def test_restore_soc_rebounds_to_baseline_trajectory():
    kw = {"soc0": 0.5, "efficiency": 0.9}
    delta = np.zeros((TG.n_isps, 1))
    delta[10:14] = 4.0  # UP: discharge 4 kW for one hour
    restoring = BatteryFleet(["b"], [0], 5.0, 10.0, **kw, restore_soc=True)
    p, e = restoring.simulate(TG, delta)
    assert np.all(p[14:18] > 0)  # rebound: recharging after the activation
    np.testing.assert_allclose(e[-1], restoring.e0_kwh)
    keeping = BatteryFleet(["b"], [0], 5.0, 10.0, **kw, restore_soc=False)
    p2, e2 = keeping.simulate(TG, delta)
    assert np.all(p2[14:] == 0)
    assert e2[-1, 0] < keeping.e0_kwh[0]


def test_bad_parameters_name_the_field():
    with pytest.raises(InputError, match="soc0"):
        BatteryFleet(["b"], [0], 5.0, 10.0, soc0=0.95)
    with pytest.raises(InputError, match="efficiency"):
        BatteryFleet(["b"], [0], 5.0, 10.0, efficiency=1.2)
    with pytest.raises(InputError, match="energy_kwh"):
        BatteryFleet(["b"], [0], 5.0, 0.0)
    with pytest.raises(InputError, match="power_kw"):
        BatteryFleet(["b", "c"], [0, 1], [5.0, 1.0, 2.0], 10.0)
