"""A gate of the running market end to end: request, offers, clearing with the engine's own
code, awards, activations, ledger, meter data and settlement — SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from localflex.domain import OFFER_COLUMNS
from localflex.market import CongestionNeeds, clear_dso_single_buyer
from localflex.service.gridstate import day_forecast
from localflex.store.models import LedgerLine


def _post_day(market, *, cap=None):
    gate = market.gates[0]
    body = {"gate_id": gate, "congestion_point": "trafo:0", "direction": "down",
            "power_kw": 40.0}
    if cap is not None:
        body["max_price_eur_per_mwh"] = cap
    r = market.post("dso1", "/requests", body)
    assert r.status_code == 201, r.text
    offers = []
    for i, bus in enumerate(market.buses[1:7]):
        party = "agg1" if i % 2 else "agg2"
        r = market.offer(party, bus=bus, kw=15.0 + i, price=80.0 + 7 * i)
        assert r.status_code == 201, r.text
        offers.append(r.json())
    return gate, offers


def _assert_cents_conserved(market, cleared, exact_eur):
    """Money is integer cents: the ledger sums to exactly 0 cents; the DSO pays the clearing's
    exact total rounded once; each party's statement is the sum of its awards to the cent."""
    with market.svc.db.read() as s:
        assert int(s.scalar(select(func.sum(LedgerLine.amount_cents)))) == 0
        assert all(isinstance(x, int) for x in s.scalars(select(LedgerLine.amount_cents)))
    total = cleared["total_cost_cents"]
    assert total == sum(a["cost_cents"] for a in cleared["awards"])
    assert total == int(exact_eur * 100 + 0.5)  # rounded once, not per award
    dso = market.get("dso1", "/settlement").json()
    assert dso["total_cents"] == -total and dso["total_eur"] == -total / 100
    assert sum(x["amount_cents"] for x in dso["lines"]) == dso["total_cents"]
    for party in ("agg1", "agg2"):
        mine = sum(a["cost_cents"] for a in market.get(party, "/awards").json())
        statement = market.get(party, "/settlement").json()
        assert statement["total_cents"] == mine
        assert all(x["amount_eur"] == x["amount_cents"] / 100 for x in statement["lines"])
    exact = {a["award_id"]: a["power_kw"] * 0.25 * a["price_eur_per_mwh"] / 10
             for a in cleared["awards"]}  # cents
    assert all(abs(a["cost_cents"] - exact[a["award_id"]]) < 1 for a in cleared["awards"])


def test_service_clearing_is_the_engine_clearing(market):
    gate, offers = _post_day(market)
    r = market.post("operator", f"/gates/{gate}/clear")
    assert r.status_code == 200, r.text
    cleared = r.json()
    # the same clearing, called directly with the forecast's needs
    fc = day_forecast(market.svc.grid.code, market.svc.grid.wait() and
                      pd.Timestamp("2030-06-21T12:00Z").to_pydatetime(), 15)
    k = 48
    overload = np.zeros((1, fc.cp_ids.size))
    overload[0, list(fc.cp_ids).index("trafo:0")] = 40.0
    needs = CongestionNeeds(fc.cp_ids, overload, np.maximum(fc.headroom_kw[k:k + 1], 0),
                            fc.relief_kw_per_kw_up[k:k + 1], fc.bus_ids, 0.25)
    frame = pd.DataFrame([{**{c: o.get(c) for c in OFFER_COLUMNS}, "isp": 0, "block_id": ""}
                          for o in offers])
    direct = clear_dso_single_buyer(frame, needs, n_isps=1)
    got = {a["offer_id"]: a["power_kw"] for a in cleared["awards"]}
    want = dict(zip(direct.awards["offer_id"], direct.awards["power_kw"], strict=True))
    assert got.keys() == want.keys() and got
    assert all(got[k] == pytest.approx(want[k], abs=1e-6) for k in got)
    assert abs(cleared["total_cost_eur"] - direct.total_cost_eur) <= 0.005  # whole cents
    assert cleared["gate"]["status"] == "cleared"
    assert market.post("operator", f"/gates/{gate}/clear").status_code == 409

    # awards → activations, statuses, ledger
    awards = market.get("operator", "/awards", gate_id=gate).json()
    acts = market.get("operator", "/activations", gate_id=gate).json()
    assert {a["award_id"] for a in acts} == {a["award_id"] for a in awards}
    assert all(a["start"].startswith("2030-06-21T12:00") for a in acts)
    req = market.get("dso1", "/requests").json()[0]
    assert req["status"] == "covered" and req["covered_kw"] == pytest.approx(40.0)
    statuses = {o["offer_id"]: o["status"] for o in market.get("operator", "/offers").json()}
    assert {statuses[o] for o in got} == {"awarded"}
    assert set(statuses.values()) <= {"awarded", "not_awarded"}
    _assert_cents_conserved(market, cleared, direct.total_cost_eur)

    # meter data: each aggregator reports delivery of its own awards
    for a in market.get("agg1", "/awards").json():
        r = market.post("agg1", "/meter-data", {"award_id": a["award_id"], "baseline_kw": 10.0,
                                                 "metered_kw": 10.0 + a["power_kw"]})
        assert r.status_code == 201, r.text
        assert r.json()["delivered_kw"] == pytest.approx(a["power_kw"])  # DOWN: more load
    stmt = market.get("agg1", "/settlement").json()
    assert stmt["delivered_kwh"] == pytest.approx(stmt["awarded_kwh"])
    assert market.get("agg2", "/settlement").json()["delivered_kwh"] in (None, 0.0)


def test_service_price_cap_and_shortfall(market):
    gate, _ = _post_day(market, cap=90.0)
    cleared = market.post("operator", f"/gates/{gate}/clear").json()
    assert all(a["price_eur_per_mwh"] <= 90.0 for a in cleared["awards"])
    assert cleared["shortfalls"] and "price cap" in cleared["shortfalls"][0]["cause"]
    req = market.get("dso1", "/requests").json()[0]
    assert req["status"] == "partly_covered"
    lights = market.get("dso1", "/traffic-lights", gate_id=gate).json()
    light = next(x for x in lights if x["cp_id"] == "trafo:0")
    assert light["light"] == "red" and "shortfall" in light["reason"]


def test_service_scheduler_clears_at_gate_closure(market):
    gate, _ = _post_day(market)
    svc = market.svc
    assert market.app.state.scheduler.tick() == []  # nothing due yet
    closes = pd.Timestamp(market.get("operator", f"/gates/{gate}").json()["closes_at"])
    svc.clock = lambda: closes.to_pydatetime() + timedelta(seconds=1)
    assert market.get("agg1", f"/gates/{gate}").json()["status"] == "closed"
    assert market.offer("agg1").status_code == 409  # the gate is closed for submissions
    assert market.app.state.scheduler.tick() == [gate]
    assert market.get("agg1", f"/gates/{gate}").json()["status"] == "cleared"
    assert market.get("agg1", "/awards").json()


def test_service_traffic_lights_follow_requests(market):
    gate = market.gates[0]
    before = {x["cp_id"]: x for x in market.get("dso1", "/traffic-lights",
                                                 gate_id=gate).json()}
    trafo = before["trafo:0"]
    over = trafo["forecast_loading_pct"] > trafo["max_loading_pct"]
    assert trafo["light"] == ("red" if over else "green")
    market.post("dso1", "/requests", {"gate_id": gate, "congestion_point": "trafo:0",
                                      "direction": "down", "power_kw": 5.0})
    after = {x["cp_id"]: x for x in market.get("dso1", "/traffic-lights",
                                                gate_id=gate).json()}
    assert after["trafo:0"]["light"] == "yellow"
    assert after["line:0"]["light"] == before["line:0"]["light"]


def test_service_flex_order_awards_from_an_offer(market):
    offer = market.offer("agg1", kw=20.0, price=120.0).json()
    r = market.post("dso1", "/flex-orders", {"offer_id": offer["offer_id"], "power_kw": 12.5})
    assert r.status_code == 201, r.text
    assert r.json()["cost_cents"] == 38 and r.json()["cost_eur"] == 0.38  # 0.375, half up
    r = market.post("dso1", "/flex-orders", {"offer_id": offer["offer_id"], "power_kw": 8.0})
    assert r.status_code == 409 and "power_kw" in r.text  # only 7.5 kW left
    got = market.get("agg1", f"/offers/{offer['offer_id']}").json()
    assert got["awarded_kw"] == pytest.approx(12.5) and got["status"] == "awarded"
