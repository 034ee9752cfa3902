"""Building blocks the designs chain: a DSO clearing, a continuous-book session for the
location-free buyers, and the DSO's fallbacks (direct control, curtailment).

Each stage reads and updates the same ``OfferPool`` (what is left of every offer), ``TradeLog``
and, where the design couples markets to the grid, a ``GridGuard``.

* ``dso_stage``: the DSO single buyer (paper §5.3; ``clear_dso_single_buyer``, pay-as-bid,
  network-aware LP) on the needs the guard's state shows, on the offers that are left; by
  default a need is loading above the limit, with ``margin_kw`` loading above the limit less
  a margin (USEF's yellow regime buys its points out of the "potential state of risk").
* ``book_stage``: the IMO's continuous double auction (paper §6.2, ref. [66];
  ``localflex.market.continuous.ContinuousMarket``) between the location-free buyers (BRPs,
  TSO; one product per (ISP, direction), area ``"system"``) and the aggregators' offers. The
  offers rest, the requests arrive as IOC buys in one seeded order (``arrival_order``: the
  same in every design); with a ``GridGuard`` each fill is limited before it happens
  (``GridGuard.max_accept``), without one trading is grid-blind — the same code path.
  Pricing (stated per trade in ``pricing``): ``PAY_AS_OFFER``, the resting seller's ask.
  Each fill is also limited to what the offer's energy budgets have left (``OfferPool.
  energy``: an aggregator does not sell energy its units have already sold in another ISP);
  the DSO stage clears on the budgets left.
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
from localflex.market.designs.ledger import (
    PAY_AS_OFFER,
    REGULATED,
    GridGuard,
    OfferPool,
    TradeLog,
    TradePurpose,
    pay_as_offer,
)
from localflex.market.dso_single_buyer import (
    RELIEF_EPS_KW_PER_KW,
    CongestionNeeds,
    clear_dso_single_buyer,
)

__all__ = ["arrival_order", "book_stage", "dso_stage", "force_stage", "needs_from_guard"]

SYSTEM_AREA = "system"


def needs_from_guard(inp: DesignInput, guard: GridGuard, mask: np.ndarray | None = None,
                     *, margin_kw: np.ndarray | None = None) -> CongestionNeeds:
    """The DSO's needs in the guard's state; ``mask`` [T, CP] keeps only some points.

    ``margin_kw`` ([CP] or [T, CP], >= 0): the need of a point is the flow above its limit
    less this margin (the headroom the DSO wants to have), not above the limit itself; the
    other points keep their physical headroom (a clearing may use it, never more)."""
    head = guard.head_kw
    target = 0.0 if margin_kw is None else np.broadcast_to(margin_kw, head.shape)
    overload = np.maximum(0.0, target - head)
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
    margin_kw: np.ndarray | None = None,
) -> pd.DataFrame:
    """The DSO buys what removes the overloads of the guard's state (with ``margin_kw``: the
    loading above limit − margin, ``needs_from_guard``); returns the awards."""
    needs = needs_from_guard(inp, guard, mask, margin_kw=margin_kw)
    if not (needs.overload_kw > 1e-6).any():
        return pd.DataFrame()
    offers = pool.available(offer_mask)
    if offers.empty:
        return pd.DataFrame()
    result = clear_dso_single_buyer(
        offers, needs, n_isps=inp.n_isps,
        max_price_eur_per_mwh=inp.params.dso_price_cap_eur_per_mwh,
        energy_budgets=pool.energy_budgets(offers),
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


def arrival_order(inp: DesignInput, requests: pd.DataFrame) -> np.ndarray:
    """Positions of ``requests`` in the order they reach the book: seeded by the scenario and
    each request's id only, so a request arrives at the same place in every design and
    stage (no design differs from another by clearing order)."""
    keys = np.fromiter((zlib.crc32(f"{inp.seed}/{rid}".encode())
                        for rid in requests["request_id"]), np.int64, len(requests))
    return np.lexsort((requests["request_id"].to_numpy(dtype=str), keys))


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

    One code path with or without a guard: the offers rest as sell orders (merit order
    within a price level by offer id), the requests arrive as IOC buys in
    ``arrival_order``; each fill is at the resting seller's ask (``PAY_AS_OFFER``). With a
    ``guard`` every fill is first limited to what the guard lets through (the resting sell
    is reduced, keeping its priority; what the guard holds back stays in the pool for later
    stages). Every fill is limited the same way to what the offer's energy budgets have
    left (``_BudgetWalk``; the resting sell reduced or cancelled, the rest of the offer
    stays in the pool). ``dso_pays``: the DSO is the buyer of record (shared balancing
    responsibility).
    Returns the stage's trades (DESIGN_TRADE_COLUMNS subset).
    """
    if requests.empty:
        return pd.DataFrame()
    offers = pool.available(offer_mask)
    if offers.empty:
        return pd.DataFrame()
    # products (ISP, direction) as integers: 2·isp + 1 for up
    req_key = (2 * requests["isp"].to_numpy(dtype=np.int64)
               + (requests["direction"].to_numpy() == "up"))
    off_key = (2 * offers["isp"].to_numpy(dtype=np.int64)
               + (offers["direction"].to_numpy() == "up"))
    match = np.isin(off_key, req_key)
    offers = offers[match & (offers["max_power_kw"].to_numpy() >= MIN_QUANTITY_KW)]
    offers = offers.sort_values(["price_eur_per_mwh", "offer_id"], kind="stable")
    market = ContinuousMarket(n_isps=inp.n_isps, isp_minutes=round(inp.isp_hours * 60))
    req = requests.set_index("request_id")
    off = offers.set_index("offer_id")
    # each product's offers in merit order; they rest in that order, submitted lazily: an
    # offer enters the book just before the walk first reaches it (the IOC buys only ever
    # fill up to the offer being walked, so later offers never trade earlier — the same
    # book, fills and priorities as resting every offer first, without submitting 10⁵
    # orders of which a few hundred trade)
    o_id = offers["offer_id"].to_numpy(dtype=object)
    o_seller = offers["aggregator_id"].to_numpy(dtype=object)
    o_price = offers["price_eur_per_mwh"].to_numpy(dtype=float)
    o_kw = offers["max_power_kw"].to_numpy(dtype=float)
    o_dir = offers["direction"].to_numpy(dtype=object)
    o_isp = offers["isp"].to_numpy(dtype=np.int64)
    o_pos = np.searchsorted(inp.bus_ids, offers["bus"].to_numpy(dtype=np.int64))
    o_key = 2 * o_isp + (o_dir == "up")
    by_product = np.argsort(o_key, kind="stable")
    bounds = np.flatnonzero(np.diff(o_key[by_product])) + 1
    resting: dict[tuple, list[int]] = {}
    for idx in np.split(by_product, bounds) if by_product.size else ():
        i0 = int(idx[0])
        resting[(SYSTEM_AREA, str(o_dir[i0]), int(o_isp[i0]))] = idx.tolist()
    rested: dict[tuple, int] = {}  # product -> how many of its offers rest (or rested)
    budget_of = _BudgetWalk(pool, o_id)


    trades = []
    arrivals = requests.iloc[arrival_order(inp, requests)]
    for r in arrivals.itertuples(index=False):
        product = (SYSTEM_AREA, r.direction, int(r.isp))
        left, bid, k = float(r.power_kw), float(r.price_eur_per_mwh), 0
        mine = resting.get(product, ())
        for n, i in enumerate(mine):
            if left < MIN_QUANTITY_KW:
                break
            if n >= rested.get(product, 0):  # the offer enters the book now
                market.submit(o_seller[i], product, Side.SELL, float(o_price[i]),
                              float(o_kw[i]), order_id=o_id[i])
                rested[product] = n + 1
            offer_id, seller, b = o_id[i], o_seller[i], int(o_pos[i])
            sign = 1.0 if o_dir[i] == "up" else -1.0
            if seller == r.party_id or not market.is_resting(offer_id):
                continue
            order = market.order(offer_id)
            if order.price_eur_per_mwh > bid:
                break
            want = min(left, order.remaining_kw)
            qty = min(want, budget_of.cap_kw(i))
            qty = qty if guard is None else guard.max_accept(int(r.isp), b, sign, qty)
            if qty < want - 1e-9:  # the budget or the guard holds back the rest here
                if qty < MIN_QUANTITY_KW:
                    market.cancel(offer_id)
                    continue
                market.modify(offer_id, quantity_kw=float(qty))
            if qty < MIN_QUANTITY_KW:  # a float sliver left on the offer: nothing to trade
                continue
            res = market.submit(r.party_id, product, Side.BUY, bid, float(qty), "ioc",
                                order_id=f"{r.request_id}~{k}")
            k += 1
            filled = sum(t.quantity_kw for t in res.trades)
            if guard is not None:
                guard.apply(int(r.isp), b, sign, filled)
            budget_of.use(i, filled)
            left -= filled
            trades.extend(res.trades)
    if not trades:
        return pd.DataFrame()
    sell_ids = [t.sell_order_id for t in trades]
    buy_ids = [t.buy_order_id.rsplit("~", 1)[0] for t in trades]
    qty = np.array([t.quantity_kw for t in trades])
    ask = off.loc[sell_ids, "price_eur_per_mwh"].to_numpy(dtype=float)
    bid = req.loc[buy_ids, "price_eur_per_mwh"].to_numpy(dtype=float)
    paid, received = pay_as_offer(ask, qty, inp.isp_hours)
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
        ask_eur_per_mwh=ask,
        bid_eur_per_mwh=bid,
        paid_eur=paid,
        received_eur=received,
        pricing=PAY_AS_OFFER,
    )
    log.add(**frame)
    pool.take(sell_ids, qty)
    return pd.DataFrame(frame)  # grid-blind (no guard): the caller decides who is told


class _BudgetWalk:
    """The energy budgets during one book walk: what offer ``i`` (row of the walk's offers)
    may still sell (``cap_kw``) and the booking of its fills (``use``), on a local copy of
    what is left; the pool books the stage's trades after the walk (``OfferPool.take``)."""

    def __init__(self, pool: OfferPool, offer_ids: np.ndarray) -> None:
        pos, k, w = pool.energy.entries(offer_ids)
        self.h = pool.energy.isp_hours
        self.left_kwh = pool.energy.left_kwh.copy()
        order = np.argsort(pos, kind="stable")
        pos, self.k, self.w = pos[order], k[order], w[order]
        self.start = np.searchsorted(pos, np.arange(len(offer_ids) + 1))

    def cap_kw(self, i: int) -> float:
        a, b = self.start[i], self.start[i + 1]
        if a == b:
            return np.inf
        return float((self.left_kwh[self.k[a:b]] / (self.w[a:b] * self.h)).min())

    def use(self, i: int, kw: float) -> None:
        a, b = self.start[i], self.start[i + 1]
        self.left_kwh[self.k[a:b]] -= self.w[a:b] * kw * self.h


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
                ask_eur_per_mwh=price_eur_per_mwh, pricing=REGULATED, **rows)
    return float(np.sum(rows["power_kw"]))
