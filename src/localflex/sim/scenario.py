"""The scenario file: one YAML document that fully describes simulated market days.

A scenario names the grid (a SimBench code, paper §5: the DSO's distribution grid), the
horizon, the DER fleets that aggregators pool (§2, §4), the aggregators and their cost
models, and the market mechanism (§5.3). It is validated with a pydantic schema that forbids
unknown keys, so a typo'd key is reported with its path instead of being ignored.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from localflex.domain import DerType, Direction, InputError, ScenarioError
from localflex.safe_io import SAFE_NAME
from localflex.yaml_files import read_yaml

__all__ = [
    "AggregatorSpec",
    "DerSpec",
    "ExtraOffer",
    "GridSpec",
    "MarketSpec",
    "Scenario",
    "TimeSpec",
    "first_validation_error",
    "load_scenario",
    "parse_scenario",
    "with_equal_aggregators",
]


MAX_DAYS = 3660  # ten years of market days: a longer run is a typo, not a study
MAX_SEED = 2**63 - 1  # numpy seeds are unsigned 64-bit; keep them signed-safe
PRICE_LIMIT_EUR_PER_MWH = 100_000.0  # |price| above this is a typo, not a market price


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class GridSpec(_Strict):
    simbench_code: str = Field(description="SimBench grid code, e.g. '1-LV-rural1--2-sw'")
    load_scale: float = Field(1.0, ge=0, le=100, description="multiplier on every SimBench load")
    sgen_scale: float = Field(
        1.0, ge=0, le=100, description="multiplier on every SimBench generator"
    )
    power_flow_engine: Literal["pgm", "pandapower"] = "pgm"


class TimeSpec(_Strict):
    day: date = Field(description="first market day (UTC); SimBench profiles map by date")
    days: int = Field(
        1, ge=1, le=MAX_DAYS,
        description="market days run in order from `day`, each starting from the DERs' state "
                    "at the end of the day before (the study loop's cell; up to ten years)")
    isp_minutes: Literal[15, 30, 60] = 15


class DerSpec(_Strict):
    """Which DERs are flexible and how many are added on top of the grid's own."""

    pv_from_grid: bool = Field(True, description="the grid's PV generators can be curtailed")
    heat_pumps_from_grid: bool = Field(True, description="SimBench heat-pump loads are flexible")
    pv_storage_from_grid: bool = Field(
        True, description="SimBench storages (PV + home battery systems) are curtailable"
    )
    ev_share_of_households: float = Field(
        0.3, ge=0, le=1, description="share of household loads that get a home EV charger"
    )
    ev_charger_kw: float = Field(11.0, gt=0, le=350)
    heat_pump_cop: float = Field(3.0, ge=1, le=10)
    heat_pump_comfort_band_k: float = Field(1.5, gt=0, le=10)
    outdoor_day_mean_c: float | None = Field(
        None, ge=-50, le=50,
            description="mean outdoor temperature; default from the month of `time.day`"
    )
    participation: float = Field(
        1.0, ge=0, le=1, description="share of flexible units that sign up with an aggregator"
    )
    ev_v2g_kw: float = Field(
        0.0, ge=0, le=350, description="V2G discharge power of the sampled EVs"
    )
    ev_v2g_energy_kwh: float = Field(
        0.0, ge=0, le=200, description="energy a V2G EV may give below its arrival content"
    )
    wind_from_grid: bool = Field(True, description="SimBench wind generators are curtailable")
    chp_from_grid: bool = Field(
        True, description="SimBench biomass generators are heat-led CHP with a heat store"
    )
    chp_power_to_heat: float = Field(0.8, gt=0, le=5, description="kW_el per kW_th of the CHP")
    chp_storage_hours: float = Field(
        4.0, gt=0, le=168, description="heat store, hours of mean output"
    )
    ev_from_charging_stations: bool = Field(
        False, description="SimBench HLS loads (home charging stations) become EV sessions"
    )
    water_heater_share_of_households: float = Field(0.0, ge=0, le=1)
    water_heater_kw: float = Field(3.0, gt=0, le=30)
    water_heater_tank_l: float = Field(150.0, gt=0, le=2000)
    water_heater_daily_l: float = Field(120.0, gt=0, le=2000)
    appliance_share_of_households: float = Field(0.0, ge=0, le=1)
    thermal_storage_share_of_households: float = Field(0.0, ge=0, le=1)
    thermal_storage_design_kw_th: float = Field(4.0, gt=0, le=100)


class AggregatorSpec(_Strict):
    name: str = Field(min_length=1)
    share: float = Field(gt=0, le=1, description="share of the participating units it pools")
    min_bid_kw: float = Field(
        1.0, ge=0, le=100_000, description="smallest offer the aggregator submits"
    )
    price_markup: float = Field(1.0, gt=0, le=100, description="multiplier on the DER cost model")
    der_types: list[DerType] | None = Field(
        None, description="DER families it pools (default: all)"
    )


class ExtraOffer(_Strict):
    """An offer entered by hand, e.g. a large customer that offers its flexibility directly."""

    aggregator: str = Field(min_length=1)
    bus: int = Field(ge=0)
    isp: int = Field(ge=0)
    direction: Direction
    power_kw: float = Field(gt=0, le=100_000)
    price_eur_per_mwh: float = Field(ge=-PRICE_LIMIT_EUR_PER_MWH, le=PRICE_LIMIT_EUR_PER_MWH)


class MarketSpec(_Strict):
    mechanism: Literal["dso_single_buyer"] = "dso_single_buyer"
    pricing: Literal["pay_as_bid"] = "pay_as_bid"
    dso_name: str = "DSO"
    price_cap_eur_per_mwh: float | None = Field(None, gt=0, le=PRICE_LIMIT_EUR_PER_MWH)
    max_rounds: int = Field(3, ge=1, le=10, description="clear again on what the check finds")
    cost_eur_per_mwh: dict[
        DerType,
        Annotated[float, Field(ge=-PRICE_LIMIT_EUR_PER_MWH, le=PRICE_LIMIT_EUR_PER_MWH)],
    ] = Field(
        default_factory=dict, description="activation cost per DER type; defaults built in"
    )
    extra_offers: list[ExtraOffer] = Field(default_factory=list)


class Scenario(_Strict):
    name: str = Field(min_length=1, description="run name, the default folder runs/NAME")
    seed: int = Field(0, ge=0, le=MAX_SEED)
    grid: GridSpec
    time: TimeSpec
    ders: DerSpec = DerSpec()
    aggregators: list[AggregatorSpec] = Field(min_length=1)
    market: MarketSpec = MarketSpec()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if not SAFE_NAME.fullmatch(name) or ".." in name:
            raise ValueError("a plain file name: letters, digits, '.', '-', '_' (no '/', no "
                             "'..', at most 100 characters)")
        return name

    @field_validator("aggregators")
    @classmethod
    def _unique_names(cls, aggregators: list[AggregatorSpec]) -> list[AggregatorSpec]:
        names = [a.name for a in aggregators]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"aggregator names must be unique, repeated: {sorted(dup)}")
        total = sum(a.share for a in aggregators)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"aggregators' shares must add up to 1, they add up to {total:g}")
        return aggregators


def _location(loc: tuple) -> str:
    """``("market", "extra_offers", 0, "power_kw")`` -> ``market.extra_offers[0].power_kw``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def parse_scenario(data: object, source: str = "scenario") -> Scenario:
    """Validate a parsed YAML document; raise ScenarioError naming the first bad field."""
    if not isinstance(data, dict):
        raise ScenarioError(source, type(data).__name__, "a mapping of scenario keys")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(*first_validation_error(exc, "scenario", default=source)) from None


def first_validation_error(exc: ValidationError, schema: str, *, prefix: str = "",
                           default: str = "") -> tuple[str, Any, str]:
    """(field, value, expected) of the first error of a pydantic validation: the field as
    ``a.b[0].c`` (under ``prefix``; ``default`` when the error is at the top), for a one-line
    InputError. ``schema`` names the file kind in the unknown-key hint (scenario, study)."""
    err = exc.errors()[0]
    field = _location((*([prefix] if prefix else []), *err["loc"])) or default or schema
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        expected = f"no such key (check the spelling against the {schema} schema)"
    elif err["type"] == "missing":
        expected, value = "this key to be present", None
    else:
        expected = str(err["msg"]).removeprefix("Value error, ")
    return field, value, expected


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    return parse_scenario(read_yaml(path, "scenario", ScenarioError), source=str(path))


def with_equal_aggregators(spec: Scenario, n: int, field: str = "aggregators") -> Scenario:
    """The scenario with its DERs pooled by ``n`` equal aggregators ``agg1..aggN`` (share
    1/n, the first aggregator's minimum bid, cost-based asks): the sweep of market
    concentration (paper §7: "a sufficient number of competitors"). ``localflex compare
    --aggregators`` and a study's ``bidding.aggregators`` use it."""
    if not (isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 100):
        raise InputError(field, n, "an integer 1..100")
    first = spec.aggregators[0]
    shares = [round(1.0 / n, 12)] * n
    shares[-1] = 1.0 - sum(shares[:-1])
    aggs = [first.model_copy(update={"name": f"agg{i + 1}", "share": shares[i],
                                     "price_markup": 1.0, "der_types": None})
            for i in range(n)]
    return spec.model_copy(update={"aggregators": aggs})
