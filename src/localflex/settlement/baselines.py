"""Baselines: what a metering point would have consumed without activation (paper §4.2, §5.3).

The delivered flexibility of an activation is never metered directly: it is the difference
between a *baseline* and the metered consumption (DESIGN.md glossary). Paper §4.2 (Figure 4)
shows why the choice matters: the BRP's schedule, the aggregator's reward and the BRP
compensation are all computed against it. This module gives the baseline methods used by
European and US demand-response programmes, each vectorised over meters:

* ``nominated_baseline`` — the schedule the aggregator declared before gate closure;
* ``meter_before_baseline`` — meter before (last reading before the event) and meter
  before/after (linear interpolation between the last reading before and the first after);
* ``x_of_y_baseline`` — "High X of Y": the mean of the X highest of the Y most recent eligible
  days of the same day type (weekdays and weekends apart), with an optional same-day adjustment
  (additive or multiplicative, capped), e.g. High 5 of 10;
* ``rolling_average_baseline`` — an exponentially weighted rolling average per day type
  (ISO-NE style, weight ``alpha`` on the newest day; a cumulative mean while fewer than
  ``1/alpha`` days have been seen).

Meter data is consumption-positive kW per ISP (DESIGN.md), as a ``[T, N]`` array on a TimeGrid
that starts at 00:00 UTC and covers whole days (``T = days × ISPs per day``), or as a
``[days, ISPs per day, N]`` array. Every function returns ``[T, N]`` (float64 unless the input
is float32) with NaN where the method has no value (too little history).

``baseline_accuracy`` scores baselines against what was actually consumed (bias, MAE, RMSE,
relative error); ``synthetic_meter_data`` makes a realistic meter data set from the SimBench
household / commercial / agricultural load profiles of a grid, with seeded noise, on which
``accuracy_report`` compares every method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from localflex.domain import InputError, TimeGrid

__all__ = [
    "ACCURACY_COLUMNS",
    "METER_KINDS",
    "Adjustment",
    "BaselineMethod",
    "MeterData",
    "accuracy_report",
    "baseline_accuracy",
    "day_is_weekend",
    "meter_before_baseline",
    "nominated_baseline",
    "rolling_average_baseline",
    "synthetic_meter_data",
    "x_of_y_baseline",
]


class BaselineMethod(StrEnum):
    NOMINATED = "nominated"
    METER_BEFORE = "meter_before"
    METER_BEFORE_AFTER = "meter_before_after"
    X_OF_Y = "x_of_y"
    ROLLING_AVERAGE = "rolling_average"


class Adjustment(StrEnum):
    """Same-day adjustment of a day-matching baseline (X of Y)."""

    NONE = "none"
    ADDITIVE = "additive"  # shift by (metered − baseline) over the adjustment window
    MULTIPLICATIVE = "multiplicative"  # scale by metered / baseline over the window


# SimBench load-profile prefixes per meter kind.
METER_KINDS: dict[str, tuple[str, ...]] = {
    "household": ("H0",),
    "commercial": ("G",),
    "agricultural": ("L",),
}

ACCURACY_COLUMNS: dict[str, tuple[str, str, str]] = {
    "method": ("object", "-", "baseline method and its parameters"),
    "n_values": ("int64", "-", "meter × ISP values scored (the same cells for every method)"),
    "bias_kw": ("float64", "kW", "mean of baseline − actual (> 0: baseline too high)"),
    "mae_kw": ("float64", "kW", "mean absolute error"),
    "rmse_kw": ("float64", "kW", "root mean square error"),
    "relative_error": ("float64", "-", "sum |baseline − actual| / sum |actual|"),
    "energy_error": ("float64", "-", "sum (baseline − actual) / sum actual"),
}


def _isps_per_day(time_grid: TimeGrid) -> int:
    return 1440 // time_grid.isp_minutes


def _check_grid(time_grid: TimeGrid) -> None:
    start = time_grid.start
    if (start.hour, start.minute, start.second, start.microsecond) != (0, 0, 0, 0):
        raise InputError("time_grid.start", start.isoformat(), "a start at 00:00 UTC")
    if time_grid.n_isps % _isps_per_day(time_grid):
        raise InputError("time_grid.n_isps", time_grid.n_isps,
                         f"whole days (a multiple of {_isps_per_day(time_grid)} ISPs)")


def _as_days(load_kw: Any, time_grid: TimeGrid, field: str = "load_kw") -> np.ndarray:
    """A [D, P, N] float view of meter data given as [T, N] or [D, P, N]."""
    _check_grid(time_grid)
    arr = np.asarray(load_kw)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    per_day = _isps_per_day(time_grid)
    days = time_grid.n_isps // per_day
    if arr.ndim == 2 and arr.shape[0] == time_grid.n_isps:
        return arr.reshape(days, per_day, arr.shape[1])
    if arr.ndim == 3 and arr.shape[:2] == (days, per_day):
        return arr
    raise InputError(field, f"array of shape {arr.shape}",
                     f"[{time_grid.n_isps}, meters] or [{days}, {per_day}, meters]")


def _window(window: tuple[int, int] | None, per_day: int, field: str) -> slice:
    if window is None:
        return slice(0, per_day)
    start, stop = window
    if not 0 <= start < stop <= per_day:
        raise InputError(field, window, f"(start, stop) ISPs of the day with 0 <= start < stop "
                                        f"<= {per_day}")
    return slice(start, stop)


def day_is_weekend(time_grid: TimeGrid) -> np.ndarray:
    """[D] True for Saturdays and Sundays (UTC dates) of a whole-day TimeGrid."""
    _check_grid(time_grid)
    days = time_grid.n_isps // _isps_per_day(time_grid)
    dates = pd.date_range(time_grid.start, periods=days, freq="D")
    return np.asarray(dates.dayofweek >= 5)


def _day_types(time_grid: TimeGrid, separate_weekends: bool) -> np.ndarray:
    weekend = day_is_weekend(time_grid)
    return weekend.astype(np.int8) if separate_weekends else np.zeros_like(weekend, np.int8)


def _exclusions(exclude_days: Any, n_days: int) -> np.ndarray:
    if exclude_days is None:
        return np.zeros(n_days, dtype=bool)
    arr = np.asarray(exclude_days, dtype=bool)
    if arr.shape != (n_days,):
        raise InputError("exclude_days", f"array of shape {arr.shape}", f"shape ({n_days},)")
    return arr


def nominated_baseline(schedule_kw: Any, time_grid: TimeGrid) -> np.ndarray:
    """The aggregator's nominated schedule, checked for shape and finiteness, as [T, N]."""
    days = _as_days(schedule_kw, time_grid, "schedule_kw")
    # min and max are finite exactly when every value is (NaN propagates): two reductions,
    # no [T, N] boolean temporary
    if days.size and not (np.isfinite(days.min()) and np.isfinite(days.max())):
        raise InputError("schedule_kw", "non-finite values", "a finite schedule in every ISP")
    return days.reshape(time_grid.n_isps, -1)


def meter_before_baseline(load_kw: Any, event_mask: Any, *, after: bool = False) -> np.ndarray:
    """Meter before (``after=False``) or meter before/after baseline, [T, N].

    In ISPs where ``event_mask`` ([T] or [T, N], True = activated) is set, the baseline is the
    last reading before the event, or (``after=True``) the straight line between that reading
    and the first reading after the event. Without a reading on one side, the other side is
    used; with neither, NaN. Outside events the baseline is the metered value itself.
    """
    load = np.asarray(load_kw)
    if load.ndim != 2:
        raise InputError("load_kw", f"array of shape {load.shape}", "a [T, N] array")
    if not np.issubdtype(load.dtype, np.floating):
        load = load.astype(np.float64)
    mask = np.asarray(event_mask, dtype=bool)
    if mask.ndim == 1:
        mask = mask[:, None]
    if mask.shape[0] != load.shape[0] or mask.shape[1] not in (1, load.shape[1]):
        raise InputError("event_mask", f"array of shape {mask.shape}",
                         f"shape ({load.shape[0]},) or {load.shape}")
    n_t = load.shape[0]
    if mask.shape[1] == 1:
        # one event calendar for every meter: work on rows (fast, no [T, N] index arrays)
        rows = _fill_rows(mask[:, 0], load, after)
        out = load.copy()
        out[mask[:, 0]] = rows
        return out
    mask = np.broadcast_to(mask, load.shape)
    t = np.arange(n_t, dtype=np.int32)[:, None]
    prev = np.maximum.accumulate(np.where(~mask, t, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(~mask, t, n_t)[::-1], axis=0)[::-1]
    has_prev, has_next = prev >= 0, nxt < n_t
    before = np.take_along_axis(load, np.clip(prev, 0, n_t - 1), axis=0)
    behind = np.take_along_axis(load, np.clip(nxt, 0, n_t - 1), axis=0)
    if after:
        span = np.maximum(np.where(has_prev & has_next, nxt - prev, 1), 1)
        frac = np.where(has_prev & has_next, (t - prev) / span, 0.0).astype(load.dtype)
        line = before + (behind - before) * frac
        value = np.where(has_prev, line, behind)
    else:
        value = np.where(has_prev, before, behind)
    value = np.where(has_prev | has_next, value, np.nan)
    return np.where(mask, value, load).astype(load.dtype, copy=False)


def _fill_rows(mask: np.ndarray, load: np.ndarray, after: bool) -> np.ndarray:
    """Meter-before(/after) values of the masked rows of ``load`` for a [T] event mask."""
    n_t = mask.size
    t = np.arange(n_t)
    prev = np.maximum.accumulate(np.where(~mask, t, -1))[mask]
    nxt = np.minimum.accumulate(np.where(~mask, t, n_t)[::-1])[::-1][mask]
    has_prev, has_next = prev >= 0, nxt < n_t
    before = load[np.clip(prev, 0, n_t - 1)]
    behind = load[np.clip(nxt, 0, n_t - 1)]
    if after:
        both = has_prev & has_next
        frac = np.where(both, (t[mask] - prev) / np.maximum(nxt - prev, 1), 0.0)
        value = before + (behind - before) * frac[:, None].astype(load.dtype)
        value = np.where(has_prev[:, None], value, behind)
    else:
        value = np.where(has_prev[:, None], before, behind)
    return np.where((has_prev | has_next)[:, None], value, np.nan).astype(load.dtype)


def _previous_days(types: np.ndarray, eligible: np.ndarray, y: int) -> np.ndarray:
    """[D, y] the y most recent earlier eligible days of the same type (-1 where none)."""
    n_days = types.size
    out = np.full((n_days, y), -1, dtype=np.int64)
    history: dict[int, list[int]] = {}
    for d in range(n_days):  # a loop over days only: it builds an index, not the data
        past = history.setdefault(int(types[d]), [])
        recent = past[-y:][::-1]
        out[d, : len(recent)] = recent
        if eligible[d]:
            past.append(d)
    return out


def _chosen_weights(key: np.ndarray, valid: np.ndarray, x: int, dtype: Any) -> np.ndarray:
    """[D, Y, N] weights 1/x on the x candidates with the smallest ``key`` along axis 1
    (ties: the earlier candidate), 0 elsewhere and on invalid candidates.

    The choice is that of a stable argsort. For a few candidates it is made by counting, for
    each candidate, the candidates ranked before it (no sort); with NaN keys (sorted last)
    or many candidates, by the argsort itself.
    """
    n_y = key.shape[1]
    share = np.asarray(1.0 / x, dtype=dtype)
    if n_y > 16 or np.isnan(key).any():
        order = np.argsort(key, axis=1, kind="stable")[:, :x, :]
        weight = np.zeros(key.shape, dtype=dtype)
        np.put_along_axis(weight, order, share, axis=1)
        weight[~valid] = 0
        return weight
    rank = np.zeros(key.shape, dtype=np.int8)
    for i in range(n_y):
        before = rank[:, i, :]
        for j in range(n_y):
            if j < i:
                before += key[:, j, :] <= key[:, i, :]
            elif j > i:
                before += key[:, j, :] < key[:, i, :]
    return np.where((rank < x) & valid[:, :, None], share, np.zeros((), dtype=dtype))


def x_of_y_baseline(
    load_kw: Any,
    time_grid: TimeGrid,
    *,
    x: int = 5,
    y: int = 10,
    rank: str = "high",
    separate_weekends: bool = True,
    exclude_days: Any = None,
    selection_window: tuple[int, int] | None = None,
    adjustment: Adjustment | str = Adjustment.NONE,
    adjustment_window: tuple[int, int] | None = None,
    cap: float = 0.2,
) -> np.ndarray:
    """"High X of Y" day-matching baseline with optional same-day adjustment, [T, N].

    For each day and meter: of the ``y`` most recent earlier days of the same type (weekday /
    weekend when ``separate_weekends``) not in ``exclude_days`` ([D] bool, e.g. event days),
    take the ``x`` with the highest (``rank="high"``) or lowest (``"low"``) mean consumption
    over ``selection_window`` (ISPs of the day, default the whole day) and average them ISP
    by ISP. Fewer than ``x`` such days → NaN for that day.

    Same-day adjustment over ``adjustment_window`` (ISPs of the day before the event, required
    unless ``adjustment="none"``): multiplicative scales the day by mean(metered)/mean(baseline)
    clipped to ``[1 − cap, 1 + cap]``; additive shifts it by mean(metered) − mean(baseline)
    clipped to ``± cap × |mean(baseline)|``.
    """
    days = _as_days(load_kw, time_grid)
    n_days, per_day, n_meters = days.shape
    if not (isinstance(x, int | np.integer) and isinstance(y, int | np.integer) and 1 <= x <= y):
        raise InputError("x_of_y", (x, y), "integers with 1 <= x <= y")
    if rank not in ("high", "low"):
        raise InputError("rank", rank, "'high' or 'low'")
    try:
        adjustment = Adjustment(adjustment)
    except ValueError:
        raise InputError("adjustment", adjustment, f"one of {[a.value for a in Adjustment]}")\
            from None
    if not cap >= 0:
        raise InputError("cap", cap, "a share >= 0 (e.g. 0.2 for ±20 %)")
    sel = _window(selection_window, per_day, "selection_window")
    excluded = _exclusions(exclude_days, n_days)
    prev = _previous_days(_day_types(time_grid, separate_weekends), ~excluded, y)  # [D, Y]
    valid = prev >= 0
    score = days[:, sel, :].mean(axis=1)  # [D, N]
    cand = score[np.clip(prev, 0, None)]  # [D, Y, N]
    fill = -np.inf if rank == "high" else np.inf
    cand = np.where(valid[:, :, None], cand, fill)
    weight = _chosen_weights(-cand if rank == "high" else cand, valid, x, days.dtype)
    out = np.empty_like(days)
    rows = np.clip(prev, 0, None)
    enough = valid.sum(axis=1) >= x  # [D]
    for d in range(n_days):  # per day: a [Y, P, N] block that stays in cache (faster than
        # whole-array gathers); the weights pick the x chosen days per meter
        if enough[d]:
            np.einsum("ypn,yn->pn", days[rows[d]], weight[d], out=out[d])
        else:
            out[d] = np.nan
    if adjustment is not Adjustment.NONE:
        if adjustment_window is None:
            raise InputError("adjustment_window", None,
                             "(start, stop) ISPs of the day used for the same-day adjustment")
        win = _window(adjustment_window, per_day, "adjustment_window")
        metered = days[:, win, :].mean(axis=1)  # [D, N]
        base = out[:, win, :].mean(axis=1)
        if adjustment is Adjustment.MULTIPLICATIVE:
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(base > 0, metered / base, 1.0)
            factor = np.clip(factor, 1.0 - cap, 1.0 + cap).astype(out.dtype)
            out *= factor[:, None, :]
        else:
            bound = cap * np.abs(base)
            shift = np.clip(metered - base, -bound, bound).astype(out.dtype)
            out += shift[:, None, :]
    return out.reshape(n_days * per_day, n_meters)


def rolling_average_baseline(
    load_kw: Any,
    time_grid: TimeGrid,
    *,
    alpha: float = 0.1,
    separate_weekends: bool = True,
    exclude_days: Any = None,
    min_days: int = 5,
) -> np.ndarray:
    """Exponentially weighted rolling average per ISP of the day and day type, [T, N].

    The baseline of day d is the average before day d: each eligible day (same type, not in
    ``exclude_days``) enters with weight ``max(alpha, 1/k)`` for the k-th day seen (so a plain
    mean while k < 1/alpha, then ISO-NE's 90/10 rule for alpha = 0.1). NaN until ``min_days``
    days of the type have been seen.
    """
    days = _as_days(load_kw, time_grid)
    n_days = days.shape[0]
    if not 0 < alpha <= 1:
        raise InputError("alpha", alpha, "a weight in (0, 1]")
    if min_days < 1:
        raise InputError("min_days", min_days, "at least 1")
    types = _day_types(time_grid, separate_weekends)
    excluded = _exclusions(exclude_days, n_days)
    out = np.empty_like(days)
    state: dict[int, np.ndarray] = {}
    seen: dict[int, int] = {}
    step = np.empty(days.shape[1:], dtype=days.dtype)
    for d in range(n_days):  # a loop over days; each step is a [P, N] array operation
        kind = int(types[d])
        k = seen.get(kind, 0)
        if k >= min_days:
            out[d] = state[kind]
        else:
            out[d] = np.nan
        if excluded[d]:
            continue
        k += 1
        seen[kind] = k
        weight = max(alpha, 1.0 / k)
        if k == 1:
            state[kind] = days[d].copy()
        else:  # state += weight × (day − state), in place (no [P, N] temporaries)
            np.subtract(days[d], state[kind], out=step)
            step *= weight
            state[kind] += step
    return out.reshape(time_grid.n_isps, -1)


def baseline_accuracy(
    actual_kw: Any, baselines: Mapping[str, Any], mask: Any = None
) -> pd.DataFrame:
    """Bias, MAE, RMSE and relative error of each baseline against ``actual_kw`` ([T, N]).

    Every method is scored on the same cells: those in ``mask`` ([T], [T, N] or None = all)
    where the actual value and every baseline are finite. Columns: ``ACCURACY_COLUMNS``.
    """
    actual = np.asarray(actual_kw, dtype=np.float64)
    if actual.ndim != 2:
        raise InputError("actual_kw", f"array of shape {actual.shape}", "a [T, N] array")
    if not baselines:
        raise InputError("baselines", {}, "at least one baseline")
    cells = np.isfinite(actual)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        cells &= m[:, None] if m.ndim == 1 else m
    arrays = {}
    for name, arr in baselines.items():
        arr = np.asarray(arr)
        if arr.shape != actual.shape:
            raise InputError(f"baselines[{name!r}]", f"array of shape {arr.shape}",
                             f"shape {actual.shape}")
        arrays[name] = arr
        cells &= np.isfinite(arr)
    n = int(cells.sum())
    if n == 0:
        raise InputError("mask", "no cell", "at least one cell where every baseline is defined")
    truth = actual[cells]
    abs_total = float(np.abs(truth).sum())
    total = float(truth.sum())
    rows = []
    for name, arr in arrays.items():
        err = arr[cells].astype(np.float64) - truth
        rows.append({
            "method": name,
            "n_values": n,
            "bias_kw": float(err.mean()),
            "mae_kw": float(np.abs(err).mean()),
            "rmse_kw": float(np.sqrt((err**2).mean())),
            "relative_error": float(np.abs(err).sum() / abs_total) if abs_total else np.nan,
            "energy_error": float(err.sum() / total) if total else np.nan,
        })
    return pd.DataFrame(rows, columns=list(ACCURACY_COLUMNS)).astype(
        {k: v[0] for k, v in ACCURACY_COLUMNS.items()})


@dataclass(frozen=True)
class MeterData:
    """A meter data set: consumption-positive kW per ISP and meter on a whole-day TimeGrid.

    ``nominated_kw`` is what an aggregator would have declared: the meter's expected profile
    with a day-level forecast error (``synthetic_meter_data``).
    """

    time_grid: TimeGrid
    load_kw: np.ndarray  # [T, N]
    nominated_kw: np.ndarray  # [T, N]
    meter_id: np.ndarray  # [N] str
    kind: np.ndarray  # [N] str: household / commercial / agricultural
    profile: np.ndarray  # [N] str: the SimBench profile behind the meter

    @property
    def n_meters(self) -> int:
        return int(self.load_kw.shape[1])


def synthetic_meter_data(
    grid: Any,
    time_grid: TimeGrid,
    n_meters: int,
    rng: np.random.Generator,
    *,
    kinds: Sequence[str] = ("household", "commercial", "agricultural"),
    noise_share: float = 0.25,
    noise_persistence: float = 0.7,
    nomination_error_share: float = 0.05,
    scale_sigma: float = 0.3,
    max_week_shift: int = 2,
    dtype: Any = np.float32,
) -> MeterData:
    """A realistic synthetic meter data set built from a SimBench grid's load profiles.

    Each meter takes the absolute profile of one of the grid's loads of a requested kind
    (SimBench profile prefixes in ``METER_KINDS``; a kind the grid lacks is skipped, none at
    all raises InputError), shifted by a whole number of weeks (± ``max_week_shift``, keeps the
    weekday pattern, decorrelates meters that share a standard profile) and scaled by a
    lognormal factor (``scale_sigma``). The metered value is that profile times
    ``exp(noise)``, where the noise is an AR(1) series (``noise_persistence``) with standard
    deviation ``noise_share``; negative values cannot occur. The nominated schedule is the
    noise-free profile times a per-day forecast error (``nomination_error_share``). All draws
    come from ``rng``.
    """
    _check_grid(time_grid)
    if not isinstance(n_meters, int | np.integer) or n_meters < 1:
        raise InputError("n_meters", n_meters, "a positive number of meters")
    if not 0 <= noise_persistence < 1:
        raise InputError("noise_persistence", noise_persistence, "a value in [0, 1)")
    if noise_share < 0 or nomination_error_share < 0 or scale_sigma < 0:
        raise InputError("noise", (noise_share, nomination_error_share, scale_sigma),
                         "standard deviations >= 0")
    unknown = [k for k in kinds if k not in METER_KINDS]
    if unknown or not kinds:
        raise InputError("kinds", list(kinds), f"a non-empty subset of {list(METER_KINDS)}")
    profiles = grid.net.load["profile"].astype(str).to_numpy()
    pool_idx, pool_kind = [], []
    for kind in kinds:
        idx = np.flatnonzero([p.startswith(METER_KINDS[kind]) for p in profiles])
        pool_idx.append(idx)
        pool_kind += [kind] * idx.size
    elements = np.concatenate(pool_idx)
    if elements.size == 0:
        raise InputError("kinds", list(kinds),
                         f"kinds with loads in grid {grid.code!r} (its profiles: "
                         f"{sorted(set(profiles))})")
    pick = rng.integers(0, elements.size, n_meters)
    shift = rng.integers(-max_week_shift, max_week_shift + 1, n_meters)
    scale = rng.lognormal(0.0, scale_sigma, n_meters)
    n_t = time_grid.n_isps
    expected = np.empty((n_t, n_meters), dtype=dtype)
    for k in np.unique(shift):  # one profile lookup per week shift (at most 2·max + 1)
        cols = np.flatnonzero(shift == k)
        shifted = TimeGrid(time_grid.start + timedelta(days=7 * int(k)), n_t,
                           time_grid.isp_minutes)
        load_p = grid.element_profiles_kw(shifted).load_p_kw
        expected[:, cols] = np.maximum(load_p[:, elements[pick[cols]]], 0.0) * scale[cols]
    from scipy.signal import lfilter  # here: scipy.signal takes seconds to import

    innovations = rng.standard_normal((n_t, n_meters))
    rho = noise_persistence
    noise = lfilter([np.sqrt(1.0 - rho**2)], [1.0, -rho], innovations, axis=0)
    load = expected * np.exp(noise_share * noise - 0.5 * noise_share**2).astype(dtype)
    per_day = _isps_per_day(time_grid)
    day_err = rng.normal(0.0, nomination_error_share, (n_t // per_day, n_meters))
    nominated = expected * np.repeat(1.0 + day_err, per_day, axis=0).astype(dtype)
    return MeterData(
        time_grid=time_grid,
        load_kw=load.astype(dtype, copy=False),
        nominated_kw=nominated.astype(dtype, copy=False),
        meter_id=np.array([f"meter:{i}" for i in range(n_meters)]),
        kind=np.array(pool_kind)[pick],
        profile=profiles[elements[pick]],
    )


def accuracy_report(
    data: MeterData,
    event_window: tuple[int, int],
    *,
    eval_days: int = 14,
    x: int = 5,
    y: int = 10,
    cap: float = 0.2,
    adjustment_lead_isps: int = 4,
    alpha: float = 0.1,
) -> pd.DataFrame:
    """Every baseline method scored on ``data`` in the last ``eval_days`` days.

    ``event_window`` = (start, stop) ISPs of the day of a hypothetical daily event: the scores
    are taken there (where a baseline matters); meter-before/after treat the window as the
    event; the same-day adjustment uses the ``adjustment_lead_isps`` ISPs before it.
    Returns one row per method (``ACCURACY_COLUMNS``); the method name carries its parameters.
    """
    tg = data.time_grid
    per_day = _isps_per_day(tg)
    n_days = tg.n_isps // per_day
    win = _window(event_window, per_day, "event_window")
    if not 1 <= eval_days < n_days:
        raise InputError("eval_days", eval_days, f"between 1 and {n_days - 1} (days of data)")
    in_window = np.zeros(per_day, dtype=bool)
    in_window[win] = True
    event_isp = np.tile(in_window, n_days)
    eval_isp = event_isp & (np.arange(tg.n_isps) >= (n_days - eval_days) * per_day)
    lead = (max(win.start - adjustment_lead_isps, 0), win.start)
    load = data.load_kw
    baselines: dict[str, np.ndarray] = {
        "nominated": nominated_baseline(data.nominated_kw, tg),
        "meter_before": meter_before_baseline(load, event_isp),
        "meter_before_after": meter_before_baseline(load, event_isp, after=True),
        f"high_{x}_of_{y}": x_of_y_baseline(load, tg, x=x, y=y),
        f"{y}_of_{y}": x_of_y_baseline(load, tg, x=y, y=y),
        f"rolling_average_a{alpha:g}": rolling_average_baseline(load, tg, alpha=alpha),
    }
    if lead[1] > lead[0]:
        baselines[f"high_{x}_of_{y}_mult_cap{cap:g}"] = x_of_y_baseline(
            load, tg, x=x, y=y, adjustment="multiplicative", adjustment_window=lead, cap=cap)
        baselines[f"high_{x}_of_{y}_add_cap{cap:g}"] = x_of_y_baseline(
            load, tg, x=x, y=y, adjustment="additive", adjustment_window=lead, cap=cap)
    return baseline_accuracy(load, baselines, eval_isp)
