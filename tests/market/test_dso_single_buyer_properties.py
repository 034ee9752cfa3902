"""Invariants of the DSO single-buyer clearing on random small markets (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from market_builders import make_needs, make_offers

from localflex.market import clear_dso_single_buyer, pay_as_bid_payments

TOL_KW = 1e-5


@st.composite
def markets(draw):
    n_isps = draw(st.integers(1, 3))
    n_cp = draw(st.integers(1, 3))
    n_bus = draw(st.integers(1, 4))
    shape = (n_isps, n_cp)
    relief = np.array(draw(st.lists(
        st.sampled_from([-1.0, -0.5, 0.0, 0.3, 0.5, 1.0]),
        min_size=n_isps * n_cp * n_bus, max_size=n_isps * n_cp * n_bus,
    ))).reshape(n_isps, n_cp, n_bus)
    overload = np.array(draw(st.lists(
        st.one_of(st.just(0.0), st.floats(1.0, 200.0)), min_size=n_cp * n_isps,
        max_size=n_cp * n_isps,
    ))).reshape(shape)
    headroom = np.array(draw(st.lists(
        st.one_of(st.just(np.nan), st.floats(0.0, 100.0)), min_size=n_cp * n_isps,
        max_size=n_cp * n_isps,
    ))).reshape(shape)
    bus_ids = list(range(100, 100 + n_bus))
    rows = draw(st.lists(
        st.tuples(
            st.sampled_from(bus_ids), st.integers(0, n_isps - 1), st.sampled_from(["up", "down"]),
            st.floats(0.0, 150.0), st.floats(-50.0, 1000.0), st.floats(0.0, 1.0),
            st.booleans(),
        ),
        max_size=12,
    ))
    # Every other offer (by draw) indivisible, with min_power_kw a share of max_power_kw.
    offers = make_offers([
        (f"o{i}", bus, isp, d, max_kw, price, min_share * max_kw if indivisible else 0.0)
        for i, (bus, isp, d, max_kw, price, min_share, indivisible) in enumerate(rows)
    ])
    cap = draw(st.one_of(st.none(), st.floats(0.0, 800.0)))
    needs = make_needs(cp_ids=[f"cp:{c}" for c in range(n_cp)], overload_kw=overload,
                       relief=relief, bus_ids=bus_ids, headroom_kw=headroom)
    return offers, needs, n_isps, cap


@settings(max_examples=80, deadline=None)
@given(markets())
def test_clearing_invariants(market):
    offers, needs, n_isps, cap = market
    result = clear_dso_single_buyer(offers, needs, n_isps=n_isps, max_price_eur_per_mwh=cap)
    awards = result.awards.merge(offers, on="offer_id", suffixes=("", "_offer"))
    assert len(awards) == len(result.awards)

    # No award exceeds its offer's volume; awards are positive.
    assert (awards["power_kw"] <= awards["max_power_kw"] + TOL_KW).all()
    assert (awards["power_kw"] >= 1e-6).all()
    # Indivisible minimums: 0 or at least min_power_kw.
    assert (awards["power_kw"] >= awards["min_power_kw"] - TOL_KW).all()
    # Pay-as-bid: each award pays exactly its own price, never more.
    assert np.allclose(awards["price_eur_per_mwh"], awards["price_eur_per_mwh_offer"])
    expected_cost = awards["power_kw"] * 0.25 * awards["price_eur_per_mwh_offer"] / 1000
    assert np.allclose(awards["cost_eur"], expected_cost)
    # Total cost is the sum of award costs, and the payments add up to it.
    assert result.total_cost_eur == pytest.approx(awards["cost_eur"].sum(), abs=1e-9)
    payments = pay_as_bid_payments(result.awards, "dso")
    assert payments["amount_eur"].sum() == pytest.approx(result.total_cost_eur, abs=1e-9)
    # Price cap respected.
    if cap is not None:
        assert (awards["price_eur_per_mwh"] <= cap).all()

    # Relief bought per (t, cp) from the awards.
    bus_pos = {b: i for i, b in enumerate(needs.bus_ids)}
    sign = np.where(awards["direction"] == "up", 1.0, -1.0)
    b = awards["bus"].map(bus_pos).to_numpy(dtype=int)
    t = awards["isp"].to_numpy(dtype=int)
    relief_bought = np.zeros(needs.overload_kw.shape)
    contrib = needs.relief_kw_per_kw_up[t, :, b] * (sign * awards["power_kw"].to_numpy())[:, None]
    np.add.at(relief_bought, t, contrib)

    # Every need is covered or has a shortfall row with covered + shortfall = need.
    short = result.shortfalls.set_index(["isp", "cp_id"])
    for ti, ci in zip(*np.nonzero(needs.overload_kw > 0), strict=True):
        need = needs.overload_kw[ti, ci]
        key = (ti, needs.cp_ids[ci])
        if key in short.index:
            row = short.loc[key]
            assert row["covered_kw"] + row["shortfall_kw"] == pytest.approx(need)
            assert row["shortfall_kw"] > 0
            assert row["cause"]
        else:
            assert relief_bought[ti, ci] >= need - TOL_KW
    # Headroom respected where the point is not overloaded.
    head = needs.headroom_kw
    free = (needs.overload_kw == 0) & np.isfinite(head)
    assert (relief_bought[free] >= -head[free] - TOL_KW).all()

    # The merit order shows every offer exactly once.
    assert sorted(result.merit_order["offer_id"]) == sorted(offers["offer_id"])
    merged = result.merit_order.merge(result.awards, on="offer_id", how="left")
    assert np.allclose(merged["accepted_kw"], merged["power_kw"].fillna(0.0))
    assert isinstance(result.merit_order, pd.DataFrame)
