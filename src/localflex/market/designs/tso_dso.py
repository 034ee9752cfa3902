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
    The DSO runs a local market and clears its needs first with local resources; it then
    aggregates the unused local bids into one stepwise bid per (ISP, direction) —
    prequalified so that any activation of the whole curve is safe for the distribution grid
    (bids that worsen a point are scaled down together) — and passes only these aggregated
    bids to the TSO's market (the TSO does not see the
    distribution grid nor the single bids). The DSO disaggregates the TSO's activations pro
    rata over each step's members. BRPs last, guarded. (``sequential_dso_first`` differs:
    there one IMO platform passes the single remaining bids on, each trade checked as it
    happens.)

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
excess (a money-only row, ``power_kw`` 0, purpose ``grid``). An aggregator that buys
(Table 2) may be served by its own offers in a joint program: portfolio netting, a row whose
buyer is its seller and whose money nets to zero for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localflex.domain import OFFER_COLUMNS
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.joint import clear_joint, pair_fills
from localflex.market.designs.ledger import (
    EnergyUse,
    GridGuard,
    OfferPool,
    TradeLog,
    TradePurpose,
    row_sums,
)
from localflex.market.designs.result import DesignResult, evaluate
from localflex.market.designs.stages import book_stage, dso_stage
from localflex.market.dso_single_buyer import RELIEF_EPS_KW_PER_KW, EnergyBudgets

__all__ = [
    "aggregate_local_bids",
    "tso_dso_centralized",
    "tso_dso_common",
    "tso_dso_integrated",
    "tso_dso_local",
    "tso_dso_shared_balancing",
    "tso_market_on_aggregated_bids",
    "tso_market_on_areas",
]


def tso_dso_centralized(inp: DesignInput, *, name: str = "tso_dso_centralized"
                        ) -> DesignResult:
    """Ref. [65] centralized AS market model (paper §6.1): the TSO clears first on every
    offer, blind to the distribution grid; the DSO then buys what the resulting state
    needs; BRPs last, grid-blind (module docstring)."""
    pool, log = OfferPool.of(inp), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    tso = book_stage(inp, pool, inp.tso_requests, log, stage="1-tso-central")
    if not tso.empty:
        guard.apply_trades(tso)
    dso_stage(inp, pool, guard, log, stage="2-dso")
    book_stage(inp, pool, inp.brp_requests, log, stage="3-market")
    return evaluate(inp, name, log.frame())


def aggregate_local_bids(inp: DesignInput, pool: OfferPool, guard: GridGuard,
                         requests: pd.DataFrame) -> pd.DataFrame:
    """The DSO's aggregated bids for the TSO's market (ref. [65], local AS market model).

    Per (ISP, direction) the TSO asks for, the DSO passes its unused local bids on only as
    far as *any* activation of them is safe for its grid, since it does not know which part
    of the curve the TSO will activate: at every enforced point the worsening of all the
    bids together (Σ max(0, −relief·sign) · kW) must fit the point's room (the guard's
    headroom, 0 if overloaded); where it does not, every bid that worsens the point is
    scaled down by the same factor (no priority by price among local resources). Bids of one
    price form one step. Returns one row per member bid: ``step_id`` (the aggregated bid the
    TSO sees), ``offer_id``, ``aggregator_id``, ``bus``, ``isp``, ``direction``,
    ``price_eur_per_mwh``, ``qualified_kw``."""
    offers = pool.available()
    keys = set(zip(requests["isp"], requests["direction"], strict=True))
    hit = np.fromiter(((t, d) in keys for t, d in zip(offers["isp"], offers["direction"],
                                                       strict=True)), bool, len(offers))
    offers = offers[hit].sort_values(["isp", "direction", "price_eur_per_mwh", "offer_id"],
                                     kind="stable").reset_index(drop=True)
    isp = offers["isp"].to_numpy(dtype=np.int64)
    sign = np.where(offers["direction"].to_numpy() == "up", 1.0, -1.0)
    kw = offers["max_power_kw"].to_numpy(dtype=float)
    effect = inp.relief[isp, :, guard.bus_pos(offers["bus"].to_numpy())] * sign[:, None]
    worsen = np.where((effect < -RELIEF_EPS_KW_PER_KW) & guard.enforce[isp], -effect, 0.0)
    group = isp * 2 + (sign < 0)  # one curve per (ISP, direction)
    total = row_sums(group, worsen * kw[:, None], 2 * inp.n_isps)
    room = np.maximum(guard.head_kw, 0.0)[isp]  # [O, CP]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(total[group] > 1e-9, np.minimum(1.0, room / total[group]), 1.0)
    # no monitored point: nothing limits (initial 1.0, the largest value a factor takes)
    factor = (np.where(worsen > 0, scale, 1.0).min(axis=1, initial=1.0) if len(offers)
              else np.zeros(0))
    step = (inp.dso_id + "/agg/t" + offers["isp"].astype(str) + "/" + offers["direction"]
            + "/" + offers["price_eur_per_mwh"].map("{:.4f}".format))
    out = offers.assign(step_id=step.to_numpy(), qualified_kw=kw * factor)
    return out[out["qualified_kw"] >= 1e-3][
        ["step_id", "offer_id", "aggregator_id", "bus", "isp", "direction",
         "price_eur_per_mwh", "qualified_kw"]].reset_index(drop=True)


def tso_market_on_aggregated_bids(inp: DesignInput, pool: OfferPool, guard: GridGuard,
                                  log: TradeLog, *, stage: str) -> pd.DataFrame:
    """The TSO's AS market cleared on one DSO's aggregated bids (``tso_market_on_areas``)."""
    return tso_market_on_areas([(inp, pool, guard, log)], inp.tso_requests, stage=stage)


def tso_market_on_areas(areas: list[tuple[DesignInput, OfferPool, GridGuard, TradeLog]],
                        tso_requests: pd.DataFrame, *, stage: str) -> pd.DataFrame:
    """The TSO's AS market cleared on the aggregated bids of one or several DSOs (paper
    §6.1: "several local markets operated by different DSOs, coordinated with the
    traditional AS markets operated by the TSO"), disaggregated pro rata.

    Each DSO passes its prequalified steps (``aggregate_local_bids``); the TSO sees one sell
    order per step (seller of record: that DSO), at the step's price, and its requests clear
    against all of them in one continuous book (``book_stage``, pay-as-offer). Each DSO then
    splits its steps' fills over their member bids in proportion to their prequalified kW;
    every member delivers and is paid the step's price (its own ask). Returns the member
    rows (with ``dso_id``)."""
    all_members, all_steps, step_budgets, n_budgets = [], [], [], 0
    for inp, pool, guard, _log in areas:
        members = aggregate_local_bids(inp, pool, guard, tso_requests)
        if members.empty:
            continue
        members = members.assign(dso_id=inp.dso_id, step_id=inp.dso_id + ":" + members["step_id"])
        step_budgets.append(_step_budgets(pool.energy, members, n_budgets))
        n_budgets += pool.energy.left_kwh.size
        steps = members.groupby("step_id", sort=False).agg(
            bus=("bus", "first"), isp=("isp", "first"), direction=("direction", "first"),
            price_eur_per_mwh=("price_eur_per_mwh", "first"),
            max_power_kw=("qualified_kw", "sum"),
        ).reset_index().rename(columns={"step_id": "offer_id"})
        all_steps.append(steps.assign(aggregator_id=inp.dso_id, min_power_kw=0.0,
                                      der_type="aggregated", block_id="")[list(OFFER_COLUMNS)])
        all_members.append(members)
    if not all_steps:
        return pd.DataFrame()
    members = pd.concat(all_members, ignore_index=True)
    steps = pd.concat(all_steps, ignore_index=True)
    first = areas[0][0]
    budgets = [b for b in step_budgets if b is not None]
    energy = EnergyUse(EnergyBudgets(*(np.concatenate([getattr(b, f) for b in budgets])
                                       for f in ("offer_id", "budget", "weight", "limit_kwh")))
                       if budgets else None, first.isp_hours)
    fills = book_stage(first, OfferPool(steps, energy), tso_requests,
                       TradeLog(first.isp_hours), stage=stage)
    if fills.empty:
        return fills
    fills = pd.DataFrame(fills)[["offer_id", "request_id", "power_kw"]].rename(
        columns={"offer_id": "step_id", "power_kw": "step_kw"})
    share = members["qualified_kw"] / members.groupby("step_id")["qualified_kw"].transform("sum")
    rows = fills.merge(members.assign(share=share.to_numpy()), on="step_id")
    rows["kw"] = rows["step_kw"].to_numpy() * rows["share"].to_numpy()
    bids = tso_requests.set_index("request_id")["price_eur_per_mwh"]
    for inp, pool, guard, log in areas:
        mine = rows[rows["dso_id"] == inp.dso_id]
        if mine.empty:
            continue
        kw = mine["kw"].to_numpy()
        log.add(stage=stage, purpose=TradePurpose.SYSTEM.value, buyer_id=inp.tso_id,
                seller_id=mine["aggregator_id"].to_numpy(), offer_id=mine["offer_id"].to_numpy(),
                request_id=mine["request_id"].to_numpy(), bus=mine["bus"].to_numpy(),
                isp=mine["isp"].to_numpy(), direction=mine["direction"].to_numpy(), power_kw=kw,
                ask_eur_per_mwh=mine["price_eur_per_mwh"].to_numpy(dtype=float),
                bid_eur_per_mwh=bids.loc[mine["request_id"]].to_numpy())
        pool.take(mine["offer_id"], kw)
        sign = np.where(mine["direction"].to_numpy() == "up", 1.0, -1.0)
        guard.apply(mine["isp"].to_numpy(), guard.bus_pos(mine["bus"].to_numpy()), sign, kw)
    return rows


def _step_budgets(energy: EnergyUse, members: pd.DataFrame, offset: int
                  ) -> EnergyBudgets | None:
    """The members' budgets left, lifted onto the aggregated steps the TSO trades: a step
    fill of q kW puts q · share_m on member m (pro rata), so budget k carries the step with
    weight Σ_m weight_{m,k} · share_m. Budget indices start at ``offset``; every area's
    budgets keep their own rows, limits padded to the area's count (``left_kwh``)."""
    pos, k, w = energy.entries(members["offer_id"])
    if energy.budgets is None:
        return None
    share = (members["qualified_kw"] / members.groupby("step_id")["qualified_kw"]
             .transform("sum")).to_numpy()
    lifted = pd.DataFrame({"step": members["step_id"].to_numpy(dtype=object)[pos], "k": k,
                           "w": w * share[pos]}).groupby(["step", "k"], sort=True)["w"].sum()
    return EnergyBudgets(
        offer_id=lifted.index.get_level_values("step").to_numpy(dtype=object),
        budget=lifted.index.get_level_values("k").to_numpy(dtype=np.int64) + offset,
        weight=lifted.to_numpy(dtype=float), limit_kwh=energy.left_kwh)


def tso_dso_local(inp: DesignInput, *, name: str = "tso_dso_local") -> DesignResult:
    """Ref. [65] local AS market model: the DSO clears its needs with local resources, then
    aggregates the unused local bids (prequalified so that any activation is safe) and
    passes them to the TSO's market, which sees only the aggregated bids; BRPs last,
    guarded (module docstring; paper §6.1)."""
    pool, log = OfferPool.of(inp), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    dso_stage(inp, pool, guard, log, stage="1-dso-local")
    agg = tso_market_on_aggregated_bids(inp, pool, guard, log, stage="2-tso-aggregated")
    book_stage(inp, pool, inp.brp_requests, log, stage="3-market", guard=guard)
    return evaluate(inp, name, log.frame(), {
        "guard_limited_kw": guard.limited_kw,
        "aggregated_steps_traded": int(agg["step_id"].nunique()) if len(agg) else 0})


def _joint_stage(inp: DesignInput, pool: OfferPool, guard: GridGuard, log: TradeLog,
                 requests: pd.DataFrame, *, stage: str, mandatory: bool,
                 buyer_is_dso: bool) -> None:
    offers = pool.available()
    requests = requests.reset_index(drop=True)
    res = clear_joint(offers, requests, relief=inp.relief, bus_ids=inp.bus_ids,
                      head_kw=guard.head_kw, dso_mask=np.ones_like(guard.head_kw, dtype=bool),
                      isp_hours=inp.isp_hours, mandatory=mandatory,
                      energy_budgets=pool.energy_budgets(offers))
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
    """Ref. [65] shared balancing responsibility model (paper §6.1: "sharing of balance
    responsibility", ref. [62]): the DSO meets its needs and the area's balancing obligation
    in one network-aware program and pays for both; BRPs last (module docstring)."""
    pool, log = OfferPool.of(inp), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    _joint_stage(inp, pool, guard, log, inp.tso_requests, stage="1-dso-area",
                 mandatory=True, buyer_is_dso=True)
    book_stage(inp, pool, inp.brp_requests, log, stage="2-market", guard=guard)
    return evaluate(inp, name, log.frame(), {"guard_limited_kw": guard.limited_kw})


def tso_dso_common(inp: DesignInput, *, name: str = "tso_dso_common") -> DesignResult:
    """Ref. [65] common TSO–DSO AS market model (paper §6.1, refs. [63, 64]: joint
    procurement): one program of the DSO's needs and the TSO's requests under the
    distribution grid's constraints; BRPs last (module docstring)."""
    pool, log = OfferPool.of(inp), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    _joint_stage(inp, pool, guard, log, inp.tso_requests, stage="1-common",
                 mandatory=False, buyer_is_dso=False)
    book_stage(inp, pool, inp.brp_requests, log, stage="2-market", guard=guard)
    return evaluate(inp, name, log.frame(), {"guard_limited_kw": guard.limited_kw})


def tso_dso_integrated(inp: DesignInput, *, name: str = "tso_dso_integrated") -> DesignResult:
    """Ref. [65] integrated flexibility market model (paper §6.1): DSO, TSO and BRPs buy in
    one welfare-maximising program run by an IMO (module docstring)."""
    pool, log = OfferPool.of(inp), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    _joint_stage(inp, pool, guard, log, inp.requests, stage="1-integrated",
                 mandatory=False, buyer_is_dso=False)
    return evaluate(inp, name, log.frame())
