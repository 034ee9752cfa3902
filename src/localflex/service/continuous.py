"""The continuous market of the service: ``localflex.market.continuous`` behind REST.

Paper §6.2 (no coupling, ref. [66]): beside the DSO's single-buyer market, an independent
market operator runs a continuous double-sided auction for market-oriented flexibility. The
order books (``books.ContinuousBridge``: in memory, rebuilt from the event log, one matcher at
a time across every API worker) are changed here: each submit or cancel becomes an event
stored in the same transaction as the orders, trades and double-entry ledger lines it
produced.

Products: ``(area, direction, ISP)``; the ISP index is the gate's ISP counted from
2000-01-01 UTC. Buyers: DSO, TSO, BRP, aggregator; sellers: BRP, aggregator (Table 2).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from localflex.domain import Role
from localflex.market.continuous import OrderStatus, Side, SubmitResult
from localflex.service.auth import Caller, require_role
from localflex.service.books import isp_index
from localflex.service.context import ServiceContext, new_id
from localflex.service.errors import Forbidden, NotFound
from localflex.service.market_ops import add_payment, open_gate
from localflex.service.money import cents
from localflex.service.schemas import OrderIn, OrderOut, TradeOut
from localflex.store import record
from localflex.store.models import Gate, Order, Trade

__all__ = ["cancel_order", "list_orders", "list_trades", "submit_order"]

_TOL_KW = 1e-9
_BUYERS = (Role.DSO, Role.TSO, Role.BRP, Role.AGGREGATOR)
_SELLERS = (Role.BRP, Role.AGGREGATOR)


def order_out(o: Order) -> OrderOut:
    return OrderOut.model_validate(o)


def _apply_result(session: Session, gate: Gate, result: SubmitResult, area: str,
                  direction: str, isp_minutes: int) -> None:
    for order_id in result.self_trade_cancelled:
        other = session.get(Order, order_id)
        if other is not None:
            other.status = OrderStatus.CANCELLED.value
    for t in result.trades:
        trade_id = f"trd_{isp_minutes}m_{t.trade_id}"
        session.add(Trade(trade_id=trade_id, gate_id=gate.gate_id, area=area, direction=direction,
                          buy_order_id=t.buy_order_id, sell_order_id=t.sell_order_id,
                          buyer_id=t.buyer_id, seller_id=t.seller_id,
                          price_eur_per_mwh=t.price_eur_per_mwh, quantity_kw=t.quantity_kw,
                          value_cents=cents(t.value_eur)))
        resting_id = t.sell_order_id if t.aggressor == Side.BUY else t.buy_order_id
        resting = session.get(Order, resting_id)
        if resting is not None:
            resting.filled_kw = min(resting.quantity_kw, resting.filled_kw + t.quantity_kw)
            if resting.filled_kw >= resting.quantity_kw - _TOL_KW:
                resting.status = OrderStatus.FILLED.value
        add_payment(session, payer=t.buyer_id, payee=t.seller_id,
                    amount_cents=cents(t.value_eur),
                    gate_id=gate.gate_id, trade_id=trade_id,
                    description=f"continuous trade {trade_id}")


def submit_order(svc: ServiceContext, session: Session, caller: Caller,
                 body: OrderIn) -> OrderOut:
    bridge = svc.continuous
    if body.side == Side.SELL:
        require_role(caller, "sell in the continuous market", *_SELLERS)
    else:
        require_role(caller, "buy in the continuous market", *_BUYERS)
    bridge.serialise(session)
    gate = open_gate(svc, session, body.gate_id)
    isp = isp_index(gate)
    order_id = new_id("ord")
    payload = {"isp_minutes": gate.isp_minutes, "isp": isp, "party_id": caller.party_id,
               "area": body.area, "direction": body.direction.value, "side": body.side.value,
               "price_eur_per_mwh": body.price_eur_per_mwh, "quantity_kw": body.quantity_kw,
               "order_type": body.order_type.value, "order_id": order_id}
    with bridge.lock:
        market = bridge.market(gate.isp_minutes)
        result = market.submit(caller.party_id, (body.area, body.direction.value, isp),
                               body.side.value, float(body.price_eur_per_mwh),
                               float(body.quantity_kw), body.order_type.value,
                               order_id=order_id)
        bridge.append(session, "submit", payload)
        order = Order(order_id=order_id, party_id=caller.party_id, gate_id=gate.gate_id,
                      area=body.area, direction=body.direction.value,
                      side=body.side.value, order_type=body.order_type.value,
                      price_eur_per_mwh=body.price_eur_per_mwh,
                      quantity_kw=body.quantity_kw, filled_kw=result.filled_kw,
                      status=result.status.value, created_at=svc.now())
        session.add(order)
        session.flush()
        _apply_result(session, gate, result, body.area, body.direction.value,
                      gate.isp_minutes)
        record(session, caller.party_id, "submit", "order", order_id,
               status=result.status.value, filled_kw=result.filled_kw)
        session.flush()
    return order_out(order)


def cancel_order(svc: ServiceContext, session: Session, caller: Caller,
                 order_id: str) -> OrderOut:
    order = session.get(Order, order_id)
    if order is None or order.party_id != caller.party_id:
        raise NotFound("order_id", order_id, "an order of yours")
    bridge = svc.continuous
    bridge.serialise(session)
    gate = open_gate(svc, session, order.gate_id)
    with bridge.lock:
        market = bridge.market(gate.isp_minutes)
        if not market.is_resting(order_id):
            raise NotFound("order_id", order_id, f"a resting order (it is {order.status})")
        market.cancel(order_id)
        bridge.append(session, "cancel", {"isp_minutes": gate.isp_minutes,
                                          "order_id": order_id})
        order.status = OrderStatus.CANCELLED.value
        record(session, caller.party_id, "cancel", "order", order_id)
        session.flush()
    return order_out(order)


def list_orders(session: Session, caller: Caller, *, gate_id: str | None,
                limit: int) -> list[OrderOut]:
    if caller.role == Role.MARKET_OPERATOR:
        stmt = select(Order)
    elif caller.role in _BUYERS:
        stmt = select(Order).where(Order.party_id == caller.party_id)
    else:
        raise Forbidden(caller.role.value, "read continuous-market orders")
    if gate_id is not None:
        stmt = stmt.where(Order.gate_id == gate_id)
    return [order_out(o) for o in session.scalars(stmt.order_by(Order.created_at).limit(limit))]


def list_trades(session: Session, caller: Caller, *, gate_id: str | None,
                limit: int) -> list[TradeOut]:
    stmt = select(Trade)
    if caller.role != Role.MARKET_OPERATOR:
        stmt = stmt.where((Trade.buyer_id == caller.party_id)
                          | (Trade.seller_id == caller.party_id))
    if gate_id is not None:
        stmt = stmt.where(Trade.gate_id == gate_id)
    return [TradeOut.model_validate(t)
            for t in session.scalars(stmt.order_by(Trade.created_at).limit(limit))]
