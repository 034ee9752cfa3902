"""Congestion points, voltage limits and the overload a DSO has to buy flexibility for.

Paper §5: the DSO turns from a passive network owner into an active system operator that
relieves congestion in its grid with flexibility instead of (or before) reinforcement. A
congestion point is a grid element whose thermal limit flexibility can relieve: here every
in-service transformer (MV/LV and, in MV grids, HV/MV) and every in-service line.

Overload and headroom are expressed as "kW of flow to remove": the loading excess times the
element's rating in kVA. Treating kVA ≈ kW at the element is exact for unity power factor and
slightly overstates the active power to remove otherwise (the market's volumes are kW; the
sensitivities in ``sensitivity.py`` carry the factor |P|/S so relief and overload are in the
same kVA-equivalent units, and a second real power flow verifies the result).

Columns of ``congestion_points(grid)``:

| column | unit | meaning |
|---|---|---|
| cp_id | - | "trafo:<index>" or "line:<index>" |
| kind | - | "trafo" or "line" |
| element | - | pandapower index in net.trafo / net.line |
| from_bus, to_bus | - | pandapower buses (hv/lv for transformers) |
| rated_kva | kVA | trafo sn_mva·1000·parallel·df; line √3·vn_kv·max_i_ka·df·parallel·1000 |
| max_loading_pct | % | limit (net's max_loading_percent, default 100) |
| name | - | element name |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from localflex.grid.flows import PowerFlowResult

if TYPE_CHECKING:
    from localflex.grid.simbench_loader import GridModel

__all__ = [
    "CP_COLUMNS",
    "congestion_points",
    "headroom_kw",
    "overload_kw",
    "voltage_limits",
]

CP_COLUMNS: dict[str, tuple[str, str, str]] = {
    "cp_id": ("object", "-", "'trafo:<index>' or 'line:<index>'"),
    "kind": ("object", "-", "'trafo' or 'line'"),
    "element": ("int64", "-", "pandapower index of the element"),
    "from_bus": ("int64", "-", "from bus (hv bus for transformers)"),
    "to_bus": ("int64", "-", "to bus (lv bus for transformers)"),
    "rated_kva": ("float64", "kVA", "rating at 100 % loading"),
    "max_loading_pct": ("float64", "%", "loading limit"),
    "name": ("object", "-", "element name"),
}


def _limit(frame: pd.DataFrame) -> np.ndarray:
    if "max_loading_percent" not in frame:
        return np.full(len(frame), 100.0)
    return frame["max_loading_percent"].fillna(100.0).to_numpy(dtype=float)


def _name(frame: pd.DataFrame) -> np.ndarray:
    if "name" not in frame:
        return np.full(len(frame), "", dtype=object)
    return frame["name"].fillna("").astype(str).to_numpy(dtype=object)


def congestion_points(grid: GridModel) -> pd.DataFrame:
    """One row per monitored element (transformers first, then lines), CP_COLUMNS."""
    cached = grid.cache.get("congestion_points")
    if cached is None:
        net = grid.net
        tr = net.trafo[net.trafo["in_service"].astype(bool)]
        ln = net.line[net.line["in_service"].astype(bool)]
        vn_from = net.bus["vn_kv"].reindex(ln["from_bus"]).to_numpy(dtype=float)
        trafo_rows = pd.DataFrame({
            "cp_id": [f"trafo:{i}" for i in tr.index],
            "kind": "trafo",
            "element": tr.index.to_numpy(dtype=np.int64),
            "from_bus": tr["hv_bus"].to_numpy(dtype=np.int64),
            "to_bus": tr["lv_bus"].to_numpy(dtype=np.int64),
            "rated_kva": tr["sn_mva"].to_numpy(dtype=float) * 1e3
            * tr["parallel"].to_numpy(dtype=float) * tr["df"].to_numpy(dtype=float),
            "max_loading_pct": _limit(tr),
            "name": _name(tr),
        })
        line_rows = pd.DataFrame({
            "cp_id": [f"line:{i}" for i in ln.index],
            "kind": "line",
            "element": ln.index.to_numpy(dtype=np.int64),
            "from_bus": ln["from_bus"].to_numpy(dtype=np.int64),
            "to_bus": ln["to_bus"].to_numpy(dtype=np.int64),
            "rated_kva": np.sqrt(3) * vn_from * ln["max_i_ka"].to_numpy(dtype=float)
            * ln["df"].to_numpy(dtype=float) * ln["parallel"].to_numpy(dtype=float) * 1e3,
            "max_loading_pct": _limit(ln),
            "name": _name(ln),
        })
        cached = pd.concat([trafo_rows, line_rows], ignore_index=True)
        cached = cached.astype({k: v[0] for k, v in CP_COLUMNS.items()})
        grid.cache["congestion_points"] = cached
    return cached.copy()


def voltage_limits(grid: GridModel) -> pd.DataFrame:
    """Per bus (bus axis order): ``bus``, ``vm_min_pu``, ``vm_max_pu`` (default 0.9 / 1.1)."""
    bus = grid.net.bus.reindex(grid.bus_ids)
    vmin = bus["min_vm_pu"] if "min_vm_pu" in bus else pd.Series(np.nan, index=bus.index)
    vmax = bus["max_vm_pu"] if "max_vm_pu" in bus else pd.Series(np.nan, index=bus.index)
    return pd.DataFrame({
        "bus": grid.bus_ids.astype(np.int64),
        "vm_min_pu": vmin.fillna(0.9).to_numpy(dtype=float),
        "vm_max_pu": vmax.fillna(1.1).to_numpy(dtype=float),
    })


def headroom_kw(result: PowerFlowResult, cps: pd.DataFrame) -> np.ndarray:
    """[T, CP] limit minus loading, in kW-equivalent (kVA ≈ kW); negative when overloaded."""
    limit = cps["max_loading_pct"].to_numpy(dtype=float)
    rated = cps["rated_kva"].to_numpy(dtype=float)
    return (limit[None, :] - result.cp_loading_pct) / 100.0 * rated[None, :]


def overload_kw(result: PowerFlowResult, cps: pd.DataFrame) -> np.ndarray:
    """[T, CP] kW of flow to remove: max(0, (loading − limit)/100 · rated_kva)."""
    return np.maximum(0.0, -headroom_kw(result, cps))
