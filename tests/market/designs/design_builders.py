"""A small shared scenario for the design tests: 12 midday ISPs of the demo grid on
2016-06-21 (PV feed-in overloads its MV/LV transformer), synthetic offers per bus from three
aggregators, seeded BRP and TSO requests."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import numpy as np
import pandas as pd

from localflex.domain import OFFER_COLUMNS, TimeGrid
from localflex.grid import bus_loads, load_simbench_grid
from localflex.market.designs import DesignInput, DesignParams, make_design_input

GRID = "1-LV-rural1--2-sw"
AGGREGATORS = ("agg-a", "agg-b", "agg-c")


def synthetic_offers(bus_ids: np.ndarray, n_isps: int, seed: int, *,
                     up_kw: float = 12.0, down_kw: float = 15.0) -> pd.DataFrame:
    """One UP and one DOWN offer per aggregator, bus and ISP; seeded volumes and prices."""
    rng = np.random.default_rng(seed)
    agg, bus, isp, direction = np.meshgrid(np.arange(len(AGGREGATORS)), bus_ids,
                                           np.arange(n_isps), [0, 1], indexing="ij")
    agg, bus, isp, direction = (a.ravel() for a in (agg, bus, isp, direction))
    n = agg.size
    volume = rng.uniform(0.3, 1.0, n) * np.where(direction == 0, up_kw, down_kw)
    price = rng.uniform(50.0, 140.0, n).round(2)
    names = np.array(AGGREGATORS)[agg]
    dirs = np.where(direction == 0, "up", "down")
    frame = pd.DataFrame({
        "offer_id": [f"{a}/b{b}/t{t}/{d}" for a, b, t, d in zip(names, bus, isp, dirs,
                                                                  strict=True)],
        "aggregator_id": names,
        "bus": bus.astype(np.int64),
        "isp": isp.astype(np.int64),
        "direction": dirs,
        "max_power_kw": volume.round(3),
        "min_power_kw": 0.0,
        "price_eur_per_mwh": price,
        "der_type": "mixed",
        "block_id": "",
    })
    return frame[list(OFFER_COLUMNS)]


@cache
def small_input(seed: int = 7, n_isps: int = 12, brp_imbalance_kw: float = 25.0,
                control_kw: float = 10.0) -> DesignInput:
    grid = load_simbench_grid(GRID)
    tg = TimeGrid(datetime(2016, 6, 21, 9, 0, tzinfo=UTC), n_isps, 15)
    loads = bus_loads(grid, grid.element_profiles_kw(tg))
    lv = grid.net.bus.loc[grid.bus_ids, "vn_kv"].to_numpy() < 1.0  # not the MV slack bus
    offers = synthetic_offers(grid.bus_ids[lv], n_isps, seed)
    control = np.full((n_isps, grid.n_buses), control_kw)
    params = DesignParams(brp_imbalance_kw=brp_imbalance_kw)
    return make_design_input(grid, loads, offers, isp_hours=0.25, seed=seed, params=params,
                             control_up_kw=control, control_down_kw=control)
