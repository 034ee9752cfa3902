"""Grid-constrained micro-market and De-Flex trade limits on 1-LV-rural1--2-sw (PV overloads
its transformer at midday), verified by a real power flow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from localflex.grid import (
    BusLoads,
    congestion_points,
    flow_sensitivity,
    headroom_kw,
    overload_kw,
    relief_kw_per_kw_up,
    run_power_flow,
)
from localflex.market import (
    CongestionNeeds,
    clear_micro_market,
    distribution_areas,
    limit_trades,
    money_balance_eur,
    restriction_levels,
)

SAFETY = 0.9  # share of the headroom handed to the market (linearisation margin)


@pytest.fixture(scope="module")
def lv(lv_congested_day):
    day = lv_congested_day
    cps = congestion_points(day.grid)
    sens = flow_sensitivity(day.grid, day.loads)
    needs = CongestionNeeds(
        cp_ids=cps["cp_id"].to_numpy(), overload_kw=overload_kw(day.flows, cps),
        headroom_kw=headroom_kw(day.flows, cps) * SAFETY,
        relief_kw_per_kw_up=relief_kw_per_kw_up(sens, day.flows),
        bus_ids=np.asarray(day.grid.bus_ids, dtype=np.int64), isp_hours=0.25)
    return day, cps, needs


def random_orders(rng, bus_ids, n_isps, n=200):
    return pd.DataFrame({
        "order_id": [f"o{i}" for i in range(n)],
        "party_id": rng.choice(["p1", "p2", "p3", "p4"], n),
        "side": rng.choice(["buy", "sell"], n),
        "bus": rng.choice(bus_ids, n),
        "isp": rng.integers(0, n_isps, n),
        "power_kw": rng.uniform(1.0, 40.0, n),
        "price_eur_per_mwh": rng.uniform(10.0, 200.0, n).round(1),
    })


def check_flows(day, cps, delta_injection_kw):
    after = run_power_flow(day.grid, BusLoads(day.loads.p_kw - delta_injection_kw,
                                              day.loads.q_kvar))
    limit = cps["max_loading_pct"].to_numpy()[None, :]
    before = day.flows.cp_loading_pct
    within = before <= limit
    assert (after.cp_loading_pct[within] <= np.broadcast_to(limit, within.shape)[within]
            + 1e-6).all()
    # an overloaded point is not made worse (0.5 %-points linearisation tolerance)
    assert (after.cp_loading_pct[~within] <= before[~within] + 0.5).all()
    return after


def injection(day, frame, kw_column, sign):
    delta = np.zeros_like(day.loads.p_kw)
    np.add.at(delta, (frame["isp"].to_numpy(), day.grid.bus_index_of(frame["bus"].to_numpy())),
              sign * frame[kw_column].to_numpy())
    return delta


def test_lv_day_is_congested(lv):
    _, _, needs = lv
    assert needs.overload_kw.max() > 1.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grid_constrained_micro_market_respects_limits_in_a_real_power_flow(lv, seed):
    day, cps, needs = lv
    rng = np.random.default_rng(seed)
    orders = random_orders(rng, needs.bus_ids, day.loads.n_isps)
    free = clear_micro_market(orders, n_isps=day.loads.n_isps)
    result = clear_micro_market(orders, n_isps=day.loads.n_isps, grid=needs)
    assert result.welfare_eur <= free.welfare_eur + 1e-9  # constraints cost welfare
    t = result.trades
    sign = np.where(t["side"].to_numpy() == "sell", 1.0, -1.0)
    check_flows(day, cps, injection(day, t.assign(kw=sign * t["traded_kw"]), "kw", 1.0))
    # LMPs support the allocation: buyers pay <= bid, sellers get >= ask
    buy = t["side"] == "buy"
    assert (t.loc[buy, "clearing_price_eur_per_mwh"]
            <= t.loc[buy, "price_eur_per_mwh"] + 1e-6).all()
    assert (t.loc[~buy, "clearing_price_eur_per_mwh"]
            >= t.loc[~buy, "price_eur_per_mwh"] - 1e-6).all()
    assert result.congestion_rent_eur >= -1e-6
    assert money_balance_eur(result.outcome()) == pytest.approx(0.0, abs=1e-6)
    # energy balances per ISP
    net = t.assign(s=np.where(buy, -1.0, 1.0) * t["traded_kw"]).groupby("isp")["s"].sum()
    assert np.allclose(net, 0.0, atol=1e-6)


def test_deflex_areas_levels_and_limited_trades_in_a_real_power_flow(lv):
    day, cps, needs = lv
    areas = distribution_areas(day.grid)
    assert areas["area_id"].str.startswith("feeder:").sum() >= 3
    levels = restriction_levels(areas, needs, limited_below_kw=20.0)
    assert set(levels["level"]) >= {"blocked", "none"}
    # at the midday overload, more injection (up) anywhere under the transformer is blocked
    peak = int(np.argmax(needs.overload_kw.max(axis=1)))
    at_peak = levels[(levels["isp"] == peak) & (levels["direction"] == "up")]
    assert (at_peak["level"] == "blocked").all()
    assert (levels.loc[(levels["isp"] == peak) & (levels["direction"] == "down"),
                       "level"] != "blocked").all()
    rng = np.random.default_rng(5)
    n = 300
    trades = pd.DataFrame({"bus": rng.choice(needs.bus_ids, n),
                           "isp": rng.integers(0, day.loads.n_isps, n),
                           "direction": rng.choice(["up", "down"], n),
                           "power_kw": rng.uniform(1.0, 60.0, n)})
    checked = limit_trades(trades, levels, areas)
    assert (checked["allowed_kw"] <= checked["power_kw"] + 1e-12).all()
    assert (checked.loc[checked["level"] == "blocked", "allowed_kw"] == 0).all()
    assert (checked["status"] != "ok").any() and (checked["status"] == "ok").any()
    sign = np.where(checked["direction"] == "up", 1.0, -1.0)
    unchecked = injection(day, trades.assign(kw=sign * trades["power_kw"]), "kw", 1.0)
    after_raw = run_power_flow(day.grid, BusLoads(day.loads.p_kw - unchecked, day.loads.q_kvar))
    limit = cps["max_loading_pct"].to_numpy()[None, :]
    assert ((after_raw.cp_loading_pct > limit) & (day.flows.cp_loading_pct <= limit)).any()
    check_flows(day, cps, injection(day, checked.assign(kw=sign * checked["allowed_kw"]),
                                    "kw", 1.0))
