"""UFTP security on loopback: replayed and stale messages, wrong signatures and unknown
senders are refused before anything is applied; a participant acts only for its party."""

from __future__ import annotations

import uuid

import httpx
import pytest
from shapeshifter_uftp import (
    DPrognosis,
    DPrognosisISP,
    DPrognosisResponse,
    FlexOffer,
    FlexOfferResponse,
    FlexOrderResponse,
    FlexRequestResponse,
    ShapeshifterAgrDsoClient,
    ShapeshifterDsoAgrClient,
    SignedMessage,
    transport,
)
from shapeshifter_uftp.exceptions import ClientTransportException
from shapeshifter_uftp.uftp import AcceptedRejected
from test_uftp_exchange import PERIOD, PT15M, _flex_offer, _flex_order, _flex_request
from uftp_harness import FIRST_ISP, MARKET, TZ, ts

from localflex.service.uftp.protocol import new_keypair


def _prognosis(market, revision: int = 1, **headers) -> DPrognosis:
    return DPrognosis(isp_duration=PT15M, time_zone=TZ, period=PERIOD,
                      congestion_point=market.ea("trafo:0"), revision=revision,
                      isps=[DPrognosisISP(power=-50_000, start=FIRST_ISP, duration=4)],
                      **headers)


def _signed_xml(message, domain: str, role: str, secret: str) -> bytes:
    """What a shapeshifter client puts on the wire, built with the package's transport."""
    sealed = transport.seal_message(message, secret)
    envelope = SignedMessage(sender_domain=domain, sender_role=role, body=sealed)
    return transport.to_xml(envelope).encode()


def _inbound(market, message_id: str) -> list[dict]:
    return [x for x in market.messages(direction="in") if x["message_id"] == message_id]


def _status(exc_info) -> int:
    return exc_info.value.response.status_code


def test_uftp_replay_and_stale_timestamp_rejected(uftp_market):
    m = uftp_market
    agr = m.participants["agr1"]
    message = _prognosis(m, version="3.1.0", sender_domain=agr.domain, recipient_domain=MARKET,
                         time_stamp=ts(), message_id=str(uuid.uuid4()),
                         conversation_id=str(uuid.uuid4()))
    wire = _signed_xml(message, agr.domain, "AGR", agr.secret)
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    first = httpx.post(m.endpoint, content=wire, headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    agr.inbox.wait_for(DPrognosisResponse)
    again = httpx.post(m.endpoint, content=wire, headers=headers, timeout=30)
    assert again.status_code == 409 and "replayed" in again.text
    assert len(_inbound(m, message.message_id)) == 1

    # a new message re-using the MessageID (same sender) is a replay too
    reused = _prognosis(m, revision=2, message_id=message.message_id)
    with pytest.raises(ClientTransportException) as exc:
        agr.client.send_d_prognosis(reused)
    assert _status(exc) == 409

    # a TimeStamp an hour old or ahead is refused, nothing recorded
    for delta_s in (-3600, 3600):
        stale = _prognosis(m, revision=3, time_stamp=ts(delta_s))
        with pytest.raises(ClientTransportException) as exc:
            agr.client.send_d_prognosis(stale)
        assert _status(exc) == 409 and "TimeStamp" in exc.value.response.text
        assert _inbound(m, stale.message_id) == []

    # a revision that does not increase is answered Rejected (and recorded as such)
    same = _prognosis(m, revision=1)
    agr.client.send_d_prognosis(same)
    answer = agr.inbox.wait_for(DPrognosisResponse,
                                lambda a: a.d_prognosis_message_id == same.message_id)
    assert answer.result == AcceptedRejected.REJECTED
    assert "Subordinate Sequence Number" in answer.rejection_reason
    assert [x["status"] for x in _inbound(m, same.message_id)] == ["rejected"]


def test_uftp_bad_signature_and_unknown_sender_rejected(uftp_market):
    m = uftp_market
    agr = m.participants["agr1"]
    other_secret, _ = new_keypair()

    def client(domain, secret, cls=ShapeshifterAgrDsoClient):
        return cls(sender_domain=domain, signing_key=secret, recipient_domain=MARKET,
                   recipient_endpoint=m.endpoint,
                   recipient_signing_key=m.platform["public_key"])

    forged = _prognosis(m)
    with pytest.raises(ClientTransportException) as exc:  # agr1's name, another key
        client(agr.domain, other_secret).send_d_prognosis(forged)
    assert _status(exc) == 401

    # a valid signature over a tampered body
    message = _prognosis(m, version="3.1.0", sender_domain=agr.domain, recipient_domain=MARKET,
                         time_stamp=ts(), message_id=str(uuid.uuid4()),
                         conversation_id=str(uuid.uuid4()))
    sealed = bytearray(transport.seal_message(message, agr.secret))
    sealed[-30] ^= 0x01
    envelope = SignedMessage(sender_domain=agr.domain, sender_role="AGR", body=bytes(sealed))
    r = httpx.post(m.endpoint, content=transport.to_xml(envelope).encode(), timeout=30,
                   headers={"Content-Type": "text/xml; charset=utf-8"})
    assert r.status_code == 401

    with pytest.raises(ClientTransportException) as exc:  # nobody registered this domain
        client("stranger.localflex.test", other_secret).send_d_prognosis(_prognosis(m))
    assert _status(exc) == 419
    # agr1's key does not make it a DSO: (domain, role) is what is registered
    with pytest.raises(ClientTransportException) as exc:
        client(agr.domain, agr.secret, ShapeshifterDsoAgrClient).send_flex_request(
            _flex_request(m))
    assert _status(exc) == 419
    assert [x for x in m.messages(direction="in")] == []
    assert m.get("dso1", "/requests").json() == []


def test_uftp_participant_acts_only_for_its_party(uftp_market):
    m = uftp_market
    dso1, dso2 = m.participants["dso1"], m.participants["dso2"]
    agr1, agr2 = m.participants["agr1"], m.participants["agr2"]

    # dso2 asks for flexibility at trafo:0, which dso1 operates
    request = _flex_request(m)
    dso2.client.send_flex_request(request)
    answer = dso2.inbox.wait_for(FlexRequestResponse)
    assert answer.result == AcceptedRejected.REJECTED
    assert answer.rejection_reason.startswith("Unauthorized")
    assert m.get("dso2", "/requests").json() == []

    # agr2 offers at trafo:0, where it has no registered connection
    offer = _flex_offer(m, None)
    agr2.client.send_flex_offer(offer)
    answer = agr2.inbox.wait_for(FlexOfferResponse)
    assert answer.result == AcceptedRejected.REJECTED
    assert answer.rejection_reason.startswith("Unauthorized")
    assert m.get("agg2", "/offers").json() == []

    # agr1's offer is relayed to dso1; dso2 cannot order it
    agr1.client.send_flex_offer(_flex_offer(m, None))
    assert agr1.inbox.wait_for(FlexOfferResponse).result == AcceptedRejected.ACCEPTED
    relayed = dso1.inbox.wait_for(FlexOffer)
    assert not dso2.inbox.of(FlexOffer)
    dso2.client.send_flex_order(_flex_order(m, relayed, reference="steal-1"))
    answer = dso2.inbox.wait_for(FlexOrderResponse)
    assert answer.result == AcceptedRejected.REJECTED
    assert answer.rejection_reason.startswith("Unauthorized")
    assert m.get("operator", "/awards").json() == []

    # an aggregator sending a DSO's message is refused (and recorded as refused)
    stray = _flex_request(m)
    for key, value in {"version": "3.1.0", "sender_domain": agr1.domain, "time_stamp": ts(),
                       "recipient_domain": MARKET, "message_id": str(uuid.uuid4()),
                       "conversation_id": str(uuid.uuid4())}.items():
        setattr(stray, key, value)
    r = httpx.post(m.endpoint, content=_signed_xml(stray, agr1.domain, "AGR", agr1.secret),
                   headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
    assert r.status_code == 200, r.text
    log = m.messages(direction="in")
    (row,) = [x for x in log if x["message_id"] == stray.message_id]
    assert row["status"] == "rejected" and "Invalid Message" in row["reason"]

    # registration: a participant's role must match its party's; only the operator registers
    body = {"domain": "x.localflex.test", "role": "AGR", "party_id": "dso1",
            "public_key": agr1.public, "endpoint": "http://127.0.0.1:9/x"}
    assert m.post("operator", "/uftp/participants", body).status_code == 422
    body["party_id"] = "agg1"
    assert m.post("agg1", "/uftp/participants", body).status_code == 403
