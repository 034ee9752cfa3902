"""Helpers that run the service as a real server on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import httpx
import uvicorn


def wait_healthy(base: str, timeout_s: float = 120.0, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base} did not become healthy in {timeout_s} s")


def serve_subprocess(db_url: str, port: int, log_path) -> subprocess.Popen:
    """``localflex serve`` in a subprocess; its output goes to ``log_path``."""
    cmd = [sys.executable, "-c", "from localflex.cli import app; app()", "serve", "--db", db_url,
           "--port", str(port), "--no-scheduler"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


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
