"""Hypothesis properties of the designs: money balances, and a guarded stage never pushes a
point past its limit where it was within (nor makes an overloaded point worse)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from design_builders import small_input, synthetic_offers
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.market.designs import (
    DesignParams,
    GridGuard,
    brp_requests,
    run_designs,
    tso_requests,
)

DESIGNS = "no_coupling_micro,conditional_usef,sequential_dso_first,sequential_brp_first," \
          "tso_dso_shared_balancing,tso_dso_integrated"


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), imbalance=st.floats(1.0, 60.0))
def test_money_balances_in_every_design(seed, imbalance):
    base = small_input()
    lv = base.offers["bus"].unique()
    rng = np.random.default_rng(seed)
    params = DesignParams(brp_imbalance_kw=imbalance)
    inp = base.with_offers(synthetic_offers(np.sort(lv), base.n_isps, seed)).with_requests(
        pd.concat([brp_requests(rng, base.n_isps, params),
                   tso_requests(rng, base.n_isps, params)], ignore_index=True))
    h = inp.isp_hours / 1000.0
    for r in run_designs(inp, DESIGNS):
        t = r.trades
        energy = t["power_kw"].to_numpy() * h
        paid, received = t["paid_eur"].to_numpy(), t["received_eur"].to_numpy()
        assert abs(paid.sum() - received.sum() - r.kpis["operator_surplus_eur"]) < 1e-9
        assert r.kpis["operator_surplus_eur"] >= -1e-9, r.design
        assert (received >= t["ask_eur_per_mwh"].to_numpy() * energy - 1e-9).all(), r.design
        bid = t["bid_eur_per_mwh"].to_numpy()
        by_bidder = np.isfinite(bid) & (t["buyer_id"].to_numpy() != inp.dso_id)
        assert (paid[by_bidder] <= bid[by_bidder] * energy[by_bidder] + 1e-9).all(), r.design
        sold = t[t["offer_id"] != ""].groupby("offer_id")["power_kw"].sum()
        offered = inp.offers.set_index("offer_id")["max_power_kw"].reindex(sold.index)
        assert (sold <= offered + 1e-6).all(), r.design


trade = st.tuples(st.integers(0, 11), st.integers(0, 13), st.sampled_from([1.0, -1.0]),
                  st.floats(0.0, 200.0))


@settings(max_examples=40, deadline=None)
@given(trades=st.lists(trade, min_size=1, max_size=30), safety=st.floats(0.0, 5.0))
def test_guard_never_pushes_a_point_past_its_limit(trades, safety):
    inp = small_input()
    guard = GridGuard(inp, safety_kw=safety)
    lv = np.sort(inp.offers["bus"].unique())
    for isp, b, sign, want in trades:
        pos = int(guard.bus_pos(lv[b % lv.size])[()])
        before = guard.head_kw[isp].copy()
        q = guard.max_accept(isp, pos, sign, want)
        assert 0.0 <= q <= want
        guard.apply(isp, pos, sign, q)
        after = guard.head_kw[isp]
        floor = np.minimum(before, safety)
        assert (after >= floor - 1e-7).all()
        # relieving trades are never cut
        if (guard.coeff(isp, pos, sign) >= 0).all():
            assert q == want


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10_000), imbalance=st.floats(1.0, 60.0))
def test_the_same_request_served_at_the_same_price_costs_the_same_in_every_design(
        seed, imbalance):
    """One stated pricing rule per stage (ledger.PRICING_RULES): every design whose rules do
    not say otherwise (all but the uniform-price micro-market and the regulated backups)
    prices a fill at the seller's ask, so a request served by the same offer moves the same
    money per MWh whatever the design — the buyer's payment plus any DSO top-up equals what
    the seller receives."""
    from localflex.market.designs import DESIGNS
    from localflex.market.designs.ledger import PAY_AS_OFFER

    base = small_input()
    rng = np.random.default_rng(seed)
    params = DesignParams(brp_imbalance_kw=imbalance)
    inp = base.with_offers(synthetic_offers(np.sort(base.offers["bus"].unique()), base.n_isps,
                                            seed)).with_requests(
        pd.concat([brp_requests(rng, base.n_isps, params),
                   tso_requests(rng, base.n_isps, params)], ignore_index=True))
    h = inp.isp_hours / 1000.0
    per_mwh = {}
    for r in run_designs(inp, [d for d in DESIGNS if d != "no_coupling_micro"]):
        t = r.trades[r.trades["pricing"] == PAY_AS_OFFER]
        assert set(r.trades["pricing"]) <= {PAY_AS_OFFER, "regulated", "availability"}, r.design
        served = t[t["request_id"] != ""]
        money = served.groupby(["stage", "request_id", "offer_id"]).agg(
            paid=("paid_eur", "sum"), received=("received_eur", "sum"),
            kw=("power_kw", "sum"), ask=("ask_eur_per_mwh", "first"))
        np.testing.assert_allclose(money["paid"], money["received"], atol=1e-9,
                                   err_msg=r.design)
        np.testing.assert_allclose(money["received"], money["ask"] * money["kw"] * h,
                                   atol=1e-9, err_msg=r.design)
        price = (money["paid"] / (money["kw"] * h)).groupby(["request_id", "offer_id"]).mean()
        per_mwh[r.design] = price
        assert r.kpis["pricing"] and all(
            rule in (PAY_AS_OFFER, "regulated", "availability")
            for rule in (p.split("=")[1] for p in r.kpis["pricing"].split("; "))), r.design
    both = pd.concat(per_mwh, axis=1)
    spread = both.max(axis=1) - both.min(axis=1)
    assert (spread.fillna(0.0) < 1e-6).all()
    assert both.notna().sum(axis=1).max() >= 3  # pairs served in several designs compared
