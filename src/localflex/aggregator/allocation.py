"""Multi-market allocation: how much of its flexibility an aggregator offers where (paper §4,
Figure 3; §6.1: the same flexibility can serve the market, the TSO or the DSO).

Figure 3 puts one aggregator between the day-ahead and intraday markets (market services),
the TSO's ancillary-service markets (system services) and the DSO (grid services). §4.2 ends
with "the aggregator is expected to allocate flexibility with the objective of profit
maximization". ``allocate_flexibility`` does that for one aggregator, as a mixed-integer
program on HiGHS:

    maximise   Σ_m Σ_d Σ_t  x[m,d,t] · h/1000 · p[m,t] · (value[m,d,t] − cost[m])
    subject to Σ_m x[m,d,t] <= available[d,t]                   never the same kW twice
               Σ_{m gen-only} x[m,d,t] <= generation[d,t]       Table 1 "Only gen."
               x[m,d,t] <= eligible[m,d,t]                      units meeting m's timing
               x[m,d,·] constant over each product block of m
               x[m,up,t] = x[m,down,t]                          if m is symmetric
               x = bid_step · n, n integer                      if m has a bid step
               x = 0 or x >= min_bid                            binary y: x >= min·y, x <= cap·y
               x = 0                                            if m has access "no"

``x`` in kW, ``h`` the ISP length in hours, ``d`` ∈ {up, down}. Inputs the caller documents
(from the scenario or a forecast, not from localflex): per market the expected value of one
MWh of offered flexibility ``value_*_eur_per_mwh`` [T] — for an energy market the expected
price spread captured, for a reserve the availability price (EUR/MW/h = EUR per MWh of capacity
held) plus the expected activation revenue — the probability that an offer is accepted
``acceptance_probability`` [T], and the expected cost ``cost_eur_per_mwh`` (e.g. the cost model's
activation price × expected activation share). ``MarketOutlook.from_preset`` takes access and
product rules from a country preset.

With ``integral=False`` the integrality of steps and minimum bids is relaxed: the LP relaxation,
an upper bound on the expected profit in which a minimum bid no longer binds (documented, for
speed or for bounds); the default solves the MIP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import pandas as pd
from scipy import sparse

from localflex.aggregator.products import ProductRules, product_rules
from localflex.domain import ClearingError, Direction, InputError
from localflex.market._highs import quiet_highs
from localflex.regulation.access import resolve_product
from localflex.regulation.schema import Access, CountryPreset, Market

__all__ = ["ALLOCATION_COLUMNS", "AllocationResult", "MarketOutlook", "allocate_flexibility"]

ALLOCATION_COLUMNS: dict[str, tuple[str, str, str]] = {
    "market": ("object", "-", "market name (Market value, or the caller's)"),
    "isp": ("int64", "-", "ISP index"),
    "direction": ("object", "-", "'up' or 'down'"),
    "power_kw": ("float64", "kW", "flexibility offered to the market"),
    "expected_profit_eur": ("float64", "EUR", "p · (value − cost) · power · ISP hours"),
}


@dataclass(frozen=True)
class MarketOutlook:
    """One market as the aggregator sees it: access, product rules, expected prices.

    ``value_*_eur_per_mwh``, ``acceptance_probability``: scalars or arrays [T]; ``eligible_*_kw``
    (optional [T]): the part of the portfolio that meets this market's timing limits.
    """

    market: str
    value_up_eur_per_mwh: Any
    value_down_eur_per_mwh: Any
    acceptance_probability: Any = 1.0
    cost_eur_per_mwh: float = 0.0
    rules: ProductRules = field(default_factory=ProductRules)
    access: Access = Access.YES
    eligible_up_kw: Any | None = None
    eligible_down_kw: Any | None = None

    @classmethod
    def from_preset(
        cls,
        preset: CountryPreset,
        market: Market | str,
        *,
        value_up_eur_per_mwh: Any,
        value_down_eur_per_mwh: Any,
        acceptance_probability: Any = 1.0,
        cost_eur_per_mwh: float = 0.0,
        isp_minutes: float = 15.0,
        eligible_up_kw: Any | None = None,
        eligible_down_kw: Any | None = None,
    ) -> MarketOutlook:
        """Access and product rules of ``market`` from a preset (defaults where null)."""
        resolved = resolve_product(preset, market)
        return cls(
            market=resolved.market.value,
            value_up_eur_per_mwh=value_up_eur_per_mwh,
            value_down_eur_per_mwh=value_down_eur_per_mwh,
            acceptance_probability=acceptance_probability,
            cost_eur_per_mwh=cost_eur_per_mwh,
            rules=product_rules(preset, market, isp_minutes),
            access=resolved.access,
            eligible_up_kw=eligible_up_kw,
            eligible_down_kw=eligible_down_kw,
        )


@dataclass(frozen=True)
class AllocationResult:
    """``allocation``: ALLOCATION_COLUMNS, one row per market × ISP × direction with kW > 0;
    ``power_kw`` [M, 2, T] (axis 1: up, down) in ``markets`` order."""

    allocation: pd.DataFrame
    power_kw: np.ndarray
    markets: tuple[str, ...]
    expected_profit_eur: float
    status: str


def _series(field_name: str, value: Any, n_isps: int, lo: float | None = None,
            hi: float | None = None) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (n_isps,)) if np.ndim(value) == 0 \
        else np.asarray(value, dtype=float)
    if arr.shape != (n_isps,) or not np.isfinite(arr).all():
        raise InputError(field_name, getattr(arr, "shape", value),
                         f"a finite number or {n_isps} finite numbers (one per ISP)")
    bad = (arr < (-np.inf if lo is None else lo)) | (arr > (np.inf if hi is None else hi))
    if bad.any():
        raise InputError(field_name, float(arr[bad][0]), f"values in [{lo}, {hi}]")
    return np.array(arr, dtype=float)


def allocate_flexibility(
    up_kw: Any,
    down_kw: Any,
    outlooks: Sequence[MarketOutlook],
    *,
    isp_hours: float = 0.25,
    generation_up_kw: Any | None = None,
    generation_down_kw: Any | None = None,
    integral: bool = True,
) -> AllocationResult:
    """Split the portfolio's flexibility [T] per direction over the markets to maximise the
    expected profit (the program in the module docstring)."""
    up = np.asarray(up_kw, dtype=float)
    if up.ndim != 1:
        raise InputError("up_kw", up.shape, "a 1-D array [T] of kW")
    n_isps = up.size
    avail = np.stack([_series("up_kw", up, n_isps, lo=0.0),
                      _series("down_kw", down_kw, n_isps, lo=0.0)])
    gen = np.stack([
        avail[0] if generation_up_kw is None
        else _series("generation_up_kw", generation_up_kw, n_isps, lo=0.0),
        avail[1] if generation_down_kw is None
        else _series("generation_down_kw", generation_down_kw, n_isps, lo=0.0),
    ])
    gen = np.minimum(gen, avail)
    if not isp_hours > 0:
        raise InputError("isp_hours", isp_hours, "> 0 hours")
    names = [o.market for o in outlooks]
    if len(set(names)) != len(names):
        raise InputError("outlooks", names, "each market at most once")

    # columns: one per (market, block, direction group); group = (up,), (down,) or (up, down)
    col_market, col_dirs, col_isps, col_scale, col_upper, col_gain, col_int = \
        [], [], [], [], [], [], []
    col_min_units: list[float] = []
    for m, o in enumerate(outlooks):
        where = f"outlooks[{o.market}]"
        value = np.stack([_series(f"{where}.value_up_eur_per_mwh", o.value_up_eur_per_mwh,
                                  n_isps),
                          _series(f"{where}.value_down_eur_per_mwh", o.value_down_eur_per_mwh,
                                  n_isps)])
        prob = _series(f"{where}.acceptance_probability", o.acceptance_probability, n_isps,
                       0.0, 1.0)
        if not np.isfinite(o.cost_eur_per_mwh):
            raise InputError(f"{where}.cost_eur_per_mwh", o.cost_eur_per_mwh, "a finite price")
        access = Access(o.access)
        if access is Access.NO:
            continue
        cap = gen.copy() if (access is Access.GENERATION_ONLY or o.rules.generation_only) \
            else avail.copy()
        for d, extra in enumerate((o.eligible_up_kw, o.eligible_down_kw)):
            if extra is not None:
                cap[d] = np.minimum(cap[d], _series(f"{where}.eligible_kw", extra, n_isps, 0.0))
        gain = isp_hours / 1000.0 * prob[None, :] * (value - o.cost_eur_per_mwh)
        length = o.rules.product_length_isps
        groups = [(0, 1)] if o.rules.symmetric else [(0,), (1,)]
        step = o.rules.bid_step_kw
        for start in range(0, n_isps, length):
            isps = np.arange(start, min(start + length, n_isps))
            for dirs in groups:
                block_cap = float(min(cap[d][isps].min() for d in dirs))
                units = np.floor(block_cap / step + 1e-9) if step > 0 else block_cap
                if units <= 0 or (block_cap < o.rules.min_bid_kw - 1e-9):
                    continue
                col_market.append(m)
                col_dirs.append(dirs)
                col_isps.append(isps)
                col_scale.append(step if step > 0 else 1.0)
                col_upper.append(units)
                col_gain.append(float(sum(gain[d][isps].sum() for d in dirs)))
                col_int.append(step > 0)
                min_units = (np.ceil(o.rules.min_bid_kw / step - 1e-9) if step > 0
                             else o.rules.min_bid_kw)
                col_min_units.append(float(min_units) if min_units > (1 if step > 0 else 0)
                                     else 0.0)

    n_x = len(col_market)
    power = np.zeros((len(outlooks), 2, n_isps))
    if n_x == 0:
        return _result(power, names, outlooks, avail, isp_hours, "Empty")
    needs_y = np.flatnonzero(np.asarray(col_min_units) > 0)
    n_y = needs_y.size
    rows, cols, vals = [], [], []
    # capacity rows: (d, t) -> row d*T + t; generation rows follow
    gen_only = [Access(o.access) is Access.GENERATION_ONLY or o.rules.generation_only
                for o in outlooks]
    for j in range(n_x):
        for d in col_dirs[j]:
            for t in col_isps[j]:
                rows.append(d * n_isps + t)
                cols.append(j)
                vals.append(col_scale[j])
                if gen_only[col_market[j]]:
                    rows.append(2 * n_isps + d * n_isps + t)
                    cols.append(j)
                    vals.append(col_scale[j])
    row_upper = [*avail.reshape(-1), *gen.reshape(-1)]
    row_lower = [-highspy.kHighsInf] * (4 * n_isps)
    # minimum bid: n - min*y >= 0 ; n - upper*y <= 0
    base = 4 * n_isps
    for k, j in enumerate(needs_y):
        y = n_x + k
        rows += [base + 2 * k, base + 2 * k, base + 2 * k + 1, base + 2 * k + 1]
        cols += [j, y, j, y]
        vals += [1.0, -col_min_units[j], 1.0, -col_upper[j]]
        row_lower += [0.0, -highspy.kHighsInf]
        row_upper += [highspy.kHighsInf, 0.0]
    n_rows = base + 2 * n_y
    a = sparse.csc_matrix((vals, (rows, cols)), shape=(n_rows, n_x + n_y))
    a.sum_duplicates()
    cost = np.concatenate([-np.asarray(col_gain) * np.asarray(col_scale), np.zeros(n_y)])
    upper = np.concatenate([np.asarray(col_upper, dtype=float), np.ones(n_y)])
    integer = np.concatenate([np.asarray(col_int, dtype=bool), np.ones(n_y, dtype=bool)]) \
        if integral else np.zeros(n_x + n_y, dtype=bool)
    solution, status = _solve(a, cost, upper, np.asarray(row_lower), np.asarray(row_upper),
                              integer)
    for j in range(n_x):
        kw = float(solution[j]) * col_scale[j]
        if integral and col_int[j]:
            kw = round(float(solution[j])) * col_scale[j]
        for d in col_dirs[j]:
            power[col_market[j], d, col_isps[j]] = max(kw, 0.0)
    return _result(power, names, outlooks, avail, isp_hours, status)


def _solve(a: sparse.csc_matrix, cost: np.ndarray, upper: np.ndarray, row_lower: np.ndarray,
           row_upper: np.ndarray, integer: np.ndarray) -> tuple[np.ndarray, str]:
    lp = highspy.HighsLp()
    n_rows, n_cols = a.shape
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_cols)
    lp.col_upper_ = upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_cols
    lp.a_matrix_.num_row_ = n_rows
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    if integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in integer]
    h = quiet_highs()
    h.setOptionValue("mip_rel_gap", 1e-6)
    h.passModel(lp)
    h.run()
    model_status = h.getModelStatus()
    status = h.modelStatusToString(model_status)
    if model_status != highspy.HighsModelStatus.kOptimal:
        raise ClearingError(f"HiGHS did not solve the allocation to optimality: {status}")
    return np.asarray(h.getSolution().col_value, dtype=float), status


def _result(power: np.ndarray, names: list[str], outlooks: Sequence[MarketOutlook],
            avail: np.ndarray, isp_hours: float, status: str) -> AllocationResult:
    # numerical safety: HiGHS tolerances may leave 1e-7 kW over; never report kW sold twice
    total = power.sum(axis=0)
    over = total > avail + 1e-9
    if over.any():
        # one factor for all keeps symmetric bids equal and product blocks constant
        power = power * float(np.where(over, avail / np.where(total > 0, total, 1.0), 1.0).min())
    frames = []
    n_isps = avail.shape[1]
    for m, o in enumerate(outlooks):
        value = np.stack([np.broadcast_to(np.asarray(o.value_up_eur_per_mwh, float), (n_isps,)),
                          np.broadcast_to(np.asarray(o.value_down_eur_per_mwh, float),
                                          (n_isps,))])
        prob = np.broadcast_to(np.asarray(o.acceptance_probability, float), (n_isps,))
        profit = power[m] * isp_hours / 1000.0 * prob[None, :] * (value - o.cost_eur_per_mwh)
        d, t = np.nonzero(power[m] > 1e-9)
        frames.append(pd.DataFrame({
            "market": o.market,
            "isp": t.astype(np.int64),
            "direction": np.where(d == 0, Direction.UP.value, Direction.DOWN.value),
            "power_kw": power[m][d, t],
            "expected_profit_eur": profit[d, t],
        }))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        frame = pd.DataFrame({k: pd.Series(dtype=v[0]) for k, v in ALLOCATION_COLUMNS.items()})
    return AllocationResult(frame, power, tuple(names),
                            float(frame["expected_profit_eur"].sum()), status)
