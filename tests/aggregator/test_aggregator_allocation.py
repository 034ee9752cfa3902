"""Multi-market allocation: never the same kW twice, product rules, access (paper §4, Fig. 3)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localflex.aggregator import MarketOutlook, ProductRules, allocate_flexibility
from localflex.domain import InputError
from localflex.regulation import Access, Market, country_preset


@st.composite
def _problem(draw):
    n_isps = draw(st.integers(min_value=1, max_value=12))
    seed = draw(st.integers(min_value=0, max_value=2**31))
    rng = np.random.default_rng(seed)
    n_markets = draw(st.integers(min_value=1, max_value=5))
    outlooks = []
    for m in range(n_markets):
        rules = ProductRules(
            min_bid_kw=float(draw(st.sampled_from([0.0, 1.0, 5.0, 40.0]))),
            bid_step_kw=float(draw(st.sampled_from([0.0, 0.5, 2.0, 10.0]))),
            symmetric=draw(st.booleans()),
            product_length_isps=draw(st.integers(min_value=1, max_value=4)),
        )
        outlooks.append(MarketOutlook(
            market=f"m{m}",
            value_up_eur_per_mwh=rng.uniform(-20, 100, n_isps),
            value_down_eur_per_mwh=rng.uniform(-20, 100, n_isps),
            acceptance_probability=rng.uniform(0, 1, n_isps),
            cost_eur_per_mwh=float(rng.uniform(0, 30)),
            rules=rules,
            access=draw(st.sampled_from(list(Access))),
        ))
    up = rng.uniform(0, 60, n_isps) * (rng.random(n_isps) > 0.2)
    down = rng.uniform(0, 60, n_isps)
    gen_share = rng.uniform(0, 1)
    return up, down, outlooks, gen_share


@settings(max_examples=40, deadline=None)
@given(_problem(), st.booleans())
def test_never_the_same_kw_twice_and_rules_hold(problem, integral):
    up, down, outlooks, gen_share = problem
    result = allocate_flexibility(up, down, outlooks, generation_up_kw=up * gen_share,
                                  generation_down_kw=down * gen_share, integral=integral)
    power = result.power_kw  # [M, 2, T]
    assert (power >= 0).all()
    total = power.sum(axis=0)
    assert (total[0] <= up + 1e-6).all() and (total[1] <= down + 1e-6).all()
    gen_only = [o.access is Access.GENERATION_ONLY for o in outlooks]
    if any(gen_only):
        gen_total = power[gen_only].sum(axis=0)
        assert (gen_total[0] <= up * gen_share + 1e-6).all()
        assert (gen_total[1] <= down * gen_share + 1e-6).all()
    for m, o in enumerate(outlooks):
        if o.access is Access.NO:
            assert (power[m] == 0).all()
        if o.rules.symmetric:
            np.testing.assert_allclose(power[m, 0], power[m, 1], atol=1e-9)
        length = o.rules.product_length_isps
        for start in range(0, up.size, length):
            block = power[m][:, start:start + length]
            np.testing.assert_allclose(block, np.broadcast_to(block[:, :1], block.shape),
                                       atol=1e-9)
        if integral:
            on = power[m] > 1e-6
            assert (power[m][on] >= o.rules.min_bid_kw - 1e-6).all()
            if o.rules.bid_step_kw > 0:
                ratio = power[m][on] / o.rules.bid_step_kw
                np.testing.assert_allclose(ratio, np.round(ratio), atol=1e-6)
    assert result.expected_profit_eur >= -1e-9  # offering nothing is always possible


def test_best_market_takes_what_it_can_and_the_rest_goes_on():
    up = np.array([100.0, 100.0])
    down = np.zeros(2)
    rich = MarketOutlook("rich", 80.0, 0.0, rules=ProductRules(bid_step_kw=30.0))
    poor = MarketOutlook("poor", 20.0, 0.0)
    result = allocate_flexibility(up, down, [rich, poor])
    np.testing.assert_allclose(result.power_kw[0, 0], [90.0, 90.0])  # 3 steps of 30 kW
    np.testing.assert_allclose(result.power_kw[1, 0], [10.0, 10.0])
    assert result.expected_profit_eur == pytest.approx(2 * 0.25 / 1000 * (90 * 80 + 10 * 20))


def test_minimum_bid_is_a_binary_unless_relaxed():
    up = np.array([30.0])
    big = MarketOutlook("big", 100.0, 0.0, rules=ProductRules(min_bid_kw=50.0))
    assert allocate_flexibility(up, np.zeros(1), [big]).power_kw.sum() == 0.0
    up = np.array([60.0])
    a = MarketOutlook("a", 100.0, 0.0, rules=ProductRules(min_bid_kw=50.0))
    b = MarketOutlook("b", 120.0, 0.0, eligible_up_kw=20.0)
    mip = allocate_flexibility(up, np.zeros(1), [a, b])
    np.testing.assert_allclose(mip.power_kw[:, 0, 0], [50.0, 10.0])  # a's 40 kW < min bid
    relaxed = allocate_flexibility(up, np.zeros(1), [a, b], integral=False)
    np.testing.assert_allclose(relaxed.power_kw[:, 0, 0], [40.0, 20.0])  # fractional y
    assert relaxed.expected_profit_eur > mip.expected_profit_eur  # the relaxation bounds it


def test_preset_access_and_symmetry():
    preset = country_preset("AT")  # DA/ID only generation, FCR no
    n = 96
    outlooks = [MarketOutlook.from_preset(preset, m, value_up_eur_per_mwh=50.0,
                                          value_down_eur_per_mwh=50.0) for m in Market]
    result = allocate_flexibility(np.full(n, 3000.0), np.full(n, 3000.0), outlooks,
                                  generation_up_kw=np.full(n, 500.0),
                                  generation_down_kw=np.full(n, 500.0))
    by_market = dict(zip(result.markets, result.power_kw, strict=True))
    assert (by_market["fcr"] == 0).all()
    assert (by_market["day_ahead"] + by_market["intraday"] <= 500.0 + 1e-6).all()
    de = [MarketOutlook.from_preset(country_preset("DE"), "fcr", value_up_eur_per_mwh=50.0,
                                    value_down_eur_per_mwh=50.0)]
    fcr = allocate_flexibility(np.full(n, 2500.0), np.full(n, 1500.0), de).power_kw[0]
    np.testing.assert_allclose(fcr[0], 1000.0)  # symmetric, 1 MW steps (assumed)
    np.testing.assert_allclose(fcr[1], 1000.0)


def test_bad_input_names_the_field():
    o = MarketOutlook("a", 1.0, 1.0, acceptance_probability=1.5)
    with pytest.raises(InputError, match="acceptance_probability"):
        allocate_flexibility(np.ones(3), np.ones(3), [o])
    with pytest.raises(InputError, match="down_kw"):
        allocate_flexibility(np.ones(3), -np.ones(3), [MarketOutlook("a", 1.0, 1.0)])
    with pytest.raises(InputError, match="outlooks"):
        allocate_flexibility(np.ones(3), np.ones(3),
                             [MarketOutlook("a", 1.0, 1.0), MarketOutlook("a", 1.0, 1.0)])
    with pytest.raises(InputError, match="value_up"):
        allocate_flexibility(np.ones(3), np.ones(3), [MarketOutlook("a", [1.0, 2.0], 1.0)])
