"""HTTP endpoints of UFTP: the Shapeshifter message endpoint and its JSON administration.

* ``POST /shapeshifter/api/v3/message`` — a ``SignedMessage`` (XML, ``text/xml``), as the
  ``shapeshifter_uftp`` clients send it. 200 once the message is recorded (accepted or
  functionally rejected, the answer follows asynchronously as UFTP prescribes); 400 schema /
  wrong sender or recipient domain, 401 bad signature, 409 replay or stale TimeStamp,
  413 too large, 419 unknown participant.
* ``GET /api/v1/uftp/platform`` — the market's domain, public key, endpoint path and the
  entity address of each congestion point (what DNS would publish; no key needed).
* ``GET /api/v1/uftp/congestion-points`` — 308 to ``GET /api/v1/congestion-points``, where
  ``congestion_points.UftpAddressing`` adds each point's entity address, the buses'
  addresses and EANs and the registered connections.
* ``POST|GET /api/v1/uftp/participants``, ``POST …/participants/{role}/{domain}/revoke`` —
  the market operator registers participants (API key as for the REST API).
* ``POST …/participants/{role}/{domain}/test`` — send the participant a TestMessage.
* ``GET /api/v1/uftp/messages`` — the message log (operator: all; a party: its own).
* ``POST /api/v1/uftp/deliver`` — one outbox step now (operator): FlexOrders for new
  clearing awards, then every due delivery.

The router's lifespan runs the outbox's background sender (``localflex.service.outbox``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from localflex.domain import Role
from localflex.service.api import caller
from localflex.service.auth import Caller, require_role
from localflex.service.context import ServiceContext
from localflex.service.outbox import OutboxSender
from localflex.service.uftp import congestion_points
from localflex.service.uftp.handlers import HANDLERS
from localflex.service.uftp.messaging import ReceiveError, probe_participant, receive
from localflex.service.uftp.models import UftpMessage
from localflex.service.uftp.orders import send_now
from localflex.service.uftp.participants import (
    ParticipantIn,
    ParticipantOut,
    list_participants,
    register_participant,
    revoke_participant,
)
from localflex.service.uftp.platform import MESSAGE_PATH, UftpState, load_state
from localflex.service.uftp.protocol import entity_address

__all__ = ["router"]



@asynccontextmanager
async def _outbox(app) -> AsyncIterator[None]:
    """The outbox's background sender, for the app's whole life (after its own start)."""
    svc = app.state.service
    state = await run_in_threadpool(load_state, app.state, svc)
    sender = None
    if state.settings.outbox_interval_s > 0:
        sender = OutboxSender(lambda: send_now(svc, state), state.settings.outbox_interval_s)
        sender.start()
    try:
        yield
    finally:
        if sender is not None:
            await run_in_threadpool(sender.stop)


router = APIRouter(lifespan=_outbox)
router.include_router(congestion_points.router)

def service(request: Request) -> ServiceContext:
    return request.app.state.service


Svc = Annotated[ServiceContext, Depends(service)]
Who = Annotated[Caller, Depends(caller)]


def uftp_state(request: Request) -> UftpState:
    return load_state(request.app.state, service(request))


State = Annotated[UftpState, Depends(uftp_state)]


@router.post(MESSAGE_PATH, tags=["uftp"], status_code=200,
             summary="Receive a signed Shapeshifter UFTP message (XML SignedMessage)")
async def uftp_message(request: Request, background: BackgroundTasks) -> Response:
    svc: ServiceContext = service(request)
    state = await run_in_threadpool(load_state, request.app.state, svc)
    raw = await request.body()
    try:
        await run_in_threadpool(receive, svc, state, raw, HANDLERS)
    except ReceiveError as exc:
        return Response(exc.reason, status_code=exc.status, media_type="text/plain")
    background.add_task(send_now, svc, state)
    return Response(status_code=200)


@router.get("/api/v1/uftp/platform", tags=["uftp"])
def platform(svc: Svc, state: State) -> dict:
    return {"domain": state.domain, "public_key": state.public_key, "version": "3.1.0",
            "endpoint_path": MESSAGE_PATH, "roles": ["DSO", "AGR"],
            "congestion_points": {c.cp_id: entity_address(state.domain, c.cp_id)
                                  for c in svc.grid.cp_rows()}}


@router.post("/api/v1/uftp/participants", response_model=ParticipantOut, status_code=201,
             tags=["uftp"])
def register(svc: Svc, who: Who, state: State, body: ParticipantIn) -> ParticipantOut:
    with svc.db.write() as session:
        return register_participant(svc, session, who, body)


@router.get("/api/v1/uftp/participants", response_model=list[ParticipantOut], tags=["uftp"])
def participants(svc: Svc, who: Who, state: State) -> list[ParticipantOut]:
    with svc.db.read() as session:
        return list_participants(session, who)


@router.post("/api/v1/uftp/participants/{role}/{domain}/revoke",
             response_model=ParticipantOut, tags=["uftp"])
def revoke(svc: Svc, who: Who, state: State, role: str, domain: str) -> ParticipantOut:
    with svc.db.write() as session:
        return revoke_participant(session, who, role, domain)


@router.post("/api/v1/uftp/participants/{role}/{domain}/test", status_code=202,
             tags=["uftp"])
def test_participant(svc: Svc, who: Who, state: State, role: str, domain: str,
                     background: BackgroundTasks) -> dict:
    """Queue a TestMessage to a participant (the connectivity probe); its
    TestMessageResponse is stored on it (``GET /api/v1/uftp/messages``)."""
    require_role(who, "probe UFTP participants", Role.MARKET_OPERATOR)
    with svc.db.write() as session:
        row = probe_participant(state, session, role, domain, svc.now())
    background.add_task(send_now, svc, state)
    return {"message_id": row.message_id, "conversation_id": row.conversation_id}


@router.get("/api/v1/uftp/messages", tags=["uftp"])
def messages(svc: Svc, who: Who, state: State,
             direction: Annotated[str | None, Query(pattern="^(in|out)$")] = None,
             limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict]:
    stmt = select(UftpMessage).order_by(UftpMessage.id).limit(
        min(limit, svc.settings.max_page))
    if who.role != Role.MARKET_OPERATOR:
        stmt = stmt.where(UftpMessage.party_id == who.party_id)
    if direction is not None:
        stmt = stmt.where(UftpMessage.direction == direction)
    with svc.db.read() as session:
        return [{"id": m.id, "direction": m.direction, "type": m.message_type,
                 "message_id": m.message_id, "conversation_id": m.conversation_id,
                 "sender_domain": m.sender_domain, "recipient_domain": m.recipient_domain,
                 "party_id": m.party_id, "reference": m.reference,
                 "ref_message_id": m.ref_message_id, "origin_id": m.origin_id,
                 "status": m.status, "result": m.result, "reason": m.reason,
                 "detail": m.detail, "attempts": m.attempts,
                 "created_at": m.created_at.isoformat(),
                 "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None}
                for m in session.scalars(stmt)]


@router.post("/api/v1/uftp/deliver", tags=["uftp"])
def deliver(svc: Svc, who: Who, state: State) -> dict:
    require_role(who, "deliver UFTP messages", Role.MARKET_OPERATOR)
    return send_now(svc, state)
