"""FlexEnvelope validation and concatenation; per-bus aggregation; the common fleet contract."""

import numpy as np
import pytest

from localflex.der import (
    ENVELOPE_FIELDS,
    BatteryFleet,
    EvFleet,
    FlexEnvelope,
    HeatPumpFleet,
    PvFleet,
    outdoor_temperature_c,
    total_by_bus,
)
from localflex.domain import InputError, TimeGrid

TG = TimeGrid.for_day("2024-01-15")


def _fields(n=3, t=4):
    return {
        "der_id": np.array([f"u{i}" for i in range(n)]),
        "der_type": np.full(n, "battery"),
        "bus": np.arange(n),
        "up_kw": np.ones((t, n)),
        "down_kw": np.ones((t, n)),
        "energy_up_max_kwh": np.full(n, np.inf),
        "energy_down_max_kwh": np.ones(n),
        "ramp_kw_per_min": np.ones(n),
        "min_duration_isps": np.ones(n, dtype=int),
        "max_duration_isps": np.full(n, t),
        "notification_min": np.zeros(n),
        "response_min": np.zeros(n),
        "earliest_start_isp": np.zeros(n, dtype=int),
    }


def test_envelope_fields_table_matches_dataclass():
    env = FlexEnvelope(**_fields())
    assert env.n_units == 3
    assert env.n_isps == 4
    assert set(ENVELOPE_FIELDS) == set(env.__dataclass_fields__)


@pytest.mark.parametrize(
    "name", [n for n, spec in ENVELOPE_FIELDS.items() if spec[1] != "str"]
)
def test_negative_value_names_the_field(name):
    kw = _fields()
    kw[name] = np.full_like(np.asarray(kw[name]), -1)
    with pytest.raises(InputError) as err:
        FlexEnvelope(**kw)
    assert err.value.field == name


@pytest.mark.parametrize("name", list(ENVELOPE_FIELDS))
def test_wrong_shape_names_the_field(name):
    kw = _fields()
    kw[name] = np.asarray(kw[name])[..., :-1]
    with pytest.raises(InputError) as err:
        FlexEnvelope(**kw)
    assert err.value.field in (name, "up_kw")
    if name not in ("der_id", "up_kw"):
        assert err.value.field == name


@pytest.mark.parametrize("name", ["up_kw", "down_kw", "energy_up_max_kwh", "ramp_kw_per_min"])
def test_nan_names_the_field(name):
    kw = _fields()
    arr = np.array(kw[name], dtype=float)
    arr.flat[0] = np.nan
    kw[name] = arr
    with pytest.raises(InputError, match=name):
        FlexEnvelope(**kw)


def test_inf_power_and_unknown_type_and_duration_order_are_rejected():
    kw = _fields()
    kw["up_kw"] = np.full((4, 3), np.inf)
    with pytest.raises(InputError, match="up_kw"):
        FlexEnvelope(**kw)
    kw = _fields()
    kw["der_type"] = np.array(["battery", "toaster", "pv"])
    with pytest.raises(InputError, match="der_type"):
        FlexEnvelope(**kw)
    kw = _fields()
    kw["min_duration_isps"] = np.full(3, 9)
    with pytest.raises(InputError, match="min_duration_isps"):
        FlexEnvelope(**kw)


def test_concat_appends_units_and_checks_horizon():
    a, b = FlexEnvelope(**_fields(2, 4)), FlexEnvelope(**_fields(3, 4))
    both = FlexEnvelope.concat([a, b])
    assert both.n_units == 5
    assert both.up_kw.shape == (4, 5)
    with pytest.raises(InputError, match="envelopes"):
        FlexEnvelope.concat([a, FlexEnvelope(**_fields(2, 5))])
    with pytest.raises(InputError, match="envelopes"):
        FlexEnvelope.concat([])


def test_total_by_bus_matches_a_loop():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(5, 40))
    bus = rng.choice([3, 7, 11], size=40)
    bus_ids = np.array([11, 3, 7, 20])
    got = total_by_bus(values, bus, bus_ids)
    want = np.stack([values[:, bus == b].sum(axis=1) for b in bus_ids], axis=1)
    np.testing.assert_allclose(got, want)
    with pytest.raises(InputError, match="bus"):
        total_by_bus(values, np.where(bus == 3, 4, bus), bus_ids)


def _fleets():
    rng = np.random.default_rng(7)
    t_out = outdoor_temperature_c(TG)
    return [
        PvFleet(["p0", "p1"], [0, 1], [4.0, 8.0]),
        BatteryFleet(["b0", "b1"], [0, 1], [5.0, 3.0], [10.0, 6.0], soc0=[0.5, 0.2]),
        EvFleet.sample(3, [0, 1], rng, TG),
        HeatPumpFleet(["h0", "h1"], [0, 1], 3.0, 3.0, 5.0, 10.0, 21.0, 1.0, None, t_out),
    ]


@pytest.mark.parametrize("fleet", _fleets(), ids=lambda f: type(f).__name__)
def test_contract_shapes_and_zero_delta_is_baseline(fleet):
    base = fleet.baseline_kw(TG)
    env = fleet.envelope(TG)
    assert base.shape == (TG.n_isps, fleet.n_units)
    assert env.up_kw.shape == base.shape
    assert env.n_units == fleet.n_units
    np.testing.assert_allclose(fleet.respond(TG, np.zeros_like(base)), base, atol=1e-9)
    with pytest.raises(InputError, match="delta_injection_kw"):
        fleet.respond(TG, np.zeros((TG.n_isps - 1, fleet.n_units)))
    merged = FlexEnvelope.concat([env, env])
    assert merged.n_units == 2 * env.n_units
