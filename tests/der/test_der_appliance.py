"""Smart appliances: whole cycles move, energy conserved exactly, deadlines kept."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import APPLIANCE_CYCLES_15MIN_KW, SmartApplianceFleet, cycle_on_grid_kw
from localflex.domain import HorizonError, InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")


def _fleet(seed=0, n=40, tg=TG):
    return SmartApplianceFleet.sample(n, np.arange(3), np.random.default_rng(seed), tg)


def _starts(fleet, net):
    """Start ISP of each unit's cycle in a net load matrix."""
    return np.argmax(net > 0, axis=0)


def test_cycle_resampling_keeps_energy():
    for cycle in APPLIANCE_CYCLES_15MIN_KW.values():
        for minutes in (15, 30, 60):
            on_grid = cycle_on_grid_kw(cycle, minutes)
            assert on_grid.sum() * minutes / 60 == pytest.approx(sum(cycle) * 0.25)
    fleet = _fleet(tg=TimeGrid.for_day("2024-01-15", isp_minutes=60))
    assert fleet.baseline_kw(TimeGrid.for_day("2024-01-15", isp_minutes=60)).shape[0] == 24


def test_envelope_up_where_cycle_runs_down_where_it_could():
    fleet = SmartApplianceFleet(["wm"], [0], [APPLIANCE_CYCLES_15MIN_KW["washing_machine"]],
                                baseline_start_isp=40, earliest_start_isp=36, deadline_isp=60)
    env = fleet.envelope(TG)
    base = fleet.baseline_kw(TG)[:, 0]
    np.testing.assert_allclose(env.up_kw[:, 0], base)  # it can always be moved away
    assert np.all(env.down_kw[36:60, 0][base[36:60] == 0] > 0)  # could run anywhere there
    assert np.all(env.down_kw[:36, 0] == 0) and np.all(env.down_kw[60:, 0] == 0)
    assert env.min_duration_isps[0] == env.max_duration_isps[0] == 6
    assert env.energy_up_max_kwh[0] == pytest.approx(sum(fleet.cycle_kw[0]) * 0.25)
    fixed = SmartApplianceFleet(["d"], [0], [1.0, 1.0], 10, 10, 12).envelope(TG)
    assert fixed.up_kw.sum() == 0 and fixed.down_kw.sum() == 0


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 5.0))
def test_any_request_moves_whole_cycles_within_window(seed, scale):
    fleet = _fleet(seed % 40)
    rng = np.random.default_rng(seed)
    env = fleet.envelope(TG)
    mask = rng.random((TG.n_isps, fleet.n_units)) < rng.random()
    delta = (rng.random(mask.shape) * env.up_kw - rng.random(mask.shape) * scale
             * env.down_kw) * mask
    start = fleet.chosen_start_isp(TG, delta)
    assert np.all(start >= fleet.earliest_start_isp)
    assert np.all(start + fleet.cycle_isps <= fleet.deadline_isp)  # finished by the deadline
    net = fleet.respond(TG, delta)
    base = fleet.baseline_kw(TG)
    # the whole cycle moves: same values, shifted, so the energy is EXACTLY conserved
    assert np.array_equal(net.sum(axis=0), base.sum(axis=0))
    for i in range(fleet.n_units):
        s = start[i]
        np.testing.assert_array_equal(net[s:s + fleet.cycle_isps[i], i],
                                      fleet.cycle_kw[i, :fleet.cycle_isps[i]])
        outside = np.ones(TG.n_isps, bool)
        outside[s:s + fleet.cycle_isps[i]] = False
        assert np.all(net[outside, i] == 0.0)


def test_postponement_request_is_delivered_and_couples_in_time():
    fleet = SmartApplianceFleet(["dw"], [0], [APPLIANCE_CYCLES_15MIN_KW["dishwasher"]],
                                baseline_start_isp=72, earliest_start_isp=72, deadline_isp=96)
    base = fleet.baseline_kw(TG)
    delta = np.zeros_like(base)
    delta[72] = base[72]  # UP in the first ISP of the cycle: the cycle must move away
    net = fleet.respond(TG, delta)
    assert net[72, 0] == 0.0
    assert net[73:, 0].sum() == pytest.approx(base.sum())  # its energy now runs later
    assert net[72:80, 0].tolist() != base[72:80, 0].tolist()  # the later ISPs changed too
    # no request: stays at the baseline (no unrequested move)
    np.testing.assert_array_equal(fleet.respond(TG, np.zeros_like(base)), base)


def test_advance_request_is_delivered():
    fleet = SmartApplianceFleet(["td"], [0], [APPLIANCE_CYCLES_15MIN_KW["tumble_dryer"]],
                                baseline_start_isp=76, earliest_start_isp=44, deadline_isp=90)
    env = fleet.envelope(TG)
    delta = np.zeros((TG.n_isps, 1))
    delta[48:52] = -env.down_kw[48:52]  # DOWN at midday (e.g. PV surplus)
    net = fleet.respond(TG, delta)
    assert net[48:52, 0].sum() > 0 and net[76:, 0].sum() == 0


def test_bad_input():
    with pytest.raises(InputError, match="deadline_isp"):
        SmartApplianceFleet(["a"], [0], [1.0, 1.0], 10, 8, 11)
    with pytest.raises(InputError, match="earliest_start_isp"):
        SmartApplianceFleet(["a"], [0], [1.0], 10, 11, 20)
    with pytest.raises(HorizonError):
        SmartApplianceFleet(["a"], [0], [1.0], 10, 8, 120).baseline_kw(TG)
