"""One joint clearing of the DSO's needs and location-free buyers (paper §6.1, ref. [65]:
the common TSO–DSO market and the integrated flexibility market).

A linear program on HiGHS (``quiet_highs``). Every offer ``o`` can be bought for the DSO
(``a_o``) or for the location-free buyers of its (ISP, direction) (``m_o``); the grid sees
both. Buyer ``k`` (a BRP or the TSO) takes ``y_k``::

    min  Σ_o ask_o (a_o + m_o) h/1000 − Σ_k value_k y_k h/1000 + Σ penalty s h/1000
    s.t. a_o + m_o <= remaining_o                                         (offer rows)
         Σ_o r[o, cp] (a_o + m_o) + s_{t,cp} >= overload[t, cp]           (DSO need rows)
         Σ_o r[o, cp] (a_o + m_o)            >= −max(head[t, cp], 0)      (grid rows)
         Σ_{o in (t,d)} m_o − Σ_{k in (t,d)} y_k = 0                      (balance rows)
         Σ_{k in (t,d)} bid_k y_k − Σ_{o in (t,d)} ask_o m_o >= 0         (budget rows)
         Σ_e weight_e (a_{o_e} + m_{o_e}) h <= limit_k                     (energy rows)
         0 <= y_k <= power_k,   a, m, s >= 0

``r[o, cp]`` is the relief per kW (``relief_kw_per_kw_up`` × direction sign); ``head`` the
guard's headroom. Grid rows exist for every (ISP, point) that is not a need row and that an
offer of that ISP touches: a point within its limit stays within it, an overloaded point that
the DSO does not ask to fix never gets worse. Budget rows keep each (ISP, direction) market
budget-balanced under pay-as-bid on both sides (the buyers' bids cover the sellers' asks;
the spread is the operator's surplus). ``value_k`` defaults to ``bid_k``; a *mandatory* buyer
(shared balancing responsibility) gets ``value = penalty`` and no budget row.

A BRP buying flexibility in the direction that relieves a congested point lowers what the DSO
must buy: the program sees that (the synergy that ref. [70] exploits by sequencing).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from localflex.market.dso_single_buyer import (
    RELIEF_EPS_KW_PER_KW,
    EnergyBudgets,
    checked_energy_budgets,
    solve_lp,
)

__all__ = ["JointClearing", "clear_joint", "pair_fills"]



@dataclass(frozen=True)
class JointClearing:
    """kW per offer for the DSO (``dso_kw``) and for the market (``market_kw``), kW per
    request (``fill_kw``), in the row order of the inputs."""

    dso_kw: np.ndarray
    market_kw: np.ndarray
    fill_kw: np.ndarray
    status: str


def clear_joint(
    offers: pd.DataFrame,
    requests: pd.DataFrame,
    *,
    relief: np.ndarray,
    bus_ids: np.ndarray,
    head_kw: np.ndarray,
    dso_mask: np.ndarray | None,
    isp_hours: float,
    mandatory: bool = False,
    shortfall_penalty_eur_per_mwh: float = 1e6,
    energy_budgets: EnergyBudgets | None = None,
) -> JointClearing:
    """Solve the program of the module docstring. ``dso_mask`` [T, CP]: the overloaded points
    the DSO asks to fix (None: the DSO buys nothing). ``mandatory``: every request must be
    served if the offers and the grid allow (value = penalty, no budget rows).
    ``energy_budgets``: the offers' inter-temporal limits, one row each (energy rows)."""
    n_off, n_req = len(offers), len(requests)
    n_isps, n_cp = head_kw.shape
    scale = isp_hours / 1000.0
    isp_o = offers["isp"].to_numpy(dtype=np.int64)
    pos_o = np.searchsorted(bus_ids, offers["bus"].to_numpy(dtype=np.int64))
    sign_o = np.where(offers["direction"].to_numpy() == "up", 1.0, -1.0)
    ask_o = np.maximum(offers["price_eur_per_mwh"].to_numpy(dtype=float), 1e-3)
    max_o = offers["max_power_kw"].to_numpy(dtype=float)
    r = relief[isp_o, :, pos_o] * sign_o[:, None] if n_off else np.zeros((0, n_cp))
    r[np.abs(r) <= RELIEF_EPS_KW_PER_KW] = 0.0

    need = np.zeros((n_isps, n_cp), dtype=bool) if dso_mask is None else (
        dso_mask & (head_kw < -1e-6))
    # market groups (ISP, direction) of the requests
    d_code = {"up": 0, "down": 1}
    g_req = requests["isp"].to_numpy(dtype=np.int64) * 2 + requests["direction"].map(
        d_code).to_numpy(dtype=np.int64) if n_req else np.zeros(0, dtype=np.int64)
    groups = np.unique(g_req)
    g_index = np.full(2 * n_isps, -1, dtype=np.int64)
    g_index[groups] = np.arange(groups.size)
    g_off = g_index[isp_o * 2 + (sign_o < 0)]
    a_idx = np.flatnonzero((r > 0).any(axis=1) & need[isp_o].any(axis=1) & (max_o > 0))
    a_idx = a_idx[(r[a_idx] * need[isp_o[a_idx]] > 0).any(axis=1)]
    m_idx = np.flatnonzero((g_off >= 0) & (max_o > 0))
    n_a, n_m = a_idx.size, m_idx.size

    # row numbering: need rows, grid rows, offer rows, balance rows, budget rows
    need_t, need_c = np.nonzero(need)
    row_of = np.full((n_isps, n_cp), -1, dtype=np.int64)
    row_of[need_t, need_c] = np.arange(need_t.size)
    cols_o = np.concatenate([a_idx, m_idx])  # offer of each a/m column
    col_no = np.arange(n_a + n_m)
    oi, ci = np.nonzero(r[cols_o])
    t_e = isp_o[cols_o[oi]]
    grid_e = ~need[t_e, ci] & np.isfinite(head_kw[t_e, ci])
    grid_flat = np.unique((t_e * n_cp + ci)[grid_e])
    grid_t, grid_c = np.divmod(grid_flat, n_cp)
    n_need = need_t.size
    row_of[grid_t, grid_c] = n_need + np.arange(grid_flat.size)
    keep = row_of[t_e, ci] >= 0
    oi, ci, t_e = oi[keep], ci[keep], t_e[keep]
    n_grid = grid_flat.size
    used_off = np.unique(cols_o)
    off_row = np.full(n_off, -1, dtype=np.int64)
    off_row[used_off] = n_need + n_grid + np.arange(used_off.size)
    base_bal = n_need + n_grid + used_off.size
    n_g = groups.size
    budget = not mandatory
    n_rows = base_bal + n_g * (2 if budget else 1)

    y0 = n_a + n_m
    s0 = y0 + n_req
    n_cols = s0 + n_need
    rows = [row_of[t_e, ci], off_row[cols_o], np.arange(n_need)]
    cols = [col_no[oi], col_no, s0 + np.arange(n_need)]
    vals = [r[cols_o[oi], ci], np.ones(n_a + n_m), np.ones(n_need)]
    m_cols = n_a + np.arange(n_m)
    rows += [base_bal + g_off[m_idx], base_bal + g_index[g_req]]
    cols += [m_cols, y0 + np.arange(n_req)]
    vals += [np.ones(n_m), -np.ones(n_req)]
    bid_k = requests["price_eur_per_mwh"].to_numpy(dtype=float) if n_req else np.zeros(0)
    if budget:
        rows += [base_bal + n_g + g_off[m_idx], base_bal + n_g + g_index[g_req]]
        cols += [m_cols, y0 + np.arange(n_req)]
        vals += [-ask_o[m_idx], bid_k]
    e_row, e_col, e_val, e_upper = _energy_rows(energy_budgets, offers, cols_o, isp_hours)
    rows.append(n_rows + e_row)
    cols.append(e_col)
    vals.append(e_val)
    n_rows += e_upper.size
    a_csc = sp.csc_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_rows, n_cols))
    a_csc.sum_duplicates()
    a_csc.sort_indices()
    inf = highspy.kHighsInf
    value_k = np.full(n_req, shortfall_penalty_eur_per_mwh) if mandatory else bid_k
    cost = np.concatenate([ask_o[a_idx], ask_o[m_idx], -value_k,
                           np.full(n_need, shortfall_penalty_eur_per_mwh)]) * scale
    col_upper = np.concatenate([max_o[a_idx], max_o[m_idx],
                                requests["power_kw"].to_numpy(dtype=float) if n_req else [],
                                np.full(n_need, inf)])
    row_lower = np.concatenate([
        -head_kw[need_t, need_c], -np.maximum(head_kw[grid_t, grid_c], 0.0),
        np.full(used_off.size, -inf), np.zeros(n_g), np.zeros(n_g if budget else 0),
        np.full(e_upper.size, -inf)])
    row_upper = np.concatenate([
        np.full(n_need + n_grid, inf), max_o[used_off], np.zeros(n_g),
        np.full(n_g if budget else 0, inf), e_upper])
    x = solve_lp(a_csc, cost, np.zeros(n_cols), col_upper, row_lower, row_upper,
                 problem="joint clearing LP")[0]
    dso_kw = np.zeros(n_off)
    market_kw = np.zeros(n_off)
    np.add.at(dso_kw, a_idx, x[:n_a])
    np.add.at(market_kw, m_idx, x[n_a:y0])
    fill = x[y0:s0] if n_req else np.zeros(0)
    clean = lambda v: np.where(v > 1e-6, v, 0.0)  # noqa: E731
    return JointClearing(clean(dso_kw), clean(market_kw), clean(fill), "Optimal")


def _energy_rows(budgets: EnergyBudgets | None, offers: pd.DataFrame, cols_o: np.ndarray,
                 isp_hours: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(local row, column, value, row upper bound) of the energy rows: budget ``k`` bounds
    Σ weight · (a_o + m_o) · h over its entries (``EnergyBudgets``); budgets with no column
    get no row."""
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0),
             np.zeros(0))
    if budgets is None or len(budgets.offer_id) == 0 or cols_o.size == 0:
        return empty
    budgets = checked_energy_budgets(budgets)
    entry_o = pd.Index(offers["offer_id"].to_numpy()).get_indexer(budgets.offer_id)
    # every column of an offer carries each of its entries
    col_of = pd.DataFrame({"o": cols_o, "col": np.arange(cols_o.size)})
    pairs = pd.DataFrame({"o": entry_o, "k": budgets.budget, "w": budgets.weight}).merge(
        col_of, on="o")
    pairs = pairs[(pairs["w"] > 0) & np.isfinite(budgets.limit_kwh[pairs["k"].to_numpy()])]
    if pairs.empty:
        return empty
    used, k_local = np.unique(pairs["k"].to_numpy(), return_inverse=True)
    return (k_local.astype(np.int64), pairs["col"].to_numpy(dtype=np.int64),
            pairs["w"].to_numpy() * isp_hours, budgets.limit_kwh[used])


def pair_fills(offers: pd.DataFrame, requests: pd.DataFrame, market_kw: np.ndarray,
               fill_kw: np.ndarray) -> pd.DataFrame:
    """Pair market volumes with requests per (ISP, direction), both in ascending price by
    cumulative volume: the cheapest sellers serve the lowest bids, which pairs every fill with
    ask <= bid whenever any pairing can (so pay-as-offer never charges a buyer above its
    bid). Columns: offer row ``o``, request row ``k``, ``kw``."""
    out = []
    sell = offers.assign(_kw=market_kw, _o=np.arange(len(offers)))
    sell = sell[sell["_kw"] > 0]
    buy = requests.assign(_kw=fill_kw, _k=np.arange(len(requests)))
    buy = buy[buy["_kw"] > 0]
    for (t, d), s in sell.groupby(["isp", "direction"], sort=True):
        b = buy[(buy["isp"] == t) & (buy["direction"] == d)]
        if b.empty:
            continue
        s = s.sort_values(["price_eur_per_mwh", "offer_id"], kind="stable")
        b = b.sort_values(["price_eur_per_mwh", "request_id"], kind="stable")
        s_end = np.cumsum(s["_kw"].to_numpy())
        b_end = np.cumsum(b["_kw"].to_numpy())
        cuts = np.unique(np.concatenate([[0.0], s_end, b_end]))
        cuts = cuts[cuts <= min(s_end[-1], b_end[-1]) + 1e-9]
        mid = (cuts[:-1] + cuts[1:]) / 2
        width = np.diff(cuts)
        si = np.searchsorted(s_end, mid)
        bi = np.searchsorted(b_end, mid)
        keep = width > 1e-9
        out.append(pd.DataFrame({"o": s["_o"].to_numpy()[si[keep]],
                                 "k": b["_k"].to_numpy()[bi[keep]], "kw": width[keep]}))
    if not out:
        return pd.DataFrame({"o": pd.Series(dtype=np.int64), "k": pd.Series(dtype=np.int64),
                             "kw": pd.Series(dtype=float)})
    return pd.concat(out, ignore_index=True)
