"""Invariants of every mechanism on random small markets (Hypothesis): awards within offers,
price limits, pay-as-bid never above the offer, uniform prices between the marginal bids,
money balances, grid limits respected (linear model; the real power flow checks are in
test_market_micro_deflex_grid.py and test_market_voltage.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from market_builders import make_needs, make_offers

from localflex.market import (
    VoltageNeeds,
    clear_dso_single_buyer,
    clear_micro_market,
    distribution_areas,  # noqa: F401  (public surface import check)
    limit_trades,
    money_balance_eur,
    restriction_levels,
    run_flech,
)

TOL = 1e-5
prices = st.floats(-20.0, 500.0).map(lambda p: round(p, 1))


@st.composite
def single_buyer_markets(draw):
    n_isps, n_cp, n_bus = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    relief = np.array(draw(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]),
                                    min_size=n_isps * n_cp * n_bus,
                                    max_size=n_isps * n_cp * n_bus))).reshape(n_isps, n_cp, n_bus)
    overload = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(1.0, 100.0)),
                                      min_size=n_isps * n_cp, max_size=n_isps * n_cp)))
    headroom = np.array(draw(st.lists(st.one_of(st.just(np.nan), st.floats(0.0, 60.0)),
                                      min_size=n_isps * n_cp, max_size=n_isps * n_cp)))
    bus_ids = list(range(1, n_bus + 1))
    rows = draw(st.lists(st.tuples(st.sampled_from(bus_ids), st.integers(0, n_isps - 1),
                                   st.sampled_from(["up", "down"]), st.floats(0.0, 80.0), prices,
                                   st.sampled_from([0.0, 0.0, 0.5]), st.sampled_from(["", "", "b1",
                                                                                      "b2"])),
                         max_size=10))
    offers = make_offers([(f"o{i}", b, t, d, mx, p, share * mx)
                          for i, (b, t, d, mx, p, share, _) in enumerate(rows)])
    offers["block_id"] = [r[6] for r in rows]
    offers.loc[offers["block_id"] != "", "aggregator_id"] = "agg-block"
    dv = np.array(draw(st.lists(st.sampled_from([0.0, 1e-5, 5e-5]), min_size=n_bus * n_bus,
                                max_size=n_bus * n_bus))).reshape(n_bus, n_bus)
    lower = np.array(draw(st.lists(st.sampled_from([0.0, 0.0, 0.001]), min_size=n_isps * n_bus,
                                   max_size=n_isps * n_bus))).reshape(n_isps, n_bus)
    voltage = draw(st.sampled_from([None, VoltageNeeds(
        bus_ids=np.array(bus_ids), lower_pu=lower, raise_pu=np.zeros_like(lower),
        dv_pu_per_kw=dv, isp_hours=0.25, rise_headroom_pu=np.full_like(lower, 0.002),
        drop_headroom_pu=np.full_like(lower, 0.05))]))
    needs = make_needs(cp_ids=[f"cp:{c}" for c in range(n_cp)],
                       overload_kw=overload.reshape(n_isps, n_cp), relief=relief,
                       bus_ids=bus_ids, headroom_kw=headroom.reshape(n_isps, n_cp))
    cap = draw(st.one_of(st.none(), st.floats(0.0, 400.0)))
    pricing = draw(st.sampled_from(["pay_as_bid", "pay_as_clear"]))
    return offers, needs, voltage, n_isps, cap, pricing


@settings(max_examples=60, deadline=None)
@given(single_buyer_markets())
def test_single_buyer_invariants(market):
    offers, needs, voltage, n_isps, cap, pricing = market
    result = clear_dso_single_buyer(offers, needs, n_isps=n_isps, max_price_eur_per_mwh=cap,
                                    voltage=voltage, pricing=pricing)
    a = result.awards.merge(offers, on="offer_id", suffixes=("", "_offer"))
    assert (a["power_kw"] <= a["max_power_kw"] + TOL).all()
    assert (a["power_kw"] >= a["min_power_kw"] - TOL).all()
    if cap is not None:
        assert (a["price_eur_per_mwh_offer"] <= cap).all()
    if pricing == "pay_as_bid":
        assert np.allclose(a["price_eur_per_mwh"], a["price_eur_per_mwh_offer"])
    else:
        assert (a["price_eur_per_mwh"] >= a["price_eur_per_mwh_offer"] - 1e-9).all()
        # paid price = some accepted offer's price (the highest at a location it relieves)
        assert a["price_eur_per_mwh"].isin(a["price_eur_per_mwh_offer"]).all()
    assert np.allclose(a["cost_eur"], a["power_kw"] * 0.25 * a["price_eur_per_mwh"] / 1000)
    # blocks: one common fraction of max per block
    blk = a[a["block_id"] != ""]
    for _, members in offers[offers["block_id"] != ""].groupby("block_id"):
        got = members["offer_id"].map(blk.set_index("offer_id")["power_kw"]).fillna(0.0)
        frac = np.divide(got, members["max_power_kw"], out=np.zeros(len(got)),
                         where=members["max_power_kw"] > 0)
        live = members["max_power_kw"].to_numpy() > 1e-3
        if live.sum() > 1:
            assert np.ptp(frac[live]) < 1e-4
    outcome = result.outcome()
    assert money_balance_eur(outcome) == pytest.approx(0.0, abs=1e-9)
    assert outcome.cost_eur == pytest.approx(a["cost_eur"].sum(), abs=1e-9)
    # headroom never used beyond its limit (linear model)
    sign = np.where(a["direction"] == "up", 1.0, -1.0)
    pos = np.searchsorted(needs.bus_ids, a["bus"].to_numpy())
    for t in range(n_isps):
        m = a["isp"].to_numpy() == t
        change = (needs.relief_kw_per_kw_up[t][:, pos[m]] * (sign[m] * a["power_kw"].to_numpy()[m])
                  ).sum(axis=1)
        limited = (needs.overload_kw[t] == 0) & np.isfinite(needs.headroom_kw[t])
        assert (change[limited] >= -needs.headroom_kw[t][limited] - 1e-4).all()
        if voltage is not None:
            dvolt = (voltage.dv_pu_per_kw[:, pos[m]] * (sign[m] * a["power_kw"].to_numpy()[m])
                     ).sum(axis=1)
            assert (dvolt <= np.maximum(0.002, 0.0) + 1e-7).all()
            assert (dvolt >= -0.05 - 1e-7).all()


@st.composite
def double_auctions(draw):
    n_isps = draw(st.integers(1, 3))
    rows = draw(st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.integers(0, n_isps - 1),
                                   st.floats(0.0, 50.0), st.integers(0, 300).map(float)),
                         max_size=14))
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(len(rows))],
        "party_id": [f"p{i % 4}" for i in range(len(rows))],
        "side": [r[0] for r in rows], "bus": 1, "isp": [r[1] for r in rows],
        "power_kw": [r[2] for r in rows], "price_eur_per_mwh": [r[3] for r in rows],
    }).astype({"order_id": object, "party_id": object, "side": object, "bus": np.int64,
               "isp": np.int64, "power_kw": float, "price_eur_per_mwh": float})
    return orders, n_isps


@settings(max_examples=50, deadline=None)
@given(double_auctions())
def test_micro_market_uniform_price_invariants(auction):
    orders, n_isps = auction
    result = clear_micro_market(orders, n_isps=n_isps)
    t = result.trades
    full = orders.merge(t[["order_id", "traded_kw"]], on="order_id", how="left").fillna(
        {"traded_kw": 0.0})
    assert (full["traded_kw"] <= full["power_kw"] + TOL).all()
    price = result.prices.set_index("isp")["price_eur_per_mwh"]
    for isp, grp in full.groupby("isp"):
        buy, sell = grp[grp["side"] == "buy"], grp[grp["side"] == "sell"]
        assert buy["traded_kw"].sum() == pytest.approx(sell["traded_kw"].sum(), abs=1e-6)
        traded = grp["traded_kw"] > 0
        if not traded.any():
            continue
        p = price[isp]
        # between the marginal bids: every accepted buyer bids >= p, accepted seller asks <= p,
        # every rejected (part) buyer bids <= p, rejected seller asks >= p
        assert (buy.loc[buy["traded_kw"] > 0, "price_eur_per_mwh"] >= p - 1e-9).all()
        assert (sell.loc[sell["traded_kw"] > 0, "price_eur_per_mwh"] <= p + 1e-9).all()
        assert (buy.loc[buy["traded_kw"] < buy["power_kw"] - 1e-6, "price_eur_per_mwh"]
                <= p + 1e-9).all()
        assert (sell.loc[sell["traded_kw"] < sell["power_kw"] - 1e-6, "price_eur_per_mwh"]
                >= p - 1e-9).all()
    assert (t["clearing_price_eur_per_mwh"] == t["isp"].map(price)).all()
    assert result.congestion_rent_eur == pytest.approx(0.0, abs=1e-6)  # LP tolerance
    assert money_balance_eur(result.outcome()) == pytest.approx(0.0, abs=1e-9)
    assert result.welfare_eur >= -1e-9


@st.composite
def grid_auctions(draw):
    orders, n_isps = draw(double_auctions())
    n_bus, n_cp = 3, 2
    orders["bus"] = draw(st.lists(st.sampled_from([1, 2, 3]), min_size=len(orders),
                                  max_size=len(orders)))
    relief = np.array(draw(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]),
                                    min_size=n_isps * n_cp * n_bus,
                                    max_size=n_isps * n_cp * n_bus))).reshape(n_isps, n_cp, n_bus)
    headroom = np.array(draw(st.lists(st.floats(-20.0, 40.0), min_size=n_isps * n_cp,
                                      max_size=n_isps * n_cp))).reshape(n_isps, n_cp)
    needs = make_needs(cp_ids=["a", "b"], overload_kw=np.maximum(-headroom, 0.0), relief=relief,
                       bus_ids=[1, 2, 3], headroom_kw=headroom)
    return orders, n_isps, needs


@settings(max_examples=60, deadline=None)
@given(grid_auctions())
def test_micro_market_grid_constraints_and_lmps(auction):
    orders, n_isps, needs = auction
    result = clear_micro_market(orders, n_isps=n_isps, grid=needs)
    free = clear_micro_market(orders, n_isps=n_isps)
    assert result.welfare_eur <= free.welfare_eur + 1e-6
    t = result.trades
    inj = np.where(t["side"] == "sell", 1.0, -1.0) * t["traded_kw"].to_numpy()
    pos = t["bus"].to_numpy() - 1
    for isp in range(n_isps):
        m = t["isp"].to_numpy() == isp
        increase = -(needs.relief_kw_per_kw_up[isp][:, pos[m]] * inj[m]).sum(axis=1)
        limit = np.maximum(needs.headroom_kw[isp], 0.0)
        assert (increase <= limit + 1e-6).all()
    buy = t["side"] == "buy"
    assert (t.loc[buy, "clearing_price_eur_per_mwh"] <= t.loc[buy, "price_eur_per_mwh"] + 1e-6
            ).all()
    assert (t.loc[~buy, "clearing_price_eur_per_mwh"] >= t.loc[~buy, "price_eur_per_mwh"] - 1e-6
            ).all()
    assert result.congestion_rent_eur >= -1e-6
    assert money_balance_eur(result.outcome()) == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_flech_invariants(data):
    n_isps = data.draw(st.integers(1, 3))
    rows = data.draw(st.lists(st.tuples(st.integers(0, n_isps - 1), st.integers(0, 2),
                                        st.floats(1.0, 60.0), st.floats(0.0, 50.0),
                                        st.floats(0.0, 300.0)), max_size=5))
    avail = pd.DataFrame({
        "offer_id": [f"A{i}" for i in range(len(rows))], "aggregator_id": "agg", "bus": 1,
        "direction": "up", "first_isp": [r[0] for r in rows],
        "last_isp": [min(n_isps - 1, r[0] + r[1]) for r in rows],
        "max_power_kw": [r[2] for r in rows], "min_power_kw": 0.0,
        "availability_price_eur_per_mw_h": [r[3] for r in rows],
        "activation_price_eur_per_mwh": [r[4] for r in rows], "der_type": "mixed"}
    ).astype({"offer_id": object})
    forecast = make_needs(cp_ids=["cp"], relief=np.ones((n_isps, 1, 1)), bus_ids=[1],
                          overload_kw=np.array(data.draw(st.lists(
                              st.floats(0.0, 80.0), min_size=n_isps, max_size=n_isps))
                          ).reshape(n_isps, 1))
    actual = make_needs(cp_ids=["cp"], relief=np.ones((n_isps, 1, 1)), bus_ids=[1],
                        overload_kw=np.array(data.draw(st.lists(
                            st.floats(0.0, 80.0), min_size=n_isps, max_size=n_isps))
                        ).reshape(n_isps, 1))
    spot = make_offers([(f"s{i}", 1, t, "up", mx, p) for i, (t, mx, p) in enumerate(data.draw(
        st.lists(st.tuples(st.integers(0, n_isps - 1), st.floats(0.0, 50.0),
                           st.floats(0.0, 400.0)), max_size=5)))])
    result = run_flech(avail, forecast, actual, spot, n_isps=n_isps)
    c = result.reservation.contracts.merge(avail, left_on="contract_id", right_on="offer_id",
                                           suffixes=("", "_o"))
    assert (c["reserved_kw"] <= c["max_power_kw"] + TOL).all()
    cap = result.reservation.activation_cap_eur_per_mwh
    aw = result.activation.clearing.awards
    is_spot = ~aw["offer_id"].str.contains("@", regex=False)
    spot_aw = aw[is_spot]
    capped = np.isfinite(cap[spot_aw["isp"].to_numpy()])
    assert (spot_aw["price_eur_per_mwh"].to_numpy()[capped]
            < cap[spot_aw["isp"].to_numpy()][capped]).all()
    reserved = aw[~is_spot].assign(cid=lambda f: f["offer_id"].str.split("@").str[0])
    lim = reserved["cid"].map(result.reservation.contracts.set_index("contract_id")["reserved_kw"])
    assert (reserved["power_kw"] <= lim + TOL).all()
    outcome = result.outcome()
    assert money_balance_eur(outcome) == pytest.approx(0.0, abs=1e-9)
    assert outcome.cost_eur == pytest.approx(result.total_cost_eur, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_deflex_limits_never_exceed_headroom(data):
    n_isps = data.draw(st.integers(1, 2))
    relief = np.array(data.draw(st.lists(st.sampled_from([-1.0, -0.3, 0.0, 0.7, 1.0]),
                                         min_size=n_isps * 2 * 4, max_size=n_isps * 2 * 4))
                      ).reshape(n_isps, 2, 4)
    head = np.array(data.draw(st.lists(st.floats(-10.0, 50.0), min_size=n_isps * 2,
                                       max_size=n_isps * 2))).reshape(n_isps, 2)
    needs = make_needs(cp_ids=["a", "b"], overload_kw=np.maximum(-head, 0), relief=relief,
                       bus_ids=[1, 2, 3, 4], headroom_kw=head)
    areas = pd.DataFrame({"bus": [1, 2, 3, 4], "area_id": ["x", "x", "y", "z"]})
    levels = restriction_levels(areas, needs, limited_below_kw=15.0)
    n = data.draw(st.integers(0, 12))
    trades = pd.DataFrame({
        "bus": data.draw(st.lists(st.sampled_from([1, 2, 3, 4]), min_size=n, max_size=n)),
        "isp": data.draw(st.lists(st.integers(0, n_isps - 1), min_size=n, max_size=n)),
        "direction": data.draw(st.lists(st.sampled_from(["up", "down"]), min_size=n, max_size=n)),
        "power_kw": data.draw(st.lists(st.floats(0.0, 40.0), min_size=n, max_size=n)),
    })
    out = limit_trades(trades, levels, areas)
    assert (out["allowed_kw"] <= out["power_kw"] + 1e-12).all()
    assert (out["allowed_kw"] >= 0).all()
    inj = np.where(out["direction"] == "up", 1.0, -1.0) * out["allowed_kw"].to_numpy()
    pos = out["bus"].to_numpy(dtype=np.int64) - 1
    for isp in range(n_isps):
        m = out["isp"].to_numpy() == isp
        increase = -(relief[isp][:, pos[m]] * inj[m]).sum(axis=1)
        assert (increase <= np.maximum(head[isp], 0.0) + 1e-6).all()
