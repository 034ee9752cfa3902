"""Store fixtures: a fresh database per test — a SQLite file always, and a fresh PostgreSQL
schema when LOCALFLEX_TEST_DATABASE_URL is set (dropped after the test, so parallel and
repeated runs never collide)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from support import pg_schema_url

PG_ENV = "LOCALFLEX_TEST_DATABASE_URL"



@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_db_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (PostgreSQL tests run in CI)")
    yield from pg_schema_url(base)
