"""The DSO market's operations: gates, requests, offers, flex orders, awards, activations,
meter data and settlement statements (paper §5.3: the DSO as single buyer; §6.2 no coupling).

Every function takes the caller and checks its role and its ownership of what it touches:
an aggregator sees and changes only its own offers, awards, activations and meter data; a
DSO posts requests only for the congestion points it operates and sees only its own requests
and awards; the market operator sees everything. An id the caller may not see is answered
as if it did not exist (404). Writes run in the caller's transaction (``run_write``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from localflex.domain import DerType, Direction, InputError, Purpose, Role
from localflex.service.auth import Caller, require_role
from localflex.service.context import ServiceContext, new_id
from localflex.service.errors import Conflict, Forbidden, NotFound
from localflex.service.money import cents, eur, split_cents
from localflex.service.schemas import (
    ActivationOut,
    AwardOut,
    FlexOrderIn,
    GateIn,
    GateOut,
    LedgerLineOut,
    MeterReadingIn,
    MeterReadingOut,
    OfferIn,
    OfferOut,
    RequestIn,
    RequestOut,
    SettlementOut,
)
from localflex.store import record
from localflex.store.models import (
    Activation,
    Award,
    CongestionPoint,
    Gate,
    LedgerLine,
    MeterReading,
    Offer,
    Party,
    Request,
)
from localflex.store.vocab import AwardSource, GateStatus, OfferStatus, RequestStatus

__all__ = [
    "activation_for",
    "add_payment",
    "book_as_one_total",
    "check_offer",
    "create_gates",
    "gate_out",
    "gate_status",
    "get_offer",
    "list_activations",
    "list_awards",
    "list_gates",
    "list_meter_data",
    "list_offers",
    "list_requests",
    "offer_audit_detail",
    "offer_out",
    "offer_values",
    "open_gate",
    "place_flex_order",
    "post_meter_reading",
    "post_offer",
    "post_request",
    "request_out",
    "settlement",
    "withdraw_offer",
]

_DER_TYPES = frozenset({*(d.value for d in DerType), "mixed"})
_TOL_KW = 1e-9


# ---- gates ----------------------------------------------------------------------------------
def gate_status(gate: Gate, now: datetime) -> GateStatus:
    if gate.status == GateStatus.CLEARED:
        return GateStatus.CLEARED
    if now < gate.opens_at:
        return GateStatus.SCHEDULED
    return GateStatus.OPEN if now < gate.closes_at else GateStatus.CLOSED


def gate_out(gate: Gate, now: datetime) -> GateOut:
    return GateOut(
        gate_id=gate.gate_id, isp_start=gate.isp_start,
        isp_end=gate.isp_start + timedelta(minutes=gate.isp_minutes),
        isp_minutes=gate.isp_minutes, opens_at=gate.opens_at, closes_at=gate.closes_at,
        status=gate_status(gate, now).value, cleared_at=gate.cleared_at,
        clearing_summary=gate.clearing_summary,
    )


def gate_id_of(isp_start: datetime) -> str:
    return "gate-" + isp_start.strftime("%Y%m%dT%H%MZ")


def create_gates(svc: ServiceContext, session: Session, caller: Caller,
                 body: GateIn) -> list[GateOut]:
    """One gate per ISP of ``body``; closure ``lead_time_minutes`` before the ISP starts."""
    require_role(caller, "create gates", Role.MARKET_OPERATOR)
    isp = body.isp_minutes
    if isp % 15 or 1440 % isp:
        raise InputError("isp_minutes", isp, "a multiple of 15 that divides 1440 (15, 30, 60…)")
    start = body.start.astimezone(svc.now().tzinfo)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if (start - midnight).total_seconds() % (60 * isp):
        raise InputError("start", body.start.isoformat(),
                         f"an ISP start on the {isp}-minute grid of the UTC day")
    now = svc.now()
    opens_at = body.opens_at.astimezone(now.tzinfo) if body.opens_at else now
    gates = []
    for k in range(body.n_isps):
        isp_start = start + timedelta(minutes=k * isp)
        closes_at = isp_start - timedelta(minutes=body.lead_time_minutes)
        if opens_at >= closes_at:
            raise InputError("opens_at", opens_at.isoformat(),
                             f"before the gate closure {closes_at.isoformat()}")
        gate_id = gate_id_of(isp_start)
        if session.get(Gate, gate_id) is not None:
            raise Conflict("start", isp_start.isoformat(), "an ISP that has no gate yet")
        gate = Gate(gate_id=gate_id, isp_start=isp_start, isp_minutes=isp, opens_at=opens_at,
                    closes_at=closes_at, status="pending")
        session.add(gate)
        gates.append(gate)
    session.flush()
    record(session, caller.party_id, "create", "gates", gates[0].gate_id, n=len(gates))
    return [gate_out(g, now) for g in gates]


def list_gates(svc: ServiceContext, session: Session, *, status: str | None = None,
               day: str | None = None, limit: int = 1000) -> list[GateOut]:
    stmt = select(Gate).order_by(Gate.isp_start)
    if day is not None:
        try:
            start = datetime.fromisoformat(day).replace(tzinfo=svc.now().tzinfo)
        except ValueError:
            raise InputError("day", day, "a date YYYY-MM-DD") from None
        stmt = stmt.where(Gate.isp_start >= start, Gate.isp_start < start + timedelta(days=1))
    now = svc.now()
    gates = [gate_out(g, now) for g in session.scalars(stmt)]
    if status is not None:
        gates = [g for g in gates if g.status == status]
    return gates[:limit]


def get_gate(session: Session, gate_id: str) -> Gate:
    gate = session.get(Gate, gate_id)
    if gate is None:
        raise NotFound("gate_id", gate_id, "an existing gate")
    return gate


def open_gate(svc: ServiceContext, session: Session, gate_id: str,
              now: datetime | None = None) -> Gate:
    """The gate, if submissions are accepted ``now`` (else 409 naming the gate's times)."""
    gate = get_gate(session, gate_id)
    status = gate_status(gate, svc.now() if now is None else now)
    if status != GateStatus.OPEN:
        raise Conflict("gate_id", gate_id, f"an open gate (this one is {status.value}: open "
                       f"{gate.opens_at.isoformat()} – {gate.closes_at.isoformat()})")
    return gate


# ---- requests -------------------------------------------------------------------------------
def request_out(r: Request) -> RequestOut:
    return RequestOut(
        request_id=r.request_id, requester_id=r.requester_id, gate_id=r.gate_id,
        purpose=r.purpose, congestion_point=r.cp_id, direction=r.direction,
        power_kw=r.power_kw, max_price_eur_per_mwh=r.max_price_eur_per_mwh, status=r.status,
        covered_kw=r.covered_kw, created_at=r.created_at)


def post_request(svc: ServiceContext, session: Session, caller: Caller,
                 body: RequestIn) -> RequestOut:
    require_role(caller, "post flexibility requests", Role.DSO)
    if body.purpose != Purpose.GRID:
        raise InputError("purpose", body.purpose.value, "'grid': the DSO single-buyer market "
                         "clears grid requests; BRPs and the TSO trade via /api/v1/orders")
    cp = session.get(CongestionPoint, body.congestion_point)
    if cp is None:
        raise NotFound("congestion_point", body.congestion_point,
                       f"a congestion point of grid {svc.grid.code!r}")
    if cp.dso_id != caller.party_id:
        raise Forbidden(caller.role.value,
                        f"request flexibility at {cp.cp_id}, which another DSO operates"
                        if cp.dso_id else f"request flexibility at {cp.cp_id}, which no DSO "
                        "operates (the market operator assigns congestion points)")
    gate = open_gate(svc, session, body.gate_id)
    req = Request(request_id=new_id("req"), requester_id=caller.party_id, gate_id=gate.gate_id,
                  purpose=body.purpose.value, cp_id=cp.cp_id, direction=body.direction.value,
                  power_kw=body.power_kw, max_price_eur_per_mwh=body.max_price_eur_per_mwh,
                  status=RequestStatus.OPEN.value, covered_kw=0.0, created_at=svc.now())
    session.add(req)
    record(session, caller.party_id, "create", "request", req.request_id,
           gate_id=gate.gate_id, cp_id=cp.cp_id, power_kw=body.power_kw)
    return request_out(req)


def _visible_request(session: Session, caller: Caller, request_id: str) -> Request:
    req = session.get(Request, request_id)
    if req is None or not _may_see_request(caller, req):
        raise NotFound("request_id", request_id, "an existing request you may see")
    return req


def _may_see_request(caller: Caller, req: Request) -> bool:
    if caller.role in (Role.MARKET_OPERATOR, Role.AGGREGATOR):
        return True  # aggregators are the addressees of the DSO's requests
    return req.requester_id == caller.party_id


def cancel_request(svc: ServiceContext, session: Session, caller: Caller,
                   request_id: str) -> RequestOut:
    require_role(caller, "cancel requests", Role.DSO)
    req = _visible_request(session, caller, request_id)
    open_gate(svc, session, req.gate_id)
    if req.status != RequestStatus.OPEN:
        raise Conflict("request_id", request_id, f"an open request (it is {req.status})")
    req.status = RequestStatus.CANCELLED.value
    record(session, caller.party_id, "cancel", "request", request_id)
    return request_out(req)


def list_requests(session: Session, caller: Caller, *, gate_id: str | None,
                  limit: int) -> list[RequestOut]:
    require_role(caller, "read flexibility requests", Role.DSO, Role.AGGREGATOR,
                 Role.MARKET_OPERATOR)
    stmt = select(Request).order_by(Request.created_at).limit(limit)
    if caller.role == Role.DSO:
        stmt = stmt.where(Request.requester_id == caller.party_id)
    if gate_id is not None:
        stmt = stmt.where(Request.gate_id == gate_id)
    return [request_out(r) for r in session.scalars(stmt)]


def get_request(session: Session, caller: Caller, request_id: str) -> RequestOut:
    require_role(caller, "read flexibility requests", Role.DSO, Role.AGGREGATOR,
                 Role.MARKET_OPERATOR)
    return request_out(_visible_request(session, caller, request_id))


# ---- offers ---------------------------------------------------------------------------------
def offer_out(o: Offer) -> OfferOut:
    return OfferOut(
        offer_id=o.offer_id, aggregator_id=o.aggregator_id, gate_id=o.gate_id, bus=o.bus,
        direction=o.direction, max_power_kw=o.max_power_kw, min_power_kw=o.min_power_kw,
        price_eur_per_mwh=o.price_eur_per_mwh, der_type=o.der_type, status=o.status,
        awarded_kw=o.awarded_kw, created_at=o.created_at)


def check_offer(svc: ServiceContext, caller: Caller, body: OfferIn) -> None:
    """The rules of an offer that do not depend on the store (role, bus, powers, DER type)."""
    require_role(caller, "offer flexibility", Role.AGGREGATOR)
    if body.bus not in svc.grid.bus_ids():
        raise InputError("bus", body.bus, f"a bus of grid {svc.grid.code!r}")
    if body.min_power_kw > body.max_power_kw:
        raise InputError("min_power_kw", body.min_power_kw,
                         f"at most max_power_kw ({body.max_power_kw})")
    if body.der_type not in _DER_TYPES:
        raise InputError("der_type", body.der_type, f"one of {sorted(_DER_TYPES)}")


def offer_values(caller: Caller, body: OfferIn, now: datetime) -> dict:
    """The columns of a new offer (``offers`` row) submitted by ``caller`` at ``now``."""
    return {"offer_id": new_id("off"), "aggregator_id": caller.party_id,
            "gate_id": body.gate_id, "bus": body.bus, "direction": body.direction.value,
            "max_power_kw": body.max_power_kw, "min_power_kw": body.min_power_kw,
            "price_eur_per_mwh": body.price_eur_per_mwh, "der_type": body.der_type,
            "status": OfferStatus.OPEN.value, "awarded_kw": 0.0, "created_at": now}


def offer_audit_detail(body: OfferIn) -> dict:
    return {"gate_id": body.gate_id, "max_power_kw": body.max_power_kw,
            "price_eur_per_mwh": body.price_eur_per_mwh}


def post_offer(svc: ServiceContext, session: Session, caller: Caller,
               body: OfferIn) -> OfferOut:
    """An offer into an open gate, with its audit entry, in the caller's transaction.

    (On PostgreSQL the API's ``POST /offers`` writes the same rows in one statement:
    ``localflex.service.offer_intake``.)
    """
    check_offer(svc, caller, body)
    now = svc.now()
    open_gate(svc, session, body.gate_id, now)
    offer = Offer(**offer_values(caller, body, now))
    session.add(offer)
    record(session, caller.party_id, "create", "offer", offer.offer_id,
           **offer_audit_detail(body))
    return offer_out(offer)


def _may_see_offer(caller: Caller, offer: Offer) -> bool:
    if caller.role in (Role.MARKET_OPERATOR, Role.DSO):
        return True  # the single buyer sees every offer it may buy
    return offer.aggregator_id == caller.party_id


def _visible_offer(svc: ServiceContext, session: Session, caller: Caller, offer_id: str,
                   *, lock: bool = False) -> Offer:
    stmt = select(Offer).where(Offer.offer_id == offer_id)
    offer = session.scalar(svc.db.locked(stmt) if lock else stmt)
    if offer is None or not _may_see_offer(caller, offer):
        raise NotFound("offer_id", offer_id, "an existing offer you may see")
    return offer


def get_offer(svc: ServiceContext, session: Session, caller: Caller, offer_id: str) -> OfferOut:
    require_role(caller, "read offers", Role.AGGREGATOR, Role.DSO, Role.MARKET_OPERATOR)
    return offer_out(_visible_offer(svc, session, caller, offer_id))


def list_offers(session: Session, caller: Caller, *, gate_id: str | None,
                limit: int) -> list[OfferOut]:
    require_role(caller, "read offers", Role.AGGREGATOR, Role.DSO, Role.MARKET_OPERATOR)
    stmt = select(Offer).order_by(Offer.created_at).limit(limit)
    if caller.role == Role.AGGREGATOR:
        stmt = stmt.where(Offer.aggregator_id == caller.party_id)
    if gate_id is not None:
        stmt = stmt.where(Offer.gate_id == gate_id)
    return [offer_out(o) for o in session.scalars(stmt)]


def withdraw_offer(svc: ServiceContext, session: Session, caller: Caller,
                   offer_id: str) -> OfferOut:
    require_role(caller, "withdraw offers", Role.AGGREGATOR)
    offer = _visible_offer(svc, session, caller, offer_id, lock=True)
    open_gate(svc, session, offer.gate_id)
    if offer.status not in (OfferStatus.OPEN, OfferStatus.AWARDED):
        raise Conflict("offer_id", offer_id, f"an open offer (it is {offer.status})")
    offer.status = OfferStatus.WITHDRAWN.value
    record(session, caller.party_id, "withdraw", "offer", offer_id)
    return offer_out(offer)


# ---- awards, activations, payments ----------------------------------------------------------
def award_out(a: Award) -> AwardOut:
    return AwardOut(
        award_id=a.award_id, offer_id=a.offer_id, gate_id=a.gate_id, buyer_id=a.buyer_id,
        aggregator_id=a.aggregator_id, bus=a.bus, direction=a.direction, power_kw=a.power_kw,
        price_eur_per_mwh=a.price_eur_per_mwh, cost_cents=a.cost_cents, cost_eur=a.cost_eur,
        source=a.source,
        created_at=a.created_at)


def activation_for(award: Award, gate: Gate) -> Activation:
    return Activation(
        activation_id=new_id("act"), award_id=award.award_id, aggregator_id=award.aggregator_id,
        buyer_id=award.buyer_id, bus=award.bus, direction=award.direction,
        power_kw=award.power_kw, start=gate.isp_start,
        end=gate.isp_start + timedelta(minutes=gate.isp_minutes))


def add_payment(session: Session, *, payer: str, payee: str, amount_cents: int,
                gate_id: str | None, description: str, award_id: str | None = None,
                trade_id: str | None = None) -> None:
    """A double entry in whole cents: ``payer`` −amount, ``payee`` +amount (sum exactly 0)."""
    entry = new_id("ent")
    amount = int(amount_cents)
    for party, other, signed in ((payer, payee, -amount), (payee, payer, amount)):
        session.add(LedgerLine(entry_id=entry, party_id=party, counterparty_id=other,
                               gate_id=gate_id, award_id=award_id, trade_id=trade_id,
                               amount_cents=signed, description=description))


def _exact_cost_eur(power_kw: float, isp_minutes: int, price_eur_per_mwh: float) -> float:
    """Pay-as-bid cost of power over one ISP, before rounding to cents."""
    return power_kw * isp_minutes / 60.0 * price_eur_per_mwh / 1000.0


def book_as_one_total(session: Session, award_ids: list[str]) -> int:
    """Re-book awards bought as one amount (a UFTP FlexOrder's Price over its ISPs): their
    exact total rounded once, split by largest remainder; each award's ledger entry follows.
    Returns the total (cents)."""
    awards = [session.get(Award, a) for a in award_ids]
    exact = [_exact_cost_eur(a.power_kw, session.get(Gate, a.gate_id).isp_minutes,
                             a.price_eur_per_mwh) for a in awards]
    for award, booked in zip(awards, split_cents(exact), strict=True):
        if booked == award.cost_cents:
            continue
        award.cost_cents = booked
        for line in session.scalars(select(LedgerLine).where(
                LedgerLine.award_id == award.award_id)):
            line.amount_cents = booked if line.party_id == award.aggregator_id else -booked
    return sum(a.cost_cents for a in awards)


def place_flex_order(svc: ServiceContext, session: Session, caller: Caller,
                     body: FlexOrderIn) -> AwardOut:
    """A DSO buys ``power_kw`` of an offer directly (UFTP FlexOrder), pay-as-bid.

    The offer's row is locked (``FOR UPDATE``; SQLite: serialised writes), so concurrent
    orders never award more than the offer holds.
    """
    require_role(caller, "order flexibility", Role.DSO)
    offer = _visible_offer(svc, session, caller, body.offer_id, lock=True)
    gate = get_gate(session, offer.gate_id)
    status = gate_status(gate, svc.now())
    if status not in (GateStatus.OPEN, GateStatus.CLOSED) or svc.now() >= gate.isp_start:
        raise Conflict("offer_id", body.offer_id, f"an offer whose gate is not cleared and "
                       f"whose ISP has not started (gate {gate.gate_id} is {status.value})")
    if offer.status not in (OfferStatus.OPEN, OfferStatus.AWARDED):
        raise Conflict("offer_id", body.offer_id, f"an open offer (it is {offer.status})")
    remaining = offer.max_power_kw - offer.awarded_kw
    if body.power_kw > remaining + _TOL_KW:
        raise Conflict("power_kw", body.power_kw,
                       f"at most the offer's remaining {remaining:.6g} kW")
    if body.power_kw < offer.min_power_kw - _TOL_KW:
        raise InputError("power_kw", body.power_kw,
                         f"at least the offer's min_power_kw {offer.min_power_kw:g}")
    cost = _exact_cost_eur(body.power_kw, gate.isp_minutes, offer.price_eur_per_mwh)
    award = Award(award_id=new_id("awd"), offer_id=offer.offer_id, gate_id=gate.gate_id,
                  buyer_id=caller.party_id, aggregator_id=offer.aggregator_id, bus=offer.bus,
                  direction=offer.direction, power_kw=body.power_kw,
                  price_eur_per_mwh=offer.price_eur_per_mwh, cost_cents=cents(cost),
                  source=AwardSource.FLEX_ORDER.value, created_at=svc.now())
    offer.awarded_kw = min(offer.max_power_kw, offer.awarded_kw + body.power_kw)
    offer.status = OfferStatus.AWARDED.value
    session.add(award)
    session.flush()
    session.add(activation_for(award, gate))
    add_payment(session, payer=caller.party_id, payee=offer.aggregator_id,
                amount_cents=award.cost_cents,
                gate_id=gate.gate_id, award_id=award.award_id,
                description=f"flex order on {offer.offer_id}, pay-as-bid")
    record(session, caller.party_id, "flex_order", "award", award.award_id,
           offer_id=offer.offer_id, power_kw=body.power_kw)
    return award_out(award)


def _award_scope(stmt, model, caller: Caller):
    if caller.role == Role.MARKET_OPERATOR:
        return stmt
    if caller.role == Role.AGGREGATOR:
        return stmt.where(model.aggregator_id == caller.party_id)
    return stmt.where(model.buyer_id == caller.party_id)


def list_awards(session: Session, caller: Caller, *, gate_id: str | None,
                limit: int) -> list[AwardOut]:
    stmt = _award_scope(select(Award).order_by(Award.created_at), Award, caller).limit(limit)
    if gate_id is not None:
        stmt = stmt.where(Award.gate_id == gate_id)
    return [award_out(a) for a in session.scalars(stmt)]


def get_award(session: Session, caller: Caller, award_id: str) -> AwardOut:
    stmt = _award_scope(select(Award).where(Award.award_id == award_id), Award, caller)
    award = session.scalar(stmt)
    if award is None:
        raise NotFound("award_id", award_id, "an existing award you may see")
    return award_out(award)


def list_activations(session: Session, caller: Caller, *, gate_id: str | None,
                     limit: int) -> list[ActivationOut]:
    stmt = _award_scope(select(Activation).order_by(Activation.start), Activation, caller)
    if gate_id is not None:
        stmt = stmt.join(Award, Award.award_id == Activation.award_id).where(
            Award.gate_id == gate_id)
    return [ActivationOut.model_validate(a) for a in session.scalars(stmt.limit(limit))]


# ---- meter data and settlement ---------------------------------------------------------------
def post_meter_reading(svc: ServiceContext, session: Session, caller: Caller,
                       body: MeterReadingIn) -> MeterReadingOut:
    """Metered vs baseline power of an award (consumption positive); UP delivers
    ``baseline − metered``, DOWN ``metered − baseline``."""
    require_role(caller, "upload meter data", Role.AGGREGATOR)
    award = session.get(Award, body.award_id)
    if award is None or award.aggregator_id != caller.party_id:
        raise NotFound("award_id", body.award_id, "an award of yours")
    if session.scalar(select(MeterReading).where(MeterReading.award_id == award.award_id)):
        raise Conflict("award_id", body.award_id, "an award without meter data yet")
    sign = Direction(award.direction).injection_sign
    reading = MeterReading(
        reading_id=new_id("mtr"), award_id=award.award_id, party_id=caller.party_id,
        baseline_kw=body.baseline_kw, metered_kw=body.metered_kw,
        delivered_kw=sign * (body.baseline_kw - body.metered_kw), created_at=svc.now())
    session.add(reading)
    record(session, caller.party_id, "create", "meter_reading", reading.reading_id,
           award_id=award.award_id)
    return MeterReadingOut.model_validate(reading)


def list_meter_data(session: Session, caller: Caller, *, limit: int) -> list[MeterReadingOut]:
    stmt = select(MeterReading).join(Award, Award.award_id == MeterReading.award_id)
    stmt = _award_scope(stmt, Award, caller).order_by(MeterReading.created_at).limit(limit)
    return [MeterReadingOut.model_validate(m) for m in session.scalars(stmt)]


def settlement(session: Session, caller: Caller, *, party_id: str | None,
               gate_id: str | None) -> SettlementOut:
    """The statement of a party: its ledger lines (pay-as-bid payments written at clearing
    and by flex orders and trades), the awarded energy and, once metered, the delivered."""
    target = caller.party_id
    if party_id is not None and party_id != caller.party_id:
        require_role(caller, "read another party's statement", Role.MARKET_OPERATOR)
        if session.get(Party, party_id) is None:
            raise NotFound("party_id", party_id, "an existing party")
        target = party_id
    lines_stmt = select(LedgerLine).where(LedgerLine.party_id == target).order_by(LedgerLine.id)
    awards_stmt = select(Award, Gate.isp_minutes, MeterReading.delivered_kw).join(
        Gate, Gate.gate_id == Award.gate_id).outerjoin(
        MeterReading, MeterReading.award_id == Award.award_id).where(
        (Award.aggregator_id == target) | (Award.buyer_id == target))
    if gate_id is not None:
        lines_stmt = lines_stmt.where(LedgerLine.gate_id == gate_id)
        awards_stmt = awards_stmt.where(Award.gate_id == gate_id)
    lines = [LedgerLineOut.model_validate(x) for x in session.scalars(lines_stmt)]
    awarded_kwh, delivered_kwh, complete = 0.0, 0.0, True
    for award, isp_minutes, delivered_kw in session.execute(awards_stmt):
        hours = isp_minutes / 60.0
        awarded_kwh += award.power_kw * hours
        if delivered_kw is None:
            complete = False
        else:
            delivered_kwh += delivered_kw * hours
    total = sum(x.amount_cents for x in lines)
    return SettlementOut(party_id=target, gate_id=gate_id, lines=lines,
                         total_cents=total, total_eur=eur(total),
                         awarded_kwh=awarded_kwh,
                         delivered_kwh=delivered_kwh if complete else None)


def ledger_balance_cents(session: Session) -> int:
    """Sum of every ledger line in cents: exactly zero in a double-entry ledger."""
    return int(session.scalar(select(func.coalesce(func.sum(LedgerLine.amount_cents), 0))))
