"""SimBench grids for the market tests (session-cached; loading one takes a few seconds)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from localflex.domain import TimeGrid
from localflex.grid import (
    BusLoads,
    GridModel,
    PowerFlowResult,
    bus_loads,
    load_simbench_grid,
    run_power_flow,
)


@dataclass(frozen=True)
class GridDay:
    grid: GridModel
    loads: BusLoads
    flows: PowerFlowResult
    first_isp: int


def _grid_day(code: str, isps: slice) -> GridDay:
    grid = load_simbench_grid(code)
    loads = bus_loads(grid, grid.element_profiles_kw(TimeGrid.for_day("2016-06-21")))
    loads = BusLoads(np.ascontiguousarray(loads.p_kw[isps]),
                     np.ascontiguousarray(loads.q_kvar[isps]))
    return GridDay(grid, loads, run_power_flow(grid, loads), isps.start)


@pytest.fixture(scope="session")
def lv_congested_day() -> GridDay:
    """1-LV-rural1--2-sw, 2016-06-21 09:00-15:00: PV overloads the transformer at midday."""
    return _grid_day("1-LV-rural1--2-sw", slice(36, 60))


@pytest.fixture(scope="session")
def mv_overvoltage_day() -> GridDay:
    """1-MV-rural--2-sw, 2016-06-21 09:00-15:00: over-voltage above 1.055 p.u. at midday."""
    return _grid_day("1-MV-rural--2-sw", slice(36, 60))
