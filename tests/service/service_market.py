"""Helpers of the service tests: a running market (FastAPI app + store) with parties, keys
and gates; the fixtures in conftest.py use them.

``fresh_db_url`` gives a new SQLite file, and a new PostgreSQL schema when
LOCALFLEX_TEST_DATABASE_URL is set (``.ci/run`` sets it). ``market`` starts the app on it
with the scheduler off (tests clear gates explicitly or call ``scheduler.tick()``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from localflex.service import Settings, bootstrap_operator, create_app

with warnings.catch_warnings():
    # starlette's TestClient warns that it wants httpx2 (a third-party deprecation)
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

PG_ENV = "LOCALFLEX_TEST_DATABASE_URL"
GRID = "1-LV-rural1--2-sw"
DAY = datetime(2030, 6, 21, tzinfo=UTC)
ROLES = {"dso2": "dso", "dso1": "dso", "agg1": "aggregator", "agg2": "aggregator",
         "brp1": "brp", "tso1": "tso"}
PARTY_NAMES = ["operator", *ROLES]



@dataclass
class Market:
    client: TestClient
    app: object
    keys: dict[str, str]
    gates: list[str]
    buses: list[int]
    cps: dict[str, list[str]] = field(default_factory=dict)

    @property
    def svc(self):
        return self.app.state.service

    def h(self, party: str, idem: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[party]}"}
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return headers

    def post(self, party: str, path: str, body=None, idem: str | None = None):
        return self.client.post(f"/api/v1{path}", json=body, headers=self.h(party, idem))

    def get(self, party: str, path: str, **params):
        return self.client.get(f"/api/v1{path}", params=params, headers=self.h(party))

    def offer(self, party: str, gate: int = 0, bus: int | None = None, kw: float = 30.0,
              price: float = 100.0, direction: str = "down", **extra):
        body = {"gate_id": self.gates[gate], "bus": self.buses[1] if bus is None else bus,
                "direction": direction, "max_power_kw": kw, "price_eur_per_mwh": price, **extra}
        return self.post(party, "/offers", body)


def start_market(url: str, n_isps: int = 4) -> Iterator[Market]:
    app = create_app(Settings(database_url=url, grid_code=GRID, run_scheduler=False))
    with TestClient(app) as client:
        svc = app.state.service
        svc.grid.wait()
        keys = {"operator": bootstrap_operator(svc.db).api_key}
        market = Market(client, app, keys, [], sorted(svc.grid.bus_ids()))
        # dso2 operates one line, dso1 every other point
        for party, role in ROLES.items():
            body = {"party_id": party, "name": party.upper(), "role": role}
            if party == "dso2":
                body["congestion_points"] = ["line:5"]
            r = market.post("operator", "/parties", body)
            assert r.status_code == 201, r.text
            keys[party] = r.json()["key"]["api_key"]
            market.cps[party] = r.json()["party"]["congestion_points"]
        now = datetime.now(UTC)
        r = market.post("operator", "/gates", {
            "start": (DAY + timedelta(hours=12)).isoformat(), "n_isps": n_isps,
            "opens_at": (now - timedelta(minutes=5)).isoformat()})
        assert r.status_code == 201, r.text
        market.gates = [g["gate_id"] for g in r.json()]
        yield market
