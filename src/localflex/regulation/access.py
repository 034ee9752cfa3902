"""How much of an aggregator's flexibility can enter each market (paper §4.1, Table 1, §7).

§4.1 names the barriers that keep aggregated small units out of short-term markets even where
Table 1 says "Yes": the minimum bid size, symmetric bidding, and activation times designed for
big units. §7 names the next research step: "investigate regulatory market adjustments (lower
minimum bid size, asymmetric bidding) to quantify how much they can improve market access for
aggregators". ``market_access`` does that quantification for a portfolio and a country preset.

How a portfolio enters a market (one rule set, also used by the aggregator's bid building):

1. access (Table 1): ``no`` → nothing; ``generation_only`` → only generation units count;
2. timing (optional unit data): a unit whose notification time exceeds the market's
   ``max_notification_min``, whose response time exceeds ``full_activation_time_min`` or that
   cannot sustain ``max_activation_duration_min`` is left out;
3. the eligible units' kW are pooled per ISP and direction;
4. a bid covers ``product_length_min``: the pooled kW held over each product block is the
   block's minimum;
5. ``symmetric``: only ``min(up, down)`` is offered, in both directions;
6. the volume is rounded *down* to ``bid_step_kw`` (0 = continuous) and dropped if below
   ``min_bid_kw``.

Where a preset has ``null`` for a figure, ``DEFAULT_FIGURES`` gives a documented default per
market and the output names it in the ``assumed`` column. These defaults are assumptions of
localflex, not data of the paper:

| market | min bid kW | step kW | symmetric | product min | sustain min | full act. | notice |
|---|---|---|---|---|---|---|---|
| day_ahead | 100 | 100 | no | 60 | 60 | 60 | 720 |
| intraday | 100 | 100 | no | 15 | 15 | 15 | 30 |
| fcr | 1000 | 1000 | yes | 240 | 30 | 0.5 | ∞ |
| frr (aFRR) | 1000 | 1000 | no | 240 | 240 | 5 | ∞ |
| rr (mFRR) | 1000 | 1000 | no | 240 | 240 | 12.5 | 12.5 |
| local_dso | 1 | 0 | no | 15 | 60 | 15 | 15 |

Durations in minutes. Reasons: 0.1 MW is the usual exchange volume increment (EPEX, Nord Pool);
1 MW the usual reserve minimum (the German TSOs' rule, which most bundled presets lack); FCR is
symmetric in the ENTSO-E area and must be held 15–30 min by limited-energy units; aFRR/mFRR are
4-hour products; day-ahead gate closure is at noon the day before (≥ 12 h notice), intraday 30
min; automatic reserves (FCR, aFRR) send no advance notice, so only response time counts; the
local DSO market is that of ``examples/demo.yaml`` (1 kW minimum, one ISP).
``max_notification_min`` is not part of the preset schema, so it is always assumed.

Access to the local DSO market is not in Table 1: it is ``yes`` where the preset's §5 status is
``contractual_agreements`` (Germany, Belgium) and ``no`` (assumed; §5: DSO procurement "is not
allowed in most European countries") where the paper states nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from localflex.domain import InputError
from localflex.regulation.schema import (
    TABLE1_MARKETS,
    Access,
    CountryPreset,
    DsoProcurementStatus,
    Market,
)

__all__ = [
    "ACCESS_MARKETS",
    "DEFAULT_FIGURES",
    "DEFAULT_WHAT_IF",
    "ResolvedProduct",
    "apply_product_rules",
    "hold_over_blocks",
    "market_access",
    "resolve_product",
]

ACCESS_MARKETS: tuple[Market, ...] = (*TABLE1_MARKETS, Market.LOCAL_DSO)

_PRESET_FIGURES = (
    "min_bid_kw",
    "bid_step_kw",
    "symmetric",
    "product_length_min",
    "max_activation_duration_min",
    "full_activation_time_min",
)
DEFAULT_FIGURES: dict[Market, dict[str, Any]] = {
    Market.DAY_AHEAD: {"min_bid_kw": 100.0, "bid_step_kw": 100.0, "symmetric": False,
                       "product_length_min": 60.0, "max_activation_duration_min": 60.0,
                       "full_activation_time_min": 60.0, "max_notification_min": 720.0},
    Market.INTRADAY: {"min_bid_kw": 100.0, "bid_step_kw": 100.0, "symmetric": False,
                      "product_length_min": 15.0, "max_activation_duration_min": 15.0,
                      "full_activation_time_min": 15.0, "max_notification_min": 30.0},
    Market.FCR: {"min_bid_kw": 1000.0, "bid_step_kw": 1000.0, "symmetric": True,
                 "product_length_min": 240.0, "max_activation_duration_min": 30.0,
                 "full_activation_time_min": 0.5, "max_notification_min": math.inf},
    Market.FRR: {"min_bid_kw": 1000.0, "bid_step_kw": 1000.0, "symmetric": False,
                 "product_length_min": 240.0, "max_activation_duration_min": 240.0,
                 "full_activation_time_min": 5.0, "max_notification_min": math.inf},
    Market.RR: {"min_bid_kw": 1000.0, "bid_step_kw": 1000.0, "symmetric": False,
                "product_length_min": 240.0, "max_activation_duration_min": 240.0,
                "full_activation_time_min": 12.5, "max_notification_min": 12.5},
    Market.LOCAL_DSO: {"min_bid_kw": 1.0, "bid_step_kw": 0.0, "symmetric": False,
                       "product_length_min": 15.0, "max_activation_duration_min": 60.0,
                       "full_activation_time_min": 15.0, "max_notification_min": 15.0},
}

# What-if rule changes of §7: each lowers the figure it names (never raises it).
DEFAULT_WHAT_IF: dict[str, dict[str, Any]] = {
    "min_bid_100kw": {"min_bid_kw": 100.0},
    "min_bid_10kw": {"min_bid_kw": 10.0},
    "min_bid_1kw": {"min_bid_kw": 1.0},
    "asymmetric": {"symmetric": False},
    "min_bid_1kw_asymmetric": {"min_bid_kw": 1.0, "symmetric": False},
}
_WHAT_IF_KEYS = {"min_bid_kw", "bid_step_kw", "symmetric", "product_length_min", "access"}


@dataclass(frozen=True, slots=True)
class ResolvedProduct:
    """The product rules of one market of a preset, nulls replaced by ``DEFAULT_FIGURES``.

    ``assumed`` names the figures (and ``access`` for the local DSO market where the paper is
    silent) that come from localflex's defaults, not from the preset's sources.
    """

    market: Market
    access: Access
    min_bid_kw: float
    bid_step_kw: float
    symmetric: bool
    product_length_min: float
    max_activation_duration_min: float
    full_activation_time_min: float
    max_notification_min: float
    assumed: tuple[str, ...]

    def product_length_isps(self, isp_minutes: float) -> int:
        return max(1, math.ceil(self.product_length_min / isp_minutes - 1e-9))

    def duration_isps(self, isp_minutes: float) -> int:
        return max(1, math.ceil(self.max_activation_duration_min / isp_minutes - 1e-9))


def resolve_product(preset: CountryPreset, market: Market | str) -> ResolvedProduct:
    """Access and product figures of ``market`` under ``preset`` (defaults where null)."""
    try:
        market = Market(market)
    except ValueError:
        raise InputError("market", market, f"one of {', '.join(m.value for m in Market)}") \
            from None
    defaults = DEFAULT_FIGURES[market]
    assumed: list[str] = []
    values: dict[str, Any] = {}
    if market is Market.LOCAL_DSO:
        contracted = (preset.dso_flexibility_procurement.status
                      is DsoProcurementStatus.CONTRACTUAL_AGREEMENTS)
        access = Access.YES if contracted else Access.NO
        if not contracted:
            assumed.append("access")
        values = dict(defaults)
        assumed.extend(_PRESET_FIGURES)
    else:
        access = preset.access_to(market)
        req = preset.requirements(market)
        for name in _PRESET_FIGURES:
            figure = getattr(req, name)
            if figure.value is None:
                values[name] = defaults[name]
                assumed.append(name)
            else:
                values[name] = figure.value
        values["max_notification_min"] = defaults["max_notification_min"]
    assumed.append("max_notification_min")
    return ResolvedProduct(
        market=market,
        access=access,
        min_bid_kw=float(values["min_bid_kw"]),
        bid_step_kw=float(values["bid_step_kw"]),
        symmetric=bool(values["symmetric"]),
        product_length_min=float(values["product_length_min"]),
        max_activation_duration_min=float(values["max_activation_duration_min"]),
        full_activation_time_min=float(values["full_activation_time_min"]),
        max_notification_min=float(values["max_notification_min"]),
        assumed=tuple(dict.fromkeys(assumed)),
    )


def hold_over_blocks(volume_kw: np.ndarray, block_isps: int) -> np.ndarray:
    """The volume [T, ...] a bid can hold over consecutive product blocks of ``block_isps``
    ISPs (the block's minimum, repeated over the block; a last partial block counts alone)."""
    volume_kw = np.asarray(volume_kw, dtype=float)
    if block_isps <= 1 or volume_kw.shape[0] == 0:
        return volume_kw.copy()
    n_isps = volume_kw.shape[0]
    n_blocks = -(-n_isps // block_isps)
    pad = n_blocks * block_isps - n_isps
    padded = np.concatenate(
        [volume_kw, np.full((pad, *volume_kw.shape[1:]), np.inf)], axis=0
    )
    held = padded.reshape(n_blocks, block_isps, *volume_kw.shape[1:]).min(axis=1)
    return np.repeat(held, block_isps, axis=0)[:n_isps]


def apply_product_rules(
    up_kw: np.ndarray,
    down_kw: np.ndarray,
    *,
    min_bid_kw: float | np.ndarray,
    bid_step_kw: float | np.ndarray = 0.0,
    symmetric: bool = False,
    product_length_isps: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled kW [T, ...] per direction → the kW a bid may carry under the product rules
    (steps 4–6 of the module docstring). ``min_bid_kw``/``bid_step_kw`` broadcast over the
    trailing axes (e.g. one figure per pool)."""
    up = hold_over_blocks(np.maximum(np.asarray(up_kw, dtype=float), 0.0), product_length_isps)
    down = hold_over_blocks(np.maximum(np.asarray(down_kw, dtype=float), 0.0),
                            product_length_isps)
    if symmetric:
        up = down = np.minimum(up, down)
    step = np.asarray(bid_step_kw, dtype=float)
    minimum = np.asarray(min_bid_kw, dtype=float)
    out = []
    for volume in (up, down):
        stepped = np.where(step > 0, np.floor(volume / np.where(step > 0, step, 1.0) + 1e-9)
                           * step, volume)
        keep = (stepped >= minimum - 1e-9) & (stepped > 1e-9)
        out.append(np.where(keep, stepped, 0.0))
    return out[0], out[1]


def _eligible_units(
    product: ResolvedProduct,
    is_generation: np.ndarray,
    notification_min: np.ndarray | None,
    response_min: np.ndarray | None,
    max_duration_isps: np.ndarray | None,
    isp_minutes: float,
) -> np.ndarray:
    if product.access is Access.NO:
        return np.zeros(is_generation.size, dtype=bool)
    ok = is_generation.copy() if product.access is Access.GENERATION_ONLY \
        else np.ones(is_generation.size, dtype=bool)
    if notification_min is not None:
        ok &= notification_min <= product.max_notification_min + 1e-9
    if response_min is not None:
        ok &= response_min <= product.full_activation_time_min + 1e-9
    if max_duration_isps is not None:
        ok &= max_duration_isps >= product.duration_isps(isp_minutes)
    return ok


def _entered(
    product: ResolvedProduct,
    up: np.ndarray,
    down: np.ndarray,
    is_generation: np.ndarray,
    timing: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None],
    isp_minutes: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    eligible = _eligible_units(product, is_generation, *timing, isp_minutes)
    pooled_up = up[:, eligible].sum(axis=1)
    pooled_down = down[:, eligible].sum(axis=1)
    entered_up, entered_down = apply_product_rules(
        pooled_up, pooled_down,
        min_bid_kw=product.min_bid_kw,
        bid_step_kw=product.bid_step_kw,
        symmetric=product.symmetric,
        product_length_isps=product.product_length_isps(isp_minutes),
    )
    return entered_up, entered_down, int(eligible.sum())


def _what_if_product(product: ResolvedProduct, name: str, change: Mapping[str, Any]
                     ) -> ResolvedProduct:
    unknown = set(change) - _WHAT_IF_KEYS
    if unknown:
        raise InputError(f"what_if.{name}", sorted(unknown)[0],
                         f"one of {', '.join(sorted(_WHAT_IF_KEYS))}")
    updates: dict[str, Any] = {}
    if "min_bid_kw" in change:
        value = float(change["min_bid_kw"])
        if not value >= 0:
            raise InputError(f"what_if.{name}.min_bid_kw", change["min_bid_kw"], ">= 0 kW")
        updates["min_bid_kw"] = min(product.min_bid_kw, value)
        # a lower minimum bid comes with a step no coarser than it (else the step still binds)
        updates["bid_step_kw"] = min(product.bid_step_kw, updates["min_bid_kw"])
    if "bid_step_kw" in change:
        updates["bid_step_kw"] = min(product.bid_step_kw, float(change["bid_step_kw"]))
    if "symmetric" in change:
        updates["symmetric"] = product.symmetric and bool(change["symmetric"])
    if "product_length_min" in change:
        updates["product_length_min"] = min(product.product_length_min,
                                            float(change["product_length_min"]))
    if "access" in change:
        updates["access"] = Access(change["access"])
    return replace(product, **updates)


def _as_matrix(field: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or not np.isfinite(arr).all() or (arr < 0).any():
        raise InputError(field, getattr(arr, "shape", value),
                         "a [T, N] (or [T]) array of finite kW >= 0")
    return arr


def market_access(
    portfolio_up_kw: Any,
    portfolio_down_kw: Any,
    unit_is_generation: Any,
    preset: CountryPreset,
    what_if: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    isp_minutes: float = 15.0,
    unit_notification_min: Any | None = None,
    unit_response_min: Any | None = None,
    unit_max_duration_isps: Any | None = None,
    markets: tuple[Market, ...] = ACCESS_MARKETS,
) -> pd.DataFrame:
    """How much of a portfolio's flexibility enters each market of ``preset``, and how much
    more would enter under the ``what_if`` rule changes (default ``DEFAULT_WHAT_IF``).

    ``portfolio_up_kw``/``portfolio_down_kw``: the units' flexibility [T, N] kW (UP = more
    injection); ``unit_is_generation`` [N] bool. Optional unit timing [N] applies the
    notification / response / duration limits. kW figures are means over the ISPs; ``share``
    is entered / available (up + down).

    Columns: ``market, access, min_bid_kw, bid_step_kw, symmetric, product_length_min,
    max_activation_duration_min, full_activation_time_min, max_notification_min, assumed``
    (comma-separated names of defaulted figures), ``units_eligible, available_up_kw,
    available_down_kw, entered_up_kw, entered_down_kw, entered_kw, share``, and per what-if
    ``W``: ``entered_kw__W``, ``extra_kw__W`` (entered_kw__W − entered_kw), ``share__W``.
    """
    up = _as_matrix("portfolio_up_kw", portfolio_up_kw)
    down = _as_matrix("portfolio_down_kw", portfolio_down_kw)
    if down.shape != up.shape:
        raise InputError("portfolio_down_kw", down.shape, f"shape {up.shape} like up")
    is_gen = np.asarray(unit_is_generation, dtype=bool).reshape(-1)
    if is_gen.size != up.shape[1]:
        raise InputError("unit_is_generation", is_gen.size, f"{up.shape[1]} flags (one per unit)")
    if not isp_minutes > 0:
        raise InputError("isp_minutes", isp_minutes, "> 0 minutes")
    timing = tuple(
        None if value is None else np.asarray(value, dtype=float).reshape(-1)
        for value in (unit_notification_min, unit_response_min, unit_max_duration_isps)
    )
    for name, arr in zip(("unit_notification_min", "unit_response_min",
                          "unit_max_duration_isps"), timing, strict=True):
        if arr is not None and arr.size != up.shape[1]:
            raise InputError(name, arr.size, f"{up.shape[1]} values (one per unit)")
    scenarios = DEFAULT_WHAT_IF if what_if is None else what_if
    available_up = float(up.sum(axis=1).mean()) if up.size else 0.0
    available_down = float(down.sum(axis=1).mean()) if down.size else 0.0
    available = available_up + available_down

    def share(kw: float) -> float:
        return kw / available if available > 0 else 0.0

    rows = []
    for market in markets:
        product = resolve_product(preset, market)
        e_up, e_down, n_ok = _entered(product, up, down, is_gen, timing, isp_minutes)
        entered_up = float(e_up.mean()) if e_up.size else 0.0
        entered_down = float(e_down.mean()) if e_down.size else 0.0
        row: dict[str, Any] = {
            "market": market.value,
            "access": product.access.value,
            "min_bid_kw": product.min_bid_kw,
            "bid_step_kw": product.bid_step_kw,
            "symmetric": product.symmetric,
            "product_length_min": product.product_length_min,
            "max_activation_duration_min": product.max_activation_duration_min,
            "full_activation_time_min": product.full_activation_time_min,
            "max_notification_min": product.max_notification_min,
            "assumed": ",".join(product.assumed),
            "units_eligible": n_ok,
            "available_up_kw": available_up,
            "available_down_kw": available_down,
            "entered_up_kw": entered_up,
            "entered_down_kw": entered_down,
            "entered_kw": entered_up + entered_down,
            "share": share(entered_up + entered_down),
        }
        for name, change in scenarios.items():
            changed = _what_if_product(product, name, change)
            w_up, w_down, _ = _entered(changed, up, down, is_gen, timing, isp_minutes)
            kw = float(w_up.mean() + w_down.mean()) if w_up.size else 0.0
            row[f"entered_kw__{name}"] = kw
            row[f"extra_kw__{name}"] = kw - row["entered_kw"]
            row[f"share__{name}"] = share(kw)
        rows.append(row)
    return pd.DataFrame(rows)
