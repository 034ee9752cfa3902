"""Every UFTP 3.x request type, from either role, is answered HTTP 200 and with its own
response type (Accepted where the market does something with it, Rejected with a reason
otherwise); responses nobody asked for are recorded and get no answer. Never a 5xx."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
from shapeshifter_uftp import (
    AgrPortfolioQuery,
    AgrPortfolioUpdate,
    AgrPortfolioUpdateConnection,
    DPrognosis,
    DPrognosisISP,
    DsoPortfolioQuery,
    DsoPortfolioUpdate,
    DsoPortfolioUpdateCongestionPoint,
    DsoPortfolioUpdateConnection,
    FlexOfferRevocation,
    FlexReservationUpdate,
    FlexReservationUpdateISP,
    Metering,
    MeteringISP,
    MeteringProfile,
    TestMessage,
)
from shapeshifter_uftp.uftp import (
    MeteringProfileEnum,
    MeteringUnit,
    RedispatchBy,
    request_response_map,
)
from test_uftp_exchange import (
    N1,
    PERIOD,
    PT15M,
    _flex_offer,
    _flex_order,
    _flex_request,
    _flex_settlement,
)
from test_uftp_security import _signed_xml
from uftp_harness import MARKET, TZ, ts


def _requests(m) -> list:
    ean = "E871000000000000003"
    return [
        TestMessage(),
        DPrognosis(isp_duration=PT15M, time_zone=TZ, period=PERIOD,
                   congestion_point=m.ea("trafo:0"), revision=1,
                   isps=[DPrognosisISP(power=-1000, start=N1, duration=1)]),
        _flex_request(m), _flex_offer(m, None),
        FlexOfferRevocation(flex_offer_message_id=str(uuid.uuid4())),
        _flex_order(m, _offer_with_id(m)),
        FlexReservationUpdate(isp_duration=PT15M, time_zone=TZ, period=PERIOD,
                              congestion_point=m.ea("trafo:0"), contract_id="flech-c1",
                              reference="r",
                              isps=[FlexReservationUpdateISP(power=1000, start=N1)]),
        _flex_settlement(m, "nope", 1000, "1.0"),
        Metering(profiles=[MeteringProfile(profile_type=MeteringProfileEnum.POWER,
                                           unit=MeteringUnit.K_W,
                                           isps=[MeteringISP(start=N1, value=Decimal(1))])],
                 revision=1, isp_duration=PT15M, time_zone=TZ, period=PERIOD, ean=ean),
        DsoPortfolioQuery(time_zone=TZ, period=PERIOD, entity_address=m.ea("trafo:0")),
        DsoPortfolioUpdate(time_zone=TZ, congestion_points=[DsoPortfolioUpdateCongestionPoint(
            entity_address=m.ea("trafo:0"), start_period=PERIOD, mutex_offers_supported=False,
            day_ahead_redispatch_by=RedispatchBy.DSO, connections=[
                DsoPortfolioUpdateConnection(entity_address="ean.871685900000000001",
                                             start_period=PERIOD)])]),
        AgrPortfolioQuery(time_zone=TZ, period=PERIOD),
        AgrPortfolioUpdate(time_zone=TZ, connections=[AgrPortfolioUpdateConnection(
            entity_address="ean.871685900000000001", start_period=PERIOD)]),
    ]


def _offer_with_id(m):
    offer = _flex_offer(m, None)
    offer.message_id = str(uuid.uuid4())
    return offer


def test_uftp_every_request_type_from_either_role_gets_its_response_type(uftp_market):
    m = uftp_market
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    sent = {}
    for name in ("dso1", "agr1"):
        part = m.participants[name]
        for message in _requests(m):
            message.version, message.sender_domain = "3.1.0", part.domain
            message.recipient_domain, message.time_stamp = MARKET, ts()
            message.message_id, message.conversation_id = str(uuid.uuid4()), str(uuid.uuid4())
            wire = _signed_xml(message, part.domain, part.role, part.secret)
            r = httpx.post(m.endpoint, content=wire, headers=headers, timeout=30)
            assert r.status_code == 200, (type(message).__name__, part.role, r.text)
            sent[message.message_id] = (type(message), part.role)
    assert {t for t, _ in sent.values()} == set(request_response_map)  # all 13 types
    log = m.messages()
    inbound = {x["message_id"]: x for x in log if x["direction"] == "in"}
    for message_id, (kind, role) in sent.items():
        row = inbound[message_id]
        assert row["status"] in ("accepted", "rejected"), (kind, role, row)
        answers = [x for x in log if x["direction"] == "out" and x["origin_id"] == row["id"]
                   and x["type"] == request_response_map[kind].__name__]
        # shapeshifter-uftp's AgrPortfolioQueryResponse needs at least one DSO view, which
        # a DSO (not the market's aggregator) has none of: recorded rejected, not answered
        unanswerable = (kind, role) == (AgrPortfolioQuery, "DSO")
        assert len(answers) == (0 if unanswerable else 1), (
            kind.__name__, role, row["status"], row["reason"])
    accepted = {(t.__name__, role) for i, (t, role) in sent.items()
                if inbound[i]["status"] == "accepted"}
    assert ("TestMessage", "DSO") in accepted and ("TestMessage", "AGR") in accepted
    assert ("DPrognosis", "AGR") in accepted and ("FlexRequest", "DSO") in accepted
    assert ("FlexReservationUpdate", "DSO") in accepted
    assert not {k for k, role in accepted if role == "DSO"} & {
        "DPrognosis", "FlexOffer", "Metering", "AgrPortfolioQuery"}
