"""Sustained offer submissions through the REST API of the running market.

Starts ``localflex serve`` on a free loopback port (PostgreSQL by default via ``--db``, in a
fresh schema dropped afterwards; SQLite file if PostgreSQL is unreachable — stated in the
output), creates an operator, an aggregator and open gates through the API, then drives
``POST /api/v1/offers`` from ``--clients`` concurrent keep-alive HTTP/1.1 connections for
``--seconds`` seconds. The load generator runs in its own process on one asyncio loop:
``--client raw`` (default) writes each request and parses the answer's status line and
``Content-Length`` with asyncio streams (~0.2 ms of CPU per request, so the figure is the
server's, not the client's); ``--client httpx`` uses ``httpx.AsyncClient`` (measured ~4.4 ms
of CPU per request — on 2 shared cores it takes the CPU the server needs). ``--idempotency``
sends a fresh ``Idempotency-Key`` with every offer.

``--workers 1,2`` (default) runs the whole measurement once per worker count (``localflex
serve --workers N``, a fresh store each) and prints the ratio of 2 workers to 1; the
server's CPU is that of its whole process tree. Each run also sends a 50 MB body
(``Content-Length`` declared, streamed after the headers) and prints how long the 413 took,
its size and how much of the body was sent before it came.

Prints sustained offers/s, p50/p99 latency, how the machine's CPU was split between the
server, the load generator, PostgreSQL and everything else (other engineers share these
cores), a check that every 2xx offer and its audit entry are in the store, the machine and
the inputs, and the ratio against the target (≥ 500 offers/s with p99 < 100 ms on 2 cores).
Only loopback addresses are used; the load loop is bounded in time and count.

    python benchmarks/service_load.py [--db URL] [--clients 16] [--seconds 20]
                                      [--client raw|httpx] [--idempotency] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import httpx
import numpy as np
from _machine import cpu_model  # benchmarks/_machine.py
from sqlalchemy import create_engine, text

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_OFFERS_PER_S = 500.0
TARGET_P99_MS = 100.0
MAX_REQUESTS = 2_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- CPU accounting from /proc ------------------------------------------------------------------
def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid`` and every live descendant (uvicorn's worker processes)."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, grew = {pid}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(proc_cpu_s(p) for p in tree)


def postgres_cpu_s() -> float:
    """CPU seconds of every process named ``postgres`` (the server and its backends)."""
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        total += proc_cpu_s(int(name))
    return total


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


# ---- the store ---------------------------------------------------------------------------------
def pick_db(url: str) -> tuple[str, str, Callable[[], None]]:
    """(url to use, description, cleanup) — a fresh PG schema, or a SQLite fallback."""
    if url.startswith("postgresql"):
        schema = f"lfx_bench_{uuid.uuid4().hex[:10]}"
        try:
            admin = create_engine(url, connect_args={"connect_timeout": 3})
            with admin.begin() as conn:
                pg_version = conn.execute(text("SHOW server_version")).scalar()
                sync_commit = conn.execute(text("SHOW synchronous_commit")).scalar()
                fsync = conn.execute(text("SHOW fsync")).scalar()
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
                f"PostgreSQL {pg_version.split()[0]} (schema {schema}, synchronous_commit="
                f"{sync_commit}, fsync={fsync})", drop)
    return url, f"SQLite {url}", lambda: None


def stored_counts(url: str) -> tuple[int, int]:
    """(offers, audit entries for offers) in the store."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            offers = conn.execute(text("SELECT count(*) FROM offers")).scalar()
            audit = conn.execute(text("SELECT count(*) FROM audit_log WHERE entity = 'offer' "
                                      "AND action = 'create'")).scalar()
    finally:
        engine.dispose()
    return int(offers), int(audit)


# ---- the load generator (its own process) ------------------------------------------------------
def _bodies(i: int, gate_ids: list[str], buses: list[int]):
    rng = np.random.default_rng([7, i])
    n = 0
    while True:
        n += 1
        yield {"gate_id": gate_ids[int(rng.integers(len(gate_ids)))],
               "bus": buses[n % len(buses)], "direction": "up",
               "max_power_kw": round(float(rng.uniform(1, 50)), 3),
               "price_eur_per_mwh": round(float(rng.uniform(20, 200)), 2)}


async def _raw_connection(i: int, host: str, port: int, key: str, gate_ids, buses,
                          stop_at: float, idempotency: bool, lat: list, errors: list) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = (f"POST /api/v1/offers HTTP/1.1\r\nhost: {host}:{port}\r\nx-api-key: {key}\r\n"
            "content-type: application/json\r\n")
    try:
        for n, body in enumerate(_bodies(i, gate_ids, buses)):
            if time.perf_counter() >= stop_at or n >= MAX_REQUESTS:
                break
            payload = json.dumps(body).encode()
            extra = f"idempotency-key: bench-{i}-{n}\r\n" if idempotency else ""
            t0 = time.perf_counter()
            writer.write(f"{head}{extra}content-length: {len(payload)}\r\n\r\n".encode()
                         + payload)
            headers = await reader.readuntil(b"\r\n\r\n")
            status = int(headers[9:12])
            m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", headers)
            if m is None:
                raise RuntimeError(f"answer without Content-Length: {headers[:200]!r}")
            answer = await reader.readexactly(int(m.group(1)))
            dt = time.perf_counter() - t0
            if status == 201 and b'"offer_id"' in answer:
                lat.append(dt)
            else:
                errors.append(status)
    finally:
        writer.close()


async def _httpx_connection(i: int, http: httpx.AsyncClient, gate_ids, buses, stop_at: float,
                            idempotency: bool, lat: list, errors: list) -> None:
    for n, body in enumerate(_bodies(i, gate_ids, buses)):
        if time.perf_counter() >= stop_at or n >= MAX_REQUESTS:
            break
        headers = {"Idempotency-Key": f"bench-{i}-{n}"} if idempotency else None
        t0 = time.perf_counter()
        r = await http.post("/api/v1/offers", json=body, headers=headers)
        dt = time.perf_counter() - t0
        if r.status_code == 201:
            lat.append(dt)
        else:
            errors.append(r.status_code)


async def _drive(kind: str, base: str, key: str, gate_ids: list[str], buses: list[int],
                 clients: int, seconds: float, idempotency: bool):
    host, port = base.removeprefix("http://").split(":")
    lat: list[float] = []
    errors: list[int] = []
    stop_at = time.perf_counter() + seconds
    t_start = time.perf_counter()
    if kind == "raw":
        await asyncio.gather(*(
            _raw_connection(i, host, int(port), key, gate_ids, buses, stop_at, idempotency,
                            lat, errors) for i in range(clients)))
    else:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=10,
                                     limits=limits) as http:
            await asyncio.gather(*(
                _httpx_connection(i, http, gate_ids, buses, stop_at, idempotency, lat, errors)
                for i in range(clients)))
    return lat, errors, time.perf_counter() - t_start


def load_process(kind: str, base: str, key: str, gate_ids: list[str], buses: list[int],
                 clients: int, seconds: float, idempotency: bool):
    """Run in a separate process: (latencies s, error statuses, elapsed s)."""
    return asyncio.run(_drive(kind, base, key, gate_ids, buses, clients, seconds,
                              idempotency))


# ---- main ----------------------------------------------------------------------------------------
def start_server(url: str, grid: str, port: int, workers: int
                 ) -> tuple[subprocess.Popen, str]:
    log_path = os.path.join(tempfile.mkdtemp(prefix="localflex-serve-"), "serve.log")
    cmd = [sys.executable, "-c", "from localflex.cli import app; app()", "serve", "--db", url,
           "--grid", grid, "--port", str(port), "--bootstrap", "--no-scheduler",
           "--workers", str(workers)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    return proc, log_path


def huge_body_refusal(host: str, port: int, key: str, size: int = 50 * 2**20
                      ) -> tuple[float, int, int]:
    """Send a ``size``-byte body to POST /offers: (ms to the answer, answer bytes, body
    bytes sent before it came). The body follows the headers as fast as the socket takes it.
    """
    head = (f"POST /api/v1/offers HTTP/1.1\r\nhost: {host}\r\nx-api-key: {key}\r\n"
            f"content-type: application/json\r\ncontent-length: {size}\r\n\r\n").encode()
    chunk = b" " * 65536
    sent = 0
    answer = b""
    with socket.create_connection((host, port), timeout=10) as s:
        t0 = time.perf_counter()
        s.sendall(head)
        s.setblocking(False)
        while b"\r\n\r\n" not in answer:
            try:
                data = s.recv(65536)
                if not data:
                    break
                answer += data
                continue
            except BlockingIOError:
                pass
            if sent < size:
                try:
                    sent += s.send(chunk[: size - sent])
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    time.sleep(0.0005)
            else:
                time.sleep(0.0005)
        dt_ms = (time.perf_counter() - t0) * 1e3
        s.setblocking(True)
        s.settimeout(2)
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", answer)
        want = answer.find(b"\r\n\r\n") + 4 + (int(m.group(1)) if m else 0)
        while len(answer) < want:
            data = s.recv(65536)
            if not data:
                break
            answer += data
    if not answer.startswith(b"HTTP/1.1 413"):
        raise SystemExit(f"50 MB body not refused with 413: {answer[:200]!r}")
    return dt_ms, len(answer), sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=DEFAULT_PG)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--grid", default="1-LV-rural1--2-sw")
    ap.add_argument("--client", choices=["raw", "httpx"], default="raw")
    ap.add_argument("--idempotency", action="store_true",
                    help="send a fresh Idempotency-Key with every offer")
    ap.add_argument("--workers", default="1,2",
                    help="comma-separated API worker counts, one run each (default 1,2)")
    args = ap.parse_args()
    if not 1 <= args.clients <= 256 or not 0 < args.seconds <= 300:
        ap.error("--clients in 1..256 and --seconds in (0, 300]")
    try:
        counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        ap.error(f"--workers {args.workers!r}: expected worker counts like 1,2")
    if not counts or not all(1 <= w <= 16 for w in counts):
        ap.error(f"--workers {args.workers!r}: expected counts in 1..16")

    rates = {}
    for workers in counts:
        url, db_text, cleanup = pick_db(args.db)
        if workers > 1 and not url.startswith("postgresql"):
            raise SystemExit(f"--workers {workers} needs PostgreSQL; {db_text}")
        try:
            rates[workers] = run_and_report(args, url, db_text, workers)
        finally:
            cleanup()
        print(flush=True)
    if len(rates) > 1:
        one = rates[counts[0]]
        print("workers: " + ", ".join(
            f"{w}: {r:,.0f} offers/s ({r / one:.2f}x of {counts[0]})"
            for w, r in rates.items()))


def run_and_report(args: argparse.Namespace, url: str, db_text: str, workers: int) -> float:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc, log_path = start_server(url, args.grid, port, workers)
    print(f"server: pid {proc.pid} on {base}, log {log_path}", flush=True)
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
        httpx.get(f"{base}/api/v1/me", headers={"X-API-Key": key})  # key checked once, cached
        now = datetime.now(UTC)
        start = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        gates = httpx.post(f"{base}/api/v1/gates", headers=op, json={
            "start": start.isoformat(), "n_isps": 96,
            "opens_at": (now - timedelta(minutes=1)).isoformat(), "lead_time_minutes": 15,
        }).json()
        gate_ids = [g["gate_id"] for g in gates]
        buses = [1, 2, 3, 4, 5]

        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            pool.apply(time.sleep, (0,))  # the load process is up before the clock starts
            client_pid = pool.apply(os.getpid)
            load0 = os.getloadavg()
            cpu0 = (tree_cpu_s(proc.pid), proc_cpu_s(client_pid), postgres_cpu_s(),
                    machine_busy_s())
            lat_s, error_codes, elapsed = pool.apply(load_process, (
                args.client, base, key, gate_ids, buses, args.clients, args.seconds,
                args.idempotency))
            cpu1 = (tree_cpu_s(proc.pid), proc_cpu_s(client_pid), postgres_cpu_s(),
                    machine_busy_s())
            load1 = os.getloadavg()
        refusal = huge_body_refusal("127.0.0.1", port, key)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    stored_offers, stored_audit = stored_counts(url)

    lat = np.asarray(lat_s) * 1e3
    rate = lat.size / elapsed
    p50, p99 = (np.percentile(lat, [50, 99]) if lat.size else (float("nan"),) * 2)
    server_s, client_s, pg_s = (cpu1[k] - cpu0[k] for k in range(3))
    busy_s = cpu1[3][0] - cpu0[3][0]
    capacity_s = cpu1[3][1] - cpu0[3][1]
    other_s = max(busy_s - server_s - client_s - pg_s, 0.0)
    idle_s = max(capacity_s - busy_s, 0.0)
    n = max(lat.size + len(error_codes), 1)

    print(f"localflex service load: POST /api/v1/offers, {workers} worker"
          f"{'s' if workers > 1 else ''}")
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
          f"fastapi {version('fastapi')}, uvicorn {version('uvicorn')}, "
          f"SQLAlchemy {version('sqlalchemy')}, psycopg {version('psycopg')}; load average "
          f"{load0[0]:.1f} before / {load1[0]:.1f} after the run (other processes share "
          f"these cores)")
    print(f"inputs: store {db_text}; grid {args.grid}; {args.clients} concurrent keep-alive "
          f"connections ({args.client} client, asyncio, 1 separate process on the same "
          f"machine) for {args.seconds:g} s against {workers} uvicorn worker"
          f"{'s' if workers > 1 else ''} (localflex serve --workers {workers}); one offer per "
          f"request into 96 open gates, audit entry per offer, committed before its 201"
          f"{', a fresh Idempotency-Key per offer' if args.idempotency else ''}")
    codes = {c: error_codes.count(c) for c in sorted(set(error_codes))}
    check = "ok" if stored_offers == stored_audit == lat.size else "MISMATCH"
    print(f"accepted offers: {lat.size} in {elapsed:.1f} s, errors: {len(error_codes)}"
          f"{f' {codes}' if codes else ''}; in the store: {stored_offers} offers, "
          f"{stored_audit} audit entries ({check})")
    print(f"CPU over the run ({capacity_s:.0f} core-s available): server {server_s:.1f} s "
          f"({server_s / n * 1e6:.0f} µs/request), load generator {client_s:.1f} s "
          f"({client_s / n * 1e6:.0f} µs/request), PostgreSQL {pg_s:.1f} s "
          f"({pg_s / n * 1e6:.0f} µs/request), other processes {other_s:.1f} s, "
          f"idle {idle_s:.1f} s")
    print(f"sustained: {rate:,.0f} offers/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"ratio vs target: {rate / TARGET_OFFERS_PER_S:.2f}x of {TARGET_OFFERS_PER_S:.0f} "
          f"offers/s; p99 {p99 / TARGET_P99_MS:.2f}x of the {TARGET_P99_MS:.0f} ms budget")
    print(f"50 MB body: 413 after {refusal[0]:.1f} ms, answer {refusal[1]} bytes, "
          f"{refusal[2] / 2**20:.1f} MB of the body sent before it (target < 100 ms)")
    return rate


if __name__ == "__main__":
    main()
