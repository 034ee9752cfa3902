"""Forecast uncertainty of DER flexibility, and the volume an aggregator can promise
(paper §2 and §4, reference [27]).

§2: "A layer of uncertainty is added when predicting and procuring the available flexibility
from residential customers"; §4: "aggregation mitigates the risk for error forecasting in the
availability of DER resources and thus limits the risk for not meeting market commitment".

Error model. The flexibility a unit really has in an ISP is its forecast envelope times
``(1 + ε)``, floored at 0, with a relative error that has a common part (weather, a holiday:
shared by all units of a family in the area) and an idiosyncratic part (the unit's user)::

    ε[t, n] = σ(h) · (√ρ · z_common[t] + √(1 − ρ) · z[t, n]),   z ~ N(0, 1) independent

``σ(h)`` is the family's relative error standard deviation at forecast horizon ``h`` hours,
interpolated on √h between its 1-hour and day-ahead (24 h) values (errors grow roughly with
the square root of lead time for persistence-like forecasts), and ``ρ`` the share of the error
variance that is common to all units. The portfolio volume ``V = Σ_n env[n] (1 + ε[n])`` has

    E[V] = Σ env,    Var[V] = σ² (ρ (Σ env)² + (1 − ρ) Σ env²)

so its relative risk ``√Var / E`` falls like ``√(ρ + (1 − ρ)/N)`` for N equal units: the
idiosyncratic part diversifies away, the common part does not.

``FORECAST_ERROR`` holds the defaults per family. They are documented ASSUMPTIONS of the
right order of magnitude (single-site day-ahead PV and wind forecast errors of 20–40 % of
the forecast; behaviour-driven loads — appliances, EV sessions, hot water — far noisier per
unit but nearly independent between households; temperature-driven heat loads and batteries
under the owner's schedule much better), not fitted to data; pass your own table to override.

``reliable_volume_kw`` is the volume the portfolio delivers with probability ``confidence``
(the P90 volume for 0.9): analytic with the normal approximation
``E − z_c √Var`` (floored at 0), or by seeded Monte Carlo with the flooring of each unit at 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from localflex.domain import DerType, InputError

__all__ = [
    "BACKGROUND_LOAD_ERROR",
    "FORECAST_ERROR",
    "ForecastError",
    "forecast_error_std",
    "reliable_share_by_size",
    "reliable_volume_kw",
    "sample_realised_kw",
]


@dataclass(frozen=True)
class ForecastError:
    """Relative error std at 1 h and 24 h ahead, and the common-factor variance share."""

    std_1h: float
    std_24h: float
    common_share: float

    def __post_init__(self) -> None:
        for name in ("std_1h", "std_24h"):
            val = getattr(self, name)
            if not (np.isfinite(val) and val >= 0):
                raise InputError(name, val, "a relative standard deviation >= 0")
        if not 0.0 <= self.common_share <= 1.0:
            raise InputError("common_share", self.common_share, "a share in [0, 1]")


FORECAST_ERROR: dict[str, ForecastError] = {
    DerType.PV: ForecastError(0.10, 0.30, 0.70),
    DerType.WIND: ForecastError(0.10, 0.35, 0.80),
    DerType.CHP: ForecastError(0.04, 0.10, 0.50),
    DerType.HEAT_PUMP: ForecastError(0.05, 0.15, 0.50),
    DerType.WATER_HEATER: ForecastError(0.20, 0.40, 0.10),
    DerType.SMART_APPLIANCE: ForecastError(0.30, 0.60, 0.05),
    DerType.EV: ForecastError(0.15, 0.40, 0.10),
    DerType.BATTERY: ForecastError(0.02, 0.05, 0.00),
    DerType.THERMAL_STORAGE: ForecastError(0.05, 0.15, 0.60),
}


BACKGROUND_LOAD_ERROR = ForecastError(0.10, 0.20, 0.30)
"""Relative error of the inflexible load at one bus (the households' and businesses' own
consumption, no DER): an ASSUMPTION of the right order, not fitted — a bus holds one or a
few households, whose day-ahead load forecast misses by about a fifth; 30 % of the variance
is common to the area (weather, calendar)."""


def _family(family: Any, table: dict[str, ForecastError] | None) -> ForecastError:
    table = FORECAST_ERROR if table is None else table
    key = str(family.value if isinstance(family, DerType) else family)
    if key not in table:
        raise InputError("family", key, f"one of {sorted(map(str, table))}")
    return table[key]


def forecast_error_std(
    family: Any, horizon_h: float = 24.0, table: dict[str, ForecastError] | None = None
) -> float:
    """Relative error std of one unit's flexibility at ``horizon_h`` hours ahead.

    ``σ(h) = σ_1h + (σ_24h − σ_1h) · (√h − 1) / (√24 − 1)``, floored at 0 for ``h < 1``.
    """
    if not (np.isfinite(horizon_h) and horizon_h >= 0):
        raise InputError("horizon_h", horizon_h, "a forecast horizon >= 0 hours")
    err = _family(family, table)
    frac = (np.sqrt(horizon_h) - 1.0) / (np.sqrt(24.0) - 1.0)
    return float(max(err.std_1h + (err.std_24h - err.std_1h) * frac, 0.0))


def _envelope(envelope_kw: Any) -> np.ndarray:
    env = np.asarray(envelope_kw, dtype=float)
    if env.ndim == 1:
        env = env[None, :]
    if env.ndim != 2 or env.shape[1] == 0:
        raise InputError("envelope_kw", env.shape, "shape [T, N] with N >= 1")
    bad = ~np.isfinite(env) | (env < 0)
    if bad.any():
        raise InputError("envelope_kw", env[bad][0].item(), "a finite value >= 0 kW")
    return env


def sample_realised_kw(
    envelope_kw: Any,
    family: Any,
    rng: np.random.Generator,
    *,
    horizon_h: float = 24.0,
    table: dict[str, ForecastError] | None = None,
) -> np.ndarray:
    """One draw [T, N] of the flexibility really available: ``env · max(1 + ε, 0)``."""
    env = _envelope(envelope_kw)
    sigma = forecast_error_std(family, horizon_h, table)
    rho = _family(family, table).common_share
    z_common = rng.standard_normal((env.shape[0], 1))
    z_own = rng.standard_normal(env.shape)
    eps = sigma * (np.sqrt(rho) * z_common + np.sqrt(1.0 - rho) * z_own)
    return env * np.maximum(1.0 + eps, 0.0)


def reliable_volume_kw(
    envelope_kw: Any,
    family: Any,
    confidence: float = 0.9,
    rng: np.random.Generator | None = None,
    *,
    horizon_h: float = 24.0,
    n_samples: int = 2000,
    table: dict[str, ForecastError] | None = None,
) -> np.ndarray:
    """Portfolio volume [T] kW delivered with probability ``confidence`` (P90 for 0.9).

    ``envelope_kw`` [T, N] (or [N]) is the forecast flexibility of one family's units in one
    direction. ``rng=None``: analytic, ``max(E − z_c √Var, 0)`` (normal approximation, the
    per-unit flooring at 0 neglected). With an ``rng``: the ``1 − confidence`` quantile of
    ``n_samples`` seeded Monte-Carlo draws of ``Σ_n env (1 + ε)⁺``.
    """
    if not 0.5 <= confidence < 1.0:
        raise InputError("confidence", confidence, "a probability in [0.5, 1)")
    env = _envelope(envelope_kw)
    sigma = forecast_error_std(family, horizon_h, table)
    rho = _family(family, table).common_share
    if rng is None:
        total = env.sum(axis=1)
        var = sigma**2 * (rho * total**2 + (1.0 - rho) * (env**2).sum(axis=1))
        z = NormalDist().inv_cdf(confidence)
        return np.maximum(total - z * np.sqrt(var), 0.0)
    if n_samples < 10:
        raise InputError("n_samples", n_samples, "at least 10 Monte-Carlo draws")
    n_isps, n = env.shape
    volumes = np.empty((n_samples, n_isps))
    chunk = max(1, int(2_000_000 // max(n_isps * n, 1)))
    for lo in range(0, n_samples, chunk):
        hi = min(lo + chunk, n_samples)
        z_common = rng.standard_normal((hi - lo, n_isps, 1))
        z_own = rng.standard_normal((hi - lo, n_isps, n))
        eps = sigma * (np.sqrt(rho) * z_common + np.sqrt(1.0 - rho) * z_own)
        volumes[lo:hi] = (env * np.maximum(1.0 + eps, 0.0)).sum(axis=2)
    return np.quantile(volumes, 1.0 - confidence, axis=0)


def reliable_share_by_size(
    family: Any,
    sizes: Any,
    rng: np.random.Generator,
    *,
    confidence: float = 0.9,
    horizon_h: float = 24.0,
    monte_carlo: bool = False,
    n_samples: int = 2000,
    unit_kw_sigma: float = 0.5,
    table: dict[str, ForecastError] | None = None,
) -> np.ndarray:
    """Reliable / expected volume for portfolios of ``sizes`` units of one family.

    Each portfolio has units of log-normal flexible power (median 1 kW, σ_log =
    ``unit_kw_sigma``, drawn from ``rng``) in one ISP; the share is
    ``reliable_volume_kw / Σ env``. Returns one share per size.
    """
    sizes = np.asarray(sizes)
    if sizes.ndim != 1 or sizes.size == 0 or (sizes < 1).any():
        raise InputError("sizes", sizes.tolist(), "portfolio sizes >= 1")
    shares = np.empty(sizes.size)
    for i, n in enumerate(sizes.astype(int)):
        env = rng.lognormal(0.0, unit_kw_sigma, (1, n))
        reliable = reliable_volume_kw(env, family, confidence, rng if monte_carlo else None,
                                      horizon_h=horizon_h, n_samples=n_samples, table=table)
        shares[i] = reliable[0] / env.sum()
    return shares
