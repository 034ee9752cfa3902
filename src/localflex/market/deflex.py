"""De-Flex style restriction areas: the DSO limits market trades where its grid is tight
(paper §5.3, ref. [57], the BNE "De-Flex Market").

"The authors suggested the division of the network in aggregated distribution areas, subject to
the different levels of restriction requirements for a certain number of 15 min operational
periods." Three steps, each usable alone:

1. ``distribution_areas(grid)`` — one area per feeder: the buses reachable from a transformer
   busbar through lines (open switches respected, ``pandapower.topology``) form a feeder area
   ``"feeder:<lowest bus>"``; the transformer buses (busbars) and any bus without a line form
   the area ``"busbar:<trafo cp_id>"`` of their transformer.
2. ``restriction_levels(areas, forecast, ...)`` — per area, ISP and direction, the headroom in
   kW that trades may use, from the forecast's congestion headroom and relief sensitivities
   (``CongestionNeeds``) and optionally its voltage headroom (``VoltageNeeds``). For every
   constraint k (congestion point, bus voltage rise, bus voltage drop) and ISP, the increase
   per kW that a trade in direction d at bus b causes is ``a[k, b] >= 0`` (an overloaded point
   has limit 0: trades may not aggravate it). The area's coefficient is the worst of its buses,
   ``A[k, area] = max_b a[k, b]``. A constraint shared by several (area, direction) pairs (the
   substation transformer, a busbar voltage) has its limit split equally among them, so areas
   checked independently are jointly safe under the linear model: ``headroom[area, d] =
   min_k share_k / A[k, area]``. Level: ``blocked`` if headroom <= ``BLOCKED_BELOW_KW``,
   ``limited`` if below ``limited_below_kw``, else ``none``.
3. ``limit_trades(trades, restrictions, areas)`` — checks a trade set (``bus``, ``isp``,
   ``direction``, ``power_kw``) against the levels: in a ``blocked`` area-direction nothing is
   allowed; otherwise, when the trades of one area, ISP and direction sum to more than the
   headroom, they are all scaled pro rata so that the sum fits (no netting of up against
   down: conservative). A ``limited`` area with trades that fit, and any ``none`` area whose
   trades fit (the usual case), keep every trade whole. So no trade set can push a point past
   its limit under the linear model, whatever its level.

The split of shared limits and the worst-bus coefficient make the restriction conservative; a
real power flow of the limited trades (tests/market) confirms no limit is crossed beyond the
linearisation error.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

from localflex.domain import InputError
from localflex.grid import GridModel, congestion_points
from localflex.market.dso_single_buyer import CongestionNeeds, FactoredRelief, VoltageNeeds

__all__ = [
    "AREA_COLUMNS",
    "BLOCKED_BELOW_KW",
    "RESTRICTION_COLUMNS",
    "TRADE_CHECK_COLUMNS",
    "RestrictionLevel",
    "distribution_areas",
    "limit_trades",
    "restriction_levels",
]

BLOCKED_BELOW_KW = 1e-3
"""Headroom at or below this is 'blocked'."""
_EPS = 1e-9

AREA_COLUMNS: dict[str, tuple[str, str, str]] = {
    "bus": ("int64", "-", "grid bus"),
    "area_id": ("object", "-", "'feeder:<lowest bus>' or 'busbar:<trafo cp_id>'"),
}
RESTRICTION_COLUMNS: dict[str, tuple[str, str, str]] = {
    "area_id": ("object", "-", "distribution area"),
    "isp": ("int64", "-", "ISP (15-minute operational period)"),
    "direction": ("object", "-", "'up' or 'down' (trades that raise / lower injection)"),
    "level": ("object", "-", "'none', 'limited' or 'blocked'"),
    "headroom_kw": ("float64", "kW", "total trade volume allowed (inf = unconstrained)"),
}
TRADE_CHECK_COLUMNS: dict[str, tuple[str, str, str]] = {
    "area_id": ("object", "-", "area of the trade's bus"),
    "level": ("object", "-", "restriction level met"),
    "allowed_kw": ("float64", "kW", "volume the trade may keep"),
    "curtailed_kw": ("float64", "kW", "power_kw - allowed_kw"),
    "status": ("object", "-", "'ok', 'limited' or 'blocked'"),
}


class RestrictionLevel(StrEnum):
    NONE = "none"
    LIMITED = "limited"
    BLOCKED = "blocked"


def distribution_areas(grid: GridModel) -> pd.DataFrame:
    """Area per bus of ``grid`` (AREA_COLUMNS, bus axis order); module docstring, step 1."""
    import networkx as nx
    import pandapower.topology as top

    net = grid.net
    graph = top.create_nxgraph(net, respect_switches=True, include_trafos=False,
                               include_impedances=False)
    cps = congestion_points(grid)
    trafos = cps[cps["kind"] == "trafo"]
    busbar_of = {}
    for cp_id, hv, lv in trafos[["cp_id", "from_bus", "to_bus"]].itertuples(index=False):
        busbar_of.setdefault(int(lv), cp_id)
        busbar_of.setdefault(int(hv), cp_id)
    sub = graph.copy()
    sub.remove_nodes_from(list(busbar_of))
    area = {}
    for comp in nx.connected_components(sub):
        nodes = sorted(int(b) for b in comp)
        if len(nodes) == 1 and sub.degree(nodes[0]) == 0:
            continue
        for b in nodes:
            area[b] = f"feeder:{nodes[0]}"
    # busbars and isolated buses: the area of the transformer they hang on
    first_trafo = trafos["cp_id"].iloc[0] if len(trafos) else "none"
    out = []
    for b in grid.bus_ids:
        b = int(b)
        if b in area:
            out.append(area[b])
            continue
        owner = busbar_of.get(b)
        if owner is None:
            near = [busbar_of[n] for n in graph.neighbors(b) if n in busbar_of] \
                if b in graph else []
            owner = near[0] if near else first_trafo
        out.append(f"busbar:{owner}")
    return pd.DataFrame({"bus": grid.bus_ids.astype(np.int64), "area_id": out}).astype(
        {k: v[0] for k, v in AREA_COLUMNS.items()})


def _limits(forecast: CongestionNeeds, voltage: VoltageNeeds | None
            ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """limit [T, K] (congestion points, then voltage rise, then drop) and the voltage part's
    increase per kW [T, Kv, B] for up and down trades (None without voltage needs)."""
    head = np.asarray(forecast.headroom_kw, dtype=float)
    over = np.asarray(forecast.overload_kw, dtype=float)
    limits = [np.where(over > 0, 0.0, np.where(np.isfinite(head), np.maximum(head, 0.0),
                                               np.inf))]
    if voltage is None:
        return limits[0], None, None
    ups, downs = [], []
    n_isps = head.shape[0]
    dv = np.asarray(voltage.dv_pu_per_kw, dtype=float)
    dv = np.broadcast_to(dv, (n_isps, *dv.shape[-2:]))
    for name, sign in (("rise_headroom_pu", 1.0), ("drop_headroom_pu", -1.0)):
        h = getattr(voltage, name)
        h = np.full(head.shape[:1] + dv.shape[-1:], np.inf) if h is None else \
            np.where(np.isnan(h), np.inf, np.asarray(h, dtype=float))
        limits.append(np.maximum(h, 0.0))
        ups.append(np.maximum(sign * dv, 0.0))
        downs.append(np.maximum(-sign * dv, 0.0))
    return (np.concatenate(limits, axis=1), np.concatenate(ups, axis=1),
            np.concatenate(downs, axis=1))


def _worst_by_area(inc: np.ndarray, codes: np.ndarray, n_area: int) -> np.ndarray:
    """[T, K, A] max over each area's buses of ``inc`` [T, K, B]."""
    out = np.zeros((*inc.shape[:2], n_area))
    for a in range(n_area):  # loop over areas (tens), numpy inside
        out[:, :, a] = inc[:, :, codes == a].max(axis=2)
    return out


def _relief_coef(relief: np.ndarray | FactoredRelief, codes: np.ndarray, n_area: int
                 ) -> np.ndarray:
    """[2 (up, down), T, CP, A] worst increase per kW of the points' loading per area. A
    ``FactoredRelief`` (scale [T, CP] · dp [CP, B]) is never expanded to [T, CP, B]: the
    worst bus of ``max(0, ∓scale·dp)`` is ``scale⁺·max dp∓ + scale⁻·max dp±`` (exact)."""
    if not isinstance(relief, FactoredRelief):
        relief = np.asarray(relief, dtype=float)
        return np.stack([_worst_by_area(np.maximum(-relief, 0.0), codes, n_area),
                         _worst_by_area(np.maximum(relief, 0.0), codes, n_area)])
    dp = relief.dp_kw_per_kw
    d_pos = _worst_by_area(np.maximum(dp, 0.0)[None], codes, n_area)[0]  # [CP, A]
    d_neg = _worst_by_area(np.maximum(-dp, 0.0)[None], codes, n_area)[0]
    s_pos = np.maximum(relief.scale, 0.0)[:, :, None]
    s_neg = np.maximum(-relief.scale, 0.0)[:, :, None]
    return np.stack([s_pos * d_neg[None] + s_neg * d_pos[None],
                     s_pos * d_pos[None] + s_neg * d_neg[None]])


def restriction_levels(
    areas: pd.DataFrame,
    forecast: CongestionNeeds,
    *,
    voltage: VoltageNeeds | None = None,
    limited_below_kw: float = 100.0,
) -> pd.DataFrame:
    """Level and headroom per area, ISP and direction (RESTRICTION_COLUMNS); step 2."""
    if not (np.isfinite(limited_below_kw) and limited_below_kw > BLOCKED_BELOW_KW):
        raise InputError("limited_below_kw", limited_below_kw, f"> {BLOCKED_BELOW_KW} kW")
    bus_ids = np.asarray(forecast.bus_ids)
    area_of = areas.set_index("bus")["area_id"].reindex(bus_ids)
    if area_of.isna().any():
        raise InputError("areas", int(bus_ids[area_of.isna().to_numpy()][0]),
                         "an area for every bus of forecast.bus_ids")
    codes, names = pd.factorize(area_of.to_numpy())
    limit, v_up, v_down = _limits(forecast, voltage)
    n_area = len(names)
    coef = _relief_coef(forecast.relief_kw_per_kw_up, codes, n_area)  # worst bus per area
    if v_up is not None:
        v_coef = np.stack([_worst_by_area(v_up, codes, n_area),
                           _worst_by_area(v_down, codes, n_area)])
        coef = np.concatenate([coef, v_coef], axis=2)
    coef[coef <= _EPS] = 0.0
    touched = coef > 0
    n_share = touched.sum(axis=(0, 3))  # [T, K] (area, direction) pairs per constraint
    share = np.divide(limit, n_share, out=np.full_like(limit, np.inf), where=n_share > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(touched, share[None, :, :, None] / np.where(touched, coef, 1.0), np.inf)
    headroom = ratio.min(axis=2, initial=np.inf)  # [2, T, A]; no constraint: unlimited
    level = np.where(headroom <= BLOCKED_BELOW_KW, RestrictionLevel.BLOCKED.value,
                     np.where(headroom < limited_below_kw, RestrictionLevel.LIMITED.value,
                              RestrictionLevel.NONE.value))
    d_idx, t_idx, a_idx = np.indices(headroom.shape).reshape(3, -1)
    out = pd.DataFrame({
        "area_id": np.asarray(names, dtype=object)[a_idx],
        "isp": t_idx.astype(np.int64),
        "direction": np.array(["up", "down"], dtype=object)[d_idx],
        "level": level.reshape(-1),
        "headroom_kw": headroom.reshape(-1),
    })
    out = out.astype({k: v[0] for k, v in RESTRICTION_COLUMNS.items()})
    return out.sort_values(["area_id", "isp", "direction"], kind="stable").reset_index(drop=True)


def limit_trades(
    trades: pd.DataFrame, restrictions: pd.DataFrame, areas: pd.DataFrame
) -> pd.DataFrame:
    """The trades with TRADE_CHECK_COLUMNS added (step 3 of the module docstring)."""
    missing = [c for c in ("bus", "isp", "direction", "power_kw") if c not in trades]
    if missing:
        raise InputError("trades", missing, "columns bus, isp, direction, power_kw")
    out = trades.reset_index(drop=True).copy()
    if out.empty:
        for name, spec in TRADE_CHECK_COLUMNS.items():
            out[name] = pd.Series(dtype=spec[0])
        return out
    power = pd.to_numeric(out["power_kw"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(power).all() and (power >= 0).all()):
        raise InputError("trades.power_kw", "negative or non-finite", "volumes >= 0 kW")
    if not out["direction"].isin(["up", "down"]).all():
        bad = out.loc[~out["direction"].isin(["up", "down"]), "direction"].iloc[0]
        raise InputError("trades.direction", bad, "'up' or 'down'")
    area = out["bus"].map(areas.set_index("bus")["area_id"])
    if area.isna().any():
        raise InputError("trades.bus", int(out.loc[area.isna(), "bus"].iloc[0]),
                         "a bus with an area")
    out["area_id"] = area.to_numpy(dtype=object)
    key = ["area_id", "isp", "direction"]
    merged = out[key].merge(restrictions[[*key, "level", "headroom_kw"]], on=key, how="left")
    if merged["level"].isna().any():
        row = merged[merged["level"].isna()].iloc[0]
        raise InputError("trades.isp", int(row["isp"]), "an ISP covered by the restrictions")
    total = out.assign(p=power).groupby(key)["p"].transform("sum").to_numpy()
    head = merged["headroom_kw"].to_numpy(dtype=float)
    share = np.zeros_like(total)
    big = total > 1e-12  # a sum below 1e-12 kW cannot matter (and would overflow the ratio)
    share[big] = np.maximum(head[big], 0.0) / total[big]
    factor = np.where(total > head, share, 1.0)
    level = merged["level"].to_numpy(dtype=object)
    factor = np.where(level == RestrictionLevel.BLOCKED.value, 0.0, factor)
    allowed = power * np.clip(factor, 0.0, 1.0)
    out["level"] = level
    out["allowed_kw"] = allowed
    out["curtailed_kw"] = power - allowed
    out["status"] = np.where((allowed <= 0.0) & (power > 0), "blocked",
                             np.where(allowed < power - 1e-12, "limited", "ok"))
    return out

