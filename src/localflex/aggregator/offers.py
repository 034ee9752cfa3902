"""Bid building: turn pooled DER envelopes into FlexOffers (paper §4.1, §5.3).

An aggregator pools its units per (bus, DER family): one pool offers, per ISP and direction,
the sum of its units' envelope (``up_kw`` / ``down_kw``) at the pool's price. Location
matters for grid services (§2), so pools never span buses. A pool's offer below the
aggregator's minimum bid size is not submitted — the market-access barrier of §4.1.

With ``rules`` (a ``ProductRules``) the book follows a market's product requirements: units
that cannot meet the timing limits are left out of the pools (so dispatch never asks them),
each unit's kW is capped by what its energy sustains over the required activation duration,
volumes are held over the product length, made symmetric, rounded down to the bid step and
dropped below ``max(rules.min_bid_kw, aggregator min_bid_kw)``; shifting families offer UP
activations as rebound blocks (see ``localflex.aggregator.products``), and every offer
carries an availability price (column ``availability_eur_per_mw_h``). Without ``rules`` the
book is exactly that of the foundation market day.

Columns of ``OfferBook.pools``:

| column | unit | meaning |
|---|---|---|
| pool | - | pool index (the column index of the pooled arrays) |
| aggregator_id, bus, der_type | - | the pool's key |
| price_eur_per_mwh | EUR/MWh | activation price of every offer of the pool |
| energy_up_max_kwh, energy_down_max_kwh | kWh | the pool's energy limits over the horizon |
| availability_eur_per_mw_h | EUR/MW/h | reservation price (only with ``rules``) |

Offers of a rebound block share ``block_id`` ``"<agg>/b<bus>/<family>/t<isp>/rebound"``: the
UP activation (``.../t<isp>/up``) and its DOWN legs (``<block_id>/leg<j>/down``, price 0: the
rebound's cost is in the family price of the activation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from localflex.aggregator.cost_model import (
    pool_availability_eur_per_mw_h,
    pool_prices_eur_per_mwh,
)
from localflex.aggregator.portfolio import Portfolio
from localflex.aggregator.products import ProductRules
from localflex.domain import OFFER_COLUMNS, DerType, Direction, InputError, empty_frame
from localflex.regulation.access import apply_product_rules

__all__ = ["GENERATION_DER_TYPES", "OfferBook", "build_offers", "pool_matrix"]

GENERATION_DER_TYPES: frozenset[str] = frozenset(
    {DerType.PV.value, DerType.WIND.value, DerType.CHP.value}
)


@dataclass(frozen=True)
class OfferBook:
    """The offers of every aggregator plus what dispatch needs to split an award."""

    offers: pd.DataFrame  # OFFER_COLUMNS + "pool"
    pools: pd.DataFrame
    pool_of_unit: np.ndarray  # [N] pool index, -1 = not pooled
    pool_up_kw: np.ndarray  # [T, G]
    pool_down_kw: np.ndarray  # [T, G]
    # [T, N] the units' kW behind the pools (timing-eligible, energy-capped); None = the
    # envelope passed to dispatch as it is (the book was built without rules)
    unit_up_kw: np.ndarray | None = None
    unit_down_kw: np.ndarray | None = None


def pool_matrix(pool_of_unit: np.ndarray, n_pools: int) -> sparse.csr_matrix:
    """[N, G] 0/1 membership matrix; rows of unpooled units are empty."""
    units = np.flatnonzero(pool_of_unit >= 0)
    data = np.ones(units.size)
    return sparse.csr_matrix(
        (data, (units, pool_of_unit[units])), shape=(pool_of_unit.size, n_pools)
    )


def _unit_volumes(
    rules: ProductRules,
    up_kw: np.ndarray,
    down_kw: np.ndarray,
    energy_up_max_kwh: np.ndarray,
    energy_down_max_kwh: np.ndarray,
    unit_der_type: np.ndarray,
    timing: dict[str, np.ndarray | None],
    isp_hours: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Units' usable kW [T, N] under the rules' timing limits, and the eligible mask [N]."""
    n_units = up_kw.shape[1]
    eligible = np.ones(n_units, dtype=bool)
    if rules.generation_only:
        eligible &= np.isin(np.asarray(unit_der_type).astype(str), list(GENERATION_DER_TYPES))
    limits = (
        ("unit_notification_min", rules.max_notification_min, np.less_equal),
        ("unit_response_min", rules.max_response_min, np.less_equal),
        ("unit_max_duration_isps", rules.max_activation_duration_isps, np.greater_equal),
    )
    for name, limit, ok in limits:
        binding = np.isfinite(limit) and (name != "unit_max_duration_isps" or limit > 0)
        if not binding:
            continue
        values = timing[name]
        if values is None:
            raise InputError(name, None, "one value per unit: the product rules limit it")
        values = np.asarray(values, dtype=float).reshape(-1)
        if values.size != n_units:
            raise InputError(name, values.size, f"{n_units} values (one per unit)")
        eligible &= ok(values, limit + (1e-9 if ok is np.less_equal else -1e-9))
    up = np.where(eligible[None, :], up_kw, 0.0)
    down = np.where(eligible[None, :], down_kw, 0.0)
    if rules.max_activation_duration_isps > 0:
        hours = rules.max_activation_duration_isps * isp_hours
        up = np.minimum(up, np.asarray(energy_up_max_kwh, dtype=float)[None, :] / hours)
        down = np.minimum(down, np.asarray(energy_down_max_kwh, dtype=float)[None, :] / hours)
    return up, down, eligible


def _floor_milli(volume_kw: np.ndarray) -> np.ndarray:
    return np.floor(volume_kw * 1000.0 + 1e-6) / 1000.0


def _future_min(volume: np.ndarray, horizon: int) -> np.ndarray:
    """min over ISPs t+1..t+horizon (inside the horizon) of volume [T, G]; inf if none."""
    out = np.full_like(volume, np.inf)
    for j in range(1, horizon + 1):
        if j < volume.shape[0]:
            out[:-j] = np.minimum(out[:-j], volume[j:])
    return out


def _frame(pools: pd.DataFrame, isp: np.ndarray, pool: np.ndarray, direction: Direction,
           volume_kw: np.ndarray, prices: np.ndarray, block_ids: np.ndarray | str = "",
           offer_ids: np.ndarray | None = None) -> pd.DataFrame:
    # per pool once (pools << offers), then gathered per offer
    agg = pools["aggregator_id"].to_numpy()
    bus = pools["bus"].to_numpy()
    der = pools["der_type"].to_numpy()
    if offer_ids is None:
        prefix = [f"{a}/b{b}/{d}/t" for a, b, d in zip(agg.astype(str).tolist(), bus.tolist(),
                                                      der.astype(str).tolist(), strict=True)]
        tail = "/" + direction.value
        offer_ids = np.array([f"{prefix[p]}{t}{tail}" for p, t in
                              zip(pool.tolist(), isp.tolist(), strict=True)], dtype=object)
    return pd.DataFrame(
        {
            "offer_id": offer_ids,
            "aggregator_id": agg[pool],
            "bus": bus[pool],
            "isp": isp.astype(np.int64),
            "direction": direction.value,
            # whole watts, rounded down: never more than the pool holds
            "max_power_kw": np.floor(np.asarray(volume_kw) * 1000.0 + 1e-9) / 1000.0,
            "min_power_kw": 0.0,
            "price_eur_per_mwh": prices,
            "der_type": der[pool],
            "block_id": block_ids,
            "pool": pool.astype(np.int64),
        }
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
    rules: ProductRules | None = None,
    isp_hours: float = 0.25,
    unit_notification_min: np.ndarray | None = None,
    unit_response_min: np.ndarray | None = None,
    unit_max_duration_isps: np.ndarray | None = None,
    availability_overrides: Mapping[str, float] | None = None,
) -> OfferBook:
    """Pool the units per (aggregator, bus, family) and offer each pool per ISP and direction.

    ``up_kw``/``down_kw`` are the units' envelopes [T, N]. Returns an OfferBook whose
    ``offers`` frame follows OFFER_COLUMNS (plus the ``pool`` index, and with ``rules`` the
    ``availability_eur_per_mw_h``). ``rules`` (see the module docstring) needs the units'
    timing arrays [N] (``FlexEnvelope`` fields) for the limits it sets.
    """
    n_isps, n_units = up_kw.shape
    if down_kw.shape != up_kw.shape:
        raise InputError("down_kw", down_kw.shape, f"shape {up_kw.shape} like up_kw")
    for name in portfolio.aggregator_names:
        if min_bid_kw.get(name, 0.0) < 0:
            raise InputError(f"aggregators.{name}.min_bid_kw", min_bid_kw[name], ">= 0 kW")
    if not isp_hours > 0:
        raise InputError("isp_hours", isp_hours, "> 0 hours")

    pooled = portfolio.participating.copy()
    unit_up, unit_down = up_kw, down_kw
    if rules is not None:
        timing = {"unit_notification_min": unit_notification_min,
                  "unit_response_min": unit_response_min,
                  "unit_max_duration_isps": unit_max_duration_isps}
        unit_up, unit_down, eligible = _unit_volumes(
            rules, up_kw, down_kw, energy_up_max_kwh, energy_down_max_kwh, unit_der_type,
            timing, isp_hours)
        pooled &= eligible
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
    pool_up_kw = np.asarray(membership.T @ unit_up.T).T if n_pools else np.zeros((n_isps, 0))
    pool_down_kw = (np.asarray(membership.T @ unit_down.T).T if n_pools
                    else np.zeros((n_isps, 0)))
    pools["energy_up_max_kwh"] = membership.T @ energy_up_max_kwh if n_pools else []
    pools["energy_down_max_kwh"] = membership.T @ energy_down_max_kwh if n_pools else []
    pool_markup = pools["aggregator_id"].map(lambda a: markup.get(a, 1.0)).to_numpy(float)
    pools["price_eur_per_mwh"] = pool_prices_eur_per_mwh(
        pools["der_type"].to_numpy(), pool_markup, rng, cost_overrides
    )
    pool_min_bid = pools["aggregator_id"].map(lambda a: min_bid_kw.get(a, 0.0)).to_numpy(float)
    price = pools["price_eur_per_mwh"].to_numpy()

    frames = []
    if rules is None:
        for direction, volume in ((Direction.UP, pool_up_kw), (Direction.DOWN, pool_down_kw)):
            isp, pool = np.nonzero((volume >= pool_min_bid[None, :]) & (volume > 1e-9))
            if isp.size:
                frames.append(_frame(pools, isp, pool, direction, volume[isp, pool],
                                     price[pool]))
    else:
        pools["availability_eur_per_mw_h"] = pool_availability_eur_per_mw_h(
            pools["der_type"].to_numpy(), pool_markup, availability_overrides)
        frames = _offers_under_rules(rules, pools, pool_up_kw, pool_down_kw,
                                     np.maximum(pool_min_bid, rules.min_bid_kw), price)
    if frames:
        offers = pd.concat(frames, ignore_index=True)
        if rules is not None:
            offers["availability_eur_per_mw_h"] = pools["availability_eur_per_mw_h"].to_numpy()[
                offers["pool"].to_numpy()]
    else:
        offers = empty_frame(OFFER_COLUMNS).assign(pool=pd.Series(dtype=np.int64))
        if rules is not None:
            offers["availability_eur_per_mw_h"] = pd.Series(dtype=float)
    return OfferBook(offers, pools, pool_of_unit, pool_up_kw, pool_down_kw,
                     None if rules is None else unit_up, None if rules is None else unit_down)


def _offers_under_rules(
    rules: ProductRules,
    pools: pd.DataFrame,
    pool_up_kw: np.ndarray,
    pool_down_kw: np.ndarray,
    min_bid: np.ndarray,
    price: np.ndarray,
) -> list[pd.DataFrame]:
    """Offer frames of every pool under the product rules, rebound blocks included."""
    n_isps = pool_up_kw.shape[0]
    horizon = rules.block_rebound_isps
    ratio = rules.rebound_energy_ratio
    blocked = np.zeros(len(pools), dtype=bool)
    if horizon > 0 and ratio > 0 and not rules.symmetric:
        blocked = pools["der_type"].isin(list(rules.rebound_der_types)).to_numpy()
    # an UP activation of v kW in t rebounds v*ratio/R kW in each of t+1..t+R; capping v at
    # min(down[t+1..t+R]) / ratio keeps the rebound legs landing in any ISP within its DOWN kW
    cap = np.where(blocked[None, :], _future_min(pool_down_kw, horizon) / max(ratio, 1e-12),
                   np.inf)
    up_volume = np.minimum(pool_up_kw, cap)
    offer_up, offer_down = apply_product_rules(
        up_volume, pool_down_kw, min_bid_kw=min_bid, bid_step_kw=rules.bid_step_kw,
        symmetric=rules.symmetric, product_length_isps=rules.product_length_isps)
    frames = []
    offer_up = _floor_milli(offer_up)  # offers carry 3 decimals: never round above capacity
    legs_kw = _floor_milli(np.where(blocked[None, :], offer_up * ratio / max(horizon, 1), 0.0))
    if blocked.any():
        reserved = np.zeros_like(pool_down_kw)
        for j in range(1, horizon + 1):
            if j < n_isps:
                reserved[j:] += legs_kw[:-j]
        down_left = np.where(blocked[None, :], np.maximum(pool_down_kw - reserved, 0.0),
                             pool_down_kw)
        _, offer_down = apply_product_rules(
            up_volume, down_left, min_bid_kw=min_bid, bid_step_kw=rules.bid_step_kw,
            symmetric=False, product_length_isps=rules.product_length_isps)
    offer_down = _floor_milli(offer_down)
    for direction, volume in ((Direction.UP, offer_up), (Direction.DOWN, offer_down)):
        isp, pool = np.nonzero(volume > 1e-9)
        if not isp.size:
            continue
        block_ids = np.full(isp.size, "", dtype=object)
        if direction is Direction.UP:
            is_block = blocked[pool]
            sub = pools.iloc[pool[is_block]]
            block_ids[is_block] = (sub["aggregator_id"].to_numpy().astype(str)
                                   + "/b" + sub["bus"].to_numpy().astype(str)
                                   + "/" + sub["der_type"].to_numpy().astype(str)
                                   + "/t" + isp[is_block].astype(str) + "/rebound")
        frames.append(_frame(pools, isp, pool, direction, volume[isp, pool], price[pool],
                             block_ids))
        if direction is Direction.UP and blocked.any():
            start = isp[block_ids != ""]
            owner = pool[block_ids != ""]
            ids = block_ids[block_ids != ""].astype(str)
            for j in range(1, horizon + 1):
                inside = start + j < n_isps
                if not inside.any():
                    continue
                leg_isp = start[inside] + j
                frames.append(_frame(
                    pools, leg_isp, owner[inside], Direction.DOWN,
                    legs_kw[start[inside], owner[inside]], np.zeros(int(inside.sum())),
                    ids[inside], offer_ids=np.char.add(ids[inside], f"/leg{j}/down"),
                ))
    return frames
