"""Settlement: baselines, delivery check, BRP compensation, imbalance and the ledger.

Paper §4.2 (Figure 4: an independent aggregator's activation and the BRP's imbalance) and §5.3
(the DSO pays for availability and activation). Modules: ``baselines`` (what a meter would have
consumed), ``delivery`` (delivered = baseline − metered, tolerance, penalties), ``compensation``
(aggregator–BRP regimes of the country presets), ``imbalance`` (single / dual pricing, perimeter
correction), ``ledger`` (double-entry lines in integer cents), ``pipeline`` (all of it for one
period).
"""

from localflex.settlement.baselines import (
    ACCURACY_COLUMNS,
    METER_KINDS,
    Adjustment,
    BaselineMethod,
    MeterData,
    accuracy_report,
    baseline_accuracy,
    day_is_weekend,
    meter_before_baseline,
    nominated_baseline,
    rolling_average_baseline,
    synthetic_meter_data,
    x_of_y_baseline,
)
from localflex.settlement.compensation import (
    ACTIVATED_COLUMNS,
    COMPENSATION_COLUMNS,
    CompensationTerms,
    brp_compensation,
    compensation_transactions,
    regime_of_country,
)
from localflex.settlement.delivery import (
    DELIVERY_COLUMNS,
    DeliveryRules,
    UnderDeliveryRule,
    award_ids,
    delivery_check,
    delivery_transactions,
    pool_keys,
    pooled_measurements,
)
from localflex.settlement.imbalance import (
    IMBALANCE_COLUMNS,
    ImbalancePrices,
    ImbalancePricing,
    imbalance_scenarios,
    imbalance_settlement,
    imbalance_transactions,
)
from localflex.settlement.ledger import (
    LEDGER_COLUMNS,
    STATEMENT_COLUMNS,
    TRANSACTION_COLUMNS,
    LedgerImbalanceError,
    allocate_cents,
    build_ledger,
    check_balanced,
    eur_to_cents,
    party_statement,
    statements,
    transactions_frame,
)
from localflex.settlement.pipeline import Metering, SettlementOptions, SettlementResult, settle

# Planning and network tariffs are packages of their own: localflex.planning, localflex.tariffs.

__all__ = [
    "ACCURACY_COLUMNS",
    "ACTIVATED_COLUMNS",
    "COMPENSATION_COLUMNS",
    "DELIVERY_COLUMNS",
    "IMBALANCE_COLUMNS",
    "LEDGER_COLUMNS",
    "METER_KINDS",
    "STATEMENT_COLUMNS",
    "TRANSACTION_COLUMNS",
    "Adjustment",
    "BaselineMethod",
    "CompensationTerms",
    "DeliveryRules",
    "ImbalancePrices",
    "ImbalancePricing",
    "LedgerImbalanceError",
    "MeterData",
    "Metering",
    "SettlementOptions",
    "SettlementResult",
    "UnderDeliveryRule",
    "accuracy_report",
    "allocate_cents",
    "award_ids",
    "baseline_accuracy",
    "brp_compensation",
    "build_ledger",
    "check_balanced",
    "compensation_transactions",
    "day_is_weekend",
    "delivery_check",
    "delivery_transactions",
    "eur_to_cents",
    "imbalance_scenarios",
    "imbalance_settlement",
    "imbalance_transactions",
    "meter_before_baseline",
    "nominated_baseline",
    "party_statement",
    "pool_keys",
    "pooled_measurements",
    "regime_of_country",
    "rolling_average_baseline",
    "settle",
    "statements",
    "synthetic_meter_data",
    "transactions_frame",
    "x_of_y_baseline",
]
