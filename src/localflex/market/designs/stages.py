"""Building blocks the designs chain: a DSO clearing, a continuous-book session for the
location-free buyers, and the DSO's fallbacks (direct control, curtailment).

Each stage reads and updates the same ``OfferPool`` (what is left of every offer), ``TradeLog``
and, where the design couples markets to the grid, a ``GridGuard``.

* ``dso_stage``: the DSO single buyer (paper §5.3; ``clear_dso_single_buyer``, pay-as-bid,
  network-aware LP) on the needs the guard's state shows, on the offers that are left.
* ``book_stage``: the IMO's continuous double auction (paper §6.2, ref. [66];
  ``localflex.market.continuous.ContinuousMarket``) between the location-free buyers (BRPs,
  TSO; one product per (ISP, direction), area ``"system"``) and the aggregators' offers.
  Without a guard the sell orders rest first and the buy orders arrive in a seeded random
  order (grid-blind trading). With a guard, the buy orders rest and each offer arrives in
  merit order as an IOC sell whose quantity is what the guard lets through at that moment, so
  a trade is checked before it happens (``GridGuard.max_accept``). Price = the resting order's.
* ``force_stage``: the DSO forces relief without a market — direct control of contracted
  resources (USEF orange, regulated price) or curtailment / shedding (red, emergency price) —
  at the buses of largest relief first, within the guard.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from localflex.market.continuous import MIN_QUANTITY_KW, ContinuousMarket, Side
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.ledger import GridGuard, OfferPool, TradeLog, TradePurpose
from localflex.market.dso_single_buyer import (
    RELIEF_EPS_KW_PER_KW,
    CongestionNeeds,
    clear_dso_single_buyer,
)

__all__ = ["book_stage", "dso_stage", "force_stage", "needs_from_guard"]

SYSTEM_AREA = "system"


def needs_from_guard(inp: DesignInput, guard: GridGuard,
                     mask: np.ndarray | None = None) -> CongestionNeeds:
    """The DSO's needs in the guard's state; ``mask`` [T, CP] keeps only some points."""
    head = guard.head_kw
    overload = np.maximum(0.0, -head)
    if mask is not None:
        overload = np.where(mask, overload, 0.0)
    headroom = np.where(overload > 0, 0.0, np.maximum(head, 0.0))
    return CongestionNeeds(
        cp_ids=inp.cps["cp_id"].to_numpy(),
        overload_kw=overload,
        headroom_kw=headroom,
        relief_kw_per_kw_up=inp.relief,
        bus_ids=inp.bus_ids,
        isp_hours=inp.isp_hours,
    )


def dso_stage(
    inp: DesignInput,
    pool: OfferPool,
    guard: GridGuard,
    log: TradeLog,
    *,
    stage: str,
    mask: np.ndarray | None = None,
    offer_mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """The DSO buys what removes the overloads of the guard's state; returns the awards."""
    needs = needs_from_guard(inp, guard, mask)
    if not (needs.overload_kw > 1e-6).any():
        return pd.DataFrame()
    offers = pool.available(offer_mask)
    if offers.empty:
        return pd.DataFrame()
    result = clear_dso_single_buyer(
        offers, needs, n_isps=inp.n_isps,
        max_price_eur_per_mwh=inp.params.dso_price_cap_eur_per_mwh,
    )
    awards = result.awards
    if awards.empty:
        return awards
    log.add(stage=stage, purpose=TradePurpose.GRID.value, buyer_id=inp.dso_id,
            seller_id=awards["aggregator_id"].to_numpy(), offer_id=awards["offer_id"].to_numpy(),
            bus=awards["bus"].to_numpy(), isp=awards["isp"].to_numpy(),
            direction=awards["direction"].to_numpy(), power_kw=awards["power_kw"].to_numpy(),
            ask_eur_per_mwh=awards["price_eur_per_mwh"].to_numpy(),
            received_eur=awards["cost_eur"].to_numpy(), paid_eur=awards["cost_eur"].to_numpy())
    pool.take(awards["offer_id"], awards["power_kw"].to_numpy())
    guard.apply_trades(awards)
    return awards


def book_stage(
    inp: DesignInput,
    pool: OfferPool,
    requests: pd.DataFrame,
    log: TradeLog,
    *,
    stage: str,
    guard: GridGuard | None = None,
    offer_mask: np.ndarray | None = None,
    dso_pays: bool = False,
) -> pd.DataFrame:
    """A continuous-book session between ``requests`` and the offers left (module doc).

    ``dso_pays``: the DSO is the buyer of record of the requests (shared balancing
    responsibility). Returns the stage's trades (DESIGN_TRADE_COLUMNS subset).
    """
    if requests.empty:
        return pd.DataFrame()
    offers = pool.available(offer_mask)
    keys = set(zip(requests["isp"], requests["direction"], strict=True))
    if offers.empty or not keys:
        return pd.DataFrame()
    match = np.fromiter(((t, d) in keys for t, d in zip(offers["isp"], offers["direction"],
                                                         strict=True)), bool, len(offers))
    offers = offers[match]
    market = ContinuousMarket(n_isps=inp.n_isps, isp_minutes=round(inp.isp_hours * 60))
    req = requests.set_index("request_id")
    off = offers.set_index("offer_id")
    trades = []
    if guard is None:
        for o in offers.itertuples(index=False):
            if o.max_power_kw >= MIN_QUANTITY_KW:
                market.submit(o.aggregator_id, (SYSTEM_AREA, o.direction, int(o.isp)), Side.SELL,
                              float(o.price_eur_per_mwh), float(o.max_power_kw),
                              order_id=o.offer_id)
        rng = np.random.default_rng([inp.seed, 67, zlib.crc32(stage.encode())])
        for k in rng.permutation(len(requests)):
            r = requests.iloc[k]
            res = market.submit(r["party_id"], (SYSTEM_AREA, r["direction"], int(r["isp"])),
                                Side.BUY, float(r["price_eur_per_mwh"]), float(r["power_kw"]),
                                "ioc", order_id=r["request_id"])
            trades.extend(res.trades)
    else:
        for r in requests.itertuples(index=False):
            market.submit(r.party_id, (SYSTEM_AREA, r.direction, int(r.isp)), Side.BUY,
                          float(r.price_eur_per_mwh), float(r.power_kw),
                          order_id=r.request_id)
        merit = offers.sort_values(["price_eur_per_mwh", "offer_id"], kind="stable")
        pos = guard.bus_pos(merit["bus"].to_numpy())
        for o, b in zip(merit.itertuples(index=False), pos, strict=True):
            product = (SYSTEM_AREA, o.direction, int(o.isp))
            best = market.best_bid(product)
            if best is None or best < o.price_eur_per_mwh:
                continue
            sign = 1.0 if o.direction == "up" else -1.0
            qty = guard.max_accept(int(o.isp), int(b), sign, float(o.max_power_kw))
            if qty < MIN_QUANTITY_KW:
                continue
            res = market.submit(o.aggregator_id, product, Side.SELL, float(o.price_eur_per_mwh),
                                float(qty), "ioc", order_id=f"{stage}:{o.offer_id}")
            filled = sum(t.quantity_kw for t in res.trades)
            guard.apply(int(o.isp), int(b), sign, filled)
            trades.extend(res.trades)
    if not trades:
        return pd.DataFrame()
    sell_ids = [t.sell_order_id.split(":", 1)[-1] if guard is not None else t.sell_order_id
                for t in trades]
    qty = np.array([t.quantity_kw for t in trades])
    value = np.array([t.value_eur for t in trades])
    buy_ids = [t.buy_order_id for t in trades]
    frame = dict(
        stage=stage,
        purpose=req.loc[buy_ids, "purpose"].to_numpy(),
        buyer_id=inp.dso_id if dso_pays else [t.buyer_id for t in trades],
        seller_id=[t.seller_id for t in trades],
        offer_id=sell_ids,
        request_id=buy_ids,
        bus=off.loc[sell_ids, "bus"].to_numpy(),
        isp=[t.product.isp for t in trades],
        direction=[str(t.product.direction) for t in trades],
        power_kw=qty,
        ask_eur_per_mwh=off.loc[sell_ids, "price_eur_per_mwh"].to_numpy(),
        bid_eur_per_mwh=req.loc[buy_ids, "price_eur_per_mwh"].to_numpy(),
        paid_eur=value,
        received_eur=value,
    )
    log.add(**frame)
    pool.take(sell_ids, qty)
    return pd.DataFrame(frame)  # grid-blind (no guard): the caller decides who is told


def force_stage(
    inp: DesignInput,
    guard: GridGuard,
    log: TradeLog,
    *,
    stage: str,
    targets: np.ndarray,
    up_kw: np.ndarray,
    down_kw: np.ndarray,
    price_eur_per_mwh: float,
    purpose: TradePurpose,
    seller_id: str,
) -> float:
    """Force relief at the (t, cp) of ``targets`` [T, CP] bool until their overload (in the
    guard's state) is gone or ``up_kw``/``down_kw`` [T, B] (capacity) are used; returns kW.

    Buses are taken by decreasing relief per kW; each step is limited by the guard, so forcing
    relief at one point never overloads another. The capacities are consumed in place.
    """
    rows = {"isp": [], "bus": [], "direction": [], "power_kw": []}
    for t, c in zip(*np.nonzero(targets), strict=True):
        need = -guard.head_kw[t, c]
        if need <= 1e-6:
            continue
        r = inp.relief[t, c, :]
        for b in np.argsort(-np.abs(r), kind="stable"):
            if need <= 1e-6 or abs(r[b]) <= RELIEF_EPS_KW_PER_KW:
                break
            sign = 1.0 if r[b] > 0 else -1.0
            cap = up_kw if sign > 0 else down_kw
            want = min(cap[t, b], need / abs(r[b]))
            if want <= 1e-6:
                continue
            q = guard.max_accept(int(t), int(b), sign, float(want))
            if q <= 1e-6:
                continue
            guard.apply(int(t), int(b), sign, q)
            cap[t, b] -= q
            need = -guard.head_kw[t, c]
            rows["isp"].append(int(t))
            rows["bus"].append(int(inp.bus_ids[b]))
            rows["direction"].append("up" if sign > 0 else "down")
            rows["power_kw"].append(q)
    if rows["isp"]:
        log.add(stage=stage, purpose=purpose.value, buyer_id=inp.dso_id, seller_id=seller_id,
                ask_eur_per_mwh=price_eur_per_mwh, **rows)
    return float(np.sum(rows["power_kw"]))
