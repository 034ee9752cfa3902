"""Service errors and their HTTP answers: one shape, never a 500 for bad input.

Every error answer of the service — a ``LocalflexError`` raised by an operation, FastAPI's
request validation, an unknown route, a body over the size cap — is an RFC 9457 problem
document (``application/problem+json``)::

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "max_power_kw: Input should be a finite number", "instance": "/api/v1/offers",
     "field": "max_power_kw", "value": "Infinity", "expected": "a finite number",
     "errors": [{"loc": ["body", "max_power_kw"], "field": ..., "value": ..., "expected": ...}]}

``field``/``value``/``expected`` repeat the first entry of ``errors``. Values are never
echoed as sent: non-finite numbers become the strings ``"NaN"``/``"Infinity"``, long strings
and containers are cut to ``VALUE_CHARS`` characters, so an answer stays small whatever the
request held. ``loc`` names where the value came from (``body``, ``query``, ``path``,
``header``).
"""

from __future__ import annotations

import json
import logging
import math
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from localflex.domain import InputError, LocalflexError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "BadRequest",
    "Conflict",
    "FieldProblem",
    "Forbidden",
    "GridNotReady",
    "NotFound",
    "Problem",
    "Unauthorized",
    "install_error_handlers",
    "problem_response",
    "problem_responses",
    "safe_value",
    "status_of",
]

log = logging.getLogger("localflex.service.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
VALUE_CHARS = 80


class NotFound(InputError):
    """An id that names nothing the caller may see (404; the same for 'not yours')."""


class Conflict(InputError):
    """A valid request the market's state refuses now (gate closed, offer exhausted)."""


class BadRequest(InputError):
    """A request that cannot be read as one unambiguous call (400)."""


class Forbidden(LocalflexError):
    """The caller's role may not do this (403)."""

    def __init__(self, role: str, action: str) -> None:
        self.role, self.action = role, action
        super().__init__(f"a party with role {role!r} may not {action}")


class GridNotReady(LocalflexError):
    """The grid is still loading (503); retry shortly."""


class Unauthorized(LocalflexError):
    """No or an unknown API key (401)."""


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="where: body/query/path/header, then the field")
    field: str
    value: str | int | float | bool | None = Field(
        description="the value sent, truncated; non-finite numbers as strings")
    expected: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the offending field, its value and what was expected."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    value: str | int | float | bool | None = None
    expected: str | None = None
    errors: list[FieldProblem] = []


def status_of(exc: LocalflexError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, BadRequest):
        return 400
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, GridNotReady):
        return 503
    return 422


def _cut(text: str) -> str:
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


def safe_value(value: Any) -> str | int | float | bool | None:
    """The value as it may appear in an answer: finite, short, JSON-encodable."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, int):
        if abs(value) < 10**15:
            return value
        return f"an integer of ~{int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, bytes):
        return _cut(value[: VALUE_CHARS * 4].decode("utf-8", "replace"))
    try:
        text = json.dumps(value, default=repr, allow_nan=True)[: VALUE_CHARS * 4]
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return _cut(text)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(status: int, detail: str, *, instance: str | None = None,
                     errors: list[FieldProblem] = (), headers: dict | None = None
                     ) -> JSONResponse:
    first = errors[0] if errors else None
    if instance is not None and len(instance) > 4 * VALUE_CHARS:
        instance = _cut(instance)
    body = Problem(title=_title(status), status=status, detail=_cut(detail) if len(detail) >
                   4 * VALUE_CHARS else detail, instance=instance,
                   field=first.field if first else None, value=first.value if first else None,
                   expected=first.expected if first else None, errors=list(errors))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers,
                        media_type=PROBLEM_MEDIA_TYPE)


def _location(request: Request, field: str) -> str:
    name = field.split(".")[0]
    if name in request.path_params:
        return "path"
    if name in request.query_params:
        return "query"
    if name.lower() in request.headers:
        return "header"
    return "body"


def _localflex_problem(request: Request, exc: LocalflexError) -> JSONResponse:
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    errors = []
    if isinstance(exc, InputError):
        loc = [_location(request, exc.field), *exc.field.split(".")]
        errors = [FieldProblem(loc=loc, field=exc.field, value=safe_value(exc.value),
                               expected=exc.expected)]
    return problem_response(status, str(exc), instance=request.url.path, errors=errors,
                            headers=headers)


def _validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in list(exc.errors())[:20]:
        loc = [x if isinstance(x, int) else str(x) for x in err.get("loc", ())]
        field = ".".join(str(x) for x in loc[1:]) or (str(loc[0]) if loc else "body")
        value = None if err.get("type") == "missing" else safe_value(err.get("input"))
        expected = _cut(str(err.get("msg", "a valid value")))
        if err.get("type") == "json_invalid":  # loc is ("body", character position)
            at = loc[1] if len(loc) > 1 else "?"
            loc, field, value = ["body"], "body", None
            expected = f"a JSON document (invalid at character {at})"
        errors.append(FieldProblem(loc=loc, field=field, value=value, expected=expected))
    detail = "; ".join(f"{e.field}: {e.expected}" for e in errors[:3]) or "invalid request"
    return problem_response(422, detail, instance=request.url.path, errors=errors)


def _allowed(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for the request's path."""
    app = request.app
    table = getattr(app.state, "allowed_methods", None)
    if table is None:
        table = []
        for template, ops in app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            table.append((re.compile(f"^{pattern}$"), sorted(m.upper() for m in ops)))
        app.state.allowed_methods = table
    methods = {m for rx, ms in table if rx.match(request.url.path) for m in ms}
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LocalflexError)
    async def _localflex_error(request: Request, exc: LocalflexError) -> JSONResponse:
        return _localflex_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
        errors = []
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # every method of the path, not only those of one route
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        if exc.status_code == 400:  # FastAPI could not read the body (e.g. a 5000-digit int)
            errors = [FieldProblem(loc=["body"], field="body", value=None,
                                   expected="a JSON document the endpoint's schema describes")]
        return problem_response(exc.status_code, detail, instance=request.url.path,
                                errors=errors, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal error (logged)", instance=request.url.path)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of these error statuses (problem details)."""
    return {s: {"model": Problem, "description": _title(s),
                "content": {PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"}}}}
            for s in statuses}
