"""Input checks and clock helpers shared by the DER fleets (private).

Every check raises ``localflex.domain.InputError`` (or ``HorizonError``) naming the field, the
first offending value and what was expected (DESIGN.md, conventions: validate at the edge).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from localflex.domain import HorizonError, InputError, TimeGrid

__all__ = [
    "first_bad",
    "ids",
    "isp_mid_hour_utc",
    "matrix",
    "rows_match",
    "timing",
    "vector",
    "within_horizon",
]


def ids(field: str, value: Any) -> np.ndarray:
    """A 1-D array of unit ids as ``str``; must be non-empty and unique."""
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(field, getattr(arr, "shape", value), "a non-empty 1-D array of ids")
    arr = arr.astype(str)
    if np.unique(arr).size != arr.size:
        raise InputError(field, "duplicates", "unique unit ids")
    return arr


def first_bad(
    field: str,
    arr: np.ndarray,
    bad: np.ndarray,
    expected: str | Callable[[tuple[int, ...]], str],
    *,
    error: type[InputError] = InputError,
) -> None:
    """Raise ``error`` naming the first entry of ``arr`` where ``bad`` holds, as
    ``field[i]`` (``field[t, i]`` for [T, N]); ``expected`` may depend on that index."""
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise error(f"{field}{list(idx)}", arr[idx].item(),
                    expected(idx) if callable(expected) else expected)


def vector(
    field: str,
    value: Any,
    n: int,
    *,
    dtype: type = float,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """A length-``n`` vector (a scalar is broadcast) with optional bounds ``lo <= x <= hi``."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(n, arr.item())
    if arr.shape != (n,):
        raise InputError(field, arr.shape, f"a scalar or shape ({n},)")
    if dtype is int:
        as_float = arr.astype(float)
        first_bad(field, arr, ~np.isfinite(as_float) | (as_float != np.round(as_float)),
                   "an integer")
        arr = arr.astype(np.int64)
    else:
        arr = arr.astype(float)
        if finite:
            first_bad(field, arr, ~np.isfinite(arr), "a finite number")
        else:
            first_bad(field, arr, np.isnan(arr), "a number (not NaN)")
    if lo is not None:
        first_bad(field, arr, arr <= lo if lo_open else arr < lo,
                   f"a value {'>' if lo_open else '>='} {lo}")
    if hi is not None:
        first_bad(field, arr, arr > hi, f"a value <= {hi}")
    return arr


def matrix(
    field: str,
    value: Any,
    n_units: int,
    *,
    n_isps: int | None = None,
    lo: float | None = None,
    allow_1d: bool = False,
) -> np.ndarray:
    """A float [T, N] matrix (a [T] vector is broadcast if ``allow_1d``), finite, ``>= lo``."""
    arr = np.asarray(value, dtype=float)
    if allow_1d and arr.ndim == 1:
        arr = np.broadcast_to(arr[:, None], (arr.shape[0], n_units))
    if arr.ndim != 2 or arr.shape[1] != n_units:
        raise InputError(field, arr.shape, f"shape [T, {n_units}]")
    if n_isps is not None and arr.shape[0] != n_isps:
        raise HorizonError(field, arr.shape, f"{n_isps} rows (one per ISP of the time grid)")
    first_bad(field, arr, ~np.isfinite(arr), "a finite number")
    if lo is not None:
        first_bad(field, arr, arr < lo, f"a value >= {lo}")
    return np.ascontiguousarray(arr)


def rows_match(field: str, arr: np.ndarray, time_grid: TimeGrid) -> None:
    """Raise HorizonError if a [T, N] input was built for another horizon."""
    if arr.shape[0] != time_grid.n_isps:
        raise HorizonError(
            field, arr.shape, f"{time_grid.n_isps} rows (one per ISP of the time grid)"
        )


def within_horizon(field: str, arr: np.ndarray, time_grid: TimeGrid) -> None:
    """Raise HorizonError if an ISP index [N] lies beyond the end of the time grid."""
    first_bad(field, arr, arr > time_grid.n_isps, f"at most n_isps = {time_grid.n_isps}",
              error=HorizonError)


def timing(
    n: int,
    size_kw: np.ndarray,
    *,
    ramp_kw_per_min: Any,
    default_ramp_fraction_per_min: float,
    notification_min: Any,
    response_min: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ramp (kW/min), notification and response time (min) per unit; defaults by family."""
    ramp = (
        size_kw * default_ramp_fraction_per_min
        if ramp_kw_per_min is None
        else vector("ramp_kw_per_min", ramp_kw_per_min, n, lo=0.0)
    )
    return (
        ramp,
        vector("notification_min", notification_min, n, lo=0.0),
        vector("response_min", response_min, n, lo=0.0),
    )


def isp_mid_hour_utc(time_grid: TimeGrid) -> np.ndarray:
    """UTC hour of day (0..24) at the middle of every ISP [T]."""
    start = time_grid.start
    start_h = start.hour + start.minute / 60.0 + start.second / 3600.0
    return (start_h + (np.arange(time_grid.n_isps) + 0.5) * time_grid.isp_hours) % 24.0
