"""Delivery check: did the aggregator deliver what the buyer awarded? (paper §5.3, §4.2).

The DSO of paper §5.3 pays for flexibility in two parts that are kept apart here: an
*availability* (reservation) payment, as in the FLECH reservation phase, and a *utilisation*
(activation) payment for the energy delivered. Delivery is measured, per award and ISP, as

    delivered_kw = sign × (baseline_kw − metered_kw)      sign = +1 for UP, −1 for DOWN

on the award's pool of metering points (meter data consumption-positive, UP = less
consumption, DESIGN.md). Awards that share a pool and an ISP (several clearing rounds) share the
pool's delivery pro rata to their awarded power.

Rules (``DeliveryRules``): an award counts as delivered in full when
``delivered_kw >= awarded_kw × (1 − tolerance_share) − tolerance_kw``; otherwise the buyer pays
only for the delivered energy (clipped to [0, awarded]) and, under ``UnderDeliveryRule.PENALTY``,
the aggregator pays ``penalty_factor × missing_kwh × price``. Over-delivery is never paid.
With ``forfeit_availability`` a failed ISP also loses its availability payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from localflex.domain import AWARD_COLUMNS, InputError
from localflex.settlement.ledger import CodedTransactions

__all__ = [
    "DELIVERY_COLUMNS",
    "DeliveryRules",
    "UnderDeliveryRule",
    "award_ids",
    "award_unit_pairs",
    "coded_delivery_transactions",
    "delivery_check",
    "delivery_transactions",
    "pool_keys",
    "pooled_measurements",
]


class UnderDeliveryRule(StrEnum):
    PAY_DELIVERED = "pay_delivered"  # pay for the delivered energy only
    PENALTY = "penalty"  # ... and the aggregator pays factor × missing energy × price


@dataclass(frozen=True)
class DeliveryRules:
    tolerance_share: float = 0.1
    tolerance_kw: float = 0.0
    under_delivery: UnderDeliveryRule | str = UnderDeliveryRule.PAY_DELIVERED
    penalty_factor: float = 1.0
    forfeit_availability: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.tolerance_share < 1:
            raise InputError("tolerance_share", self.tolerance_share, "a share in [0, 1)")
        if self.tolerance_kw < 0:
            raise InputError("tolerance_kw", self.tolerance_kw, "a power >= 0")
        if self.penalty_factor < 0:
            raise InputError("penalty_factor", self.penalty_factor, "a factor >= 0")
        try:
            object.__setattr__(self, "under_delivery", UnderDeliveryRule(self.under_delivery))
        except ValueError:
            raise InputError("under_delivery", self.under_delivery,
                             f"one of {[r.value for r in UnderDeliveryRule]}") from None


DELIVERY_COLUMNS: dict[str, tuple[str, str, str]] = {
    "award_id": ("object", "-", "award (offer id and clearing round)"),
    "aggregator_id": ("object", "-", "who delivers"),
    "buyer_id": ("object", "-", "who bought (the DSO for grid awards)"),
    "pool": ("object", "-", "metering pool of the award (aggregator|bus|der_type)"),
    "isp": ("int64", "-", "ISP index"),
    "direction": ("object", "-", "'up' or 'down'"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "utilisation price of the award"),
    "awarded_kw": ("float64", "kW", "awarded power"),
    "baseline_kw": ("float64", "kW", "pool baseline (consumption +), the award's share"),
    "metered_kw": ("float64", "kW", "pool metered (consumption +), the award's share"),
    "delivered_kw": ("float64", "kW", "sign × (baseline − metered), the award's share"),
    "delivered_share": ("float64", "-", "delivered / awarded"),
    "within_tolerance": ("bool", "-", "counted as delivered in full"),
    "awarded_kwh": ("float64", "kWh", "awarded energy"),
    "paid_kwh": ("float64", "kWh", "energy the utilisation payment covers"),
    "missing_kwh": ("float64", "kWh", "under-delivered energy of a failed award"),
    "utilisation_eur": ("float64", "EUR", "buyer → aggregator for the activation"),
    "penalty_eur": ("float64", "EUR", "aggregator → buyer for under-delivery"),
    "availability_eur": ("float64", "EUR", "buyer → aggregator for the reservation"),
}


def award_ids(awards: pd.DataFrame) -> np.ndarray:
    """A unique id per award: ``offer_id#r<round>`` (``#<k>`` appended to repeats)."""
    if "offer_id" not in awards.columns:
        raise InputError("awards", list(awards.columns), "an 'offer_id' column")
    base = awards["offer_id"].astype(str)
    if "round" in awards.columns:
        base = base + "#r" + awards["round"].astype(str)
    repeat = base.groupby(base).cumcount()
    ids = np.where(repeat.to_numpy() > 0, base + "#" + repeat.astype(str), base)
    return ids.astype(object)


def pool_keys(aggregator_id: Any, bus: Any, der_type: Any) -> np.ndarray:
    """``aggregator|bus|der_type`` keys: the pool an offer (and its award) was built from."""
    agg = pd.Series(np.asarray(aggregator_id, dtype=object)).astype(str)
    bus_s = pd.Series(np.asarray(bus)).astype(str)
    typ = pd.Series(np.asarray(der_type, dtype=object)).astype(str)
    return (agg + "|" + bus_s + "|" + typ).to_numpy(dtype=object)


def award_unit_pairs(award_pool: Any, unit_pool: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every (award, metering point) pair of the same pool, as two int arrays.

    Sorted by award; an award whose pool has no metering point raises InputError.
    """
    award_pool = np.asarray(award_pool, dtype=object)
    unit_pool = np.asarray(unit_pool, dtype=object)
    codes, uniques = pd.factorize(np.concatenate([unit_pool, award_pool]))
    unit_code, award_code = codes[: unit_pool.size], codes[unit_pool.size:]
    count = np.bincount(unit_code, minlength=uniques.size)
    empty = count[award_code] == 0
    if empty.any():
        raise InputError("awards.pool", award_pool[empty][0],
                         "a pool with at least one metering point")
    order = np.argsort(unit_code, kind="stable")
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    per_award = count[award_code]
    a = np.repeat(np.arange(award_pool.size), per_award)
    first = np.repeat(np.cumsum(per_award) - per_award, per_award)
    u = order[np.repeat(start[award_code], per_award) + np.arange(a.size) - first]
    return a, u


def pooled_measurements(
    award_pool: Any, award_isp: Any, unit_pool: Any, baseline_kw: Any, metered_kw: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Pool sums of baseline and metered kW at each award's ISP ([A] each).

    ``unit_pool`` [N] gives each metering point's pool; ``baseline_kw`` / ``metered_kw`` are
    [T, N]. Only the (award, unit) pairs are touched, never a [T, pools] array. An award whose
    pool has no metering point raises InputError.
    """
    award_pool = np.asarray(award_pool, dtype=object)
    award_isp = np.asarray(award_isp, dtype=np.int64)
    unit_pool = np.asarray(unit_pool, dtype=object)
    baseline = np.asarray(baseline_kw)
    metered = np.asarray(metered_kw)
    if baseline.shape != metered.shape or baseline.ndim != 2 or baseline.shape[1] != unit_pool.size:
        raise InputError("metered_kw", f"arrays of shapes {baseline.shape}, {metered.shape}",
                         f"two [T, {unit_pool.size}] arrays (one column per metering point)")
    if award_isp.size and (award_isp.min() < 0 or award_isp.max() >= baseline.shape[0]):
        raise InputError("awards.isp", int(award_isp.max()), f"ISPs 0..{baseline.shape[0] - 1}")
    a, u = award_unit_pairs(award_pool, unit_pool)
    t = award_isp[a]
    n = award_pool.size
    base = np.bincount(a, weights=baseline[t, u].astype(np.float64), minlength=n)
    meter = np.bincount(a, weights=metered[t, u].astype(np.float64), minlength=n)
    return base, meter


def delivery_check(
    awards: pd.DataFrame,
    baseline_kw: Any,
    metered_kw: Any,
    isp_hours: float,
    rules: DeliveryRules | None = None,
    *,
    buyer_id: str = "DSO",
) -> pd.DataFrame:
    """Delivery, payment and penalty per award (DELIVERY_COLUMNS).

    ``awards`` has AWARD_COLUMNS plus ``award_id`` and ``pool`` (optional: ``availability_eur``,
    ``buyer_id``); ``baseline_kw`` / ``metered_kw`` [A] are the pool sums at each award's ISP
    (``pooled_measurements``). Awards sharing pool and ISP must share a direction.
    """
    rules = rules or DeliveryRules()
    need = [*AWARD_COLUMNS, "award_id", "pool"]
    missing = [c for c in need if c not in awards.columns]
    if missing:
        raise InputError("awards", missing, f"columns {need}")
    if not isp_hours > 0:
        raise InputError("isp_hours", isp_hours, "a positive ISP length in hours")
    n = len(awards)
    base = np.asarray(baseline_kw, dtype=np.float64)
    meter = np.asarray(metered_kw, dtype=np.float64)
    if base.shape != (n,) or meter.shape != (n,):
        raise InputError("metered_kw", f"arrays of shapes {base.shape}, {meter.shape}",
                         f"one value per award ({n},)")
    direction = awards["direction"].astype(str).to_numpy()
    bad = ~np.isin(direction, ["up", "down"])
    if bad.any():
        raise InputError("awards.direction", direction[bad][0], "'up' or 'down'")
    if awards["award_id"].duplicated().any():
        raise InputError("awards.award_id", awards.loc[awards["award_id"].duplicated(),
                                                       "award_id"].iloc[0], "unique award ids")
    power = awards["power_kw"].to_numpy(dtype=np.float64)
    if (power < 0).any() or not np.isfinite(power).all():
        raise InputError("awards.power_kw", float(power[~(power >= 0)][0]), "powers >= 0")
    sign = np.where(direction == "up", 1.0, -1.0)
    group = pd.DataFrame({"pool": awards["pool"].to_numpy(), "isp": awards["isp"].to_numpy(),
                          "sign": sign, "power": power})
    keys = group.groupby(["pool", "isp"], sort=False)
    mixed = keys["sign"].transform("nunique") > 1
    if mixed.any():
        row = group[mixed].iloc[0]
        raise InputError("awards.direction", f"{row['pool']} at ISP {row['isp']}",
                         "one direction per pool and ISP")
    total = keys["power"].transform("sum").to_numpy()
    count = keys["power"].transform("size").to_numpy()
    share = np.where(total > 0, power / np.where(total > 0, total, 1.0), 1.0 / count)
    delivered = sign * (base - meter) * share
    full = delivered >= power * (1.0 - rules.tolerance_share) - rules.tolerance_kw
    awarded_kwh = power * isp_hours
    delivered_kwh = delivered * isp_hours
    paid_kwh = np.where(full, awarded_kwh, np.clip(delivered_kwh, 0.0, awarded_kwh))
    missing_kwh = np.where(full, 0.0, awarded_kwh - np.clip(delivered_kwh, 0.0, awarded_kwh))
    price = awards["price_eur_per_mwh"].to_numpy(dtype=np.float64)
    utilisation = paid_kwh * price / 1000.0
    penalty = (rules.penalty_factor * missing_kwh * price / 1000.0
               if rules.under_delivery is UnderDeliveryRule.PENALTY else np.zeros(n))
    availability = (awards["availability_eur"].to_numpy(dtype=np.float64)
                    if "availability_eur" in awards.columns else np.zeros(n))
    if rules.forfeit_availability:
        availability = np.where(full, availability, 0.0)
    buyers = (awards["buyer_id"].astype(str).to_numpy() if "buyer_id" in awards.columns
              else np.full(n, buyer_id, dtype=object))
    with np.errstate(divide="ignore", invalid="ignore"):
        delivered_share = np.where(power > 0, delivered / power, np.nan)
    out = pd.DataFrame({
        "award_id": awards["award_id"].to_numpy(),
        "aggregator_id": awards["aggregator_id"].to_numpy(),
        "buyer_id": buyers,
        "pool": awards["pool"].to_numpy(),
        "isp": awards["isp"].to_numpy(dtype=np.int64),
        "direction": direction,
        "price_eur_per_mwh": price,
        "awarded_kw": power,
        "baseline_kw": base * share,
        "metered_kw": meter * share,
        "delivered_kw": delivered,
        "delivered_share": delivered_share,
        "within_tolerance": full,
        "awarded_kwh": awarded_kwh,
        "paid_kwh": paid_kwh,
        "missing_kwh": missing_kwh,
        "utilisation_eur": utilisation,
        "penalty_eur": penalty,
        "availability_eur": availability,
    })
    return out.astype({k: v[0] for k, v in DELIVERY_COLUMNS.items()})


def delivery_transactions(delivery: pd.DataFrame) -> pd.DataFrame:
    """Ledger transactions of a delivery check: availability, utilisation and penalty apart."""
    return coded_delivery_transactions(delivery).frame()


def coded_delivery_transactions(delivery: pd.DataFrame) -> CodedTransactions:
    """``delivery_transactions`` as integer-coded columns (no per-row strings)."""
    rules = ["availability", "utilisation", "under_delivery_penalty"]
    n = len(delivery)
    ids = [delivery[c].to_numpy(dtype=object).reshape(n)
           for c in ("buyer_id", "aggregator_id", "award_id")]
    codes, labels = pd.factorize(np.concatenate([*ids, np.asarray(rules, dtype=object)]),
                                 use_na_sentinel=False)
    codes = codes.astype(np.int64, copy=False)
    buyer, agg, award = codes[:n], codes[n: 2 * n], codes[2 * n: 3 * n]
    isp = delivery["isp"].to_numpy(dtype=np.int64).reshape(n)
    parts = []
    for k, (column, reverse) in enumerate((("availability_eur", False),
                                           ("utilisation_eur", False),
                                           ("penalty_eur", True))):
        amount = delivery[column].to_numpy(dtype=np.float64).reshape(n)
        rows = np.flatnonzero(amount != 0)
        if rows.size == 0:
            continue
        payer, payee = buyer[rows], agg[rows]
        if reverse:
            payer, payee = payee, payer
        parts.append(CodedTransactions.from_codes(payer, payee, amount[rows], award[rows],
                                                  isp[rows], codes[3 * n + k], labels))
    return CodedTransactions.concat(parts)
