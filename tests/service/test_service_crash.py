"""kill -9 mid-load: every submission that got a 2xx is there after a restart, and a
retried in-flight submission (same Idempotency-Key) is applied at most once."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from service_servers import serve_subprocess

from localflex.service import Settings, bootstrap_operator, create_app
from localflex.service.parties import create_party
from support import free_port, wait_healthy


@pytest.mark.slow
def test_service_kill_9_loses_no_accepted_submission(tmp_path, lv_grid_loaded):
    from service_market import TestClient

    url = f"sqlite:///{tmp_path / 'crash.db'}"
    app = create_app(Settings(database_url=url, run_scheduler=False))
    with TestClient(app) as client:  # migrate, store the grid, parties and a gate
        svc = app.state.service
        svc.grid.wait()
        op = bootstrap_operator(svc.db).api_key
        r = client.post("/api/v1/parties", json={"party_id": "agg1", "name": "A",
                        "role": "aggregator"}, headers={"Authorization": f"Bearer {op}"})
        key = r.json()["key"]["api_key"]
        now = datetime.now(UTC)
        r = client.post("/api/v1/gates", headers={"Authorization": f"Bearer {op}"}, json={
            "start": "2030-06-21T12:00:00Z", "opens_at": (now - timedelta(minutes=1)).isoformat()})
        gate = r.json()[0]["gate_id"]
        bus = sorted(svc.grid.bus_ids())[1]
    assert create_party  # the same path as the endpoint

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve_subprocess(url, port, tmp_path / 'server.log')
    acked: dict[str, str] = {}  # idempotency key -> offer id
    sent: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=5) as http:
            i = 0
            while not stop.is_set() and i < 100_000:
                i += 1
                idem = f"offer-{i}"
                sent.append(idem)
                try:
                    r = http.post("/api/v1/offers", headers={"Idempotency-Key": idem}, json={
                        "gate_id": gate, "bus": bus, "direction": "up", "max_power_kw": 1.0 + i,
                        "price_eur_per_mwh": 50})
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 201:
                    acked[idem] = r.json()["offer_id"]

    try:
        wait_healthy(base, proc=proc)
        worker = threading.Thread(target=load)
        worker.start()
        deadline = time.monotonic() + 30
        while len(acked) < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # kill -9, mid-load
        proc.wait(timeout=10)
        stop.set()
        worker.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(acked) >= 50, "the load did not get going"

    proc = serve_subprocess(url, port, tmp_path / 'server.log')
    try:
        wait_healthy(base, proc=proc)
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as http:
            stored = {o["offer_id"] for o in http.get("/api/v1/offers",
                                                      params={"limit": 10_000}).json()}
            assert set(acked.values()) <= stored  # nothing acknowledged was lost
            # the request in flight at the kill: retrying it applies it at most once
            last = sent[-1]
            again = http.post("/api/v1/offers", headers={"Idempotency-Key": last}, json={
                "gate_id": gate, "bus": bus, "direction": "up",
                "max_power_kw": 1.0 + len(sent), "price_eur_per_mwh": 50})
            assert again.status_code == 201
            if last in acked:
                assert again.json()["offer_id"] == acked[last]
            after = http.get("/api/v1/offers", params={"limit": 10_000}).json()
            assert len(after) == len({o["offer_id"] for o in after}) <= len(sent)
            assert len(after) - len(stored) in (0, 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()
