"""Bid building under product rules, BRP contracts, and dispatch with the DERs' response."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.aggregator import (
    AggregatorKind,
    AggregatorRule,
    ProductRules,
    assign_contracts,
    assign_portfolios,
    awarded_per_pool,
    build_offers,
    dispatch_and_respond,
    product_rules,
)
from localflex.der import HeatPumpFleet, PvFleet, outdoor_temperature_c
from localflex.domain import InputError, TimeGrid
from localflex.regulation import country_preset

TG = TimeGrid.for_day("2024-01-15")


def _book(up, down, types, rules=None, bus=None, min_bid=0.0, seed=0, **timing):
    n = up.shape[1]
    rng = np.random.default_rng(seed)
    portfolio = assign_portfolios(np.asarray(types), [AggregatorRule("a", 1.0)], 1.0, rng)
    book = build_offers(
        up_kw=up, down_kw=down,
        energy_up_max_kwh=timing.pop("energy_up", np.full(n, np.inf)),
        energy_down_max_kwh=timing.pop("energy_down", np.full(n, np.inf)),
        unit_bus=np.zeros(n, dtype=int) if bus is None else np.asarray(bus),
        unit_der_type=np.asarray(types), portfolio=portfolio,
        min_bid_kw={"a": min_bid}, markup={"a": 1.0}, rng=rng, rules=rules, **timing,
    )
    return book


def test_default_rules_reproduce_the_foundation_book():
    rng = np.random.default_rng(5)
    up = rng.uniform(0, 4, (6, 5))
    down = rng.uniform(0, 4, (6, 5))
    types = ["ev", "ev", "pv", "battery", "heat_pump"]
    old = _book(up, down, types, min_bid=2.0)
    new = _book(up, down, types, rules=ProductRules(), min_bid=2.0)
    cols = [c for c in old.offers.columns if c != "max_power_kw"]
    pd.testing.assert_frame_equal(old.offers[cols], new.offers[cols])
    # under rules volumes are floored (not rounded) to 3 decimals: never above capacity
    diff = old.offers["max_power_kw"] - new.offers["max_power_kw"]
    assert ((diff >= -1e-12) & (diff <= 1e-3 + 1e-12)).all()
    assert (new.offers["availability_eur_per_mw_h"] > 0).all()
    assert old.unit_up_kw is None and new.unit_up_kw is not None


def test_step_rounds_down_and_min_bid_drops():
    up = np.array([[3.0, 4.5], [1.0, 0.5]])  # pooled: 7.5, 1.5
    book = _book(up, np.zeros_like(up), ["ev", "ev"],
                 rules=ProductRules(min_bid_kw=2.0, bid_step_kw=2.0))
    assert list(book.offers["max_power_kw"]) == [6.0]  # 7.5 -> 6; 1.5 -> 0 (< min bid)


def test_symmetric_offers_min_of_both_directions():
    up = np.array([[5.0], [1.0]])
    down = np.array([[2.0], [3.0]])
    book = _book(up, down, ["battery"], rules=ProductRules(symmetric=True))
    got = book.offers.set_index(["isp", "direction"])["max_power_kw"]
    assert got[(0, "up")] == got[(0, "down")] == 2.0
    assert got[(1, "up")] == got[(1, "down")] == 1.0


def test_product_length_holds_the_block_minimum():
    up = np.array([[5.0], [2.0], [4.0], [6.0]])
    book = _book(up, np.zeros_like(up), ["battery"], rules=ProductRules(product_length_isps=2))
    assert list(book.offers.sort_values("isp")["max_power_kw"]) == [2.0, 2.0, 4.0, 4.0]


def test_timing_limits_exclude_units_and_dispatch_skips_them():
    up = np.array([[1.0, 2.0, 4.0]])
    rules = ProductRules(max_response_min=2.0, max_notification_min=10.0)
    book = _book(up, np.zeros_like(up), ["ev", "ev", "ev"], rules=rules,
                 unit_response_min=np.array([1.0, 5.0, 1.0]),
                 unit_notification_min=np.array([5.0, 5.0, 15.0]))
    assert list(book.offers["max_power_kw"]) == [1.0]  # only unit 0 meets both limits
    assert list(book.pool_of_unit) == [0, -1, -1]
    with pytest.raises(InputError, match="unit_response_min"):
        _book(up, np.zeros_like(up), ["ev"] * 3, rules=rules,
              unit_notification_min=np.zeros(3))


def test_duration_caps_volume_by_energy_and_generation_only():
    up = np.array([[4.0, 4.0]] * 4)
    rules = ProductRules(max_activation_duration_isps=4, generation_only=True)
    book = _book(up, np.zeros_like(up), ["pv", "battery"], rules=rules,
                 energy_up=np.array([2.0, 100.0]),
                 unit_max_duration_isps=np.array([4, 4]))
    # pv: 2 kWh over 4 ISPs of 0.25 h -> 2 kW; battery is not generation
    assert set(book.offers["der_type"]) == {"pv"}
    np.testing.assert_allclose(book.offers["max_power_kw"], 2.0)


def test_rebound_blocks_link_activation_and_payback_within_capacity():
    rng = np.random.default_rng(1)
    up = rng.uniform(0, 3, (12, 4))
    down = rng.uniform(0, 3, (12, 4))
    rules = ProductRules(block_rebound_isps=3)
    book = _book(up, down, ["heat_pump"] * 4, rules=rules)
    offers = book.offers
    blocks = offers[offers["block_id"] != ""]
    ups = blocks[blocks["direction"] == "up"]
    assert len(ups) > 0
    for _, lead in ups.iterrows():
        legs = blocks[(blocks["block_id"] == lead["block_id"]) & (blocks["direction"] == "down")]
        assert list(legs["isp"]) == [t for t in range(lead["isp"] + 1, lead["isp"] + 4) if t < 12]
        np.testing.assert_allclose(legs["max_power_kw"], lead["max_power_kw"] / 3, atol=2e-3)
        assert (legs["price_eur_per_mwh"] == 0).all()
    # everything accepted at once never asks the pool for more than it has
    awards = offers.assign(power_kw=offers["max_power_kw"])
    got_up, got_down = awarded_per_pool(awards, book)
    assert (got_up <= book.pool_up_kw + 1e-6).all()
    assert (got_down <= book.pool_down_kw + 1e-6).all()
    # a family without rebound gets no blocks
    plain = _book(up, down, ["battery"] * 4, rules=rules)
    assert (plain.offers["block_id"] == "").all()


def test_product_rules_from_preset_and_validation():
    de_fcr = product_rules(country_preset("DE"), "fcr", 15)
    assert de_fcr.symmetric and de_fcr.min_bid_kw == 1000 and de_fcr.product_length_isps == 16
    assert de_fcr.max_response_min == 0.5 and de_fcr.block_rebound_isps == 0
    assert product_rules(country_preset("AT"), "day_ahead").generation_only
    with pytest.raises(InputError, match="bid_step_kw"):
        ProductRules(bid_step_kw=-1.0)
    with pytest.raises(InputError, match="product_length_isps"):
        ProductRules(product_length_isps=0)
    assert not ProductRules().has_timing_limits and math.isinf(ProductRules().max_response_min)


def test_contracts_supplier_customers_share_its_brp_and_are_seeded():
    types = np.array(["ev"] * 200)
    portfolio = assign_portfolios(types, [AggregatorRule("indie", 0.5),
                                          AggregatorRule("utility", 0.5)], 0.8,
                                  np.random.default_rng(0))
    args = ({"brp1": 0.6, "brp2": 0.4},)
    kw = {"kinds": {"utility": "supplier"}, "supplier_brp": {"utility": "brp2"}}
    a = assign_contracts(portfolio, *args, np.random.default_rng(3), **kw)
    b = assign_contracts(portfolio, *args, np.random.default_rng(3), **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    t = a.table
    assert (t.loc[t["aggregator_id"] == "utility", "brp_id"] == "brp2").all()
    assert set(t.loc[t["aggregator_id"] == "indie", "brp_id"]) == {"brp1", "brp2"}
    assert (t["brp_compensation"] == (t["aggregator_kind"] == "independent")).all()
    assert a.aggregator_kind["utility"] is AggregatorKind.SUPPLIER
    with pytest.raises(InputError, match=r"supplier_brp\.utility"):
        assign_contracts(portfolio, *args, np.random.default_rng(3),
                         kinds={"utility": "supplier"})
    with pytest.raises(InputError, match=r"kinds\.indie"):
        assign_contracts(portfolio, *args, np.random.default_rng(3), kinds={"indie": "x"})


def _fleets():
    t_out = outdoor_temperature_c(TG, day_mean_c=0.0, amplitude_k=4.0)
    hp = HeatPumpFleet(["h0", "h1", "h2"], [1, 1, 2], rated_kw_el=[5.0, 6.0, 4.0], cop=3.0,
                       thermal_resistance_k_per_kw=6.0, thermal_capacity_kwh_per_k=10.0,
                       t_set_c=21.0, comfort_band_k=1.0, t_indoor0_c=None,
                       outdoor_temp_c=t_out)
    hours = np.arange(TG.n_isps) / 4.0
    profile = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None)
    pv = PvFleet(["p0", "p1"], [1, 2], [10.0, 8.0], profile[:, None] * np.array([10.0, 8.0]))
    return [hp, pv], [slice(0, 3), slice(3, 5)]


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0.0, max_value=1.0))
def test_dispatch_and_respond_keeps_comfort_and_envelope(seed, fraction):
    fleets, slices = _fleets()
    envs = [f.envelope(TG) for f in fleets]
    up = np.hstack([e.up_kw for e in envs])
    down = np.hstack([e.down_kw for e in envs])
    types = np.concatenate([e.der_type for e in envs])
    bus = np.concatenate([e.bus for e in envs])
    book = _book(up, down, types, bus=bus, seed=seed)
    rng = np.random.default_rng(seed)
    pick = book.offers.sample(frac=0.3, random_state=seed)
    awards = pick.assign(power_kw=pick["max_power_kw"] * fraction * rng.random(len(pick)))
    out = dispatch_and_respond(awards, book, up, down, fleets=fleets, slices=slices,
                               time_grid=TG, der_type=types, bus=bus)
    assert (out.requested_delta_kw <= up + 1e-9).all()
    assert (-out.requested_delta_kw <= down + 1e-9).all()
    _, temp = fleets[0].simulate(TG, out.requested_delta_kw[:, slices[0]])
    assert (temp >= 20.0 - 1e-6).all() and (temp <= 22.0 + 1e-6).all()
    assert (out.forecast_error_kw == 0).all()
    np.testing.assert_allclose(
        out.units["requested_up_kwh"].sum(),
        np.clip(out.requested_delta_kw, 0, None).sum() * TG.isp_hours, atol=1e-9)


def test_dispatch_and_respond_rebound_and_forecast_error():
    fleets, slices = _fleets()
    envs = [f.envelope(TG) for f in fleets]
    up = np.hstack([e.up_kw for e in envs])
    down = np.hstack([e.down_kw for e in envs])
    types = np.concatenate([e.der_type for e in envs])
    book = _book(up, down, types, bus=np.concatenate([e.bus for e in envs]))
    hp_up = book.offers[(book.offers["der_type"] == "heat_pump")
                        & (book.offers["direction"] == "up") & (book.offers["isp"] == 30)]
    awards = hp_up.assign(power_kw=hp_up["max_power_kw"])

    def noise(rng, baseline, der_type):
        return rng.normal(0.0, 0.1, baseline.shape) * (der_type == "pv")[None, :]

    a = dispatch_and_respond(awards, book, up, down, fleets=fleets, slices=slices,
                             time_grid=TG, der_type=types, forecast_error=noise,
                             rng=np.random.default_rng(7))
    b = dispatch_and_respond(awards, book, up, down, fleets=fleets, slices=slices,
                             time_grid=TG, der_type=types, forecast_error=noise,
                             rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.realised_kw, b.realised_kw)
    hp = a.units[a.units["der_type"] == "heat_pump"]
    assert hp["delivered_up_kwh"].sum() > 0
    assert hp["rebound_kwh"].sum() > 0.5 * hp["delivered_up_kwh"].sum()  # paid back later
    assert (a.units.loc[a.units["der_type"] == "heat_pump", "forecast_error_kwh"] == 0).all()
    assert a.units.loc[a.units["der_type"] == "pv", "forecast_error_kwh"].abs().sum() > 0
    with pytest.raises(InputError, match="rng"):
        dispatch_and_respond(awards, book, up, down, fleets=fleets, slices=slices,
                             time_grid=TG, forecast_error=noise)
    with pytest.raises(InputError, match="slices"):
        dispatch_and_respond(awards, book, up, down, fleets=fleets,
                             slices=[slice(0, 3), slice(2, 5)], time_grid=TG)
