"""The outbox delivers every outgoing UFTP message at least once, with exponential backoff,
across a restart of the market: a real peer endpoint on loopback refuses first, then
accepts; every attempt carries the same signed bytes (one MessageID)."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import create_engine, text
from uftp_harness import GRID, MARKET

from localflex.service import Settings, bootstrap_operator, create_app
from localflex.service.outbox import backoff_s
from localflex.service.uftp import UftpSettings
from localflex.service.uftp.protocol import new_keypair
from support import ThreadServer, free_port, wait_healthy


class FlakyPeer:
    """A UFTP endpoint answering 503 to the first ``failures`` posts, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        self.app = FastAPI()
        self.app.add_api_route("/shapeshifter/api/v3/message", self.receive, methods=["POST"])

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append((time.monotonic(), body))
            n = len(self.received)
        return Response(status_code=503 if n <= self.failures else 200)


def _market(url: str, **outbox):
    app = create_app(Settings(database_url=url, grid_code=GRID, run_scheduler=False))
    app.state.uftp_settings = UftpSettings(domain=MARKET, **outbox)
    return app


def _register(base: str, key: str, endpoint: str) -> str:
    auth = {"Authorization": f"Bearer {key}"}
    r = httpx.post(f"{base}/api/v1/parties", headers=auth, timeout=30,
                   json={"party_id": "agg1", "name": "AGG1", "role": "aggregator"})
    assert r.status_code == 201, r.text
    domain = "agr1.localflex.test"
    r = httpx.post(f"{base}/api/v1/uftp/participants", headers=auth, timeout=30, json={
        "domain": domain, "role": "AGR", "party_id": "agg1", "public_key": new_keypair()[1],
        "endpoint": endpoint})
    assert r.status_code == 201, r.text
    return domain


def _outgoing(base: str, key: str) -> list[dict]:
    r = httpx.get(f"{base}/api/v1/uftp/messages", params={"direction": "out"}, timeout=30,
                  headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()


def _wait(pred, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met")


def test_outbox_backoff_doubles_and_is_capped():
    assert [backoff_s(n, 2.0, 20.0) for n in range(1, 7)] == [2, 4, 8, 16, 20, 20]


@pytest.fixture
def market_url(uftp_db_url, uftp_grid_loaded) -> str:
    return uftp_db_url


def test_outbox_retries_a_failing_peer_with_backoff_until_it_accepts(market_url):
    peer, peer_port, port = FlakyPeer(failures=3), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    app = _market(market_url, retry_base_s=0.2, retry_max_s=5.0, outbox_interval_s=0.05)
    with ThreadServer(peer.app, peer_port), ThreadServer(app, port):
        wait_healthy(base, grid_ready=True)
        key = bootstrap_operator(app.state.service.db).api_key
        domain = _register(base, key, f"http://127.0.0.1:{peer_port}/shapeshifter/api/v3/message")
        r = httpx.post(f"{base}/api/v1/uftp/participants/AGR/{domain}/test", timeout=30,
                       headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 202, r.text
        _wait(lambda: _outgoing(base, key)[0]["status"] == "sent")
        (out,) = _outgoing(base, key)
    assert out["attempts"] == 4 and out["delivered_at"] is not None
    assert out["message_id"] == r.json()["message_id"]
    times = [t for t, _ in peer.received]
    assert len({body for _, body in peer.received}) == 1  # the same signed message each time
    gaps = [b - a for a, b in pairwise(times)]
    assert all(gap >= 0.2 * 2 ** k * 0.95 for k, gap in enumerate(gaps)), gaps


def test_outbox_delivers_after_a_restart_what_was_queued_before(market_url):
    peer, peer_port = FlakyPeer(failures=10**6), free_port()
    endpoint = f"http://127.0.0.1:{peer_port}/shapeshifter/api/v3/message"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with ThreadServer(peer.app, peer_port):
        app = _market(market_url, retry_base_s=0.2, outbox_interval_s=0.05)
        with ThreadServer(app, port):
            wait_healthy(base, grid_ready=True)
            key = bootstrap_operator(app.state.service.db).api_key
            domain = _register(base, key, endpoint)
            r = httpx.post(f"{base}/api/v1/uftp/participants/AGR/{domain}/test", timeout=30,
                           headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 202, r.text
            _wait(lambda: _outgoing(base, key)[0]["attempts"] >= 2)
        # the market is down; the message waits in the store
        (pending,) = _outgoing_db(market_url)
        assert pending["status"] == "pending" and pending["attempts"] >= 2
        peer.failures = len(peer.received)  # the peer recovers
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        app = _market(market_url, retry_base_s=0.2, outbox_interval_s=0.05)
        with ThreadServer(app, port):
            wait_healthy(base, grid_ready=True)
            _wait(lambda: _outgoing(base, key)[0]["status"] == "sent")
            (out,) = _outgoing(base, key)
    assert out["message_id"] == r.json()["message_id"]
    assert out["attempts"] == pending["attempts"] + 1
    assert len({body for _, body in peer.received}) == 1


def _outgoing_db(url: str) -> list[dict]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, attempts, next_attempt_at FROM uftp_messages "
                                 "WHERE direction = 'out'")).mappings().all()
    engine.dispose()
    assert all(r["next_attempt_at"] is not None for r in rows)
    return [dict(r) for r in rows]
