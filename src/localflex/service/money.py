"""Money of the running market in integer cents (paper §5.3 settlement; project rule).

Every amount the service books is whole cents: one payment is its EUR amount rounded half
away from zero; an amount split over several items (a clearing's pay-as-bid total over its
awards) is rounded once and split by the settlement's largest-remainder rule
(``localflex.settlement.ledger.allocate_cents``), so the parts add up to the rounded total
exactly and each part is the floor or the ceiling of its exact share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from localflex.settlement.ledger import allocate_cents, eur_to_cents

__all__ = ["cents", "eur", "split_cents"]


def cents(amount_eur: float) -> int:
    """Whole cents of one amount, rounded half away from zero."""
    return int(eur_to_cents(amount_eur))


def eur(amount_cents: int) -> float:
    """EUR of whole cents (for reading; sums use cents)."""
    return int(amount_cents) / 100


def split_cents(amounts_eur: Sequence[float]) -> list[int]:
    """Whole cents per item, summing exactly to the items' total rounded once."""
    micro = np.round(np.asarray(amounts_eur, dtype=np.float64) * 1e8).astype(np.int64)
    if micro.size == 0:
        return []
    total = int(micro.sum())
    target = int(np.sign(total) * ((abs(total) + 500_000) // 1_000_000))
    return [int(x) for x in allocate_cents(micro, np.zeros(micro.size, dtype=np.int64),
                                           np.array([target]))]
