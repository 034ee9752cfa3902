"""Hypothesis properties of the continuous auction on random event sequences.

Checked after every event: the book is never crossed; no fill exceeds the open quantity of
either order; total filled per order stays within its quantity; the trade price lies within
both orders' limits and equals the maker's price; each trade's money balances. Over the
sequence: the engine agrees with an independent naive model (``continuous_reference``) on
every outcome, the tape and the resting orders; the same events give the same tape and ids.
"""

from __future__ import annotations

import random

import pytest
from continuous_reference import ReferenceMarket
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.domain import Direction
from localflex.market.continuous import (
    ContinuousMarket,
    GateClosedError,
    OrderStatus,
    Product,
    UnknownOrderError,
)

PRODUCTS = [Product("a", Direction.UP, 0), Product("a", Direction.DOWN, 0),
            Product("b", Direction.UP, 1)]
PARTIES = ["p0", "p1", "p2"]
ISP_HOURS = 0.25
EPS = 1e-9

prices = st.integers(99, 101).map(float)  # few levels: queues form
quantities = st.integers(1, 40).map(lambda q: q / 2)  # halves: exact float arithmetic


@st.composite
def event(draw: st.DrawFn) -> tuple:
    """~60 % add, 20 % cancel, 18 % modify, 2 % gate closure (which ends an ISP's trading)."""
    roll = draw(st.integers(0, 99))
    if roll < 60:
        return ("add", draw(st.sampled_from(PARTIES)),
                draw(st.sampled_from([0, 0, 0, 1, 2])),
                draw(st.sampled_from(["buy", "sell"])), draw(prices), draw(quantities),
                draw(st.sampled_from(["limit", "limit", "limit", "ioc", "fok"])))
    if roll < 80:
        return ("cancel", draw(st.integers(0, 60)))
    if roll < 98:
        return ("modify", draw(st.integers(0, 60)), draw(st.none() | prices),
                draw(st.none() | quantities))
    return ("gate", draw(st.integers(0, 1)))


events = st.lists(event(), max_size=60)


class Harness:
    """Drives the engine and the reference side by side and checks the invariants."""

    def __init__(self) -> None:
        self.m = ContinuousMarket(n_isps=2)
        self.ref = ReferenceMarket(n_isps=2)
        self.ids: list[str] = []
        self.limit: dict[str, float] = {}  # current limit price per order
        self.open: dict[str, float] = {}  # open quantity of resting orders (harness view)
        self.cap: dict[str, float] = {}  # filled so far + open: the order's quantity
        self.filled: dict[str, float] = {}
        self.outcomes: list[str] = []

    def pick(self, k: int) -> str:
        """Mostly one of the last 10 orders (often still resting), sometimes an unknown id."""
        if not self.ids or k >= 50:
            return f"unknown-{k}"
        return self.ids[-1 - k % min(10, len(self.ids))]

    def apply(self, event: tuple) -> None:
        kind = event[0]
        if kind == "add":
            _, party, p, side, price, qty, order_type = event
            oid = f"o{len(self.ids)}"
            ref = self.ref.submit(party, PRODUCTS[p], side == "buy", price, qty, order_type,
                                  oid)
            try:
                r = self.m.submit(party, PRODUCTS[p], side, price, qty, order_type,
                                  order_id=oid)
            except GateClosedError:
                self.outcomes.append("rejected")
                assert ref == "rejected"
                return
            self.ids.append(oid)
            self.limit[oid], self.cap[oid], self.filled[oid] = price, qty, 0.0
            self.check(r, oid, side == "buy", qty)
            assert str(r.status) == ref
        elif kind == "cancel":
            oid = self.pick(event[1])
            ref = self.ref.cancel(oid)
            try:
                order = self.m.cancel(oid)
            except UnknownOrderError as err:
                assert err.value == oid and ref == "rejected"
                self.outcomes.append("rejected")
                return
            assert order.status is OrderStatus.CANCELLED and ref == "cancelled"
            assert order.remaining_kw == self.open.pop(oid)
            self.outcomes.append("cancelled")
        elif kind == "modify":
            _, k, price, qty = event
            if price is None and qty is None:
                qty = 1.0
            oid = self.pick(k)
            ref = self.ref.modify(oid, price, qty)
            try:
                before = self.m.order(oid)
                is_buy, open_before = before.is_buy, before.remaining_kw
                r = self.m.modify(oid, price_eur_per_mwh=price, quantity_kw=qty)
            except UnknownOrderError:
                assert ref == "rejected"
                self.outcomes.append("rejected")
                return
            if price is not None:
                self.limit[oid] = price
            new_open = open_before if qty is None else qty
            self.cap[oid] += new_open - open_before
            del self.open[oid]
            self.check(r, oid, is_buy, new_open)
            assert str(r.status) == ref
        else:
            isp = event[1]
            gone = self.m.close_gate(isp)
            assert set(gone) == set(self.ref.close_gate(isp))
            for oid in gone:
                del self.open[oid]
            assert all(p.isp != isp for p in self.m.products())
            self.outcomes.append(f"gate {isp}: {len(gone)}")
        self.check_book()

    def check(self, r, oid: str, is_buy: bool, open_kw: float) -> None:
        """Invariants of one add/modify result; update the harness view."""
        self.outcomes.append(str(r.status))
        for cancelled in r.self_trade_cancelled:
            del self.open[cancelled]
        aggressor_open = open_kw
        for t in r.trades:
            maker = t.sell_order_id if is_buy else t.buy_order_id
            assert (t.buy_order_id, t.sell_order_id)[not is_buy] == oid
            assert 0.0 < t.quantity_kw <= min(aggressor_open, self.open[maker]) + EPS
            assert t.price_eur_per_mwh == self.limit[maker]  # maker price
            buy_limit = self.limit[t.buy_order_id]
            sell_limit = self.limit[t.sell_order_id]
            assert sell_limit <= t.price_eur_per_mwh <= buy_limit
            assert t.buyer_id != t.seller_id
            assert t.value_eur == pytest.approx(
                t.price_eur_per_mwh * t.quantity_kw * ISP_HOURS / 1000.0, rel=1e-12
            )
            aggressor_open -= t.quantity_kw
            self.open[maker] -= t.quantity_kw
            if self.open[maker] <= EPS:
                del self.open[maker]
            for side_id in (t.buy_order_id, t.sell_order_id):
                self.filled[side_id] += t.quantity_kw
                assert self.filled[side_id] <= self.cap[side_id] + EPS
        assert r.filled_kw == pytest.approx(open_kw - aggressor_open, abs=EPS)
        assert r.resting_kw + r.cancelled_kw == pytest.approx(aggressor_open, abs=EPS)
        if r.status is OrderStatus.KILLED:
            assert not r.trades and not r.self_trade_cancelled
        if r.resting_kw > 0:
            self.open[oid] = r.resting_kw

    def check_book(self) -> None:
        for p in PRODUCTS:
            bid, ask = self.m.best_bid(p), self.m.best_ask(p)
            if bid is not None and ask is not None:
                assert bid < ask, (p, bid, ask)
        for oid, open_kw in self.open.items():
            assert self.m.order(oid).remaining_kw == pytest.approx(open_kw, abs=EPS)
        assert sum(1 for _ in self.open) == len(self.ref.orders)


def run(sequence: list[tuple]) -> Harness:
    h = Harness()
    for event in sequence:
        h.apply(event)
    return h


@settings(max_examples=120, deadline=None)
@given(events)
def test_invariants_and_agreement_with_reference(sequence):
    h = run(sequence)
    tape = [(t.product, t.buy_order_id, t.sell_order_id, t.price_eur_per_mwh, t.quantity_kw)
            for t in h.m.trades]
    assert tape == h.ref.trades
    resting = {r.order_id: r.open_kw for r in h.ref.orders}
    snap = h.m.snapshot()
    assert dict(zip(snap["order_id"], snap["quantity_kw"], strict=True)) == resting
    assert [t.trade_id for t in h.m.trades] == [f"T{i}" for i in range(1, len(tape) + 1)]
    seqs = [t.seq for t in h.m.trades]
    assert seqs == sorted(seqs)


@settings(max_examples=50, deadline=None)
@given(events)
def test_determinism_and_money(sequence):
    first, second = run(sequence), run(sequence)
    assert first.outcomes == second.outcomes
    assert first.m.trades == second.m.trades
    assert first.m.snapshot().equals(second.m.snapshot())
    trades = first.m.trades_frame()
    balances = first.m.balances()
    total = trades["value_eur"].sum()
    assert balances["paid_eur"].sum() == pytest.approx(total)
    assert balances["received_eur"].sum() == pytest.approx(total)
    assert balances["net_eur"].sum() == pytest.approx(0.0, abs=1e-9)
    expected = trades["price_eur_per_mwh"] * trades["energy_kwh"] / 1000.0
    assert ((trades["value_eur"] - expected).abs() < 1e-12).all()


def random_sequence(rng: random.Random, n: int) -> list[tuple]:
    """Seeded brute force beside Hypothesis: long sequences on a crowded book."""
    out: list[tuple] = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.6:
            out.append(("add", rng.choice(PARTIES), rng.choice([0, 0, 0, 1, 2]),
                        rng.choice(["buy", "sell"]), float(rng.randint(98, 102)),
                        rng.randint(1, 40) / 2,
                        rng.choice(["limit", "limit", "limit", "ioc", "fok"])))
        elif roll < 0.8:
            out.append(("cancel", rng.randint(0, 49)))
        elif roll < 0.995:
            out.append(("modify", rng.randint(0, 49),
                        rng.choice([None, float(rng.randint(98, 102))]),
                        rng.choice([None, rng.randint(1, 40) / 2])))
        else:
            out.append(("gate", rng.randint(0, 1)))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_random_sequences_agree_with_reference(seed):
    rng = random.Random(seed)
    for _ in range(40):
        h = run(random_sequence(rng, 150))
        tape = [(t.product, t.buy_order_id, t.sell_order_id, t.price_eur_per_mwh,
                 t.quantity_kw) for t in h.m.trades]
        assert tape == h.ref.trades
