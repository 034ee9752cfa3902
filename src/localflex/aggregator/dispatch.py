"""Dispatch: split the awards of each pool over its units (paper §4: the aggregator
operates the DERs it pools).

An award on a pool in ISP t is shared over the pool's units pro rata to what each unit
offered in that ISP, so no unit is asked beyond its envelope. The result is a setpoint
change per unit and ISP (``delta_injection_kw`` [T, N], positive = UP); the DER models then
carry their state forward and return the realised response with any rebound.

A book built under product rules records the units' kW behind its pools
(``OfferBook.unit_up_kw``): units left out for timing are never asked, and a unit is asked at
most what its energy sustains. Comfort bands are the DER models' own: a heat pump clips the
request to its band in ``respond``.

``unit_energy_budgets`` states the units' inter-temporal limits for the market: since an
award on a pool falls on unit ``i`` as ``award × up_kw[t, i] / pool_up_kw[t]``, the energy
bought from a pool in all ISPs may not exceed, for any of its units, that unit's energy
content (``energy_up_max_kwh`` / ``energy_down_max_kwh`` of the envelope, less what earlier
awards already use). One budget per unit and direction whose envelope over the horizon holds
more energy than its content (the others cannot bind). The clearing keeps every budget, so a
heat pump's or a battery's headroom is never sold twice.

``dispatch_and_respond`` goes one step further: it calls each fleet's ``respond`` on its slice
of the setpoint changes and returns, per unit, what was asked, what was delivered and the
rebound — plus, if a forecast-error model is given, a seeded draw of the baseline's forecast
error on top (the realised net load then differs from the DSO's forecast even without
activation). The model is any callable
``forecast_error(rng, baseline_kw [T, N], der_type [N]) -> error_kw [T, N]`` (consumption-
positive, like meter data).

Columns of ``DispatchResponse.units``:

| column | unit | meaning |
|---|---|---|
| der_id, der_type, bus | - | the unit |
| aggregator_id | - | who dispatched it ('' = not pooled) |
| requested_up_kwh, requested_down_kwh | kWh | setpoint changes asked, per direction |
| delivered_up_kwh, delivered_down_kwh | kWh | realised change (baseline − realised net |
|  |  | load, the DER model's own) in ISPs with a request |
| rebound_kwh | kWh | absolute realised change in ISPs without a request (paid back energy) |
| forecast_error_kwh | kWh | sum of the drawn forecast error (0 without a model) |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from localflex.aggregator.offers import OfferBook
from localflex.domain import Direction, InputError, TimeGrid

__all__ = [
    "DispatchResponse",
    "ForecastErrorModel",
    "RespondingFleet",
    "awarded_per_pool",
    "dispatch_and_respond",
    "dispatch_awards",
    "unit_energy_budgets",
]

ForecastErrorModel = Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]


class RespondingFleet(Protocol):
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray: ...
    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray: ...


def awarded_per_pool(awards: pd.DataFrame, book: OfferBook) -> tuple[np.ndarray, np.ndarray]:
    """Awarded kW per ISP and pool, for UP and DOWN: two arrays [T, G]."""
    n_isps, n_pools = book.pool_up_kw.shape
    up = np.zeros((n_isps, n_pools))
    down = np.zeros((n_isps, n_pools))
    if awards.empty:
        return up, down
    row = pd.Index(book.offers["offer_id"].to_numpy()).get_indexer(
        awards["offer_id"].to_numpy())
    if (row < 0).any():
        bad = awards["offer_id"].to_numpy()[np.flatnonzero(row < 0)[0]]
        raise InputError("award.offer_id", bad, "an offer of this offer book")
    pool = book.offers["pool"].to_numpy(dtype=np.int64)[row]
    isp = awards["isp"].to_numpy(dtype=np.int64)
    power = awards["power_kw"].to_numpy(dtype=float)
    is_up = awards["direction"].to_numpy() == Direction.UP.value
    np.add.at(up, (isp[is_up], pool[is_up]), power[is_up])
    np.add.at(down, (isp[~is_up], pool[~is_up]), power[~is_up])
    return up, down


def dispatch_awards(
    awards: pd.DataFrame, book: OfferBook, up_kw: np.ndarray, down_kw: np.ndarray
) -> np.ndarray:
    """Per-unit setpoint changes [T, N] (positive = more injection) that deliver the awards.

    ``up_kw``/``down_kw`` are the units' envelopes; a book built under product rules uses the
    kW it recorded behind its pools instead.
    """
    if book.unit_up_kw is not None and book.unit_down_kw is not None:
        up_kw, down_kw = book.unit_up_kw, book.unit_down_kw
    awarded_up, awarded_down = awarded_per_pool(awards, book)
    with np.errstate(divide="ignore", invalid="ignore"):
        share_up = np.where(book.pool_up_kw > 0, awarded_up / book.pool_up_kw, 0.0)
        share_down = np.where(book.pool_down_kw > 0, awarded_down / book.pool_down_kw, 0.0)
    share_up = np.clip(share_up, 0.0, 1.0)
    share_down = np.clip(share_down, 0.0, 1.0)
    pooled = book.pool_of_unit >= 0
    delta = np.zeros_like(up_kw, dtype=float)
    pool = book.pool_of_unit[pooled]
    delta[:, pooled] = (
        share_up[:, pool] * up_kw[:, pooled] - share_down[:, pool] * down_kw[:, pooled]
    )
    return delta


def unit_energy_budgets(
    book: OfferBook,
    up_kw: np.ndarray,
    down_kw: np.ndarray,
    energy_up_max_kwh: np.ndarray,
    energy_down_max_kwh: np.ndarray,
    isp_hours: float,
    requested_delta_kw: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Energy budgets of the book's offers (module docstring): ``(offer_id, budget, weight,
    limit_kwh)`` — the fields of ``localflex.market.EnergyBudgets``.

    ``requested_delta_kw`` [T, N] (positive = UP) is what earlier awards already ask of the
    units; their budgets shrink by it.
    """
    if book.unit_up_kw is not None and book.unit_down_kw is not None:
        up_kw, down_kw = book.unit_up_kw, book.unit_down_kw
    used = (np.zeros_like(up_kw, dtype=float) if requested_delta_kw is None
            else np.asarray(requested_delta_kw, dtype=float))
    offers = book.offers
    ids, budgets, weights, limits = [], [], [], []
    n_budgets = 0
    for direction, unit_kw, pool_kw, energy, used_kw in (
        (Direction.UP, up_kw, book.pool_up_kw, energy_up_max_kwh, np.clip(used, 0, None)),
        (Direction.DOWN, down_kw, book.pool_down_kw, energy_down_max_kwh,
         np.clip(-used, 0, None)),
    ):
        energy = np.asarray(energy, dtype=float)
        left = energy - used_kw.sum(axis=0) * isp_hours  # what earlier awards leave
        pooled = book.pool_of_unit >= 0
        binding = pooled & np.isfinite(energy) & (unit_kw.sum(axis=0) * isp_hours
                                                  > left + 1e-9)
        units = np.flatnonzero(binding)
        if units.size == 0:
            continue
        mine = offers[(offers["direction"] == direction.value) & (offers["pool"] >= 0)]
        unit_frame = pd.DataFrame({"unit": units, "pool": book.pool_of_unit[units],
                                   "k": n_budgets + np.arange(units.size)})
        pairs = unit_frame.merge(mine[["offer_id", "pool", "isp"]], on="pool")
        if pairs.empty:
            continue
        t = pairs["isp"].to_numpy(dtype=np.int64)
        u = pairs["unit"].to_numpy(dtype=np.int64)
        g = pairs["pool"].to_numpy(dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(pool_kw[t, g] > 0, unit_kw[t, u] / pool_kw[t, g], 0.0)
        ids.append(pairs["offer_id"].to_numpy())
        budgets.append(pairs["k"].to_numpy(dtype=np.int64))
        weights.append(w)
        limits.append(np.maximum(left[units], 0.0))
        n_budgets += units.size
    if not ids:
        return (np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), np.zeros(0),
                np.zeros(0))
    return (np.concatenate(ids), np.concatenate(budgets), np.concatenate(weights),
            np.concatenate(limits))


@dataclass(frozen=True)
class DispatchResponse:
    """What dispatch asked and what the units did (arrays [T, N], consumption-positive loads)."""

    requested_delta_kw: np.ndarray  # positive = UP (more injection)
    baseline_kw: np.ndarray
    realised_kw: np.ndarray  # response of the DER models (+ forecast error if drawn)
    forecast_error_kw: np.ndarray
    units: pd.DataFrame  # per-unit summary, columns in the module docstring

    @property
    def delivered_delta_kw(self) -> np.ndarray:
        """Realised change of injection [T, N] (baseline − realised, positive = UP)."""
        return self.baseline_kw - self.realised_kw


def dispatch_and_respond(
    awards: pd.DataFrame,
    book: OfferBook,
    up_kw: np.ndarray,
    down_kw: np.ndarray,
    *,
    fleets: Sequence[RespondingFleet],
    slices: Sequence[slice],
    time_grid: TimeGrid,
    der_id: np.ndarray | None = None,
    der_type: np.ndarray | None = None,
    bus: np.ndarray | None = None,
    unit_aggregator: np.ndarray | None = None,
    forecast_error: ForecastErrorModel | None = None,
    rng: np.random.Generator | None = None,
) -> DispatchResponse:
    """Split the awards over the units (``dispatch_awards``), let each fleet respond on its
    slice of units, and return the realised response per unit (rebound included, and a
    forecast-error draw if ``forecast_error`` is given — then ``rng`` is required)."""
    n_isps, n_units = up_kw.shape
    if len(fleets) != len(slices):
        raise InputError("slices", len(slices), f"{len(fleets)} slices (one per fleet)")
    covered = np.zeros(n_units, dtype=int)
    for sl in slices:
        covered[sl] += 1
    if (covered != 1).any():
        raise InputError("slices", [(s.start, s.stop) for s in slices],
                         f"slices covering each of the {n_units} units exactly once")
    if forecast_error is not None and rng is None:
        raise InputError("rng", None, "a numpy Generator to draw the forecast error with")
    requested = dispatch_awards(awards, book, up_kw, down_kw)
    baseline = np.zeros((n_isps, n_units))
    realised = np.zeros((n_isps, n_units))
    for fleet, sl in zip(fleets, slices, strict=True):
        baseline[:, sl] = fleet.baseline_kw(time_grid)
        realised[:, sl] = fleet.respond(time_grid, requested[:, sl])
    types = (np.asarray(der_type).astype(str) if der_type is not None
             else np.full(n_units, "mixed"))
    error = np.zeros((n_isps, n_units))
    if forecast_error is not None:
        error = np.asarray(forecast_error(rng, baseline, types), dtype=float)
        if error.shape != baseline.shape or not np.isfinite(error).all():
            raise InputError("forecast_error", getattr(error, "shape", None),
                             f"finite kW of shape {list(baseline.shape)}")
        realised = realised + error
    dt = time_grid.isp_hours
    delivered = baseline - (realised - error)  # the DER models' own response
    asked = requested != 0.0
    units = pd.DataFrame({
        "der_id": (np.asarray(der_id).astype(str) if der_id is not None
                   else np.arange(n_units).astype(str)),
        "der_type": types,
        "bus": (np.asarray(bus, dtype=np.int64) if bus is not None
                else np.full(n_units, -1, dtype=np.int64)),
        "aggregator_id": (np.asarray(unit_aggregator, dtype=object) if unit_aggregator
                          is not None else np.full(n_units, "", dtype=object)),
        "requested_up_kwh": np.clip(requested, 0.0, None).sum(axis=0) * dt,
        "requested_down_kwh": np.clip(-requested, 0.0, None).sum(axis=0) * dt,
        "delivered_up_kwh": np.where(asked, np.clip(delivered, 0.0, None), 0.0).sum(axis=0) * dt,
        "delivered_down_kwh": np.where(asked, np.clip(-delivered, 0.0, None), 0.0).sum(axis=0)
        * dt,
        "rebound_kwh": np.where(asked, 0.0, np.abs(delivered)).sum(axis=0) * dt,
        "forecast_error_kwh": error.sum(axis=0) * dt,
    })
    return DispatchResponse(requested, baseline, realised, error, units)
