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
from itertools import pairwise

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
    rows = pool.available_rows(offer_mask)
    if rows.size == 0:
        return pd.DataFrame()
    result = clear_dso_single_buyer(
        pool.frame_at(rows), needs, n_isps=inp.n_isps,
        max_price_eur_per_mwh=inp.params.dso_price_cap_eur_per_mwh,
        energy_budgets=pool.energy_budgets_at(rows),
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
    rows = pool.available_rows(offer_mask)
    if rows.size == 0:
        return pd.DataFrame()
    # products (ISP, direction) as integers: 2·isp + 1 for up
    req_key = (2 * requests["isp"].to_numpy(dtype=np.int64)
               + (requests["direction"].to_numpy() == "up"))
    keep = np.zeros(pool.remaining_kw.size, dtype=bool)
    keep[rows] = True
    keep &= np.isin(pool.product_key(), req_key) & (pool.remaining_kw >= MIN_QUANTITY_KW)
    order = pool.price_order()
    rows = order[keep[order]]  # by product, then price
    walk = _BookWalk(inp, pool, rows, guard)
    for r in requests.iloc[arrival_order(inp, requests)].itertuples(index=False):
        walk.serve(r)
    trades = walk.trades
    if not trades:
        return pd.DataFrame()
    sell_ids = [t.sell_order_id for t in trades]
    buy_ids = [t.buy_order_id.rsplit("~", 1)[0] for t in trades]
    qty = np.array([t.quantity_kw for t in trades])
    sold = rows[[walk.index_of[i] for i in sell_ids]]  # pool rows of the trades' offers
    req_row = pd.Series(np.arange(len(requests)), index=requests["request_id"].to_numpy())
    bought = req_row[buy_ids].to_numpy()
    ask = pool.column("price_eur_per_mwh")[sold].astype(float)
    bid = requests["price_eur_per_mwh"].to_numpy(dtype=float)[bought]
    paid, received = pay_as_offer(ask, qty, inp.isp_hours)
    frame = dict(
        stage=stage,
        purpose=requests["purpose"].to_numpy()[bought],
        buyer_id=inp.dso_id if dso_pays else [t.buyer_id for t in trades],
        seller_id=[t.seller_id for t in trades],
        offer_id=sell_ids,
        request_id=buy_ids,
        bus=pool.column("bus")[sold],
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


class _BookWalk:
    """The book of one ``book_stage`` session and the walk of its offers (``rows`` of the
    pool, by product and price: ``OfferPool.price_order``).

    Each product's offers rest in merit order — by price, then offer id (then row) — put in
    that order as the walk reaches them (``_order_to``: only ties of price need the ids,
    and only the few offers reached are ever walked). They are submitted lazily: an offer
    enters the book
    just before the walk first reaches it (the IOC buys only ever fill up to the offer being
    walked, so later offers never trade earlier — the same book, fills and priorities as
    resting every offer first, without submitting 10⁵ orders of which a few hundred
    trade). An offer that would be cancelled as soon as it is reached — its budgets or the
    guard leave it less than ``MIN_QUANTITY_KW`` — never enters the book: the walk screens
    the offers ahead for such offers as arrays (``_cancelled_ahead``), in the grid and
    budget state they are reached in (it only changes with a fill), and goes on at the
    first one that trades, rests or ends the request. Trades, their order and what the
    guard holds back (``GridGuard.limited_kw``) are those of the offer-by-offer walk."""

    def __init__(self, inp: DesignInput, pool: OfferPool, rows: np.ndarray,
                 guard: GridGuard | None) -> None:
        self.market = ContinuousMarket(n_isps=inp.n_isps, isp_minutes=round(inp.isp_hours * 60))
        self.guard = guard
        self.id = pool.column("offer_id")[rows].astype(object, copy=False)
        self.seller = pool.column("aggregator_id")[rows].astype(object, copy=False)
        self.price = pool.column("price_eur_per_mwh")[rows].astype(float, copy=False)
        self.kw = pool.remaining_kw[rows]
        self.isp = pool.column("isp")[rows].astype(np.int64, copy=False)
        key = pool.product_key()[rows]  # 2·isp + 1 for up
        self.sign = np.where(key % 2 == 1, 1.0, -1.0)
        self.pos = np.searchsorted(inp.bus_ids, pool.column("bus")[rows].astype(np.int64))
        self.budget = _BudgetWalk(pool, rows)
        # each product's offers (walk positions, a block of them): ``ahead`` in merit order
        # up to ``ordered[product]``, not yet reached from ``reached[product]`` on;
        # ``booked`` reached and submitted to the book
        new_level = np.r_[True, (key[1:] != key[:-1]) | (self.price[1:] != self.price[:-1])]
        level_start = np.flatnonzero(new_level)
        self.level = np.cumsum(new_level) - 1  # [n] each offer's (product, price) level
        self.level_end = np.r_[level_start[1:], key.size][self.level]
        self.str_ids = pd.api.types.infer_dtype(self.id, skipna=False) == "string"
        self.ahead: dict[tuple, np.ndarray] = {}
        self.first: dict[tuple, int] = {}  # the product's first walk position
        bounds = np.r_[0, np.flatnonzero(np.diff(key)) + 1, key.size]
        for a, b in pairwise(bounds.tolist()):
            if a < b:
                product = (SYSTEM_AREA, "up" if self.sign[a] > 0 else "down", int(self.isp[a]))
                self.ahead[product], self.first[product] = np.arange(a, b), a
        self.ordered = dict.fromkeys(self.ahead, 0)  # how many of ``ahead`` are in order
        self.reached = dict.fromkeys(self.ahead, 0)
        self.booked: dict[tuple, list[int]] = {p: [] for p in self.ahead}
        self.index_of: dict[str, int] = {}  # offer id -> walk position, of the booked
        self.trades: list = []
        self.left = 0.0

    def serve(self, r) -> None:
        """One request (a row of REQUEST_FRAME_COLUMNS) arrives as IOC buys: the booked
        offers of its product first, then the offers reached for the first time."""
        product = (SYSTEM_AREA, r.direction, int(r.isp))
        ahead = self.ahead.get(product)
        if ahead is None:
            return
        bid, party = float(r.price_eur_per_mwh), r.party_id
        self.left, self.k = float(r.power_kw), 0
        is_resting = self.market.is_resting
        booked = self.booked[product]
        booked[:] = [i for i in booked if is_resting(self.id[i])]
        for i in booked:
            if self.left < MIN_QUANTITY_KW:
                return
            if self.seller[i] == party or not is_resting(self.id[i]):
                continue
            if not self._trade(i, r, product, bid):
                return
        n = self.reached[product]
        while n < ahead.size and self.left >= MIN_QUANTITY_KW:
            n += self._cancelled_ahead(product, n, party, bid)
            if n == ahead.size:
                break
            i = int(ahead[n])
            n += 1
            self.market.submit(self.seller[i], product, Side.SELL, float(self.price[i]),
                               float(self.kw[i]), order_id=self.id[i])
            booked.append(i)
            self.index_of[self.id[i]] = i
            if self.seller[i] == party or not is_resting(self.id[i]):
                continue
            if not self._trade(i, r, product, bid):
                break
        self.reached[product] = n

    def _order_to(self, product: tuple, upto: int) -> None:
        """Put the first ``upto`` offers of the product's ``ahead`` in merit order: each
        level of price they reach (whole) sorted by offer id, ties of id in row order."""
        ahead, done = self.ahead[product], self.ordered[product]
        if done >= min(upto, ahead.size):
            return
        end = int(self.level_end[ahead[min(upto, ahead.size) - 1]]) - self.first[product]
        part = ahead[done:end]  # still by price, then row
        level = self.level[part]
        if (level[1:] == level[:-1]).any():  # ties of price: by offer id
            if self.str_ids:  # numpy's order of str is Python's
                by_id = np.lexsort((self.id[part].astype(str), level))
            else:
                by_id = sorted(range(part.size), key=lambda j: (level[j], self.id[part[j]]))
            ahead[done:end] = part[by_id]
        self.ordered[product] = end

    def _trade(self, i: int, r, product: tuple, bid: float) -> bool:
        """The request meets the booked offer ``i``: the fill limited by the budgets and the
        guard (the resting sell reduced or cancelled); False if its ask is above the bid."""
        market, guard, offer_id = self.market, self.guard, self.id[i]
        order = market.order(offer_id)
        if order.price_eur_per_mwh > bid:
            return False
        isp, b, sign = int(r.isp), int(self.pos[i]), float(self.sign[i])
        want = min(self.left, order.remaining_kw)
        qty = min(want, self.budget.cap_kw(i))
        qty = qty if guard is None else guard.max_accept(isp, b, sign, qty)
        if qty < want - 1e-9:  # the budget or the guard holds back the rest here
            if qty < MIN_QUANTITY_KW:
                market.cancel(offer_id)
                return True
            market.modify(offer_id, quantity_kw=float(qty))
        if qty < MIN_QUANTITY_KW:  # a float sliver left on the offer: nothing to trade
            return True
        res = market.submit(r.party_id, product, Side.BUY, bid, float(qty), "ioc",
                            order_id=f"{r.request_id}~{self.k}")
        self.k += 1
        filled = sum(t.quantity_kw for t in res.trades)
        if guard is not None:
            guard.apply(isp, b, sign, filled)
        self.budget.use(i, filled)
        self.left -= filled
        self.trades.extend(res.trades)
        return True

    def _cancelled_ahead(self, product: tuple, start: int, party: str, bid: float) -> int:
        """How many of the product's offers not yet reached (``ahead[start:]``, merit order)
        the walk would submit and cancel at once, from the first on; books what the guard
        holds back of them. Screened in chunks that grow while every offer of a chunk is
        cancelled."""
        ahead = self.ahead[product]
        done, size = 0, 16
        while start + done < ahead.size:
            self._order_to(product, start + done + size)
            chunk = ahead[start + done:start + done + size]
            cancel, held = self._cancels(chunk, party, bid)
            stop = np.flatnonzero(~cancel)
            n = int(stop[0]) if stop.size else chunk.size
            if self.guard is not None:
                for kw in held[:n][~np.isnan(held[:n])].tolist():  # in walk order
                    self.guard.limited_kw += kw
            done += n
            if n < chunk.size:
                break
            size = min(4 * size, 4096)
        return done

    def _cancels(self, chunk: np.ndarray, party: str, bid: float
                 ) -> tuple[np.ndarray, np.ndarray]:
        """([n] whether each offer of ``chunk``, reached now, would be submitted and cancelled
        at once; [n] what ``GridGuard.max_accept`` holds back of it, NaN where no enforced
        point limits it), in the current grid and budget state — ``_trade``'s arithmetic on
        arrays."""
        want = np.minimum(self.left, self.kw[chunk])
        qty = np.minimum(want, self.budget.caps(chunk))
        held = np.full(chunk.size, np.nan)
        if self.guard is not None:
            room, limited = self.guard.room_kw(self.isp[chunk], self.pos[chunk],
                                               self.sign[chunk])
            ok = np.maximum(0.0, np.minimum(qty, room))
            held = np.where(limited, qty - ok, np.nan)
            qty = np.where(limited, ok, qty)
        cancel = ((self.seller[chunk] != party) & (self.price[chunk] <= bid)
                  & (qty < want - 1e-9) & (qty < MIN_QUANTITY_KW))
        return cancel, held


class _BudgetWalk:
    """The energy budgets during one book walk: what offer ``i`` (the walk's ``i``-th of the
    pool's ``rows``) may still sell (``cap_kw``; ``caps`` for several) and the booking of
    its fills (``use``), on a local copy of what is left; the pool books the stage's trades
    after the walk (``OfferPool.take``)."""

    def __init__(self, pool: OfferPool, rows: np.ndarray) -> None:
        pos, k, w = pool.energy.entries_at(pool.codes()[rows])
        self.h = pool.energy.isp_hours
        self.left_kwh = pool.energy.left_kwh.copy()
        order = np.argsort(pos, kind="stable")
        pos, self.k, self.w = pos[order], k[order], w[order]
        self.start = np.searchsorted(pos, np.arange(rows.size + 1))

    def cap_kw(self, i: int) -> float:
        a, b = self.start[i], self.start[i + 1]
        if a == b:
            return np.inf
        return float((self.left_kwh[self.k[a:b]] / (self.w[a:b] * self.h)).min())

    def caps(self, rows: np.ndarray) -> np.ndarray:
        """[n] ``cap_kw`` of each of ``rows``, as arrays (the same arithmetic)."""
        a, count = self.start[rows], self.start[rows + 1] - self.start[rows]
        out = np.full(rows.size, np.inf)
        has = count > 0
        if has.any():
            count = count[has]
            first = np.cumsum(count) - count  # each offer's first place in ``entry``
            entry = np.arange(count.sum()) + np.repeat(a[has] - first, count)
            out[has] = np.minimum.reduceat(
                self.left_kwh[self.k[entry]] / (self.w[entry] * self.h), first)
        return out

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
