"""A FlexOrder is agreed only as the aggregator answers it: a Rejected FlexOrderResponse
reverses the awards and their ledger lines and the DSO receives the rejection; awards of
the gate clearing reach the aggregator as FlexOrders and are reversed the same way."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from shapeshifter_uftp import (
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOrder,
    FlexOrderISP,
    FlexOrderResponse,
)
from shapeshifter_uftp.uftp import AcceptedRejected
from test_uftp_exchange import PERIOD, PT15M, _flex_offer, _flex_order
from uftp_harness import DAY, FIRST_ISP, TZ, ts


def _ledger(m, party: str) -> list[dict]:
    r = m.get(party, "/settlement")
    assert r.status_code == 200, r.text
    return r.json()["lines"]


def _ordered_offer(m, agr, dso):
    offer = _flex_offer(m, None)
    agr.client.send_flex_offer(offer)
    return dso.inbox.wait_for(FlexOffer, lambda o: o.congestion_point == offer.congestion_point)


def test_uftp_rejected_order_leaves_no_award_and_the_dso_is_told(uftp_market):
    m = uftp_market
    dso, agr = m.participants["dso1"], m.participants["agr1"]
    agr.service.order_rejection = "Requested flexibility no longer available"
    relayed = _ordered_offer(m, agr, dso)
    order = _flex_order(m, relayed, reference="ord-rejected")
    order.conversation_id = relayed.conversation_id
    dso.client.send_flex_order(order)
    answer = dso.inbox.wait_for(FlexOrderResponse)
    assert answer.flex_order_message_id == order.message_id
    assert answer.result == AcceptedRejected.REJECTED
    assert "no longer available" in answer.rejection_reason
    assert agr.inbox.wait_for(FlexOrder).order_reference == "ord-rejected"
    # nothing of the order is left: no award, no activation, no ledger line, volume back
    assert m.get("dso1", "/awards").json() == []
    assert m.get("agg1", "/activations").json() == []
    assert _ledger(m, "dso1") == [] and _ledger(m, "agg1") == []
    offers = m.get("agg1", "/offers").json()
    assert [(o["status"], o["awarded_kw"]) for o in offers] == [("open", 0.0)] * 2
    inbound = [x for x in m.messages(direction="in") if x["type"] == "FlexOrder"]
    assert [(x["status"], x["reason"]) for x in inbound] == [
        ("rejected", "aggregator rejected: Requested flexibility no longer available")]
    # the volume can be ordered again, and this time the aggregator accepts
    agr.service.order_rejection = None
    again = _flex_order(m, relayed, reference="ord-accepted")
    dso.client.send_flex_order(again)
    answer = dso.inbox.wait_for(FlexOrderResponse,
                                lambda r: r.flex_order_message_id == again.message_id)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    assert len(m.get("dso1", "/awards").json()) == 2
    assert abs(sum(x["amount_eur"] for x in _ledger(m, "agg1")) - 2.5) < 1e-9


def _wait(pred, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("condition not met")


def test_uftp_clearing_awards_go_to_the_aggregator_as_flex_orders(uftp_market):
    m = uftp_market
    agr = m.participants["agr1"]
    bus = m.buses[3]  # agr1's connection behind trafo:0
    for gate in m.gates[:2]:
        r = m.post("dso1", "/requests", {"gate_id": gate, "congestion_point": "trafo:0",
                                         "direction": "down", "power_kw": 20.0})
        assert r.status_code == 201, r.text
        r = m.post("agg1", "/offers", {"gate_id": gate, "bus": bus, "direction": "down",
                                       "max_power_kw": 30.0, "price_eur_per_mwh": 100.0})
        assert r.status_code == 201, r.text
    # the first gate's award is accepted by the aggregator
    r = m.post("operator", f"/gates/{m.gates[0]}/clear")
    assert r.status_code == 200, r.text
    (award,) = r.json()["awards"]
    m.post("operator", "/uftp/deliver")
    order = agr.inbox.wait_for(FlexOrder, lambda o: o.order_reference == award["award_id"])
    assert order.congestion_point == m.ea("trafo:0") and order.unsolicited
    assert [(i.start, i.power) for i in order.isps] == [(FIRST_ISP, round(
        award["power_kw"] * 1000))]
    assert abs(float(order.price) - award["cost_eur"]) < 1e-4
    sent = _wait(lambda: [x for x in m.messages(direction="out") if x["type"] == "FlexOrder"
                          and x["result"]])
    assert [x["result"] for x in sent] == ["Accepted"]
    # the second gate's award is rejected: reversed with its ledger lines
    agr.service.order_rejection = "portfolio unavailable"
    r = m.post("operator", f"/gates/{m.gates[1]}/clear")
    (award2,) = r.json()["awards"]
    m.post("operator", "/uftp/deliver")
    agr.inbox.wait_for(FlexOrder, lambda o: o.order_reference == award2["award_id"])
    _wait(lambda: len(m.get("dso1", "/awards").json()) == 1)
    assert [a["award_id"] for a in m.get("dso1", "/awards").json()] == [award["award_id"]]
    lines = _ledger(m, "agg1")
    assert {x["award_id"] for x in lines} == {award["award_id"]}
    m.post("operator", "/uftp/deliver")  # nothing new is ordered twice
    assert len(agr.inbox.of(FlexOrder)) == 2
    # the DSO's request of the second gate is no longer covered; the first one still is
    requests = {r["gate_id"]: r for r in m.get("dso1", "/requests").json()}
    assert (requests[m.gates[0]]["status"], requests[m.gates[0]]["covered_kw"]) == (
        "covered", 20.0)
    assert (requests[m.gates[1]]["status"], requests[m.gates[1]]["covered_kw"]) == (
        "partly_covered", 0.0)


def test_uftp_order_the_aggregator_cannot_receive_is_reversed(uftp_market):
    m = uftp_market
    dso, agr = m.participants["dso1"], m.participants["agr1"]
    relayed = _ordered_offer(m, agr, dso)
    agr.service.stop()  # the aggregator's endpoint goes away
    state = m.app.state.uftp
    state.settings = state.settings.model_copy(update={"max_delivery_attempts": 1})
    order = _flex_order(m, relayed, reference="ord-unreachable")
    dso.client.send_flex_order(order)
    m.post("operator", "/uftp/deliver")
    answer = dso.inbox.wait_for(FlexOrderResponse)
    assert answer.flex_order_message_id == order.message_id
    assert answer.result == AcceptedRejected.REJECTED
    assert "could not be reached" in answer.rejection_reason
    assert m.get("dso1", "/awards").json() == [] and _ledger(m, "agg1") == []


def test_uftp_order_unanswered_at_delivery_is_reversed(uftp_market):
    m = uftp_market
    dso, agr = m.participants["dso1"], m.participants["agr1"]
    relayed = _ordered_offer(m, agr, dso)
    agr.service.answer_orders = False
    order = _flex_order(m, relayed, reference="ord-silent")
    dso.client.send_flex_order(order)
    agr.inbox.wait_for(FlexOrder)
    m.post("operator", "/uftp/deliver")
    assert len(m.get("dso1", "/awards").json()) == 2  # pending: the awards hold the volume
    assert not dso.inbox.of(FlexOrderResponse)
    clock = m.svc.clock
    m.svc.clock = lambda: DAY + timedelta(hours=12, minutes=1)  # the first ISP has started
    try:
        r = m.post("operator", "/uftp/deliver")  # (or the background sender does it)
        assert r.status_code == 200, r.text
        dso.inbox.wait_for(FlexOrderResponse)
    finally:
        m.svc.clock = clock
    answer = dso.inbox.wait_for(FlexOrderResponse)
    assert answer.result == AcceptedRejected.REJECTED
    assert "before the ISP started" in answer.rejection_reason
    assert m.get("dso1", "/awards").json() == [] and _ledger(m, "agg1") == []


def test_uftp_clearing_award_on_a_uftp_offer_names_that_offer(uftp_market):
    m = uftp_market
    dso, agr = m.participants["dso1"], m.participants["agr1"]
    offer = _flex_offer(m, None)
    agr.client.send_flex_offer(offer)
    dso.inbox.wait_for(FlexOffer)
    r = m.post("dso1", "/requests", {"gate_id": m.gates[0], "congestion_point": "trafo:0",
                                     "direction": "down", "power_kw": 20.0})
    assert r.status_code == 201, r.text
    r = m.post("operator", f"/gates/{m.gates[0]}/clear")
    (award,) = r.json()["awards"]
    m.post("operator", "/uftp/deliver")
    order = agr.inbox.wait_for(FlexOrder, lambda o: o.order_reference == award["award_id"])
    assert order.flex_offer_message_id == offer.message_id and not order.unsolicited


def test_uftp_flex_order_price_is_split_over_its_isps_to_the_cent(uftp_market):
    """One Price over three ISPs (0.0075 EUR each): booked as the total rounded once (2 cents),
    split by largest remainder — not 1 cent per ISP (3 cents)."""
    m = uftp_market
    dso, agr = m.participants["dso1"], m.participants["agr1"]
    option = FlexOfferOption(option_reference="opt-1", price=Decimal("0.0225"), isps=[
        FlexOfferOptionISP(power=25_000, start=FIRST_ISP, duration=3)])
    offer = FlexOffer(isp_duration=PT15M, time_zone=TZ, period=PERIOD,
                      congestion_point=m.ea("trafo:0"), offer_options=[option],
                      expiration_date_time=ts(3600), unsolicited=True)
    agr.client.send_flex_offer(offer)
    relayed = dso.inbox.wait_for(FlexOffer)
    order = FlexOrder(isp_duration=PT15M, time_zone=TZ, period=PERIOD,
                      congestion_point=relayed.congestion_point,
                      isps=[FlexOrderISP(power=25_000, start=FIRST_ISP, duration=3)],
                      flex_offer_message_id=relayed.message_id, price=Decimal("0.0225"),
                      currency="EUR", order_reference="ord-split", option_reference="opt-1")
    dso.client.send_flex_order(order)
    answer = dso.inbox.wait_for(FlexOrderResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    awards = m.get("dso1", "/awards").json()
    assert len(awards) == 3 and sorted(a["cost_cents"] for a in awards) == [0, 1, 1]
    dso_lines, agg_lines = _ledger(m, "dso1"), _ledger(m, "agg1")
    assert sum(x["amount_cents"] for x in dso_lines) == -2
    assert sum(x["amount_cents"] for x in agg_lines) == 2
    by_award = {x["award_id"]: x["amount_cents"] for x in agg_lines}
    assert by_award == {a["award_id"]: a["cost_cents"] for a in awards}
