"""Two API worker processes (``localflex serve --workers 2``) on PostgreSQL serve one
continuous market: under concurrent crossing orders through both workers, no order is
matched twice or beyond its quantity, no acknowledged order or trade is lost, the stored
trades are exactly those a single matcher produces from the committed event log, and a key
revoked through one worker is refused by the other. SQLite runs one worker only."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from service_market import PG_ENV
from service_servers import serve_subprocess
from sqlalchemy import select

from localflex.service.books import ContinuousBridge
from localflex.store import Database
from localflex.store.models import LedgerLine, Order, Trade
from support import free_port, pg_schema_url, wait_healthy

TOL_KW = 1e-6
SELLERS, BUYERS = ("agg1", "agg2"), ("brp1", "brp2")


@pytest.fixture
def pg_url():
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (PostgreSQL tests run in CI)")
    yield from pg_schema_url(base)


def _operator_key(log_path) -> str:
    text = log_path.read_text()
    match = re.search(r"API key \(shown once\):\s+(\S+)", text)
    assert match, text
    return match.group(1)


@pytest.mark.slow
@pytest.mark.postgres
def test_service_two_workers_match_each_order_once(pg_url, tmp_path, lv_grid_loaded):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    proc = serve_subprocess(pg_url, port, log, "--workers", "2", "--bootstrap")
    try:
        wait_healthy(base, proc=proc, grid_ready=True)
        op = {"Authorization": f"Bearer {_operator_key(log)}"}
        keys = {}
        with httpx.Client(base_url=base, timeout=30) as http:
            for party in (*SELLERS, *BUYERS):
                role = "aggregator" if party in SELLERS else "brp"
                r = http.post("/api/v1/parties", headers=op,
                              json={"party_id": party, "name": party, "role": role})
                assert r.status_code == 201, r.text
                keys[party] = r.json()["key"]["api_key"]
            r = http.post("/api/v1/gates", headers=op, json={
                "start": "2030-06-21T12:00:00Z", "n_isps": 2,
                "opens_at": "2026-01-01T00:00:00Z"})
            assert r.status_code == 201, r.text
            gates = [g["gate_id"] for g in r.json()]

        acked: list[dict] = []
        pids: set[int] = set()
        lock = threading.Lock()

        def client(n: int) -> None:
            party = (SELLERS + BUYERS)[n % 4]
            side = "sell" if party in SELLERS else "buy"
            for i in range(30):
                # a new connection each time: the kernel spreads them over both workers
                with httpx.Client(base_url=base, timeout=30,
                                  headers={"X-API-Key": keys[party]}) as http:
                    pid = http.get("/api/v1/health").json()["worker_pid"]
                    price = 50 + ((i * 7 + n * 3) % 11) * (1 if side == "buy" else -1)
                    r = http.post("/api/v1/orders", json={
                        "gate_id": gates[i % 2], "direction": "up", "side": side,
                        "price_eur_per_mwh": price, "quantity_kw": 1.0 + (i + n) % 5})
                with lock:
                    pids.add(pid)
                    if r.status_code == 201:
                        acked.append(r.json())
                    else:
                        acked.append({"error": r.status_code, "text": r.text[:300]})

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(client, range(8)))
        errors = [a for a in acked if "error" in a]
        assert errors == []
        assert len(pids) == 2, pids  # both workers served

        db = Database(pg_url)
        try:
            with db.read() as s:
                orders = {o.order_id: o for o in s.scalars(select(Order))}
                trades = list(s.scalars(select(Trade)))
                ledger = list(s.scalars(select(LedgerLine)))
            # no acknowledged order lost, and its answer agrees with the store
            assert {a["order_id"] for a in acked} <= set(orders)
            # no order matched twice or beyond its quantity: its trades add up to its fill
            traded = defaultdict(float)
            for t in trades:
                traded[t.buy_order_id] += t.quantity_kw
                traded[t.sell_order_id] += t.quantity_kw
            assert len(trades) > 20  # the orders did cross
            for oid, o in orders.items():
                assert traded[oid] == pytest.approx(o.filled_kw, abs=TOL_KW), oid
                assert o.filled_kw <= o.quantity_kw + TOL_KW
            assert len({t.trade_id for t in trades}) == len(trades)
            # no trade lost: one matcher replaying the committed events finds the same trades
            replay = ContinuousBridge(db).market(15).trades
            assert sorted((f"trd_15m_{t.trade_id}", t.buy_order_id, t.sell_order_id,
                           round(t.quantity_kw, 9)) for t in replay) == sorted(
                (t.trade_id, t.buy_order_id, t.sell_order_id, round(t.quantity_kw, 9))
                for t in trades)
            # every trade paid once: two ledger lines each, and the ledger sums to zero
            by_trade = defaultdict(int)
            for line in ledger:
                by_trade[line.trade_id] += 1
            assert all(by_trade[t.trade_id] == 2 for t in trades)
            assert sum(line.amount_eur for line in ledger) == pytest.approx(0.0, abs=1e-9)
        finally:
            db.dispose()

        # a key revoked through one worker is refused by every worker at once
        with httpx.Client(base_url=base, timeout=30) as http:
            r = http.post("/api/v1/parties/agg2/keys", headers=op)
            new = r.json()
            for _ in range(6):  # warm both workers' caches with the new key
                with httpx.Client(base_url=base, timeout=30) as fresh:
                    assert fresh.get("/api/v1/me", headers={
                        "X-API-Key": new["api_key"]}).status_code == 200
            r = http.post(f"/api/v1/parties/agg2/keys/{new['key_id']}/revoke", headers=op)
            assert r.status_code == 200, r.text
        time.sleep(1.0)  # the NOTIFY reaches the other worker's listener (~ms)
        refused = set()
        for _ in range(12):
            with httpx.Client(base_url=base, timeout=30) as fresh:
                pid = fresh.get("/api/v1/health").json()["worker_pid"]
                status = fresh.get("/api/v1/me", headers={"X-API-Key": new["api_key"]}
                                   ).status_code
                refused.add((pid, status))
        assert {s for _, s in refused} == {401}, refused
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()


def test_service_serve_refuses_two_workers_on_sqlite(tmp_path):
    from typer.testing import CliRunner

    from localflex.cli import app

    r = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'x.db'}",
                                 "--workers", "2", "--no-scheduler"])
    assert r.exit_code == 2, r.output
    assert "--workers" in r.output and "PostgreSQL" in r.output
