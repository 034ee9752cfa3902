"""POST /offers on both stores: on PostgreSQL the one-statement, group-committed path
(``offer_intake`` + ``store.offer_writes``), on SQLite the ORM path — the same answers, the
same rows, an audit entry per accepted offer, nothing written for a refused one."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from localflex.store.models import AuditEntry, Gate, IdempotencyRecord, Offer


def _body(m, gate: int = 0, **change):
    return {"gate_id": m.gates[gate], "bus": m.buses[1], "direction": "up",
            "max_power_kw": 10.0, "price_eur_per_mwh": 50.0, **change}


def _counts(m) -> tuple[int, int, int]:
    with m.svc.db.read() as s:
        offers = s.scalar(select(func.count()).select_from(Offer))
        audit = s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "offer", AuditEntry.action == "create"))
        idem = s.scalar(select(func.count()).select_from(IdempotencyRecord))
    return offers, audit, idem


def test_service_offer_rows_and_audit_entry(market):
    body = _body(market, min_power_kw=2.5, der_type="battery", price_eur_per_mwh=-12.25)
    r = market.post("agg1", "/offers", body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["offer_id"].startswith("off_") and out["aggregator_id"] == "agg1"
    assert out["status"] == "open" and out["awarded_kw"] == 0.0
    assert market.get("agg1", f"/offers/{out['offer_id']}").json() == out
    with market.svc.db.read() as s:
        row = s.get(Offer, out["offer_id"])
        entry = s.scalar(select(AuditEntry).where(AuditEntry.entity_id == out["offer_id"]))
    assert (row.bus, row.direction, row.min_power_kw, row.der_type) == (
        body["bus"], "up", 2.5, "battery")
    assert row.price_eur_per_mwh == -12.25 and row.created_at.tzinfo is not None
    assert entry.party_id == "agg1" and entry.action == "create" and entry.entity == "offer"
    assert entry.detail == {"gate_id": body["gate_id"], "max_power_kw": 10.0,
                            "price_eur_per_mwh": -12.25}


@pytest.mark.parametrize("value", [5e-324, 1e-300, 1e6, 0.1 + 0.2])
def test_service_offer_floats_are_stored_exactly(market, value):
    r = market.post("agg1", "/offers", _body(market, max_power_kw=value))
    assert r.status_code == 201, r.text
    with market.svc.db.read() as s:
        assert s.get(Offer, r.json()["offer_id"]).max_power_kw == value


def test_service_refused_offers_write_nothing(market):
    m = market
    cases = [
        (_body(m, gate_id="gate-nope"), 404, "gate_id"),
        (_body(m, bus=999_999), 422, "bus"),
        (_body(m, min_power_kw=50), 422, "min_power_kw"),
        (_body(m, der_type="unicorn"), 422, "der_type"),
    ]
    for body, status, field in cases:
        r = m.post("agg1", "/offers", body)
        assert r.status_code == status, r.text
        assert r.json()["field"] == field
    assert m.post("dso1", "/offers", _body(m)).status_code == 403
    # a gate that is cleared, and one that is closed by the clock
    assert m.post("operator", f"/gates/{m.gates[1]}/clear").status_code == 200
    r = m.post("agg1", "/offers", _body(m, gate=1))
    assert r.status_code == 409 and "cleared" in r.json()["expected"]
    with m.svc.db.read() as s:
        closes = s.get(Gate, m.gates[2]).closes_at
    m.svc.clock = lambda: closes + timedelta(seconds=1)
    r = m.post("agg1", "/offers", _body(m, gate=2))
    assert r.status_code == 409 and "closed" in r.json()["expected"]
    assert _counts(m) == (0, 0, 0)


def test_service_offer_key_replays_after_the_gate_closed(market):
    m = market
    body = _body(m, gate=3)
    first = m.post("agg1", "/offers", body, idem="late-1")
    assert first.status_code == 201
    with m.svc.db.read() as s:
        closes = s.get(Gate, m.gates[3]).closes_at
    m.svc.clock = lambda: closes + timedelta(minutes=1)
    again = m.post("agg1", "/offers", body, idem="late-1")
    assert again.status_code == 201 and again.json() == first.json()
    # the same key for another request: 409 on the key, not on the gate
    other = m.post("agg1", "/offers", {**body, "max_power_kw": 11.0}, idem="late-1")
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key"
    bad = m.post("agg1", "/offers", {**body, "bus": 999_999}, idem="late-1")
    assert bad.status_code == 409 and bad.json()["field"] == "Idempotency-Key"
    assert m.post("agg1", "/offers", body, idem="late-2").status_code == 409  # gate closed
    assert _counts(m) == (1, 1, 1)


def test_service_concurrent_offers_each_get_their_own_answer(market):
    """Many offers at once (on PostgreSQL: committed together): valid ones, refused ones and
    repeats of one key, mixed; each answer is its own, every 201 is stored with its audit
    entry, nothing else is."""
    m = market
    m.get("agg1", "/me"), m.get("agg2", "/me")  # warm the key cache

    def send(i: int):
        party = "agg1" if i % 2 else "agg2"
        if i % 7 == 0:
            return "bad", m.post(party, "/offers", _body(m, gate_id="gate-nope"))
        if i % 5 == 0:
            return "repeat", m.post("agg1", "/offers", _body(m, max_power_kw=3.0),
                                    idem="shared")
        return "ok", m.post(party, "/offers", _body(m, gate=i % 4, max_power_kw=1.0 + i),
                            idem=f"k{i}" if i % 3 == 0 else None)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(120)))
    ok = [r for kind, r in answers if kind == "ok"]
    repeats = [r for kind, r in answers if kind == "repeat"]
    assert all(r.status_code == 201 for r in ok)
    assert all(r.status_code == 404 for kind, r in answers if kind == "bad")
    assert {r.status_code for r in repeats} == {201}
    assert len({r.json()["offer_id"] for r in repeats}) == 1
    assert len({r.json()["offer_id"] for r in ok}) == len(ok)
    n_stored = len(ok) + 1
    n_keys = sum(1 for i in range(120) if i % 7 and i % 5 and i % 3 == 0) + 1
    assert _counts(m) == (n_stored, n_stored, n_keys)
    stored = {o["offer_id"]: o for o in m.get("operator", "/offers").json()}
    for r in (*ok, repeats[0]):
        assert stored[r.json()["offer_id"]] == r.json()
    with m.svc.db.read() as s:
        records = s.scalars(select(IdempotencyRecord)).all()
    for rec in records:  # the stored answer is the answer that was given
        assert stored[json.loads(rec.response)["offer_id"]] == json.loads(rec.response)
