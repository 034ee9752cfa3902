"""Heat pumps in 1R1C buildings: comfort band, rebound, energy roughly conserved, coupling."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.der import HeatPumpFleet, outdoor_temperature_c
from localflex.domain import InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")
TG3 = TimeGrid.for_day("2024-01-15", days=3)


def _fleet(tg=TG, n=6, seed=0, capacity=None):
    rng = np.random.default_rng(seed)
    t_out = outdoor_temperature_c(tg, day_mean_c=0.0, amplitude_k=4.0)
    return HeatPumpFleet(
        [f"h{i}" for i in range(n)], np.arange(n),
        rated_kw_el=rng.uniform(3, 6, n), cop=rng.uniform(2.5, 4.0, n),
        thermal_resistance_k_per_kw=rng.uniform(4, 8, n),
        thermal_capacity_kwh_per_k=rng.uniform(5, 15, n) if capacity is None else capacity,
        t_set_c=21.0, comfort_band_k=1.0, t_indoor0_c=None, outdoor_temp_c=t_out,
    )


def test_outdoor_profile_is_documented_shape():
    t_out = outdoor_temperature_c(TG, day_mean_c=3.0, amplitude_k=5.0, coldest_hour_utc=5.0)
    assert t_out.mean() == pytest.approx(3.0, abs=1e-9)
    assert np.argmin(t_out) // 4 == 4 or np.argmin(t_out) // 4 == 5
    assert t_out.max() == pytest.approx(8.0, abs=0.01)


def test_baseline_holds_setpoint():
    fleet = _fleet()
    p, temp = fleet.simulate(TG)
    assert np.all((p > 0) & (p <= fleet.rated_kw_el))
    np.testing.assert_allclose(temp, 21.0, atol=1e-9)
    env = fleet.envelope(TG)
    assert np.all(env.up_kw <= p + 1e-12)
    assert np.all(env.down_kw <= fleet.rated_kw_el - p + 1e-12)
    assert np.all(env.max_duration_isps >= 4)  # "up to a few hours" (§2)
    np.testing.assert_allclose(env.energy_up_max_kwh,
                               fleet.c_kwh_per_k * fleet.comfort_band_k / fleet.cop)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), density=st.floats(0.0, 1.0))
def test_comfort_band_under_envelope_sized_activations(seed, density):
    fleet = _fleet(seed=seed % 89, capacity=np.random.default_rng(seed).uniform(0.5, 10, 6))
    env = fleet.envelope(TG)
    rng = np.random.default_rng(seed)
    shape = (TG.n_isps, fleet.n_units)
    delta = np.where(rng.random(shape) < 0.5, env.up_kw, -env.down_kw)
    delta *= rng.random(shape) < density
    p, temp = fleet.simulate(TG, delta)
    assert np.all(temp >= 20.0 - 1e-9) and np.all(temp <= 22.0 + 1e-9)
    assert np.all((p >= 0) & (p <= fleet.rated_kw_el + 1e-12))


def test_up_activation_rebounds_and_conserves_energy():
    fleet = _fleet(tg=TG3)
    base = fleet.baseline_kw(TG3)
    delta = np.zeros_like(base)
    window = slice(72, 80)  # 18:00-20:00 UTC, the evening peak
    delta[window] = 0.8 * base[window]
    net = fleet.respond(TG3, delta)
    np.testing.assert_allclose(net[window], 0.2 * base[window])
    after = net[80:] - base[80:]
    assert np.all(after[0] > 0)  # rebound right after the activation
    saved = (base[window] - net[window]).sum(axis=0)
    recovered = after.sum(axis=0)
    # recovered ≈ saved; slightly less, as the cooler building lost less heat meanwhile
    assert np.all(recovered <= saved + 1e-9)
    np.testing.assert_allclose(recovered, saved, rtol=0.05)


def test_activation_at_t_reduces_what_is_available_at_t_plus_1():
    light = _fleet(capacity=0.4, n=3)  # a light building: one ISP moves T_in a lot
    env = light.envelope(TG)
    base = light.baseline_kw(TG)
    t = 40
    alone = np.zeros_like(base)
    alone[t + 1] = env.up_kw[t + 1]
    both = alone.copy()
    both[t] = env.up_kw[t]
    got_alone = base[t + 1] - light.respond(TG, alone)[t + 1]
    got_both = base[t + 1] - light.respond(TG, both)[t + 1]
    np.testing.assert_allclose(got_alone, env.up_kw[t + 1])
    assert np.all(got_both < got_alone - 0.1)


def test_bad_parameters_name_the_field():
    t_out = outdoor_temperature_c(TG)
    with pytest.raises(InputError, match="cop"):
        HeatPumpFleet(["h"], [0], 3.0, 0.0, 5.0, 10.0, 21.0, 1.0, None, t_out)
    with pytest.raises(InputError, match="outdoor_temp_c"):
        HeatPumpFleet(["h"], [0], 3.0, 3.0, 5.0, 10.0, 21.0, 1.0, None, np.zeros((96, 2)))
    with pytest.raises(InputError, match="thermal_capacity_kwh_per_k"):
        HeatPumpFleet(["h"], [0], 3.0, 3.0, 5.0, -1.0, 21.0, 1.0, None, t_out)
