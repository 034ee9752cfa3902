"""Gaming between markets: inc–dec (paper §6.1).

"[The aggregator] can exploit the presence of different markets (local and wholesale) with
different aims by voluntarily creating a local problem and being paid afterwards to solve it."

The game (``inc_dec_game``)
---------------------------
1. Before the DSO's gate closure the IMO's market trades. The gaming aggregator sells UP
   (more injection: battery discharge, less consumption) at its buses behind each point
   that is congested or in the yellow band, in those ISPs — to an affiliated BRP at its own
   low price (a wash trade: it costs the pair nothing). Honest BRPs and the TSO trade as
   usual, in the same grid-blind continuous book.
2. The DSO forecasts with the market schedules it is told of and buys relief. The gamer
   offers to undo its own position (DOWN at the same bus and ISP, at ``undo_price``): relief
   the DSO pays for, for a problem the gamer created.

The indicator (``inc_dec_indicator``)
-------------------------------------
Per aggregator ``a`` and congestion point ``c``: ``worsen[t]`` = loading the aggregator's
market / system trades *made before* its first DSO award in ISP ``t`` add at ``c``
(Σ max(0, −relief·sign·kW)); ``relieve[t]`` = relief its DSO awards give at ``c``.
``overlap_kwh = Σ_t min(worsen[t], relieve[t]) · h`` is relief the DSO bought from the
aggregator that only offsets its own earlier position; ``share = overlap / Σ relieve · h``.
Flagged when ``share >= share_threshold`` (0.2) and ``overlap_kwh >= min_kwh`` (1 kWh).

Mitigations (``mitigation=``)
-----------------------------
* ``"locational"`` — locational bidding restriction: the IMO checks each market trade with
  the ``GridGuard`` before it happens, enforced at the points that are congested or yellow in
  the forecast; a position that worsens such a point is cut, so there is nothing to undo.
* ``"frozen_baseline"`` — baselines frozen at the DSO's gate closure, before the market
  session: the DSO's needs come from the frozen forecast and relief is measured against the
  frozen baseline, so undoing a later position is no relief and is not bought. The position
  itself remains a deviation that overloads the grid (residual overload, penalised in
  welfare): freezing stops the payment, not the physics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localflex.domain import OFFER_COLUMNS, InputError, Purpose
from localflex.grid.traffic_light import GREEN, state_lights
from localflex.market.designs.inputs import REQUEST_FRAME_COLUMNS, DesignInput
from localflex.market.designs.ledger import GridGuard, OfferPool, TradeLog, TradePurpose
from localflex.market.designs.result import DesignResult, evaluate
from localflex.market.designs.stages import book_stage, dso_stage
from localflex.market.dso_single_buyer import RELIEF_EPS_KW_PER_KW

__all__ = ["MITIGATIONS", "inc_dec_game", "inc_dec_indicator"]

MITIGATIONS = ("none", "locational", "frozen_baseline")


def inc_dec_indicator(inp: DesignInput, trades: pd.DataFrame, *,
                      share_threshold: float = 0.2, min_kwh: float = 1.0,
                      watched: np.ndarray | None = None) -> pd.DataFrame:
    """Per (aggregator, congestion point) overlap of self-created and sold relief (module doc).

    Only (ISP, point) pairs in ``watched`` [T, CP] count; default: not green in the forecast
    (``state_lights``: congested or within the yellow margin), where a DSO buys.
    Columns: aggregator_id, cp_id, worsening_kwh, dso_relief_kwh, overlap_kwh, share, flagged.
    """
    h = inp.isp_hours
    if watched is None:
        watched = state_lights(inp.forecast.cp_loading_pct, inp.cps,
                               inp.params.thresholds) != GREEN
    cp_ids = inp.cps["cp_id"].to_numpy()
    trades = trades.reset_index(drop=True)
    isp = trades["isp"].to_numpy(dtype=np.int64)
    pos = np.searchsorted(inp.bus_ids, trades["bus"].to_numpy(dtype=np.int64))
    sign = np.where(trades["direction"].to_numpy() == "up", 1.0, -1.0)
    effect = inp.relief[isp, :, pos] * (sign * trades["power_kw"].to_numpy())[:, None]  # [N, CP]
    effect[np.abs(effect) <= RELIEF_EPS_KW_PER_KW] = 0.0
    purpose = trades["purpose"].to_numpy()
    is_dso = purpose == TradePurpose.GRID.value
    is_mkt = np.isin(purpose, [TradePurpose.MARKET.value, TradePurpose.SYSTEM.value])
    seller = trades["seller_id"].to_numpy()
    rows = []
    for a in np.unique(seller[is_dso]):
        mine_dso = is_dso & (seller == a)
        first = pd.Series(np.flatnonzero(mine_dso)).groupby(isp[mine_dso]).min()
        first_row = np.full(inp.n_isps, -1)
        first_row[first.index.to_numpy()] = first.to_numpy()
        earlier = is_mkt & (seller == a) & (np.arange(len(trades)) < first_row[isp])
        worsen = np.zeros((inp.n_isps, cp_ids.size))
        relieve = np.zeros_like(worsen)
        np.add.at(worsen, isp[earlier], np.maximum(-effect[earlier], 0.0))
        np.add.at(relieve, isp[mine_dso], np.maximum(effect[mine_dso], 0.0))
        worsen *= watched
        relieve *= watched
        overlap = np.minimum(worsen, relieve).sum(axis=0) * h
        sold = relieve.sum(axis=0) * h
        for c in np.flatnonzero(sold > 1e-6):
            share = overlap[c] / sold[c]
            rows.append({
                "aggregator_id": a, "cp_id": cp_ids[c],
                "worsening_kwh": float(worsen[:, c].sum() * h), "dso_relief_kwh": float(sold[c]),
                "overlap_kwh": float(overlap[c]), "share": float(share),
                "flagged": bool(share >= share_threshold and overlap[c] >= min_kwh),
            })
    columns = ["aggregator_id", "cp_id", "worsening_kwh", "dso_relief_kwh", "overlap_kwh",
               "share", "flagged"]
    return pd.DataFrame(rows, columns=columns)


def _gamer_orders(inp: DesignInput, gamer: str, watched: np.ndarray, wash_price: float
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The gamer's worsening UP position: its sell offers that worsen a watched point in their
    ISP, re-priced at ``wash_price``, and the affiliate's matching buy requests."""
    offers = inp.offers
    mine = offers[offers["aggregator_id"] == gamer]
    isp = mine["isp"].to_numpy(dtype=np.int64)
    pos = np.searchsorted(inp.bus_ids, mine["bus"].to_numpy(dtype=np.int64))
    sign = np.where(mine["direction"].to_numpy() == "up", 1.0, -1.0)
    worsens = ((inp.relief[isp, :, pos] * sign[:, None] < -RELIEF_EPS_KW_PER_KW)
               & watched[isp]).any(axis=1)
    position = mine[worsens].assign(price_eur_per_mwh=wash_price)
    affiliate = f"{gamer}-affiliate-BRP"
    requests = pd.DataFrame({
        "request_id": "wash/" + position["offer_id"],
        "party_id": affiliate,
        "purpose": Purpose.MARKET.value,
        "isp": position["isp"].to_numpy(),
        "direction": position["direction"].to_numpy(),
        "power_kw": position["max_power_kw"].to_numpy(),
        "price_eur_per_mwh": wash_price,
    })[list(REQUEST_FRAME_COLUMNS)]
    return position, requests


def inc_dec_game(
    inp: DesignInput,
    gamer: str,
    *,
    mitigation: str = "none",
    undo_price_eur_per_mwh: float = 45.0,
    wash_price_eur_per_mwh: float = 1.0,
) -> DesignResult:
    """Play the inc–dec game of the module docstring; details hold the indicator and the
    gamer's DSO revenue at the points it worsened."""
    if mitigation not in MITIGATIONS:
        raise InputError("mitigation", mitigation, f"one of {', '.join(MITIGATIONS)}")
    if gamer not in set(inp.offers["aggregator_id"]):
        raise InputError("gamer", gamer, "an aggregator with offers in the input")
    watched = state_lights(inp.forecast.cp_loading_pct, inp.cps, inp.params.thresholds) != GREEN
    position, wash = _gamer_orders(inp, gamer, watched, wash_price_eur_per_mwh)
    others = inp.offers[~inp.offers["offer_id"].isin(position["offer_id"])]
    pool = OfferPool.of(inp, pd.concat([others, position], ignore_index=True)[list(OFFER_COLUMNS)])
    log = TradeLog(inp.isp_hours)
    market_guard = GridGuard(inp, enforce=watched) if mitigation == "locational" else None
    requests = pd.concat([wash, inp.requests], ignore_index=True)  # BRPs and the TSO
    before = book_stage(inp, pool, requests, log, stage="1-market-before-gate",
                        guard=market_guard)
    sold_up = before[(before["seller_id"] == gamer)] if len(before) else before
    # the gamer offers to undo its own position
    if len(sold_up) and mitigation != "frozen_baseline":
        undo = pd.DataFrame({
            "offer_id": [f"{gamer}/undo/{i}" for i in range(len(sold_up))],
            "aggregator_id": gamer,
            "bus": sold_up["bus"].to_numpy(),
            "isp": sold_up["isp"].to_numpy(),
            "direction": np.where(sold_up["direction"].to_numpy() == "up", "down", "up"),
            "max_power_kw": sold_up["power_kw"].to_numpy(),
            "min_power_kw": 0.0,
            "price_eur_per_mwh": undo_price_eur_per_mwh,
            "der_type": "mixed",
            "block_id": "",
        })
        pool = OfferPool(pd.concat([pool.available(), undo], ignore_index=True), pool.energy)
    guard = GridGuard(inp)
    if mitigation != "frozen_baseline" and len(before):
        guard.apply_trades(before)  # the DSO forecasts with the market schedules
    dso = dso_stage(inp, pool, guard, log, stage="2-dso")
    trades = log.frame()
    indicator = inc_dec_indicator(inp, trades, watched=watched)
    gamer_dso = dso[dso["aggregator_id"] == gamer] if len(dso) else dso
    details = {
        "gamer": gamer,
        "mitigation": mitigation,
        "gamer_position_kwh": float(sold_up["power_kw"].sum() * inp.isp_hours)
        if len(sold_up) else 0.0,
        "gamer_dso_revenue_eur": float(gamer_dso["cost_eur"].sum()) if len(gamer_dso) else 0.0,
        "gamer_undo_revenue_eur": float(gamer_dso.loc[gamer_dso["offer_id"].str.contains(
            "/undo/", regex=False), "cost_eur"].sum()) if len(gamer_dso) else 0.0,
        "flagged": indicator.loc[indicator["flagged"], ["aggregator_id", "cp_id"]].to_dict(
            "records"),
        "indicator": indicator.to_dict("records"),
    }
    return evaluate(inp, f"inc_dec_{mitigation}", trades, details)
