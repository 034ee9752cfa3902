"""What each UFTP message does in the market (paper §5.3: the DSO buys flexibility for its
congestion points from aggregators; Shapeshifter UFTP 3.1 message flow).

The market is the platform between DSOs and aggregators: an aggregator talks to it as to a
DSO, a DSO as to an aggregator. Every message is mapped onto the operations the REST API
uses (``market_ops``), with the sender's party as the caller, so roles and ownership are
checked by the same rules:

=====================  ======  ==========================================================
message                from    effect
=====================  ======  ==========================================================
D-Prognosis            AGR     kept (revision must increase); relayed to the point's DSO
FlexRequest            DSO     one ``post_request`` per Requested ISP (need = the bound of
                               [MinPower, MaxPower] nearest to 0); relayed to every
                               aggregator with a connection at the point; a new revision
                               cancels the open requests of the previous one
FlexOffer              AGR     one ``post_offer`` per ISP of its (single) OfferOption at the
                               aggregator's bus behind the point, price EUR → EUR/MWh over
                               the option's energy, ``min_power_kw`` = MinActivationFactor ×
                               power; relayed to the point's DSO
FlexOfferRevocation    AGR     ``withdraw_offer`` of each (refused once ordered); relayed
FlexOrder              DSO     ``place_flex_order`` per ISP (power × ActivationFactor) on an
                               offer the market relayed to this DSO; Price must equal the
                               pay-as-bid cost; relayed to the aggregator, whose
                               FlexOrderResponse the DSO then receives (``orders``: a
                               Rejected one reverses the awards and their ledger lines)
FlexSettlement         DSO     each FlexOrderSettlement checked against the market's awards
                               and ledger (Accepted / Disputed); the market then sends each
                               aggregator its FlexSettlement built from the market's records
Metering               AGR     meter readings of the connection's awards (``metering``);
                               relayed to the point's DSO
FlexReservationUpdate  DSO     a FLECH reservation, relayed to the ContractID's aggregator
                               (``reservations``)
TestMessage            both    answered Accepted (the connectivity probe)
AgrPortfolioQuery      AGR     answered with the aggregator's registered connections
other CRO messages     both    refused (Rejected): the market is no CRO
*Response              both    stored on the message it answers; a FlexOrderResponse is
                               passed to the DSO (``orders.aggregator_answered``)
=====================  ======  ==========================================================
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from shapeshifter_uftp.uftp import (
    AcceptedDisputed,
    AgrPortfolioQuery,
    AgrPortfolioQueryResponseCongestionPoint,
    AgrPortfolioQueryResponseConnection,
    AgrPortfolioQueryResponseDSOPortfolio,
    AgrPortfolioQueryResponseDSOView,
    AgrPortfolioUpdate,
    AvailableRequested,
    ContractSettlement,
    ContractSettlementISP,
    ContractSettlementPeriod,
    DPrognosis,
    DPrognosisResponse,
    DsoPortfolioQuery,
    DsoPortfolioUpdate,
    FlexOffer,
    FlexOfferResponse,
    FlexOfferRevocation,
    FlexOfferRevocationResponse,
    FlexOrder,
    FlexOrderResponse,
    FlexOrderSettlement,
    FlexOrderSettlementISP,
    FlexOrderSettlementStatus,
    FlexRequest,
    FlexRequestResponse,
    FlexReservationUpdate,
    FlexReservationUpdateResponse,
    FlexSettlement,
    FlexSettlementResponse,
    Metering,
    MeteringResponse,
    RedispatchBy,
    TestMessage,
    TestMessageResponse,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from xsdata.models.datatype import XmlDate

from localflex.domain import InputError
from localflex.service import market_ops
from localflex.service.errors import Forbidden, NotFound
from localflex.service.money import eur
from localflex.service.schemas import FlexOrderIn, OfferIn, RequestIn
from localflex.service.uftp.messaging import (
    Handled,
    Handler,
    Inbound,
    Outgoing,
    acceptance,
    copy_message,
    expand_isps,
    previous_revisions,
    snake_case,
    type_name,
    validated,
)
from localflex.service.uftp.metering import on_metering
from localflex.service.uftp.models import UftpMessage, UftpParticipant
from localflex.service.uftp.orders import aggregator_answered
from localflex.service.uftp.protocol import (
    connection_address,
    cp_of_entity_address,
    entity_address,
    flex_power_w,
    isp_minutes_of,
    isp_number,
    isp_start,
    power_direction,
)
from localflex.service.uftp.reservations import on_flex_reservation_update
from localflex.store.models import Award, CongestionPoint, Gate, LedgerLine, MeterReading
from localflex.store.models import Request as RequestRow
from localflex.store.vocab import GateStatus, RequestStatus

__all__ = ["HANDLERS"]

_EUR_TOL = 0.01
_W_TOL = 1


# ---- helpers ----------------------------------------------------------------------------------
def _cp(inb: Inbound, address: str) -> CongestionPoint:
    cp_id = cp_of_entity_address(inb.state.domain, address)
    cp = inb.session.get(CongestionPoint, cp_id)
    if cp is None:
        raise NotFound("CongestionPoint", address, "a congestion point of the market's grid")
    return cp


def _bus_at(inb: Inbound, cp_id: str) -> int:
    bus = (inb.participant.connections or {}).get(cp_id)
    if bus is None:
        raise Forbidden(inb.caller.role.value, f"act at congestion point {cp_id}, where "
                        f"aggregator {inb.participant.domain} has no registered connection")
    return int(bus)


def _participants(session: Session, role: str, party_id: str | None = None):
    stmt = select(UftpParticipant).where(UftpParticipant.role == role,
                                         UftpParticipant.revoked_at.is_(None))
    if party_id is not None:
        stmt = stmt.where(UftpParticipant.party_id == party_id)
    return list(session.scalars(stmt.order_by(UftpParticipant.domain)))


def _gate_id(session: Session, start: datetime, minutes: int) -> str:
    gate = session.get(Gate, market_ops.gate_id_of(start))
    if gate is None:
        raise NotFound("ISP", start.isoformat(), "an ISP for which the market has a gate")
    if gate.isp_minutes != minutes:
        raise InputError("ISP-Duration", f"PT{minutes}M", f"PT{gate.isp_minutes}M, the "
                         "market's ISP (ISP Duration Rejected)")
    return gate.gate_id


def _not_expired(inb: Inbound, value: str) -> None:
    try:
        expires = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InputError("ExpirationDateTime", value, "an ISO 8601 time with zone") from None
    if expires.tzinfo is None or expires <= inb.svc.now():
        raise InputError("ExpirationDateTime", value, "a time in the future")


def _sent(session: Session, message_type: str, message_id: str | None) -> UftpMessage | None:
    if not message_id:
        return None
    return session.scalar(select(UftpMessage).where(
        UftpMessage.direction == "out", UftpMessage.message_type == message_type,
        UftpMessage.message_id == message_id))


def _period(message) -> tuple:
    return message.period.to_date(), isp_minutes_of(message.isp_duration)


# ---- AGR → market -----------------------------------------------------------------------------
def on_d_prognosis(inb: Inbound) -> Handled:
    m: DPrognosis = inb.message
    cp = _cp(inb, m.congestion_point)
    _bus_at(inb, cp.cp_id)
    period, minutes = _period(m)
    isps = expand_isps(m.isps)
    for n, _ in isps:
        isp_start(period, m.time_zone, minutes, n)
    ref = f"{cp.cp_id}|{period.isoformat()}"
    previous_revisions(inb, "DPrognosis", ref, m.revision)
    forwards = [Outgoing(copy_message(m), p, reference=ref, ref_message_id=m.message_id)
                for p in (_participants(inb.session, "DSO", cp.dso_id) if cp.dso_id else [])]
    detail = {"cp_id": cp.cp_id, "period": period.isoformat(), "revision": m.revision,
              "isps_w": [[n, isp.power] for n, isp in isps]}
    return Handled(response=acceptance(m), forwards=forwards, reference=ref, detail=detail)


def on_flex_offer(inb: Inbound) -> Handled:
    m: FlexOffer = inb.message
    cp = _cp(inb, m.congestion_point)
    bus = _bus_at(inb, cp.cp_id)
    period, minutes = _period(m)
    _not_expired(inb, m.expiration_date_time)
    if m.currency != "EUR":
        raise InputError("Currency", m.currency, "EUR")
    origin = None
    if m.flex_request_message_id:
        sent = _sent(inb.session, "FlexRequest", m.flex_request_message_id)
        if sent is None or sent.recipient_domain != inb.participant.domain:
            raise InputError("FlexRequestMessageID", m.flex_request_message_id,
                             "a FlexRequest the market sent you (Unknown Reference)")
        origin = inb.session.get(UftpMessage, sent.origin_id)
    if len(m.offer_options) != 1:
        raise InputError("OfferOption", len(m.offer_options), "one OfferOption: the market's "
                         "offers are additive, alternatives would be over-committed")
    option = m.offer_options[0]
    isps = [(n, isp.power) for n, isp in expand_isps(option.isps) if isp.power != 0]
    if not isps:
        raise InputError("OfferOption.ISP", 0, "at least one ISP with a non-zero Power")
    total_mwh = sum(abs(p) for _, p in isps) * minutes / 60.0 / 1e6
    price_eur_per_mwh = float(option.price) / total_mwh
    min_factor = float(option.min_activation_factor)
    offers = []
    for n, power_w in isps:
        gate_id = _gate_id(inb.session, isp_start(period, m.time_zone, minutes, n), minutes)
        kw = abs(power_w) / 1000.0
        body = validated(OfferIn, gate_id=gate_id, bus=bus,
                          direction=power_direction(power_w), max_power_kw=kw,
                          min_power_kw=min(kw, min_factor * kw),
                          price_eur_per_mwh=price_eur_per_mwh)
        out = market_ops.post_offer(inb.svc, inb.session, inb.caller, body)
        offers.append({"isp": n, "power_w": power_w, "gate_id": gate_id,
                       "offer_id": out.offer_id})
    forwards = []
    for dso in (_participants(inb.session, "DSO", cp.dso_id) if cp.dso_id else []):
        solicited = origin is not None and origin.sender_domain == dso.domain
        forwards.append(Outgoing(
            copy_message(m, flex_request_message_id=origin.message_id if solicited else None,
                         unsolicited=None if solicited else True),
            dso, ref_message_id=m.message_id))
    detail = {"cp_id": cp.cp_id, "period": period.isoformat(), "time_zone": m.time_zone,
              "isp_minutes": minutes, "option_reference": option.option_reference,
              "min_activation_factor": min_factor, "price_eur": float(option.price),
              "price_eur_per_mwh": price_eur_per_mwh, "offers": offers}
    return Handled(response=acceptance(m), forwards=forwards,
                   ref_message_id=m.flex_request_message_id, detail=detail)


def _own_offer_message(inb: Inbound, message_id: str) -> UftpMessage:
    row = inb.session.scalar(select(UftpMessage).where(
        UftpMessage.direction == "in", UftpMessage.message_type == "FlexOffer",
        UftpMessage.status == "accepted", UftpMessage.message_id == message_id))
    if row is None or row.sender_domain != inb.participant.domain:
        raise InputError("FlexOfferMessageID", message_id,
                         "an accepted FlexOffer of yours (Unknown Reference)")
    if row.detail.get("revoked"):
        raise InputError("FlexOfferMessageID", message_id,
                         "a FlexOffer not revoked (Reference Message Revoked)")
    return row


def on_flex_offer_revocation(inb: Inbound) -> Handled:
    m: FlexOfferRevocation = inb.message
    offer_msg = _own_offer_message(inb, m.flex_offer_message_id)
    for o in offer_msg.detail["offers"]:
        offer = market_ops.get_offer(inb.svc, inb.session, inb.caller, o["offer_id"])
        if offer.awarded_kw > 0:
            raise InputError("FlexOfferMessageID", m.flex_offer_message_id,
                             "a FlexOffer without FlexOrders (an ordered offer stays)")
        market_ops.withdraw_offer(inb.svc, inb.session, inb.caller, o["offer_id"])
    offer_msg.detail = {**offer_msg.detail, "revoked": True}
    forwards = []
    for sent in inb.session.scalars(select(UftpMessage).where(
            UftpMessage.direction == "out", UftpMessage.message_type == "FlexOffer",
            UftpMessage.origin_id == offer_msg.id)):
        dso = inb.session.get(UftpParticipant, (sent.recipient_domain, sent.recipient_role))
        if dso is not None and dso.revoked_at is None:
            forwards.append(Outgoing(FlexOfferRevocation(flex_offer_message_id=sent.message_id),
                                     dso, ref_message_id=sent.message_id))
    return Handled(response=acceptance(m), forwards=forwards,
                   ref_message_id=m.flex_offer_message_id,
                   detail={"offer_ids": [o["offer_id"] for o in offer_msg.detail["offers"]]})


# ---- DSO → market -----------------------------------------------------------------------------
def on_flex_request(inb: Inbound) -> Handled:
    m: FlexRequest = inb.message
    cp = _cp(inb, m.congestion_point)
    period, minutes = _period(m)
    _not_expired(inb, m.expiration_date_time)
    ref = f"{cp.cp_id}|{period.isoformat()}"
    previous = previous_revisions(inb, "FlexRequest", ref, m.revision)
    request_ids = []
    for n, isp in expand_isps(m.isps):
        start = isp_start(period, m.time_zone, minutes, n)
        if isp.disposition != AvailableRequested.REQUESTED:
            continue
        lo, hi = isp.min_power, isp.max_power
        if hi < 0:
            power_w = hi  # at least |MaxPower| less consumption
        elif lo > 0:
            power_w = lo  # at least MinPower more consumption
        else:
            raise InputError(f"ISP[{n}].MinPower..MaxPower", [lo, hi],
                             "a Requested range that excludes 0 (both bounds of one sign)")
        body = validated(RequestIn, gate_id=_gate_id(inb.session, start, minutes),
                          congestion_point=cp.cp_id, direction=power_direction(power_w),
                          power_kw=abs(power_w) / 1000.0)
        request_ids.append(market_ops.post_request(inb.svc, inb.session, inb.caller,
                                                   body).request_id)
    now = inb.svc.now()
    cancelled = []
    for row in previous:
        for rid in row.detail.get("request_ids", []):
            req = inb.session.get(RequestRow, rid)
            gate = inb.session.get(Gate, req.gate_id)
            if req.status == RequestStatus.OPEN and \
                    market_ops.gate_status(gate, now) == GateStatus.OPEN:
                market_ops.cancel_request(inb.svc, inb.session, inb.caller, rid)
                cancelled.append(rid)
    forwards = [Outgoing(copy_message(m), agr, reference=ref, ref_message_id=m.message_id)
                for agr in _participants(inb.session, "AGR")
                if cp.cp_id in (agr.connections or {})]
    detail = {"cp_id": cp.cp_id, "period": period.isoformat(), "revision": m.revision,
              "request_ids": request_ids, "cancelled_request_ids": cancelled}
    return Handled(response=acceptance(m), forwards=forwards, reference=ref, detail=detail)


def on_flex_order(inb: Inbound) -> Handled:
    m: FlexOrder = inb.message
    if not m.flex_offer_message_id:
        raise InputError("FlexOfferMessageID", None, "the FlexOffer ordered (unsolicited "
                         "FlexOrders under bilateral contracts are not supported)")
    sent = _sent(inb.session, "FlexOffer", m.flex_offer_message_id)
    if sent is None:
        raise InputError("FlexOfferMessageID", m.flex_offer_message_id,
                         "a FlexOffer the market sent you (Unknown Reference)")
    if sent.recipient_domain != inb.participant.domain:
        raise Forbidden(inb.caller.role.value, "order a FlexOffer sent to another DSO")
    offer_msg = inb.session.get(UftpMessage, sent.origin_id)
    if offer_msg.status != "accepted" or offer_msg.detail.get("revoked"):
        raise InputError("FlexOfferMessageID", m.flex_offer_message_id,
                         "a FlexOffer that is not revoked (Reference Message Revoked)")
    if inb.session.scalar(select(UftpMessage.id).where(
            UftpMessage.direction == "in", UftpMessage.message_type == "FlexOrder",
            UftpMessage.sender_domain == inb.participant.domain,
            UftpMessage.status == "accepted", UftpMessage.reference == m.order_reference)):
        raise InputError("OrderReference", m.order_reference,
                         "an OrderReference not used before (Duplicate Identifier)")
    offered = offer_msg.detail
    if m.option_reference and m.option_reference != offered["option_reference"]:
        raise InputError("OptionReference", m.option_reference, offered["option_reference"])
    factor = float(m.activation_factor)
    if factor < offered["min_activation_factor"] - 1e-9:
        raise InputError("ActivationFactor", factor,
                         f"at least the offer's {offered['min_activation_factor']:.2f}")
    ordered = {n: isp.power for n, isp in expand_isps(m.isps) if isp.power != 0}
    if ordered != {o["isp"]: o["power_w"] for o in offered["offers"]}:
        raise InputError("ISP", sorted(ordered.items()), "the ISPs of the FlexOffer, unchanged")
    awards = [market_ops.place_flex_order(inb.svc, inb.session, inb.caller, validated(
        FlexOrderIn, offer_id=o["offer_id"], power_kw=factor * abs(o["power_w"]) / 1000.0))
        for o in offered["offers"]]
    # one Price over the ISPs: rounded once, split over the ISP awards by largest remainder
    cost = eur(market_ops.book_as_one_total(inb.session, [a.award_id for a in awards]))
    if abs(cost - float(m.price)) > _EUR_TOL:
        raise InputError("Price", str(m.price), f"{cost:.4f} EUR: the offer's price × "
                         "ActivationFactor (pay-as-bid)")
    agr = inb.session.get(UftpParticipant, (offer_msg.sender_domain, "AGR"))
    if agr is None or agr.revoked_at is not None:
        raise InputError("FlexOfferMessageID", m.flex_offer_message_id,
                         "an offer of an aggregator still registered for UFTP (it must "
                         "accept the order)")
    forwards = [Outgoing(copy_message(m, flex_offer_message_id=offer_msg.message_id), agr,
                         reference=m.order_reference, ref_message_id=offer_msg.message_id)]
    detail = {"award_ids": [a.award_id for a in awards], "cost_eur": cost,
              "offer_message_id": offer_msg.message_id,
              "aggregator_domain": offer_msg.sender_domain, "cp_id": offered["cp_id"],
              "period": offered["period"], "time_zone": offered["time_zone"],
              "isp_minutes": offered["isp_minutes"]}
    # the DSO's FlexOrderResponse waits for the aggregator's (orders.aggregator_answered)
    return Handled(forwards=forwards, reference=m.order_reference,
                   ref_message_id=m.flex_offer_message_id, detail=detail)


def _order_records(session: Session, order: UftpMessage):
    d = order.detail
    awards = [session.get(Award, a) for a in d["award_ids"]]
    paid = eur(session.scalar(select(func.coalesce(func.sum(LedgerLine.amount_cents), 0))
                                .where(LedgerLine.award_id.in_(d["award_ids"]),
                                       LedgerLine.party_id.in_([a.aggregator_id
                                                                for a in awards]))))
    isps = {}
    for a in awards:
        gate = session.get(Gate, a.gate_id)
        _, n = isp_number(gate.isp_start, d["time_zone"], d["isp_minutes"])
        isps[n] = (a, session.scalar(select(MeterReading).where(
            MeterReading.award_id == a.award_id)))
    return paid, isps


def _settlement_of(state_domain: str, order: UftpMessage, paid: float, isps) -> \
        FlexOrderSettlement:
    lines, metered = [], True
    for n in sorted(isps):
        award, reading = isps[n]
        ordered = flex_power_w(award.direction, award.power_kw)
        if reading is None:
            metered = False
            baseline = actual = delivered = deficiency = 0
        else:
            baseline = round(reading.baseline_kw * 1000)
            actual = round(reading.metered_kw * 1000)
            delivered = flex_power_w(award.direction, reading.delivered_kw)
            deficiency = flex_power_w(award.direction,
                                      max(0.0, award.power_kw - reading.delivered_kw))
        lines.append(FlexOrderSettlementISP(
            start=n, baseline_power=baseline, ordered_flex_power=ordered, actual_power=actual,
            delivered_flex_power=delivered, power_deficiency=deficiency))
    d = order.detail
    price = Decimal(f"{paid:.4f}")
    return FlexOrderSettlement(
        isps=lines, order_reference=order.reference,
        period=XmlDate.from_string(d["period"]),
        congestion_point=entity_address(state_domain, d["cp_id"]), price=price,
        penalty=Decimal("0"), net_settlement=price,
        baseline_reference="meter-data" if metered else "not-metered")


def on_flex_settlement(inb: Inbound) -> Handled:
    m: FlexSettlement = inb.message
    if m.currency != "EUR":
        raise InputError("Currency", m.currency, "EUR")
    statuses, by_agr = [], defaultdict(list)
    for s in m.flex_order_settlements:
        order = inb.session.scalar(select(UftpMessage).where(
            UftpMessage.direction == "in", UftpMessage.message_type == "FlexOrder",
            UftpMessage.sender_domain == inb.participant.domain,
            UftpMessage.status == "accepted", UftpMessage.reference == s.order_reference))
        if order is None:
            statuses.append(FlexOrderSettlementStatus(
                order_reference=s.order_reference, disposition=AcceptedDisputed.DISPUTED,
                dispute_reason="Unknown Reference: no accepted FlexOrder of yours has it"))
            continue
        paid, isps = _order_records(inb.session, order)
        ours = {n: flex_power_w(a.direction, a.power_kw) for n, (a, _) in isps.items()}
        theirs = {n: isp.ordered_flex_power for n, isp in expand_isps(s.isps)}
        problems = []
        if abs(float(s.price) - paid) > _EUR_TOL:
            problems.append(f"Price {s.price} differs from the market's {paid:.4f} EUR")
        if set(theirs) != set(ours) or any(abs(theirs[n] - ours[n]) > _W_TOL for n in ours):
            problems.append(f"OrderedFlexPower per ISP {theirs} differs from the market's "
                            f"{ours} W")
        statuses.append(FlexOrderSettlementStatus(
            order_reference=s.order_reference,
            disposition=AcceptedDisputed.DISPUTED if problems else AcceptedDisputed.ACCEPTED,
            dispute_reason="; ".join(problems) or None))
        if not problems:
            by_agr[order.detail["aggregator_domain"]].append(
                _settlement_of(inb.state.domain, order, paid, isps))
    forwards = []
    for domain, settlements in sorted(by_agr.items()):
        agr = inb.session.get(UftpParticipant, (domain, "AGR"))
        if agr is None or agr.revoked_at is not None:
            continue
        placeholder = ContractSettlement(periods=[ContractSettlementPeriod(
            period=m.period_start, isps=[ContractSettlementISP(start=1, reserved_power=0)])])
        forwards.append(Outgoing(FlexSettlement(
            flex_order_settlements=settlements, contract_settlements=[placeholder],
            period_start=m.period_start, period_end=m.period_end, currency="EUR"), agr,
            ref_message_id=m.message_id,
            detail={"order_references": [s.order_reference for s in settlements]}))
    detail = {"orders": {s.order_reference or "": s.disposition.value for s in statuses}}
    return Handled(response=acceptance(m, flex_order_settlement_statuses=statuses),
                   forwards=forwards, detail=detail)


# ---- any role ---------------------------------------------------------------------------------
def on_test_message(inb: Inbound) -> Handled:
    """TestMessage: the connectivity probe; answered Accepted, nothing else happens."""
    return Handled(response=acceptance(inb.message))


def on_agr_portfolio_query(inb: Inbound) -> Handled:
    """AgrPortfolioQuery: answered with what the market registered for the aggregator (its
    connection behind each congestion point, by DSO); the market is no CRO, but it knows
    this portfolio and the response type needs at least one DSO view."""
    m: AgrPortfolioQuery = inb.message
    by_dso: dict[str, list] = defaultdict(list)
    for cp_id, bus in sorted((inb.participant.connections or {}).items()):
        cp = inb.session.get(CongestionPoint, cp_id)
        dsos = _participants(inb.session, "DSO", cp.dso_id) if cp and cp.dso_id else []
        for dso in dsos:
            by_dso[dso.domain].append(AgrPortfolioQueryResponseCongestionPoint(
                entity_address=entity_address(inb.state.domain, cp_id),
                mutex_offers_supported=False, day_ahead_redispatch_by=RedispatchBy.DSO,
                connections=[AgrPortfolioQueryResponseConnection(
                    entity_address=connection_address(inb.state.domain, bus))]))
    if not by_dso:
        raise InputError("connections", inb.participant.connections,
                         "a connection at a congestion point of a DSO that uses UFTP (the "
                         "market operator registers them); the market is no CRO")
    view = AgrPortfolioQueryResponseDSOView(dso_portfolios=[
        AgrPortfolioQueryResponseDSOPortfolio(dso_domain=d, congestion_points=cps)
        for d, cps in sorted(by_dso.items())])
    return Handled(response=acceptance(m, dso_views=[view], time_zone=m.time_zone))


def on_cro_message(inb: Inbound) -> Handled:
    """A Common Reference Operator message: the market is no CRO, refused (Rejected answer)."""
    raise InputError("RecipientDomain", inb.state.domain,
                     f"the domain of your CRO: {type_name(inb.message)} is a CRO message and "
                     "this market is not a Common Reference Operator")


# ---- answers to the market's messages ---------------------------------------------------------
def _answered(inb: Inbound, asked: str) -> UftpMessage:
    m = inb.message
    ref_field = f"{snake_case(asked)}_message_id"
    if hasattr(m, ref_field):
        ref = getattr(m, ref_field)
        sent = _sent(inb.session, asked, ref)
    else:  # TestMessageResponse: linked by its ConversationID
        ref = m.conversation_id
        sent = inb.session.scalar(select(UftpMessage).where(
            UftpMessage.direction == "out", UftpMessage.message_type == asked,
            UftpMessage.conversation_id == ref))
    if sent is None or sent.recipient_domain != inb.participant.domain:
        raise InputError(f"{asked}MessageID", ref,
                         f"a {asked} the market sent you (Unknown Reference)")
    return sent


def on_response(inb: Inbound) -> Handled:
    m = inb.message
    asked = type_name(m).removesuffix("Response")
    sent = _answered(inb, asked)
    detail = {"result": str(m.result), "reason": m.rejection_reason}
    if isinstance(m, FlexSettlementResponse):
        detail["orders"] = {s.order_reference or "": str(s.disposition)
                            for s in m.flex_order_settlement_statuses}
    sent.result, sent.detail = str(m.result), {**sent.detail, "response": detail}
    forwards = []
    if isinstance(m, FlexOrderResponse):
        forwards = aggregator_answered(inb.svc, inb.state, inb.session, sent, m,
                                       inb.svc.now())
    return Handled(status="received", forwards=forwards, ref_message_id=sent.message_id,
                   detail=detail)


_CRO = {DsoPortfolioUpdate: on_cro_message, DsoPortfolioQuery: on_cro_message,
        AgrPortfolioUpdate: on_cro_message}
_ANY = {TestMessage: on_test_message, TestMessageResponse: on_response}

HANDLERS: dict[str, dict[type, Handler]] = {
    "AGR": {DPrognosis: on_d_prognosis, FlexOffer: on_flex_offer,
            FlexOfferRevocation: on_flex_offer_revocation, FlexRequestResponse: on_response,
            FlexOrderResponse: on_response, FlexSettlementResponse: on_response,
            AgrPortfolioQuery: on_agr_portfolio_query, Metering: on_metering,
            FlexReservationUpdateResponse: on_response, **_CRO, **_ANY},
    "DSO": {FlexRequest: on_flex_request, FlexOrder: on_flex_order,
            FlexSettlement: on_flex_settlement, DPrognosisResponse: on_response,
            FlexOfferResponse: on_response, FlexOfferRevocationResponse: on_response,
            FlexReservationUpdate: on_flex_reservation_update, MeteringResponse: on_response,
            **_CRO, **_ANY},
}
