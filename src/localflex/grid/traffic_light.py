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

Thresholds (``LightThresholds``; defaults in brackets)
------------------------------------------------------
USEF, per point and ISP, first rule that holds, from the top:

* **red** — loading > ``red_factor`` × limit [1.5: IEC 60076-7's normal cyclic loading
  limit of a distribution transformer], or market + control relief < need: emergency,
  curtailment / load shedding;
* **orange** — need > 0 and market relief < need (<= market + control relief): the market
  cannot solve it, the DSO uses direct control of contracted resources (graceful
  degradation, e.g. load / generation limitation);
* **yellow** — loading > limit − ``yellow_margin_pct`` [10 percentage points]: a forecast
  problem (or one within the margin) the DSO expects to solve by buying flexibility; market
  trades that worsen the point are limited;
* **green** — otherwise: no forecast problem, free trading.

``market relief < need`` compares with ``cover_factor`` × need [1.0] (a value above 1 asks
for spare liquidity before trusting the market). BDEW has no orange: what USEF calls orange
is red in BDEW (the network operator intervenes directly — control first, then curtailment).

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
    """Where the colours change (see the module docstring)."""

    yellow_margin_pct: float = 10.0
    red_factor: float = 1.5
    cover_factor: float = 1.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.yellow_margin_pct) and self.yellow_margin_pct >= 0):
            raise InputError("yellow_margin_pct", self.yellow_margin_pct, ">= 0 percentage points")
        if not (np.isfinite(self.red_factor) and self.red_factor > 1):
            raise InputError("red_factor", self.red_factor, "a factor > 1 on the loading limit")
        if not (np.isfinite(self.cover_factor) and self.cover_factor >= 1):
            raise InputError("cover_factor", self.cover_factor, ">= 1")


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
    light[loading > limit[None, :] - th.yellow_margin_pct] = YELLOW
    light[(need > 0) & (market < wanted)] = ORANGE
    red = (loading > th.red_factor * limit[None, :]) | ((need > 0) & (market + control < wanted))
    light[red] = RED
    if scheme is LightScheme.BDEW:
        light[light == ORANGE] = RED
    return light


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
