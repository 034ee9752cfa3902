"""Table 2's roles in the IMO's market (paper §6.2): BRPs sell, aggregators buy."""

from __future__ import annotations

import numpy as np
import pytest
from design_builders import small_input

from localflex.domain import InputError
from localflex.market.designs import DesignParams, make_design_input, run_designs


@pytest.fixture(scope="module")
def roles():
    base = small_input()
    params = DesignParams(brp_imbalance_kw=25.0, brp_offer_share=0.6, aggregator_buy_share=0.6)
    return make_design_input(base.grid, base.forecast_loads, base.offers,
                             isp_hours=base.isp_hours, seed=base.seed, params=params,
                             sensitivity=None)


def test_brps_sell_and_aggregators_buy(roles):
    brp_offers = roles.offers[roles.offers["aggregator_id"].str.startswith("BRP")]
    assert len(brp_offers) > 0
    # delivered outside the area: no congestion point feels them
    pos = np.searchsorted(roles.bus_ids, brp_offers["bus"].to_numpy())
    assert np.abs(roles.relief[brp_offers["isp"].to_numpy(), :, pos]).max() < 1e-6
    aggregators = set(small_input().offers["aggregator_id"])
    buyers = set(roles.requests["party_id"])
    assert aggregators <= buyers
    for r in run_designs(roles, "no_coupling,sequential_dso_first,tso_dso_integrated"):
        t = r.trades
        assert t["seller_id"].str.startswith("BRP").any(), r.design
        bought = t[t["buyer_id"].isin(aggregators)]
        assert len(bought) > 0, r.design
        own = bought[bought["buyer_id"] == bought["seller_id"]]
        if r.design == "tso_dso_integrated":  # the joint program may net a portfolio
            # (it pays at most its bid; a DSO top-up row covers any excess of the ask)
            assert (own["paid_eur"] <= own["received_eur"] + 1e-9).all()
        else:  # the continuous book never matches a party with itself
            assert own.empty, r.design
        assert not t.loc[t["seller_id"].str.startswith("BRP"), "purpose"].eq("grid").any()


def test_role_shares_are_checked():
    with pytest.raises(InputError, match="brp_offer_share"):
        DesignParams(brp_offer_share=1.5)
    with pytest.raises(InputError, match="brp_offer_price_eur_per_mwh"):
        DesignParams(brp_offer_price_eur_per_mwh=(90.0, 10.0))
