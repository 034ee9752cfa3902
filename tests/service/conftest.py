"""Service fixtures: a running market (FastAPI app + store) with parties, keys and gates.

``fresh_db_url`` gives a new SQLite file, and a new PostgreSQL schema when
LOCALFLEX_TEST_DATABASE_URL is set (``.ci/run`` sets it). ``market`` starts the app on it
with the scheduler off (tests clear gates explicitly or call ``scheduler.tick()``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from service_market import GRID, PG_ENV, Market, start_market

from localflex.grid import load_simbench_grid
from support import pg_schema_url


@pytest.fixture(scope="session")
def lv_grid_loaded():
    return load_simbench_grid(GRID)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_db_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'market.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (PostgreSQL tests run in CI)")
    yield from pg_schema_url(base)


@pytest.fixture
def market(fresh_db_url, lv_grid_loaded) -> Iterator[Market]:
    yield from start_market(fresh_db_url)


@pytest.fixture
def sqlite_market(tmp_path, lv_grid_loaded) -> Iterator[Market]:
    yield from start_market(f"sqlite:///{tmp_path / 'market.db'}")

