"""A user's own preset file: loads when valid, names file, field path and value when not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from localflex.domain import InputError
from localflex.regulation import PresetError, country_preset, load_preset


@pytest.fixture()
def good_data() -> dict:
    """The bundled German preset as plain data, as a user would copy it."""
    return country_preset("DE").model_dump(mode="json")


def _write(tmp_path: Path, data: object, name: str = "xx.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_user_preset_loads(tmp_path: Path, good_data: dict) -> None:
    good_data["code"] = "XX"
    good_data["name"] = "Utopia"
    good_data["rule_set"] = "future rules, 2030"
    good_data["products"]["fcr"]["min_bid_kw"] = {"value": 100, "source": "Utopia grid code §1"}
    preset = load_preset(_write(tmp_path, good_data))
    assert preset.code == "XX"
    assert preset.requirements("fcr").min_bid_kw.value == 100


def test_unquoted_yaml_yes_no_in_access(tmp_path: Path, good_data: dict) -> None:
    path = _write(tmp_path, good_data)
    text = path.read_text(encoding="utf-8")
    assert "day_ahead: 'yes'" in text
    path.write_text(text.replace("day_ahead: 'yes'", "day_ahead: no"), encoding="utf-8")
    assert load_preset(path).access.day_ahead.value == "no"  # YAML 1.1 read `no` as False


def _error(tmp_path: Path, data: object) -> PresetError:
    path = _write(tmp_path, data)
    with pytest.raises(PresetError) as info:
        load_preset(path)
    error = info.value
    assert isinstance(error, InputError)
    assert str(path) in str(error)
    assert error.file == str(path)
    return error


def test_unknown_key(tmp_path: Path, good_data: dict) -> None:
    good_data["products"]["fcr"]["min_bid_mw"] = {"value": 1, "source": "x"}
    error = _error(tmp_path, good_data)
    assert error.field == "products.fcr.min_bid_mw"
    assert "products.fcr.min_bid_mw" in str(error)
    assert "unknown key" in str(error)


def test_bad_access_value(tmp_path: Path, good_data: dict) -> None:
    good_data["access"]["fcr"] = "maybe"
    error = _error(tmp_path, good_data)
    assert error.field == "access.fcr"
    assert error.value == "maybe"
    assert "'maybe'" in str(error) and "generation_only" in str(error)


def test_negative_min_bid(tmp_path: Path, good_data: dict) -> None:
    good_data["products"]["frr"]["min_bid_kw"] = {"value": -5, "source": "somewhere"}
    error = _error(tmp_path, good_data)
    assert error.field == "products.frr.min_bid_kw.value"
    assert error.value == -5
    assert "-5" in str(error)


def test_figure_without_source(tmp_path: Path, good_data: dict) -> None:
    good_data["products"]["rr"]["min_bid_kw"] = {"value": 5000}
    error = _error(tmp_path, good_data)
    assert error.field == "products.rr.min_bid_kw.source"
    assert "<missing>" in str(error)


def test_figure_with_placeholder_source(tmp_path: Path, good_data: dict) -> None:
    good_data["products"]["rr"]["min_bid_kw"] = {
        "value": 5000,
        "source": "not stated in the reference; to be filled",
    }
    error = _error(tmp_path, good_data)
    assert error.field == "products.rr.min_bid_kw"
    assert "5000" in str(error)


def test_mixed_none_regime(tmp_path: Path, good_data: dict) -> None:
    good_data["bsp_brp_compensation"]["regimes"] = ["none", "regulated"]
    error = _error(tmp_path, good_data)
    assert error.field == "bsp_brp_compensation.regimes"
    assert error.value == ["none", "regulated"]


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    assert _error(tmp_path, ["a", "list"]).field == "<root>"
    path = tmp_path / "broken.yaml"
    path.write_text("code: [unclosed\n", encoding="utf-8")
    with pytest.raises(PresetError, match=r"broken\.yaml"):
        load_preset(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match=r"nope\.yaml"):
        load_preset(tmp_path / "nope.yaml")
