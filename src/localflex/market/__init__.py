"""Market mechanisms (paper §5–6): one module per clearing mechanism.

* ``dso_single_buyer`` — the DSO as the only buyer, pay-as-bid, network-aware (§5.3).
* ``payments`` — minimal pay-as-bid settlement of awards.
"""

from localflex.market.dso_single_buyer import (
    SHORTFALL_COLUMNS,
    ClearingResult,
    CongestionNeeds,
    clear_dso_single_buyer,
)
from localflex.market.payments import PAYMENT_COLUMNS, pay_as_bid_payments

__all__ = [
    "PAYMENT_COLUMNS",
    "SHORTFALL_COLUMNS",
    "ClearingResult",
    "CongestionNeeds",
    "clear_dso_single_buyer",
    "pay_as_bid_payments",
]
