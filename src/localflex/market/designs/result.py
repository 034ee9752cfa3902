"""The common result and KPIs of every market design (paper §6.2, Table 2; §7's open
question: "quantitative research on the value gained by using one type of coordination or
another is not available").

``evaluate`` turns a design's trades into the same KPIs for every design:

* a **real power flow** (``localflex.grid.run_power_flow``) after applying every accepted
  trade of every party — DSO, TSO, BRPs, direct control, curtailment — as a change of net
  injection at the seller's bus (taken as delivered: no rebound, no non-delivery; the
  comparison is of market designs, not of DER models);
* money: what the DSO, the TSO and the BRPs pay, what the sellers receive, the market
  operator's surplus (pay-as-bid on both sides leaves the spread with the operator); in EUR
  as computed and in the integer cents booked on the trade tape (``*_cents``,
  ``ledger.trade_cents``: every stage's total rounded once, split by largest remainder);
* the grid: residual overload energy, overload created where the forecast had none, the
  worst loading, hours per traffic-light colour of the realised state
  (``grid.traffic_light.state_lights``: the worst point of each ISP);
* welfare = value of the needs served − sellers' costs:
  ``dso_value_eur`` = the DSO's stated value of avoided overload
  (``overload_penalty_eur_per_mwh``) × (forecast overload − overload after the trades;
  overload the trades create counts against it; voltage is not among the needs of this
  comparison) + ``buyer_value_eur`` = Σ the BRPs' and the TSO's bids × the energy they got
  − ``seller_cost_eur`` = Σ the sellers' true cost × energy (``DesignInput.offer_costs``:
  the ask under cost-based bidding, below it under a markup; control and curtailment at
  their regulated / emergency price);
* prices: volume-weighted mean price received per purpose;
* liquidity per congestion point overloaded in the forecast: the number of sellers whose
  market trades relieved it in its overloaded ISPs and the HHI (0–10,000) of their relief;
  market-wide: ``sellers_total`` (sellers with any market sale) and ``hhi_sales`` (HHI of
  their sold energy); ``seller_profit_eur`` = received − true cost.

``KPI_KEYS`` is the contract: every design reports exactly these keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from localflex.grid import (
    BusLoads,
    PowerFlowResult,
    congestion_points,
    overload_kw,
    rerun_power_flow,
    run_power_flow,
)
from localflex.grid.traffic_light import light_hours, state_lights
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.ledger import TradePurpose, stage_pricing
from localflex.market.dso_single_buyer import RELIEF_EPS_KW_PER_KW

__all__ = [
    "KPI_KEYS",
    "OVERLOAD_TOLERANCE_KW",
    "DesignResult",
    "evaluate",
    "market_sales_kwh",
    "mean_price_eur_per_mwh",
    "sales_concentration",
    "seller_cost_per_mwh",
    "seller_profits",
]

OVERLOAD_TOLERANCE_KW = 0.1
"""Overload below 0.1 kW is power-flow and linearisation noise (as in ``sim.engine``)."""

KPI_KEYS: tuple[str, ...] = (
    "design",
    "dso_cost_eur",
    "tso_cost_eur",
    "brp_cost_eur",
    "seller_revenue_eur",
    "operator_surplus_eur",
    "dso_cost_cents",
    "tso_cost_cents",
    "brp_cost_cents",
    "seller_revenue_cents",
    "operator_surplus_cents",
    "welfare_eur",
    "dso_value_eur",
    "buyer_value_eur",
    "seller_cost_eur",
    "seller_profit_eur",
    "residual_overload_kwh",
    "new_overload_kwh",
    "worst_loading_pct",
    "hours_green",
    "hours_yellow",
    "hours_orange",
    "hours_red",
    "grid_kwh",
    "system_kwh",
    "market_kwh",
    "control_kwh",
    "curtailed_kwh",
    "price_grid_eur_per_mwh",
    "price_system_eur_per_mwh",
    "price_market_eur_per_mwh",
    "brp_served_share",
    "tso_served_share",
    "sellers_min",
    "hhi_max",
    "sellers_total",
    "hhi_sales",
    "liquidity",
    "pricing",
)
"""Every design's KPIs, in this order. ``liquidity`` is {cp_id: {"sellers", "hhi"}};
``sellers_min`` / ``hhi_max`` summarise it over the congested points (0 / NaN if none).
``pricing`` names each stage's pricing rule, ``stage=rule; ...`` (``ledger.PRICING_RULES``)."""


@dataclass
class DesignResult:
    """One design run: its KPIs (``KPI_KEYS``), trades, verification power flow, details."""

    design: str
    kpis: dict
    trades: pd.DataFrame  # DESIGN_TRADE_COLUMNS
    after: PowerFlowResult
    lights_after: np.ndarray  # [T, CP] colour codes of the realised state
    details: dict = field(default_factory=dict)


def injection_delta_kw(inp: DesignInput, trades: pd.DataFrame) -> np.ndarray:
    """[T, B] change of net injection that the trades deliver (UP positive)."""
    delta = np.zeros((inp.n_isps, inp.bus_ids.size))
    if trades.empty:
        return delta
    pos = np.searchsorted(inp.bus_ids, trades["bus"].to_numpy(dtype=np.int64))
    sign = np.where(trades["direction"].to_numpy() == "up", 1.0, -1.0)
    np.add.at(delta, (trades["isp"].to_numpy(dtype=np.int64), pos),
              sign * trades["power_kw"].to_numpy(dtype=float))
    return delta


_MARKET_PURPOSES = (TradePurpose.GRID.value, TradePurpose.SYSTEM.value,
                    TradePurpose.MARKET.value)


def seller_cost_per_mwh(inp: DesignInput, trades: pd.DataFrame) -> np.ndarray:
    """Per trade the seller's true cost per MWh: the offer's cost (``offer_costs``) for
    market trades, the regulated / emergency price for control and curtailment."""
    ask = trades["ask_eur_per_mwh"].to_numpy(dtype=float)
    if trades.empty:
        return ask
    mapped = inp.costs_of(trades["offer_id"])
    return np.where(np.isfinite(mapped), mapped, np.nan_to_num(ask))  # money-only rows: 0


def market_sales_kwh(trades: pd.DataFrame, isp_hours: float) -> pd.Series:
    """Energy each seller sold in the markets (grid, system, market use), kWh."""
    m = trades[trades["purpose"].isin(_MARKET_PURPOSES)]
    return (m.groupby("seller_id")["power_kw"].sum() * isp_hours).astype(float)


def seller_profits(inp: DesignInput, trades: pd.DataFrame) -> pd.Series:
    """seller_id -> received − true cost (EUR) of its market trades."""
    m = trades[trades["purpose"].isin(_MARKET_PURPOSES)]
    energy = m["power_kw"].to_numpy(dtype=float) * inp.isp_hours / 1000.0
    profit = m["received_eur"].to_numpy(dtype=float) - seller_cost_per_mwh(inp, m) * energy
    return pd.Series(profit, index=m["seller_id"].to_numpy()).groupby(level=0).sum()


def _energy_kwh(trades: pd.DataFrame, mask: np.ndarray, isp_hours: float) -> float:
    return float(trades.loc[mask, "power_kw"].sum() * isp_hours)


def mean_price_eur_per_mwh(trades: pd.DataFrame, mask: np.ndarray, isp_hours: float) -> float:
    """Volume-weighted price received on the trades in ``mask`` (NaN without energy)."""
    energy = trades.loc[mask, "power_kw"].sum() * isp_hours / 1000.0
    return float(trades.loc[mask, "received_eur"].sum() / energy) if energy > 0 else float("nan")


def sales_concentration(trades: pd.DataFrame, isp_hours: float) -> tuple[int, float]:
    """(sellers with any market sale, HHI 0–10,000 of their sold energy; NaN if none)."""
    sales = market_sales_kwh(trades, isp_hours)
    sales = sales[sales > 0]
    if not len(sales):
        return 0, float("nan")
    share = sales / sales.sum() * 100.0
    return len(sales), float((share ** 2).sum())


def _liquidity(inp: DesignInput, trades: pd.DataFrame) -> dict[str, dict[str, float]]:
    congested = inp.needs.overload_kw > OVERLOAD_TOLERANCE_KW  # [T, CP]
    out: dict[str, dict[str, float]] = {}
    market = trades[trades["purpose"].isin(_MARKET_PURPOSES)]
    isp = market["isp"].to_numpy(dtype=np.int64)
    pos = np.searchsorted(inp.bus_ids, market["bus"].to_numpy(dtype=np.int64))
    sign = np.where(market["direction"].to_numpy() == "up", 1.0, -1.0)
    kw = market["power_kw"].to_numpy(dtype=float)
    for c in np.flatnonzero(congested.any(axis=0)):
        relief = inp.relief[isp, c, pos] * sign * kw
        keep = congested[isp, c] & (relief > RELIEF_EPS_KW_PER_KW)
        by_seller = pd.Series(relief[keep]).groupby(market["seller_id"].to_numpy()[keep]).sum()
        total = by_seller.sum()
        hhi = float(((by_seller / total * 100.0) ** 2).sum()) if total > 0 else float("nan")
        out[str(inp.cps["cp_id"].iloc[c])] = {"sellers": len(by_seller), "hhi": hhi}
    return out


def evaluate(inp: DesignInput, design: str, trades: pd.DataFrame,
             details: dict | None = None) -> DesignResult:
    """Verify ``trades`` by power flow and compute ``KPI_KEYS`` (module docstring)."""
    h = inp.isp_hours
    delta = injection_delta_kw(inp, trades)
    loads = BusLoads(inp.forecast_loads.p_kw - delta, inp.forecast_loads.q_kvar)
    after = (run_power_flow(inp.grid, loads, engine=inp.engine) if inp.forecast_all is None
             else rerun_power_flow(inp.grid, loads, inp.forecast_loads, inp.forecast_all,
                                   engine=inp.engine))  # ISPs without trades: the forecast
    all_cps = congestion_points(inp.grid)  # verified on every point, not only the monitored
    over_after = overload_kw(after, all_cps)
    over_after = np.where(over_after > OVERLOAD_TOLERANCE_KW, over_after, 0.0)
    before = inp.on_every_point(inp.needs.overload_kw) > OVERLOAD_TOLERANCE_KW
    residual_kwh = float(over_after.sum() * h)
    new_kwh = float(over_after[~before].sum() * h)
    lights = state_lights(after.cp_loading_pct, all_cps, inp.params.thresholds)
    hours = light_hours(lights, h)

    purpose = trades["purpose"].to_numpy()
    buyer = trades["buyer_id"].to_numpy()
    paid = trades["paid_eur"].to_numpy(dtype=float)
    received = trades["received_eur"].to_numpy(dtype=float)
    paid_c = trades["paid_cents"].to_numpy(dtype=np.int64)
    received_c = trades["received_cents"].to_numpy(dtype=np.int64)
    energy_mwh = trades["power_kw"].to_numpy(dtype=float) * h / 1000.0
    bid = trades["bid_eur_per_mwh"].to_numpy(dtype=float)
    buyer_value = float((np.where(np.isfinite(bid) & (buyer != inp.dso_id), bid, 0.0)
                         * energy_mwh).sum())
    cost = float((seller_cost_per_mwh(inp, trades) * energy_mwh).sum())
    forecast_kwh = float(np.where(inp.needs.overload_kw > OVERLOAD_TOLERANCE_KW,
                                  inp.needs.overload_kw, 0.0).sum() * h)
    dso_value = inp.params.overload_penalty_eur_per_mwh * (forecast_kwh - residual_kwh) / 1000.0
    welfare = dso_value + buyer_value - cost
    sellers_total, hhi_sales = sales_concentration(trades, h)

    def served(purpose_value: str) -> float:
        """Share of the input's requests of that purpose served (other requests, e.g. a
        gamer's wash trades, do not count)."""
        mine = inp.requests[inp.requests["purpose"] == purpose_value]
        asked = mine["power_kw"].sum()
        got = trades.loc[trades["request_id"].isin(mine["request_id"]), "power_kw"].sum()
        return float(got / asked) if asked > 0 else float("nan")

    liquidity = _liquidity(inp, trades)
    sellers = [v["sellers"] for v in liquidity.values()]
    hhis = [v["hhi"] for v in liquidity.values() if np.isfinite(v["hhi"])]
    is_brp = purpose == TradePurpose.MARKET.value
    kpis = {
        "design": design,
        "dso_cost_eur": float(paid[buyer == inp.dso_id].sum()),
        "tso_cost_eur": float(paid[buyer == inp.tso_id].sum()),
        "brp_cost_eur": float(paid[is_brp & (buyer != inp.dso_id)].sum()),
        "seller_revenue_eur": float(received.sum()),
        "operator_surplus_eur": float(paid.sum() - received.sum()),
        "dso_cost_cents": int(paid_c[buyer == inp.dso_id].sum()),
        "tso_cost_cents": int(paid_c[buyer == inp.tso_id].sum()),
        "brp_cost_cents": int(paid_c[is_brp & (buyer != inp.dso_id)].sum()),
        "seller_revenue_cents": int(received_c.sum()),
        "operator_surplus_cents": int(paid_c.sum() - received_c.sum()),
        "welfare_eur": welfare,
        "dso_value_eur": dso_value,
        "buyer_value_eur": buyer_value,
        "seller_cost_eur": cost,
        "seller_profit_eur": float(received.sum()) - cost,
        "residual_overload_kwh": residual_kwh,
        "new_overload_kwh": new_kwh,
        "worst_loading_pct": float(np.nanmax(after.cp_loading_pct)),
        "hours_green": hours["green"],
        "hours_yellow": hours["yellow"],
        "hours_orange": hours["orange"],
        "hours_red": hours["red"],
        "grid_kwh": _energy_kwh(trades, purpose == TradePurpose.GRID.value, h),
        "system_kwh": _energy_kwh(trades, purpose == TradePurpose.SYSTEM.value, h),
        "market_kwh": _energy_kwh(trades, is_brp, h),
        "control_kwh": _energy_kwh(trades, purpose == TradePurpose.CONTROL.value, h),
        "curtailed_kwh": _energy_kwh(trades, purpose == TradePurpose.CURTAIL.value, h),
        "price_grid_eur_per_mwh": mean_price_eur_per_mwh(
            trades, purpose == TradePurpose.GRID.value, h),
        "price_system_eur_per_mwh": mean_price_eur_per_mwh(
            trades, purpose == TradePurpose.SYSTEM.value, h),
        "price_market_eur_per_mwh": mean_price_eur_per_mwh(trades, is_brp, h),
        "brp_served_share": served(TradePurpose.MARKET.value),
        "tso_served_share": served(TradePurpose.SYSTEM.value),
        "sellers_min": int(min(sellers)) if sellers else 0,
        "hhi_max": float(max(hhis)) if hhis else float("nan"),
        "sellers_total": sellers_total,
        "hhi_sales": hhi_sales,
        "liquidity": liquidity,
        "pricing": "; ".join(f"{k}={v}" for k, v in stage_pricing(trades).items()),
    }
    if tuple(kpis) != KPI_KEYS:  # the contract every design is compared by
        raise RuntimeError(f"KPI keys drifted from KPI_KEYS: {tuple(kpis)}")
    return DesignResult(design, kpis, trades, after, lights, dict(details or {}))
