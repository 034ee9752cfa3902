"""Schemathesis with ``--checks all`` against ``localflex serve``'s own OpenAPI document, on
a bounded budget: no 5xx, every status and content type documented, invalid data rejected,
valid data accepted, authentication enforced, unsupported methods answered 405."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from localflex.service import Settings, create_app
from support import ThreadServer, free_port, wait_healthy

ST = Path(sys.executable).parent / "schemathesis"
# the parties whose view is fuzzed; UFTP has its own tests (tests/service_uftp)
PARTIES = ("operator", "agg1", "dso1")
CONFIG = Path(__file__).with_name("schemathesis.toml")


def schemathesis_cmd(base: str, key: str, report: Path, max_examples: int = 4) -> list[str]:
    return [str(ST), "--config-file", str(CONFIG), "run", f"{base}/openapi.json", "--checks", "all",
            # the same key in both documented schemes (two different keys are a 400)
            "-H", f"Authorization: Bearer {key}", "-H", f"X-API-Key: {key}",
            "--max-examples", str(max_examples),
            "--seed", "13", "--workers", "1", "--phases", "examples,coverage,fuzzing,stateful",
            "--include-path-regex", "^/api/v1/", "--exclude-path-regex", "^/api/v1/uftp",
            "--max-time", "20", "--request-timeout", "20", "--no-color",
            "--report", "junit", "--report-dir", str(report)]


@pytest.mark.slow
@pytest.mark.skipif(not ST.exists(), reason="schemathesis CLI absent")
def test_service_schemathesis_all_checks_pass(sqlite_market, tmp_path):
    m = sqlite_market
    port = free_port()
    app = create_app(Settings(database_url=m.svc.db.url, run_scheduler=False))
    with ThreadServer(app, port):
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, grid_ready=True)
        for party in PARTIES:
            proc = subprocess.run(
                schemathesis_cmd(base, m.keys[party], tmp_path / party),
                capture_output=True, text=True, timeout=120, cwd=tmp_path,  # its cache
                env={**os.environ, "NO_COLOR": "1"}, check=False)
            out = proc.stdout + proc.stderr
            (tmp_path / f"{party}.log").write_text(out)
            assert proc.returncode == 0, f"as {party} (log {tmp_path / party}.log):\n{out[-8000:]}"
            assert "passed" in out
