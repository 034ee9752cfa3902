"""Helpers that run the service as a real server on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys


def serve_subprocess(db_url: str, port: int, log_path, *extra: str) -> subprocess.Popen:
    """``localflex serve`` in a subprocess; its output goes to ``log_path``."""
    cmd = [sys.executable, "-c", "from localflex.cli import app; app()", "serve", "--db", db_url,
           "--port", str(port), "--no-scheduler", *extra]
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})

