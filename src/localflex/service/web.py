"""The web view of the running market (``/``): server-rendered with Jinja2, a place to work.

Public part: the congestion points with their traffic light per ISP (``trafficlight``) for
one UTC day (``?day=YYYY-MM-DD``; default: the day of the next gate to close), and a chart
per congestion point of its forecast loading and the relief cleared over that day
(``webchart``). After a party logs in with its API key (kept in an HttpOnly,
SameSite=Strict cookie, so no other site can submit these forms with it), the page shows
what that party may see through the API and lets it act, through the same operations, role
and ownership rules and write path (``run_write``) as the REST API:

* a DSO posts requests for its congestion points and withdraws open ones;
* an aggregator posts offers, withdraws open ones and sees its awards and activations;
* the market operator opens gates for a day and clears them; it sees every party's
  statement and the ledger's balance (zero).

A refused action comes back as a one-line message naming the field, the value and what
was expected (the API's problem details), never a traceback.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select

from localflex.domain import InputError, LocalflexError, Role
from localflex.service import clearing, market_ops, parties
from localflex.service.auth import Caller, authenticate, require_role
from localflex.service.context import ServiceContext
from localflex.service.idempotency import run_write
from localflex.service.money import eur
from localflex.service.schemas import GateIn, OfferIn, RequestIn
from localflex.service.trafficlight import traffic_lights
from localflex.service.webchart import loading_relief_chart
from localflex.store.models import Gate, LedgerLine, Party
from localflex.store.models import Request as DsoRequest
from localflex.store.vocab import GateStatus, RequestStatus

__all__ = ["COOKIE", "FLASH", "router"]

COOKIE = "localflex_key"
FLASH = "localflex_flash"
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


def _relief_kw(svc: ServiceContext, gates: list[Gate]) -> dict[tuple[str, str], float]:
    """kW of DSO requests covered by the clearing, per (congestion point, gate)."""
    if not gates:
        return {}
    with svc.db.read() as session:
        rows = session.execute(
            select(DsoRequest.cp_id, DsoRequest.gate_id, func.sum(DsoRequest.covered_kw))
            .where(DsoRequest.gate_id.in_([g.gate_id for g in gates]),
                   DsoRequest.status != RequestStatus.CANCELLED.value)
            .group_by(DsoRequest.cp_id, DsoRequest.gate_id)).all()
    return {(cp, g): float(kw or 0.0) for cp, g, kw in rows}


def _charts(svc: ServiceContext, gates: list[Gate], cps, lights) -> list:
    relief = _relief_kw(svc, gates)
    labels = [g.isp_start.strftime("%H:%M") for g in gates]
    out = []
    for cp in cps:
        row = lights.get(cp.cp_id, {})
        loading = [getattr(row.get(g.gate_id), "forecast_loading_pct", None) for g in gates]
        out.append(loading_relief_chart(
            cp.cp_id, cp.name or "", labels, loading, cp.max_loading_pct,
            [relief.get((cp.cp_id, g.gate_id), 0.0) for g in gates]))
    return out


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
        "charts": _charts(svc, gates, cps, grid_rows),
        **_flash(request),
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
        ctx.update(_form_choices(svc, caller, ctx["gates"]))
    response = templates.TemplateResponse(request, "index.html", ctx)
    if FLASH in request.cookies:
        response.delete_cookie(FLASH)
    return response


def _flash(request: Request) -> dict[str, str | None]:
    """The outcome of the last form (a cookie, so no link can put words on the page)."""
    kind, _, text = unquote(request.cookies.get(FLASH, "")).partition(":")
    return {"msg": text[:300] if kind == "msg" else None,
            "ok": text[:200] if kind == "ok" else None}


def _form_choices(svc: ServiceContext, caller: Caller, gates) -> dict:
    """What the caller's forms offer: open gates, its congestion points, the grid's buses."""
    out: dict = {"open_gate_ids": [g.gate_id for g in gates if g.status == "open"],
                 "my_cps": [], "buses": [], "clearable": []}
    if caller.role == Role.DSO:
        with svc.db.read() as session:
            out["my_cps"] = parties.party_out(session, session.get(
                Party, caller.party_id)).congestion_points
    elif caller.role == Role.AGGREGATOR and svc.grid.ready.is_set():
        out["buses"] = sorted(svc.grid.bus_ids())
    elif caller.role == Role.MARKET_OPERATOR:
        out["clearable"] = [g.gate_id for g in gates if g.status != "cleared"]
    return out


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
            out["balance_eur"] = eur(session.scalar(
                select(func.coalesce(func.sum(LedgerLine.amount_cents), 0))))
        else:
            out["statements"] = [market_ops.settlement(session, caller, party_id=None,
                                                       gate_id=None)]
    out["open_gates"] = GateStatus.OPEN.value
    return out


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0].strip() for k, v in parse_qs(body, keep_blank_values=True).items()}


def _number(form: dict[str, str], field: str, kind: type = float, *,
            optional: bool = False) -> float | int | None:
    text = form.get(field, "")
    if text == "" and optional:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise InputError(field, text, f"a number ({kind.__name__})") from None
    if (isinstance(value, float) and not value == value) or value in (float("inf"),
                                                                   float("-inf")):
        raise InputError(field, text, "a finite number")
    return value


def _model(model: type[BaseModel], values: dict) -> BaseModel:
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "form"
        raise InputError(field, err.get("input"), err["msg"]) from None


def _back(day: str | None, *, ok: str | None = None, msg: str | None = None
          ) -> RedirectResponse:
    response = RedirectResponse("/?" + urlencode({"day": day}) if day else "/",
                                status_code=303)
    kind, text = ("msg", msg) if msg is not None else ("ok", ok or "")
    response.set_cookie(FLASH, quote(f"{kind}:{text[:300]}", safe=""), httponly=True,
                        samesite="strict", max_age=60)
    return response


async def _act(request: Request, action) -> RedirectResponse:
    """Run ``action(svc, caller, form)`` for the logged-in party; back to the page with a
    one-line outcome (or the refusal naming field, value and what was expected)."""
    svc: ServiceContext = request.app.state.service
    form = await _form(request)
    day = form.get("day") or None
    caller = await run_in_threadpool(_caller, svc, request)
    if caller is None:
        return _back(day, msg="log in first (your API key)")
    try:
        ok = await run_in_threadpool(action, svc, caller, form)
    except LocalflexError as exc:
        return _back(day, msg=str(exc))
    return _back(day, ok=ok)


def _write(svc: ServiceContext, caller: Caller, endpoint: str, payload, fn) -> dict:
    return run_write(svc, caller, endpoint, payload, fn, idempotency_key=None)[1]


def _post_request(svc: ServiceContext, caller: Caller, form: dict[str, str]) -> str:
    body = _model(RequestIn, {
        "gate_id": form.get("gate_id"), "congestion_point": form.get("congestion_point"),
        "direction": form.get("direction"), "power_kw": _number(form, "power_kw"),
        "max_price_eur_per_mwh": _number(form, "max_price_eur_per_mwh", optional=True)})
    out = _write(svc, caller, "POST /web/requests", body,
                 lambda s: market_ops.post_request(svc, s, caller, body))
    return f"request {out['request_id']} posted"


def _withdraw(operation, id_field: str, noun: str):
    """The action withdrawing the caller's ``noun`` named by the form's ``id_field``."""
    def action(svc: ServiceContext, caller: Caller, form: dict[str, str]) -> str:
        ident = form.get(id_field, "")
        _write(svc, caller, f"POST /web/{noun}s/withdraw", {},
               lambda s: operation(svc, s, caller, ident))
        return f"{noun} {ident} withdrawn"
    return action


def _post_offer(svc: ServiceContext, caller: Caller, form: dict[str, str]) -> str:
    body = _model(OfferIn, {
        "gate_id": form.get("gate_id"), "bus": _number(form, "bus", int),
        "direction": form.get("direction"), "max_power_kw": _number(form, "max_power_kw"),
        "min_power_kw": _number(form, "min_power_kw", optional=True),
        "price_eur_per_mwh": _number(form, "price_eur_per_mwh")})
    out = _write(svc, caller, "POST /web/offers", body,
                 lambda s: market_ops.post_offer(svc, s, caller, body))
    return f"offer {out['offer_id']} posted"


def _utc(text: str) -> str:
    """The form's times are UTC: ``2030-06-21T12:00`` means ``…Z``."""
    return text if text.endswith(("Z", "z")) or "+" in text[10:] else f"{text}Z"


def _open_gates(svc: ServiceContext, caller: Caller, form: dict[str, str]) -> str:
    body = _model(GateIn, {
        "start": _utc(form.get("start", "")), "n_isps": _number(form, "n_isps", int),
        "isp_minutes": _number(form, "isp_minutes", int),
        "lead_time_minutes": _number(form, "lead_time_minutes", int)})
    out = _write(svc, caller, "POST /web/gates", body,
                 lambda s: market_ops.create_gates(svc, s, caller, body))
    return f"{len(out)} gates opened from {out[0]['gate_id']}"


def _clear_gate(svc: ServiceContext, caller: Caller, form: dict[str, str]) -> str:
    require_role(caller, "clear gates", Role.MARKET_OPERATOR)
    out = clearing.clear_gate(svc, caller, form.get("gate_id", ""))
    return (f"{out.gate.gate_id} cleared: {len(out.awards)} awards, "
            f"{out.total_cost_eur:.2f} EUR")


ACTIONS = {"requests": _post_request,
           "requests/cancel": _withdraw(market_ops.cancel_request, "request_id", "request"),
           "offers": _post_offer,
           "offers/withdraw": _withdraw(market_ops.withdraw_offer, "offer_id", "offer"),
           "gates": _open_gates, "gates/clear": _clear_gate}


@router.post("/web/{kind}")
@router.post("/web/{kind}/{verb}")
async def act(request: Request, kind: str, verb: str | None = None) -> RedirectResponse:
    """The forms of the page (``application/x-www-form-urlencoded``)."""
    action = ACTIONS.get(f"{kind}/{verb}" if verb else kind)
    if action is None:
        return _back(None, msg=f"unknown action {kind}/{verb}")
    return await _act(request, action)


@router.post("/login")
async def login(request: Request) -> RedirectResponse:
    """The login form (``application/x-www-form-urlencoded``, field ``api_key``)."""
    svc: ServiceContext = request.app.state.service
    api_key = (await _form(request)).get("api_key", "")[:4096]
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
