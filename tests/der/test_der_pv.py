"""PV curtailment: DOWN only, never more than the available generation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import PvFleet, clear_sky_profile_pu
from localflex.domain import HorizonError, InputError, TimeGrid

TG = TimeGrid.for_day("2024-06-21")


def _fleet(n=6, seed=0):
    rng = np.random.default_rng(seed)
    peak = rng.uniform(3, 10, n)
    gen = clear_sky_profile_pu(TG)[:, None] * peak * rng.uniform(0.5, 1.0, (TG.n_isps, n))
    return PvFleet([f"pv{i}" for i in range(n)], np.arange(n), peak, gen)


def test_envelope_is_curtailment_only():
    fleet = _fleet()
    env = fleet.envelope(TG)
    gen = fleet.generation(TG)
    assert np.all(env.up_kw == 0)
    np.testing.assert_allclose(env.down_kw, gen)
    np.testing.assert_allclose(env.energy_down_max_kwh, gen.sum(axis=0) * TG.isp_hours)
    assert np.all(env.energy_up_max_kwh == 0)
    np.testing.assert_allclose(fleet.baseline_kw(TG), -gen)
    assert np.all(env.down_kw[:16] == 0)  # night


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.1, 50.0))
def test_respond_never_up_and_never_beyond_generation(seed, scale):
    fleet = _fleet(seed=seed % 1000)
    rng = np.random.default_rng(seed)
    delta = rng.normal(0.0, scale, (TG.n_isps, fleet.n_units))
    base = fleet.baseline_kw(TG)
    got = fleet.respond(TG, delta)
    assert np.all(got >= base - 1e-12)  # never more injection than baseline generation
    assert np.all(got <= 1e-12)  # curtailment never turns PV into a load
    down_asked = np.clip(-delta, 0.0, None)
    np.testing.assert_allclose(got - base, np.minimum(down_asked, -base))


def test_from_profile_in_kw_and_per_unit():
    prof_pu = np.tile(clear_sky_profile_pu(TG)[:, None], (1, 2))
    a = PvFleet.from_profile(["a", "b"], [0, 0], prof_pu, peak_kw=[5.0, 2.0])
    np.testing.assert_allclose(a.generation(TG)[:, 1], 2.0 * prof_pu[:, 1])
    b = PvFleet.from_profile(["a", "b"], [0, 0], prof_pu * [5.0, 2.0])
    np.testing.assert_allclose(b.peak_kw, [5.0, 2.0], rtol=1e-3)


def test_bad_inputs_name_the_field():
    with pytest.raises(InputError, match="generation_kw"):
        PvFleet(["a"], [0], [1.0], np.full((TG.n_isps, 1), 2.0))
    with pytest.raises(InputError, match="peak_kw"):
        PvFleet(["a"], [0], [-1.0])
    with pytest.raises(InputError, match="der_id"):
        PvFleet(["a", "a"], [0, 0], [1.0, 1.0])
    with pytest.raises(HorizonError, match="generation_kw"):
        PvFleet(["a"], [0], [1.0], np.zeros((10, 1))).baseline_kw(TG)
