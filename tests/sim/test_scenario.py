"""Scenario validation: every bad key or value is named."""

import pytest
import yaml

from localflex.domain import ScenarioError
from localflex.sim.scenario import load_scenario, parse_scenario

BASE = {
    "name": "t",
    "grid": {"simbench_code": "1-LV-rural1--2-sw"},
    "time": {"day": "2016-06-21"},
    "aggregators": [{"name": "a", "share": 1.0}],
}


def _with(path, value):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def test_base_scenario_parses_with_defaults():
    scenario = parse_scenario(BASE)
    assert scenario.market.mechanism == "dso_single_buyer"
    assert scenario.time.isp_minutes == 15


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("grid", "simbench_cod"), "x", "grid.simbench_cod"),
        (("ders", ), {"ev_charger_kw": -11}, "ders.ev_charger_kw"),
        (("time", "isp_minutes"), 7, "time.isp_minutes"),
        (("aggregators",), [{"name": "a", "share": 0.5}], "aggregators"),
        (("market", ), {"max_rounds": 0}, "market.max_rounds"),
    ],
)
def test_bad_scenarios_name_the_field(path, value, field):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_with(path, value))
    assert info.value.field.startswith(field)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ScenarioError, match="existing YAML file"):
        load_scenario(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="valid YAML"):
        load_scenario(bad)


def _numeric_fields(model, prefix=""):
    """Every float/int field of the scenario schema, by its scenario key."""
    from typing import get_args

    from pydantic import BaseModel

    for name, info in model.model_fields.items():
        kinds = get_args(info.annotation) or (info.annotation,)
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from _numeric_fields(kind, f"{prefix}{name}.")
            inner = get_args(kind)
            for sub in inner:
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    yield from _numeric_fields(sub, f"{prefix}{name}[].")
        if any(k in (int, float) for k in kinds):
            yield f"{prefix}{name}", info


def test_every_numeric_key_has_a_physical_range():
    from localflex.sim.scenario import Scenario

    open_ended = {"market.extra_offers.bus", "market.extra_offers.isp"}  # the grid bounds
    fields = dict(_numeric_fields(Scenario))
    assert "ders.outdoor_day_mean_c" in fields and "grid.load_scale" in fields
    for key, info in fields.items():
        bounds = {type(m).__name__ for m in info.metadata}
        assert bounds & {"Ge", "Gt"}, f"{key} has no lower bound"
        if key not in open_ended:
            assert bounds & {"Le", "Lt"}, f"{key} has no upper bound"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("ders",), {"outdoor_day_mean_c": 1e308}, "ders.outdoor_day_mean_c"),
        (("ders",), {"outdoor_day_mean_c": float("nan")}, "ders.outdoor_day_mean_c"),
        (("grid", "load_scale"), float("inf"), "grid.load_scale"),
        (("grid", "sgen_scale"), float("inf"), "grid.sgen_scale"),
        (("ders",), {"ev_charger_kw": float("inf")}, "ders.ev_charger_kw"),
        (("seed",), -1, "seed"),
        (("market",), {"cost_eur_per_mwh": {"pv": float("inf")}}, "market.cost_eur_per_mwh.pv"),
        (("market",), {"extra_offers": [{"aggregator": "x", "bus": 1, "isp": 3,
                                         "direction": "up", "power_kw": float("inf"),
                                         "price_eur_per_mwh": 50}]},
         "market.extra_offers[0].power_kw"),
        (("market",), {"extra_offers": [{"aggregator": "x", "bus": 1, "isp": 3,
                                         "direction": "up", "power_kw": 5,
                                         "price_eur_per_mwh": float("nan")}]},
         "market.extra_offers[0].price_eur_per_mwh"),
    ],
)
def test_out_of_range_and_non_finite_values_name_the_scenario_key(path, value, field):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_with(path, value))
    assert info.value.field == field


def test_yaml_syntax_error_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: t\ngrid: {simbench_code: x\ntime: 3\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    assert "\n" not in str(info.value)
    assert "line" in str(info.value)
