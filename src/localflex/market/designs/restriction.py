"""De-Flex restriction areas as a design stage (paper §5.3, ref. [57]: "the division of the
network in aggregated distribution areas, subject to the different levels of restriction
requirements for a certain number of 15 min operational periods"; ``market.deflex``).

``deflex_stage`` lets location-free buyers trade in the IMO's continuous book without a
trade-by-trade grid check; the DSO has published, per distribution area (feeder), ISP and
direction, a restriction level and the volume trades may use there (``restriction_levels``
on the grid state the earlier stages left). The session's trades are then checked against
the levels as a set (``limit_trades``): nothing in a blocked area-direction, pro-rata scaled
where an area's trades exceed its headroom, kept whole elsewhere. Money scales with the
volume kept (pay-as-offer); what is cut goes back to the offers and the requests.

``deflex_areas`` — the design as the paper places De-Flex: among the DSO markets of §5.3
(a "grid management measure"; §6.2 says of the design without coupling that "the DSO market
will be used as a grid management measure and the examples of Section 5.3 are all valid
alternatives"), beside the IMO's market. Two rules of ref. [57] as §5.3 quotes it make it:
the areas and their levels ("the division of the network in aggregated distribution areas,
subject to the different levels of restriction requirements for a certain number of 15 min
operational periods") and the contract: "The contracting time frame with flexibility
suppliers should be long enough to ensure that over the planning horizon, the DSO will get
the needed flexibility." In ``no_coupling`` nobody guarantees the DSO anything: each
aggregator splits its flexibility between the two markets ex ante on expected prices
(``split_offers``), and the DSO may not get what it needs. Under De-Flex the DSO has the
flexibility it needs under contract before the day's markets open:

1. from the forecast it plans on, the DSO publishes per distribution area (feeder), ISP and
   direction the restriction level (``restriction_levels``); where a direction is
   ``blocked`` (a point the area affects is at or past its limit: the DSO's need), the
   suppliers' flexibility of that area and ISP in the other direction, the one that
   relieves it, is under contract to the DSO (``contracted_offers``): for those periods of
   the planning horizon its suppliers sell it to the DSO only;
2. ``1-dso-contracted``: the DSO clears its forecast needs on its contracts (single buyer,
   §5.3, pay-as-offer; the paper names no reservation price for De-Flex, so none is paid:
   FLECH's availability payment is ``flech_sequential``'s rule);
3. ``2-imo-areas``, ``3-tso-areas``: the IMO's sessions, BRPs then the TSO as in
   ``no_coupling``'s IMO, trade the flexibility under no contract within the levels the
   DSO's purchase left (``deflex_stage``: checked as a set per area, not trade by trade);
4. ``4-dso-intraday``: the DSO buys what is still overloaded from what is left of its
   contracts.

It differs from ``no_coupling`` by the contract (no ex-ante split on expected prices: the
DSO gets its need) and by the levels (there the IMO trades grid-blind); from
``sequential_dso_first`` (ref. [65], one IMO platform: the TSO may buy any offer the grid
guard lets through, market use only "the non-constrained flexibility offers") in that the
contracted flexibility is closed to the TSO as well as to the BRPs, while the BRPs may buy
any offer under no contract within its area's level; and from the conditional designs
(§6.2: "one single market where both services coexist", each trade checked at the yellow
points) by the contracts and the per-area check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localflex.market.deflex import (
    RestrictionLevel,
    distribution_areas,
    limit_trades,
    restriction_levels,
)
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.ledger import GridGuard, OfferPool, TradeLog
from localflex.market.designs.result import DesignResult, evaluate
from localflex.market.designs.stages import book_stage, dso_stage, needs_from_guard

__all__ = ["contracted_offers", "deflex_areas", "deflex_stage"]

LIMITED_BELOW_KW = 100.0
"""An area-direction with less headroom than this is 'limited' (``market.deflex``)."""


def deflex_stage(inp: DesignInput, pool: OfferPool, guard: GridGuard, requests: pd.DataFrame,
                 log: TradeLog, *, stage: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One IMO session within the De-Flex levels of the guard's state (module docstring).
    Returns (the trades kept, the restriction levels)."""
    areas = distribution_areas(inp.grid)
    levels = restriction_levels(areas, needs_from_guard(inp, guard),
                                limited_below_kw=LIMITED_BELOW_KW)
    trial_pool = OfferPool(pool.available(), pool.energy.copy())
    trial = book_stage(inp, trial_pool, requests, TradeLog(inp.isp_hours), stage=stage)
    if trial.empty:
        return trial, levels
    checked = limit_trades(trial, levels, areas)
    keep = checked["allowed_kw"].to_numpy(dtype=float)
    ratio = np.divide(keep, checked["power_kw"].to_numpy(dtype=float),
                      out=np.zeros_like(keep), where=checked["power_kw"].to_numpy() > 0)
    kept = checked.assign(power_kw=keep, paid_eur=checked["paid_eur"] * ratio,
                          received_eur=checked["received_eur"] * ratio)
    kept = kept[kept["power_kw"] > 1e-6]
    if kept.empty:
        return kept, levels
    columns = [c for c in trial.columns if c in kept.columns]
    log.add(**{c: kept[c].to_numpy() for c in columns})
    pool.take(kept["offer_id"], kept["power_kw"].to_numpy())
    guard.apply_trades(kept)
    return kept, levels


def contracted_offers(offers: pd.DataFrame, areas: pd.DataFrame, levels: pd.DataFrame
                      ) -> np.ndarray:
    """[O] True for the offers under the DSO's De-Flex contract: those in an area, ISP and
    direction whose opposite direction the forecast levels block (a point the area affects
    is at or past its limit there), i.e. the flexibility that relieves it (module doc)."""
    if offers.empty:
        return np.zeros(0, dtype=bool)
    blocked = levels[levels["level"] == RestrictionLevel.BLOCKED.value]
    if blocked.empty:
        return np.zeros(len(offers), dtype=bool)
    relieving = blocked["direction"].map({"up": "down", "down": "up"})
    under = pd.DataFrame({"area_id": blocked["area_id"].to_numpy(dtype=object),
                          "isp": blocked["isp"].to_numpy(dtype=np.int64),
                          "direction": relieving.to_numpy(dtype=object)}).drop_duplicates()
    key = pd.DataFrame({
        "area_id": offers["bus"].map(areas.set_index("bus")["area_id"]).to_numpy(dtype=object),
        "isp": offers["isp"].to_numpy(dtype=np.int64),
        "direction": offers["direction"].to_numpy(dtype=object)})
    hit = key.merge(under.assign(hit=True), on=["area_id", "isp", "direction"], how="left")
    return hit["hit"].eq(True).to_numpy()


def deflex_areas(inp: DesignInput, *, name: str = "deflex_areas") -> DesignResult:
    """Ref. [57] (De-Flex) as a §5.3 DSO market beside the IMO's market (§6.2, Table 2 no
    coupling): "The contracting time frame with flexibility suppliers should be long enough
    to ensure that over the planning horizon, the DSO will get the needed flexibility" (§5.3)
    — the relieving flexibility of the restricted areas and periods is under contract to
    the DSO, which clears its needs on it; the rest trades in the BRP and TSO sessions within
    the published area restriction levels; then the DSO's intraday round on its contracts
    (module docstring)."""
    log, guard = TradeLog(inp.isp_hours), GridGuard(inp)
    areas = distribution_areas(inp.grid)
    planned = restriction_levels(areas, needs_from_guard(inp, guard),
                                 limited_below_kw=LIMITED_BELOW_KW)
    under_contract = contracted_offers(inp.offers, areas, planned)
    dso_pool = OfferPool.of(inp, inp.offers[under_contract])
    imo_pool = OfferPool.of(inp, inp.offers[~under_contract], energy=dso_pool.energy)
    contracted = dso_stage(inp, dso_pool, guard, log, stage="1-dso-contracted")
    market, levels = deflex_stage(inp, imo_pool, guard, inp.brp_requests, log,
                                  stage="2-imo-areas")
    system, _ = deflex_stage(inp, imo_pool, guard, inp.tso_requests, log, stage="3-tso-areas")
    intraday = dso_stage(inp, dso_pool, guard, log, stage="4-dso-intraday")
    counts = levels["level"].value_counts()
    return evaluate(inp, name, log.frame(), {
        "stages": {"dso-contracted": len(contracted), "imo": len(market), "tso": len(system),
                   "dso-intraday": len(intraday)},
        "area_isp_directions": {str(k): int(v) for k, v in counts.items()},
        "contracted_offers": int(under_contract.sum()),
        "contracted_kwh": float(inp.offers.loc[under_contract, "max_power_kw"].sum()
                                * inp.isp_hours),
        "trades_kept": len(market) + len(system),
    })
