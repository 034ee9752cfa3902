"""Shared SimBench grids for the grid tests (loading one takes ~4 s; cached per session)."""

from __future__ import annotations

import pytest

from localflex.domain import TimeGrid
from localflex.grid import GridModel, load_simbench_grid

LV_CODE = "1-LV-rural1--2-sw"
MV_CODE = "1-MV-semiurb--2-sw"


@pytest.fixture(scope="session")
def lv_grid() -> GridModel:
    return load_simbench_grid(LV_CODE)


@pytest.fixture(scope="session")
def mv_grid() -> GridModel:
    return load_simbench_grid(MV_CODE)


@pytest.fixture(scope="session")
def midsummer() -> TimeGrid:
    return TimeGrid.for_day("2030-06-21")
