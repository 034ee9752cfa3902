"""Delivery check, ledger and the end-to-end settlement; the ledger balances (property test)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localflex.domain import InputError, TimeGrid
from localflex.settlement import (
    CompensationTerms,
    DeliveryRules,
    ImbalancePrices,
    Metering,
    SettlementOptions,
    allocate_cents,
    build_ledger,
    delivery_check,
    eur_to_cents,
    party_statement,
    pool_keys,
    settle,
    statements,
    transactions_frame,
)

TG = TimeGrid.for_day("2024-01-01", isp_minutes=15, days=1)


def award(isp=0, direction="up", power_kw=10.0, price=100.0, **extra) -> dict:
    return {"offer_id": f"o{isp}{direction}", "aggregator_id": "agg", "bus": 1, "isp": isp,
            "direction": direction, "power_kw": power_kw, "price_eur_per_mwh": price,
            "cost_eur": power_kw * 0.25 * price / 1000, "der_type": "ev",
            "award_id": f"a{isp}{direction}", "pool": "agg|1|ev", **extra}


def test_delivery_rules_by_hand():
    """Three 10 kW UP awards at 100 EUR/MWh, 15 min (2.5 kWh each), baseline 20 kW:
    metered 11 kW → delivered 9 kW (90 %, inside a 10 % tolerance) → paid 2.5 kWh = 0.25 EUR;
    metered 14 kW → 6 kW: paid 1.5 kWh = 0.15 EUR, missing 1 kWh; with penalty factor 2:
    2 × 1 kWh × 100 EUR/MWh = 0.20 EUR; metered 25 kW → −5 kW: paid 0, missing 2.5 kWh."""
    awards = pd.DataFrame([award(0), award(1), award(2)])
    base = np.array([20.0, 20.0, 20.0])
    meter = np.array([11.0, 14.0, 25.0])
    paid = delivery_check(awards, base, meter, 0.25, DeliveryRules(tolerance_share=0.1))
    assert paid["within_tolerance"].tolist() == [True, False, False]
    assert paid["utilisation_eur"].tolist() == pytest.approx([0.25, 0.15, 0.0])
    assert paid["penalty_eur"].tolist() == [0.0, 0.0, 0.0]
    fined = delivery_check(awards, base, meter, 0.25,
                           DeliveryRules(under_delivery="penalty", penalty_factor=2.0))
    assert fined["missing_kwh"].tolist() == pytest.approx([0.0, 1.0, 2.5])
    assert fined["penalty_eur"].tolist() == pytest.approx([0.0, 0.20, 0.50])


def test_down_is_more_consumption_and_availability_is_apart():
    """DOWN 4 kW: baseline 2 kW, metered 6 kW → delivered +4 kW. Availability 1.50 EUR stays
    a payment of its own; it is forfeited in a failed ISP only under forfeit_availability."""
    awards = pd.DataFrame([award(0, "down", 4.0, availability_eur=1.5),
                           award(1, "down", 4.0, availability_eur=1.5)])
    out = delivery_check(awards, np.array([2.0, 2.0]), np.array([6.0, 2.0]), 0.25)
    assert out["delivered_kw"].tolist() == pytest.approx([4.0, 0.0])
    assert out["availability_eur"].tolist() == [1.5, 1.5]
    forfeit = delivery_check(awards, np.array([2.0, 2.0]), np.array([6.0, 2.0]), 0.25,
                             DeliveryRules(forfeit_availability=True))
    assert forfeit["availability_eur"].tolist() == [1.5, 0.0]


def test_awards_sharing_a_pool_share_its_delivery():
    """Two awards (6 and 2 kW) on one pool and ISP, 4 kW delivered: 3 and 1 kW."""
    awards = pd.DataFrame([award(0, power_kw=6.0), award(0, power_kw=2.0)])
    awards["award_id"] = ["x", "y"]
    out = delivery_check(awards, np.array([10.0, 10.0]), np.array([6.0, 6.0]), 0.25)
    assert out["delivered_kw"].tolist() == pytest.approx([3.0, 1.0])
    with pytest.raises(InputError, match="direction"):
        mixed = awards.assign(direction=["up", "down"])
        delivery_check(mixed, np.array([10.0, 10.0]), np.array([6.0, 6.0]), 0.25)


def test_cents_round_half_away_from_zero():
    assert eur_to_cents([0.285, 0.005, -0.015, 1.004999]).tolist() == [29, 1, -2, 100]


def test_ledger_refuses_unknown_parties_and_flips_negative_amounts():
    tx = transactions_frame(["a", "a"], ["b", "b"], [1.0, -0.5], ["x", "y"], [0, 1], "r")
    assert tx[["payer", "payee", "amount_eur"]].to_numpy().tolist() == [
        ["a", "b", 1.0], ["b", "a", 0.5]]
    with pytest.raises(InputError, match="known party"):
        build_ledger(tx, {"a": "dso"})
    lines = build_ledger(tx, {"a": "dso", "b": "aggregator"}, TG)
    st_ = statements(lines, "D")
    total = st_[st_["rule"] == "total"].set_index("party_id")["net_eur"].to_dict()
    assert total == {"a": -0.5, "b": 0.5}
    assert party_statement(lines, "b")["balance_eur"].tolist() == [1.0, 0.5]


def _metering(rng, n_units, brps, noise):
    aggregators = np.array(["agg1", "agg2"], dtype=object)[rng.integers(0, 2, n_units)]
    bus = rng.integers(0, 3, n_units)
    typ = np.array(["ev", "pv"], dtype=object)[rng.integers(0, 2, n_units)]
    base = rng.uniform(-5, 10, (TG.n_isps, n_units))
    metered = base - rng.normal(0, noise, base.shape)
    return Metering(unit_id=np.array([f"u{i}" for i in range(n_units)], dtype=object),
                    unit_aggregator=aggregators, unit_bus=bus, unit_der_type=typ,
                    unit_brp=np.array([f"B{i % brps}" for i in range(n_units)], dtype=object),
                    baseline_kw=base, metered_kw=metered)


def _awards(rng, metering, n_awards):
    pools = pd.DataFrame({"aggregator_id": metering.unit_aggregator, "bus": metering.unit_bus,
                          "der_type": metering.unit_der_type}).drop_duplicates()
    pick = pools.iloc[rng.integers(0, len(pools), n_awards)].reset_index(drop=True)
    isp = rng.integers(0, TG.n_isps, n_awards)
    direction = np.where(rng.random(n_awards) < 0.5, "up", "down")
    # one direction per pool and ISP
    key = pool_keys(pick["aggregator_id"], pick["bus"], pick["der_type"])
    first = pd.DataFrame({"k": key, "isp": isp, "d": direction}).groupby(
        ["k", "isp"])["d"].transform("first")
    power = rng.uniform(0, 20, n_awards)
    price = rng.uniform(-50, 300, n_awards)
    return pick.assign(offer_id=[f"o{i}" for i in range(n_awards)], isp=isp,
                       direction=first.to_numpy(), power_kw=power, price_eur_per_mwh=price,
                       cost_eur=power * 0.25 * price / 1000,
                       availability_eur=rng.uniform(0, 2, n_awards))


REGIMES = [CompensationTerms("none"),
           CompensationTerms("contractual", contract_price_eur_per_mwh=40.0),
           CompensationTerms("corrected", retail_energy_price_eur_per_mwh=np.linspace(
               30, 130, TG.n_isps)),
           CompensationTerms("perimeter_correction", day_ahead_price_eur_per_mwh=np.linspace(
               -20, 200, TG.n_isps))]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_units=st.integers(1, 30), n_awards=st.integers(0, 40),
       brps=st.integers(1, 3), regime=st.sampled_from(range(len(REGIMES))),
       pricing=st.sampled_from(["single", "dual"]), share=st.floats(0, 1),
       penalty=st.booleans(), noise=st.floats(0, 5))
def test_ledger_always_balances(seed, n_units, n_awards, brps, regime, pricing, share, penalty,
                                noise):
    rng = np.random.default_rng(seed)
    metering = _metering(rng, n_units, brps, noise)
    awards = _awards(rng, metering, n_awards)
    prices = (ImbalancePrices("single", single_eur_per_mwh=rng.uniform(-100, 400, TG.n_isps))
              if pricing == "single" else
              ImbalancePrices("dual", long_eur_per_mwh=30.0, short_eur_per_mwh=90.0))
    options = SettlementOptions(
        compensation=REGIMES[regime], imbalance=prices, prosumer_share=share,
        delivery=DeliveryRules(under_delivery="penalty" if penalty else "pay_delivered",
                               penalty_factor=1.5))
    result = settle(awards, metering, TG, options)
    ledger = result.ledger
    assert int(ledger["amount_cents"].sum()) == 0
    assert (ledger.groupby("txn_id")["amount_cents"].sum() == 0).all()
    assert (ledger.groupby("txn_id").size() == 2).all()
    by_period = statements(ledger, "D", by_rule=False)
    assert by_period["net_eur"].sum() == pytest.approx(0.0, abs=1e-9)
    # every award-caused line names its award, ISP and rule
    caused = ledger[ledger["rule"] != f"imbalance_{pricing}"]
    assert caused["award_id"].isin(set(result.delivery["award_id"])).all()
    assert ledger["rule"].str.len().gt(0).all()
    # the ledger's DSO outflow is the delivery's availability + utilisation − penalties,
    # each total rounded once to the cent (no cent lost to per-line rounding)
    d = result.delivery
    expected = (eur_to_cents(d["availability_eur"].sum()) + eur_to_cents(
        d["utilisation_eur"].sum()) - eur_to_cents(d["penalty_eur"].sum()))
    assert -ledger.loc[ledger["party_id"] == "DSO", "amount_cents"].sum() == expected
    assert_statements_exact(result.transactions, ledger)


def assert_statements_exact(transactions: pd.DataFrame, ledger: pd.DataFrame) -> None:
    """Per rule (one day): a party in every payment of the rule (the DSO paying utilisation,
    a single BRP, the TSO) is booked its computed net rounded once to the cent; a party with
    one counterparty the floor or the ceiling of its computed net (ledger docstring)."""
    tx = transactions[transactions["amount_eur"] != 0]
    booked = ledger.groupby(["rule", "party_id"])["amount_cents"].sum()
    for rule, group in tx.groupby("rule"):
        net = pd.concat([group.groupby("payee")["amount_eur"].sum(),
                         -group.groupby("payer")["amount_eur"].sum()]).groupby(level=0).sum()
        pairs = pd.concat([group[["payer", "payee"]].set_axis(["a", "b"], axis=1),
                           group[["payee", "payer"]].set_axis(["a", "b"], axis=1)])
        counterparties = pairs.groupby("a")["b"].agg(lambda b: len(set(b)))
        in_all = {
            p for p in net.index if ((group["payer"] == p) | (group["payee"] == p)).all()}
        for party, exact_eur in net.items():
            got = booked.get((rule, party), 0)
            if party in in_all:
                assert got == eur_to_cents(exact_eur), (rule, party)
            elif counterparties[party] == 1:
                exact = exact_eur * 100
                assert np.floor(exact - 1e-6) <= got <= np.ceil(exact + 1e-6), (rule, party)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), payers=st.integers(1, 4),
       payees=st.integers(1, 40), scale=st.sampled_from([0.001, 0.01, 1.0, 1000.0]))
def test_statements_equal_the_computed_amounts_to_the_cent(seed, n, payers, payees, scale):
    rng = np.random.default_rng(seed)
    payer = np.array([f"p{i}" for i in rng.integers(0, payers, n)], dtype=object)
    payee = np.array([f"q{i}" for i in rng.integers(0, payees, n)], dtype=object)
    rule = np.array(["utilisation", "prosumer_remuneration", "brp_compensation"],
                    dtype=object)[rng.integers(0, 3, n)]
    amount = rng.exponential(scale, n)
    amount = amount * np.where(rng.random(n) < 0.2, -1.0, 1.0)  # some flow the other way
    tx = transactions_frame(payer, payee, amount, "", rng.integers(0, TG.n_isps, n), rule)
    parties = {**{p: "aggregator" for p in set(payer)}, **{q: "prosumer" for q in set(payee)}}
    ledger = build_ledger(tx, parties, TG)
    assert int(ledger["amount_cents"].sum()) == 0
    assert (ledger.groupby("txn_id")["amount_cents"].sum() == 0).all()
    assert_statements_exact(tx, ledger)


@settings(max_examples=200, deadline=None)
@given(micro=st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=60),
       groups=st.integers(1, 5), up=st.booleans())
def test_largest_remainder_gives_floor_or_ceiling_and_the_target(micro, groups, up):
    micro = np.array(micro, dtype=np.int64)
    group = np.arange(micro.size) % groups
    groups = min(groups, micro.size)
    total = np.bincount(group, weights=micro, minlength=groups)
    exact = np.zeros(groups, dtype=np.int64)
    np.add.at(exact, group, micro)
    target = -(-exact // 10**6) if up else exact // 10**6
    cents = allocate_cents(micro, group, target)
    assert (np.bincount(group, weights=cents, minlength=groups) == target).all()
    assert ((cents == micro // 10**6) | (cents == -(-micro // 10**6))).all()
    assert total.size == groups
