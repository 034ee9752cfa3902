"""Network tariffs: what a grid user pays the DSO for the use of the distribution grid.

Paper §5.1 ("Remuneration scheme and flexible grid-tariffs"): network tariffs have been mainly
volumetric (EUR/kWh), which ignores *when* power is drawn and how much of the line capacity
it occupies; power-based (EUR/kW) and time-dependent tariffs — time of use, critical peak,
real-time pricing — and finally a *fully dynamic* tariff (energy plus network component)
give grid users the signal to use the grid efficiently. This module bills each of them.

Every tariff is a small frozen dataclass with

* ``bill_eur(load_kw, time_grid) -> [N]`` — what each of N customers pays over the horizon;
* ``network_bill_eur(load_kw, time_grid) -> [N]`` — the part that is the DSO's revenue (equal
  to ``bill_eur`` except for the dynamic tariff, whose energy component goes to the supplier);
* ``price_signal_eur_per_kwh(load_kw, time_grid) -> [T, N]`` — the marginal price a customer
  sees per ISP, which the demand model (``localflex.tariffs.response``) reacts to.

``load_kw`` is metered power [T, N] on ``time_grid`` (consumption positive, DESIGN.md). Only
withdrawal (the positive part) is billed: injection is not charged by the network tariff, as in
most European countries. Hours of the day are those of the ISP start in UTC; SimBench
profiles read local time as UTC (``grid/simbench_loader.py``), so on SimBench grids they are
local hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from localflex.domain.errors import InputError
from localflex.domain.time_grid import TimeGrid

__all__ = [
    "CapacityTariff",
    "CriticalPeakEvent",
    "CriticalPeakTariff",
    "DynamicTariff",
    "RealTimeTariff",
    "Tariff",
    "TariffKind",
    "TimeOfUseTariff",
    "VolumetricTariff",
    "dso_revenue_eur",
    "hour_of_day",
    "withdrawal_kw",
]


class TariffKind(StrEnum):
    VOLUMETRIC = "volumetric"
    CAPACITY = "capacity"
    TIME_OF_USE = "time_of_use"
    CRITICAL_PEAK = "critical_peak"
    REAL_TIME = "real_time"
    DYNAMIC = "dynamic"


@runtime_checkable
class Tariff(Protocol):
    """What every tariff offers (see the module docstring)."""

    kind: ClassVar[TariffKind]

    def bill_eur(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray: ...

    def network_bill_eur(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray: ...

    def price_signal_eur_per_kwh(
        self, load_kw: np.ndarray, time_grid: TimeGrid
    ) -> np.ndarray: ...


def _check_load(load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
    arr = np.asarray(load_kw, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != time_grid.n_isps:
        raise InputError("load_kw", arr.shape, f"an array [T={time_grid.n_isps}, N] in kW")
    if not np.isfinite(arr).all():
        raise InputError("load_kw", "non-finite values", "finite kW")
    return arr


def _check_price(name: str, value: float, *, allow_negative: bool = False) -> None:
    if not np.isfinite(value) or (value < 0 and not allow_negative):
        raise InputError(name, value, "a finite price" + ("" if allow_negative else " >= 0"))


def _per_isp(name: str, values: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.shape != (time_grid.n_isps,):
        raise InputError(name, arr.shape, f"one value per ISP, shape ({time_grid.n_isps},)")
    return arr


def withdrawal_kw(load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
    """The billed part of metered power [T, N]: max(load, 0)."""
    return np.maximum(_check_load(load_kw, time_grid), 0.0)


def hour_of_day(time_grid: TimeGrid) -> np.ndarray:
    """Hour of the day (float, UTC) at the start of every ISP, shape [T]."""
    starts = time_grid.isp_starts()
    return starts.hour.to_numpy() + starts.minute.to_numpy() / 60.0


def _n_days(time_grid: TimeGrid) -> float:
    return time_grid.n_isps * time_grid.isp_hours / 24.0


def _energy_bill(price: np.ndarray, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
    """Σ_t price[t(,n)] · withdrawal[t, n] · h  -> [N]."""
    w = withdrawal_kw(load_kw, time_grid)
    p = price if price.ndim == 2 else price[:, None]
    return (p * w).sum(axis=0) * time_grid.isp_hours


class _PricedPerIsp:
    """Bills and price signal of a tariff that is one energy price per ISP
    (``price_per_isp``); the whole bill is network charge unless a subclass says otherwise."""

    __slots__ = ()

    def price_per_isp(self, time_grid: TimeGrid) -> np.ndarray:
        raise NotImplementedError

    def price_signal_eur_per_kwh(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        arr = _check_load(load_kw, time_grid)
        return np.broadcast_to(self.price_per_isp(time_grid)[:, None], arr.shape).copy()

    def bill_eur(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        return _energy_bill(self.price_per_isp(time_grid), load_kw, time_grid)

    def network_bill_eur(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        return self.bill_eur(load_kw, time_grid)


@dataclass(frozen=True, slots=True)
class VolumetricTariff:
    """Energy-based network tariff: ``price_eur_per_kwh`` on withdrawn energy, plus an
    optional standing charge per customer and day."""

    kind: ClassVar[TariffKind] = TariffKind.VOLUMETRIC
    price_eur_per_kwh: float
    standing_eur_per_day: float = 0.0

    def __post_init__(self) -> None:
        _check_price("price_eur_per_kwh", self.price_eur_per_kwh)
        _check_price("standing_eur_per_day", self.standing_eur_per_day)

    def price_signal_eur_per_kwh(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        arr = _check_load(load_kw, time_grid)
        return np.full(arr.shape, self.price_eur_per_kwh)

    def bill_eur(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        energy = _energy_bill(np.full(time_grid.n_isps, self.price_eur_per_kwh), load_kw,
                              time_grid)
        return energy + self.standing_eur_per_day * _n_days(time_grid)

    def network_bill_eur(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        return self.bill_eur(load_kw, time_grid)


def _period_of_isp(time_grid: TimeGrid, period_days: int | None) -> np.ndarray:
    """Billing period index [T] of every ISP (whole horizon when ``period_days`` is None)."""
    if period_days is None:
        return np.zeros(time_grid.n_isps, dtype=np.int64)
    per_day = 1440 // time_grid.isp_minutes
    return np.arange(time_grid.n_isps) // (per_day * period_days)


@dataclass(frozen=True, slots=True)
class CapacityTariff:
    """Power-based network tariff: ``price_eur_per_kw`` on each billing period's peak.

    The peak is the highest ISP-mean withdrawal of the customer in the period; periods are
    ``billing_period_days`` long from the start of the horizon (None: the whole horizon is one
    period; the last period may be shorter). ``price_signal_eur_per_kwh`` spreads the capacity
    charge over the ``perceived_peak_isps`` highest ISPs of each customer and period (the
    hours a customer watches to stay under its peak) and is zero elsewhere — an approximation
    that lets the demand model react to a power-based tariff.
    """

    kind: ClassVar[TariffKind] = TariffKind.CAPACITY
    price_eur_per_kw: float
    billing_period_days: int | None = None
    perceived_peak_isps: int = 4

    def __post_init__(self) -> None:
        _check_price("price_eur_per_kw", self.price_eur_per_kw)
        if self.billing_period_days is not None and self.billing_period_days < 1:
            raise InputError("billing_period_days", self.billing_period_days,
                             "a positive number of days or None")
        if self.perceived_peak_isps < 1:
            raise InputError("perceived_peak_isps", self.perceived_peak_isps, ">= 1")

    def peaks_kw(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        """Peak withdrawal per billing period and customer, [P, N]."""
        w = withdrawal_kw(load_kw, time_grid)
        period = _period_of_isp(time_grid, self.billing_period_days)
        peaks = np.zeros((int(period.max()) + 1, w.shape[1]))
        np.maximum.at(peaks, period, w)
        return peaks

    def bill_eur(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        return self.price_eur_per_kw * self.peaks_kw(load_kw, time_grid).sum(axis=0)

    def network_bill_eur(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        return self.bill_eur(load_kw, time_grid)

    def price_signal_eur_per_kwh(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        w = withdrawal_kw(load_kw, time_grid)
        period = _period_of_isp(time_grid, self.billing_period_days)
        signal = np.zeros_like(w)
        k = self.perceived_peak_isps
        per_kwh = self.price_eur_per_kw / (k * time_grid.isp_hours)
        for p in np.unique(period):  # loop over billing periods only (a handful)
            rows = np.flatnonzero(period == p)
            kk = min(k, rows.size)
            top = np.argpartition(-w[rows], kk - 1, axis=0)[:kk]  # [kk, N]
            signal[rows[top], np.arange(w.shape[1])[None, :]] = per_kwh
        return signal


@dataclass(frozen=True, slots=True)
class TimeOfUseTariff(_PricedPerIsp):
    """Time-of-use network tariff: a price per hour of the day (24 values, EUR/kWh)."""

    kind: ClassVar[TariffKind] = TariffKind.TIME_OF_USE
    hourly_price_eur_per_kwh: tuple[float, ...]

    def __post_init__(self) -> None:
        prices = tuple(float(p) for p in self.hourly_price_eur_per_kwh)
        if len(prices) != 24:
            raise InputError("hourly_price_eur_per_kwh", len(prices), "24 hourly prices")
        for p in prices:
            _check_price("hourly_price_eur_per_kwh", p)
        object.__setattr__(self, "hourly_price_eur_per_kwh", prices)

    @classmethod
    def two_band(
        cls, offpeak_eur_per_kwh: float, peak_eur_per_kwh: float,
        peak_hours: tuple[int, int] = (17, 21),
    ) -> TimeOfUseTariff:
        """Peak price from ``peak_hours[0]`` (incl.) to ``peak_hours[1]`` (excl.), else
        off-peak; the band may wrap over midnight (e.g. (22, 6))."""
        start, end = peak_hours
        if not (0 <= start < 24 and 0 < end <= 24) or start == end:
            raise InputError("peak_hours", peak_hours, "(start, end) hours, 0 <= start < end")
        hours = np.arange(24)
        peak = (hours >= start) & (hours < end) if start < end else (hours >= start) | (
            hours < end)
        return cls(tuple(np.where(peak, peak_eur_per_kwh, offpeak_eur_per_kwh).tolist()))

    def price_per_isp(self, time_grid: TimeGrid) -> np.ndarray:
        hour = np.floor(hour_of_day(time_grid)).astype(np.int64)
        return np.asarray(self.hourly_price_eur_per_kwh)[hour]


@dataclass(frozen=True, slots=True)
class CriticalPeakEvent:
    """A critical-peak event the DSO announces: ``day`` (UTC date), hours [start, end)."""

    day: date
    start_hour: float
    end_hour: float

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < self.end_hour <= 24:
            raise InputError("critical_peak.event", (self.start_hour, self.end_hour),
                             "hours 0 <= start_hour < end_hour <= 24")


@dataclass(frozen=True, slots=True)
class CriticalPeakTariff(_PricedPerIsp):
    """Critical peak pricing: ``base_eur_per_kwh`` except in announced event hours, where
    ``critical_eur_per_kwh`` applies."""

    kind: ClassVar[TariffKind] = TariffKind.CRITICAL_PEAK
    base_eur_per_kwh: float
    critical_eur_per_kwh: float
    events: tuple[CriticalPeakEvent, ...] = ()

    def __post_init__(self) -> None:
        _check_price("base_eur_per_kwh", self.base_eur_per_kwh)
        _check_price("critical_eur_per_kwh", self.critical_eur_per_kwh)
        object.__setattr__(self, "events", tuple(self.events))

    def event_mask(self, time_grid: TimeGrid) -> np.ndarray:
        """[T] True in the ISPs that start within an event."""
        starts = time_grid.isp_starts()
        days = starts.date
        hours = hour_of_day(time_grid)
        mask = np.zeros(time_grid.n_isps, dtype=bool)
        for ev in self.events:  # a few events a year
            mask |= (days == ev.day) & (hours >= ev.start_hour) & (hours < ev.end_hour)
        return mask

    def price_per_isp(self, time_grid: TimeGrid) -> np.ndarray:
        return np.where(self.event_mask(time_grid), self.critical_eur_per_kwh,
                        self.base_eur_per_kwh)


@dataclass(frozen=True, eq=False)
class RealTimeTariff(_PricedPerIsp):
    """Real-time network pricing: one price per ISP (``price_eur_per_kwh`` [T]), published
    by the DSO; the array's length must equal the number of ISPs billed."""

    kind: ClassVar[TariffKind] = TariffKind.REAL_TIME
    price_eur_per_kwh: np.ndarray

    def __post_init__(self) -> None:
        arr = np.asarray(self.price_eur_per_kwh, dtype=float)
        if arr.ndim != 1 or not np.isfinite(arr).all():
            raise InputError("price_eur_per_kwh", arr.shape, "a finite price per ISP [T]")
        object.__setattr__(self, "price_eur_per_kwh", arr)

    def price_per_isp(self, time_grid: TimeGrid) -> np.ndarray:
        return _per_isp("price_eur_per_kwh", self.price_eur_per_kwh, time_grid)


@dataclass(frozen=True, eq=False)
class DynamicTariff(_PricedPerIsp):
    """Fully dynamic tariff (paper §5.1): energy component plus network component, per ISP.

    ``energy_eur_per_kwh`` [T] is the supplier's (e.g. day-ahead) price; ``network_eur_per_kwh``
    [T] the DSO's. Build the network component from the grid's loading with
    ``from_loading``: it is ``base`` when the grid is lightly loaded and rises by ``slope`` per
    percentage point of loading above ``knee_pct``; when the loading is caused by feed-in
    (reverse flow) the loading term has the opposite sign, so drawing power in those ISPs is
    rewarded (it relieves the grid). ``bill_eur`` is energy plus network;
    ``network_bill_eur`` only the network part (the DSO's revenue).
    """

    kind: ClassVar[TariffKind] = TariffKind.DYNAMIC
    energy_eur_per_kwh: np.ndarray
    network_eur_per_kwh: np.ndarray
    loading_pct: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        for name in ("energy_eur_per_kwh", "network_eur_per_kwh"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.ndim != 1 or not np.isfinite(arr).all():
                raise InputError(name, arr.shape, "a finite price per ISP [T]")
            object.__setattr__(self, name, arr)
        if self.energy_eur_per_kwh.shape != self.network_eur_per_kwh.shape:
            raise InputError("network_eur_per_kwh", self.network_eur_per_kwh.shape,
                             f"shape {self.energy_eur_per_kwh.shape} like energy_eur_per_kwh")

    @classmethod
    def from_loading(
        cls,
        energy_eur_per_kwh: np.ndarray,
        loading_pct: np.ndarray,
        *,
        reverse_flow: np.ndarray | None = None,
        base_eur_per_kwh: float = 0.05,
        slope_eur_per_kwh_per_pct: float = 0.004,
        knee_pct: float = 70.0,
    ) -> DynamicTariff:
        """Network component = base + sign·slope·max(0, loading − knee); sign −1 in ISPs with
        ``reverse_flow`` (feed-in driven loading), +1 otherwise."""
        loading = np.asarray(loading_pct, dtype=float)
        if loading.ndim != 1 or not np.isfinite(loading).all():
            raise InputError("loading_pct", loading.shape, "a finite loading per ISP [T]")
        _check_price("base_eur_per_kwh", base_eur_per_kwh)
        _check_price("slope_eur_per_kwh_per_pct", slope_eur_per_kwh_per_pct)
        sign = np.ones_like(loading)
        if reverse_flow is not None:
            rev = np.asarray(reverse_flow, dtype=bool)
            if rev.shape != loading.shape:
                raise InputError("reverse_flow", rev.shape, f"shape {loading.shape}")
            sign = np.where(rev, -1.0, 1.0)
        network = base_eur_per_kwh + sign * slope_eur_per_kwh_per_pct * np.maximum(
            0.0, loading - knee_pct)
        return cls(np.asarray(energy_eur_per_kwh, dtype=float), network, loading)

    def price_per_isp(self, time_grid: TimeGrid) -> np.ndarray:
        energy = _per_isp("energy_eur_per_kwh", self.energy_eur_per_kwh, time_grid)
        return energy + self.network_eur_per_kwh


    def network_bill_eur(self, load_kw: np.ndarray, time_grid: TimeGrid) -> np.ndarray:
        network = _per_isp("network_eur_per_kwh", self.network_eur_per_kwh, time_grid)
        return _energy_bill(network, load_kw, time_grid)


def dso_revenue_eur(tariff: Tariff, load_kw: np.ndarray, time_grid: TimeGrid) -> float:
    """The DSO's tariff revenue over the horizon: the network part of every customer's bill."""
    return float(tariff.network_bill_eur(load_kw, time_grid).sum())
