"""The traffic light: grid state per congestion point and ISP, from the grid forecast.

Paper §6.2 (conditional coupling, refs. [68] USEF and [69] BDEW): the local market trades
freely while the grid is safe, and the DSO steps in, ever more firmly, as the forecast shows
trouble. USEF has four operating regimes, BDEW's Traffic Light Concept three. This module
decides the regime of every (congestion point, ISP) from numbers, not by hand:

* the forecast power flow (``PowerFlowResult.cp_loading_pct``) against each point's limit
  (``congestion_points(grid).max_loading_pct``),
* the relief the market offers at that point (``market_relief_kw``: Σ over the offers of the
  ISP of max(0, relief per kW) × offered kW, computed by the caller from the offers and the
  sensitivities), and
* the relief the DSO can force by direct control of contracted resources
  (``control_relief_kw``, same units).

All volumes are in the kVA-equivalent kW of ``grid.overload_kw``: ``need_kw`` = loading
above the limit / 100 × rated kVA.

Regimes (``LightThresholds``; defaults in brackets)
---------------------------------------------------
The paper's rule (§6.2): the market-based mechanism runs first; "the last two operating
regimes come into play if the market-based mechanism is unable to solve the local problems"
(USEF), the red phase comes "if this mechanism fails to solve the grid constraints" (BDEW).
So the orange and red colours are never set by a loading threshold alone. Per point and ISP,
first rule that holds, from the top:

* **red** — an emergency condition holds (loading > ``emergency_factor`` × limit, a
  parameter that is off by default [None]: e.g. a protection limit where the DSO does not
  wait for market delivery), or the market and direct control together cannot cover the
  need (market + control relief < ``cover_factor`` × need): curtailment / load shedding;
* **orange** (USEF only) — the market cannot cover the need (market relief <
  ``cover_factor`` × need) but direct control of contracted resources can: graceful
  degradation;
* **yellow** — the DSO asks the market. USEF: the grid is "in a potential state of risk":
  loading > limit − ``yellow_margin_pct`` [10 percentage points]; market trades that would
  worsen the point are checked, and the DSO procures "in order to avoid any technical
  problem" (``market.designs.coupling.conditional``: down to limit − margin). BDEW: "the DSO
  foresees a technical problem": a forecast need > 0 (the margin band stays green, trading
  there is free; the DSO buys the problem away, down to the limit);
* **green** — otherwise: free trading.

``market relief`` is an upper bound of what the market can deliver at the point (every
offer's positive relief summed); so a point the forecast paints orange or red truly cannot be
solved by the market. Where it can in sum but not in fact (offers shared between points),
the design escalates what the market left after it has cleared (``escalate``): the regime of
a point is decided by the outcome of the market, evaluated per ISP and point.
``cover_factor`` [1.0] > 1 asks for spare liquidity before trusting the market. BDEW has no
orange: what USEF calls orange is red in BDEW (the network operator intervenes directly —
control first, then curtailment).

``state_lights`` classifies a *realised* state (a verification power flow) with the same
loading bands only (no offers): green ≤ limit − margin < yellow ≤ limit < orange ≤
red_factor × limit < red. The designs report its hours so that every design is judged by
the same yardstick.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from localflex.domain import InputError, TrafficLight

__all__ = [
    "LIGHT_CODES",
    "LightScheme",
    "LightThresholds",
    "emergency_mask",
    "escalate",
    "forecast_lights",
    "light_hours",
    "state_lights",
    "worst_light_per_isp",
]

LIGHT_CODES: tuple[TrafficLight, ...] = (
    TrafficLight.GREEN, TrafficLight.YELLOW, TrafficLight.ORANGE, TrafficLight.RED,
)
"""Colour order: index 0..3 is the integer code the arrays of this module use."""
GREEN, YELLOW, ORANGE, RED = range(4)


class LightScheme(StrEnum):
    """USEF's four operating regimes or BDEW's three-colour Traffic Light Concept."""

    USEF = "usef"
    BDEW = "bdew"


@dataclass(frozen=True)
class LightThresholds:
    """Where the colours change (see the module docstring). ``red_factor`` bands a
    *realised* state only (``state_lights``); forecast red needs a market that cannot cover
    the need or the ``emergency_factor`` condition (None: off)."""

    yellow_margin_pct: float = 10.0
    red_factor: float = 1.5
    cover_factor: float = 1.0
    emergency_factor: float | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.yellow_margin_pct) and self.yellow_margin_pct >= 0):
            raise InputError("yellow_margin_pct", self.yellow_margin_pct, ">= 0 percentage points")
        if not (np.isfinite(self.red_factor) and self.red_factor > 1):
            raise InputError("red_factor", self.red_factor, "a factor > 1 on the loading limit")
        if not (np.isfinite(self.cover_factor) and self.cover_factor >= 1):
            raise InputError("cover_factor", self.cover_factor, ">= 1")
        if self.emergency_factor is not None and not (
                np.isfinite(self.emergency_factor) and self.emergency_factor > 1):
            raise InputError("emergency_factor", self.emergency_factor,
                             "null (no emergency by loading) or a factor > 1 on the limit")


def _limits(cps: pd.DataFrame, loading_pct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    loading = np.asarray(loading_pct, dtype=float)
    limit = cps["max_loading_pct"].to_numpy(dtype=float)
    if loading.ndim != 2 or loading.shape[1] != limit.size:
        raise InputError("loading_pct", loading.shape, f"an array [T, {limit.size}] (T, CP)")
    return loading, limit


def forecast_lights(
    loading_pct: np.ndarray,
    cps: pd.DataFrame,
    *,
    market_relief_kw: np.ndarray,
    control_relief_kw: np.ndarray,
    scheme: LightScheme | str = LightScheme.USEF,
    thresholds: LightThresholds | None = None,
) -> np.ndarray:
    """[T, CP] colour codes (0 green .. 3 red, ``LIGHT_CODES``) of the forecast.

    ``loading_pct`` [T, CP] is the forecast loading; ``market_relief_kw`` and
    ``control_relief_kw`` [T, CP] the relief on offer and under direct control.
    """
    try:
        scheme = LightScheme(scheme)
    except ValueError:
        raise InputError("scheme", scheme, "'usef' or 'bdew'") from None
    th = thresholds or LightThresholds()
    loading, limit = _limits(cps, loading_pct)
    rated = cps["rated_kva"].to_numpy(dtype=float)
    market = np.asarray(market_relief_kw, dtype=float)
    control = np.asarray(control_relief_kw, dtype=float)
    for name, arr in (("market_relief_kw", market), ("control_relief_kw", control)):
        if arr.shape != loading.shape:
            raise InputError(name, arr.shape, f"shape {loading.shape} like loading_pct")
    need = np.maximum(0.0, loading - limit[None, :]) / 100.0 * rated[None, :]
    wanted = th.cover_factor * need
    light = np.full(loading.shape, GREEN, dtype=np.int8)
    if scheme is LightScheme.USEF:
        light[loading > limit[None, :] - th.yellow_margin_pct] = YELLOW
    light[need > 0] = YELLOW
    light[(need > 0) & (market < wanted)] = ORANGE
    light[((need > 0) & (market + control < wanted)) | emergency_mask(loading, limit, th)] = RED
    if scheme is LightScheme.BDEW:
        light[light == ORANGE] = RED
    return light


def emergency_mask(loading: np.ndarray, limit: np.ndarray,
                   thresholds: LightThresholds) -> np.ndarray:
    """[T, CP] True where the documented emergency condition holds (off by default)."""
    if thresholds.emergency_factor is None:
        return np.zeros(loading.shape, dtype=bool)
    return loading > thresholds.emergency_factor * limit[None, :]


def escalate(
    lights: np.ndarray,
    market_left: np.ndarray,
    control_left: np.ndarray,
    scheme: LightScheme | str,
) -> np.ndarray:
    """[T, CP] regimes once the market (and, in USEF, direct control) has acted: a point the
    market left overloaded (``market_left``) goes orange in USEF — red if direct control
    left it overloaded too (``control_left``) — and red in BDEW. Forecast colours are kept
    where they are worse (an emergency)."""
    scheme = LightScheme(scheme)
    out = np.asarray(lights).copy()
    market_left = np.asarray(market_left, dtype=bool)
    if scheme is LightScheme.USEF:
        out[market_left] = np.maximum(out[market_left], ORANGE)
        out[np.asarray(control_left, dtype=bool)] = RED
    else:
        out[market_left] = RED
    return out


def state_lights(
    loading_pct: np.ndarray, cps: pd.DataFrame, thresholds: LightThresholds | None = None
) -> np.ndarray:
    """[T, CP] colour codes of a realised state, by loading band alone (module docstring)."""
    th = thresholds or LightThresholds()
    loading, limit = _limits(cps, loading_pct)
    light = np.full(loading.shape, GREEN, dtype=np.int8)
    light[loading > limit[None, :] - th.yellow_margin_pct] = YELLOW
    light[loading > limit[None, :] + 1e-9] = ORANGE
    light[loading > th.red_factor * limit[None, :]] = RED
    return light


def worst_light_per_isp(lights: np.ndarray) -> np.ndarray:
    """[T] the worst colour code over the congestion points of each ISP."""
    lights = np.asarray(lights)
    if lights.shape[1] == 0:
        return np.zeros(lights.shape[0], dtype=np.int8)
    return lights.max(axis=1)


def light_hours(lights: np.ndarray, isp_hours: float) -> dict[str, float]:
    """Hours per colour of the grid: each ISP counts with the worst colour of its points."""
    worst = worst_light_per_isp(lights)
    counts = np.bincount(worst.astype(np.int64), minlength=4)
    return {str(c): float(n * isp_hours) for c, n in zip(LIGHT_CODES, counts, strict=True)}
