"""Aggregators: pooling DERs, building offers under product rules, allocating flexibility over
markets, dispatching awards (paper §4, Figure 3)."""

from localflex.aggregator.allocation import (
    ALLOCATION_COLUMNS,
    AllocationResult,
    MarketOutlook,
    allocate_flexibility,
)
from localflex.aggregator.contracts import AggregatorKind, Contracts, assign_contracts
from localflex.aggregator.cost_model import (
    DEFAULT_AVAILABILITY_EUR_PER_MW_H,
    DEFAULT_COST_EUR_PER_MWH,
    pool_availability_eur_per_mw_h,
    pool_prices_eur_per_mwh,
)
from localflex.aggregator.dispatch import (
    DispatchResponse,
    ForecastErrorModel,
    awarded_per_pool,
    dispatch_and_respond,
    dispatch_awards,
    unit_energy_budgets,
)
from localflex.aggregator.offers import GENERATION_DER_TYPES, OfferBook, build_offers, pool_matrix
from localflex.aggregator.portfolio import AggregatorRule, Portfolio, assign_portfolios
from localflex.aggregator.products import REBOUND_DER_TYPES, ProductRules, product_rules

__all__ = [
    "ALLOCATION_COLUMNS",
    "DEFAULT_AVAILABILITY_EUR_PER_MW_H",
    "DEFAULT_COST_EUR_PER_MWH",
    "GENERATION_DER_TYPES",
    "REBOUND_DER_TYPES",
    "AggregatorKind",
    "AggregatorRule",
    "AllocationResult",
    "Contracts",
    "DispatchResponse",
    "ForecastErrorModel",
    "MarketOutlook",
    "OfferBook",
    "Portfolio",
    "ProductRules",
    "allocate_flexibility",
    "assign_contracts",
    "assign_portfolios",
    "awarded_per_pool",
    "build_offers",
    "dispatch_and_respond",
    "dispatch_awards",
    "pool_availability_eur_per_mw_h",
    "pool_matrix",
    "pool_prices_eur_per_mwh",
    "product_rules",
    "unit_energy_budgets",
]
