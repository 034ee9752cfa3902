"""DSO single-buyer clearing (paper §5.3): golden case, shortfalls, headroom, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from market_builders import make_needs, make_offers

from localflex.domain import AWARD_COLUMNS, InputError, OfferError
from localflex.market import SHORTFALL_COLUMNS, clear_dso_single_buyer


def _golden():
    # One point "trafo:0", 2 ISPs, buses 10/11/12 with relief 1.0/0.5/0.0 per kW UP.
    relief = np.array([[[1.0, 0.5, 0.0]], [[1.0, 0.5, 0.0]]])  # [T=2, CP=1, B=3]
    needs = make_needs(
        cp_ids=["trafo:0"], overload_kw=[[100.0], [60.0]], relief=relief, bus_ids=[10, 11, 12]
    )
    offers = make_offers([
        ("A0", 10, 0, "up", 80, 200.0),  # 200 EUR/MWh per kW of relief
        ("B0", 11, 0, "up", 100, 50.0),  # 50 / 0.5 = 100 EUR/MWh per kW of relief -> first
        ("C0", 12, 0, "up", 500, 10.0),  # relief 0: useless, pruned
        ("A1", 10, 1, "up", 40, 100.0),  # 100 per kW relief -> first in ISP 1
        ("B1", 11, 1, "up", 200, 300.0),  # 600 per kW relief
        ("C1", 12, 1, "up", 500, 1.0),
    ])
    return offers, needs


def test_golden_case_exact_awards_and_cost():
    offers, needs = _golden()
    result = clear_dso_single_buyer(offers, needs, n_isps=2)
    # ISP 0, need 100 kW: B0 fully (100 kW x 0.5 = 50 kW relief), then A0 50 kW (of 80).
    #   B0: 100 kW x 0.25 h x 50 EUR/MWh / 1000 = 1.25 EUR
    #   A0:  50 kW x 0.25 h x 200 EUR/MWh / 1000 = 2.50 EUR
    # ISP 1, need 60 kW: A1 fully (40 kW relief), then B1 40 kW (x 0.5 = 20 kW relief).
    #   A1:  40 kW x 0.25 h x 100 EUR/MWh / 1000 = 1.00 EUR
    #   B1:  40 kW x 0.25 h x 300 EUR/MWh / 1000 = 3.00 EUR
    # Total 1.25 + 2.50 + 1.00 + 3.00 = 7.75 EUR.
    awards = result.awards.set_index("offer_id")
    assert list(result.awards.columns) == list(AWARD_COLUMNS)
    assert sorted(awards.index) == ["A0", "A1", "B0", "B1"]
    expected_kw = {"A0": 50.0, "B0": 100.0, "A1": 40.0, "B1": 40.0}
    expected_eur = {"A0": 2.5, "B0": 1.25, "A1": 1.0, "B1": 3.0}
    for offer_id, kw in expected_kw.items():
        assert awards.loc[offer_id, "power_kw"] == pytest.approx(kw, abs=1e-6)
        assert awards.loc[offer_id, "cost_eur"] == pytest.approx(expected_eur[offer_id], abs=1e-6)
    assert result.total_cost_eur == pytest.approx(7.75, abs=1e-6)
    assert result.shortfalls.empty
    assert list(result.shortfalls.columns) == list(SHORTFALL_COLUMNS)
    assert result.solver_status == "Optimal"
    merit = result.merit_order.set_index("offer_id")
    assert len(merit) == 6
    assert merit.loc["C0", "accepted_kw"] == 0.0
    assert not merit.loc["C1", "accepted"]
    assert merit.loc["C1", "rank"] == 1  # cheapest offer ranks first
    assert merit.loc["C0", "status"] == "no relief at an overloaded point"


def test_down_offer_relieves_with_negative_sensitivity():
    # Reverse flow (PV): one kW DOWN at bus 1 relieves 1 kW; the UP offer makes it worse.
    needs = make_needs(cp_ids=["line:3"], overload_kw=[[30.0]], relief=[[[-1.0]]], bus_ids=[1])
    offers = make_offers([("d", 1, 0, "down", 50, 80.0), ("u", 1, 0, "up", 50, 1.0)])
    result = clear_dso_single_buyer(offers, needs, n_isps=1)
    assert result.awards["offer_id"].tolist() == ["d"]
    assert result.awards["power_kw"].iloc[0] == pytest.approx(30.0)


def test_no_offer_shortfall_is_named():
    needs = make_needs(cp_ids=["trafo:0"], overload_kw=[[40.0]], relief=[[[0.0, 1.0]]],
                       bus_ids=[1, 2])
    offers = make_offers([("o", 1, 0, "up", 100, 10.0)])  # bus 1 does not relieve
    result = clear_dso_single_buyer(offers, needs, n_isps=1)
    assert result.awards.empty
    row = result.shortfalls.iloc[0]
    assert (row["cp_id"], row["isp"]) == ("trafo:0", 0)
    assert row["cause"] == "no offer at a bus that relieves this point in this ISP"
    assert row["need_kw"] == pytest.approx(40.0)
    assert row["covered_kw"] == pytest.approx(0.0)
    assert row["shortfall_kw"] == pytest.approx(40.0)
    assert result.total_cost_eur == 0.0


def test_no_offers_at_all_gives_shortfall_rows():
    needs = make_needs(cp_ids=["a", "b"], overload_kw=[[10.0, 0.0], [0.0, 5.0]],
                       relief=np.ones((2, 2, 1)), bus_ids=[7])
    result = clear_dso_single_buyer(make_offers([]), needs, n_isps=2)
    assert result.shortfalls[["cp_id", "isp"]].values.tolist() == [["a", 0], ["b", 1]]
    assert result.shortfalls["shortfall_kw"].tolist() == pytest.approx([10.0, 5.0])


def test_insufficient_volume_shortfall_names_kw():
    needs = make_needs(cp_ids=["trafo:0"], overload_kw=[[100.0]], relief=[[[1.0, 0.5]]],
                       bus_ids=[1, 2])
    offers = make_offers([("a", 1, 0, "up", 20, 10.0), ("b", 2, 0, "up", 20, 10.0)])
    result = clear_dso_single_buyer(offers, needs, n_isps=1)
    row = result.shortfalls.iloc[0]
    # Relief on offer: 20 x 1.0 + 20 x 0.5 = 30 kW of the 100 kW needed.
    assert row["cause"] == (
        "offered volume insufficient: 30.000 kW of relief available, 100.000 kW needed"
    )
    assert row["covered_kw"] == pytest.approx(30.0)
    assert row["shortfall_kw"] == pytest.approx(70.0)
    assert result.awards["power_kw"].tolist() == pytest.approx([20.0, 20.0])


def test_price_cap_excludes_offers_and_is_named():
    needs = make_needs(cp_ids=["trafo:0"], overload_kw=[[50.0]], relief=[[[1.0]]], bus_ids=[1])
    offers = make_offers([("cheap", 1, 0, "up", 20, 100.0), ("dear", 1, 0, "up", 100, 900.0)])
    result = clear_dso_single_buyer(offers, needs, n_isps=1, max_price_eur_per_mwh=500.0)
    assert result.awards["offer_id"].tolist() == ["cheap"]
    row = result.shortfalls.iloc[0]
    assert row["cause"].startswith("price cap excluded 1 offers")
    assert row["shortfall_kw"] == pytest.approx(30.0)
    merit = result.merit_order.set_index("offer_id")
    assert merit.loc["dear", "status"] == "above price cap"


def _headroom_case(second_offer_kw: float):
    # Point A ("trafo:A") is overloaded by 100 kW; point B ("line:B") has 20 kW headroom.
    # UP at bus 1 relieves A by 1 kW/kW but loads B by 1 kW/kW (relief -1); bus 2 relieves A only.
    relief = np.array([[[1.0, 1.0], [-1.0, 0.0]]])  # [T=1, CP=2, B=2]
    needs = make_needs(cp_ids=["trafo:A", "line:B"], overload_kw=[[100.0, 0.0]], relief=relief,
                       bus_ids=[1, 2], headroom_kw=[[np.nan, 20.0]])
    offers = make_offers([("near", 1, 0, "up", 200, 10.0),
                          ("far", 2, 0, "up", second_offer_kw, 90.0)])
    return clear_dso_single_buyer(offers, needs, n_isps=1)


def test_headroom_limits_offer_that_would_overload_another_point():
    result = _headroom_case(second_offer_kw=200.0)
    awards = result.awards.set_index("offer_id")["power_kw"]
    # The cheap offer stops at B's 20 kW headroom; the dearer one covers the other 80 kW.
    assert awards["near"] == pytest.approx(20.0)
    assert awards["far"] == pytest.approx(80.0)
    assert result.shortfalls.empty


def test_headroom_shortfall_cause():
    result = _headroom_case(second_offer_kw=30.0)
    row = result.shortfalls.iloc[0]
    # 230 kW offered, but only 20 (near, headroom) + 30 (far) can be bought.
    assert row["cause"] == "relief limited by headroom at line:B"
    assert row["shortfall_kw"] == pytest.approx(50.0)


def test_offer_at_unknown_bus_names_offer_and_bus():
    offers, needs = _golden()
    offers.loc[2, "bus"] = 99
    with pytest.raises(OfferError) as err:
        clear_dso_single_buyer(offers, needs, n_isps=2)
    assert err.value.field == "offer[C0].bus"
    assert err.value.value == 99


def test_offer_isp_outside_horizon():
    offers, needs = _golden()
    offers.loc[4, "isp"] = 2
    with pytest.raises(OfferError) as err:
        clear_dso_single_buyer(offers, needs, n_isps=2)
    assert err.value.field == "offer[B1].isp"
    assert err.value.value == 2


def test_negative_max_power():
    offers, needs = _golden()
    offers.loc[0, "max_power_kw"] = -5.0
    with pytest.raises(OfferError) as err:
        clear_dso_single_buyer(offers, needs, n_isps=2)
    assert err.value.field == "offer[A0].max_power_kw"
    assert err.value.value == -5.0


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("overload_kw", np.zeros((3, 1))),
        ("headroom_kw", np.zeros((2, 2))),
        ("relief_kw_per_kw_up", np.zeros((2, 1, 2))),
    ],
)
def test_needs_shape_errors_name_the_field(field, bad):
    offers, needs = _golden()
    kwargs = {**needs.__dict__, field: bad}
    with pytest.raises(InputError) as err:
        clear_dso_single_buyer(offers, type(needs)(**kwargs), n_isps=2)
    assert err.value.field == f"needs.{field}"
    assert err.value.value == bad.shape


def test_negative_overload_rejected():
    offers, needs = _golden()
    kwargs = {**needs.__dict__, "overload_kw": np.array([[-1.0], [0.0]])}
    with pytest.raises(InputError, match=r"needs.overload_kw\[0, trafo:0\]"):
        clear_dso_single_buyer(offers, type(needs)(**kwargs), n_isps=2)


def test_negative_price_offer_bought_only_as_needed():
    needs = make_needs(cp_ids=["trafo:0"], overload_kw=[[30.0]], relief=[[[1.0]]], bus_ids=[1])
    offers = make_offers([("neg", 1, 0, "up", 100, -20.0), ("neg2", 1, 0, "up", 100, -5.0)])
    result = clear_dso_single_buyer(offers, needs, n_isps=1)
    # The most negative offer first, and only the 30 kW needed: 30 x 0.25 x -20 / 1000 = -0.15.
    assert result.awards["offer_id"].tolist() == ["neg"]
    assert result.awards["power_kw"].iloc[0] == pytest.approx(30.0)
    assert result.total_cost_eur == pytest.approx(-0.15)


def test_conflicting_needs_cause():
    # A and B both overloaded by 50 kW. UP at bus 1 relieves A but loads B; bus 2 relieves B.
    relief = np.array([[[1.0, 0.0], [-1.0, 1.0]]])  # [T=1, CP=(A, B), B=(1, 2)]
    needs = make_needs(cp_ids=["A", "B"], overload_kw=[[50.0, 50.0]], relief=relief,
                       bus_ids=[1, 2])
    offers = make_offers([("o1", 1, 0, "up", 200, 10.0), ("o2", 2, 0, "up", 60, 10.0)])
    result = clear_dso_single_buyer(offers, needs, n_isps=1)
    # B: 60 - x1 >= 50 covers B only if x1 <= 10; slack totals 40 kW for any x1 in [10, 50], so
    # the cheapest plan buys x1 = 10 and A is 40 kW short because of B.
    row = result.shortfalls.set_index("cp_id").loc["A"]
    assert row["shortfall_kw"] == pytest.approx(40.0)
    assert row["cause"].startswith("relief limited by the overload at B")
    assert len(result.shortfalls) == 1


def test_offer_dearer_than_penalty_cause():
    needs = make_needs(cp_ids=["trafo:0"], overload_kw=[[10.0]], relief=[[[1.0]]], bus_ids=[1])
    offers = make_offers([("o", 1, 0, "up", 100, 2000.0)])
    result = clear_dso_single_buyer(offers, needs, n_isps=1,
                                    shortfall_penalty_eur_per_mwh=1000.0)
    assert result.awards.empty
    assert result.shortfalls["cause"].iloc[0].startswith(
        "offers priced above the shortfall penalty of 1000 EUR/MWh"
    )


def test_indivisible_minimum_is_all_or_nothing():
    needs = make_needs(cp_ids=["trafo:0"], overload_kw=[[30.0]], relief=[[[1.0]]], bus_ids=[1])
    # "block" is cheaper per kW but only sold as 50 kW: 50 x 0.25 x 100 / 1000 = 1.25 EUR,
    # while 30 kW of "flex": 30 x 0.25 x 120 / 1000 = 0.90 EUR. An LP relaxation would buy
    # 30 kW of "block" (0.75 EUR), which the aggregator never offered.
    offers = make_offers([("block", 1, 0, "up", 50, 100.0, 50), ("flex", 1, 0, "up", 100, 120.0)])
    result = clear_dso_single_buyer(offers, needs, n_isps=1)
    assert result.awards["offer_id"].tolist() == ["flex"]
    assert result.total_cost_eur == pytest.approx(0.90)
    # Need 45 kW: block (50 kW, 1.25 EUR) beats flex (45 x 0.25 x 120 / 1000 = 1.35 EUR).
    needs45 = make_needs(cp_ids=["trafo:0"], overload_kw=[[45.0]], relief=[[[1.0]]],
                         bus_ids=[1])
    result45 = clear_dso_single_buyer(offers, needs45, n_isps=1)
    assert result45.awards["offer_id"].tolist() == ["block"]
    assert result45.awards["power_kw"].iloc[0] == pytest.approx(50.0)
    assert result45.total_cost_eur == pytest.approx(1.25)
