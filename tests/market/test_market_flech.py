"""FLECH: reservation (availability contracts, cap) then activation (paper §5.3, [54,55])."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from market_builders import make_needs, make_offers

from localflex.domain import OfferError
from localflex.market import money_balance_eur, reserve_flexibility, run_flech


def availability(rows):
    """(offer_id, bus, direction, first, last, max_kw, avail_price, act_price[, min_kw])"""
    return pd.DataFrame([{
        "offer_id": r[0], "aggregator_id": f"agg-{r[0]}", "bus": r[1], "direction": r[2],
        "first_isp": r[3], "last_isp": r[4], "max_power_kw": float(r[5]),
        "min_power_kw": float(r[8]) if len(r) > 8 else 0.0,
        "availability_price_eur_per_mw_h": float(r[6]),
        "activation_price_eur_per_mwh": float(r[7]), "der_type": "battery",
    } for r in rows])


def needs_of(overload, n_bus=2):
    overload = np.asarray(overload, dtype=float).reshape(-1, 1)
    return make_needs(cp_ids=["cp:0"], overload_kw=overload,
                      relief=np.ones((len(overload), 1, n_bus)), bus_ids=list(range(1, n_bus + 1)))


def test_reservation_covers_forecast_and_costs_the_whole_window():
    forecast = needs_of([0, 40, 60, 0])
    avail = availability([("A", 1, "up", 0, 3, 50, 10, 200), ("B", 2, "up", 1, 2, 50, 30, 150)])
    res = reserve_flexibility(avail, forecast, n_isps=4)
    c = res.contracts.set_index("contract_id")
    # cheapest: A at 50 kW (4 ISPs x 0.25 h x 50 kW x 10 = 0.5 EUR) + B for the 10 kW missing
    assert c.loc["A", "reserved_kw"] == pytest.approx(50.0)
    assert c.loc["B", "reserved_kw"] == pytest.approx(10.0)
    assert res.reservation_cost_eur == pytest.approx(50 * 1.0 * 10 / 1000 + 10 * 0.5 * 30 / 1000)
    assert np.allclose(res.activation_cap_eur_per_mwh, [200, 200, 200, 200])


def test_activation_calls_reserve_and_cheaper_spot_offers_only():
    forecast = needs_of([0, 40, 60, 0])
    avail = availability([("A", 1, "up", 0, 3, 50, 10, 200), ("B", 2, "up", 1, 2, 50, 30, 150)])
    actual = needs_of([0, 30, 70, 10])
    spot = make_offers([("s1", 1, 2, "up", 15, 120), ("s2", 2, 2, "up", 100, 250),
                        ("s3", 1, 3, "up", 20, 200)])
    result = run_flech(avail, forecast, actual, spot, n_isps=4)
    act = result.activation
    assert set(act.excluded_offers["offer_id"]) == {"s2", "s3"}  # not strictly under the cap
    awards = act.clearing.awards.set_index("offer_id")["power_kw"]
    assert awards["s1"] == pytest.approx(15.0)  # undercuts the reserve
    assert awards["B@2"] == pytest.approx(10.0) and awards["A@2"] == pytest.approx(45.0)
    assert awards["B@1"] == pytest.approx(10.0) and awards["A@1"] == pytest.approx(20.0)
    assert awards["A@3"] == pytest.approx(10.0)
    assert (act.clearing.awards["price_eur_per_mwh"] <= 200).all()
    assert result.total_cost_eur == pytest.approx(
        result.reservation_cost_eur + result.activation_cost_eur)
    outcome = result.outcome()
    assert set(outcome.fills["product"]) == {"availability", "active_power"}
    assert outcome.cost_eur == pytest.approx(result.total_cost_eur)
    assert money_balance_eur(outcome) == pytest.approx(0.0, abs=1e-9)
    assert outcome.buyer_payments_eur == pytest.approx(result.total_cost_eur)


def test_all_or_nothing_availability_and_bad_window():
    forecast = needs_of([20, 20])
    avail = availability([("A", 1, "up", 0, 1, 100, 5, 100, 100),
                          ("B", 1, "up", 0, 1, 30, 20, 100)])
    res = reserve_flexibility(avail, forecast, n_isps=2)
    assert list(res.contracts["contract_id"]) == ["B"]  # 100 kW all-or-nothing dearer
    with pytest.raises(OfferError, match="first_isp"):
        reserve_flexibility(availability([("A", 1, "up", 1, 0, 10, 5, 100)]), forecast, n_isps=2)
