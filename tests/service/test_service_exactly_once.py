"""Never lose, never let in: idempotent submissions and concurrent clients (threads) on one
offer — SQLite (serialised writes) and PostgreSQL (row locks)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from localflex.store.models import Award, IdempotencyRecord, Offer


def test_service_same_idempotency_key_is_applied_once(market):
    body = {"gate_id": market.gates[0], "bus": market.buses[1], "direction": "up",
            "max_power_kw": 10, "price_eur_per_mwh": 50}
    first = market.post("agg1", "/offers", body, idem="offer-1")
    again = market.post("agg1", "/offers", body, idem="offer-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(market.get("agg1", "/offers").json()) == 1
    # the same key for a different request is refused; another party's key space is its own
    other = market.post("agg1", "/offers", {**body, "max_power_kw": 11}, idem="offer-1")
    assert other.status_code == 409 and other.json()["field"] == "Idempotency-Key"
    assert market.post("agg2", "/offers", body, idem="offer-1").status_code == 201
    assert len(market.get("operator", "/offers").json()) == 2


def test_service_concurrent_retries_of_one_key_apply_once(market):
    body = {"gate_id": market.gates[0], "bus": market.buses[1], "direction": "up",
            "max_power_kw": 10, "price_eur_per_mwh": 50}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: market.post("agg1", "/offers", body, idem="k"),
                                range(16)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["offer_id"] for a in answers}) == 1
    with market.svc.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Offer)) == 1
        assert s.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


def test_service_concurrent_flex_orders_never_exceed_the_offer(market):
    offer = market.offer("agg1", kw=10.0).json()["offer_id"]
    market.get("dso1", "/me"), market.get("dso2", "/me")  # warm the key cache

    def order(i: int):
        party = "dso1" if i % 2 else "dso2"
        return market.post(party, "/flex-orders", {"offer_id": offer, "power_kw": 0.75})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(order, range(24)))
    ok = [a for a in answers if a.status_code == 201]
    assert len(ok) == 13  # floor(10 / 0.75)
    assert {a.status_code for a in answers} == {201, 409}
    with market.svc.db.read() as s:
        total = s.scalar(select(func.sum(Award.power_kw)).where(Award.offer_id == offer))
        held = s.get(Offer, offer)
    assert total == pytest.approx(13 * 0.75) and total <= held.max_power_kw
    assert held.awarded_kw == pytest.approx(total)


def test_service_accepted_submission_is_committed_before_the_answer(market):
    r = market.offer("agg1")
    assert r.status_code == 201
    # a separate connection sees it the moment the answer is in
    from localflex.store import Database

    other = Database(market.svc.db.url)
    try:
        with other.read() as s:
            assert s.get(Offer, r.json()["offer_id"]) is not None
    finally:
        other.dispose()
