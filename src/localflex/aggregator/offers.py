"""Bid building: turn pooled DER envelopes into FlexOffers (paper §4.1, §5.3).

An aggregator pools its units per (bus, DER family): one pool offers, per ISP and direction,
the sum of its units' envelope (``up_kw`` / ``down_kw``) at the pool's price. Location
matters for grid services (§2), so pools never span buses. A pool's offer below the
aggregator's minimum bid size is not submitted — the market-access barrier of §4.1.

Columns of ``OfferBook.pools``:

| column | unit | meaning |
|---|---|---|
| pool | - | pool index (the column index of the pooled arrays) |
| aggregator_id, bus, der_type | - | the pool's key |
| price_eur_per_mwh | EUR/MWh | activation price of every offer of the pool |
| energy_up_max_kwh, energy_down_max_kwh | kWh | the pool's energy limits over the horizon |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from localflex.aggregator.cost_model import pool_prices_eur_per_mwh
from localflex.aggregator.portfolio import Portfolio
from localflex.domain import OFFER_COLUMNS, Direction, InputError, empty_frame

__all__ = ["OfferBook", "build_offers", "pool_matrix"]


@dataclass(frozen=True)
class OfferBook:
    """The offers of every aggregator plus what dispatch needs to split an award."""

    offers: pd.DataFrame  # OFFER_COLUMNS + "pool"
    pools: pd.DataFrame
    pool_of_unit: np.ndarray  # [N] pool index, -1 = not pooled
    pool_up_kw: np.ndarray  # [T, G]
    pool_down_kw: np.ndarray  # [T, G]


def pool_matrix(pool_of_unit: np.ndarray, n_pools: int) -> sparse.csr_matrix:
    """[N, G] 0/1 membership matrix; rows of unpooled units are empty."""
    units = np.flatnonzero(pool_of_unit >= 0)
    data = np.ones(units.size)
    return sparse.csr_matrix(
        (data, (units, pool_of_unit[units])), shape=(pool_of_unit.size, n_pools)
    )


def build_offers(
    *,
    up_kw: np.ndarray,
    down_kw: np.ndarray,
    energy_up_max_kwh: np.ndarray,
    energy_down_max_kwh: np.ndarray,
    unit_bus: np.ndarray,
    unit_der_type: np.ndarray,
    portfolio: Portfolio,
    min_bid_kw: Mapping[str, float],
    markup: Mapping[str, float],
    rng: np.random.Generator,
    cost_overrides: Mapping[str, float] | None = None,
) -> OfferBook:
    """Pool the units per (aggregator, bus, family) and offer each pool per ISP and direction.

    ``up_kw``/``down_kw`` are the units' envelopes [T, N]. Returns an OfferBook whose
    ``offers`` frame follows OFFER_COLUMNS (plus the ``pool`` index).
    """
    n_isps, n_units = up_kw.shape
    if down_kw.shape != up_kw.shape:
        raise InputError("down_kw", down_kw.shape, f"shape {up_kw.shape} like up_kw")
    for name in portfolio.aggregator_names:
        if min_bid_kw.get(name, 0.0) < 0:
            raise InputError(f"aggregators.{name}.min_bid_kw", min_bid_kw[name], ">= 0 kW")

    pooled = portfolio.participating
    key = pd.DataFrame(
        {
            "aggregator_id": portfolio.unit_aggregator,
            "bus": np.asarray(unit_bus, dtype=np.int64),
            "der_type": np.asarray(unit_der_type).astype(str),
        }
    )
    pool_of_unit = np.full(n_units, -1, dtype=np.int64)
    grouped = key[pooled].groupby(["aggregator_id", "bus", "der_type"], sort=True)
    pool_of_unit[pooled] = grouped.ngroup().to_numpy()
    pools = grouped.size().reset_index()[["aggregator_id", "bus", "der_type"]]
    pools.insert(0, "pool", np.arange(len(pools), dtype=np.int64))
    n_pools = len(pools)

    membership = pool_matrix(pool_of_unit, n_pools)
    pool_up_kw = np.asarray(membership.T @ up_kw.T).T if n_pools else np.zeros((n_isps, 0))
    pool_down_kw = np.asarray(membership.T @ down_kw.T).T if n_pools else np.zeros((n_isps, 0))
    pools["energy_up_max_kwh"] = membership.T @ energy_up_max_kwh if n_pools else []
    pools["energy_down_max_kwh"] = membership.T @ energy_down_max_kwh if n_pools else []
    pool_markup = pools["aggregator_id"].map(lambda a: markup.get(a, 1.0)).to_numpy(float)
    pools["price_eur_per_mwh"] = pool_prices_eur_per_mwh(
        pools["der_type"].to_numpy(), pool_markup, rng, cost_overrides
    )
    pool_min_bid = pools["aggregator_id"].map(lambda a: min_bid_kw.get(a, 0.0)).to_numpy(float)

    frames = []
    for direction, volume in ((Direction.UP, pool_up_kw), (Direction.DOWN, pool_down_kw)):
        isp, pool = np.nonzero((volume >= pool_min_bid[None, :]) & (volume > 1e-9))
        if isp.size == 0:
            continue
        sub = pools.iloc[pool]
        frames.append(
            pd.DataFrame(
                {
                    "offer_id": (
                        sub["aggregator_id"].to_numpy().astype(str)
                        + "/b" + sub["bus"].to_numpy().astype(str)
                        + "/" + sub["der_type"].to_numpy().astype(str)
                        + "/t" + isp.astype(str) + "/" + direction.value
                    ),
                    "aggregator_id": sub["aggregator_id"].to_numpy(),
                    "bus": sub["bus"].to_numpy(),
                    "isp": isp.astype(np.int64),
                    "direction": direction.value,
                    # whole watts, rounded down: never more than the pool holds
                    "max_power_kw": np.floor(volume[isp, pool] * 1000.0) / 1000.0,
                    "min_power_kw": 0.0,
                    "price_eur_per_mwh": sub["price_eur_per_mwh"].to_numpy(),
                    "der_type": sub["der_type"].to_numpy(),
                    "block_id": "",
                    "pool": pool.astype(np.int64),
                }
            )
        )
    if frames:
        offers = pd.concat(frames, ignore_index=True)
    else:
        offers = empty_frame(OFFER_COLUMNS).assign(pool=pd.Series(dtype=np.int64))
    return OfferBook(offers, pools, pool_of_unit, pool_up_kw, pool_down_kw)
