"""Several DSOs under one TSO (paper §6.1: "a decentralized approach, consisting of several
local markets operated by different DSOs, coordinated with the traditional AS markets
operated by the TSO"; ref. [65]).

Each DSO has its own area: a ``DesignInput`` (grid, needs, offers, BRP requests) with its
own ``dso_id``; the TSO has one set of balancing requests for the whole system (``tso``,
default: the first area's ``tso_requests``), which resources of any area may serve.

``local_markets`` — ref. [65]'s local AS market model with several DSOs: every DSO clears its
needs in its own market with its own resources, then passes its prequalified aggregated bids
to the TSO's one market (``tso_dso.tso_market_on_areas``); each area's BRPs trade last,
guarded.

``centralized_market`` — ref. [65]'s centralized model: the TSO clears first on the offers of
every area, blind to the distribution grids; each DSO then buys in its own area what the
resulting state needs; BRPs last, grid-blind.

Each area is evaluated by its own power flow (``evaluate``); the TSO's totals (cost, share
served, energy per area) are reported beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from localflex.domain import InputError
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.ledger import (
    EnergyUse,
    GridGuard,
    OfferPool,
    TradeLog,
    TradePurpose,
)
from localflex.market.designs.result import DesignResult, evaluate
from localflex.market.designs.stages import book_stage, dso_stage
from localflex.market.designs.tso_dso import tso_market_on_areas
from localflex.market.dso_single_buyer import EnergyBudgets

__all__ = ["MultiAreaResult", "centralized_market", "local_markets"]


@dataclass
class MultiAreaResult:
    """One scheme over several DSO areas: a ``DesignResult`` per area and the TSO's totals."""

    scheme: str
    areas: list[DesignResult]
    tso_cost_eur: float
    tso_served_share: float
    tso_kwh_by_area: dict[str, float]


def _check(inputs: list[DesignInput], tso: pd.DataFrame | None) -> pd.DataFrame:
    if len(inputs) < 2:
        raise InputError("inputs", len(inputs), "at least two DSO areas")
    ids = [i.dso_id for i in inputs]
    if len(set(ids)) != len(ids):
        raise InputError("dso_id", ids, "a distinct dso_id per area")
    for inp in inputs[1:]:
        if (inp.n_isps, inp.isp_hours) != (inputs[0].n_isps, inputs[0].isp_hours):
            raise InputError(f"{inp.dso_id}.n_isps", inp.n_isps,
                             f"{inputs[0].n_isps} ISPs of {inputs[0].isp_hours} h like the rest")
    return inputs[0].tso_requests if tso is None else tso


def _result(scheme: str, inputs, logs, tso: pd.DataFrame) -> MultiAreaResult:
    areas = [evaluate(inp, f"{scheme}[{inp.dso_id}]", log.frame())
             for inp, log in zip(inputs, logs, strict=True)]
    cost, kwh, served = 0.0, {}, 0.0
    for inp, r in zip(inputs, areas, strict=True):
        t = r.trades[r.trades["purpose"] == TradePurpose.SYSTEM.value]
        t = t[t["request_id"].isin(tso["request_id"])]
        cost += float(t["paid_eur"].sum())
        kwh[inp.dso_id] = float(t["power_kw"].sum() * inp.isp_hours)
        served += float(t["power_kw"].sum())
    asked = float(tso["power_kw"].sum())
    return MultiAreaResult(scheme, areas, cost, served / asked if asked > 0 else float("nan"),
                           kwh)


def local_markets(inputs: list[DesignInput], tso: pd.DataFrame | None = None,
                  *, name: str = "local_markets") -> MultiAreaResult:
    """Ref. [65] local AS market model with several DSOs (module docstring)."""
    tso = _check(inputs, tso)
    state = [(inp, OfferPool.of(inp), GridGuard(inp), TradeLog(inp.isp_hours))
             for inp in inputs]
    for inp, pool, guard, log in state:
        dso_stage(inp, pool, guard, log, stage="1-dso-local")
    tso_market_on_areas(state, tso, stage="2-tso-aggregated")
    for inp, pool, guard, log in state:
        book_stage(inp, pool, inp.brp_requests, log, stage="3-market", guard=guard)
    return _result(name, inputs, [s[3] for s in state], tso)


def _prefixed_budgets(inputs: list[DesignInput]) -> EnergyUse:
    """Every area's energy budgets on its prefixed offer ids (``centralized_market``)."""
    parts, offset = [], 0
    for inp in inputs:
        b = inp.energy_budgets
        if b is None:
            continue
        parts.append(EnergyBudgets(
            offer_id=np.array([f"{inp.dso_id}:{o}" for o in b.offer_id], dtype=object),
            budget=np.asarray(b.budget, dtype=np.int64) + offset, weight=b.weight,
            limit_kwh=b.limit_kwh))
        offset += len(b.limit_kwh)
    merged = (EnergyBudgets(*(np.concatenate([getattr(p, f) for p in parts])
                              for f in ("offer_id", "budget", "weight", "limit_kwh")))
              if parts else None)
    return EnergyUse(merged, inputs[0].isp_hours)


def centralized_market(inputs: list[DesignInput], tso: pd.DataFrame | None = None,
                       *, name: str = "centralized_market") -> MultiAreaResult:
    """Ref. [65] centralized AS market model with several DSOs (module docstring)."""
    tso = _check(inputs, tso)
    prefixed = pd.concat([inp.offers.assign(offer_id=inp.dso_id + ":" + inp.offers["offer_id"])
                          for inp in inputs], ignore_index=True)
    central = TradeLog(inputs[0].isp_hours)
    # bus numbers are per grid: the book needs only ids and prices, the areas get the buses
    fills = book_stage(inputs[0], OfferPool(prefixed.assign(bus=inputs[0].bus_ids[0]),
                                            _prefixed_budgets(inputs)), tso,
                       central, stage="1-tso-central")
    logs = []
    for inp in inputs:
        pool, guard, log = OfferPool.of(inp), GridGuard(inp), TradeLog(inp.isp_hours)
        if len(fills):
            mine = pd.DataFrame(fills)
            mine = mine[mine["offer_id"].str.startswith(inp.dso_id + ":")]
            if len(mine):
                mine = mine.assign(offer_id=mine["offer_id"].str.split(":", n=1).str[1])
                mine["bus"] = inp.offers.set_index("offer_id").loc[mine["offer_id"],
                                                                   "bus"].to_numpy()
                log.add(**{c: mine[c].to_numpy() for c in mine.columns})
                pool.take(mine["offer_id"], mine["power_kw"].to_numpy(dtype=float))
                guard.apply_trades(mine)
        dso_stage(inp, pool, guard, log, stage="2-dso")
        book_stage(inp, pool, inp.brp_requests, log, stage="3-market")
        logs.append(log)
    return _result(name, inputs, logs, tso)
