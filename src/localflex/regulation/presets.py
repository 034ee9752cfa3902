"""Loading country presets: the bundled Table 1 countries and a user's own files.

The 19 bundled presets (``regulation/presets/<code>.yaml``, read with importlib.resources so the
installed package works) transcribe Table 1 of Energies 2018, 11, 3074 (aggregator access to DA,
ID, FCR, FRR and RR markets in 2017), the §4.1 product requirements with their sources, the
§4.2 aggregator–BRP compensation regime and the §5 DSO procurement status. ``access_table``
rebuilds Table 1 from them, in the paper's row order and wording.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from localflex.regulation.schema import TABLE1_MARKETS, CountryPreset, PresetError

__all__ = [
    "TABLE1_COUNTRIES",
    "access_table",
    "all_presets",
    "bundled_codes",
    "country_preset",
    "load_preset",
]

# Table 1 rows in the paper's order: ISO code -> name as printed.
TABLE1_COUNTRIES: dict[str, str] = {
    "AT": "Austria",
    "BE": "Belgium",
    "DK": "Denmark",
    "EE": "Estonia",
    "FI": "Finland",
    "FR": "France",
    "DE": "Germany",
    "GB": "Great Britain",
    "GR": "Greece",
    "IE": "Ireland",
    "IT": "Italy",
    "NL": "Netherlands",
    "NO": "Norway",
    "PL": "Poland",
    "PT": "Portugal",
    "SI": "Slovenia",
    "ES": "Spain",
    "SE": "Sweden",
    "CH": "Switzerland",
}
_TABLE1_COLUMNS = {"day_ahead": "DA", "intraday": "ID", "fcr": "FCR", "frr": "FRR", "rr": "RR"}
_MISSING = "<missing>"


def _path_of(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "<root>"


def _expected(error: Any) -> str:
    """Pydantic's message worded as what was expected."""
    if error["type"] == "extra_forbidden":
        return "a known key (unknown key)"
    if error["type"] == "missing":
        return "a value (required field is missing)"
    msg = str(error["msg"])
    if msg.startswith("String should "):
        return "a string that should " + msg.removeprefix("String should ")
    for prefix in ("Value error, ", "Input should be "):
        msg = msg.removeprefix(prefix)
    return msg


def _parse(text: str, name: str) -> CountryPreset:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PresetError(name, "<yaml>", type(exc).__name__, f"valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise PresetError(name, "<root>", data, "a mapping of preset fields")
    try:
        return CountryPreset.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        value = _MISSING if first["type"] == "missing" else first.get("input")
        expected = _expected(first)
        if len(errors) > 1:
            others = "; ".join(_path_of(e["loc"]) for e in errors[1:])
            expected += f" (and {len(errors) - 1} more: {others})"
        raise PresetError(name, _path_of(first["loc"]), value, expected) from exc


def load_preset(path: str | Path) -> CountryPreset:
    """Read and validate a preset YAML file (a bundled one, or a user's own rule set).

    Raises ``PresetError`` (an ``InputError``) naming the file, the field path and the value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetError(str(path), "<file>", str(path), f"a readable file ({exc})") from exc
    return _parse(text, str(path))


def _presets_dir() -> Any:
    return resources.files("localflex.regulation").joinpath("presets")


@lru_cache(maxsize=1)
def bundled_codes() -> tuple[str, ...]:
    """ISO codes of the presets shipped with localflex, sorted."""
    return tuple(
        sorted(
            entry.name.removesuffix(".yaml").upper()
            for entry in _presets_dir().iterdir()
            if entry.name.endswith(".yaml")
        )
    )


@cache
def _bundled(code: str) -> CountryPreset:
    resource = _presets_dir().joinpath(f"{code.lower()}.yaml")
    preset = _parse(resource.read_text(encoding="utf-8"), f"presets/{code.lower()}.yaml")
    if preset.code != code:
        raise PresetError(f"presets/{code.lower()}.yaml", "code", preset.code, repr(code))
    return preset


def country_preset(code: str) -> CountryPreset:
    """The bundled preset of a country by ISO code ("DE", "gb", ...)."""
    key = code.strip().upper() if isinstance(code, str) else code
    if key not in bundled_codes():
        raise PresetError(
            "localflex.regulation.presets", "code", code, f"one of {', '.join(bundled_codes())}"
        )
    return _bundled(key)


def all_presets() -> dict[str, CountryPreset]:
    """Every bundled preset by ISO code (a new dict each call; presets are frozen)."""
    return {code: _bundled(code) for code in bundled_codes()}


def access_table() -> pd.DataFrame:
    """Table 1 rebuilt from the presets: rows = the 19 countries in the paper's order (full
    names), columns DA, ID, FCR, FRR, RR, cells "Yes" / "No" / "Only gen."."""
    rows = {
        name: [country_preset(code).access[m].table1_label for m in TABLE1_MARKETS]
        for code, name in TABLE1_COUNTRIES.items()
    }
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=[_TABLE1_COLUMNS[m.value] for m in TABLE1_MARKETS]
    )
    frame.index.name = "Country"
    return frame
