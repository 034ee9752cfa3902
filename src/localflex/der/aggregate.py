"""Aggregation of unit values per grid bus: the location attribute of Fig. 2 (paper §2).

§2: "the location is important if the problem to be solved is location-dependent
(congestion, overvoltage)". The grid and the aggregator see DER flexibility per bus;
``total_by_bus`` sums a [T, N] unit matrix (baseline, envelope, response) into [T, B].
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from localflex.domain import InputError

__all__ = ["bus_incidence", "total_by_bus"]


def bus_incidence(bus: Any, bus_ids: Any) -> sparse.csr_matrix:
    """Sparse [N, B] 0/1 matrix: unit ``n`` sits at ``bus_ids[b]``."""
    bus = np.asarray(bus)
    bus_ids = np.asarray(bus_ids)
    if bus.ndim != 1:
        raise InputError("bus", bus.shape, "a 1-D array of bus indices, one per unit")
    if bus_ids.ndim != 1 or np.unique(bus_ids).size != bus_ids.size:
        raise InputError("bus_ids", bus_ids.shape, "a 1-D array of distinct bus indices")
    order = np.argsort(bus_ids, kind="stable")
    pos = np.searchsorted(bus_ids[order], bus)
    pos_ok = np.minimum(pos, max(bus_ids.size - 1, 0))
    found = (pos < bus_ids.size) & (bus_ids[order][pos_ok] == bus) if bus_ids.size else (
        np.zeros(bus.size, dtype=bool)
    )
    if not found.all():
        raise InputError("bus", bus[~found][0].item(), "a bus listed in bus_ids")
    col = order[pos_ok]
    return sparse.csr_matrix(
        (np.ones(bus.size), (np.arange(bus.size), col)), shape=(bus.size, bus_ids.size)
    )


def total_by_bus(values: Any, bus: Any, bus_ids: Any) -> np.ndarray:
    """Sum of ``values`` [T, N] over the units at each bus of ``bus_ids`` (B) -> [T, B]."""
    values = np.asarray(values, dtype=float)
    bus = np.asarray(bus)
    if values.ndim != 2 or values.shape[1] != bus.size:
        raise InputError("values", values.shape, f"shape [T, {bus.size}] (one column per unit)")
    incidence = bus_incidence(bus, bus_ids)  # [N, B]
    return np.asarray(incidence.T @ values.T).T
