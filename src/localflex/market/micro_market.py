"""Day-ahead micro-market: a uniform-price double auction of local energy (paper §6.2,
ref. [67]; Table 2, "no coupling", local flexibility trading platform run by an IMO).

In ref. [67] "prosumers and generators can trade their energy within the DN ... The technical
constraints of the grid are here considered in the clearing mechanism." Here: buy and sell
orders per ISP (``ORDER_COLUMNS``: bus, ISP, side, kW, limit price) are cleared once, day
ahead, by maximising welfare::

    max  sum_buy  bid_i q_i - sum_sell ask_j q_j        (EUR/MWh x kW; x isp_hours / 1000)
    s.t. sum_sell q_j - sum_buy q_i = 0                 per ISP (energy balance)
         0 <= q <= power_kw

(HiGHS LP). A sell order injects at its bus (UP), a buy order consumes (DOWN).

Prices
------
* Without grid constraints: one uniform price per ISP, the midpoint of the interval of
  prices that support the allocation, ``[lo, hi]`` with ``lo = max(asks accepted (also
  partly), bids rejected (also partly))`` and ``hi = min(bids accepted, asks rejected)``:
  it lies between the marginal bids; a partly filled order pins the price to its own limit.
  No trade but both sides present: the midpoint of best bid and best ask; a side empty: NaN.
* With grid constraints (``grid=CongestionNeeds`` and/or ``voltage=VoltageNeeds``): trades
  may not push a congestion point past its headroom, nor aggravate one that is already
  overloaded, nor move a bus voltage beyond its rise/drop headroom (linear sensitivities, as
  in ``dso_single_buyer``). Prices may then differ per location: the price at bus b is the
  locational marginal price ``lambda_t + sum_k mu_k a_{k,b}`` from the LP duals (HiGHS's
  supporting prices; where the interval is not a point the solver picks one end). Every buyer
  pays its bus price (<= its bid), every seller gets its bus price (>= its ask); the
  difference between what buyers pay and sellers get is the congestion rent, kept by the
  market operator (>= 0).

Welfare = sum of bid x volume - sum of ask x volume (x isp_hours / 1000), EUR.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from localflex.domain import ClearingError, InputError, OfferError, empty_frame
from localflex.market._highs import quiet_highs
from localflex.market.dso_single_buyer import (
    RELIEF_EPS_KW_PER_KW,
    VOLTAGE_EPS_PU_PER_KW,
    CongestionNeeds,
    VoltageNeeds,
)
from localflex.market.outcome import MarketOutcome, fills_frame, prices_frame

__all__ = [
    "MICRO_TRADE_COLUMNS",
    "ORDER_COLUMNS",
    "MicroMarketResult",
    "clear_micro_market",
]

ORDER_COLUMNS: dict[str, tuple[str, str, str]] = {
    "order_id": ("object", "-", "unique id"),
    "party_id": ("object", "-", "prosumer, generator, aggregator or BRP"),
    "side": ("object", "-", "'buy' (consume) or 'sell' (inject)"),
    "bus": ("int64", "-", "grid bus"),
    "isp": ("int64", "-", "ISP index"),
    "power_kw": ("float64", "kW", "largest volume"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "limit price: highest to pay / lowest to get"),
}
MICRO_TRADE_COLUMNS: dict[str, tuple[str, str, str]] = {
    **ORDER_COLUMNS,
    "traded_kw": ("float64", "kW", "volume cleared"),
    "clearing_price_eur_per_mwh": ("float64", "EUR/MWh", "price at the order's location"),
    "amount_eur": ("float64", "EUR", "paid (buy) or received (sell)"),
}
_MIN_KW = 1e-6


@dataclass(frozen=True)
class MicroMarketResult:
    trades: pd.DataFrame  # MICRO_TRADE_COLUMNS, one row per order with traded_kw > 0
    prices: pd.DataFrame  # isp, location ('' or 'bus:<id>'), price_eur_per_mwh
    welfare_eur: float
    congestion_rent_eur: float
    isp_hours: float
    grid_constrained: bool

    def outcome(self) -> MarketOutcome:
        t = self.trades
        fills = fills_frame({
            "mechanism": "micro_market", "product": "active_power",
            "order_id": t["order_id"].to_numpy(), "party_id": t["party_id"].to_numpy(),
            "side": t["side"].to_numpy(), "bus": t["bus"].to_numpy(),
            "isp": t["isp"].to_numpy(),
            "direction": np.where(t["side"].to_numpy() == "sell", "up", "down"),
            "volume": t["traded_kw"].to_numpy(), "unit": "kW",
            "price_eur_per_mwh": t["clearing_price_eur_per_mwh"].to_numpy(),
            "amount_eur": t["amount_eur"].to_numpy(),
        })
        prices = prices_frame({
            "mechanism": "micro_market", "product": "active_power",
            "location": self.prices["location"].to_numpy(), "isp": self.prices["isp"].to_numpy(),
            "price_eur_per_mwh": self.prices["price_eur_per_mwh"].to_numpy(),
        })
        paid = float(t.loc[t["side"] == "buy", "amount_eur"].sum())
        return MarketOutcome("micro_market", fills, prices, paid, self.congestion_rent_eur,
                             self.welfare_eur)


def _check_orders(orders: pd.DataFrame, n_isps: int, bus_ids: np.ndarray | None) -> pd.DataFrame:
    missing = [c for c in ORDER_COLUMNS if c not in orders.columns]
    if missing:
        raise OfferError("orders", missing, f"columns {list(ORDER_COLUMNS)}")
    frame = orders[list(ORDER_COLUMNS)].reset_index(drop=True).copy()
    if frame.empty:
        return frame.astype({k: v[0] for k, v in ORDER_COLUMNS.items()})

    def first_bad(mask: np.ndarray, column: str, expected: str) -> None:
        if mask.any():
            row = frame.loc[mask].iloc[0]
            raise OfferError(f"order[{row['order_id']}].{column}", row[column], expected)

    first_bad(frame["order_id"].duplicated().to_numpy(), "order_id", "a unique order id")
    first_bad(~frame["side"].isin(["buy", "sell"]).to_numpy(), "side", "'buy' or 'sell'")
    isp = pd.to_numeric(frame["isp"], errors="coerce").to_numpy(dtype=float)
    first_bad(~((isp >= 0) & (isp < n_isps) & (isp == np.floor(isp))), "isp",
              f"an ISP index in 0..{n_isps - 1}")
    bus = pd.to_numeric(frame["bus"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(bus) if bus_ids is None else np.isin(bus, bus_ids)
    first_bad(~ok, "bus", "a bus of the grid")
    for column in ("power_kw", "price_eur_per_mwh"):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        first_bad(~np.isfinite(values), column, "a finite number")
        frame[column] = values
    first_bad(frame["power_kw"].to_numpy() < 0, "power_kw", "a volume >= 0 kW")
    return frame.astype({k: v[0] for k, v in ORDER_COLUMNS.items()})


def _grid_rows(
    frame: pd.DataFrame, grid: CongestionNeeds | None, voltage: VoltageNeeds | None,
    bus_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Entries (order, row, coef) and row bounds of the grid constraints; coef per kW of the
    order's volume (injection sign applied)."""
    inj = np.where(frame["side"].to_numpy() == "sell", 1.0, -1.0)
    isp_o = frame["isp"].to_numpy(dtype=np.int64)
    pos = np.searchsorted(bus_ids, frame["bus"].to_numpy())
    entries_o, entries_r, entries_v, lo, up = [], [], [], [], []
    n_rows = 0
    if grid is not None:
        relief = np.asarray(grid.relief_kw_per_kw_up, dtype=float)
        coef = -relief[isp_o, :, pos] * inj[:, None]  # loading increase per kW [O, CP]
        coef[np.abs(coef) <= RELIEF_EPS_KW_PER_KW] = 0.0
        head = np.asarray(grid.headroom_kw, dtype=float)
        over = np.asarray(grid.overload_kw, dtype=float) > 0
        limit = np.where(over, 0.0, np.where(np.isfinite(head), np.maximum(head, 0.0), np.inf))
        o, c = np.nonzero(coef)
        keep = np.isfinite(limit[isp_o[o], c])
        o, c = o[keep], c[keep]
        key = isp_o[o] * limit.shape[1] + c
        uniq, row = np.unique(key, return_inverse=True)
        entries_o.append(o)
        entries_r.append(row)
        entries_v.append(coef[o, c])
        t, cp = np.divmod(uniq, limit.shape[1])
        lo.append(np.full(len(uniq), -np.inf))
        up.append(limit[t, cp])
        n_rows += len(uniq)
    if voltage is not None:
        dv = np.asarray(voltage.dv_pu_per_kw, dtype=float)
        cv = (dv[:, pos].T if dv.ndim == 2 else dv[isp_o, :, pos]) * inj[:, None] * 1000.0
        cv[np.abs(cv) <= VOLTAGE_EPS_PU_PER_KW * 1000.0] = 0.0
        n_isps = int(isp_o.max()) + 1 if len(isp_o) else 0
        shape = (max(n_isps, np.asarray(voltage.lower_pu).shape[0]), len(bus_ids))
        rise = voltage.rise_headroom_pu
        drop = voltage.drop_headroom_pu
        rise = np.full(shape, np.inf) if rise is None else np.nan_to_num(
            np.asarray(rise, dtype=float), nan=np.inf)
        drop = np.full(shape, np.inf) if drop is None else np.nan_to_num(
            np.asarray(drop, dtype=float), nan=np.inf)
        # a bus already out of its band may not be pushed further: headroom 0 on that side
        rise = np.where(np.asarray(voltage.lower_pu) > 0, 0.0, rise) * 1000.0
        drop = np.where(np.asarray(voltage.raise_pu) > 0, 0.0, drop) * 1000.0
        o, b = np.nonzero(cv)
        keep = np.isfinite(rise[isp_o[o], b]) | np.isfinite(drop[isp_o[o], b])
        o, b = o[keep], b[keep]
        key = isp_o[o] * len(bus_ids) + b
        uniq, row = np.unique(key, return_inverse=True)
        entries_o.append(o)
        entries_r.append(n_rows + row)
        entries_v.append(cv[o, b])
        t, bb = np.divmod(uniq, len(bus_ids))
        lo.append(-drop[t, bb])
        up.append(rise[t, bb])
    if not entries_o:
        z = np.zeros(0)
        return z.astype(np.int64), z.astype(np.int64), z, z, z
    return (np.concatenate(entries_o), np.concatenate(entries_r), np.concatenate(entries_v),
            np.concatenate(lo), np.concatenate(up))


def clear_micro_market(
    orders: pd.DataFrame,
    *,
    n_isps: int,
    isp_hours: float = 0.25,
    grid: CongestionNeeds | None = None,
    voltage: VoltageNeeds | None = None,
) -> MicroMarketResult:
    """Clear buy and sell ``orders`` (ORDER_COLUMNS) per ISP; module docstring for the rules."""
    if not isinstance(n_isps, int | np.integer) or n_isps <= 0:
        raise InputError("n_isps", n_isps, "a positive integer")
    if not (isinstance(isp_hours, int | float) and isp_hours > 0):
        raise InputError("isp_hours", isp_hours, "a positive ISP length in hours")
    constrained = grid is not None or voltage is not None
    bus_ids = None
    for source in (grid, voltage):
        if source is not None:
            ids = np.asarray(source.bus_ids, dtype=np.int64)
            if bus_ids is not None and not np.array_equal(ids, bus_ids):
                raise InputError("voltage.bus_ids", ids.shape, "the bus axis of grid.bus_ids")
            bus_ids = ids
            if source.isp_hours != isp_hours:
                raise InputError("isp_hours", isp_hours, f"{source.isp_hours} (as the grid data)")
    if bus_ids is not None and not np.all(np.diff(bus_ids) > 0):
        raise InputError("grid.bus_ids", "unsorted", "bus ids in increasing order")
    frame = _check_orders(orders, n_isps, bus_ids)
    n = len(frame)
    is_sell = frame["side"].to_numpy() == "sell"
    isp_o = frame["isp"].to_numpy(dtype=np.int64)
    price = frame["price_eur_per_mwh"].to_numpy(dtype=float)
    vol = frame["power_kw"].to_numpy(dtype=float)

    g_o, g_r, g_v, g_lo, g_up = (_grid_rows(frame, grid, voltage, bus_ids) if constrained
                                 else (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) * 3)
    n_g = len(g_lo)
    rows = np.concatenate([isp_o, n_isps + g_r])
    cols = np.concatenate([np.arange(n), g_o])
    vals = np.concatenate([np.where(is_sell, 1.0, -1.0), g_v])
    a = sp.csc_array((vals, (rows, cols)), shape=(n_isps + n_g, n))
    a.sum_duplicates()
    a.sort_indices()
    cost = np.where(is_sell, price, -price)  # minimise -welfare (EUR/MWh per kW)
    q, row_dual = _solve(a, cost, vol, np.concatenate([np.zeros(n_isps), g_lo]),
                         np.concatenate([np.zeros(n_isps), g_up]))
    q = np.where(q >= _MIN_KW, np.minimum(q, vol), 0.0)

    if constrained:
        # LMP at an order's location: lambda_t + sum_k mu_k a_{k,o} / inj_o  (per kW injected)
        inj = np.where(is_sell, 1.0, -1.0)
        lmp = row_dual[isp_o] + np.bincount(
            g_o, weights=row_dual[n_isps + g_r] * g_v, minlength=n) * inj
        order_price = lmp
        loc = pd.DataFrame({"isp": isp_o, "location": "bus:" + frame["bus"].astype(str),
                            "price_eur_per_mwh": lmp}).drop_duplicates(["isp", "location"])
        prices = loc[["isp", "location", "price_eur_per_mwh"]]
    else:
        isp_price = _uniform_prices(is_sell, isp_o, price, vol, q, n_isps)
        order_price = isp_price[isp_o]
        prices = pd.DataFrame({"isp": np.arange(n_isps), "location": "",
                               "price_eur_per_mwh": isp_price})
    prices = prices.astype({"isp": np.int64, "location": object}).sort_values(
        ["isp", "location"], kind="stable").reset_index(drop=True)
    traded = q > 0
    trades = frame[traded].copy()
    trades["traded_kw"] = q[traded]
    trades["clearing_price_eur_per_mwh"] = order_price[traded]
    trades["amount_eur"] = q[traded] * isp_hours * order_price[traded] / 1000.0
    trades = (trades.astype({k: v[0] for k, v in MICRO_TRADE_COLUMNS.items()})
              .reset_index(drop=True) if len(trades) else empty_frame(MICRO_TRADE_COLUMNS))
    welfare = float(np.sum(np.where(is_sell, -price, price) * q) * isp_hours / 1000.0)
    buy = trades["side"] == "buy"
    rent = float(trades.loc[buy, "amount_eur"].sum() - trades.loc[~buy, "amount_eur"].sum())
    return MicroMarketResult(trades=trades, prices=prices, welfare_eur=welfare,
                             congestion_rent_eur=rent, isp_hours=float(isp_hours),
                             grid_constrained=constrained)


def _uniform_prices(is_sell, isp_o, price, vol, q, n_isps) -> np.ndarray:
    """Midpoint of the supporting price interval per ISP (module docstring)."""
    acc = q > 0
    rej = q < vol - _MIN_KW

    def fold(mask, reducer, fill):
        out = np.full(n_isps, fill)
        reducer.at(out, isp_o[mask], price[mask])
        return out

    lo = np.maximum(fold(is_sell & acc, np.maximum, -np.inf), fold(~is_sell & rej, np.maximum,
                                                                   -np.inf))
    hi = np.minimum(fold(~is_sell & acc, np.minimum, np.inf), fold(is_sell & rej, np.minimum,
                                                                   np.inf))
    both = np.isfinite(lo) & np.isfinite(hi)
    mid = np.full(n_isps, np.nan)  # an open end only without trades
    mid[both] = (lo[both] + hi[both]) / 2.0
    return mid


def _solve(a, cost, upper, row_lower, row_upper) -> tuple[np.ndarray, np.ndarray]:
    n_rows, n_cols = a.shape
    if n_cols == 0:
        return np.zeros(0), np.zeros(n_rows)
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_cols)
    lp.col_upper_ = upper
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -highspy.kHighsInf)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_cols
    lp.a_matrix_.num_row_ = n_rows
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    h = quiet_highs()
    h.setOptionValue("solver", "simplex")
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise ClearingError(f"HiGHS did not solve the micro-market LP: "
                            f"{h.modelStatusToString(status)}")
    sol = h.getSolution()
    return np.asarray(sol.col_value, dtype=float), np.asarray(sol.row_dual, dtype=float)
