"""The whole UFTP exchange end to end on loopback: D-Prognosis → FlexRequest → FlexOffer →
FlexOrder → FlexSettlement with every response, DSO and aggregator being the
``shapeshifter_uftp`` package's own services and clients, the market in between."""

from __future__ import annotations

from decimal import Decimal

from shapeshifter_uftp import (
    ContractSettlement,
    ContractSettlementISP,
    ContractSettlementPeriod,
    DPrognosis,
    DPrognosisISP,
    DPrognosisResponse,
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOfferResponse,
    FlexOrder,
    FlexOrderISP,
    FlexOrderResponse,
    FlexOrderSettlement,
    FlexOrderSettlementISP,
    FlexRequest,
    FlexRequestISP,
    FlexRequestResponse,
    FlexSettlement,
    FlexSettlementResponse,
)
from shapeshifter_uftp.uftp import AcceptedRejected, AvailableRequested
from uftp_harness import DAY, FIRST_ISP, MARKET, TZ, ts
from xsdata.models.datatype import XmlDate, XmlDuration

PERIOD = XmlDate.from_date(DAY.date())
PT15M = XmlDuration("PT15M")
N1, N2 = FIRST_ISP, FIRST_ISP + 1


def _flex_request(market, revision: int = 1, cp: str = "trafo:0") -> FlexRequest:
    # the PV-congested transformer: at least 20 kW more consumption in two ISPs
    isps = [FlexRequestISP(disposition=AvailableRequested.REQUESTED, min_power=20_000,
                           max_power=40_000, start=N1, duration=2),
            FlexRequestISP(disposition=AvailableRequested.AVAILABLE, min_power=0,
                           max_power=40_000, start=N1 + 2, duration=2)]
    return FlexRequest(isp_duration=PT15M, time_zone=TZ, period=PERIOD,
                       congestion_point=market.ea(cp), isps=isps, revision=revision,
                       expiration_date_time=ts(3600))


def _flex_offer(market, flex_request_message_id: str | None, power_w: int = 25_000,
                cp: str = "trafo:0") -> FlexOffer:
    option = FlexOfferOption(option_reference="opt-1", price=Decimal("2.5000"),
                             isps=[FlexOfferOptionISP(power=power_w, start=N1, duration=2)])
    return FlexOffer(isp_duration=PT15M, time_zone=TZ, period=PERIOD,
                     congestion_point=market.ea(cp), offer_options=[option],
                     expiration_date_time=ts(3600),
                     flex_request_message_id=flex_request_message_id,
                     unsolicited=None if flex_request_message_id else True)


def _flex_order(market, offer: FlexOffer, reference: str = "ord-1") -> FlexOrder:
    isps = [FlexOrderISP(power=i.power, start=i.start, duration=i.duration)
            for i in offer.offer_options[0].isps]
    return FlexOrder(isp_duration=PT15M, time_zone=TZ, period=PERIOD,
                     congestion_point=offer.congestion_point, isps=isps,
                     flex_offer_message_id=offer.message_id, price=Decimal("2.5"),
                     currency="EUR", order_reference=reference, option_reference="opt-1")


def _flex_settlement(market, reference: str, ordered_w: int, price: str) -> FlexSettlement:
    isps = [FlexOrderSettlementISP(start=n, baseline_power=0, ordered_flex_power=ordered_w,
                                   actual_power=0, delivered_flex_power=ordered_w)
            for n in (N1, N2)]
    order = FlexOrderSettlement(isps=isps, order_reference=reference, period=PERIOD,
                                congestion_point=market.ea("trafo:0"), price=Decimal(price),
                                net_settlement=Decimal(price))
    contract = ContractSettlement(periods=[ContractSettlementPeriod(
        period=PERIOD, isps=[ContractSettlementISP(start=1, reserved_power=0)])])
    return FlexSettlement(flex_order_settlements=[order], contract_settlements=[contract],
                          period_start=PERIOD, period_end=PERIOD, currency="EUR")


def test_uftp_full_exchange(uftp_market):
    m = uftp_market
    dso, agr = m.participants["dso1"], m.participants["agr1"]
    ref = m.messages()

    # 1. D-Prognosis: accepted, answered, relayed to the DSO of trafo:0 (who answers)
    prognosis = DPrognosis(isp_duration=PT15M, time_zone=TZ, period=PERIOD,
                           congestion_point=m.ea("trafo:0"), revision=1,
                           isps=[DPrognosisISP(power=-60_000, start=N1, duration=4)])
    agr.client.send_d_prognosis(prognosis)
    answer = agr.inbox.wait_for(DPrognosisResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    assert answer.d_prognosis_message_id == prognosis.message_id
    assert answer.sender_domain == MARKET and answer.conversation_id == prognosis.conversation_id
    relayed = dso.inbox.wait_for(DPrognosis)
    assert relayed.sender_domain == MARKET and relayed.isps[0].power == -60_000
    assert relayed.message_id != prognosis.message_id

    # 2. FlexRequest from the DSO: two market requests, relayed to agr1 (connected there)
    request = _flex_request(m)
    dso.client.send_flex_request(request)
    answer = dso.inbox.wait_for(FlexRequestResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    requests = m.get("dso1", "/requests").json()
    assert [(r["gate_id"], r["direction"], r["power_kw"]) for r in requests] == [
        (m.gates[0], "down", 20.0), (m.gates[1], "down", 20.0)]
    relayed_request = agr.inbox.wait_for(FlexRequest)
    assert relayed_request.congestion_point == m.ea("trafo:0")
    assert not m.participants["agr2"].inbox.of(FlexRequest)  # agr2 has no connection there

    # 3. FlexOffer from the aggregator, solicited by the relayed request
    offer = _flex_offer(m, relayed_request.message_id)
    offer.conversation_id = relayed_request.conversation_id  # UFTP: a reply continues it
    agr.client.send_flex_offer(offer)
    answer = agr.inbox.wait_for(FlexOfferResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    offers = m.get("agg1", "/offers").json()
    assert [(o["gate_id"], o["bus"], o["direction"], o["max_power_kw"]) for o in offers] == [
        (m.gates[0], m.buses[3], "down", 25.0), (m.gates[1], m.buses[3], "down", 25.0)]
    # 2.5 EUR for 2 × 25 kW × 0.25 h = 12.5 kWh → 200 EUR/MWh
    assert all(abs(o["price_eur_per_mwh"] - 200.0) < 1e-9 for o in offers)
    relayed_offer = dso.inbox.wait_for(FlexOffer)
    assert relayed_offer.flex_request_message_id == request.message_id  # the DSO's own id
    assert relayed_offer.conversation_id == request.conversation_id

    # 4. FlexOrder from the DSO on the relayed offer: awards, relayed to the aggregator
    order = _flex_order(m, relayed_offer)
    order.conversation_id = relayed_offer.conversation_id
    dso.client.send_flex_order(order)
    answer = dso.inbox.wait_for(FlexOrderResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    awards = m.get("dso1", "/awards").json()
    assert sorted((a["gate_id"], a["power_kw"], a["source"]) for a in awards) == [
        (m.gates[0], 25.0, "flex_order"), (m.gates[1], 25.0, "flex_order")]
    assert abs(sum(a["cost_eur"] for a in awards) - 2.5) < 1e-9
    relayed_order = agr.inbox.wait_for(FlexOrder)
    assert relayed_order.flex_offer_message_id == offer.message_id  # the aggregator's own id
    assert relayed_order.order_reference == "ord-1"
    assert relayed_order.conversation_id == request.conversation_id  # one conversation

    # meter data for the first ISP through the REST API (the aggregator's own channel)
    first = next(a for a in awards if a["gate_id"] == m.gates[0])
    r = m.post("agg1", "/meter-data", {"award_id": first["award_id"], "baseline_kw": -40.0,
                                       "metered_kw": -20.0})
    assert r.status_code == 201, r.text

    # 5. FlexSettlement from the DSO: checked against the market's records, then the
    # aggregator gets the market's own FlexSettlement built from its statement
    settlement = _flex_settlement(m, "ord-1", 25_000, "2.5")
    dso.client.send_flex_settlement(settlement)
    answer = dso.inbox.wait_for(FlexSettlementResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    assert [(s.order_reference, str(s.disposition))
            for s in answer.flex_order_settlement_statuses] == [("ord-1", "Accepted")]
    to_agr = agr.inbox.wait_for(FlexSettlement)
    (line,) = to_agr.flex_order_settlements
    assert line.order_reference == "ord-1" and line.price == Decimal("2.5000")
    assert line.net_settlement == line.price and line.baseline_reference == "not-metered"
    by_isp = {i.start: i for i in line.isps}
    assert by_isp[N1].ordered_flex_power == 25_000
    assert (by_isp[N1].baseline_power, by_isp[N1].actual_power) == (-40_000, -20_000)
    assert by_isp[N1].delivered_flex_power == 20_000 and by_isp[N1].power_deficiency == 5_000
    assert by_isp[N2].delivered_flex_power == 0  # not metered yet
    statement = m.get("agg1", "/settlement").json()
    assert abs(statement["total_eur"] - 2.5) < 1e-9

    # the market's log: every outgoing message delivered, every answer stored on it
    m.post("operator", "/uftp/deliver")
    log = [x for x in m.messages() if x["id"] > max((y["id"] for y in ref), default=0)]
    inbound = [(x["type"], x["status"]) for x in log if x["direction"] == "in"]
    assert ("DPrognosis", "accepted") in inbound and ("FlexSettlement", "accepted") in inbound
    assert all(s in ("accepted", "received") for _, s in inbound), inbound
    outgoing = [x for x in log if x["direction"] == "out"]
    assert all(x["status"] == "sent" for x in outgoing), outgoing
    answered = {x["type"]: x["result"] for x in outgoing if x["recipient_domain"] !=
                x["sender_domain"] and x["type"] in ("DPrognosis", "FlexRequest", "FlexOffer",
                                                     "FlexOrder", "FlexSettlement")}
    assert answered == {"DPrognosis": "Accepted", "FlexRequest": "Accepted",
                        "FlexOffer": "Accepted", "FlexOrder": "Accepted",
                        "FlexSettlement": "Accepted"}
