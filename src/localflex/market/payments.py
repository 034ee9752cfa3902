"""Pay-as-bid payments of a DSO single-buyer clearing (paper §5.3; minimal settlement).

Each award is paid at its own offer price: ``amount_eur = power_kw * isp_hours * price / 1000``,
which the clearing already stores as ``cost_eur``. One payment per award, from the DSO to the
awarded aggregator. The full ledger (delivery check, penalties, BRP compensation) is built in
``localflex.settlement``.
"""

from __future__ import annotations

import pandas as pd

from localflex.domain import AWARD_COLUMNS, InputError, empty_frame

__all__ = ["PAYMENT_COLUMNS", "pay_as_bid_payments"]

PAYMENT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "payer": ("object", "-", "who pays (the DSO)"),
    "payee": ("object", "-", "who is paid (the aggregator)"),
    "isp": ("int64", "-", "ISP index of the award"),
    "offer_id": ("object", "-", "the awarded offer"),
    "amount_eur": ("float64", "EUR", "payment, pay-as-bid"),
}


def pay_as_bid_payments(awards: pd.DataFrame, dso_id: str) -> pd.DataFrame:
    """One payment DSO -> aggregator per award, at the award's own price (pay-as-bid)."""
    missing = [c for c in AWARD_COLUMNS if c not in awards.columns]
    if missing:
        raise InputError("awards", missing, f"columns {list(AWARD_COLUMNS)}")
    if not isinstance(dso_id, str) or not dso_id:
        raise InputError("dso_id", dso_id, "a non-empty party id")
    if awards.empty:
        return empty_frame(PAYMENT_COLUMNS)
    payments = pd.DataFrame({
        "payer": dso_id,
        "payee": awards["aggregator_id"].to_numpy(),
        "isp": awards["isp"].to_numpy(),
        "offer_id": awards["offer_id"].to_numpy(),
        "amount_eur": awards["cost_eur"].to_numpy(dtype=float),
    })
    return payments.astype({k: v[0] for k, v in PAYMENT_COLUMNS.items()})
