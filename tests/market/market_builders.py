"""Builders shared by the market tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from localflex.domain import OFFER_COLUMNS
from localflex.market import CongestionNeeds


def make_offers(rows: list[tuple]) -> pd.DataFrame:
    """Rows (offer_id, bus, isp, direction, max_power_kw, price_eur_per_mwh[, min_power_kw])."""
    records = [
        {
            "offer_id": r[0],
            "aggregator_id": f"agg-{r[0]}",
            "bus": r[1],
            "isp": r[2],
            "direction": r[3],
            "max_power_kw": float(r[4]),
            "min_power_kw": float(r[6]) if len(r) > 6 else 0.0,
            "price_eur_per_mwh": float(r[5]),
            "der_type": "battery",
        }
        for r in rows
    ]
    if not records:
        return pd.DataFrame({c: pd.Series(dtype=s[0]) for c, s in OFFER_COLUMNS.items()})
    return pd.DataFrame(records, columns=list(OFFER_COLUMNS))


def make_needs(
    *,
    cp_ids: list[str],
    overload_kw: np.ndarray,
    relief: np.ndarray,
    bus_ids: list[int],
    headroom_kw: np.ndarray | None = None,
) -> CongestionNeeds:
    overload_kw = np.asarray(overload_kw, dtype=float)
    if headroom_kw is None:
        headroom_kw = np.full(overload_kw.shape, np.inf)
    return CongestionNeeds(
        cp_ids=np.asarray(cp_ids),
        overload_kw=overload_kw,
        headroom_kw=np.asarray(headroom_kw, dtype=float),
        relief_kw_per_kw_up=np.asarray(relief, dtype=float),
        bus_ids=np.asarray(bus_ids, dtype=np.int64),
        isp_hours=0.25,
    )
