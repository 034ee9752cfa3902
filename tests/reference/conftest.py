"""Shared SimBench grids for the reference cross-checks (~4 s to load one; per session)."""

from __future__ import annotations

import pytest

from localflex.domain import TimeGrid
from localflex.grid import GridModel, load_simbench_grid

LV_CODE = "1-LV-rural1--2-sw"
MV_CODE = "1-MV-semiurb--2-sw"
MV_RING_CODE = "1-MV-rural--2-sw"  # open ring switches: one-side-open lines


@pytest.fixture(scope="session")
def lv_grid() -> GridModel:
    return load_simbench_grid(LV_CODE)


@pytest.fixture(scope="session")
def mv_grid() -> GridModel:
    return load_simbench_grid(MV_CODE)


@pytest.fixture(scope="session")
def midsummer() -> TimeGrid:
    return TimeGrid.for_day("2030-06-21")


@pytest.fixture(scope="session")
def mv_ring_grid() -> GridModel:
    return load_simbench_grid(MV_RING_CODE)
