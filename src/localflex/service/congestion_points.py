"""The congestion points of the market's grid and the buses behind each (paper §5.3: the DSO
buys flexibility *at* a congestion point; it must come from resources whose power flows
through it). ``GET /api/v1/congestion-points`` is built here.

Each point: ``cp_id``, ``kind``, ``name``, ``rated_kva``, ``max_loading_pct``, ``dso_id``,
``radial`` and ``n_buses`` (the buses behind it); with ``cp_id=`` or ``with_buses=true`` the
buses themselves. When the UFTP package is installed (``localflex.service.uftp``) it adds
what UFTP messages name: the point's EA1 ``entity_address``, each bus's connection address
and EAN, and the aggregators' registered ``connections`` there (``CpAddressing``). On
1-MVLV-rural-all-2-sw (5,481 buses, 5,479 points) the walk takes 0.17 s and the points list
112,496 buses in all. An operator registering an aggregator picks its ``connections``
({cp_id: bus}) from it instead of guessing bus ids.

"Behind" is topological: the grid (in-service lines without an open line switch, in-service
transformers, closed bus-bus switches) is walked depth first from the slack buses
(``ext_grid``); the buses behind an element are the subtree below it. One walk gives every
element's subtree as a contiguous run of the preorder, so the cost is O(buses + elements)
plus the size of the answer. An element on a loop of a meshed grid (not a tree edge) has
no well-defined "behind" and reports ``radial: false`` with no buses.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import depth_first_order

from localflex.grid import load_simbench_grid
from localflex.service.context import ServiceContext
from localflex.service.errors import NotFound

__all__ = ["CpAddressing", "buses_behind", "list_congestion_points"]


class CpAddressing(Protocol):
    """What a protocol package adds to the listing (UFTP: addresses, EANs, connections)."""

    def point(self, cp_id: str) -> dict: ...

    def bus(self, bus: int) -> dict: ...


def _edges(net) -> tuple[list[str | None], np.ndarray, np.ndarray]:
    """(cp_id or None, from bus, to bus) of every closed connection between two buses."""
    sw = net.switch
    open_lines = set(sw.loc[(sw.et == "l") & ~sw.closed.astype(bool), "element"].astype(int))
    lines = net.line[net.line.in_service.astype(bool)]
    lines = lines[~lines.index.isin(open_lines)]
    trafos = net.trafo[net.trafo.in_service.astype(bool)]
    bb = sw[(sw.et == "b") & sw.closed.astype(bool)]
    ids = ([f"line:{i}" for i in lines.index] + [f"trafo:{i}" for i in trafos.index]
           + [None] * len(bb))
    a = np.concatenate([lines.from_bus.to_numpy(), trafos.hv_bus.to_numpy(),
                        bb.bus.to_numpy()]).astype(np.int64)
    b = np.concatenate([lines.to_bus.to_numpy(), trafos.lv_bus.to_numpy(),
                        bb.element.to_numpy()]).astype(np.int64)
    return ids, a, b


@lru_cache(maxsize=4)
def buses_behind(grid_code: str) -> dict[str, list[int] | None]:
    """cp_id → sorted bus ids behind the element (None: the element closes a loop)."""
    net = load_simbench_grid(grid_code).net
    bus_ids = net.bus.index.to_numpy(dtype=np.int64)
    pos = {int(b): k for k, b in enumerate(bus_ids)}
    ids, a, b = _edges(net)
    ia = np.array([pos[int(x)] for x in a], dtype=np.int64)
    ib = np.array([pos[int(x)] for x in b], dtype=np.int64)
    n = bus_ids.size
    root = n  # a virtual node joined to every slack bus
    slack = np.array([pos[int(x)] for x in net.ext_grid.loc[
        net.ext_grid.in_service.astype(bool), "bus"]], dtype=np.int64)
    rows = np.concatenate([ia, ib, np.full(slack.size, root), slack])
    cols = np.concatenate([ib, ia, slack, np.full(slack.size, root)])
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    order, pred = depth_first_order(graph, root, directed=False, return_predecessors=True)
    size = np.ones(n + 1, dtype=np.int64)
    for node in order[:0:-1]:  # children before parents: subtree sizes
        size[pred[node]] += size[node]
    at = np.full(n + 1, -1, dtype=np.int64)
    at[order] = np.arange(order.size)
    out: dict[str, list[int] | None] = {}
    for cp_id, u, v in zip(ids, ia, ib, strict=True):
        if cp_id is None:
            continue
        child = v if pred[v] == u else (u if pred[u] == v else -1)
        if child < 0:  # closes a loop (parallel elements share the tree edge's subtree)
            out[cp_id] = None
            continue
        run = order[at[child]:at[child] + size[child]]
        out[cp_id] = sorted(int(bus_ids[k]) for k in run)
    return out


def list_congestion_points(svc: ServiceContext, cp_id: str | None, with_buses: bool,
                           addressing: CpAddressing | None = None) -> list[dict]:
    """Every congestion point (or ``cp_id``, 404 if unknown) with the buses behind it."""
    cps = svc.grid.cp_rows()
    if cp_id is not None:
        cps = [c for c in cps if c.cp_id == cp_id]
        if not cps:
            raise NotFound("cp_id", cp_id, "a congestion point of the market's grid")
    svc.grid.wait()
    behind = buses_behind(svc.grid.code)
    out = []
    for c in cps:
        buses = behind.get(c.cp_id)
        row = {"cp_id": c.cp_id, "kind": c.kind, "name": c.name, "rated_kva": c.rated_kva,
               "max_loading_pct": c.max_loading_pct, "dso_id": c.dso_id,
               "radial": buses is not None, "n_buses": len(buses or [])}
        if addressing is not None:
            row.update(addressing.point(c.cp_id))
        if with_buses or cp_id is not None:
            row["buses"] = [{"bus": b, **(addressing.bus(b) if addressing else {})}
                            for b in buses or []]
        out.append(row)
    return out
