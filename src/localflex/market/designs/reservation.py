"""FLECH — reservation then activation — as a design stage (paper §5.3, refs. [54, 55];
``market.flech``), followed by §6.2's market use.

``flech_stage``:

1. *Availability offers* from the aggregators' per-ISP offers: one per aggregator, bus,
   direction and DER family, for the window from the first to the last ISP in which the DSO
   forecasts a need, holding the smallest volume the family offers over the window (a family
   missing an ISP of the window offers nothing), at the availability price
   ``DesignParams.availability_price_eur_per_mw_h`` (an assumption) and a committed
   activation price = its highest ask over the window.
2. *Reservation* (``reserve_flexibility``) on the forecast needs: the reserved kW are held
   back from every other use until activation; the reservation is paid pay-as-offer at the
   availability price (money-only rows, pricing ``availability``).
3. *Activation* (``activate_flexibility``) on the needs: the contracts at their committed
   price and spot offers that undercut the cap; a contract's activated kW is delivered by
   the held offers pro rata. Reserved kW not activated are released to the market.

Energy budgets (``OfferPool.energy``): an availability offer holds at most what its members'
budgets allow over its whole window (``_hold_cap_kw``); the hold is booked on the budgets
until activation (what is not activated is given back), and spot activations clear on the
budgets left.

``flech_sequential`` — the design: FLECH for the DSO, then the TSO and the BRPs trade what is
left in the IMO's book, guarded. It differs from ``sequential_dso_first`` by the
reservation: the DSO pays to hold capacity, and caps the price of later activation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.ledger import (
    AVAILABILITY,
    GridGuard,
    OfferPool,
    TradeLog,
    TradePurpose,
)
from localflex.market.designs.result import DesignResult, evaluate
from localflex.market.designs.stages import book_stage
from localflex.market.flech import activate_flexibility, reserve_flexibility

__all__ = ["availability_from_offers", "flech_sequential", "flech_stage"]

_GROUP = ["aggregator_id", "bus", "direction", "der_type"]


def availability_from_offers(inp: DesignInput, offers: pd.DataFrame
                             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(availability offers, members: offer_id, isp, contract_id, kw) (module doc, step 1)."""
    need_isps = np.flatnonzero((inp.needs.overload_kw > 1e-6).any(axis=1))
    if need_isps.size == 0 or offers.empty:
        return pd.DataFrame(), pd.DataFrame()
    first, last = int(need_isps[0]), int(need_isps[-1])
    window = offers[(offers["isp"] >= first) & (offers["isp"] <= last)]
    per_isp = window.groupby([*_GROUP, "isp"], sort=True).agg(
        kw=("max_power_kw", "sum"), ask=("price_eur_per_mwh", "max")).reset_index()
    groups = per_isp.groupby(_GROUP, sort=True).agg(
        n=("isp", "size"), kw=("kw", "min"), ask=("ask", "max")).reset_index()
    groups = groups[(groups["n"] == last - first + 1) & (groups["kw"] > 1e-3)]
    if groups.empty:
        return pd.DataFrame(), pd.DataFrame()
    ids = ("avail/" + groups["aggregator_id"] + "/b" + groups["bus"].astype(str) + "/"
           + groups["direction"] + "/" + groups["der_type"])
    avail = pd.DataFrame({
        "offer_id": ids.to_numpy(), "aggregator_id": groups["aggregator_id"].to_numpy(),
        "bus": groups["bus"].to_numpy(), "direction": groups["direction"].to_numpy(),
        "first_isp": first, "last_isp": last, "max_power_kw": groups["kw"].to_numpy(),
        "min_power_kw": 0.0,
        "availability_price_eur_per_mw_h": inp.params.availability_price_eur_per_mw_h,
        "activation_price_eur_per_mwh": groups["ask"].to_numpy(),
        "der_type": groups["der_type"].to_numpy(),
    })
    members = window.merge(groups[_GROUP].assign(contract_id=ids.to_numpy()), on=_GROUP)
    members = members[["offer_id", "isp", "contract_id", "max_power_kw"]].rename(
        columns={"max_power_kw": "kw"})
    return avail, members.reset_index(drop=True)


def _pro_rata(members: pd.DataFrame, per_contract_isp: pd.DataFrame) -> pd.DataFrame:
    """Spread kW per (contract_id, isp) over the members in proportion to their kW."""
    rows = members.merge(per_contract_isp, on=["contract_id", "isp"])
    total = rows.groupby(["contract_id", "isp"])["kw"].transform("sum")
    return rows.assign(share=rows["kw"] / total, take_kw=rows["kw"] / total * rows["target_kw"])


def _hold_cap_kw(pool: OfferPool, avail: pd.DataFrame, members: pd.DataFrame) -> np.ndarray:
    """[A] the most kW each availability offer may hold so that holding it in every ISP of
    its window (pro rata over its members, as ``flech_stage`` holds) fits the members'
    energy budgets: a contract never reserves energy its units do not have."""
    cap = np.full(len(avail), np.inf)
    pos, k, w = pool.energy.entries(members["offer_id"])
    if pos.size == 0:
        return cap
    share = members["kw"] / members.groupby(["contract_id", "isp"])["kw"].transform("sum")
    per = pd.DataFrame({"c": members["contract_id"].to_numpy()[pos], "k": k,
                        "kwh": w * share.to_numpy()[pos] * pool.energy.isp_hours})
    per = per.groupby(["c", "k"], sort=True)["kwh"].sum().reset_index()
    per = per[per["kwh"] > 0]
    per["cap"] = pool.energy.left_kwh[per["k"].to_numpy()] / per["kwh"].to_numpy()
    by_contract = per.groupby("c")["cap"].min()
    found = by_contract.reindex(avail["offer_id"]).to_numpy(dtype=float)
    return np.where(np.isnan(found), cap, found)


def flech_stage(inp: DesignInput, pool: OfferPool, guard: GridGuard, log: TradeLog, *,
                stage: str) -> dict:
    """Reservation then activation for the DSO on ``pool`` (module docstring)."""
    avail, members = availability_from_offers(inp, pool.available())
    if len(avail):
        avail["max_power_kw"] = np.minimum(avail["max_power_kw"].to_numpy(),
                                           _hold_cap_kw(pool, avail, members))
        avail = avail[avail["max_power_kw"] > 1e-3].reset_index(drop=True)
    if avail.empty:
        return {"contracts": 0, "reservation_cost_eur": 0.0}
    reservation = reserve_flexibility(avail, inp.needs, n_isps=inp.n_isps)
    contracts = reservation.contracts
    if contracts.empty:
        return {"contracts": 0, "reservation_cost_eur": 0.0}
    log.add(stage=f"{stage}-reserve", purpose=TradePurpose.GRID.value, buyer_id=inp.dso_id,
            seller_id=contracts["aggregator_id"].to_numpy(),
            bus=contracts["bus"].to_numpy(),
            isp=contracts["first_isp"].to_numpy(), direction=contracts["direction"].to_numpy(),
            power_kw=0.0, ask_eur_per_mwh=0.0,
            paid_eur=contracts["reservation_cost_eur"].to_numpy(),
            received_eur=contracts["reservation_cost_eur"].to_numpy(), pricing=AVAILABILITY)
    isps = np.arange(int(contracts["first_isp"].min()), int(contracts["last_isp"].max()) + 1)
    held = _pro_rata(members, pd.DataFrame({
        "contract_id": np.repeat(contracts["contract_id"].to_numpy(), isps.size),
        "isp": np.tile(isps, len(contracts)),
        "target_kw": np.repeat(contracts["reserved_kw"].to_numpy(), isps.size)}))
    pool.take(held["offer_id"], held["take_kw"].to_numpy())  # held back until activation
    spot_rows = pool.available_rows()
    activation = activate_flexibility(reservation, inp.needs, pool.frame_at(spot_rows),
                                      n_isps=inp.n_isps,
                                      max_price_eur_per_mwh=inp.params.dso_price_cap_eur_per_mwh,
                                      energy_budgets=pool.energy_budgets_at(spot_rows))
    awards = activation.clearing.awards
    is_contract = awards["offer_id"].str.contains("@", regex=False) if len(awards) else []
    called = awards[is_contract] if len(awards) else awards
    spot_awards = awards[~is_contract] if len(awards) else awards
    activated = pd.DataFrame(columns=["offer_id", "isp", "take_kw"])
    if len(called):
        c = called.assign(contract_id=called["offer_id"].str.split("@").str[0])
        act = _pro_rata(members, c.rename(columns={"power_kw": "target_kw"})[
            ["contract_id", "isp", "target_kw"]])
        price = c.set_index(["contract_id", "isp"])["price_eur_per_mwh"]
        ask = price.reindex(pd.MultiIndex.from_frame(act[["contract_id", "isp"]])).to_numpy()
        rows = pool.rows(act["offer_id"])
        bus = {name: pool.column(name)[rows] for name in ("bus", "direction", "aggregator_id")}
        log.add(stage=f"{stage}-activate", purpose=TradePurpose.GRID.value,
                buyer_id=inp.dso_id, seller_id=bus["aggregator_id"],
                offer_id=act["offer_id"].to_numpy(), bus=bus["bus"],
                isp=act["isp"].to_numpy(), direction=bus["direction"],
                power_kw=act["take_kw"].to_numpy(), ask_eur_per_mwh=ask)
        activated = act[["offer_id", "isp", "take_kw"]]
        guard.apply(act["isp"].to_numpy(), guard.bus_pos(bus["bus"]),
                    np.where(bus["direction"] == "up", 1.0, -1.0),
                    act["take_kw"].to_numpy())
    if len(spot_awards):
        log.add(stage=f"{stage}-activate", purpose=TradePurpose.GRID.value,
                buyer_id=inp.dso_id, seller_id=spot_awards["aggregator_id"].to_numpy(),
                offer_id=spot_awards["offer_id"].to_numpy(), bus=spot_awards["bus"].to_numpy(),
                isp=spot_awards["isp"].to_numpy(),
                direction=spot_awards["direction"].to_numpy(),
                power_kw=spot_awards["power_kw"].to_numpy(),
                ask_eur_per_mwh=spot_awards["price_eur_per_mwh"].to_numpy())
        pool.take(spot_awards["offer_id"], spot_awards["power_kw"].to_numpy())
        guard.apply_trades(spot_awards)
    # release what was held but not activated
    release = held.merge(activated, on=["offer_id", "isp"], how="left", suffixes=("", "_a"))
    # an empty ``activated`` merges as object dtype: make it numeric before filling
    back = release["take_kw"] - pd.to_numeric(release["take_kw_a"]).fillna(0.0)
    pool.take(release["offer_id"], -np.maximum(back.to_numpy(), 0.0))
    return {"contracts": len(contracts),
            "reservation_cost_eur": float(reservation.reservation_cost_eur),
            "activation_cost_eur": float(activation.activation_cost_eur)}


def flech_sequential(inp: DesignInput, *, name: str = "flech_sequential") -> DesignResult:
    """Refs. [54, 55] (FLECH), paper §5.3, with §6.2's sequential market use: the DSO
    reserves then activates; the TSO and the BRPs trade what is left, guarded (module
    docstring)."""
    pool, log = OfferPool.of(inp), TradeLog(inp.isp_hours)
    guard = GridGuard(inp)
    details = flech_stage(inp, pool, guard, log, stage="1-flech")
    book_stage(inp, pool, inp.tso_requests, log, stage="2-tso", guard=guard)
    book_stage(inp, pool, inp.brp_requests, log, stage="3-market", guard=guard)
    return evaluate(inp, name, log.frame(), details)
