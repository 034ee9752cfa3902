"""Hand-checkable golden sequences of the continuous double-sided auction (paper §6.2, [66])."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from localflex.domain import Direction, TimeGrid
from localflex.market.continuous import (
    SNAPSHOT_COLUMNS,
    TRADE_COLUMNS,
    ContinuousMarket,
    GateClosedError,
    OrderStatus,
    Product,
    Side,
    UnknownOrderError,
)

P = Product("cp-1", Direction.UP, 1)


def market() -> ContinuousMarket:
    return ContinuousMarket(n_isps=4)  # 15-min ISPs: 0.25 h


def fills(result):
    return [(t.buy_order_id, t.sell_order_id, t.price_eur_per_mwh, t.quantity_kw)
            for t in result.trades]


def test_price_time_priority_and_partial_fill():
    m = market()
    m.submit("A", P, "sell", 50.0, 10.0, order_id="s1")
    m.submit("B", P, "sell", 50.0, 10.0, order_id="s2")
    m.submit("C", P, "sell", 49.0, 5.0, order_id="s3")
    r = m.submit("D", P, "buy", 50.0, 12.0, order_id="b1")
    # best price first (s3 @ 49), then the older order at 50 (s1 before s2); maker prices
    assert fills(r) == [("b1", "s3", 49.0, 5.0), ("b1", "s1", 50.0, 7.0)]
    assert r.status is OrderStatus.FILLED and r.filled_kw == 12.0 and r.resting_kw == 0.0
    snap = m.snapshot(P)
    assert list(snap.columns) == list(SNAPSHOT_COLUMNS)
    assert snap[["order_id", "quantity_kw", "filled_kw"]].values.tolist() == [
        ["s1", 3.0, 7.0], ["s2", 10.0, 0.0]
    ]
    assert m.best_ask(P) == 50.0 and m.best_bid(P) is None
    # the aggressor's remainder rests when nothing is left at its limit
    r = m.submit("D", P, "buy", 50.0, 20.0, order_id="b2")
    assert fills(r) == [("b2", "s1", 50.0, 3.0), ("b2", "s2", 50.0, 10.0)]
    assert r.status is OrderStatus.RESTING and r.resting_kw == 7.0
    assert m.best_bid(P) == 50.0 and m.best_ask(P) is None


def test_sell_aggressor_hits_best_bid_first():
    m = market()
    m.submit("A", P, "buy", 60.0, 5.0, order_id="b1")
    m.submit("B", P, "buy", 70.0, 5.0, order_id="b2")
    r = m.submit("C", P, "sell", 55.0, 8.0, order_id="s1")
    assert fills(r) == [("b2", "s1", 70.0, 5.0), ("b1", "s1", 60.0, 3.0)]
    assert all(t.aggressor is Side.SELL for t in r.trades)
    assert [t.buyer_id for t in r.trades] == ["B", "A"]
    assert [t.seller_id for t in r.trades] == ["C", "C"]


def test_ioc_remainder_is_cancelled():
    m = market()
    m.submit("A", P, "sell", 50.0, 4.0, order_id="s1")
    r = m.submit("B", P, "buy", 55.0, 10.0, "ioc", order_id="b1")
    assert fills(r) == [("b1", "s1", 50.0, 4.0)]
    assert r.status is OrderStatus.CANCELLED
    assert (r.filled_kw, r.resting_kw, r.cancelled_kw) == (4.0, 0.0, 6.0)
    assert m.snapshot(P).empty and not m.is_resting("b1")
    # IOC with nothing to match: fully cancelled, no trade
    r = m.submit("B", P, "buy", 55.0, 3.0, "ioc", order_id="b2")
    assert r.status is OrderStatus.CANCELLED and r.cancelled_kw == 3.0 and not r.trades


def test_fok_all_or_nothing():
    m = market()
    m.submit("A", P, "sell", 50.0, 4.0, order_id="s1")
    m.submit("B", P, "sell", 52.0, 4.0, order_id="s2")
    m.submit("C", P, "sell", 51.0, 4.0, order_id="own")  # the FOK buyer's own order
    before = m.snapshot(P)
    seq = m.sequence
    # 8 kW of other parties' orders cross 52: 9 kW cannot be filled -> killed, nothing changes
    r = m.submit("C", P, "buy", 52.0, 9.0, "fok", order_id="f1")
    assert r.status is OrderStatus.KILLED and not r.trades and r.cancelled_kw == 9.0
    pd.testing.assert_frame_equal(m.snapshot(P), before)
    assert m.trade_count == 0 and m.sequence == seq + 1
    # 8 kW can: filled at the makers' prices; the own order met on the way is cancelled
    r = m.submit("C", P, "buy", 52.0, 8.0, "fok", order_id="f2")
    assert r.status is OrderStatus.FILLED
    assert fills(r) == [("f2", "s1", 50.0, 4.0), ("f2", "s2", 52.0, 4.0)]
    assert r.self_trade_cancelled == ["own"]
    assert m.snapshot(P).empty


def test_modify_decrease_keeps_priority():
    m = market()
    m.submit("A", P, "sell", 50.0, 10.0, order_id="s1")
    m.submit("B", P, "sell", 50.0, 10.0, order_id="s2")
    r = m.modify("s1", quantity_kw=6.0)
    assert r.status is OrderStatus.RESTING and r.resting_kw == 6.0
    r = m.submit("C", P, "buy", 50.0, 6.0, order_id="b1")
    assert fills(r) == [("b1", "s1", 50.0, 6.0)]


def test_modify_increase_and_price_lose_priority():
    m = market()
    m.submit("A", P, "sell", 50.0, 10.0, order_id="s1")
    m.submit("B", P, "sell", 50.0, 10.0, order_id="s2")
    m.modify("s1", quantity_kw=11.0)  # increase: behind s2
    r = m.submit("C", P, "buy", 50.0, 5.0, order_id="b1")
    assert fills(r) == [("b1", "s2", 50.0, 5.0)]
    m.modify("s2", price_eur_per_mwh=49.0)  # better price, re-queued at its new level
    m.modify("s2", price_eur_per_mwh=50.0)  # back at 50: now behind s1
    r = m.submit("C", P, "buy", 50.0, 12.0, order_id="b2")
    assert fills(r) == [("b2", "s1", 50.0, 11.0), ("b2", "s2", 50.0, 1.0)]
    assert m.order("s2").quantity_kw == 10.0 and m.order("s2").filled_kw == 6.0


def test_modify_to_crossing_price_trades_at_maker_price():
    m = market()
    m.submit("A", P, "buy", 60.0, 5.0, order_id="b1")
    m.submit("B", P, "sell", 65.0, 8.0, order_id="s1")
    r = m.modify("s1", price_eur_per_mwh=58.0)
    assert fills(r) == [("b1", "s1", 60.0, 5.0)]
    assert r.status is OrderStatus.RESTING and r.resting_kw == 3.0
    assert m.best_ask(P) == 58.0 and m.best_bid(P) is None


def test_cancel_and_unknown_ids():
    m = market()
    m.submit("A", P, "sell", 50.0, 10.0, order_id="s1")
    cancelled = m.cancel("s1")
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.remaining_kw == 10.0
    assert m.snapshot(P).empty and m.best_ask(P) is None
    for call in (lambda: m.cancel("s1"), lambda: m.modify("s1", quantity_kw=1.0),
                 lambda: m.cancel("nope"), lambda: m.order("nope"), lambda: m.cancel(["x"])):
        with pytest.raises(UnknownOrderError) as err:
            call()
        assert err.value.field == "order_id"
        assert "order_id" in str(err.value)
    with pytest.raises(UnknownOrderError, match="'nope'"):
        m.cancel("nope")


def test_self_trade_prevention_cancels_resting():
    m = market()
    m.submit("A", P, "sell", 50.0, 5.0, order_id="s1")
    m.submit("B", P, "sell", 51.0, 5.0, order_id="s2")
    r = m.submit("A", P, "buy", 51.0, 7.0, order_id="b1")
    assert r.self_trade_cancelled == ["s1"]
    assert fills(r) == [("b1", "s2", 51.0, 5.0)]
    assert r.status is OrderStatus.RESTING and r.resting_kw == 2.0
    assert not m.is_resting("s1")
    # own order alone across: cancelled, the new order rests, the book is not crossed
    m.submit("A", P, "sell", 55.0, 1.0, order_id="s3")
    r = m.submit("A", P, "sell", 51.0, 1.0, order_id="s4")
    assert r.self_trade_cancelled == ["b1"] and not r.trades
    assert m.best_bid(P) is None and m.best_ask(P) == 51.0


def test_gate_closure():
    grid = TimeGrid(datetime(2024, 5, 1, tzinfo=UTC), n_isps=4)
    m = ContinuousMarket(grid)
    other = Product("cp-1", Direction.UP, 2)
    m.submit("A", P, "sell", 50.0, 10.0, order_id="s1")
    m.submit("B", P, "buy", 40.0, 10.0, order_id="b1")
    m.submit("A", other, "sell", 50.0, 10.0, order_id="s2")
    assert m.is_gate_open(1)
    assert m.close_gate(1) == ["b1", "s1"]
    assert not m.is_gate_open(1) and m.gate_time(1) == "2024-05-01T00:15:00+00:00"
    assert m.snapshot(P).empty and m.is_resting("s2")
    with pytest.raises(GateClosedError) as err:
        m.submit("B", ("cp-1", "down", 1), "buy", 60.0, 1.0)
    assert err.value.field == "isp" and err.value.value == 1
    assert "ISP 1" in str(err.value) and "2024-05-01T00:15:00+00:00" in str(err.value)
    with pytest.raises(UnknownOrderError):
        m.modify("s1", price_eur_per_mwh=45.0)
    assert m.close_gate(1) == []  # idempotent
    assert m.close_gate(2, gate_time="2024-05-01T00:20:00Z") == ["s2"]
    with pytest.raises(GateClosedError, match="00:20:00Z"):
        m.submit("A", other, "sell", 50.0, 1.0)


def test_tape_money_and_determinism():
    def run() -> ContinuousMarket:
        m = ContinuousMarket(n_isps=4)
        m.submit("agg-1", P, "sell", 80.0, 100.0, order_id="s1", timestamp="t0")
        m.submit("agg-2", P, "sell", 90.0, 100.0, order_id="s2", timestamp="t1")
        m.submit("brp-1", P, "buy", 95.0, 150.0, order_id="b1", timestamp="t2")
        return m

    m = run()
    tape = m.trades_frame()
    assert list(tape.columns) == list(TRADE_COLUMNS)
    assert tape["trade_id"].tolist() == ["T1", "T2"] and tape["seq"].tolist() == [3, 3]
    assert tape["timestamp"].tolist() == ["t2", "t2"]
    # 100 kW x 0.25 h x 80 EUR/MWh / 1000 = 2.0 EUR; 50 kW x 0.25 h x 90 / 1000 = 1.125 EUR
    assert tape["value_eur"].tolist() == [2.0, 1.125]
    assert tape["energy_kwh"].tolist() == [25.0, 12.5]
    balances = m.balances().set_index("party_id")
    assert balances.loc["brp-1", "paid_eur"] == 3.125
    assert balances.loc["agg-1", "received_eur"] == 2.0
    assert balances["net_eur"].sum() == pytest.approx(0.0)
    assert run().trades == m.trades  # same events, same tape and ids


def test_auto_ids_and_empty_frames():
    m = market()
    r1 = m.submit("A", P, "sell", 50.0, 1.0)
    r2 = m.submit("B", P, "sell", 51.0, 1.0, order_id="O3")
    r3 = m.submit("C", P, "sell", 52.0, 1.0)
    r4 = m.submit("C", P, "sell", 52.0, 1.0)
    assert (r1.order_id, r2.order_id, r3.order_id, r4.order_id) == ("O1", "O3", "O2", "O4")
    empty = ContinuousMarket(n_isps=1)
    assert list(empty.snapshot().columns) == list(SNAPSHOT_COLUMNS)
    assert list(empty.trades_frame().columns) == list(TRADE_COLUMNS)
    assert empty.balances().empty
    assert empty.snapshot(("x", "up", 0)).empty and empty.best_bid(("x", "up", 0)) is None
