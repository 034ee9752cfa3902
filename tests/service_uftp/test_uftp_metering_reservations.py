"""Metering feeds the settlement (delivered = D-Prognosis baseline vs metered power, per
award); FlexReservationUpdate carries a DSO's FLECH reservation to the aggregators at the
congestion point."""

from __future__ import annotations

from shapeshifter_uftp import (
    DPrognosis,
    DPrognosisISP,
    FlexOffer,
    FlexOrderResponse,
    FlexReservationUpdate,
    FlexReservationUpdateISP,
    FlexReservationUpdateResponse,
    Metering,
    MeteringISP,
    MeteringProfile,
    MeteringResponse,
)
from shapeshifter_uftp.uftp import AcceptedRejected, MeteringProfileEnum, MeteringUnit
from test_uftp_exchange import N1, N2, PERIOD, PT15M, _flex_offer, _flex_order
from uftp_harness import TZ

from localflex.service.uftp.protocol import connection_ean


def _metering(ean: str, power_kw: dict[int, float], revision: int = 1) -> Metering:
    profile = MeteringProfile(profile_type=MeteringProfileEnum.POWER, unit=MeteringUnit.K_W,
                              isps=[MeteringISP(start=n, value=v) for n, v in power_kw.items()])
    return Metering(profiles=[profile], revision=revision, isp_duration=PT15M, time_zone=TZ,
                    period=PERIOD, ean=ean)


def test_uftp_metering_feeds_the_settlement(uftp_market):
    m = uftp_market
    dso, agr = m.participants["dso1"], m.participants["agr1"]
    offer = _flex_offer(m, None)  # 25 kW more consumption in N1 and N2 behind trafo:0
    agr.client.send_flex_offer(offer)
    relayed = dso.inbox.wait_for(FlexOffer)
    order = _flex_order(m, relayed)
    dso.client.send_flex_order(order)
    assert dso.inbox.wait_for(FlexOrderResponse).result == AcceptedRejected.ACCEPTED
    ean = connection_ean(m.buses[3])

    # no D-Prognosis yet: no baseline, refused
    first = _metering(ean, {N1: -35.0, N2: -60.0})
    agr.client.send_metering(first)
    answer = agr.inbox.wait_for(MeteringResponse)
    assert answer.result == AcceptedRejected.REJECTED and "D-Prognosis" in \
        answer.rejection_reason
    assert m.get("agg1", "/meter-data").json() == []
    # an EAN that is not the aggregator's connection
    agr.client.send_metering(_metering(connection_ean(m.buses[5]), {N1: 0.0}))
    answer = agr.inbox.wait_for(MeteringResponse, lambda r: r.metering_message_id !=
                                first.message_id)
    assert answer.result == AcceptedRejected.REJECTED and "EAN" in answer.rejection_reason

    # baseline: 60 kW infeed; metered 35 kW infeed in N1 (25 kW delivered), 60 in N2 (none)
    agr.client.send_d_prognosis(DPrognosis(
        isp_duration=PT15M, time_zone=TZ, period=PERIOD, congestion_point=m.ea("trafo:0"),
        revision=1, isps=[DPrognosisISP(power=-60_000, start=N1, duration=4)]))
    metering = _metering(ean, {N1: -35.0, N2: -60.0, N2 + 1: -50.0})
    agr.client.send_metering(metering)
    answer = agr.inbox.wait_for(MeteringResponse,
                                lambda r: r.metering_message_id == metering.message_id)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    readings = m.get("agg1", "/meter-data").json()
    assert sorted((r["baseline_kw"], r["metered_kw"], r["delivered_kw"]) for r in readings) == [
        (-60.0, -60.0, 0.0), (-60.0, -35.0, 25.0)]
    statement = m.get("agg1", "/settlement").json()
    assert statement["awarded_kwh"] == 12.5 and statement["delivered_kwh"] == 6.25
    relayed = dso.inbox.wait_for(Metering)
    assert relayed.ean == ean and relayed.message_id != metering.message_id
    (row,) = [x for x in m.messages(direction="in") if x["message_id"] == metering.message_id]
    assert row["detail"]["isps_without_awards"] == [N2 + 1]

    # a corrected revision replaces the readings; a stale revision is refused
    corrected = _metering(ean, {N1: -40.0, N2: -50.0}, revision=2)
    agr.client.send_metering(corrected)
    answer = agr.inbox.wait_for(MeteringResponse,
                                lambda r: r.metering_message_id == corrected.message_id)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    readings = m.get("agg1", "/meter-data").json()
    assert sorted(r["delivered_kw"] for r in readings) == [10.0, 20.0]
    assert m.get("agg1", "/settlement").json()["delivered_kwh"] == 7.5
    stale = _metering(ean, {N1: -60.0}, revision=2)
    agr.client.send_metering(stale)
    answer = agr.inbox.wait_for(MeteringResponse,
                                lambda r: r.metering_message_id == stale.message_id)
    assert answer.result == AcceptedRejected.REJECTED and "Revision" in answer.rejection_reason


def _reservation(m, contract: str, power_w: int) -> FlexReservationUpdate:
    return FlexReservationUpdate(
        isp_duration=PT15M, time_zone=TZ, period=PERIOD, congestion_point=m.ea("trafo:0"),
        isps=[FlexReservationUpdateISP(power=power_w, start=N1, duration=2)],
        contract_id=contract, reference="flech-reservation-1")


def test_uftp_flex_reservation_update_carries_the_reservation(uftp_market):
    m = uftp_market
    dso, agr = m.participants["dso1"], m.participants["agr1"]
    update = _reservation(m, "flech-c1", 30_000)
    dso.client.send_flex_reservation_update(update)
    answer = dso.inbox.wait_for(FlexReservationUpdateResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    relayed = agr.inbox.wait_for(FlexReservationUpdate)
    assert relayed.contract_id == "flech-c1" and relayed.isps[0].power == 30_000
    assert not m.participants["agr2"].inbox.of(FlexReservationUpdate)
    (row,) = [x for x in m.messages(direction="in") if x["message_id"] == update.message_id]
    assert row["detail"]["reserved"] == [
        {"isp": N1, "gate_id": m.gates[0], "direction": "down", "reserved_kw": 30.0},
        {"isp": N2, "gate_id": m.gates[1], "direction": "down", "reserved_kw": 30.0}]
    # a ContractID no aggregator at the point holds
    dso.client.send_flex_reservation_update(_reservation(m, "flech-unknown", 10_000))
    answer = dso.inbox.wait_for(FlexReservationUpdateResponse,
                                lambda r: r.result == AcceptedRejected.REJECTED)
    assert "ContractID" in answer.rejection_reason
    # another DSO cannot reserve at dso1's point
    other = m.participants["dso2"]
    other.client.send_flex_reservation_update(_reservation(m, "flech-c2", 10_000))
    answer = other.inbox.wait_for(FlexReservationUpdateResponse)
    assert answer.result == AcceptedRejected.REJECTED
    assert "another DSO" in answer.rejection_reason
