"""The DSO as single buyer: pay-as-bid, network-aware clearing of congestion needs.

Paper §5.3 (DSO market examples) and §6.2 ("no coupling"): before a fully competitive local
flexibility market exists, the DSO is the only buyer of flexibility — the paper's
'monopolistic test', in which "the amount of flexibility needed and the price cap are set by
the only buyer". The DSO states, per congestion point (transformer, line) and ISP, how much
flow must be removed (``overload_kw``) and how much spare capacity the points that are not
overloaded still have (``headroom_kw``); aggregators offer flexibility at buses; the DSO buys
the cheapest set of offers that removes the overloads without creating new ones.

Rules
-----
* Only offers in the same ISP as a need can serve it; the relief that one kW of an offer gives
  at a congestion point is ``relief_kw_per_kw_up[isp, cp, bus] * sign(direction)`` with
  ``sign(up) = +1`` and ``sign(down) = -1`` (DESIGN.md sign convention).
* Price cap: offers above ``max_price_eur_per_mwh`` are excluded (the DSO's cap, §5.3 FLECH).
* Offers whose relief is <= ``RELIEF_EPS_KW_PER_KW`` at every overloaded point of their ISP
  are never useful and are pruned before the LP (they stay in the merit order with 0 kW).
* Offers priced at or below zero are ranked first but bought only as far as a need asks (the
  LP objective floors prices at 1e-3 EUR/MWh, keeping their order); they are paid their price.
* Pay-as-bid: each award is paid its own offer price,
  ``cost_eur = power_kw * isp_hours * price_eur_per_mwh / 1000``. Awards < 1e-6 kW are dropped.
* Indivisible minimums: an offer with ``min_power_kw > 0`` is accepted at 0 or within
  ``[min_power_kw, max_power_kw]``; a binary ``y_o`` per such offer turns the LP into a MILP
  (HiGHS branch and bound, relative gap 1e-7). Without such offers the problem stays an LP.
* A need that cannot be covered is never silent: it appears in ``shortfalls`` with a cause.

The LP (solved by HiGHS through ``highspy``; matrix built as CSC arrays in numpy)
------------------------------------------------------------------------------
Variables: ``x_o in [0, max_power_kw_o]`` accepted kW of offer ``o``; ``s_{cp,t} >= 0``
unmet need (kW) for every (cp, t) with ``overload_kw > 0``. With ``r_{o,cp} =
relief[t_o, cp, bus_o] * sign_o``::

    min   sum_o price_o * x_o * h / 1000  +  sum_{cp,t} penalty * h / 1000 * s_{cp,t}
    s.t.  sum_{o: t_o = t} r_{o,cp} x_o + s_{cp,t} >= overload_kw[t, cp]   (need rows)
          sum_{o: t_o = t} r_{o,cp} x_o            >= -headroom_kw[t, cp]  (headroom rows)

``h`` is ``isp_hours``, ``penalty`` is ``shortfall_penalty_eur_per_mwh``. Headroom rows exist
for each (cp, t) that is not overloaded, has a finite headroom, and is touched
(``|r| > RELIEF_EPS_KW_PER_KW``) by some offer of ISP ``t``: buying relief at one point must
not overload another. ``x = 0, s = overload`` is always feasible, so the LP always solves.
Indivisible offers add ``min_o y_o <= x_o <= max_o y_o, y_o in {0, 1}``.

Not modelled (yet): an upper bound on the relief at an overloaded point (overshooting a need
could reverse the flow past its limit in the other direction), reactive power and voltage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

from localflex.domain import AWARD_COLUMNS, ClearingError, InputError, empty_frame, validate_offers
from localflex.market._highs import quiet_highs

__all__ = [
    "RELIEF_EPS_KW_PER_KW",
    "SHORTFALL_COLUMNS",
    "ClearingResult",
    "CongestionNeeds",
    "clear_dso_single_buyer",
]

RELIEF_EPS_KW_PER_KW = 1e-6
"""Sensitivities at or below this magnitude are treated as zero (numerical noise of a PTDF)."""
MIN_AWARD_KW = 1e-6
"""Awards below this volume are dropped."""
_TOL_KW = 1e-6
_LP_PRICE_FLOOR = 1e-3  # EUR/MWh, see _lp_price

SHORTFALL_COLUMNS: dict[str, tuple[str, str, str]] = {
    "cp_id": ("object", "-", "congestion point"),
    "isp": ("int64", "-", "ISP index"),
    "need_kw": ("float64", "kW", "overload to remove"),
    "covered_kw": ("float64", "kW", "relief bought (at most the need)"),
    "shortfall_kw": ("float64", "kW", "need - covered"),
    "cause": ("object", "-", "why the need is not covered"),
}


@dataclass(frozen=True)
class CongestionNeeds:
    """What the DSO must buy: overloads, headroom and sensitivities per ISP and point.

    ``relief_kw_per_kw_up[t, cp, b]`` is the kW of relief at ``cp`` for one kW of UP (more
    injection) at bus ``bus_ids[b]`` in ISP ``t``; DOWN relief is the negative of it.
    """

    cp_ids: np.ndarray  # [CP] str
    overload_kw: np.ndarray  # [T, CP] >= 0
    headroom_kw: np.ndarray  # [T, CP]; NaN/inf = no headroom constraint
    relief_kw_per_kw_up: np.ndarray  # [T, CP, B]
    bus_ids: np.ndarray  # [B] int
    isp_hours: float


@dataclass(frozen=True)
class ClearingResult:
    """Outcome of one clearing. ``shortfalls`` lists every (cp, isp) need not fully covered."""

    awards: pd.DataFrame  # AWARD_COLUMNS
    shortfalls: pd.DataFrame  # SHORTFALL_COLUMNS
    merit_order: pd.DataFrame  # offer columns + accepted_kw, accepted, rank, status
    total_cost_eur: float
    solver_status: str
    solve_seconds: float


def _check_needs(needs: CongestionNeeds, n_isps: int) -> tuple[np.ndarray, ...]:
    """Shapes and values of ``needs``; raise InputError naming the field."""
    if not isinstance(n_isps, int | np.integer) or n_isps <= 0:
        raise InputError("n_isps", n_isps, "a positive integer")
    cp_ids = np.asarray(needs.cp_ids)
    if cp_ids.ndim != 1:
        raise InputError("needs.cp_ids", cp_ids.shape, "a 1-D array [CP] of ids")
    cp_ids = cp_ids.astype(str)
    if len(np.unique(cp_ids)) != len(cp_ids):
        raise InputError("needs.cp_ids", list(cp_ids), "unique congestion point ids")
    bus_ids = np.asarray(needs.bus_ids)
    if bus_ids.ndim != 1 or (bus_ids.size and not np.issubdtype(bus_ids.dtype, np.integer)):
        raise InputError("needs.bus_ids", bus_ids.dtype, "a 1-D integer array [B]")
    if len(np.unique(bus_ids)) != len(bus_ids):
        raise InputError("needs.bus_ids", list(bus_ids), "unique bus ids")
    n_cp, n_bus = len(cp_ids), len(bus_ids)
    arrays = {}
    for name, shape in (
        ("overload_kw", (n_isps, n_cp)),
        ("headroom_kw", (n_isps, n_cp)),
        ("relief_kw_per_kw_up", (n_isps, n_cp, n_bus)),
    ):
        arr = np.asarray(getattr(needs, name), dtype=float)
        if arr.shape != shape:
            raise InputError(f"needs.{name}", arr.shape, f"shape {shape} (n_isps, CP[, B])")
        arrays[name] = arr
    overload = arrays["overload_kw"]
    bad = ~np.isfinite(overload) | (overload < 0)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise InputError(f"needs.overload_kw[{t}, {cp_ids[c]}]", overload[t, c], "finite >= 0")
    relief = arrays["relief_kw_per_kw_up"]
    if not np.isfinite(relief).all():
        t, c, b = np.argwhere(~np.isfinite(relief))[0]
        raise InputError(
            f"needs.relief_kw_per_kw_up[{t}, {cp_ids[c]}, bus {bus_ids[b]}]",
            relief[t, c, b],
            "a finite sensitivity",
        )
    headroom = arrays["headroom_kw"]
    bad = (overload == 0) & np.isfinite(headroom) & (headroom < 0)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise InputError(
            f"needs.headroom_kw[{t}, {cp_ids[c]}]", headroom[t, c],
            ">= 0 (or NaN/inf) where the point is not overloaded",
        )
    isp_hours = needs.isp_hours
    if not (isinstance(isp_hours, int | float) and np.isfinite(isp_hours) and isp_hours > 0):
        raise InputError("needs.isp_hours", isp_hours, "a positive ISP length in hours (0.25)")
    return cp_ids, bus_ids, overload, headroom, relief


def clear_dso_single_buyer(
    offers: pd.DataFrame,
    needs: CongestionNeeds,
    *,
    n_isps: int,
    shortfall_penalty_eur_per_mwh: float = 1e6,
    max_price_eur_per_mwh: float | None = None,
) -> ClearingResult:
    """Buy the cheapest offers that remove every overload of ``needs`` (pay-as-bid).

    ``offers`` has OFFER_COLUMNS (domain). Raises OfferError for a bad offer (unknown bus,
    ISP outside ``0..n_isps-1``, negative volume, ...) and InputError for bad ``needs``.
    """
    cp_ids, bus_ids, overload, headroom, relief = _check_needs(needs, n_isps)
    if not (np.isfinite(shortfall_penalty_eur_per_mwh) and shortfall_penalty_eur_per_mwh > 0):
        raise InputError("shortfall_penalty_eur_per_mwh", shortfall_penalty_eur_per_mwh,
                         "a positive finite price")
    if max_price_eur_per_mwh is not None and not np.isfinite(max_price_eur_per_mwh):
        raise InputError("max_price_eur_per_mwh", max_price_eur_per_mwh, "a finite price or None")
    frame = validate_offers(offers, n_isps=n_isps, valid_buses=bus_ids).reset_index(drop=True)
    isp_hours = float(needs.isp_hours)
    n_cp = len(cp_ids)

    # --- offers -> relief per congestion point r[o, cp] (vectorised) ---------------------
    n_off = len(frame)
    isp_o = frame["isp"].to_numpy(dtype=np.int64)
    order = np.argsort(bus_ids, kind="stable")
    buspos_o = order[np.searchsorted(bus_ids[order], frame["bus"].to_numpy())]
    sign_o = np.where(frame["direction"].to_numpy() == "up", 1.0, -1.0)
    max_kw_o = frame["max_power_kw"].to_numpy(dtype=float)
    price_o = frame["price_eur_per_mwh"].to_numpy(dtype=float)
    r = relief[isp_o, :, buspos_o] * sign_o[:, None]  # [O, CP]
    r[np.abs(r) <= RELIEF_EPS_KW_PER_KW] = 0.0

    is_need = overload > 0  # [T, CP]
    relieves = (r > 0) & is_need[isp_o]  # [O, CP]: offer relieves an overloaded point
    useful_o = relieves.any(axis=1)
    capped_o = (
        price_o > max_price_eur_per_mwh if max_price_eur_per_mwh is not None
        else np.zeros(n_off, dtype=bool)
    )
    cand = useful_o & ~capped_o & (max_kw_o > 0)
    cand_idx = np.flatnonzero(cand)
    n_x = len(cand_idx)

    # --- rows: need rows first, then headroom rows touched by a candidate ---------------
    need_t, need_cp = np.nonzero(is_need)
    n_need = len(need_t)
    row_of = np.full(overload.shape, -1, dtype=np.int64)
    row_of[need_t, need_cp] = np.arange(n_need)
    oi, ci = np.nonzero(r[cand_idx])  # entries of candidate offers (local index, cp)
    t_e = isp_o[cand_idx[oi]]
    head_ok = ~is_need & np.isfinite(headroom)
    keep = is_need[t_e, ci] | head_ok[t_e, ci]
    oi, ci, t_e = oi[keep], ci[keep], t_e[keep]
    head_flat = np.unique((t_e * n_cp + ci)[~is_need[t_e, ci]])
    head_t, head_cp = np.divmod(head_flat, n_cp)
    row_of[head_t, head_cp] = n_need + np.arange(len(head_flat))
    n_rows = n_need + len(head_flat)
    row_e = row_of[t_e, ci]
    val_e = r[cand_idx[oi], ci]

    # --- indivisible minimums: binary y_j per offer with min_power_kw > 0 (MIP) ------------
    min_kw_c = frame["min_power_kw"].to_numpy(dtype=float)[cand_idx]
    ind = np.flatnonzero(min_kw_c > 0)  # local candidate index
    n_ind = len(ind)
    y_col = n_x + n_need + np.arange(n_ind)
    link_row = n_rows + np.arange(2 * n_ind)  # x - max*y <= 0, then x - min*y >= 0

    # --- columns: x (candidates), slack per need row, y; CSC ----------------------------
    n_cols = n_x + n_need + n_ind
    rows = np.concatenate([row_e, np.arange(n_need), link_row, link_row])
    cols = np.concatenate([oi, n_x + np.arange(n_need), ind, ind, y_col, y_col])
    vals = np.concatenate([
        val_e, np.ones(n_need), np.ones(2 * n_ind),
        -max_kw_o[cand_idx][ind], -min_kw_c[ind],
    ])
    a_csc = sp.csc_array((vals, (rows, cols)), shape=(n_rows + 2 * n_ind, n_cols))
    a_csc.sum_duplicates()
    a_csc.sort_indices()
    col_cost = np.concatenate([
        _lp_price(price_o[cand_idx]) * isp_hours / 1000.0,
        np.full(n_need, shortfall_penalty_eur_per_mwh * isp_hours / 1000.0),
        np.zeros(n_ind),
    ])
    col_lower = np.zeros(n_cols)
    col_upper = np.concatenate(
        [max_kw_o[cand_idx], np.full(n_need, highspy.kHighsInf), np.ones(n_ind)]
    )
    row_lower = np.concatenate([
        overload[need_t, need_cp], -headroom[head_t, head_cp],
        np.full(n_ind, -highspy.kHighsInf), np.zeros(n_ind),
    ])
    row_upper = np.concatenate([
        np.full(n_rows, highspy.kHighsInf), np.zeros(n_ind), np.full(n_ind, highspy.kHighsInf)
    ])
    integer = np.zeros(n_cols, dtype=bool)
    integer[y_col] = True

    x_cand, status, solve_seconds = _solve_lp(
        a_csc, col_cost, col_lower, col_upper, row_lower, row_upper, integer
    )
    x_cand = np.clip(x_cand[:n_x], 0.0, max_kw_o[cand_idx])
    accepted_kw = np.zeros(n_off)
    accepted_kw[cand_idx] = np.where(x_cand >= MIN_AWARD_KW, x_cand, 0.0)

    awards = _awards(frame, accepted_kw, isp_hours)
    activity = a_csc[:n_rows, :n_x] @ accepted_kw[cand_idx] if n_rows else np.zeros(0)
    row_lower = row_lower[:n_rows]
    shortfalls = _shortfalls(
        frame=frame, r=r, relieves=relieves, capped_o=capped_o,
        oi=oi, row_e=row_e, val_e=val_e, activity=activity, row_lower=row_lower, n_need=n_need,
        need_t=need_t, need_cp=need_cp, cp_ids=cp_ids, head_cp=head_cp,
        overload=overload, shortfall_penalty=shortfall_penalty_eur_per_mwh,
        has_indivisible=n_ind > 0,
    )
    merit = frame.copy()
    merit["accepted_kw"] = accepted_kw
    merit["accepted"] = accepted_kw > 0
    merit["rank"] = (
        merit["price_eur_per_mwh"].rank(method="first").astype(np.int64)
        if n_off else pd.Series(dtype=np.int64)
    )
    merit["status"] = np.select(
        [accepted_kw > 0, capped_o, ~useful_o, max_kw_o <= 0],
        ["accepted", "above price cap", "no relief at an overloaded point", "zero volume"],
        default="not needed",
    )
    merit = merit.sort_values(["rank"], kind="stable").reset_index(drop=True)
    return ClearingResult(
        awards=awards,
        shortfalls=shortfalls,
        merit_order=merit,
        total_cost_eur=float(awards["cost_eur"].sum()),
        solver_status=status,
        solve_seconds=solve_seconds,
    )


def _lp_price(price_eur_per_mwh: np.ndarray) -> np.ndarray:
    """Objective price per offer: the offer price, but never <= 0.

    A negatively priced offer (the aggregator pays to be activated) would otherwise be bought
    up to its full volume whether needed or not. Prices below ``_LP_PRICE_FLOOR`` are mapped
    monotonically into ``(0, _LP_PRICE_FLOOR]`` so they still rank first, in price order, but
    are bought only as far as a need asks. Payments stay pay-as-bid at the real price.
    """
    low = price_eur_per_mwh < _LP_PRICE_FLOOR
    if not low.any():
        return price_eur_per_mwh
    scale = max(1.0, float(np.abs(price_eur_per_mwh[low]).max()))
    lp_price = price_eur_per_mwh.copy()
    lp_price[low] = _LP_PRICE_FLOOR * np.exp((price_eur_per_mwh[low] - _LP_PRICE_FLOOR) / scale)
    return lp_price


def _solve_lp(
    a_csc: sp.csc_array,
    col_cost: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    integer: np.ndarray,
) -> tuple[np.ndarray, str, float]:
    """Solve ``min c x, row_lower <= A x <= row_upper, col bounds`` with HiGHS.

    Columns flagged in ``integer`` are integer (binaries here): then HiGHS solves a MIP.
    """
    n_rows, n_cols = a_csc.shape
    if n_cols == 0:
        return np.zeros(0), "Empty", 0.0
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = col_cost
    lp.col_lower_ = col_lower
    lp.col_upper_ = col_upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_cols
    lp.a_matrix_.num_row_ = n_rows
    lp.a_matrix_.start_ = a_csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a_csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = a_csc.data.astype(float)
    if integer.any():
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
            for i in integer
        ]
    h = quiet_highs()
    h.setOptionValue("mip_rel_gap", 1e-7)
    h.passModel(lp)
    start = time.perf_counter()
    h.run()
    solve_seconds = time.perf_counter() - start
    model_status = h.getModelStatus()
    status = h.modelStatusToString(model_status)
    if model_status != highspy.HighsModelStatus.kOptimal:
        raise ClearingError(f"HiGHS did not solve the clearing LP to optimality: {status}")
    return np.asarray(h.getSolution().col_value, dtype=float), status, solve_seconds


def _awards(frame: pd.DataFrame, accepted_kw: np.ndarray, isp_hours: float) -> pd.DataFrame:
    won = accepted_kw > 0
    if not won.any():
        return empty_frame(AWARD_COLUMNS)
    awards = frame.loc[won, [c for c in AWARD_COLUMNS if c in frame.columns]].copy()
    awards["power_kw"] = accepted_kw[won]
    awards["cost_eur"] = awards["power_kw"] * isp_hours * awards["price_eur_per_mwh"] / 1000.0
    awards = awards[list(AWARD_COLUMNS)].astype({k: v[0] for k, v in AWARD_COLUMNS.items()})
    return awards.sort_values(["isp", "offer_id"], kind="stable").reset_index(drop=True)


def _shortfalls(
    *,
    frame: pd.DataFrame,
    r: np.ndarray,
    relieves: np.ndarray,
    capped_o: np.ndarray,
    oi: np.ndarray,
    row_e: np.ndarray,
    val_e: np.ndarray,
    activity: np.ndarray,
    row_lower: np.ndarray,
    n_need: int,
    need_t: np.ndarray,
    need_cp: np.ndarray,
    cp_ids: np.ndarray,
    head_cp: np.ndarray,
    overload: np.ndarray,
    shortfall_penalty: float,
    has_indivisible: bool,
) -> pd.DataFrame:
    """One row per need not fully covered, with the most specific cause found."""
    if n_need == 0:
        return empty_frame(SHORTFALL_COLUMNS)
    need_kw = overload[need_t, need_cp]
    covered_kw = np.minimum(np.maximum(activity[:n_need], 0.0), need_kw)
    short_kw = need_kw - covered_kw
    tol = _TOL_KW + 1e-7 * need_kw
    short = np.flatnonzero(short_kw > tol)
    if short.size == 0:
        return empty_frame(SHORTFALL_COLUMNS)

    # Relief on offer per need row, over all (offer, cp) pairs that relieve a need.
    o_all, c_all = np.nonzero(relieves)
    isp_all = frame["isp"].to_numpy(dtype=np.int64)[o_all]
    need_row_of = np.full(overload.shape, -1, dtype=np.int64)
    need_row_of[need_t, need_cp] = np.arange(n_need)
    row_all = need_row_of[isp_all, c_all]
    vol_all = r[o_all, c_all] * frame["max_power_kw"].to_numpy(dtype=float)[o_all]
    capped_all = capped_o[o_all]
    n_offers = np.bincount(row_all, minlength=n_need)
    n_capped = np.bincount(row_all[capped_all], minlength=n_need)
    avail_kw = np.bincount(row_all[~capped_all], weights=vol_all[~capped_all], minlength=n_need)
    avail_capped_kw = np.bincount(
        row_all[capped_all], weights=vol_all[capped_all], minlength=n_need
    )

    # Limiting rows: a binding headroom row, or another need row, that an offer relieving
    # this need aggravates (its coefficient there is negative).
    is_need_e = row_e < n_need
    binding_head = np.zeros(len(row_lower), dtype=bool)
    binding_head[n_need:] = activity[n_need:] <= row_lower[n_need:] + _TOL_KW
    relieving = pd.DataFrame({"o": oi[is_need_e & (val_e > 0)],
                              "need_row": row_e[is_need_e & (val_e > 0)]})
    aggravated_e = (val_e < 0) & (binding_head[row_e] | is_need_e)
    aggravated = pd.DataFrame({"o": oi[aggravated_e], "row": row_e[aggravated_e]})
    pairs = relieving.merge(aggravated, on="o").drop_duplicates(["need_row", "row"])
    pairs = pairs[pairs["need_row"] != pairs["row"]]
    row_cp = np.concatenate([need_cp, head_cp])
    pairs["cp"] = cp_ids[row_cp[pairs["row"].to_numpy()]]
    pairs["is_head"] = pairs["row"].to_numpy() >= n_need

    def names(subset: pd.DataFrame) -> pd.Series:
        return subset.groupby("need_row")["cp"].agg(lambda c: ", ".join(sorted(c)))

    by_headroom = names(pairs[pairs["is_head"]])
    by_need = names(pairs[~pairs["is_head"]])

    causes = []
    for k in short:
        need, short_k = need_kw[k], short_kw[k]
        if n_offers[k] == 0:
            causes.append("no offer at a bus that relieves this point in this ISP")
        elif avail_kw[k] < need - tol[k] and n_capped[k] > 0:
            causes.append(
                f"price cap excluded {n_capped[k]} offers "
                f"({avail_capped_kw[k]:.3f} kW of relief above the cap; "
                f"{avail_kw[k]:.3f} kW available, {need:.3f} kW needed)"
            )
        elif avail_kw[k] < need - tol[k]:
            causes.append(
                f"offered volume insufficient: {avail_kw[k]:.3f} kW of relief available, "
                f"{need:.3f} kW needed"
            )
        elif k in by_headroom.index:
            causes.append(f"relief limited by headroom at {by_headroom[k]}")
        elif k in by_need.index:
            causes.append(
                f"relief limited by the overload at {by_need[k]}: the offers that relieve this "
                "point aggravate it"
            )
        else:
            blocked = " or blocked by indivisible minimums" if has_indivisible else ""
            causes.append(
                f"offers priced above the shortfall penalty of {shortfall_penalty:g} EUR/MWh "
                f"per kW of relief{blocked}: {short_k:.3f} kW left uncovered"
            )
    out = pd.DataFrame({
        "cp_id": cp_ids[need_cp[short]],
        "isp": need_t[short].astype(np.int64),
        "need_kw": need_kw[short],
        "covered_kw": covered_kw[short],
        "shortfall_kw": short_kw[short],
        "cause": causes,
    })
    return out.astype({k: v[0] for k, v in SHORTFALL_COLUMNS.items()})
