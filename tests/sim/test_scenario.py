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
