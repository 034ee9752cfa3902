"""Bundled presets (paper §4.1 products, §4.2 compensation, §5 DSO procurement) and loading."""

from __future__ import annotations

import pandas as pd
import pytest

from localflex.domain import InputError
from localflex.regulation import (
    TABLE1_COUNTRIES,
    TABLE1_MARKETS,
    UNKNOWN_SOURCE,
    Access,
    CompensationRegime,
    CountryPreset,
    DsoProcurementStatus,
    Market,
    PresetError,
    access_table,
    all_presets,
    bundled_codes,
    country_preset,
)

FIGURES = (
    "min_bid_kw",
    "bid_step_kw",
    "symmetric",
    "product_length_min",
    "max_activation_duration_min",
    "full_activation_time_min",
)


def test_all_19_bundled_and_valid() -> None:
    presets = all_presets()
    assert set(presets) == set(TABLE1_COUNTRIES) == set(bundled_codes())
    assert all(isinstance(p, CountryPreset) for p in presets.values())
    assert all(code == p.code for code, p in presets.items())


def test_every_figure_has_a_source() -> None:
    for code, preset in all_presets().items():
        for market in TABLE1_MARKETS:
            product = preset.requirements(market)
            for name in FIGURES:
                figure = getattr(product, name)
                where = f"{code}.{market}.{name}"
                assert figure.source.strip(), where
                if figure.value is not None:
                    assert figure.source != UNKNOWN_SOURCE, where
                    assert "http" in figure.source, where  # a checkable public source


def test_some_product_figures_are_filled() -> None:
    de = country_preset("DE")
    assert de.requirements(Market.FCR).min_bid_kw.value == 1000
    assert de.requirements(Market.FCR).symmetric.value is True
    assert de.requirements(Market.FRR).symmetric.value is False
    assert de.requirements("fcr").full_activation_time_min.value == 0.5
    at = country_preset("at")
    assert at.requirements("fcr").bid_step_kw.value == 1000
    assert country_preset("GR").requirements("fcr").min_bid_kw.value is None


def test_compensation_regimes_of_section_4_2() -> None:
    presets = all_presets()
    fr = presets["FR"].bsp_brp_compensation
    assert fr.regimes == [
        CompensationRegime.CONTRACTUAL,
        CompensationRegime.REGULATED,
        CompensationRegime.CORRECTED,
    ]
    ch = presets["CH"].bsp_brp_compensation
    assert ch.regimes == [CompensationRegime.PERIMETER_CORRECTION]
    assert "quarter-hourly day-ahead" in (ch.compensation_price or "")
    assert presets["GB"].bsp_brp_compensation.regimes == [CompensationRegime.NONE]
    legislated = {
        c for c, p in presets.items() if p.bsp_brp_compensation.independent_aggregator_legislation
    }
    assert legislated == {"FR", "CH"}  # "Only France and Switzerland have defined legislation"
    others = set(presets) - {"FR", "CH", "GB"}
    assert {tuple(presets[c].bsp_brp_compensation.regimes) for c in others} == {
        (CompensationRegime.UNDEFINED,)
    }
    assert all("§4.2" in p.bsp_brp_compensation.source for p in presets.values())


def test_dso_procurement_of_section_5() -> None:
    presets = all_presets()
    contractual = {
        c
        for c, p in presets.items()
        if p.dso_flexibility_procurement.status is DsoProcurementStatus.CONTRACTUAL_AGREEMENTS
    }
    assert contractual == {"DE", "BE"}
    assert all("§5" in p.dso_flexibility_procurement.source for p in presets.values())


def test_unknown_code_names_it_and_lists_valid_ones() -> None:
    with pytest.raises(PresetError) as info:
        country_preset("XX")
    assert isinstance(info.value, InputError)
    message = str(info.value)
    assert "'XX'" in message
    assert "DE" in message and "CH" in message and "GB" in message


def test_market_enum_and_access_lookup() -> None:
    assert [m.value for m in Market] == ["day_ahead", "intraday", "fcr", "frr", "rr", "local_dso"]
    at = country_preset("AT")
    assert at.access_to(Market.DAY_AHEAD) is Access.GENERATION_ONLY
    assert Access.GENERATION_ONLY.table1_label == "Only gen."
    with pytest.raises(KeyError):
        at.access_to(Market.LOCAL_DSO)


def test_all_presets_returns_a_fresh_dict() -> None:
    first = all_presets()
    first.pop("DE")
    assert "DE" in all_presets()


def test_access_table_is_a_dataframe() -> None:
    assert isinstance(access_table(), pd.DataFrame)
