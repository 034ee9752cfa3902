"""Every UFTP 3.x message type gets its specified answer from the market: TestMessage is
accepted (the connectivity probe), the CRO portfolio messages are refused with their own
Rejected response type, and the market's own TestMessage to a participant is answered."""

from __future__ import annotations

import httpx
from shapeshifter_uftp import (
    AgrPortfolioQuery,
    AgrPortfolioQueryResponse,
    AgrPortfolioUpdate,
    AgrPortfolioUpdateConnection,
    AgrPortfolioUpdateResponse,
    DsoPortfolioQuery,
    DsoPortfolioQueryResponse,
    DsoPortfolioUpdate,
    DsoPortfolioUpdateCongestionPoint,
    DsoPortfolioUpdateConnection,
    DsoPortfolioUpdateResponse,
    ShapeshifterAgrCroClient,
    ShapeshifterDsoCroClient,
    TestMessage,
    TestMessageResponse,
)
from shapeshifter_uftp.uftp import AcceptedRejected, RedispatchBy
from test_uftp_exchange import PERIOD
from uftp_harness import MARKET, TZ


def test_uftp_test_message_answered_by_a_test_message_response(uftp_market):
    m = uftp_market
    for name in ("dso1", "agr1"):
        part = m.participants[name]
        probe = TestMessage()
        part.client.send_test_message(probe)  # raises unless the market answers HTTP 200
        answer = part.inbox.wait_for(TestMessageResponse,
                                     lambda r, p=probe: r.conversation_id == p.conversation_id)
        assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
        assert answer.sender_domain == MARKET and answer.recipient_domain == part.domain
    inbound = [(x["type"], x["status"]) for x in m.messages(direction="in")]
    assert inbound.count(("TestMessage", "accepted")) == 2


def _cro_client(m, part):
    cls = ShapeshifterDsoCroClient if part.role == "DSO" else ShapeshifterAgrCroClient
    return cls(sender_domain=part.domain, signing_key=part.secret, recipient_domain=MARKET,
               recipient_endpoint=m.endpoint, recipient_signing_key=m.platform["public_key"])


def test_uftp_cro_messages_refused_with_their_response_type(uftp_market):
    m = uftp_market
    dso, agr = m.participants["dso1"], m.participants["agr1"]
    sent = [
        (dso, "send_dso_portfolio_query",
         DsoPortfolioQuery(time_zone=TZ, period=PERIOD, entity_address=m.ea("trafo:0")),
         DsoPortfolioQueryResponse),
        (dso, "send_dso_portfolio_update", DsoPortfolioUpdate(time_zone=TZ, congestion_points=[
            DsoPortfolioUpdateCongestionPoint(
                entity_address=m.ea("trafo:0"), start_period=PERIOD, connections=[
                    DsoPortfolioUpdateConnection(entity_address="ean.871685900000000001",
                                                 start_period=PERIOD)],
                mutex_offers_supported=False, day_ahead_redispatch_by=RedispatchBy.DSO)]),
         DsoPortfolioUpdateResponse),
        (agr, "send_agr_portfolio_update", AgrPortfolioUpdate(time_zone=TZ, connections=[
            AgrPortfolioUpdateConnection(entity_address="ean.871685900000000001",
                                         start_period=PERIOD)]),
         AgrPortfolioUpdateResponse),
    ]
    for part, method, message, answer_type in sent:
        getattr(_cro_client(m, part), method)(message)
        answer = part.inbox.wait_for(answer_type)
        assert answer.result == AcceptedRejected.REJECTED
        assert "not a Common Reference Operator" in answer.rejection_reason
        ref = [v for k, v in vars(answer).items() if k.endswith("_query_message_id")
               or k.endswith("_update_message_id")]
        assert ref == [message.message_id]
    rejected = {x["type"] for x in m.messages(direction="in") if x["status"] == "rejected"}
    assert rejected == {"DsoPortfolioQuery", "DsoPortfolioUpdate", "AgrPortfolioUpdate"}


def test_uftp_agr_portfolio_query_answers_the_registered_connections(uftp_market):
    m = uftp_market
    agr = m.participants["agr1"]
    query = AgrPortfolioQuery(time_zone=TZ, period=PERIOD)
    _cro_client(m, agr).send_agr_portfolio_query(query)
    answer = agr.inbox.wait_for(AgrPortfolioQueryResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    assert answer.agr_portfolio_query_message_id == query.message_id
    (view,) = answer.dso_views
    (portfolio,) = view.dso_portfolios
    assert portfolio.dso_domain == m.participants["dso1"].domain
    (cp,) = portfolio.congestion_points
    assert cp.entity_address == m.ea("trafo:0")
    assert [c.entity_address for c in cp.connections] == [
        f"ea1.2024-01.{MARKET}:bus:{m.buses[3]}"]


def test_uftp_market_probes_a_participant_with_a_test_message(uftp_market):
    m = uftp_market
    agr = m.participants["agr1"]
    r = m.post("operator", f"/uftp/participants/AGR/{agr.domain}/test")
    assert r.status_code == 202, r.text
    probe = agr.inbox.wait_for(TestMessage)
    assert probe.conversation_id == r.json()["conversation_id"]
    m.post("operator", "/uftp/deliver")
    for _ in range(100):
        out = next(x for x in m.messages(direction="out")
                   if x["message_id"] == r.json()["message_id"])
        if out["result"]:
            break
        httpx.get(f"{m.base}/health", timeout=5)
    assert (out["status"], out["result"]) == ("sent", "Accepted")
    assert m.post("agg1", f"/uftp/participants/AGR/{agr.domain}/test").status_code == 403
    assert m.post("operator", "/uftp/participants/AGR/nobody.localflex.test/test"
                  ).status_code == 404
