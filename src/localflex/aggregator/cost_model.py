"""Activation prices per DER family: what an aggregator asks for a MWh of flexibility.

Paper §2 notes each DER family is efficient in some flexibility dimensions and not others;
the price reflects what an activation costs its owner. The defaults are documented
assumptions, not market data; a scenario overrides them per family.

| family | EUR/MWh | what the owner gives up |
|---|---|---|
| pv | 70 | lost feed-in revenue (curtailed energy) plus a small premium |
| ev | 55 | a later charge; little discomfort within the plug-in window |
| heat_pump | 85 | comfort within the band, and the rebound energy later |
| battery | 130 | cycle wear and the opportunity cost of stored energy |
| others | 100 | |

Each (aggregator, bus, family) pool gets a deterministic spread of ±10 % around the family
price (from the scenario seed) and the aggregator's markup, so the DSO sees a real merit order.

Availability (reservation) prices, EUR/MW/h — what holding a MW ready for an hour costs the
owner (reserve products and FLECH-style reservation, paper §4.1, §5.3). Documented
assumptions, not market data; scaled by the aggregator's markup, no spread:

| family | EUR/MW/h | why |
|---|---|---|
| pv | 30 | UP headroom means curtailing in advance: the lost feed-in |
| wind | 30 | as PV |
| chp | 12 | part-load efficiency loss |
| heat_pump | 6 | comfort band held in reserve |
| ev | 4 | charging kept movable within the plug-in window |
| battery | 10 | state of charge held back from arbitrage |
| water_heater, thermal_storage | 4 | storage held back |
| smart_appliance | 5 | a cycle kept movable |
| others | 8 | |
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from localflex.domain import DerType, InputError

__all__ = [
    "DEFAULT_AVAILABILITY_EUR_PER_MW_H",
    "DEFAULT_COST_EUR_PER_MWH",
    "pool_availability_eur_per_mw_h",
    "pool_prices_eur_per_mwh",
]

DEFAULT_COST_EUR_PER_MWH: dict[str, float] = {
    DerType.PV: 70.0,
    DerType.EV: 55.0,
    DerType.HEAT_PUMP: 85.0,
    DerType.BATTERY: 130.0,
    DerType.WIND: 70.0,
    DerType.CHP: 110.0,
    DerType.WATER_HEATER: 80.0,
    DerType.SMART_APPLIANCE: 90.0,
    DerType.THERMAL_STORAGE: 80.0,
}
_FALLBACK_EUR_PER_MWH = 100.0

DEFAULT_AVAILABILITY_EUR_PER_MW_H: dict[str, float] = {
    DerType.PV: 30.0,
    DerType.WIND: 30.0,
    DerType.CHP: 12.0,
    DerType.HEAT_PUMP: 6.0,
    DerType.EV: 4.0,
    DerType.BATTERY: 10.0,
    DerType.WATER_HEATER: 4.0,
    DerType.THERMAL_STORAGE: 4.0,
    DerType.SMART_APPLIANCE: 5.0,
}
_FALLBACK_EUR_PER_MW_H = 8.0


def pool_prices_eur_per_mwh(
    pool_der_type: np.ndarray,
    pool_markup: np.ndarray,
    rng: np.random.Generator,
    overrides: Mapping[str, float] | None = None,
    spread: float = 0.10,
) -> np.ndarray:
    """Price of each pool: family cost x aggregator markup x a seeded spread of ±``spread``."""
    table = {str(k): float(v) for k, v in DEFAULT_COST_EUR_PER_MWH.items()}
    for family, price in (overrides or {}).items():
        if not np.isfinite(price) or price < 0:
            raise InputError(f"market.cost_eur_per_mwh.{family}", price, "a price >= 0 EUR/MWh")
        table[str(family)] = float(price)
    base = np.array([table.get(str(t), _FALLBACK_EUR_PER_MWH) for t in pool_der_type])
    factor = 1.0 + spread * (2.0 * rng.random(base.shape[0]) - 1.0)
    return np.round(base * np.asarray(pool_markup, dtype=float) * factor, 2)


def pool_availability_eur_per_mw_h(
    pool_der_type: np.ndarray,
    pool_markup: np.ndarray,
    overrides: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Availability (reservation) price of each pool: family price x aggregator markup."""
    table = {str(k): float(v) for k, v in DEFAULT_AVAILABILITY_EUR_PER_MW_H.items()}
    for family, price in (overrides or {}).items():
        if not np.isfinite(price) or price < 0:
            raise InputError(f"availability_eur_per_mw_h.{family}", price,
                             "a price >= 0 EUR/MW/h")
        table[str(family)] = float(price)
    base = np.array([table.get(str(t), _FALLBACK_EUR_PER_MW_H) for t in pool_der_type])
    return np.round(base * np.asarray(pool_markup, dtype=float), 2)
