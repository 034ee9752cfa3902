"""Sustained offer submissions through the REST API of the running market.

Starts ``localflex serve`` on a free loopback port (PostgreSQL by default via ``--db``, in a
fresh schema dropped afterwards; SQLite file if PostgreSQL is unreachable — stated in the
output), creates an operator, an aggregator and open gates through the API, then drives
``POST /api/v1/offers`` with ``--clients`` concurrent httpx clients (threads, keep-alive)
for ``--seconds`` seconds. Prints sustained offers/s, p50/p99 latency, the machine and the
inputs, and the ratio against the target (≥ 500 offers/s with p99 < 100 ms on 2 cores).
Only loopback addresses are used; the load loop is bounded in time and count.

    python benchmarks/service_load.py [--db URL] [--clients 16] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import httpx
import numpy as np
from sqlalchemy import create_engine, text

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_OFFERS_PER_S = 500.0
TARGET_P99_MS = 100.0
MAX_REQUESTS = 2_000_000


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_db(url: str) -> tuple[str, str, callable]:
    """(url to use, description, cleanup) — a fresh PG schema, or a SQLite fallback."""
    if url.startswith("postgresql"):
        schema = f"lfx_bench_{uuid.uuid4().hex[:10]}"
        try:
            admin = create_engine(url, connect_args={"connect_timeout": 3})
            with admin.begin() as conn:
                pg_version = conn.execute(text("SHOW server_version")).scalar()
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception as exc:  # unreachable: fall back, and say so
            path = os.path.join(tempfile.mkdtemp(), "bench.db")
            return (f"sqlite:///{path}",
                    f"SQLite {path} (PostgreSQL at {url} unreachable: "
                    f"{type(exc).__name__})", lambda: None)

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()

        sep = "&" if "?" in url else "?"
        return (f"{url}{sep}options=-csearch_path%3D{schema}",
                f"PostgreSQL {pg_version} (schema {schema})", drop)
    return url, f"SQLite {url}", lambda: None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=DEFAULT_PG)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--grid", default="1-LV-rural1--2-sw")
    args = ap.parse_args()
    if not 1 <= args.clients <= 256 or not 0 < args.seconds <= 300:
        ap.error("--clients in 1..256 and --seconds in (0, 300]")

    url, db_text, cleanup = pick_db(args.db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = os.path.join(tempfile.mkdtemp(prefix="localflex-serve-"), "serve.log")
    cmd = [sys.executable, "-c", "from localflex.cli import app; app()", "serve", "--db", url,
           "--grid", args.grid, "--port", str(port), "--bootstrap", "--no-scheduler"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start; log: {log_path}")
            try:
                health = httpx.get(f"{base}/api/v1/health", timeout=2).json()
                if health["grid_ready"]:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        with open(log_path) as f:
            op_key = re.search(r"(lfx_[0-9a-f]{12}_\S+)", f.read()).group(1)
        op = {"Authorization": f"Bearer {op_key}"}
        agg = httpx.post(f"{base}/api/v1/parties", headers=op, json={
            "party_id": "agg1", "name": "Aggregator 1", "role": "aggregator"}).json()
        key = agg["key"]["api_key"]
        now = datetime.now(UTC)
        start = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        gates = httpx.post(f"{base}/api/v1/gates", headers=op, json={
            "start": start.isoformat(), "n_isps": 96,
            "opens_at": (now - timedelta(minutes=1)).isoformat(), "lead_time_minutes": 15,
        }).json()
        gate_ids = [g["gate_id"] for g in gates]
        buses = [1, 2, 3, 4, 5]

        latencies: list[list[float]] = [[] for _ in range(args.clients)]
        errors = [0] * args.clients
        started = threading.Barrier(args.clients + 1)

        def client(i: int) -> None:
            rng = np.random.default_rng([7, i])
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as http:
                http.get("/api/v1/me")  # key check once, then cached by the server
                started.wait()
                stop_at = time.perf_counter() + args.seconds
                n = 0
                while time.perf_counter() < stop_at and n < MAX_REQUESTS:
                    n += 1
                    body = {"gate_id": gate_ids[int(rng.integers(len(gate_ids)))],
                            "bus": buses[n % len(buses)], "direction": "up",
                            "max_power_kw": float(rng.uniform(1, 50)),
                            "price_eur_per_mwh": float(rng.uniform(20, 200))}
                    t0 = time.perf_counter()
                    r = http.post("/api/v1/offers", json=body)
                    dt = time.perf_counter() - t0
                    if r.status_code == 201:
                        latencies[i].append(dt)
                    else:
                        errors[i] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        started.wait()
        t_start = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t_start
        lat = np.concatenate([np.asarray(x) for x in latencies]) * 1e3
        stored = len(httpx.get(f"{base}/api/v1/offers", headers={"X-API-Key": key},
                               params={"limit": 1}).json())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        cleanup()

    rate = lat.size / elapsed
    p50, p99 = (np.percentile(lat, [50, 99]) if lat.size else (float("nan"),) * 2)
    print("localflex service load: POST /api/v1/offers")
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
          f"fastapi {version('fastapi')}, uvicorn {version('uvicorn')}, "
          f"SQLAlchemy {version('sqlalchemy')}, psycopg {version('psycopg')}; load average "
          f"at the end {os.getloadavg()[0]:.1f} (other processes share these cores)")
    print(f"inputs: store {db_text}; grid {args.grid}; {args.clients} concurrent httpx "
          f"clients (threads, same machine as the server, one uvicorn worker) for "
          f"{args.seconds:g} s; one offer per request, 96 open gates, audit log + commit per "
          f"offer")
    print(f"accepted offers: {lat.size} in {elapsed:.1f} s, errors: {sum(errors)}, "
          f"stored check: {'ok' if stored else 'missing'}")
    print(f"sustained: {rate:,.0f} offers/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"ratio vs target: {rate / TARGET_OFFERS_PER_S:.2f}x of {TARGET_OFFERS_PER_S:.0f} "
          f"offers/s; p99 {p99 / TARGET_P99_MS:.2f}x of the {TARGET_P99_MS:.0f} ms budget")


if __name__ == "__main__":
    main()
