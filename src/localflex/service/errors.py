"""Service errors and their HTTP answers: never a 500 for bad input.

Every ``LocalflexError`` becomes a 4xx whose body names the field, the value and what was
expected: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}], "error": {...}}`` — the
same ``detail`` shape as FastAPI's own 422 for request validation.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from localflex.domain import InputError, LocalflexError

__all__ = [
    "Conflict",
    "Forbidden",
    "GridNotReady",
    "NotFound",
    "Unauthorized",
    "install_error_handlers",
    "status_of",
]


class NotFound(InputError):
    """An id that names nothing the caller may see (404; the same for 'not yours')."""


class Conflict(InputError):
    """A valid request the market's state refuses now (gate closed, offer exhausted)."""


class Forbidden(LocalflexError):
    """The caller's role may not do this (403)."""

    def __init__(self, role: str, action: str) -> None:
        self.role, self.action = role, action
        super().__init__(f"a party with role {role!r} may not {action}")


class GridNotReady(LocalflexError):
    """The grid is still loading (503); retry shortly."""


class Unauthorized(LocalflexError):
    """No or an unknown API key (401)."""


def status_of(exc: LocalflexError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, GridNotReady):
        return 503
    return 422


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return repr(value)


def error_body(exc: LocalflexError) -> dict[str, Any]:
    if isinstance(exc, InputError):
        return {
            "detail": [{"loc": ["body", *exc.field.split(".")], "msg": str(exc),
                        "type": type(exc).__name__}],
            "error": {"field": exc.field, "value": _jsonable(exc.value),
                      "expected": exc.expected, "type": type(exc).__name__},
        }
    return {"detail": [{"loc": [], "msg": str(exc), "type": type(exc).__name__}],
            "error": {"message": str(exc), "type": type(exc).__name__}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LocalflexError)
    async def _localflex_error(_request: Request, exc: LocalflexError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return JSONResponse(error_body(exc), status_code=status_of(exc), headers=headers)
