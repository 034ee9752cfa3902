"""The design trade tape books money in whole cents: every stage's total rounded once and
split by largest remainder (buyer, seller, trade); the totals are conserved (``ledger``)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest
from design_builders import small_input, synthetic_offers
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.market.designs import DESIGNS, run_designs
from localflex.market.designs.ledger import trade_cents
from localflex.settlement.ledger import nested_cents


def exact_cents(amount_eur: float) -> int:
    """A computed amount to the cent, half away from zero, in decimal arithmetic."""
    d = Decimal(repr(float(amount_eur))) * 100
    return int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture(scope="module")
def results():
    return {r.design: r for r in run_designs(small_input())}


def _check_tape(t: pd.DataFrame) -> None:
    assert t["paid_cents"].dtype == np.int64 and t["received_cents"].dtype == np.int64
    for eur, cents in (("paid_eur", "paid_cents"), ("received_eur", "received_cents")):
        # each stage's total is its computed amount to the cent
        by_stage = t.groupby("stage").agg(e=(eur, "sum"), c=(cents, "sum"))
        for stage, row in by_stage.iterrows():
            assert row["c"] == exact_cents(row["e"]), (eur, stage)
        # every buyer of a stage, every pair and every trade: the floor or the ceiling
        for keys in (["stage", "buyer_id"], ["stage", "buyer_id", "seller_id"]):
            g = t.groupby(keys).agg(e=(eur, "sum"), c=(cents, "sum"))
            exact = g["e"].to_numpy() * 100
            assert (np.abs(g["c"].to_numpy() - exact) < 1 + 1e-6).all(), (eur, keys)
        assert (np.abs(t[cents].to_numpy() - t[eur].to_numpy() * 100) < 1 + 1e-6).all()
    # a stage that pays every seller what its buyer pays books the same cents on both sides
    same = t.groupby("stage")[["paid_eur", "received_eur"]].apply(
        lambda g: bool((g["paid_eur"] == g["received_eur"]).all()))
    for stage in same[same].index:
        s = t[t["stage"] == stage]
        assert (s["paid_cents"] == s["received_cents"]).all(), stage


def test_every_design_books_whole_cents_that_conserve_each_stage(results):
    assert list(results) == list(DESIGNS)
    for name, r in results.items():
        t = r.trades
        _check_tape(t)
        k = r.kpis
        paid = t["paid_cents"].to_numpy()
        buyer = t["buyer_id"].to_numpy()
        assert k["dso_cost_cents"] == int(paid[buyer == small_input().dso_id].sum()), name
        assert k["seller_revenue_cents"] == int(t["received_cents"].sum()), name
        assert k["dso_cost_cents"] + k["tso_cost_cents"] + k["brp_cost_cents"] == int(
            paid.sum()), name
        assert k["seller_revenue_cents"] + k["operator_surplus_cents"] == int(paid.sum())
        assert k["operator_surplus_cents"] >= 0, name


def test_the_dso_statement_equals_its_computed_amount_to_the_cent(results):
    """The DSO is the lone buyer of its clearing stages: its statement for such a stage is
    the amount the clearing computed, rounded once."""
    checked = 0
    for r in results.values():
        t = r.trades
        for stage, s in t.groupby("stage"):
            if set(s["buyer_id"]) == {small_input().dso_id}:
                assert int(s["paid_cents"].sum()) == exact_cents(s["paid_eur"].sum()), stage
                checked += 1
    assert checked >= len(results)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_cents_conserve_on_other_offers(seed):
    base = small_input()
    lv = np.sort(base.offers["bus"].unique())
    inp = base.with_offers(synthetic_offers(lv, base.n_isps, seed))
    for r in run_designs(inp, "no_coupling_micro,conditional_usef,tso_dso_integrated,"
                              "flech_sequential"):
        _check_tape(r.trades)


def test_nested_cents_rounds_each_total_once():
    amount = np.array([0.005, 0.005, 0.004, -0.013, 1.234567, 0.1 + 0.2])
    stage = np.array(["a"] * 6)
    buyer = np.array(["d", "d", "d", "b", "b", "c"])
    cents = nested_cents(amount, [stage, buyer])
    assert cents.sum() == 154  # 1.535567 EUR rounded once
    assert list(cents) == [1, 1, 0, -1, 123, 30]
    # three half cents: 2 cents rounded once in total, not 3 rounded item by item
    assert list(nested_cents(np.full(3, 0.005), [np.zeros(3)])) == [1, 1, 0]
    assert list(nested_cents(np.full(3, -0.005), [np.zeros(3)])) == [0, -1, -1]
    assert nested_cents(np.zeros(0), [np.zeros(0)]).size == 0


def test_trade_cents_of_an_empty_tape():
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in ("stage", "buyer_id",
                                                                "seller_id")}).assign(
        paid_eur=pd.Series(dtype=float), received_eur=pd.Series(dtype=float))
    paid, received = trade_cents(empty)
    assert paid.size == received.size == 0
