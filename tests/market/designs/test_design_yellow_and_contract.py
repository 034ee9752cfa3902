"""The rules that separate USEF from BDEW (paper §6.2) and De-Flex from the uncoupled
markets (§5.3, ref. [57]), checked on the small scenario in the linearised grid."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from design_builders import small_input

from localflex.grid.traffic_light import LightThresholds, state_lights
from localflex.market.deflex import distribution_areas, restriction_levels
from localflex.market.designs import GridGuard, run_designs
from localflex.market.designs.restriction import contracted_offers
from localflex.market.designs.stages import needs_from_guard


@pytest.fixture(scope="module")
def inp():
    return small_input()


def _after_dso(inp, result) -> np.ndarray:
    guard = GridGuard(inp)
    guard.apply_trades(result.trades[result.trades["stage"].str.startswith("yellow-dso")])
    return guard.head_kw


def _margin_kw(inp) -> np.ndarray:
    rated = inp.cps["rated_kva"].to_numpy(dtype=float)
    return inp.params.thresholds.yellow_margin_pct / 100.0 * rated


@pytest.mark.parametrize("margin_pct", [5.0, 10.0, 20.0])
def test_usef_buys_its_yellow_points_out_of_risk_bdew_down_to_the_limit(inp, margin_pct):
    inp = replace(inp, params=replace(inp.params, thresholds=LightThresholds(
        yellow_margin_pct=margin_pct)))
    res = {r.design: r for r in run_designs(inp, "conditional_usef,conditional_bdew")}
    usef, bdew = res["conditional_usef"], res["conditional_bdew"]
    margin = _margin_kw(inp)
    yellow = state_lights(inp.forecast.cp_loading_pct, inp.cps, inp.params.thresholds) > 0
    assert yellow.any()
    head_usef, head_bdew = _after_dso(inp, usef), _after_dso(inp, bdew)
    # USEF: every yellow point at or beyond the green boundary (offers suffice here)
    assert ((head_usef - margin[None, :])[yellow] >= -1e-6).all()
    # BDEW: the foreseen problems gone, the risk band left
    assert (head_bdew[yellow] >= -1e-6).all()
    assert ((head_bdew - margin[None, :])[yellow] < -1.0).any()
    assert usef.kpis["grid_kwh"] > bdew.kpis["grid_kwh"]
    assert usef.details["yellow_margin_pct"] == margin_pct
    assert (usef.trades["stage"] == "yellow-dso-risk").any()
    assert not (bdew.trades["stage"] == "yellow-dso-risk").any()
    # the same purchase against the problem first: USEF's first stage is BDEW's
    first = usef.trades[usef.trades["stage"] == "yellow-dso"]
    b = bdew.trades[bdew.trades["stage"] == "yellow-dso"]
    assert first[["offer_id", "power_kw"]].reset_index(drop=True).equals(
        b[["offer_id", "power_kw"]].reset_index(drop=True))
    # the risk margin never escalates: the market covers the need, no backup
    for r in (usef, bdew):
        assert r.kpis["control_kwh"] == 0.0 and r.kpis["curtailed_kwh"] == 0.0


def test_with_no_margin_usef_trades_like_bdew(inp):
    """USEF's extra purchase is its risk band and nothing else."""
    inp = replace(inp, params=replace(inp.params, thresholds=LightThresholds(
        yellow_margin_pct=0.0)))
    usef, bdew = run_designs(inp, "conditional_usef,conditional_bdew")
    cols = ["stage", "offer_id", "request_id", "power_kw", "paid_eur"]
    assert usef.trades[cols].equals(bdew.trades[cols])


def test_deflex_contract_holds_the_relieving_flexibility_for_the_dso(inp):
    r = run_designs(inp, "deflex_areas")[0]
    areas = distribution_areas(inp.grid)
    planned = restriction_levels(areas, needs_from_guard(inp, GridGuard(inp)))
    under = contracted_offers(inp.offers, areas, planned)
    assert 0 < under.sum() < len(inp.offers)
    assert r.details["contracted_offers"] == int(under.sum())
    contracted_ids = set(inp.offers.loc[under, "offer_id"])
    t = r.trades
    dso = t["stage"].isin(["1-dso-contracted", "4-dso-intraday"])
    assert set(t.loc[dso, "offer_id"]) <= contracted_ids
    assert not set(t.loc[~dso, "offer_id"]) & contracted_ids
    # every offer that relieves a forecast overload in its ISP is under contract
    isp = inp.offers["isp"].to_numpy()
    pos = np.searchsorted(inp.bus_ids, inp.offers["bus"].to_numpy())
    sign = np.where(inp.offers["direction"].to_numpy() == "up", 1.0, -1.0)
    relief = inp.relief[isp, :, pos] * sign[:, None]
    relieves = ((relief > 1e-6) & (inp.needs.overload_kw[isp] > 1e-6)).any(axis=1)
    assert relieves.any() and not (relieves & ~under).any()
    # so the DSO gets its need, as when it clears first on every offer
    seq = run_designs(inp, "sequential_dso_first")[0]
    assert r.kpis["grid_kwh"] == pytest.approx(seq.kpis["grid_kwh"], rel=1e-6)
    assert r.kpis["residual_overload_kwh"] <= 0.01 * inp.needs.overload_kw.sum()


def test_deflex_without_a_forecast_need_contracts_nothing(inp):
    calm = inp.offers.iloc[:0]
    areas = distribution_areas(inp.grid)
    levels = restriction_levels(areas, needs_from_guard(inp, GridGuard(inp)))
    assert contracted_offers(calm, areas, levels).shape == (0,)
    none = levels.assign(level="none")
    assert not contracted_offers(inp.offers, areas, none).any()


def test_levels_without_a_monitored_point_restrict_nothing(inp):
    """A study day whose forecast comes near no limit has no congestion point to watch: the
    levels are unconstrained and nothing is under contract (was a crash on a year study)."""
    from localflex.market.dso_single_buyer import CongestionNeeds

    areas = distribution_areas(inp.grid)
    empty = CongestionNeeds(cp_ids=np.array([], dtype=object),
                            overload_kw=np.zeros((inp.n_isps, 0)),
                            headroom_kw=np.zeros((inp.n_isps, 0)),
                            relief_kw_per_kw_up=np.zeros((inp.n_isps, 0, inp.bus_ids.size)),
                            bus_ids=inp.bus_ids, isp_hours=inp.isp_hours)
    levels = restriction_levels(areas, empty)
    assert (levels["level"] == "none").all() and np.isinf(levels["headroom_kw"]).all()
    assert not contracted_offers(inp.offers, areas, levels).any()
