"""Price-responsive demand, and what a network tariff does to a grid's peaks and congestion.

Paper §5.1: time-dependent and dynamic network tariffs are meant to steer when grid users
consume, "leading to the optimal use of the grid in the short-term". To see whether a tariff
does that on a real grid, this module shifts each customer's flexible load in response to the
tariff's per-ISP price signal and runs the power flow before and after.

Demand model (``PriceResponse``, applied by ``shift_load``), per customer and calendar day:

* a ``flexible_share`` φ of the customer's withdrawal in every ISP, ``f_t = φ·max(load_t, 0)``,
  can move within the day; the rest is fixed;
* with ``p_t`` the price signal and ``p̄`` its flexible-energy-weighted mean over the day, the
  flexible load responds with the own-price elasticity ε ≤ 0:
  ``f'_t = f_t · max(0, 1 + ε·(p_t − p̄)/s)``, ``s`` = the flexible-energy-weighted mean of
  |p_t| (so the response is to the relative price deviation and works for negative prices);
* ``f'`` is then rescaled so that ``Σ_t f'_t = Σ_t f_t``: energy is conserved within the day
  (load shifting, no load reduction). A flat price moves nothing.

``grid_day`` runs the grid's SimBench profiles for a horizon; ``tariff_impact`` applies a tariff
to the grid's load elements (the customers: ``net.load`` rows), re-runs the power flow, and
reports peak load, transformer loading and overload energy before and after, with bills and
the DSO's revenue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from localflex.domain.errors import InputError
from localflex.domain.time_grid import TimeGrid
from localflex.grid import (
    BusLoads,
    ElementProfiles,
    GridModel,
    PowerFlowResult,
    bus_loads,
    congestion_points,
    overload_kw,
    run_power_flow,
)
from localflex.tariffs.network_tariffs import DynamicTariff, Tariff, withdrawal_kw

__all__ = [
    "GridDay",
    "PriceResponse",
    "TariffImpact",
    "dynamic_tariff_for",
    "grid_day",
    "shift_load",
    "tariff_impact",
]


@dataclass(frozen=True, slots=True)
class PriceResponse:
    """Own-price ``elasticity`` (≤ 0) of the ``flexible_share`` (0..1) of withdrawal."""

    elasticity: float = -0.3
    flexible_share: float = 0.3

    def __post_init__(self) -> None:
        if not (np.isfinite(self.elasticity) and self.elasticity <= 0):
            raise InputError("elasticity", self.elasticity, "a finite value <= 0")
        if not 0 <= self.flexible_share <= 1:
            raise InputError("flexible_share", self.flexible_share, "a share in [0, 1]")


def _day_index(time_grid: TimeGrid) -> np.ndarray:
    """Calendar-day number [T] of every ISP (days counted from the horizon start)."""
    per_day = 1440 // time_grid.isp_minutes
    offset = (time_grid.start.hour * 60 + time_grid.start.minute) // time_grid.isp_minutes
    return (np.arange(time_grid.n_isps) + offset) // per_day


def _day_sum(values: np.ndarray, day: np.ndarray, n_days: int) -> np.ndarray:
    out = np.zeros((n_days, values.shape[1]))
    np.add.at(out, day, values)
    return out


NEGLIGIBLE_KWH = 1e-12  # flexible energy of a customer-day below which nothing is shifted


def shift_load(
    load_kw: np.ndarray,
    price_eur_per_kwh: np.ndarray,
    time_grid: TimeGrid,
    response: PriceResponse,
) -> np.ndarray:
    """Load [T, N] after the customers' response to ``price_eur_per_kwh`` ([T] or [T, N]).

    See the module docstring for the model. Each customer's energy per calendar day is
    unchanged; injection (negative load) is not shifted.
    """
    load = np.asarray(load_kw, dtype=float)
    w = withdrawal_kw(load, time_grid)
    price = np.asarray(price_eur_per_kwh, dtype=float)
    if price.ndim == 1:
        price = price[:, None]
    try:
        price = np.broadcast_to(price, w.shape)
    except ValueError:
        raise InputError("price_eur_per_kwh", price.shape,
                         f"[T] or [T, N] matching load_kw {w.shape}") from None
    if not np.isfinite(price).all():
        raise InputError("price_eur_per_kwh", "non-finite values", "finite prices")
    flex = response.flexible_share * w
    day = _day_index(time_grid)
    n_days = int(day[-1]) + 1
    energy = _day_sum(flex, day, n_days)  # [D, N]
    # A day whose flexible energy is below NEGLIGIBLE_KWH moves nothing: dividing by a
    # subnormal energy would overflow and mean nothing physically.
    has_energy = energy > NEGLIGIBLE_KWH
    safe = np.where(has_energy, energy, 1.0)
    mean_p = _day_sum(flex * price, day, n_days) / safe
    scale = _day_sum(flex * np.abs(price), day, n_days) / safe
    has_scale = has_energy & (scale > NEGLIGIBLE_KWH)
    rel = np.where(has_scale[day], (price - mean_p[day]) / np.where(has_scale, scale, 1.0)[day],
                   0.0)
    moved = flex * np.maximum(0.0, 1.0 + response.elasticity * rel)
    moved_energy = _day_sum(moved, day, n_days)
    has_moved = has_energy & (moved_energy > NEGLIGIBLE_KWH)
    factor = energy / np.where(has_moved, moved_energy, 1.0)
    moved = np.where(has_moved[day], moved * factor[day], flex)
    return load - flex + moved


@dataclass(frozen=True, eq=False)
class GridDay:
    """A grid over a horizon at its SimBench profiles: element powers, bus loads, power flow."""

    grid: GridModel
    time_grid: TimeGrid
    profiles: ElementProfiles
    loads: BusLoads
    result: PowerFlowResult
    congestion_points: pd.DataFrame

    @property
    def reverse_flow(self) -> np.ndarray:
        """[T] True where the grid as a whole feeds in (net load summed over buses < 0)."""
        return self.loads.p_kw.sum(axis=1) < 0

    @property
    def max_loading_pct(self) -> np.ndarray:
        """[T] loading of the most loaded congestion point."""
        return self.result.cp_loading_pct.max(axis=1)


def _scaled(profiles: ElementProfiles, load_scale: float, sgen_scale: float) -> ElementProfiles:
    return ElementProfiles(
        load_p_kw=profiles.load_p_kw * load_scale,
        load_q_kvar=profiles.load_q_kvar * load_scale,
        sgen_p_kw=profiles.sgen_p_kw * sgen_scale,
        storage_p_kw=profiles.storage_p_kw,
    )


def grid_day(
    grid: GridModel,
    time_grid: TimeGrid,
    *,
    load_scale: float = 1.0,
    sgen_scale: float = 1.0,
    engine: str = "pgm",
) -> GridDay:
    """Run ``grid`` over ``time_grid`` with its SimBench profiles (loads × ``load_scale``,
    generators × ``sgen_scale``)."""
    for name, value in (("load_scale", load_scale), ("sgen_scale", sgen_scale)):
        if not (np.isfinite(value) and value >= 0):
            raise InputError(name, value, "a finite multiplier >= 0")
    profiles = _scaled(grid.element_profiles_kw(time_grid), load_scale, sgen_scale)
    loads = bus_loads(grid, profiles)
    result = run_power_flow(grid, loads, engine=engine)
    return GridDay(grid, time_grid, profiles, loads, result, congestion_points(grid))


def _state(day: GridDay, result: PowerFlowResult, loads: BusLoads) -> dict[str, float]:
    cps = day.congestion_points
    is_trafo = (cps["kind"] == "trafo").to_numpy()
    total = loads.p_kw.sum(axis=1)
    trafo = result.cp_loading_pct[:, is_trafo]
    return {
        "peak_load_kw": float(total.max()),
        "peak_feedin_kw": float(max(0.0, -total.min())),
        "max_trafo_loading_pct": float(trafo.max()) if trafo.size else float("nan"),
        "max_loading_pct": float(result.cp_loading_pct.max()),
        "overload_energy_kwh": float(overload_kw(result, cps).sum() * day.time_grid.isp_hours),
        "congested_isps": int((overload_kw(result, cps) > 0).any(axis=1).sum()),
    }


@dataclass(frozen=True, eq=False)
class TariffImpact:
    """A tariff's effect on a grid day. ``before``/``after``: ``peak_load_kw`` (grid net
    load), ``peak_feedin_kw``, ``max_trafo_loading_pct``, ``max_loading_pct``,
    ``overload_energy_kwh``, ``congested_isps``, ``bills_eur`` (all customers),
    ``dso_revenue_eur``. ``load_before_kw``/``load_after_kw`` [T, n_load] per customer."""

    tariff: Tariff
    response: PriceResponse
    before: dict[str, float]
    after: dict[str, float]
    load_before_kw: np.ndarray
    load_after_kw: np.ndarray
    result_after: PowerFlowResult

    def table(self) -> pd.DataFrame:
        """One row per metric: before, after, change."""
        frame = pd.DataFrame({"before": pd.Series(self.before), "after": pd.Series(self.after)})
        return frame.assign(change=frame["after"] - frame["before"])


def tariff_impact(day: GridDay, tariff: Tariff, response: PriceResponse) -> TariffImpact:
    """Customers (the grid's load elements) respond to ``tariff``; power flow after."""
    tg = day.time_grid
    load = day.profiles.load_p_kw
    price = tariff.price_signal_eur_per_kwh(load, tg)
    shifted = shift_load(load, price, tg, response)
    # keep each element's power factor: q scales with p where p > 0
    ratio = np.divide(shifted, load, out=np.ones_like(load), where=np.abs(load) > 1e-9)
    profiles = replace(day.profiles, load_p_kw=shifted, load_q_kvar=day.profiles.load_q_kvar
                       * ratio)
    loads = bus_loads(day.grid, profiles)
    engine = day.result.engine
    after_result = run_power_flow(day.grid, loads, engine=engine)
    before = _state(day, day.result, day.loads)
    after = _state(day, after_result, loads)
    for state, profile in ((before, load), (after, shifted)):
        state["bills_eur"] = float(tariff.bill_eur(profile, tg).sum())
        state["dso_revenue_eur"] = float(tariff.network_bill_eur(profile, tg).sum())
        state["energy_kwh"] = float(np.maximum(profile, 0).sum() * tg.isp_hours)
    return TariffImpact(tariff, response, before, after, load, shifted, after_result)


def dynamic_tariff_for(
    day: GridDay,
    energy_eur_per_kwh: np.ndarray | float = 0.10,
    **network: float,
) -> DynamicTariff:
    """A fully dynamic tariff whose network component follows ``day``'s forecast loading
    (max over congestion points) and flow direction; ``network`` goes to
    ``DynamicTariff.from_loading`` (base_eur_per_kwh, slope_eur_per_kwh_per_pct, knee_pct)."""
    energy = np.broadcast_to(np.asarray(energy_eur_per_kwh, dtype=float),
                             (day.time_grid.n_isps,)).copy()
    return DynamicTariff.from_loading(energy, day.max_loading_pct,
                                      reverse_flow=day.reverse_flow, **network)

