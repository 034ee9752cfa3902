"""How grid- and market-oriented use of flexibility coexist: paper §6.2 and Table 2.

Every design takes the same ``DesignInput`` and returns a ``DesignResult`` with the same KPIs.

``no_coupling`` — Table 2, rows 1–2 (refs. [54–60] and [66, 67])
    Two markets side by side, nothing couples them. Before either opens, each aggregator
    splits its flexibility between them with the multi-market allocation on expected prices
    (``split``). The DSO's market (DSO the single buyer, §5.3) clears day-ahead on the
    forecast with the part offered to it. The IMO's continuous double auction (ref. [66]:
    BRPs buy; network constraints "are not considered") and the TSO's AS market trade the
    other part, grid-blind. The DSO never hears of their trades; it sees them only as the
    grid state they leave, and in an intraday round buys away what its own market still
    offers, or leaves the overload — ``new_overload_kwh`` and ``residual_overload_kwh``.

``no_coupling_micro`` — as ``no_coupling``, with the IMO's market the day-ahead uniform-price
    micro-market of ref. [67] (``localflex.market.micro_market``) instead of the continuous
    book, cleared once per direction without grid constraints; every fill of an (ISP,
    direction) is paid the one clearing price (buyers pay <= their bid, sellers get >= their
    ask).

``conditional`` — refs. [68] (USEF, 4 regimes) and [69] (BDEW, 3); §6.2, §7
    One market (the IMO's book); the traffic light (``grid.traffic_light``) per congestion
    point and ISP decides the regime:
    * green: free trading, no check;
    * yellow: the DSO asks the market first — it buys (single buyer) at every point with a
      forecast need; market trades that affect a yellow point are then limited so that it
      stays within its limit. The two schemes differ in when the DSO steps in and for what
      (§6.2). USEF: "when the grid is in a potential state of risk, the DSO starts
      participating in the market to procure flexibility in order to avoid any technical
      problem" — its yellow covers the risk band (loading within ``yellow_margin_pct`` of
      the limit, USEF's own scheme parameter ``LightThresholds.yellow_margin_pct``, reported
      as ``yellow_margin_pct``), and its DSO buys every yellow point out of that state: after
      the purchase that removes the overload (stage ``yellow-dso``) it buys, on what is
      left, the loading down to the green boundary, limit − margin (``yellow-dso-risk``).
      BDEW: "If the DSO foresees a technical problem, it starts contracting flexibility
      directly in the market" — its yellow starts at a foreseen problem (need > 0) and its
      DSO buys that problem away, down to the limit; trading in BDEW's margin band stays
      free;
    * orange (USEF): only what the market could not solve against the limit escalates (a
      margin USEF's DSO could not buy does not): direct control of
      contracted resources (``control_*_kw``, at ``control_price_eur_per_mwh``); graceful
      degradation: the market goes on beside it, its trades checked at the point;
    * red: what direct control could not solve either (or a point in the documented
      emergency condition, ``LightThresholds.emergency_factor``, off by default, where the
      DSO does not wait for the market): emergency curtailment / load shedding
      (``curtail_*_kw``, at ``curtailment_price_eur_per_mwh``). BDEW's red is USEF's orange
      + red: direct control first, then curtailment. Behind a red point the operator
      overrides the market: its sellers may not trade that ISP (USEF's orange keeps them).
    The forecast colours (``forecast_lights``) are reported; the realised regimes
    (``escalate``) follow from what the market actually solved.

``sequential_dso_first`` — ref. [65], as §6.2 describes it
    One IMO platform. The DSO clears first on all offers; the remaining bids pass to the TSO,
    whose trades the ``GridGuard`` limits so that no point resolved by the DSO is overloaded
    again; "eventually leaving the non-constrained flexibility offers for market-oriented
    services": the BRPs may buy only offers that touch no point congested or within the
    yellow margin in the forecast in their ISP (guarded too). (``tso_dso_local`` differs:
    the DSO operates its own market and hands the TSO aggregated, prequalified bids; BRPs
    buy any offer the guard lets through.)

``sequential_brp_first`` — ref. [70]
    Intraday: first the BRP (and TSO) requests in the DSO's direction of each ISP (the one
    that relieves its congested points) are matched, then the requests in the opposite
    direction, both guarded; then the DSO buys, from what is left, what the guard's state
    still shows overloaded.

Trades of one stage are always checked against the grid state left by the earlier stages
(``GridGuard``); the final verification is a full power flow (``result.evaluate``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localflex.grid.traffic_light import (
    GREEN,
    LIGHT_CODES,
    RED,
    YELLOW,
    LightScheme,
    emergency_mask,
    escalate,
    forecast_lights,
    light_hours,
    state_lights,
)
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.joint import pair_fills
from localflex.market.designs.ledger import (
    UNIFORM_PRICE,
    GridGuard,
    OfferPool,
    TradeLog,
    TradePurpose,
    row_sums,
)
from localflex.market.designs.result import DesignResult, evaluate
from localflex.market.designs.split import split_offers
from localflex.market.designs.stages import book_stage, dso_stage, force_stage
from localflex.market.dso_single_buyer import RELIEF_EPS_KW_PER_KW
from localflex.market.micro_market import clear_micro_market

__all__ = [
    "conditional",
    "conditional_bdew",
    "conditional_usef",
    "market_and_control_relief_kw",
    "no_coupling",
    "no_coupling_micro",
    "sequential_brp_first",
    "sequential_dso_first",
]


def _uncoupled(inp: DesignInput, name: str, imo_stage) -> DesignResult:
    """The two uncoupled markets of Table 2 (module docstring): ex-ante split, DSO day-ahead
    on its part, grid-blind IMO trading on the other, the DSO's intraday round."""
    dso_offers, imo_offers, allocation = split_offers(inp)
    dso_pool = OfferPool.of(inp, dso_offers)  # one offer's two parts share its units' budgets
    imo_pool = OfferPool.of(inp, imo_offers, energy=dso_pool.energy)
    log = TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    da = dso_stage(inp, dso_pool, guard, log, stage="1-dso-da")
    market = imo_stage(inp, imo_pool, inp.brp_requests, log, stage="2-imo")
    system = book_stage(inp, imo_pool, inp.tso_requests, log, stage="3-tso")
    # the DSO sees the schedules only as a changed grid state (no coordination) ...
    for trades in (market, system):
        if len(trades):
            guard.apply_trades(pd.DataFrame(trades))
    created = guard.overload_kw.sum() * inp.isp_hours
    # ... and buys away what it can with what is left in its own market, or leaves it
    intraday = dso_stage(inp, dso_pool, guard, log, stage="4-dso-intraday")
    by_market = (allocation.groupby("market")["power_kw"].sum() * inp.isp_hours
                 if len(allocation) else pd.Series(dtype=float))
    details = {
        "stages": {"dso-da": len(da), "imo": len(market), "tso": len(system),
                   "dso-intraday": len(intraday)},
        "offered_kwh_by_market": {str(k): float(v) for k, v in by_market.items()},
        "overload_after_imo_kwh_linearised": float(created),
    }
    return evaluate(inp, name, log.frame(), details)


def no_coupling(inp: DesignInput, *, name: str = "no_coupling") -> DesignResult:
    """Paper §6.2, Table 2 rows 1–2 (refs. [54–60], [66]): DSO market and IMO continuous
    book side by side, uncoupled; aggregators split their flexibility ex ante (module
    docstring)."""
    return _uncoupled(inp, name, book_stage)


def micro_market_stage(inp: DesignInput, pool: OfferPool, requests: pd.DataFrame,
                       log: TradeLog, *, stage: str) -> pd.DataFrame:
    """Ref. [67]'s uniform-price auction, grid-blind, once per direction (module doc)."""
    offers = pool.available().reset_index(drop=True)
    # a sealed-bid auction of every ISP at once: each seller offers only what it can deliver
    # if every one of its bids is accepted (its budgets left spread pro rata over its offers)
    offers["max_power_kw"] = pool.energy.pro_rata_kw(offers["offer_id"],
                                                     offers["max_power_kw"].to_numpy())
    offers = offers[offers["max_power_kw"] >= 1e-3].reset_index(drop=True)
    requests = requests.reset_index(drop=True)
    out = []
    for direction in ("up", "down"):
        o = offers[offers["direction"] == direction].reset_index(drop=True)
        r = requests[requests["direction"] == direction].reset_index(drop=True)
        if o.empty or r.empty:
            continue
        orders = pd.concat([
            pd.DataFrame({"order_id": o["offer_id"], "party_id": o["aggregator_id"],
                          "side": "sell", "bus": o["bus"], "isp": o["isp"],
                          "power_kw": o["max_power_kw"], "price_eur_per_mwh":
                          o["price_eur_per_mwh"]}),
            pd.DataFrame({"order_id": r["request_id"], "party_id": r["party_id"],
                          "side": "buy", "bus": -1, "isp": r["isp"], "power_kw": r["power_kw"],
                          "price_eur_per_mwh": r["price_eur_per_mwh"]}),
        ], ignore_index=True)
        res = clear_micro_market(orders, n_isps=inp.n_isps, isp_hours=inp.isp_hours)
        traded = res.trades.set_index("order_id")["traded_kw"]
        price = res.prices.set_index("isp")["price_eur_per_mwh"]
        sell_kw = o["offer_id"].map(traded).fillna(0.0).to_numpy()
        buy_kw = r["request_id"].map(traded).fillna(0.0).to_numpy()
        pairs = pair_fills(o, r, sell_kw, buy_kw)
        s_rows, b_rows = o.iloc[pairs["o"].to_numpy()], r.iloc[pairs["k"].to_numpy()]
        q = pairs["kw"].to_numpy()
        amount = price.reindex(s_rows["isp"]).to_numpy() * q * inp.isp_hours / 1000.0
        frame = dict(stage=stage, purpose=b_rows["purpose"].to_numpy(),
                     buyer_id=b_rows["party_id"].to_numpy(),
                     seller_id=s_rows["aggregator_id"].to_numpy(),
                     offer_id=s_rows["offer_id"].to_numpy(),
                     request_id=b_rows["request_id"].to_numpy(), bus=s_rows["bus"].to_numpy(),
                     isp=s_rows["isp"].to_numpy(), direction=direction, power_kw=q,
                     ask_eur_per_mwh=s_rows["price_eur_per_mwh"].to_numpy(),
                     bid_eur_per_mwh=b_rows["price_eur_per_mwh"].to_numpy(),
                     paid_eur=amount, received_eur=amount, pricing=UNIFORM_PRICE)
        log.add(**frame)
        pool.take(s_rows["offer_id"], q)
        out.append(pd.DataFrame(frame))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def no_coupling_micro(inp: DesignInput, *, name: str = "no_coupling_micro") -> DesignResult:
    """Paper §6.2, Table 2 row 2, ref. [67]: as ``no_coupling`` with the IMO's market the
    uniform-price micro-market (module docstring)."""
    return _uncoupled(inp, name, micro_market_stage)


def market_and_control_relief_kw(inp: DesignInput) -> tuple[np.ndarray, np.ndarray]:
    """[T, CP] relief on offer (offers under the DSO's cap) and under direct control."""
    offers = inp.offers
    cap = inp.params.dso_price_cap_eur_per_mwh
    if cap is not None:
        offers = offers[offers["price_eur_per_mwh"] <= cap]
    isp = offers["isp"].to_numpy(dtype=np.int64)
    pos = np.searchsorted(inp.bus_ids, offers["bus"].to_numpy(dtype=np.int64))
    sign = np.where(offers["direction"].to_numpy() == "up", 1.0, -1.0)
    r = inp.relief[isp, :, pos] * sign[:, None]  # [O, CP]
    market = row_sums(isp, np.maximum(r, 0.0) * offers["max_power_kw"].to_numpy()[:, None],
                      inp.n_isps)
    control = inp.relief.positive_sum_kw(inp.control_up_kw, inp.control_down_kw)
    return market, control


def _blocked_offers(inp: DesignInput, pool: OfferPool, blocked: np.ndarray) -> np.ndarray:
    """Offers at a bus that affects a point in ``blocked`` [T, CP] in their ISP."""
    offers = pool.offers
    isp = offers["isp"].to_numpy(dtype=np.int64)
    out = np.zeros(isp.size, dtype=bool)
    sub = np.flatnonzero(blocked[isp].any(axis=1))  # only offers of ISPs with a blocked point
    if sub.size:
        pos = np.searchsorted(inp.bus_ids, offers["bus"].to_numpy(dtype=np.int64)[sub])
        touches = np.abs(inp.relief[isp[sub], :, pos]) > RELIEF_EPS_KW_PER_KW  # [O', CP]
        out[sub] = (touches & blocked[isp[sub]]).any(axis=1)
    return out


def conditional(inp: DesignInput, scheme: LightScheme | str = LightScheme.USEF, *,
                name: str | None = None) -> DesignResult:
    """Conditional coupling by traffic light, USEF (4 regimes, ref. [68]) or BDEW (3,
    ref. [69]); paper §6.2 (module docstring)."""
    scheme = LightScheme(scheme)
    market_relief, control_relief = market_and_control_relief_kw(inp)
    th = inp.params.thresholds
    lights = forecast_lights(inp.forecast.cp_loading_pct, inp.cps,
                             market_relief_kw=market_relief, control_relief_kw=control_relief,
                             scheme=scheme, thresholds=th)
    limit = inp.cps["max_loading_pct"].to_numpy(dtype=float)
    emergency = emergency_mask(inp.forecast.cp_loading_pct, limit, th)
    pool, log = OfferPool.of(inp), TradeLog(inp.isp_hours)
    guard = GridGuard(inp, enforce=lights != GREEN)
    prm = inp.params
    control_up, control_down = inp.control_up_kw.copy(), inp.control_down_kw.copy()
    curtail_up, curtail_down = inp.curtail_up_kw.copy(), inp.curtail_down_kw.copy()

    # yellow: the DSO asks the market first wherever a problem is forecast (unless an
    # emergency condition holds there: then it does not wait for market delivery) ...
    need = (guard.head_kw < -1e-6) & (lights >= YELLOW)
    dso_stage(inp, pool, guard, log, stage="yellow-dso", mask=need & ~emergency)
    # ... USEF's DSO then buys its yellow points out of the potential state of risk (to the
    # green boundary, limit − yellow margin); BDEW's stops at the foreseen problem (the limit)
    margin_kw = th.yellow_margin_pct / 100.0 * inp.cps["rated_kva"].to_numpy(dtype=float)
    at_risk = (lights >= YELLOW) & ~emergency & (guard.head_kw < margin_kw[None, :] - 1e-6)
    if scheme is LightScheme.USEF:
        dso_stage(inp, pool, guard, log, stage="yellow-dso-risk", mask=at_risk,
                  margin_kw=margin_kw)
    # only what the market could not solve against the limit escalates (paper §6.2)
    market_left = need & (guard.head_kw < -1e-6)
    traded_up, traded_down = log.delivered_kw(inp.n_isps, inp.bus_ids)
    control_up = np.maximum(control_up - traded_up, 0.0)
    control_down = np.maximum(control_down - traded_down, 0.0)
    stage = "orange-control" if scheme is LightScheme.USEF else "red-control"
    control_kw = force_stage(inp, guard, log, stage=stage, targets=market_left,
                             up_kw=control_up, down_kw=control_down,
                             price_eur_per_mwh=prm.control_price_eur_per_mwh,
                             purpose=TradePurpose.CONTROL, seller_id="contracted")
    control_left = market_left & (guard.head_kw < -1e-6)
    curtail_kw = force_stage(inp, guard, log, stage="red-curtail", targets=control_left,
                             up_kw=curtail_up, down_kw=curtail_down,
                             price_eur_per_mwh=prm.curtailment_price_eur_per_mwh,
                             purpose=TradePurpose.CURTAIL, seller_id="curtailed")
    regimes = escalate(lights, market_left, control_left, scheme)
    # market use: free where green, guarded where yellow and in USEF's orange (graceful
    # degradation: the market goes on beside direct control), closed behind red points
    # (USEF's emergency, BDEW's intervention: the operator overrides the market there)
    closed = _blocked_offers(inp, pool, regimes == RED)
    book_stage(inp, pool, inp.requests, log, stage="market", guard=guard, offer_mask=~closed)
    details = {
        "scheme": scheme.value,
        "forecast_light_hours": light_hours(lights, inp.isp_hours),
        "forecast_light_cp_isps": {str(c): int((lights == i).sum())
                                   for i, c in enumerate(LIGHT_CODES)},
        "regime_cp_isps": {str(c): int((regimes == i).sum())
                           for i, c in enumerate(LIGHT_CODES)},
        "emergency_cp_isps": int(emergency.sum()),
        "yellow_margin_pct": th.yellow_margin_pct,
        "at_risk_cp_isps": int(at_risk.sum()),
        "escalated_from_market_cp_isps": int(market_left.sum()),
        "control_kw": control_kw,
        "curtail_kw": curtail_kw,
        "guard_limited_kw": guard.limited_kw,
        "offers_closed_by_light": int(closed.sum()),
    }
    return evaluate(inp, name or f"conditional_{scheme.value}", log.frame(), details)


def conditional_usef(inp: DesignInput) -> DesignResult:
    """Ref. [68] (USEF, four operating regimes), paper §6.2 and §7: ``conditional`` with
    the USEF scheme — "when the grid is in a potential state of risk, the DSO starts
    participating in the market to procure flexibility in order to avoid any technical
    problem": the DSO buys its yellow points down to limit − ``yellow_margin_pct``."""
    return conditional(inp, LightScheme.USEF)


def conditional_bdew(inp: DesignInput) -> DesignResult:
    """Ref. [69] (BDEW Traffic Light Concept, three phases), paper §6.2 and §7:
    ``conditional`` with the BDEW scheme — "If the DSO foresees a technical problem, it
    starts contracting flexibility directly in the market in the so-called 'yellow phase'":
    the DSO buys the foreseen overload away, down to the limit."""
    return conditional(inp, LightScheme.BDEW)


def sequential_dso_first(inp: DesignInput, *, name: str = "sequential_dso_first"
                         ) -> DesignResult:
    """Ref. [65] as §6.2 reads it: DSO, then TSO, then market use on the non-constrained
    offers only, each stage guarded (module docstring)."""
    pool, log = OfferPool.of(inp), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    dso_stage(inp, pool, guard, log, stage="1-dso")
    book_stage(inp, pool, inp.tso_requests, log, stage="2-tso", guard=guard)
    watched = state_lights(inp.forecast.cp_loading_pct, inp.cps,
                           inp.params.thresholds) != GREEN
    constrained = _blocked_offers(inp, pool, watched)
    book_stage(inp, pool, inp.brp_requests, log, stage="3-market", guard=guard,
               offer_mask=~constrained)
    return evaluate(inp, name, log.frame(), {"guard_limited_kw": guard.limited_kw,
                                             "constrained_offers": int(constrained.sum())})


def dso_direction(inp: DesignInput) -> np.ndarray:
    """[T] 'up' / 'down' / '' : the direction that relieves the largest need of each ISP."""
    over = inp.needs.overload_kw
    out = np.full(inp.n_isps, "", dtype=object)
    t = np.flatnonzero((over > 1e-6).any(axis=1))
    if t.size == 0:  # no need (or no monitored point): no DSO direction
        return out
    c = over[t].argmax(axis=1)
    net = inp.relief[t, c, :].sum(axis=1)
    out[t] = np.where(net > 0, "up", "down")
    return out


def sequential_brp_first(inp: DesignInput, *, name: str = "sequential_brp_first"
                         ) -> DesignResult:
    """Ref. [70], paper §6.2: requests in the DSO's direction, then opposite, then the DSO
    (module docstring)."""
    pool, log = OfferPool.of(inp), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    direction = dso_direction(inp)
    req = inp.requests
    same = (direction[req["isp"].to_numpy()] == req["direction"].to_numpy())
    book_stage(inp, pool, req[same], log, stage="1-same-direction", guard=guard)
    book_stage(inp, pool, req[~same], log, stage="2-opposite", guard=guard)
    dso_stage(inp, pool, guard, log, stage="3-dso")
    return evaluate(inp, name, log.frame(), {"guard_limited_kw": guard.limited_kw})
