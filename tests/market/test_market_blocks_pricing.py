"""Linked offers (blocks) and pay-as-clear pricing of the DSO single-buyer clearing."""

from __future__ import annotations

import numpy as np
import pytest
from market_builders import make_needs, make_offers

from localflex.domain import InputError, OfferError
from localflex.market import clear_dso_single_buyer, money_balance_eur


def one_point(overload_kw, relief, n_isps=1, headroom=None):
    return make_needs(cp_ids=["cp:0"], overload_kw=np.array(overload_kw, dtype=float).reshape(
        n_isps, 1), relief=np.array(relief, dtype=float).reshape(n_isps, 1, -1),
        bus_ids=list(range(1, np.array(relief).reshape(n_isps, 1, -1).shape[2] + 1)),
        headroom_kw=headroom)


def with_blocks(offers, blocks, same_aggregator=True):
    offers = offers.copy()
    offers["block_id"] = blocks
    if same_aggregator:
        offers["aggregator_id"] = "agg"
    return offers


def test_block_members_share_one_fraction_across_isps():
    # Need 30 kW in ISP 0 only. Block b: 60 kW activation in ISP 0 + 40 kW rebound in ISP 1.
    needs = one_point([30.0, 0.0], [[1.0], [1.0]], n_isps=2)
    offers = with_blocks(make_offers([("act", 1, 0, "up", 60, 100), ("reb", 1, 1, "down", 40, 10)]),
                         ["b", "b"])
    result = clear_dso_single_buyer(offers, needs, n_isps=2)
    got = result.awards.set_index("offer_id")["power_kw"]
    assert got["act"] == pytest.approx(30.0)
    assert got["reb"] == pytest.approx(20.0)  # same fraction 0.5, although it relieves nothing
    assert result.total_cost_eur == pytest.approx((30 * 100 + 20 * 10) * 0.25 / 1000)


def test_block_rebound_that_aggravates_is_limited_by_headroom():
    # The rebound (down at a point with forward relief) eats headroom in ISP 1: 10 kW left.
    needs = one_point([30.0, 0.0], [[1.0], [1.0]], n_isps=2, headroom=np.array([[np.nan], [10.0]]))
    offers = with_blocks(make_offers([("act", 1, 0, "up", 60, 100), ("reb", 1, 1, "down", 40, 10),
                                      ("alt", 1, 0, "up", 100, 900)]), ["b", "b", ""])
    result = clear_dso_single_buyer(offers, needs, n_isps=2)
    got = result.awards.set_index("offer_id")["power_kw"]
    assert got["reb"] == pytest.approx(10.0)  # f = 0.25
    assert got["act"] == pytest.approx(15.0)
    assert got["alt"] == pytest.approx(15.0)
    assert result.shortfalls.empty


def test_block_with_minimum_is_all_or_nothing():
    needs = one_point([30.0], [[1.0, 1.0]])
    rows = [("a1", 1, 0, "up", 40, 50, 5.0), ("a2", 2, 0, "up", 40, 50), ("c", 1, 0, "up", 100, 60)]
    offers = with_blocks(make_offers(rows), ["b", "b", ""])
    result = clear_dso_single_buyer(offers, needs, n_isps=1)
    got = result.awards.set_index("offer_id")["power_kw"]
    # all-or-nothing block = 80 kW for 30 needed costs 4000; the divisible 'c' costs 1800.
    assert "a1" not in got and got["c"] == pytest.approx(30.0)
    needs_big = one_point([170.0], [[1.0, 1.0]])
    result = clear_dso_single_buyer(offers, needs_big, n_isps=1)
    got = result.awards.set_index("offer_id")["power_kw"]
    assert got["a1"] == pytest.approx(40.0) and got["a2"] == pytest.approx(40.0)
    assert got["c"] == pytest.approx(90.0)


def test_block_with_a_member_above_cap_is_excluded():
    needs = one_point([30.0], [[1.0, 1.0]])
    offers = with_blocks(make_offers([("a1", 1, 0, "up", 40, 50), ("a2", 2, 0, "up", 40, 500),
                                      ("c", 1, 0, "up", 100, 60)]), ["b", "b", ""])
    result = clear_dso_single_buyer(offers, needs, n_isps=1, max_price_eur_per_mwh=100)
    assert set(result.awards["offer_id"]) == {"c"}
    status = result.merit_order.set_index("offer_id")["status"]
    assert status["a1"] == "block has an offer above the price cap"
    assert status["a2"] == "above price cap"


def test_block_of_two_aggregators_is_rejected():
    offers = with_blocks(make_offers([("a1", 1, 0, "up", 40, 50), ("a2", 2, 0, "up", 40, 50)]),
                         ["b", "b"], same_aggregator=False)
    with pytest.raises(OfferError, match="block_id"):
        clear_dso_single_buyer(offers, one_point([30.0], [[1.0, 1.0]]), n_isps=1)


def test_pay_as_clear_uniform_price_per_point():
    # Two points; offers at bus 1 relieve cp:0 only, at bus 2 cp:1 only, at bus 3 both.
    relief = np.array([[[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]])
    needs = make_needs(cp_ids=["cp:0", "cp:1"], overload_kw=np.array([[50.0, 20.0]]),
                       relief=relief, bus_ids=[1, 2, 3])
    offers = make_offers([("x", 1, 0, "up", 30, 40), ("y", 1, 0, "up", 30, 70),
                          ("z", 2, 0, "up", 30, 90), ("w", 3, 0, "up", 10, 20)])
    bid = clear_dso_single_buyer(offers, needs, n_isps=1)
    clear = clear_dso_single_buyer(offers, needs, n_isps=1, pricing="pay_as_clear")
    pd_bid = bid.awards.set_index("offer_id")
    pd_clr = clear.awards.set_index("offer_id")
    assert np.allclose(pd_bid["power_kw"], pd_clr["power_kw"])  # same allocation
    prices = clear.prices.set_index("location")["price_eur_per_mwh"]
    assert prices["cp:0"] == 70.0 and prices["cp:1"] == 90.0  # highest accepted there
    paid = pd_clr["price_eur_per_mwh"]
    assert paid["x"] == 70.0 and paid["y"] == 70.0 and paid["z"] == 90.0
    assert paid["w"] == 90.0  # relieves both points: the higher of their prices
    assert (paid >= pd_bid["price_eur_per_mwh"]).all()
    assert clear.total_cost_eur == pytest.approx(
        (pd_clr["power_kw"] * paid).sum() * 0.25 / 1000)
    outcome = clear.outcome()
    assert money_balance_eur(outcome) == pytest.approx(0.0, abs=1e-9)
    assert outcome.cost_eur == pytest.approx(clear.total_cost_eur)


def test_bad_pricing_and_missing_needs():
    offers = make_offers([("x", 1, 0, "up", 30, 40)])
    with pytest.raises(InputError, match="pricing"):
        clear_dso_single_buyer(offers, one_point([1.0], [[1.0]]), n_isps=1, pricing="vickrey")
    with pytest.raises(InputError, match="needs"):
        clear_dso_single_buyer(offers, None, n_isps=1)
