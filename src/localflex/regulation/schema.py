"""Schema of a country preset: the regulatory rule set an aggregator trades under.

A preset is data (one YAML file per country, ``regulation/presets/<code>.yaml``) that states,
for the paper Energies 2018, 11, 3074 (DESIGN.md reference):

* ``access`` — whether aggregation is allowed in each short-term market, exactly as Table 1
  (19 countries, 2017) reports it: ``yes``, ``no`` or ``generation_only`` ("Only gen.");
* ``products`` — the product requirements that §4.1 names as the practical barriers for small
  units: minimum bid size, bid step, symmetric bidding, activation time and how long a unit must
  deliver. Every figure carries its ``source``; an unknown figure is ``value: null`` with the
  source ``"not stated in the reference; to be filled"`` (``UNKNOWN_SOURCE``);
* ``bsp_brp_compensation`` — the independent-aggregator / BRP compensation regime of §4.2
  (France: contractual, regulated, corrected; Switzerland: perimeter correction at the
  quarter-hourly day-ahead price; Great Britain: none; elsewhere undefined);
* ``dso_flexibility_procurement`` — whether the DSO may contract flexibility (§5).

Market names follow Table 1 and its footnotes: ``fcr`` = Frequency Containment Reserve (primary),
``frr`` = Frequency Restoration Reserve (secondary, i.e. aFRR), ``rr`` = Replacement Reserve or
tertiary reserve (in Germany and Austria the tertiary product is mFRR).

Every model rejects unknown keys (``extra="forbid"``); ``load_preset`` turns a validation error
into ``PresetError`` naming the file, the field path and the value.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from localflex.domain.errors import InputError

__all__ = [
    "ACCESS_SOURCE",
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
]

UNKNOWN_SOURCE = "not stated in the reference; to be filled"
ACCESS_SOURCE = "Energies 2018, 11, 3074, Table 1 (data from its refs [28–30])"


class PresetError(InputError):
    """A preset file that does not validate: names the file, the field path and the value."""

    def __init__(self, file: str, field: str, value: Any, expected: str) -> None:
        super().__init__(field, value, expected)
        self.file = file
        self.args = (f"{file}: {field}: got {value!r}, expected {expected}",)


class Market(StrEnum):
    """Markets an aggregator may sell flexibility in: Table 1's five plus the DSO's local market."""

    DAY_AHEAD = "day_ahead"
    INTRADAY = "intraday"
    FCR = "fcr"  # Frequency Containment Reserve (primary)
    FRR = "frr"  # Frequency Restoration Reserve (secondary)
    RR = "rr"  # Replacement Reserve (tertiary)
    LOCAL_DSO = "local_dso"  # paper §5: DSO procurement of grid flexibility


TABLE1_MARKETS: tuple[Market, ...] = (
    Market.DAY_AHEAD,
    Market.INTRADAY,
    Market.FCR,
    Market.FRR,
    Market.RR,
)


class Access(StrEnum):
    """A cell of Table 1: is the aggregation service allowed in that market."""

    YES = "yes"
    NO = "no"
    GENERATION_ONLY = "generation_only"  # Table 1 "Only gen." (Austria, DA and ID)

    @property
    def table1_label(self) -> str:
        return {"yes": "Yes", "no": "No", "generation_only": "Only gen."}[self.value]


class CompensationRegime(StrEnum):
    """How an independent aggregator settles with the BRP of its customers (paper §4.2)."""

    CONTRACTUAL = "contractual"  # France (1): agreed between aggregator and supplier
    REGULATED = "regulated"  # France (2): fixed tariff set by the TSO, paid to the BRP
    CORRECTED = "corrected"  # France (3): aggregator invoiced for the energy component
    PERIMETER_CORRECTION = "perimeter_correction"  # Switzerland: TSO corrects the BRP position
    NONE = "none"  # Great Britain: balancing services without compensation to the supplier
    UNDEFINED = "undefined"  # no legislation for independent aggregators


class DsoProcurementStatus(StrEnum):
    """Whether the DSO may procure flexibility (paper §5)."""

    CONTRACTUAL_AGREEMENTS = "contractual_agreements"  # Germany, Belgium
    NOT_STATED = "not_stated"  # §5 only says "not allowed in most European countries"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_Text = Annotated[str, Field(min_length=1, strict=True)]


class _Figure(_Strict):
    """One figure of a product rule, never without its source."""

    source: _Text
    as_of: _Text | None = None  # date or period the figure describes, when not 2017
    note: _Text | None = None

    @field_validator("source")
    @classmethod
    def _source_not_blank(cls, source: str) -> str:
        if not source.strip():
            raise ValueError("a non-blank source")
        return source

    @model_validator(mode="after")
    def _figure_has_real_source(self) -> _Figure:
        if getattr(self, "value", None) is not None and self.source == UNKNOWN_SOURCE:
            raise ValueError(
                f"a source for the figure {getattr(self, 'value', None)!r}, not {UNKNOWN_SOURCE!r}"
            )
        return self

    @property
    def known(self) -> bool:
        return getattr(self, "value", None) is not None


class KwFigure(_Figure):
    """A power in kW (>= 0), or null when unknown."""

    value: Annotated[float, Field(ge=0, strict=True)] | None


class MinutesFigure(_Figure):
    """A duration in minutes (>= 0), or null when unknown."""

    value: Annotated[float, Field(ge=0, strict=True)] | None


class BoolFigure(_Figure):
    """A yes/no product property, or null when unknown."""

    value: Annotated[bool, Field(strict=True)] | None


class ProductRequirements(_Strict):
    """The §4.1 barriers of one market, as figures a later ``market_access`` can apply.

    A portfolio of flexibility ``P_up``/``P_down`` kW enters a market with
    ``floor(P / bid_step_kw) * bid_step_kw`` if that is at least ``min_bid_kw``; when
    ``symmetric`` is true, only ``min(P_up, P_down)`` counts; it must hold the volume for
    ``product_length_min``, reach it within ``full_activation_time_min`` and sustain a
    full activation for ``max_activation_duration_min``.
    """

    min_bid_kw: KwFigure
    bid_step_kw: KwFigure
    symmetric: BoolFigure
    product_length_min: MinutesFigure  # period one bid covers (contract block / MTU)
    max_activation_duration_min: MinutesFigure  # longest full activation a unit must sustain
    full_activation_time_min: MinutesFigure  # from request/deviation to full delivery


class AccessTable(_Strict):
    """One row of Table 1."""

    source: _Text
    day_ahead: Access
    intraday: Access
    fcr: Access
    frr: Access
    rr: Access

    @field_validator("day_ahead", "intraday", "fcr", "frr", "rr", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted yes/no as a boolean; take it as the Table 1 word.
        if value is True:
            return Access.YES
        if value is False:
            return Access.NO
        return value

    def __getitem__(self, market: Market | str) -> Access:
        market = Market(market)
        if market not in TABLE1_MARKETS:
            raise KeyError(f"{market!s} is not a Table 1 market")
        return getattr(self, market.value)


class Products(_Strict):
    """Product requirements per Table 1 market."""

    day_ahead: ProductRequirements
    intraday: ProductRequirements
    fcr: ProductRequirements
    frr: ProductRequirements
    rr: ProductRequirements

    def __getitem__(self, market: Market | str) -> ProductRequirements:
        market = Market(market)
        if market not in TABLE1_MARKETS:
            raise KeyError(f"{market!s} has no product requirements in a preset")
        return getattr(self, market.value)


class BspBrpCompensation(_Strict):
    """The independent-aggregator / BRP regime of paper §4.2."""

    regimes: Annotated[list[CompensationRegime], Field(min_length=1)]
    compensation_price: _Text | None = None  # e.g. Switzerland: quarter-hourly DA spot price
    independent_aggregator_legislation: Annotated[bool, Field(strict=True)]
    source: _Text
    remark: _Text | None = None

    @field_validator("regimes")
    @classmethod
    def _exclusive_regimes(cls, regimes: list[CompensationRegime]) -> list[CompensationRegime]:
        alone = {CompensationRegime.NONE, CompensationRegime.UNDEFINED}
        if len(regimes) > 1 and alone & set(regimes):
            raise ValueError("'none' or 'undefined' alone, not mixed with other regimes")
        if len(set(regimes)) != len(regimes):
            raise ValueError("each regime at most once")
        return regimes


class DsoProcurement(_Strict):
    """May the DSO contract flexibility (paper §5)."""

    status: DsoProcurementStatus
    source: _Text
    remark: _Text | None = None


class CountryPreset(_Strict):
    """The rule set of one country (or a user's own rule set)."""

    code: Annotated[str, Field(pattern=r"^[A-Z]{2}[A-Z0-9_-]*$", strict=True)]
    name: _Text
    rule_set: _Text  # what the preset describes, e.g. "Table 1 (2017)"
    access: AccessTable
    products: Products
    bsp_brp_compensation: BspBrpCompensation
    dso_flexibility_procurement: DsoProcurement

    def access_to(self, market: Market | str) -> Access:
        return self.access[market]

    def requirements(self, market: Market | str) -> ProductRequirements:
        return self.products[market]
