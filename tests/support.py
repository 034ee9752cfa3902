"""Helpers shared by the database and service tests (importable: tests/ is on sys.path)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import uvicorn
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


def wait_healthy(base: str, timeout_s: float = 120.0, proc: subprocess.Popen | None = None,
                 *, grid_ready: bool = False) -> None:
    """Wait for ``GET /api/v1/health`` (and the grid, if asked); fail if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            r = httpx.get(f"{base}/api/v1/health", timeout=2)
            if r.status_code == 200 and (not grid_ready or r.json()["grid_ready"]):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base} did not become healthy in {timeout_s} s")


class ThreadServer:
    """uvicorn in a thread of this process (shares the loaded grid)."""

    def __init__(self, app, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)
