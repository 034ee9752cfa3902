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


# --- sessions past midnight and the carried session --------------------------------------
TG2 = TimeGrid.for_day("2024-01-15", days=2)
NEXT = TimeGrid.for_day("2024-01-16")
IDS, BUSES = ["a", "b", "c", "d"], [0, 1, 2, 3]
CHARGER, ARRIVAL, DEPARTURE = [11.0, 7.4, 3.7, 11.0], [76, 72, 68, 80], [124, 120, 128, 100]
NEED, V2G = [30.0, 40.0, 25.0, 10.0], [0.0, 0.0, 0.0, 7.0]


def _split():
    """The sessions of a 2-day horizon as day 1 (departures past its end) and a day 2
    without own sessions that gets day 1's end state."""
    day1 = EvFleet(IDS, BUSES, CHARGER, ARRIVAL, DEPARTURE, NEED, v2g_kw=V2G)
    day2 = EvFleet(IDS, BUSES, CHARGER, NEXT.n_isps, NEXT.n_isps, 0.0, v2g_kw=V2G)
    return day1, day2


def test_two_one_day_horizons_carry_like_one_two_day_horizon():
    whole = EvFleet(IDS, BUSES, CHARGER, ARRIVAL, DEPARTURE, NEED, v2g_kw=V2G)
    day1, day2 = _split()
    carried = day2.with_state(day1.end_state(TG))
    np.testing.assert_allclose(np.vstack([day1.baseline_kw(TG), carried.baseline_kw(NEXT)]),
                               whole.baseline_kw(TG2), atol=1e-9)
    assert carried.baseline_kw(NEXT)[0, 2] == pytest.approx(3.7)  # c still charging at 00:00
    env1, env2, env = day1.envelope(TG), carried.envelope(NEXT), whole.envelope(TG2)
    np.testing.assert_allclose(env1.up_kw, env.up_kw[:96], atol=1e-9)  # real departure
    np.testing.assert_allclose(env2.down_kw, env.down_kw[96:], atol=1e-9)
    assert np.all(env2.up_kw <= env.up_kw[96:] + 1e-9)
    # the same response where both ask the same of the same baseline: an activation on day 1
    # (day 2 then rebounds) or one on day 2 (a day-1 activation moves day 2's baseline,
    # which is declared from where day 1 left the cars)
    for seed, day in zip(range(6), (0, 1) * 3, strict=True):
        rng = np.random.default_rng(seed)
        delta = rng.normal(0, 6, (TG2.n_isps, 4)) * (rng.random((TG2.n_isps, 4)) < 0.4)
        delta[(1 - day) * 96:(2 - day) * 96] = 0.0
        first = day1.respond(TG, delta[:96])
        second = day2.with_state(day1.end_state(TG, delta[:96])).respond(NEXT, delta[96:])
        np.testing.assert_allclose(np.vstack([first, second]), whole.respond(TG2, delta),
                                   atol=1e-9)
    assert carried.end_state(NEXT)["carried_need_kwh"].sum() == 0.0  # all left by day 2 noon


def test_deferral_past_midnight_is_offered_and_charged_the_next_morning():
    fleet = EvFleet(["e"], [0], 11.0, 80, 124, 40.0, 0.9)  # 20:00 -> 07:00 the next day
    env = fleet.envelope(TG)
    base = fleet.baseline_kw(TG)
    assert base[80:].min() == pytest.approx(11.0)  # charging until midnight and after it
    np.testing.assert_allclose(env.up_kw, base)  # all of it can wait until the morning
    assert env.energy_up_max_kwh[0] == pytest.approx(16 * 11.0 * 0.25)
    assert env.max_duration_isps[0] == 96 - 80  # paused until midnight
    assert fleet.end_state(TG)["carried_need_kwh"][0] == pytest.approx(40.0 - 16 * 2.475)
    np.testing.assert_allclose(fleet.respond(TG, env.up_kw), 0.0)
    state = fleet.end_state(TG, env.up_kw)
    assert state["carried_need_kwh"][0] == pytest.approx(40.0)
    assert state["carried_departure_isp"][0] == 28
    morning = EvFleet(["e"], [0], 11.0, 80, 124, 40.0, 0.9).with_state(state)
    charge = morning.baseline_kw(NEXT)
    assert charge[:16].min() == pytest.approx(11.0) and charge[17:80].max() == 0.0
    assert charge[:28].sum() * 0.25 * 0.9 == pytest.approx(40.0)
    menv = morning.envelope(NEXT)
    assert menv.earliest_start_isp[0] == 0
    # the morning can still wait: 28 ISPs for 16.2 ISPs of charging
    assert menv.up_kw[:28].sum() * 0.25 == pytest.approx((28 - 40.0 / 2.475) * 11.0 * 0.25)


def _full_up(env, dt):
    """The envelope's UP asked ISP by ISP from the first until each unit's energy is sold."""
    before = np.cumsum(env.up_kw, axis=0) * dt - env.up_kw * dt
    return np.minimum(env.up_kw, np.clip(env.energy_up_max_kwh - before, 0.0, None) / dt)


def _delivered(fleet, tg, asked):
    realised = fleet.baseline_kw(tg) - fleet.respond(tg, asked)
    on = asked > 0
    np.testing.assert_allclose(realised[on], asked[on], atol=1e-6)


def test_a_session_past_midnight_is_sold_only_what_it_can_defer():
    # 60 kWh by 06:00: 59.4 kWh fit after midnight, so 0.6 kWh must be charged before it
    fleet = EvFleet(["e"], [0], 11.0, 76, 120, 60.0, 0.9)
    env = fleet.envelope(TG)
    slack_kwh = 11.0 * 0.25 * 44 - 60.0 / 0.9
    assert env.energy_up_max_kwh[0] == pytest.approx(slack_kwh)
    assert fleet.baseline_kw(TG).sum() * 0.25 > slack_kwh  # more is charged than can wait
    asked = _full_up(env, 0.25)
    assert asked.sum() * 0.25 == pytest.approx(slack_kwh)
    _delivered(fleet, TG, asked)
    over = asked.copy()
    over[95] = env.up_kw[95]  # a kW more than the energy: not deliverable
    with pytest.raises(AssertionError):
        _delivered(fleet, TG, over)
    # with a morning session carried from the day before, the two share the unit's budget:
    # the morning's UP may not let the evening sell more than it can defer
    both = fleet.with_state({"carried_need_kwh": [10.0], "carried_departure_isp": [24]})
    env = both.envelope(TG)
    morning_kwh = env.up_kw[:24].sum() * 0.25
    assert morning_kwh > 5.0
    assert env.energy_up_max_kwh[0] == pytest.approx(slack_kwh)
    asked = _full_up(env, 0.25)
    assert asked[76:].sum() * 0.25 == pytest.approx(slack_kwh - morning_kwh)
    _delivered(both, TG, asked)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), carry=st.booleans())
def test_the_full_up_envelope_within_its_energy_is_deliverable(seed, carry):
    fleet = _sampled(seed=seed % 97)
    if carry:  # yesterday's sessions after a random activation, then today's own
        delta = _random_delta(fleet, seed, True)
        delta[88:] = fleet.envelope(TG).up_kw[88:]  # defer the last two hours
        fleet = _sampled(seed=seed % 97).with_state(fleet.end_state(TG, delta))
        assert fleet.carried_need_kwh.max() > 0
    env = fleet.envelope(TG)
    asked = _full_up(env, TG.isp_hours)
    _delivered(fleet, TG, asked)
    np.testing.assert_allclose(asked.sum(axis=0) * TG.isp_hours,
                               np.minimum(env.energy_up_max_kwh, env.up_kw.sum(axis=0) / 4))
    _check(fleet, fleet.respond(TG, asked), asked)


def test_bad_state_is_refused_naming_the_field():
    day1, day2 = _split()
    state = day1.end_state(TG)
    with pytest.raises(InputError, match="carried_need_kwh"):
        day2.with_state({**state, "carried_need_kwh": np.ones(3)})  # wrong length
    with pytest.raises(InputError, match=r"carried_need_kwh\[1\]"):
        day2.with_state({**state, "carried_need_kwh": np.array([1.0, -2.0, 0.0, 0.0])})
    with pytest.raises(InputError, match="carried_departure_isp"):
        day2.with_state({**state, "carried_departure_isp": np.array([1.5, 0, 0, 0])})
    with pytest.raises(InputError, match=r"carried_departure_isp.*arrival_isp = 76"):
        day1.with_state({**state, "carried_departure_isp": np.array([80, 0, 0, 0])})
    with pytest.raises(InputError, match=r"carried_need_kwh.*no carried session"):
        day2.with_state({"carried_need_kwh": np.array([1.0, 0, 0, 0])})
    with pytest.raises(InputError, match="der_state"):
        day2.with_state({"e0_kwh": np.ones(4)})
    assert day2.carried_need_kwh.sum() == 0.0  # with_state leaves the fleet unchanged
