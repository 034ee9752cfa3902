"""The DSO's overload forecast over a planning horizon, from representative days.

Paper §5.3 (FLECH, FlexMart ref. [56]): the DSO forecasts, over its medium-term planning
horizon, how often and how much each congestion point will be overloaded, so that it can
compare buying flexibility with reinforcing the grid or curtailing RES. This module gives
the physical side of that comparison: per year and congestion point, the overload energy, the
peak overload and the peak apparent power, under a yearly growth of load and of DER.

Method:

1. the base year (year 0) is the grid's 2016 SimBench year (loads × ``load_scale``,
   generators × ``sgen_scale``); one batch power flow over all 35,136 ISPs gives each day's
   worst relative loading;
2. representative days: per month, the day with the worst loading (peak day, weight 1) plus
   ``days_per_month`` typical days — the days at the mid-quantiles of the month's ranking by
   worst loading (stratified sampling), each weighted ``(days in month − 1)/days_per_month``;
   the weights add up to 366;
3. year ``y`` (0-based) scales the loads by ``(1 + load_growth)^y`` and generation and storage
   by ``(1 + der_growth)^y``; one power flow batch covers every representative day of every
   year;
4. the overload of an ISP counts as *feed-in driven* when the grid as a whole feeds in (net
   load summed over its buses < 0), which is what curtailing RES can relieve; otherwise it is
   *demand driven*.

``base_check`` compares the representative-day estimate of year 0 with the full-year figure,
so the sampling error is stated, not hidden.

Arrays of ``OverloadForecast`` are [Y, CP] on the rows of ``cps`` (``congestion_points(grid)``
plus ``vn_kv`` and ``length_km``; transformers have length 0 and the lv voltage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from localflex.domain.errors import InputError
from localflex.domain.time_grid import TimeGrid
from localflex.grid import (
    BusLoads,
    ElementProfiles,
    GridModel,
    bus_loads,
    congestion_points,
    overload_kw,
    run_power_flow,
)

__all__ = ["OverloadForecast", "asset_table", "forecast_overloads"]

_BASE_YEAR = "2016-01-01"  # the SimBench profile year (leap year, 366 days)
_DAYS = 366


@dataclass(frozen=True, eq=False)
class OverloadForecast:
    """Per planning year (rows, 0 = base year) and congestion point (columns of ``cps``).

    ``overload_mwh``: overload energy in the year; ``feedin_overload_mwh``: its feed-in driven
    part; ``peak_overload_kw`` / ``peak_demand_overload_kw``: highest overload (all / demand
    driven ISPs); ``peak_kva``: highest apparent power through the element (loading × rating).
    """

    cps: pd.DataFrame
    overload_mwh: np.ndarray
    feedin_overload_mwh: np.ndarray
    peak_overload_kw: np.ndarray
    peak_demand_overload_kw: np.ndarray
    peak_kva: np.ndarray
    representative_days: pd.DataFrame = field(default_factory=pd.DataFrame)
    base_check: dict[str, float] = field(default_factory=dict)
    grid_code: str = ""
    design_day_max_loading_pct: np.ndarray | None = None  # [Y], when a design day was given

    def __post_init__(self) -> None:
        shape = self.overload_mwh.shape
        if len(shape) != 2 or shape[1] != len(self.cps):
            raise InputError("overload_mwh", shape, f"an array [years, {len(self.cps)}]")
        for name in ("feedin_overload_mwh", "peak_overload_kw", "peak_demand_overload_kw",
                     "peak_kva"):
            if getattr(self, name).shape != shape:
                raise InputError(name, getattr(self, name).shape, f"shape {shape}")
        for column in ("cp_id", "kind", "rated_kva", "max_loading_pct", "vn_kv", "length_km"):
            if column not in self.cps:
                raise InputError("cps", column, "a congestion point table with this column")

    @property
    def years(self) -> int:
        return int(self.overload_mwh.shape[0])

    @property
    def demand_overload_mwh(self) -> np.ndarray:
        return self.overload_mwh - self.feedin_overload_mwh


def asset_table(grid: GridModel) -> pd.DataFrame:
    """``congestion_points(grid)`` with ``vn_kv`` (line: from bus; trafo: lv side) and
    ``length_km`` (line length; 0 for transformers)."""
    cps = congestion_points(grid)
    net = grid.net
    is_line = (cps["kind"] == "line").to_numpy()
    vn = net.bus["vn_kv"].reindex(cps["from_bus"]).to_numpy(dtype=float)
    trafo_lv = net.trafo["vn_lv_kv"].reindex(cps.loc[~is_line, "element"]).to_numpy(dtype=float)
    vn[~is_line] = trafo_lv
    length = np.zeros(len(cps))
    length[is_line] = net.line["length_km"].reindex(cps.loc[is_line, "element"]).to_numpy(
        dtype=float)
    return cps.assign(vn_kv=vn, length_km=length)


def _components(grid: GridModel, prof: ElementProfiles) -> tuple[np.ndarray, ...]:
    """Bus-axis parts [T, B]: load p, load q, sgen p (generation +), storage p, static q."""
    zeros = {
        "load_p_kw": np.zeros_like(prof.load_p_kw),
        "load_q_kvar": np.zeros_like(prof.load_q_kvar),
        "sgen_p_kw": np.zeros_like(prof.sgen_p_kw),
        "storage_p_kw": np.zeros_like(prof.storage_p_kw),
    }
    q_static = bus_loads(grid, ElementProfiles(**zeros)).q_kvar
    only_load = bus_loads(grid, ElementProfiles(**{**zeros, "load_p_kw": prof.load_p_kw,
                                                   "load_q_kvar": prof.load_q_kvar}))
    only_sgen = bus_loads(grid, ElementProfiles(**{**zeros, "sgen_p_kw": prof.sgen_p_kw}))
    only_storage = bus_loads(grid, ElementProfiles(**{**zeros,
                                                      "storage_p_kw": prof.storage_p_kw}))
    return (only_load.p_kw, only_load.q_kvar - q_static, -only_sgen.p_kw, only_storage.p_kw,
            q_static)


def _representative_days(day_worst: np.ndarray, days_per_month: int) -> pd.DataFrame:
    """Per month: the worst day (weight 1) and stratified typical days."""
    dates = pd.date_range(_BASE_YEAR, periods=_DAYS, freq="D")
    rows = []
    for month in range(1, 13):
        idx = np.flatnonzero(dates.month == month)
        peak = int(idx[np.argmax(day_worst[idx])])
        rest = idx[idx != peak]
        ranked = rest[np.argsort(day_worst[rest], kind="stable")]
        k = min(days_per_month, ranked.size)
        picks = ranked[((np.arange(k) + 0.5) * ranked.size / k).astype(np.int64)]
        rows.append({"day": peak, "month": month, "kind": "peak", "weight": 1.0})
        rows.extend({"day": int(d), "month": month, "kind": "typical",
                     "weight": ranked.size / k} for d in picks)
    frame = pd.DataFrame(rows)
    return frame.assign(date=dates[frame["day"].to_numpy()].strftime("%Y-%m-%d"))


def forecast_overloads(
    grid: GridModel,
    years: int,
    *,
    load_growth_per_year: float = 0.01,
    der_growth_per_year: float = 0.03,
    load_scale: float = 1.0,
    sgen_scale: float = 1.0,
    days_per_month: int = 2,
    design_day: date | None = None,
    engine: str = "pgm",
) -> OverloadForecast:
    """Overload per year and congestion point over ``years`` planning years (see module).

    ``design_day`` (e.g. a scenario's market day; mapped onto the 2016 profiles by month and
    day) is added with weight 0: it changes no energy, and its worst loading per year is
    returned as ``design_day_max_loading_pct``.
    """
    if not 1 <= years <= 50:
        raise InputError("years", years, "a planning horizon of 1..50 years")
    for name, value in (("load_growth_per_year", load_growth_per_year),
                        ("der_growth_per_year", der_growth_per_year)):
        if not (np.isfinite(value) and -0.5 < value <= 1.0):
            raise InputError(name, value, "a yearly growth rate in (-0.5, 1] (0.03 = 3 %/year)")
    for name, value in (("load_scale", load_scale), ("sgen_scale", sgen_scale)):
        if not (np.isfinite(value) and value >= 0):
            raise InputError(name, value, "a finite multiplier >= 0")
    if not 1 <= days_per_month <= 10:
        raise InputError("days_per_month", days_per_month, "1..10 typical days per month")

    year_grid = TimeGrid.for_day(_BASE_YEAR, days=_DAYS)
    per_day = 1440 // year_grid.isp_minutes
    h = year_grid.isp_hours
    cps = asset_table(grid)
    prof = grid.element_profiles_kw(year_grid)
    prof = ElementProfiles(prof.load_p_kw * load_scale, prof.load_q_kvar * load_scale,
                           prof.sgen_p_kw * sgen_scale, prof.storage_p_kw)
    base = run_power_flow(grid, bus_loads(grid, prof), engine)
    limit = cps["max_loading_pct"].to_numpy(dtype=float)
    rel = (base.cp_loading_pct / limit[None, :]).max(axis=1)
    day_worst = rel.reshape(_DAYS, per_day).max(axis=1)
    rep = _representative_days(day_worst, days_per_month)
    if design_day is not None:
        doy = int(pd.Timestamp(2016, design_day.month, design_day.day).dayofyear) - 1
        rep = pd.concat([rep, pd.DataFrame([{
            "day": doy, "month": design_day.month, "kind": "design", "weight": 0.0,
            "date": design_day.isoformat()}])], ignore_index=True)
    weight = rep["weight"].to_numpy(dtype=float)
    n_rep = len(rep)

    isp = (rep["day"].to_numpy()[:, None] * per_day + np.arange(per_day)[None, :]).ravel()
    sub = ElementProfiles(prof.load_p_kw[isp], prof.load_q_kvar[isp], prof.sgen_p_kw[isp],
                          prof.storage_p_kw[isp])
    load_p, load_q, gen_p, sto_p, q_static = _components(grid, sub)
    growth_l = (1.0 + load_growth_per_year) ** np.arange(years)
    growth_d = (1.0 + der_growth_per_year) ** np.arange(years)
    p = (growth_l[:, None, None] * load_p[None]
         + growth_d[:, None, None] * (sto_p - gen_p)[None])  # [Y, R·96, B]
    q = growth_l[:, None, None] * load_q[None] + q_static[None]
    n_bus = grid.n_buses
    result = run_power_flow(grid, BusLoads(p.reshape(-1, n_bus), q.reshape(-1, n_bus)), engine)

    shape = (years, n_rep, per_day, len(cps))
    ov = overload_kw(result, cps).reshape(shape)
    feedin = (p.sum(axis=2) < 0).reshape(years, n_rep, per_day)[..., None]
    w = weight[None, :, None, None]
    overload_mwh = (ov * w).sum(axis=(1, 2)) * h / 1e3
    feedin_mwh = (ov * feedin * w).sum(axis=(1, 2)) * h / 1e3
    rated = cps["rated_kva"].to_numpy(dtype=float)
    peak_kva = (result.cp_loading_pct.reshape(shape) / 100.0 * rated).max(axis=(1, 2))

    full_mwh = float(overload_kw(base, cps).sum() * h / 1e3)
    design = None
    if design_day is not None:
        design = result.cp_loading_pct.reshape(shape)[:, -1].max(axis=(1, 2))
    return OverloadForecast(
        cps=cps,
        overload_mwh=overload_mwh,
        feedin_overload_mwh=feedin_mwh,
        peak_overload_kw=ov.max(axis=(1, 2)),
        peak_demand_overload_kw=np.where(feedin, 0.0, ov).max(axis=(1, 2)),
        peak_kva=peak_kva,
        representative_days=rep,
        base_check={
            "full_year_overload_mwh": full_mwh,
            "representative_overload_mwh": float(overload_mwh[0].sum()),
            "full_year_peak_kva_max": float((base.cp_loading_pct / 100 * rated).max()),
        },
        grid_code=grid.code,
        design_day_max_loading_pct=design,
    )
