"""The web view of the running market (``/``): server-rendered with Jinja2, auto-refreshing.

Public part: the congestion points with their traffic light per ISP (``trafficlight``) for
one UTC day (``?day=YYYY-MM-DD``; default: the day of the next gate to close). After a
party logs in with its API key (kept in an HttpOnly, SameSite=Strict cookie), the page also
shows what that party may see through the API — the same operations and ownership rules: the
open requests and offers, awards, activation instructions and settlement statements (the
market operator sees all parties and the ledger's balance, which is zero).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from localflex.domain import LocalflexError, Role
from localflex.service import market_ops
from localflex.service.auth import Caller, authenticate
from localflex.service.context import ServiceContext
from localflex.service.trafficlight import traffic_lights
from localflex.store.models import Gate, LedgerLine, Party
from localflex.store.vocab import GateStatus

__all__ = ["COOKIE", "router"]

COOKIE = "localflex_key"
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
router = APIRouter(include_in_schema=False)


def _caller(svc: ServiceContext, request: Request) -> Caller | None:
    key = request.cookies.get(COOKIE)
    if not key:
        return None
    try:
        return authenticate(svc.db, svc.keys, None, key)
    except LocalflexError:
        return None


def _day_gates(svc: ServiceContext, day: str | None) -> tuple[str | None, list[Gate]]:
    with svc.db.read() as session:
        if day is None:
            nxt = session.scalar(select(Gate).where(Gate.closes_at >= svc.now())
                                 .order_by(Gate.closes_at).limit(1))
            if nxt is None:
                nxt = session.scalar(select(Gate).order_by(Gate.isp_start.desc()).limit(1))
            if nxt is None:
                return None, []
            day = nxt.isp_start.strftime("%Y-%m-%d")
        ids = [g.gate_id for g in market_ops.list_gates(svc, session, day=day, limit=1440)]
        return day, [session.get(Gate, i) for i in ids]


@router.get("/", response_class=HTMLResponse)
def index(request: Request, day: str | None = None) -> HTMLResponse:
    svc: ServiceContext = request.app.state.service
    try:
        day, gates = _day_gates(svc, day)
    except LocalflexError:
        day, gates = None, []
    cps = svc.grid.cp_rows() if svc.grid.ready.is_set() else []
    lights = traffic_lights(svc, gates, cps)
    grid_rows: dict[str, dict[str, object]] = defaultdict(dict)
    for light in lights:
        grid_rows[light.cp_id][light.gate_id] = light
    now = svc.now()
    ctx: dict = {
        "request": request, "day": day, "now": now, "grid_code": svc.grid.code,
        "grid_ready": svc.grid.ready.is_set(), "refresh_s": svc.settings.web_refresh_s,
        "gates": [market_ops.gate_out(g, now) for g in gates], "cps": cps,
        "lights": grid_rows, "caller": None,
        "prev_day": None, "next_day": None,
    }
    if day is not None:
        from datetime import date

        d = date.fromisoformat(day)
        ctx["prev_day"] = (d - timedelta(days=1)).isoformat()
        ctx["next_day"] = (d + timedelta(days=1)).isoformat()
    caller = _caller(svc, request)
    if caller is not None:
        ctx["caller"] = caller
        ctx.update(_private(svc, caller))
    return templates.TemplateResponse(request, "index.html", ctx)


def _private(svc: ServiceContext, caller: Caller) -> dict:
    out: dict = {"requests": [], "offers": [], "awards": [], "activations": [],
                 "statements": [], "balance_eur": None}
    with svc.db.read() as session:
        if caller.role in (Role.DSO, Role.AGGREGATOR, Role.MARKET_OPERATOR):
            out["requests"] = [r for r in market_ops.list_requests(
                session, caller, gate_id=None, limit=200) if r.status == "open"]
            out["offers"] = [o for o in market_ops.list_offers(
                session, caller, gate_id=None, limit=500) if o.status == "open"]
        out["awards"] = market_ops.list_awards(session, caller, gate_id=None, limit=200)
        out["activations"] = market_ops.list_activations(session, caller, gate_id=None,
                                                         limit=200)
        if caller.role == Role.MARKET_OPERATOR:
            ids = session.scalars(select(Party.party_id).order_by(Party.party_id)).all()
            out["statements"] = [market_ops.settlement(session, caller, party_id=p,
                                                       gate_id=None) for p in ids]
            out["balance_eur"] = float(session.scalar(
                select(func.coalesce(func.sum(LedgerLine.amount_eur), 0.0))))
        else:
            out["statements"] = [market_ops.settlement(session, caller, party_id=None,
                                                       gate_id=None)]
    out["open_gates"] = GateStatus.OPEN.value
    return out


@router.post("/login")
async def login(request: Request) -> RedirectResponse:
    """The login form (``application/x-www-form-urlencoded``, field ``api_key``)."""
    svc: ServiceContext = request.app.state.service
    body = (await request.body())[:4096].decode("utf-8", "replace")
    api_key = (parse_qs(body).get("api_key") or [""])[0]
    response = RedirectResponse("/", status_code=303)
    try:
        await run_in_threadpool(authenticate, svc.db, svc.keys, None, api_key)
    except LocalflexError:
        return RedirectResponse("/?login=failed", status_code=303)
    response.set_cookie(COOKIE, api_key, httponly=True, samesite="strict")
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response
