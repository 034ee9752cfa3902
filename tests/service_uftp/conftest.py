"""UFTP fixtures: the market on a real loopback server with Shapeshifter participants.

``uftp_market`` runs on a new SQLite file, and on a new PostgreSQL schema when
LOCALFLEX_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from uftp_harness import GRID, PG_ENV, UftpMarket, pg_base, start_uftp_market

from localflex.grid import load_simbench_grid
from support import pg_schema_url


@pytest.fixture(scope="session")
def uftp_grid_loaded():
    return load_simbench_grid(GRID)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def uftp_db_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'market.db'}"
        return
    base = pg_base()
    if not base:
        pytest.skip(f"{PG_ENV} is not set (PostgreSQL tests run in CI)")
    yield from pg_schema_url(base)


@pytest.fixture
def uftp_market(uftp_db_url, uftp_grid_loaded) -> Iterator[UftpMarket]:
    yield from start_uftp_market(uftp_db_url)
