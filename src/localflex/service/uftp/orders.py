"""FlexOrders as the aggregator answers them (paper §5.3: an award binds the aggregator to
deliver; USEF UFTP 3.1: a FlexOrder is agreed only once the aggregator's FlexOrderResponse
accepts it).

* A DSO's FlexOrder (``handlers.on_flex_order``) is applied at once — its awards reserve the
  offer's volume so nobody else can buy it — but the DSO's FlexOrderResponse waits for the
  aggregator's. ``aggregator_answered`` then either confirms (Accepted to the DSO) or
  ``reverse_awards``: the awards, their activations and meter data and both lines of each of
  their ledger entries are deleted, the offers get their volume back, the DSO's inbound
  order is marked rejected and the DSO receives FlexOrderResponse Rejected with the
  aggregator's reason. A rejected order thus leaves no award and no ledger line (the audit
  log keeps what happened).
* Awards of the gate clearing (``source='clearing'``) go to their aggregator as FlexOrders
  (``clearing_orders``; one per award, OrderReference = the award id) if the aggregator is a
  UFTP participant with a connection at the award's bus; a Rejected answer reverses the
  award the same way and the DSO's requests of the gate get the coverage the remaining
  awards give (``coverage.recompute_coverage``).
* A FlexOrder the outbox gives up delivering (``max_delivery_attempts``) counts as
  rejected by the aggregator (``undeliverable_orders``): reversed, the DSO told.

* A DSO's order the aggregator has not answered when its first ISP starts is reversed
  the same way (``unanswered_orders``): an unconfirmed order cannot be delivered. UFTP sets
  no deadline for a FlexOrderResponse; the start of delivery is the market's.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shapeshifter_uftp.uftp import AcceptedRejected, FlexOrder, FlexOrderISP, FlexOrderResponse
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from xsdata.models.datatype import XmlDate, XmlDuration

from localflex.service.context import ServiceContext
from localflex.service.outbox import deliver_due
from localflex.service.uftp.coverage import recompute_coverage
from localflex.service.uftp.messaging import Outgoing, queue
from localflex.service.uftp.models import UftpMessage, UftpParticipant
from localflex.service.uftp.platform import UftpState
from localflex.service.uftp.protocol import entity_address, flex_power_w, isp_number
from localflex.store import record
from localflex.store.models import Activation, Award, Gate, LedgerLine, MeterReading, Offer
from localflex.store.vocab import AwardSource, OfferStatus

__all__ = ["aggregator_answered", "clearing_orders", "reverse_awards", "send_now",
           "unanswered_orders", "undeliverable_orders"]

_TOL_KW = 1e-6


def reverse_awards(session: Session, award_ids: list[str], *, party_id: str | None,
                   reason: str) -> int:
    """Undo awards: their activations, meter data and ledger entries are deleted and the
    offers get the volume back. Returns the money returned to the buyers (cents)."""
    awards = list(session.scalars(select(Award).where(Award.award_id.in_(award_ids))))
    if not awards:
        return 0
    ids = [a.award_id for a in awards]
    entries = select(LedgerLine.entry_id).where(LedgerLine.award_id.in_(ids))
    session.execute(delete(LedgerLine).where(LedgerLine.entry_id.in_(entries))
                    .execution_options(synchronize_session=False))
    session.execute(delete(Activation).where(Activation.award_id.in_(ids)))
    session.execute(delete(MeterReading).where(MeterReading.award_id.in_(ids)))
    refunded = 0
    for award in awards:
        offer = session.get(Offer, award.offer_id)
        offer.awarded_kw = max(0.0, offer.awarded_kw - award.power_kw)
        if offer.awarded_kw <= _TOL_KW and offer.status == OfferStatus.AWARDED:
            offer.awarded_kw = 0.0
            offer.status = OfferStatus.OPEN.value
        refunded += award.cost_cents
        record(session, party_id, "reverse", "award", award.award_id, offer_id=award.offer_id,
               power_kw=award.power_kw, cost_cents=award.cost_cents, reason=reason[:200])
        session.delete(award)
    session.flush()
    return refunded


def aggregator_answered(svc: ServiceContext, state: UftpState, session: Session,
                        sent: UftpMessage, response: FlexOrderResponse,
                        now: datetime) -> list[Outgoing]:
    """Apply an aggregator's FlexOrderResponse to the FlexOrder ``sent`` by the market:
    the DSO's answer to relay (a DSO's order) and, if Rejected, the awards reversed."""
    accepted = response.result == AcceptedRejected.ACCEPTED
    reason = response.rejection_reason or "rejected by the aggregator"
    origin = session.get(UftpMessage, sent.origin_id) if sent.origin_id else None
    if origin is None:  # an award of the gate clearing
        if not accepted:
            ids = sent.detail.get("award_ids", [])
            scope = {(a.gate_id, a.buyer_id) for a in session.scalars(
                select(Award).where(Award.award_id.in_(ids)))}
            why = f"aggregator {sent.recipient_domain} rejected award {', '.join(ids)}: {reason}"
            reverse_awards(session, ids, party_id=sent.party_id, reason=why)
            for gate_id, dso_id in sorted(scope):
                recompute_coverage(svc, session, gate_id, dso_id, why[:500])
        return []
    if origin.detail.get("aggregator_result"):
        return []  # answered before: the DSO has its answer
    origin.detail = {**origin.detail, "aggregator_result": str(response.result)}
    origin.result = str(response.result)  # an answered order (``unanswered_orders``)
    if not accepted:
        reverse_awards(session, origin.detail.get("award_ids", []), party_id=sent.party_id,
                       reason=f"aggregator {sent.recipient_domain}: {reason}")
        origin.status, origin.reason = "rejected", f"aggregator rejected: {reason}"[:1000]
    dso = session.get(UftpParticipant, (origin.sender_domain, origin.sender_role))
    if dso is None or dso.revoked_at is not None:
        return []
    answer = FlexOrderResponse(
        flex_order_message_id=origin.message_id, result=response.result,
        rejection_reason=None if accepted else f"Rejected by the aggregator: {reason}"[:1000])
    return [Outgoing(answer, dso, reference=origin.reference, ref_message_id=origin.message_id,
                     conversation_id=origin.conversation_id)]


def _offer_message_ids(session: Session, offer_ids: set[str],
                       since: datetime) -> dict[str, str]:
    """offer_id → MessageID of the aggregator's FlexOffer that created it (if any); an offer
    is posted while its gate is open, so only FlexOffers from ``since`` (the earliest
    opening of the gates concerned) are read."""
    out = {}
    rows = session.scalars(select(UftpMessage).where(
        UftpMessage.direction == "in", UftpMessage.message_type == "FlexOffer",
        UftpMessage.status == "accepted", UftpMessage.created_at >= since))
    for row in rows:
        for o in row.detail.get("offers", []):
            if o.get("offer_id") in offer_ids:
                out[o["offer_id"]] = row.message_id
    return out


def _clearing_candidates(session: Session, now: datetime) -> list:
    """(award, gate, participant) of clearing awards of ISPs still to come, at a bus where
    the aggregator has a UFTP connection, not sent as a FlexOrder yet (bounded by the gates
    still to come)."""
    sent_refs = select(UftpMessage.reference).where(
        UftpMessage.direction == "out", UftpMessage.message_type == "FlexOrder",
        UftpMessage.reference.is_not(None))
    rows = session.execute(select(Award, Gate, UftpParticipant).join(
        Gate, Gate.gate_id == Award.gate_id).join(
        UftpParticipant, (UftpParticipant.party_id == Award.aggregator_id)
        & (UftpParticipant.role == "AGR") & UftpParticipant.revoked_at.is_(None)).where(
        Award.source == AwardSource.CLEARING.value, Gate.isp_start > now,
        Award.award_id.not_in(sent_refs)).order_by(Award.award_id)).all()
    # an offer placed outside the aggregator's UFTP connections gets no FlexOrder
    return [r for r in rows if r[0].bus in (r[2].connections or {}).values()]


def clearing_orders(state: UftpState, session: Session, now: datetime) -> int:
    """Queue a FlexOrder for each clearing award of an ISP still to come whose aggregator
    speaks UFTP and has not been sent one yet; the number queued. (Past ISPs are not
    ordered: after a long outage such awards stand without a FlexOrder.)"""
    rows = _clearing_candidates(session, now)
    if not rows:
        return 0
    offer_msgs = _offer_message_ids(session, {a.offer_id for a, _, _ in rows},
                                    min(g.opens_at for _, g, _ in rows))
    n = 0
    done: set[str] = set()
    for award, gate, agr in rows:
        at_bus = sorted(cp for cp, bus in (agr.connections or {}).items() if bus == award.bus)
        if award.award_id in done:
            continue  # the aggregator's party has several AGR participants
        done.add(award.award_id)
        tz = state.settings.time_zone
        period, isp = isp_number(gate.isp_start, tz, gate.isp_minutes)
        offer_msg = offer_msgs.get(award.offer_id)
        order = FlexOrder(
            isp_duration=XmlDuration(f"PT{gate.isp_minutes}M"), time_zone=tz,
            period=XmlDate.from_date(period),
            congestion_point=entity_address(state.domain, at_bus[0]),
            isps=[FlexOrderISP(power=flex_power_w(award.direction, award.power_kw),
                               start=isp, duration=1)],
            flex_offer_message_id=offer_msg, unsolicited=None if offer_msg else True,
            price=Decimal(award.cost_cents).scaleb(-2), currency="EUR",
            order_reference=award.award_id)
        queue(state, session, Outgoing(order, agr, reference=award.award_id,
                                       ref_message_id=offer_msg,
                                       detail={"award_ids": [award.award_id],
                                               "source": "clearing"}),
              conversation_id=None, version="3.1.0", now=now, origin_id=None)
        n += 1
    return n


def _rejected_for_aggregator(svc: ServiceContext, state: UftpState, session: Session,
                             sent: UftpMessage, reason: str, now: datetime) -> None:
    """Treat the FlexOrder ``sent`` as Rejected by its aggregator for ``reason``."""
    response = FlexOrderResponse(flex_order_message_id=sent.message_id,
                                 result=AcceptedRejected.REJECTED, rejection_reason=reason[:900])
    sent.result = str(AcceptedRejected.REJECTED)
    for out in aggregator_answered(svc, state, session, sent, response, now):
        queue(state, session, out, conversation_id=None, version="3.1.0", now=now,
              origin_id=None)


def undeliverable_orders(svc: ServiceContext, state: UftpState, session: Session,
                         now: datetime) -> int:
    """FlexOrders the outbox gave up delivering to the aggregator: reversed as a rejection
    (the DSO of a DSO's order is told); the number reversed."""
    failed = list(session.scalars(select(UftpMessage).where(
        UftpMessage.direction == "out", UftpMessage.message_type == "FlexOrder",
        UftpMessage.status == "failed", UftpMessage.result.is_(None))))
    for sent in failed:
        _rejected_for_aggregator(svc, state, session, sent, "the aggregator could not be reached "
                                 f"({sent.reason or 'no answer'})", now)
    return len(failed)


def _unanswered(session: Session, now: datetime) -> list[UftpMessage]:
    """The market's FlexOrders relaying DSO orders still unanswered by the aggregator when
    the order's first ISP has started."""
    pending = list(session.scalars(select(UftpMessage).where(
        UftpMessage.direction == "in", UftpMessage.message_type == "FlexOrder",
        UftpMessage.status == "accepted", UftpMessage.result.is_(None))))
    out = []
    for origin in pending:
        first = session.scalar(select(func.min(Gate.isp_start)).join(
            Award, Award.gate_id == Gate.gate_id).where(
            Award.award_id.in_(origin.detail.get("award_ids", []))))
        sent = session.scalar(select(UftpMessage).where(
            UftpMessage.direction == "out", UftpMessage.message_type == "FlexOrder",
            UftpMessage.origin_id == origin.id))
        if first is not None and first <= now and sent is not None:
            out.append(sent)
    return out


def unanswered_orders(svc: ServiceContext, state: UftpState, session: Session,
                      now: datetime) -> int:
    """DSO FlexOrders the aggregator has not answered when their first ISP starts: an
    unconfirmed order cannot be delivered, so it is reversed and the DSO told; the number."""
    expired = _unanswered(session, now)
    for sent in expired:
        _rejected_for_aggregator(svc, state, session, sent, "no FlexOrderResponse from the "
                                 "aggregator before the ISP started", now)
    return len(expired)


def send_now(svc: ServiceContext, state: UftpState) -> dict[str, int]:
    """One outbox step: FlexOrders for new clearing awards, the reversal of DSO orders still
    unanswered at delivery, every due delivery, then the reversal of FlexOrders that could
    not be delivered."""
    with state.delivery_lock:
        ordered = expired = 0
        with svc.db.read() as session:  # a write transaction only when there is work
            work = _clearing_candidates(session, svc.now()) or _unanswered(session, svc.now())
        if work:
            with svc.db.write() as session:
                ordered = clearing_orders(state, session, svc.now())
                expired = unanswered_orders(svc, state, session, svc.now())
        counts = deliver_due(svc, state.settings)
        if counts["failed"]:
            with svc.db.write() as session:
                counts["orders_reversed"] = undeliverable_orders(svc, state, session,
                                                                 svc.now())
        return {"orders_queued": ordered, "orders_expired": expired, **counts}
