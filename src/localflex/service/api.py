"""REST API v1 of the running market: thin endpoints over the operations modules.

Every endpoint authenticates the caller (``Authorization: Bearer <key>`` or ``X-API-Key``)
and leaves the role and ownership checks to the operation it calls. Writes accept an
``Idempotency-Key`` header and answer only after their transaction is committed.
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from localflex.domain import Role
from localflex.service import clearing, continuous, market_ops, offer_intake, parties
from localflex.service.auth import Caller, authenticate, cached_caller, require_role
from localflex.service.congestion_points import list_congestion_points
from localflex.service.context import ServiceContext
from localflex.service.errors import problem_responses
from localflex.service.idempotency import run_write
from localflex.service.schemas import (
    ActivationOut,
    AwardOut,
    ClearingOut,
    FlexOrderIn,
    GateIn,
    GateOut,
    KeyOut,
    MeterReadingIn,
    MeterReadingOut,
    OfferIn,
    OfferOut,
    OrderIn,
    OrderOut,
    PartyCreated,
    PartyIn,
    PartyOut,
    RequestIn,
    RequestOut,
    SettlementOut,
    TradeOut,
    TrafficLightOut,
)
from localflex.service.trafficlight import traffic_lights
from localflex.store.models import AuditEntry, Gate, Party
from localflex.store.vocab import GateStatus

__all__ = ["router"]

# every error answer is a problem document (errors.py); each status an endpoint can answer
router = APIRouter(prefix="/api/v1",
                   responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 503))

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")


def service(request: Request) -> ServiceContext:
    return request.app.state.service


# The dependencies of the endpoints are coroutines: FastAPI runs a plain ``def`` dependency
# in a worker thread (two thread hops per request). A key verified recently is answered
# from memory; the first use of a key (a store read and ~50 ms of scrypt) runs in a thread.
async def _service(request: Request) -> ServiceContext:
    return request.app.state.service


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Caller:
    svc: ServiceContext = request.app.state.service
    authorization = f"Bearer {bearer.credentials}" if bearer is not None else None
    known = cached_caller(svc.keys, authorization, api_key)
    if known is not None:
        return known
    return await run_in_threadpool(authenticate, svc.db, svc.keys, authorization, api_key)


Svc = Annotated[ServiceContext, Depends(_service)]
Who = Annotated[Caller, Depends(caller)]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200,
                                       description="apply this submission at most once")]
GateFilter = Annotated[str | None, Query(max_length=64)]
Limit = Annotated[int, Query(ge=1, le=10_000)]
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    """Only ``YYYY-MM-DD`` (pydantic alone would also read ``0`` as 1970-01-01)."""
    if isinstance(value, str) and not _ISO_DAY.match(value):
        raise ValueError("a date YYYY-MM-DD")
    return value


Day = Annotated[date | None, BeforeValidator(_iso_day),
                Query(description="a UTC day, YYYY-MM-DD")]


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _limit(svc: ServiceContext, limit: int) -> int:
    return min(limit, svc.settings.max_page)


def _answer(result: tuple[int, Any]) -> JSONResponse:
    status, data = result
    return JSONResponse(data, status_code=status)


def _write(svc, who, request: Request, payload, fn, key, status_code=201) -> JSONResponse:
    return _answer(run_write(svc, who, f"{request.method} {request.url.path}", payload, fn,
                             idempotency_key=key, status_code=status_code))


# ---- the hot path first: FastAPI tries the routes in order (~5-10 µs each here) ----------
@router.post("/offers", response_model=OfferOut, status_code=201, tags=["dso market"])
async def post_offer(svc: Svc, who: Who, body: OfferIn, request: Request,
                     key: IdemKey = None):
    if svc.offer_writer is not None:  # PostgreSQL: one group-committed statement
        endpoint = f"{request.method} {request.url.path}"
        return _answer(await offer_intake.post_offer(svc, who, endpoint, body, key))
    return await run_in_threadpool(_write, svc, who, request, body,
                                   lambda s: market_ops.post_offer(svc, s, who, body), key)


# ---- health and identity ----------------------------------------------------------------------
@router.get("/health", tags=["meta"])
def health(svc: Svc) -> dict:
    return {"status": "ok", "grid": svc.grid.code, "grid_ready": svc.grid.ready.is_set(),
            "database": svc.db.dialect, "worker_pid": os.getpid()}


@router.get("/me", response_model=PartyOut, tags=["parties"])
def me(svc: Svc, who: Who) -> PartyOut:
    with svc.db.read() as session:
        return parties.party_out(session, session.get(Party, who.party_id))


# ---- parties (market operator) ----------------------------------------------------------------
@router.post("/parties", response_model=PartyCreated, status_code=201, tags=["parties"])
def create_party(svc: Svc, who: Who, body: PartyIn, request: Request, key: IdemKey = None):
    return _write(svc, who, request, body,
                  lambda s: parties.create_party(svc, s, who, body), key)


@router.get("/parties", response_model=list[PartyOut], tags=["parties"])
def list_parties(svc: Svc, who: Who) -> list[PartyOut]:
    with svc.db.read() as session:
        return parties.list_parties(session, who)


@router.post("/parties/{party_id}/keys", response_model=KeyOut, status_code=201,
             tags=["parties"])
def issue_key(svc: Svc, who: Who, party_id: str, request: Request, key: IdemKey = None):
    return _write(svc, who, request, {"party_id": party_id},
                  lambda s: parties.issue_key(s, who, party_id), key)


@router.post("/parties/{party_id}/keys/{key_id}/revoke", tags=["parties"])
def revoke_key(svc: Svc, who: Who, party_id: str, key_id: str, request: Request):
    return _write(svc, who, request, {},
                  lambda s: parties.revoke_key(svc, s, who, party_id, key_id), None, 200)


# ---- grid --------------------------------------------------------------------------------------
@router.get("/congestion-points", tags=["grid"])
def get_congestion_points(svc: Svc, who: Who, request: Request,
                          cp_id: Annotated[str | None, Query(max_length=64)] = None,
                          with_buses: bool = False) -> list[dict]:
    """Every congestion point (or ``cp_id``) with its rating, DSO, the number of buses behind
    it (``radial: false`` for an element on a loop) and — with ``cp_id`` or
    ``with_buses=true`` — the buses themselves (an MV/LV area lists ~10^5). With UFTP: each
    point's EA1 ``entity_address`` and the aggregators' registered ``connections`` there;
    each bus's connection ``entity_address`` and ``ean``."""
    extension = getattr(request.app.state, "cp_addressing", None)
    addressing = extension(request.app.state, svc) if extension is not None else None
    return list_congestion_points(svc, cp_id, with_buses, addressing)


@router.get("/traffic-lights", response_model=list[TrafficLightOut], tags=["grid"])
def get_traffic_lights(svc: Svc, who: Who, gate_id: GateFilter = None, day: Day = None):
    with svc.db.read() as session:
        if gate_id is not None:
            gates = [market_ops.get_gate(session, gate_id)]
        else:
            ids = [g.gate_id for g in market_ops.list_gates(svc, session, day=_day(day),
                                                            limit=96)]
            gates = [session.get(Gate, i) for i in ids]
    return traffic_lights(svc, gates, svc.grid.cp_rows())


# ---- gates -------------------------------------------------------------------------------------
@router.post("/gates", response_model=list[GateOut], status_code=201, tags=["gates"])
def create_gates(svc: Svc, who: Who, body: GateIn, request: Request, key: IdemKey = None):
    return _write(svc, who, request, body,
                  lambda s: market_ops.create_gates(svc, s, who, body), key)


@router.get("/gates", response_model=list[GateOut], tags=["gates"])
def list_gates(svc: Svc, who: Who,
               status: GateStatus | None = None, day: Day = None,
               limit: Limit = 1000) -> list[GateOut]:
    with svc.db.read() as session:
        return market_ops.list_gates(svc, session, status=status, day=_day(day),
                                     limit=_limit(svc, limit))


@router.get("/gates/{gate_id}", response_model=GateOut, tags=["gates"])
def get_gate(svc: Svc, who: Who, gate_id: str) -> GateOut:
    with svc.db.read() as session:
        return market_ops.gate_out(market_ops.get_gate(session, gate_id), svc.now())


@router.post("/gates/{gate_id}/clear", response_model=ClearingOut, tags=["gates"])
def clear(svc: Svc, who: Who, gate_id: str) -> ClearingOut:
    require_role(who, "clear gates", Role.MARKET_OPERATOR)
    return clearing.clear_gate(svc, who, gate_id)


# ---- DSO requests ------------------------------------------------------------------------------
@router.post("/requests", response_model=RequestOut, status_code=201, tags=["dso market"])
def post_request(svc: Svc, who: Who, body: RequestIn, request: Request, key: IdemKey = None):
    return _write(svc, who, request, body,
                  lambda s: market_ops.post_request(svc, s, who, body), key)


@router.get("/requests", response_model=list[RequestOut], tags=["dso market"])
def list_requests(svc: Svc, who: Who, gate_id: GateFilter = None, limit: Limit = 1000):
    with svc.db.read() as session:
        return market_ops.list_requests(session, who, gate_id=gate_id,
                                        limit=_limit(svc, limit))


@router.get("/requests/{request_id}", response_model=RequestOut, tags=["dso market"])
def get_request(svc: Svc, who: Who, request_id: str):
    with svc.db.read() as session:
        return market_ops.get_request(session, who, request_id)


@router.post("/requests/{request_id}/cancel", response_model=RequestOut, tags=["dso market"])
def cancel_request(svc: Svc, who: Who, request_id: str, request: Request, key: IdemKey = None):
    return _write(svc, who, request, {},
                  lambda s: market_ops.cancel_request(svc, s, who, request_id), key, 200)


# ---- offers and flex orders --------------------------------------------------------------------
@router.get("/offers", response_model=list[OfferOut], tags=["dso market"])
def list_offers(svc: Svc, who: Who, gate_id: GateFilter = None, limit: Limit = 1000):
    with svc.db.read() as session:
        return market_ops.list_offers(session, who, gate_id=gate_id, limit=_limit(svc, limit))


@router.get("/offers/{offer_id}", response_model=OfferOut, tags=["dso market"])
def get_offer(svc: Svc, who: Who, offer_id: str):
    with svc.db.read() as session:
        return market_ops.get_offer(svc, session, who, offer_id)


@router.post("/offers/{offer_id}/withdraw", response_model=OfferOut, tags=["dso market"])
def withdraw_offer(svc: Svc, who: Who, offer_id: str, request: Request, key: IdemKey = None):
    return _write(svc, who, request, {},
                  lambda s: market_ops.withdraw_offer(svc, s, who, offer_id), key, 200)


@router.post("/flex-orders", response_model=AwardOut, status_code=201, tags=["dso market"])
def flex_order(svc: Svc, who: Who, body: FlexOrderIn, request: Request, key: IdemKey = None):
    return _write(svc, who, request, body,
                  lambda s: market_ops.place_flex_order(svc, s, who, body), key)


# ---- awards, activations, meter data, settlement -----------------------------------------------
@router.get("/awards", response_model=list[AwardOut], tags=["delivery"])
def list_awards(svc: Svc, who: Who, gate_id: GateFilter = None, limit: Limit = 1000):
    with svc.db.read() as session:
        return market_ops.list_awards(session, who, gate_id=gate_id, limit=_limit(svc, limit))


@router.get("/awards/{award_id}", response_model=AwardOut, tags=["delivery"])
def get_award(svc: Svc, who: Who, award_id: str):
    with svc.db.read() as session:
        return market_ops.get_award(session, who, award_id)


@router.get("/activations", response_model=list[ActivationOut], tags=["delivery"])
def list_activations(svc: Svc, who: Who, gate_id: GateFilter = None, limit: Limit = 1000):
    with svc.db.read() as session:
        return market_ops.list_activations(session, who, gate_id=gate_id,
                                           limit=_limit(svc, limit))


@router.post("/meter-data", response_model=MeterReadingOut, status_code=201, tags=["delivery"])
def post_meter_data(svc: Svc, who: Who, body: MeterReadingIn, request: Request,
                    key: IdemKey = None):
    return _write(svc, who, request, body,
                  lambda s: market_ops.post_meter_reading(svc, s, who, body), key)


@router.get("/meter-data", response_model=list[MeterReadingOut], tags=["delivery"])
def list_meter_data(svc: Svc, who: Who, limit: Limit = 1000):
    with svc.db.read() as session:
        return market_ops.list_meter_data(session, who, limit=_limit(svc, limit))


@router.get("/settlement", response_model=SettlementOut, tags=["delivery"])
def settlement(svc: Svc, who: Who, gate_id: GateFilter = None,
               party_id: Annotated[str | None, Query(max_length=64)] = None):
    with svc.db.read() as session:
        return market_ops.settlement(session, who, party_id=party_id, gate_id=gate_id)


# ---- continuous market -------------------------------------------------------------------------
@router.post("/orders", response_model=OrderOut, status_code=201, tags=["continuous market"])
def post_order(svc: Svc, who: Who, body: OrderIn, request: Request, key: IdemKey = None):
    with svc.continuous.transaction():
        return _write(svc, who, request, body,
                      lambda s: continuous.submit_order(svc, s, who, body), key)


@router.get("/orders", response_model=list[OrderOut], tags=["continuous market"])
def list_orders(svc: Svc, who: Who, gate_id: GateFilter = None, limit: Limit = 1000):
    with svc.db.read() as session:
        return continuous.list_orders(session, who, gate_id=gate_id, limit=_limit(svc, limit))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["continuous market"])
def cancel_order(svc: Svc, who: Who, order_id: str, request: Request, key: IdemKey = None):
    with svc.continuous.transaction():
        return _write(svc, who, request, {},
                      lambda s: continuous.cancel_order(svc, s, who, order_id), key, 200)


@router.get("/trades", response_model=list[TradeOut], tags=["continuous market"])
def list_trades(svc: Svc, who: Who, gate_id: GateFilter = None, limit: Limit = 1000):
    with svc.db.read() as session:
        return continuous.list_trades(session, who, gate_id=gate_id, limit=_limit(svc, limit))


# ---- audit -------------------------------------------------------------------------------------
@router.get("/audit", tags=["meta"])
def audit(svc: Svc, who: Who, limit: Limit = 1000) -> list[dict]:
    require_role(who, "read the audit log", Role.MARKET_OPERATOR)
    with svc.db.read() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())
                               .limit(_limit(svc, limit)))
        return [{"id": r.id, "at": r.at.isoformat(), "party_id": r.party_id,
                 "action": r.action, "entity": r.entity, "entity_id": r.entity_id,
                 "detail": r.detail} for r in rows]

