"""Product requirements an aggregator's bids must meet (paper §4.1).

§4.1: "even if legally open for the aggregation service, impractical requirements limit the
participation of aggregators" — minimum bid size, symmetric bidding, and activation times
designed for big units. ``ProductRules`` holds those requirements for one market in the units
the bid builder works in (kW, ISPs, minutes); ``product_rules`` reads them from a country
preset, with ``localflex.regulation.access.DEFAULT_FIGURES`` where the preset has null.

The defaults of ``ProductRules()`` reproduce the bid building of the foundation market day (no
step, asymmetric, one-ISP products, no timing limits, no blocks), so ``build_offers`` without
rules behaves as before.

Rebound blocks: a unit that shifts energy (heat pump, EV, water heater, thermal storage, smart
appliance) pays back an activation later. With ``block_rebound_isps = R > 0`` such a pool
offers each activation in ISP t as one block (one ``block_id``) with its rebound in the
opposite direction over ISPs t+1..t+R, ``rebound_energy_ratio`` × the activated energy spread
evenly; the market accepts the block at one common fraction, so the rebound is priced in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from localflex.domain import DerType, InputError
from localflex.regulation.access import resolve_product
from localflex.regulation.schema import Access, CountryPreset, Market

__all__ = ["REBOUND_DER_TYPES", "ProductRules", "product_rules"]

REBOUND_DER_TYPES: frozenset[str] = frozenset({
    DerType.HEAT_PUMP.value,
    DerType.EV.value,
    DerType.WATER_HEATER.value,
    DerType.THERMAL_STORAGE.value,
    DerType.SMART_APPLIANCE.value,
})


@dataclass(frozen=True, slots=True)
class ProductRules:
    """Requirements of one market's product (see the module docstring).

    | field | unit | meaning |
    |---|---|---|
    | min_bid_kw | kW | smallest bid; smaller pools are not offered |
    | bid_step_kw | kW | volumes are rounded down to a multiple (0 = continuous) |
    | symmetric | - | offer min(up, down) in both directions |
    | product_length_isps | ISP | a bid holds one volume over blocks of this many ISPs |
    | max_activation_duration_isps | ISP | full activation a unit must sustain (0 = none); |
    |  |  | its kW is capped by its energy / this duration |
    | max_notification_min | min | units needing more advance notice are left out |
    | max_response_min | min | units slower to full response are left out |
    | block_rebound_isps | ISP | R > 0: rebound blocks for shifting families (0 = none) |
    | rebound_energy_ratio | - | rebound energy / activated energy |
    | generation_only | - | only generation units may bid (Table 1 "Only gen.") |
    """

    min_bid_kw: float = 0.0
    bid_step_kw: float = 0.0
    symmetric: bool = False
    product_length_isps: int = 1
    max_activation_duration_isps: int = 0
    max_notification_min: float = math.inf
    max_response_min: float = math.inf
    block_rebound_isps: int = 0
    rebound_energy_ratio: float = 1.0
    rebound_der_types: frozenset[str] = REBOUND_DER_TYPES
    generation_only: bool = False

    def __post_init__(self) -> None:
        for name in ("min_bid_kw", "bid_step_kw", "max_notification_min", "max_response_min",
                     "rebound_energy_ratio"):
            value = getattr(self, name)
            if math.isnan(value) or value < 0:
                raise InputError(f"product_rules.{name}", value, "a number >= 0")
        for name in ("product_length_isps", "max_activation_duration_isps",
                     "block_rebound_isps"):
            value = getattr(self, name)
            if int(value) != value or value < 0 or (name == "product_length_isps" and value < 1):
                lo = 1 if name == "product_length_isps" else 0
                raise InputError(f"product_rules.{name}", value, f"an integer >= {lo}")

    @property
    def has_timing_limits(self) -> bool:
        return (self.max_activation_duration_isps > 0 or math.isfinite(self.max_notification_min)
                or math.isfinite(self.max_response_min))


def product_rules(
    preset: CountryPreset,
    market: Market | str,
    isp_minutes: float = 15.0,
    *,
    block_rebound_isps: int = 0,
) -> ProductRules:
    """The ProductRules of ``market`` under a country preset (defaults where it has null).

    Access ``no`` is not a rule but a closed door: callers check ``preset`` access first
    (``localflex.aggregator.allocation`` and ``regulation.access.market_access`` do);
    ``generation_only`` access sets ``generation_only``.
    """
    if not isp_minutes > 0:
        raise InputError("isp_minutes", isp_minutes, "> 0 minutes")
    product = resolve_product(preset, market)
    return ProductRules(
        min_bid_kw=product.min_bid_kw,
        bid_step_kw=product.bid_step_kw,
        symmetric=product.symmetric,
        product_length_isps=product.product_length_isps(isp_minutes),
        max_activation_duration_isps=product.duration_isps(isp_minutes),
        max_notification_min=product.max_notification_min,
        max_response_min=product.full_activation_time_min,
        block_rebound_isps=0 if product.symmetric else block_rebound_isps,
        generation_only=product.access is Access.GENERATION_ONLY,
    )
