"""Market mechanisms (paper §5–6): one module per clearing mechanism.

* ``dso_single_buyer`` — the DSO as the only buyer of active power for congestion and voltage
  needs, network-aware, linked blocks, indivisible minimums, pay-as-bid or pay-as-clear (§5.3).
* ``reactive`` — the DSO as sole buyer of reactive power for voltage problems (ref. [58]).
* ``flech`` — FLECH: reservation then activation, reserved price as cap (refs. [54,55]).
* ``deflex`` — De-Flex restriction areas and levels that limit market trades (ref. [57]).
* ``micro_market`` — day-ahead uniform-price double auction, optionally grid-constrained
  (ref. [67]).
* ``outcome`` — the common result shape (fills, prices, cost, welfare, money balance).
* ``payments`` — minimal pay-as-bid settlement of awards.
"""

from localflex.market.deflex import (
    AREA_COLUMNS,
    RESTRICTION_COLUMNS,
    RestrictionLevel,
    distribution_areas,
    limit_trades,
    restriction_levels,
)
from localflex.market.dso_single_buyer import (
    CLEARING_PRICE_COLUMNS,
    SHORTFALL_COLUMNS,
    VOLTAGE_SHORTFALL_COLUMNS,
    ClearingResult,
    CongestionNeeds,
    EnergyBudgets,
    FactoredRelief,
    Pricing,
    VoltageNeeds,
    clear_dso_single_buyer,
    voltage_needs_from_power_flow,
)
from localflex.market.flech import (
    AVAILABILITY_OFFER_COLUMNS,
    CONTRACT_COLUMNS,
    FlechResult,
    activate_flexibility,
    reserve_flexibility,
    run_flech,
)
from localflex.market.micro_market import (
    ORDER_COLUMNS,
    MicroMarketResult,
    clear_micro_market,
)
from localflex.market.outcome import FILL_COLUMNS, PRICE_COLUMNS, MarketOutcome, money_balance_eur
from localflex.market.payments import PAYMENT_COLUMNS, pay_as_bid_payments
from localflex.market.reactive import (
    Q_OFFER_COLUMNS,
    ReactiveClearingResult,
    clear_reactive_power,
    dv_dq_from_dv_dp,
    reactive_voltage_sensitivity,
)

__all__ = [
    "AREA_COLUMNS",
    "AVAILABILITY_OFFER_COLUMNS",
    "CLEARING_PRICE_COLUMNS",
    "CONTRACT_COLUMNS",
    "FILL_COLUMNS",
    "ORDER_COLUMNS",
    "PAYMENT_COLUMNS",
    "PRICE_COLUMNS",
    "Q_OFFER_COLUMNS",
    "RESTRICTION_COLUMNS",
    "SHORTFALL_COLUMNS",
    "VOLTAGE_SHORTFALL_COLUMNS",
    "ClearingResult",
    "CongestionNeeds",
    "EnergyBudgets",
    "FactoredRelief",
    "FlechResult",
    "MarketOutcome",
    "MicroMarketResult",
    "Pricing",
    "ReactiveClearingResult",
    "RestrictionLevel",
    "VoltageNeeds",
    "activate_flexibility",
    "clear_dso_single_buyer",
    "clear_micro_market",
    "clear_reactive_power",
    "distribution_areas",
    "dv_dq_from_dv_dp",
    "limit_trades",
    "money_balance_eur",
    "pay_as_bid_payments",
    "reactive_voltage_sensitivity",
    "reserve_flexibility",
    "restriction_levels",
    "run_flech",
    "voltage_needs_from_power_flow",
]
