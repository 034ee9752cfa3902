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
(a "grid management measure"), and §6.2 says of the design without coupling that "the DSO
market will be used as a grid management measure and the examples of Section 5.3 are all
valid alternatives". So the DSO's De-Flex market and the IMO's market are two markets: the
aggregators split their flexibility between them ex ante (``split_offers``, as in
``no_coupling``), the DSO clears its needs day-ahead on its share (single buyer, §5.3), then
publishes the levels, and BRPs, then the TSO, trade on the IMO's share within them; the DSO's
intraday round buys away what is left (as in ``no_coupling``). It differs from ``no_coupling``
by the levels alone (there the IMO trades grid-blind), and from the conditional designs
(§6.2: "one single market where both services coexist", each trade checked at the yellow
points) by the two markets and by checking volumes per area with the shared limits split
among areas: coarser, and conservative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localflex.market.deflex import distribution_areas, limit_trades, restriction_levels
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.ledger import GridGuard, OfferPool, TradeLog
from localflex.market.designs.result import DesignResult, evaluate
from localflex.market.designs.split import split_offers
from localflex.market.designs.stages import book_stage, dso_stage, needs_from_guard

__all__ = ["deflex_areas", "deflex_stage"]

LIMITED_BELOW_KW = 100.0
"""An area-direction with less headroom than this is 'limited' (``market.deflex``)."""


def deflex_stage(inp: DesignInput, pool: OfferPool, guard: GridGuard, requests: pd.DataFrame,
                 log: TradeLog, *, stage: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One IMO session within the De-Flex levels of the guard's state (module docstring).
    Returns (the trades kept, the restriction levels)."""
    areas = distribution_areas(inp.grid)
    levels = restriction_levels(areas, needs_from_guard(inp, guard),
                                limited_below_kw=LIMITED_BELOW_KW)
    trial_pool = OfferPool(pool.available())
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


def deflex_areas(inp: DesignInput, *, name: str = "deflex_areas") -> DesignResult:
    """Ref. [57] (De-Flex) as a §5.3 DSO market beside the IMO's market (§6.2, no coupling):
    ex-ante split, the DSO's day-ahead clearing, BRP and TSO sessions within the published
    area restriction levels, the DSO's intraday round (module docstring)."""
    dso_offers, imo_offers, allocation = split_offers(inp)
    dso_pool, imo_pool = OfferPool(dso_offers), OfferPool(imo_offers)
    log, guard = TradeLog(inp.isp_hours), GridGuard(inp)
    da = dso_stage(inp, dso_pool, guard, log, stage="1-dso-da")
    market, levels = deflex_stage(inp, imo_pool, guard, inp.brp_requests, log,
                                  stage="2-imo-areas")
    system, _ = deflex_stage(inp, imo_pool, guard, inp.tso_requests, log, stage="3-tso-areas")
    intraday = dso_stage(inp, dso_pool, guard, log, stage="4-dso-intraday")
    counts = levels["level"].value_counts()
    return evaluate(inp, name, log.frame(), {
        "stages": {"dso-da": len(da), "imo": len(market), "tso": len(system),
                   "dso-intraday": len(intraday)},
        "area_isp_directions": {str(k): int(v) for k, v in counts.items()},
        "trades_kept": len(market) + len(system),
        "offered_kwh_by_market": {str(k): float(v) for k, v in (
            allocation.groupby("market")["power_kw"].sum() * inp.isp_hours).items()}
        if len(allocation) else {},
    })
