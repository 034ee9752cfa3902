"""The book stage screens the offers ahead of its walk as arrays (``stages._BookWalk``): an
offer its budgets or the guard would cancel on arrival never enters the book. The trades,
their order, what the guard holds back and what the pool keeps must be those of the walk
that submits every offer it reaches and cancels it there (``_offer_by_offer`` below, the
stage as it was before the screening), with and without a guard, with tight energy
budgets, sellers that are also buyers (self-trade prevention) and a safety margin."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from design_builders import small_input

from localflex.market import EnergyBudgets
from localflex.market.continuous import MIN_QUANTITY_KW, ContinuousMarket, Side
from localflex.market.designs.ledger import GridGuard, OfferPool, TradeLog
from localflex.market.designs.stages import SYSTEM_AREA, arrival_order, book_stage


def _offer_by_offer(inp, pool, requests, guard):
    """[(sell id, buy id, buyer, seller, kW)] of the walk that submits each offer it
    reaches (the reference; budgets and guard checked offer by offer)."""
    offers = pool.available()
    req_key = 2 * requests["isp"].to_numpy(dtype=np.int64) + (
        requests["direction"].to_numpy() == "up")
    off_key = 2 * offers["isp"].to_numpy(dtype=np.int64) + (
        offers["direction"].to_numpy() == "up")
    offers = offers[np.isin(off_key, req_key)
                    & (offers["max_power_kw"].to_numpy() >= MIN_QUANTITY_KW)]
    offers = offers.sort_values(["price_eur_per_mwh", "offer_id"], kind="stable")
    market = ContinuousMarket(n_isps=inp.n_isps, isp_minutes=round(inp.isp_hours * 60))
    o_id = offers["offer_id"].to_numpy(dtype=object)
    o_seller = offers["aggregator_id"].to_numpy(dtype=object)
    o_price = offers["price_eur_per_mwh"].to_numpy(dtype=float)
    o_kw = offers["max_power_kw"].to_numpy(dtype=float)
    o_dir = offers["direction"].to_numpy(dtype=object)
    o_isp = offers["isp"].to_numpy(dtype=np.int64)
    o_pos = np.searchsorted(inp.bus_ids, offers["bus"].to_numpy(dtype=np.int64))
    pos, k, w = pool.energy.entries(o_id)
    left_kwh, h = pool.energy.left_kwh.copy(), pool.energy.isp_hours

    def cap_kw(i):
        mine = pos == i
        return float((left_kwh[k[mine]] / (w[mine] * h)).min()) if mine.any() else np.inf

    resting = {}
    for i in range(o_id.size):
        resting.setdefault((SYSTEM_AREA, str(o_dir[i]), int(o_isp[i])), []).append(i)
    rested, tape = {}, []
    for r in requests.iloc[arrival_order(inp, requests)].itertuples(index=False):
        product = (SYSTEM_AREA, r.direction, int(r.isp))
        left, bid, n_buy = float(r.power_kw), float(r.price_eur_per_mwh), 0
        for n, i in enumerate(resting.get(product, ())):
            if left < MIN_QUANTITY_KW:
                break
            if n >= rested.get(product, 0):
                market.submit(o_seller[i], product, Side.SELL, float(o_price[i]),
                              float(o_kw[i]), order_id=o_id[i])
                rested[product] = n + 1
            sign = 1.0 if o_dir[i] == "up" else -1.0
            if o_seller[i] == r.party_id or not market.is_resting(o_id[i]):
                continue
            order = market.order(o_id[i])
            if order.price_eur_per_mwh > bid:
                break
            want = min(left, order.remaining_kw)
            qty = min(want, cap_kw(i))
            qty = qty if guard is None else guard.max_accept(int(r.isp), int(o_pos[i]),
                                                             sign, qty)
            if qty < want - 1e-9:
                if qty < MIN_QUANTITY_KW:
                    market.cancel(o_id[i])
                    continue
                market.modify(o_id[i], quantity_kw=float(qty))
            if qty < MIN_QUANTITY_KW:
                continue
            res = market.submit(r.party_id, product, Side.BUY, bid, float(qty), "ioc",
                                order_id=f"{r.request_id}~{n_buy}")
            n_buy += 1
            filled = sum(t.quantity_kw for t in res.trades)
            if guard is not None:
                guard.apply(int(r.isp), int(o_pos[i]), sign, filled)
            left_kwh[k[pos == i]] -= w[pos == i] * filled * h
            left -= filled
            tape += [(t.sell_order_id, t.buy_order_id.rsplit("~", 1)[0], t.buyer_id,
                      t.seller_id, t.quantity_kw) for t in res.trades]
    return tape


def _scenario(seed: int, *, tight: bool, self_trade: bool, ties: bool = False):
    """The small input with seeded requests of the BRPs (and, with ``self_trade``, of the
    aggregators, which also sell), with ``tight`` energy budgets that bind (one per
    aggregator and bus, a few kWh, over all its offers there) and, with ``ties``, asks
    rounded to 10 EUR/MWh (many offers of a product at one price: merit order by id)."""
    inp = small_input()
    rng = np.random.default_rng(seed)
    if ties:
        shuffled = inp.offers.sample(frac=1.0, random_state=seed)  # ids out of row order
        inp = inp.with_offers(shuffled.assign(
            price_eur_per_mwh=shuffled["price_eur_per_mwh"].round(-1)))
    n = 40
    parties = ["BRP1", "BRP2"] + (["agg-a", "agg-b"] if self_trade else [])
    requests = pd.DataFrame({
        "request_id": [f"r{j}" for j in range(n)],
        "party_id": rng.choice(parties, n),
        "purpose": "market",
        "isp": rng.integers(0, inp.n_isps, n),
        "direction": rng.choice(["up", "down"], n),
        "power_kw": rng.uniform(5.0, 120.0, n).round(3),
        "price_eur_per_mwh": rng.uniform(60.0, 150.0, n).round(2),
    })
    inp = inp.with_requests(requests)
    if tight:
        offers = inp.offers
        unit = offers["aggregator_id"] + "/" + offers["bus"].astype(str)
        codes, names = pd.factorize(unit)
        budgets = EnergyBudgets(offer_id=offers["offer_id"].to_numpy(dtype=object),
                                budget=codes.astype(np.int64),
                                weight=rng.uniform(0.2, 1.0, len(offers)),
                                limit_kwh=rng.uniform(0.0, 6.0, len(names)))
        inp = replace(inp, energy_budgets=budgets)
    return inp


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("tight", [False, True])
@pytest.mark.parametrize("self_trade", [False, True])
@pytest.mark.parametrize("safety_kw", [None, 0.0, 20.0])
@pytest.mark.parametrize("ties", [False, True])
def test_the_screened_walk_trades_as_the_offer_by_offer_walk(seed, tight, self_trade,
                                                             safety_kw, ties):
    inp = _scenario(seed, tight=tight, self_trade=self_trade, ties=ties)
    requests = inp.requests

    def guard():
        return None if safety_kw is None else GridGuard(inp, safety_kw=safety_kw)

    ref_pool, ref_guard = OfferPool.of(inp), guard()
    expected = _offer_by_offer(inp, ref_pool, requests, ref_guard)
    pool, new_guard, log = OfferPool.of(inp), guard(), TradeLog(inp.isp_hours)
    trades = book_stage(inp, pool, requests, log, stage="s", guard=new_guard)
    got = ([] if trades.empty else list(zip(
        trades["offer_id"], trades["request_id"], trades["buyer_id"], trades["seller_id"],
        trades["power_kw"], strict=True)))
    assert got == expected  # same fills, same order, same kW to the bit
    assert expected  # the scenario trades
    if safety_kw is not None:
        assert new_guard.limited_kw == ref_guard.limited_kw
        np.testing.assert_array_equal(new_guard.head_kw, ref_guard.head_kw)


def test_the_walk_screens_out_what_the_guard_cancels():
    """With a guard that holds back nearly everything, most offers reached are cancelled:
    the screened walk books the same volume held back, to the bit."""
    inp = _scenario(4, tight=True, self_trade=False)
    ref_guard = GridGuard(inp, safety_kw=200.0)
    expected = _offer_by_offer(inp, OfferPool.of(inp), inp.requests, ref_guard)
    guard = GridGuard(inp, safety_kw=200.0)
    trades = book_stage(inp, OfferPool.of(inp), inp.requests, TradeLog(inp.isp_hours),
                        stage="s", guard=guard)
    assert len(trades) == len(expected)
    assert guard.limited_kw == ref_guard.limited_kw > 0
