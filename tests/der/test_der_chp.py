"""Heat-led CHP with heat store: heat balance, store bounds, p_min gap, rebound."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import ChpFleet, heat_demand_kw_th, outdoor_temperature_c
from localflex.domain import InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")
Q = heat_demand_kw_th(outdoor_temperature_c(TG), [20.0, 40.0, 8.0])


def _fleet(**kw):
    args = dict(p_min_kw=[3.0, 6.0, 2.0], power_to_heat=[0.5, 0.5, 0.4],
                storage_kwh_th=[40.0, 80.0, 10.0], loss_per_h=0.01)
    args.update(kw)
    return ChpFleet(["a", "b", "c"], [0, 1, 2], [10.0, 20.0, 4.0], Q, **args)


def _check_physics(fleet, p, e, boiler):
    dt = TG.isp_hours
    tol = 1e-9
    assert np.all(p >= -tol) and np.all(p <= fleet.p_max_kw + tol)
    assert not np.any((p > tol) & (p < fleet.p_min_kw - tol))  # never in the (0, p_min) gap
    assert np.all(e >= -tol) and np.all(e <= fleet.storage_kwh_th + tol)
    k = np.exp(-fleet.loss_per_h * dt)
    # heat balance per ISP: store change = CHP heat + boiler − demand − standing loss
    lhs = e[1:] - e[:-1] * k
    rhs = (p / fleet.sigma + boiler - Q) * dt
    np.testing.assert_allclose(lhs, rhs, atol=1e-9)


def test_baseline_is_heat_led_and_balanced():
    fleet = _fleet()
    p, e, boiler = fleet.simulate(TG)
    _check_physics(fleet, p, e, boiler)
    np.testing.assert_allclose(fleet.baseline_kw(TG), -p)
    # heat-led: with the store at its reference, the output follows demand (plus the store's
    # standing loss) times sigma
    loss_kw = fleet.e_ref_kwh * (1.0 - np.exp(-fleet.loss_per_h * TG.isp_hours)) / TG.isp_hours
    np.testing.assert_allclose(p[:, :2], (fleet.sigma * (Q + loss_kw))[:, :2], rtol=1e-9)
    assert boiler.sum() == 0.0


def test_envelope_bidirectional_and_store_bounded():
    fleet = _fleet()
    env = fleet.envelope(TG)
    assert np.all(env.up_kw[:, :2] > 0) and np.all(env.down_kw[:, :2] > 0)  # big stores
    p_base = fleet.simulate(TG)[0]
    assert np.all(env.up_kw <= fleet.p_max_kw - p_base + 1e-9)
    assert np.all(env.down_kw <= p_base + 1e-9)
    e_base = fleet.simulate(TG)[1]
    np.testing.assert_allclose(env.energy_down_max_kwh, fleet.sigma * e_base.min(axis=0))
    np.testing.assert_allclose(env.energy_down_max_kwh[:2], (fleet.sigma * fleet.e0_kwh)[:2])
    # a full store leaves no UP; an empty one no DOWN below heat-led output
    full = _fleet(soc0=1.0, soc_ref=1.0).envelope(TG)
    assert full.energy_up_max_kwh.max() == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 30.0))
def test_any_activation_keeps_physics(seed, scale):
    fleet = _fleet()
    rng = np.random.default_rng(seed)
    delta = rng.normal(0, scale, (TG.n_isps, 3)) * (rng.random((TG.n_isps, 3)) < 0.4)
    p, e, boiler = fleet.simulate(TG, delta)
    _check_physics(fleet, p, e, boiler)
    np.testing.assert_allclose(fleet.respond(TG, delta), -p)


def test_store_carries_activation_forward_and_rebounds():
    fleet = _fleet()
    base = fleet.baseline_kw(TG)
    env = fleet.envelope(TG)
    delta = np.zeros((TG.n_isps, 3))
    delta[40:48] = env.up_kw[40:48]  # two hours of extra output: heat into the store
    net = fleet.respond(TG, delta)
    # the big stores (a, b) absorb two hours of single-ISP UP headroom ...
    np.testing.assert_allclose(net[40:48, :2], (base - env.up_kw)[40:48, :2], atol=1e-9)
    _, e_act, _ = fleet.simulate(TG, delta)
    _, e_base, _ = fleet.simulate(TG)
    # ... the small one (c, 10 kWh_th) fills up: the single-ISP envelope is not additive
    assert e_act[48, 2] == pytest.approx(fleet.storage_kwh_th[2])
    assert np.all(-net[40:48, 2] <= fleet.p_max_kw[2] + 1e-9)
    assert np.all(e_act[48] > e_base[48])  # the store holds the heat at t+1
    assert np.all(net[48] > base[48])  # rebound: less output afterwards
    # and the envelope at t+1 from the activated state has less UP room
    room_after = fleet.sigma * (fleet.storage_kwh_th - e_act[48])
    assert np.all(room_after < fleet.sigma * (fleet.storage_kwh_th - e_base[48]))


def test_bad_input():
    with pytest.raises(InputError, match="p_min_kw"):
        ChpFleet(["a"], [0], 5.0, Q[:, :1], p_min_kw=6.0)
    with pytest.raises(InputError, match="power_to_heat"):
        ChpFleet(["a"], [0], 5.0, Q[:, :1], power_to_heat=0.0)
