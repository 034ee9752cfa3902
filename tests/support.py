"""Helpers shared by the database and service tests (importable: tests/ is on sys.path)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text


def pg_schema_url(base_url: str, prefix: str = "lfx_test") -> Iterator[str]:
    """A URL on a fresh PostgreSQL schema of its own, dropped when the generator closes."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
