"""Wind: power curve, curtailment-only envelope, no inter-temporal coupling."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import WindFleet, power_curve_pu
from localflex.domain import DerType, HorizonError, InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")


def test_power_curve_shape():
    v = np.array([0.0, 2.9, 3.0, 7.5, 12.0, 20.0, 24.9, 25.0, 30.0])
    p = power_curve_pu(v)
    np.testing.assert_allclose(p[[0, 1, 2]], 0.0)
    assert p[3] == pytest.approx((7.5**3 - 27) / (12**3 - 27))
    np.testing.assert_allclose(p[[4, 5, 6]], 1.0)
    np.testing.assert_allclose(p[[7, 8]], 0.0)  # storm cut-out
    assert np.all(np.diff(power_curve_pu(np.linspace(0, 24.9, 200))) >= 0)
    with pytest.raises(InputError):
        power_curve_pu([-1.0])
    with pytest.raises(InputError):
        power_curve_pu([5.0], cut_in_m_s=13.0)


def _fleet(seed=0, n=20):
    rng = np.random.default_rng(seed)
    speed = rng.weibull(2.0, (TG.n_isps, n)) * 8.0
    return WindFleet.from_wind_speed(np.arange(n), rng.integers(0, 4, n),
                                     rng.uniform(500, 3000, n), speed)


def test_envelope_is_curtailment_only():
    fleet = _fleet()
    env = fleet.envelope(TG)
    gen = fleet.generation(TG)
    assert set(env.der_type) == {DerType.WIND.value}
    np.testing.assert_array_equal(env.up_kw, 0.0)
    np.testing.assert_allclose(env.down_kw, gen)
    np.testing.assert_allclose(fleet.baseline_kw(TG), -gen)
    np.testing.assert_allclose(env.energy_down_max_kwh, gen.sum(axis=0) * TG.isp_hours)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_respond_within_generation_and_stateless(seed):
    fleet = _fleet(seed % 50)
    rng = np.random.default_rng(seed)
    delta = rng.normal(0, 1500, (TG.n_isps, fleet.n_units)) * (rng.random((TG.n_isps, 1)) < .3)
    net = fleet.respond(TG, delta)
    gen = fleet.generation(TG)
    assert np.all(net <= 1e-9) and np.all(-net <= gen + 1e-9)  # 0 <= output <= available
    # no inter-temporal coupling: where the delta is 0 the output equals the baseline
    idle = delta == 0.0
    np.testing.assert_array_equal(net[idle], fleet.baseline_kw(TG)[idle])


def test_from_profile_and_errors():
    prof = np.linspace(0, 1, TG.n_isps)
    fleet = WindFleet.from_profile(["a", "b"], [0, 1], prof, peak_kw=[100.0, 200.0])
    np.testing.assert_allclose(fleet.generation(TG)[-1], [100.0, 200.0])
    assert np.all(fleet.rated_kw == [100.0, 200.0])
    with pytest.raises(InputError, match="generation_kw"):
        WindFleet(["a"], [0], 100.0, None)
    with pytest.raises(HorizonError):
        fleet.envelope(TimeGrid.for_day("2024-01-15", days=2))
