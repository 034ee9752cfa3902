"""The continuous market behind POST /api/v1/orders: trades persist with double-entry ledger
lines, and a restarted service rebuilds the same books from the stored events."""

from __future__ import annotations

import pytest
from service_market import GRID, TestClient

from localflex.service import Settings, create_app


def test_service_orders_trade_and_survive_a_restart(market):
    g = market.gates[0]

    def order(party, side, price, kw, **extra):
        r = market.post(party, "/orders", {"gate_id": g, "direction": "up", "side": side,
                                           "price_eur_per_mwh": price, "quantity_kw": kw,
                                           **extra})
        assert r.status_code == 201, r.text
        return r.json()

    ask = order("agg1", "sell", 40.0, 10.0)
    assert ask["status"] == "resting"
    bid = order("brp1", "buy", 45.0, 4.0)
    assert bid["status"] == "filled" and bid["filled_kw"] == pytest.approx(4.0)
    trades = market.get("brp1", "/trades").json()
    assert len(trades) == 1 and trades[0]["price_eur_per_mwh"] == 40.0  # maker's price
    assert market.get("agg2", "/trades").json() == []
    assert market.get("agg1", "/settlement").json()["total_eur"] == pytest.approx(
        4.0 * 0.25 * 40 / 1000)
    assert market.post("dso1", "/orders", {"gate_id": g, "direction": "up", "side": "sell",
                                           "price_eur_per_mwh": 1, "quantity_kw": 1}
                       ).status_code == 403  # a DSO only buys

    # restart: a new app on the same store replays the events into the same books
    app2 = create_app(Settings(database_url=market.svc.db.url, grid_code=GRID,
                               run_scheduler=False))
    with TestClient(app2) as client2:
        headers = market.h("tso1")
        r = client2.post("/api/v1/orders", headers=headers, json={
            "gate_id": g, "direction": "up", "side": "buy", "price_eur_per_mwh": 50,
            "quantity_kw": 10.0, "order_type": "ioc"})
        assert r.status_code == 201, r.text
        # the resting ask had 6 kW left after the first trade: exactly that fills
        assert r.json()["filled_kw"] == pytest.approx(6.0)
        assert r.json()["status"] == "cancelled"  # IOC remainder
        ask_now = next(o for o in client2.get("/api/v1/orders", headers=market.h("agg1")).json()
                   if o["order_id"] == ask["order_id"])
        assert ask_now["status"] == "filled"
        # closing the gate (clearing) cancels what rests in its books
        client2.post("/api/v1/orders", headers=market.h("agg2"), json={
            "gate_id": g, "direction": "down", "side": "sell", "price_eur_per_mwh": 70,
            "quantity_kw": 3.0})
        assert client2.post(f"/api/v1/gates/{g}/clear",
                            headers=market.h("operator")).status_code == 200
        rest = client2.get("/api/v1/orders", headers=market.h("agg2")).json()
        assert [o["status"] for o in rest] == ["cancelled"]
