"""Table 1 of Energies 2018, 11, 3074 (aggregator access to short-term markets, 2017).

The table below is transcribed by hand from the paper (§4.1), independently of the presets, and
compared cell by cell with ``access_table()`` and with each bundled preset.
"""

from __future__ import annotations

import pytest

from localflex.regulation import (
    ACCESS_SOURCE,
    TABLE1_COUNTRIES,
    TABLE1_MARKETS,
    access_table,
    country_preset,
)

# Country: (Day-Ahead, Intra-Day, FCR, FRR, RR), in the paper's row order and wording.
TABLE1 = {
    "Austria": ("Only gen.", "Only gen.", "No", "Yes", "Yes"),
    "Belgium": ("No", "No", "Yes", "No", "Yes"),
    "Denmark": ("Yes", "Yes", "Yes", "Yes", "Yes"),
    "Estonia": ("No", "No", "No", "Yes", "No"),
    "Finland": ("Yes", "Yes", "Yes", "Yes", "Yes"),
    "France": ("Yes", "Yes", "Yes", "Yes", "Yes"),
    "Germany": ("Yes", "Yes", "Yes", "Yes", "Yes"),
    "Great Britain": ("No", "No", "Yes", "Yes", "Yes"),
    "Greece": ("No", "No", "No", "No", "No"),
    "Ireland": ("Yes", "Yes", "Yes", "Yes", "Yes"),
    "Italy": ("No", "No", "No", "No", "No"),
    "Netherlands": ("Yes", "Yes", "No", "Yes", "No"),
    "Norway": ("Yes", "Yes", "Yes", "Yes", "No"),
    "Poland": ("Yes", "Yes", "No", "No", "No"),
    "Portugal": ("No", "No", "No", "No", "No"),
    "Slovenia": ("No", "No", "No", "No", "Yes"),
    "Spain": ("No", "No", "No", "No", "No"),
    "Sweden": ("Yes", "Yes", "Yes", "Yes", "Yes"),
    "Switzerland": ("Yes", "Yes", "Yes", "Yes", "Yes"),
}
CODES = {
    "Austria": "AT",
    "Belgium": "BE",
    "Denmark": "DK",
    "Estonia": "EE",
    "Finland": "FI",
    "France": "FR",
    "Germany": "DE",
    "Great Britain": "GB",
    "Greece": "GR",
    "Ireland": "IE",
    "Italy": "IT",
    "Netherlands": "NL",
    "Norway": "NO",
    "Poland": "PL",
    "Portugal": "PT",
    "Slovenia": "SI",
    "Spain": "ES",
    "Sweden": "SE",
    "Switzerland": "CH",
}
COLUMNS = ["DA", "ID", "FCR", "FRR", "RR"]


def test_shape_order_and_labels() -> None:
    table = access_table()
    assert list(table.index) == list(TABLE1)
    assert list(table.columns) == COLUMNS
    assert table.shape == (19, 5)
    assert list(TABLE1_COUNTRIES.values()) == list(TABLE1)


def test_access_table_cell_by_cell() -> None:
    table = access_table()
    mismatches = [
        (country, column, table.at[country, column], expected)
        for country, row in TABLE1.items()
        for column, expected in zip(COLUMNS, row, strict=True)
        if table.at[country, column] != expected
    ]
    assert mismatches == []


@pytest.mark.parametrize("country", list(TABLE1))
def test_each_preset_matches_table1(country: str) -> None:
    preset = country_preset(CODES[country])
    assert preset.code == CODES[country]
    assert preset.name == country
    assert preset.access.source == ACCESS_SOURCE
    cells = tuple(preset.access[market].table1_label for market in TABLE1_MARKETS)
    assert cells == TABLE1[country]


def test_paper_summary_counts() -> None:
    # §4.1: the nordic countries lead; Greece, Italy, Portugal, Spain allow no aggregation.
    table = access_table()
    for country in ("Greece", "Italy", "Portugal", "Spain"):
        assert set(table.loc[country]) == {"No"}
    assert (table == "Only gen.").sum().sum() == 2
