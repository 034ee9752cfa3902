"""Aggregators: pooling DERs, building offers under product rules, dispatching awards
(paper §4)."""

from localflex.aggregator.cost_model import DEFAULT_COST_EUR_PER_MWH, pool_prices_eur_per_mwh
from localflex.aggregator.dispatch import awarded_per_pool, dispatch_awards
from localflex.aggregator.offers import OfferBook, build_offers, pool_matrix
from localflex.aggregator.portfolio import AggregatorRule, Portfolio, assign_portfolios

__all__ = [
    "DEFAULT_COST_EUR_PER_MWH",
    "AggregatorRule",
    "OfferBook",
    "Portfolio",
    "assign_portfolios",
    "awarded_per_pool",
    "build_offers",
    "dispatch_awards",
    "pool_matrix",
    "pool_prices_eur_per_mwh",
]
