"""Country presets: the rules an aggregator trades under (paper §4.1, §4.2, §5, Table 1).

Data, not code: one YAML per country in ``presets/``, validated by ``schema``. Table 1 of
Energies 2018, 11, 3074 gives aggregator access to DA, ID, FCR, FRR and RR in 19 countries
(2017); §4.1 names the product requirements (minimum bid, symmetry, activation time) that keep
small units out; §4.2 the independent-aggregator / BRP compensation; §5 DSO procurement.
"""

from localflex.regulation.presets import (
    TABLE1_COUNTRIES,
    access_table,
    all_presets,
    bundled_codes,
    country_preset,
    load_preset,
)
from localflex.regulation.schema import (
    ACCESS_SOURCE,
    TABLE1_MARKETS,
    UNKNOWN_SOURCE,
    Access,
    AccessTable,
    BoolFigure,
    BspBrpCompensation,
    CompensationRegime,
    CountryPreset,
    DsoProcurement,
    DsoProcurementStatus,
    KwFigure,
    Market,
    MinutesFigure,
    PresetError,
    ProductRequirements,
    Products,
)

__all__ = [
    "ACCESS_SOURCE",
    "TABLE1_COUNTRIES",
    "TABLE1_MARKETS",
    "UNKNOWN_SOURCE",
    "Access",
    "AccessTable",
    "BoolFigure",
    "BspBrpCompensation",
    "CompensationRegime",
    "CountryPreset",
    "DsoProcurement",
    "DsoProcurementStatus",
    "KwFigure",
    "Market",
    "MinutesFigure",
    "PresetError",
    "ProductRequirements",
    "Products",
    "access_table",
    "all_presets",
    "bundled_codes",
    "country_preset",
    "load_preset",
]
