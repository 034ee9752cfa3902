"""TSO–DSO coordination schemes for ancillary services (paper §6.1, ref. [65]).

Five schemes, each a design on the same offers, grid and requests. The TSO's requests are
system use (balancing), the DSO's needs grid use, the BRPs' requests market use. In every
scheme the BRPs trade last, in the IMO's continuous book, on what is left — checked against
the distribution grid by the ``GridGuard`` wherever the scheme gives the DSO a say (all but
the centralized one).

``tso_dso_centralized`` — centralized AS market model
    The TSO runs one AS market for resources at every voltage level and clears its requests
    first, on all offers, without the distribution grid's constraints. The DSO learns of the
    TSO's activations only afterwards and buys, from what is left, what removes the overloads
    of the resulting state (guarded). BRPs trade grid-blind.

``tso_dso_local`` — local AS market model
    The DSO runs a local market and clears its needs first; it passes the remaining bids to
    the TSO's market, limited so that their activation violates no distribution constraint
    (the guard). BRPs last, guarded.

``tso_dso_shared_balancing`` — shared balancing responsibility model
    The TSO may not use distribution resources; the DSO takes over the balancing of its area
    (the TSO's requests for the area become the DSO's obligation, an agreed interface
    schedule). The DSO clears its needs and that obligation together, in one network-aware
    program (``joint.clear_joint`` with mandatory requests), and pays for both. BRPs last.

``tso_dso_common`` — common TSO–DSO AS market model
    TSO and DSO procure together in one market: one program minimises the total cost of the
    DSO's needs and the TSO's requests (the TSO's bid is its value) under the distribution
    grid's constraints. Pay-as-bid both sides, budget balanced per (ISP, direction). BRPs last.

``tso_dso_integrated`` — integrated flexibility market model
    One market, run by an IMO, where the DSO, the TSO and the BRPs all buy: one
    welfare-maximising program of all three kinds of buyer under the grid's constraints.

Pricing (every scheme): ``PAY_AS_OFFER`` — each fill at the seller's ask. In the joint
programs a buyer never pays above its bid: where the program served a BRP or the TSO with an
offer dearer than its bid because that offer also relieves the DSO's need, the DSO pays the
excess (a money-only row, ``power_kw`` 0, purpose ``grid``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.joint import clear_joint, pair_fills
from localflex.market.designs.ledger import GridGuard, OfferPool, TradeLog, TradePurpose
from localflex.market.designs.result import DesignResult, evaluate
from localflex.market.designs.stages import book_stage, dso_stage

__all__ = [
    "tso_dso_centralized",
    "tso_dso_common",
    "tso_dso_integrated",
    "tso_dso_local",
    "tso_dso_shared_balancing",
]


def tso_dso_centralized(inp: DesignInput, *, name: str = "tso_dso_centralized"
                        ) -> DesignResult:
    pool, log = OfferPool(inp.offers), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    tso = book_stage(inp, pool, inp.tso_requests, log, stage="1-tso-central")
    if not tso.empty:
        guard.apply_trades(tso)
    dso_stage(inp, pool, guard, log, stage="2-dso")
    book_stage(inp, pool, inp.brp_requests, log, stage="3-market")
    return evaluate(inp, name, log.frame())


def tso_dso_local(inp: DesignInput, *, name: str = "tso_dso_local") -> DesignResult:
    pool, log = OfferPool(inp.offers), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    dso_stage(inp, pool, guard, log, stage="1-dso-local")
    book_stage(inp, pool, inp.tso_requests, log, stage="2-tso", guard=guard)
    book_stage(inp, pool, inp.brp_requests, log, stage="3-market", guard=guard)
    return evaluate(inp, name, log.frame(), {"guard_limited_kw": guard.limited_kw})


def _joint_stage(inp: DesignInput, pool: OfferPool, guard: GridGuard, log: TradeLog,
                 requests: pd.DataFrame, *, stage: str, mandatory: bool,
                 buyer_is_dso: bool) -> None:
    offers = pool.available()
    requests = requests.reset_index(drop=True)
    res = clear_joint(offers, requests, relief=inp.relief, bus_ids=inp.bus_ids,
                      head_kw=guard.head_kw, dso_mask=np.ones_like(guard.head_kw, dtype=bool),
                      isp_hours=inp.isp_hours, mandatory=mandatory)
    h = inp.isp_hours / 1000.0
    dso = offers[res.dso_kw > 0]
    kw = res.dso_kw[res.dso_kw > 0]
    log.add(stage=stage, purpose=TradePurpose.GRID.value, buyer_id=inp.dso_id,
            seller_id=dso["aggregator_id"].to_numpy(), offer_id=dso["offer_id"].to_numpy(),
            bus=dso["bus"].to_numpy(), isp=dso["isp"].to_numpy(),
            direction=dso["direction"].to_numpy(), power_kw=kw,
            ask_eur_per_mwh=dso["price_eur_per_mwh"].to_numpy())
    pairs = pair_fills(offers, requests, res.market_kw, res.fill_kw)
    s, r = offers.iloc[pairs["o"].to_numpy()], requests.iloc[pairs["k"].to_numpy()]
    q = pairs["kw"].to_numpy()
    ask = s["price_eur_per_mwh"].to_numpy()
    bid = r["price_eur_per_mwh"].to_numpy()
    pay = ask if mandatory else np.minimum(ask, bid)
    log.add(stage=stage, purpose=r["purpose"].to_numpy(),
            buyer_id=inp.dso_id if buyer_is_dso else r["party_id"].to_numpy(),
            seller_id=s["aggregator_id"].to_numpy(), offer_id=s["offer_id"].to_numpy(),
            request_id=r["request_id"].to_numpy(), bus=s["bus"].to_numpy(),
            isp=s["isp"].to_numpy(), direction=s["direction"].to_numpy(), power_kw=q,
            ask_eur_per_mwh=ask, bid_eur_per_mwh=bid, received_eur=ask * q * h,
            paid_eur=pay * q * h)
    gap = (ask - pay) * q * h
    if (gap > 1e-12).any():  # the DSO pays what its own relief made worth buying (module doc)
        g = gap > 1e-12
        log.add(stage=stage, purpose=TradePurpose.GRID.value, buyer_id=inp.dso_id,
                seller_id=s["aggregator_id"].to_numpy()[g], offer_id=s["offer_id"].to_numpy()[g],
                request_id=r["request_id"].to_numpy()[g], bus=s["bus"].to_numpy()[g],
                isp=s["isp"].to_numpy()[g], direction=s["direction"].to_numpy()[g],
                power_kw=0.0, ask_eur_per_mwh=ask[g], paid_eur=gap[g], received_eur=0.0)
    taken = res.dso_kw + res.market_kw
    pool.take(offers["offer_id"], taken)
    sign = np.where(offers["direction"].to_numpy() == "up", 1.0, -1.0)
    guard.apply(offers["isp"].to_numpy(), guard.bus_pos(offers["bus"].to_numpy()), sign, taken)


def tso_dso_shared_balancing(inp: DesignInput, *, name: str = "tso_dso_shared_balancing"
                             ) -> DesignResult:
    pool, log = OfferPool(inp.offers), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    _joint_stage(inp, pool, guard, log, inp.tso_requests, stage="1-dso-area",
                 mandatory=True, buyer_is_dso=True)
    book_stage(inp, pool, inp.brp_requests, log, stage="2-market", guard=guard)
    return evaluate(inp, name, log.frame(), {"guard_limited_kw": guard.limited_kw})


def tso_dso_common(inp: DesignInput, *, name: str = "tso_dso_common") -> DesignResult:
    pool, log = OfferPool(inp.offers), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    _joint_stage(inp, pool, guard, log, inp.tso_requests, stage="1-common",
                 mandatory=False, buyer_is_dso=False)
    book_stage(inp, pool, inp.brp_requests, log, stage="2-market", guard=guard)
    return evaluate(inp, name, log.frame(), {"guard_limited_kw": guard.limited_kw})


def tso_dso_integrated(inp: DesignInput, *, name: str = "tso_dso_integrated") -> DesignResult:
    pool, log = OfferPool(inp.offers), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    _joint_stage(inp, pool, guard, log, inp.requests, stage="1-integrated",
                 mandatory=False, buyer_is_dso=False)
    return evaluate(inp, name, log.frame())
