"""EV charging: need always met when feasible, plug-in window and charger power respected."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import EvFleet
from localflex.domain import HorizonError, InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")


def _sampled(n=30, seed=0):
    return EvFleet.sample(n, np.arange(5), np.random.default_rng(seed), TG)


def _check(fleet, net, delta=None, tg=TG):
    """Plug-in window and charger power kept; the need met, or what is left at the
    horizon's end can still be charged at full power before the real departure."""
    tol = 1e-9
    plugged = fleet.plugged(tg)
    assert np.all(net[~plugged] == 0.0)  # never outside the plug-in window
    assert np.all(net <= fleet.charger_kw + tol)  # never above charger power
    assert np.all(net >= -tol)  # no V2G
    left = fleet.end_state(tg, delta)["carried_need_kwh"]
    np.testing.assert_allclose(net.sum(axis=0) * tg.isp_hours * fleet.efficiency,
                               fleet.energy_need_kwh + fleet.carried_need_kwh - left, atol=1e-6)
    after_isps = np.maximum(fleet.departure_isp - tg.n_isps, 0)
    assert np.all(left <= fleet.charger_kw * fleet.efficiency * tg.isp_hours * after_isps + 1e-6)


def test_sample_is_deterministic_and_plausible():
    a, b = _sampled(seed=3), _sampled(seed=3)
    np.testing.assert_array_equal(a.arrival_isp, b.arrival_isp)
    np.testing.assert_array_equal(a.energy_need_kwh, b.energy_need_kwh)
    assert np.all((a.arrival_isp >= 17 * 4) & (a.arrival_isp <= 20 * 4))
    dep_h = a.departure_isp * 0.25 - 24  # the real departure, past the 1-day grid's end
    assert np.all((dep_h >= 6) & (dep_h <= 8))
    assert np.all((a.energy_need_kwh > 0) & (a.energy_need_kwh <= 25))
    two_days = TimeGrid.for_day("2024-01-15", days=2)
    c = EvFleet.sample(50, [0], np.random.default_rng(3), two_days)
    dep_h = c.departure_isp * 0.25 - 24
    assert np.all((dep_h >= 6) & (dep_h <= 8))
    assert np.all(c.energy_need_kwh >= 5)
    d = EvFleet.sample(3, [7, 8, 9], np.random.default_rng(0), TG, charger_kw=11.0,
                       id_prefix="ev:")
    np.testing.assert_array_equal(d.bus, [7, 8, 9])  # one bus per EV, in order
    assert np.all(d.charger_kw == 11.0)
    assert list(d.der_id) == ["ev:0", "ev:1", "ev:2"]


def test_baseline_is_dumb_charging():
    fleet = _sampled()
    base = fleet.baseline_kw(TG)
    _check(fleet, base)
    first = base[fleet.arrival_isp, np.arange(fleet.n_units)]
    np.testing.assert_allclose(first, fleet.charger_kw)  # full power on arrival


def _random_delta(fleet, seed, within_envelope):
    rng = np.random.default_rng(seed)
    shape = (TG.n_isps, fleet.n_units)
    mask = rng.random(shape) < rng.random()
    if within_envelope:
        env = fleet.envelope(TG)
        delta = rng.random(shape) * env.up_kw - rng.random(shape) * env.down_kw
    else:
        delta = rng.normal(0, 8, shape)
    return delta * mask


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), within=st.booleans())
def test_need_met_after_any_activation(seed, within):
    fleet = _sampled(seed=seed % 101)
    delta = _random_delta(fleet, seed, within)
    _check(fleet, fleet.respond(TG, delta), delta)


def test_envelope_up_is_deliverable_and_rebounds():
    fleet = EvFleet(["e"], [0], 11.0, 72, 96, 20.0, 0.9)
    env = fleet.envelope(TG)
    base = fleet.baseline_kw(TG)
    assert env.up_kw[72, 0] == pytest.approx(11.0)
    delta = np.zeros_like(base)
    delta[72:76] = env.up_kw[72:76]  # pause one hour
    net = fleet.respond(TG, delta)
    _check(fleet, net, delta)
    np.testing.assert_allclose(net[72:76], 0.0)
    charged_base = np.flatnonzero(base[:, 0] > 0)
    charged = np.flatnonzero(net[:, 0] > 0)
    assert charged.max() > charged_base.max()  # rebound after the baseline would have ended
    assert env.max_duration_isps[0] == 24 - 9  # 9 full ISPs needed in a 24-ISP window
    np.testing.assert_allclose(env.energy_up_max_kwh, min(11.0 * 6 - 20.0 / 0.9, 20.0 / 0.9))


def test_activation_now_reduces_what_is_possible_later():
    fleet = EvFleet(["e"], [0], 11.0, 72, 96, 20.0, 0.9)
    env = fleet.envelope(TG)
    base = fleet.baseline_kw(TG)
    greedy = np.zeros_like(base)
    greedy[72:] = env.up_kw[72:]  # ask for every ISP's UP from the baseline state
    net = fleet.respond(TG, greedy)
    _check(fleet, net, greedy)
    realised = base - net
    assert realised[72:78].sum() == pytest.approx(env.up_kw[72:78].sum())
    assert realised.sum() * TG.isp_hours < env.up_kw.sum() * TG.isp_hours - 1.0
    assert np.any(realised[78:] < env.up_kw[78:] - 1e-6)


def test_tight_session_has_no_up_flexibility():
    need = 11.0 * 0.9 * 0.25 * 8  # exactly 8 full ISPs in an 8-ISP window
    fleet = EvFleet(["e"], [0], 11.0, 40, 48, need, 0.9)
    env = fleet.envelope(TG)
    assert np.all(env.up_kw < 1e-9)
    assert env.max_duration_isps[0] == 0
    delta = np.full((TG.n_isps, 1), 11.0)
    _check(fleet, fleet.respond(TG, delta), delta)


def test_bad_sessions_name_the_field():
    with pytest.raises(InputError, match="departure_isp"):
        EvFleet(["e"], [0], 11.0, 50, 40, 10.0)
    with pytest.raises(HorizonError, match="arrival_isp"):  # a session of a later day
        EvFleet(["e"], [0], 11.0, 100, 110, 10.0).baseline_kw(TG)
    with pytest.raises(InputError, match="energy_need_kwh"):
        EvFleet(["e"], [0], 11.0, 50, 60, -1.0)
