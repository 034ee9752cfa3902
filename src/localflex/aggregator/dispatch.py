"""Dispatch: split the awards of each pool over its units (paper §4: the aggregator
operates the DERs it pools).

An award on a pool in ISP t is shared over the pool's units pro rata to what each unit
offered in that ISP, so no unit is asked beyond its envelope. The result is a setpoint
change per unit and ISP (``delta_injection_kw`` [T, N], positive = UP); the DER models then
carry their state forward and return the realised response with any rebound.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localflex.aggregator.offers import OfferBook
from localflex.domain import Direction, InputError

__all__ = ["awarded_per_pool", "dispatch_awards"]


def awarded_per_pool(awards: pd.DataFrame, book: OfferBook) -> tuple[np.ndarray, np.ndarray]:
    """Awarded kW per ISP and pool, for UP and DOWN: two arrays [T, G]."""
    n_isps, n_pools = book.pool_up_kw.shape
    up = np.zeros((n_isps, n_pools))
    down = np.zeros((n_isps, n_pools))
    if awards.empty:
        return up, down
    pool_by_offer = book.offers.set_index("offer_id")["pool"]
    pool = awards["offer_id"].map(pool_by_offer)
    if pool.isna().any():
        bad = awards.loc[pool.isna(), "offer_id"].iloc[0]
        raise InputError("award.offer_id", bad, "an offer of this offer book")
    pool = pool.to_numpy(dtype=np.int64)
    isp = awards["isp"].to_numpy(dtype=np.int64)
    power = awards["power_kw"].to_numpy(dtype=float)
    is_up = awards["direction"].to_numpy() == Direction.UP.value
    np.add.at(up, (isp[is_up], pool[is_up]), power[is_up])
    np.add.at(down, (isp[~is_up], pool[~is_up]), power[~is_up])
    return up, down


def dispatch_awards(
    awards: pd.DataFrame, book: OfferBook, up_kw: np.ndarray, down_kw: np.ndarray
) -> np.ndarray:
    """Per-unit setpoint changes [T, N] (positive = more injection) that deliver the awards."""
    awarded_up, awarded_down = awarded_per_pool(awards, book)
    with np.errstate(divide="ignore", invalid="ignore"):
        share_up = np.where(book.pool_up_kw > 0, awarded_up / book.pool_up_kw, 0.0)
        share_down = np.where(book.pool_down_kw > 0, awarded_down / book.pool_down_kw, 0.0)
    share_up = np.clip(share_up, 0.0, 1.0)
    share_down = np.clip(share_down, 0.0, 1.0)
    pooled = book.pool_of_unit >= 0
    delta = np.zeros_like(up_kw, dtype=float)
    pool = book.pool_of_unit[pooled]
    delta[:, pooled] = (
        share_up[:, pool] * up_kw[:, pooled] - share_down[:, pool] * down_kw[:, pooled]
    )
    return delta
