"""Imbalance settlement of the BRPs whose customers were activated (paper §4.2, Figure 4).

"The BRP is facing an imbalance related to the activation of the flexibility that will be
settled by the TSO according to the imbalance settlement regime in place" (§4.2). This module
makes that imbalance and its compensation visible side by side, per BRP and ISP.

Position sign: ``+`` = the BRP is *long* (its customers consumed less than it sourced, e.g.
after an UP activation), ``−`` = short. The activation deviation is the metered change of the
BRP's perimeter in injection sign (baseline − metered, summed over its metering points). A
perimeter correction (Switzerland, ``compensation.brp_compensation``) adds
``perimeter_correction_kwh = −activated energy``, so only what the award did not cover (rebound,
deviation outside awarded ISPs) stays with the BRP.

Pricing (``ImbalancePrices``):

* single — one price per ISP for long and short: the TSO pays ``price × position``
  (a short BRP pays, a long one is paid);
* dual — long positions are paid ``long_eur_per_mwh`` and short ones pay
  ``short_eur_per_mwh`` (typically long ≤ day-ahead ≤ short, so a BRP never gains from an
  imbalance).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from localflex.domain import InputError
from localflex.settlement.ledger import CodedTransactions

__all__ = [
    "IMBALANCE_COLUMNS",
    "ImbalancePrices",
    "ImbalancePricing",
    "coded_imbalance_transactions",
    "imbalance_scenarios",
    "imbalance_settlement",
    "imbalance_transactions",
]


class ImbalancePricing(StrEnum):
    SINGLE = "single"
    DUAL = "dual"


def _price_array(value: Any, field: str) -> np.ndarray:
    if value is None:
        raise InputError(field, None, "a price (EUR/MWh) or a [T] array of prices")
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim > 1 or not np.isfinite(arr).all():
        raise InputError(field, value, "a finite price or a [T] array of prices")
    return arr


@dataclass(frozen=True)
class ImbalancePrices:
    """Single (``single_eur_per_mwh``) or dual (``long_…`` and ``short_…``) imbalance prices,
    each a scalar or a [T] array."""

    pricing: ImbalancePricing | str = ImbalancePricing.SINGLE
    single_eur_per_mwh: Any = None
    long_eur_per_mwh: Any = None
    short_eur_per_mwh: Any = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "pricing", ImbalancePricing(self.pricing))
        except ValueError:
            raise InputError("pricing", self.pricing, "'single' or 'dual'") from None
        if self.pricing is ImbalancePricing.SINGLE:
            _price_array(self.single_eur_per_mwh, "single_eur_per_mwh")
        else:
            _price_array(self.long_eur_per_mwh, "long_eur_per_mwh")
            _price_array(self.short_eur_per_mwh, "short_eur_per_mwh")

    def price(self, position_kwh: np.ndarray) -> np.ndarray:
        """Price per cell of a [T, B] position array (long / short prices by sign in dual)."""
        n_t = position_kwh.shape[0]

        def per_isp(value: Any, field: str) -> np.ndarray:
            arr = _price_array(value, field)
            if arr.ndim == 0:
                return np.full((n_t, 1), float(arr))
            if arr.size != n_t:
                raise InputError(field, f"{arr.size} prices", f"{n_t} (one per ISP)")
            return arr[:, None]

        if self.pricing is ImbalancePricing.SINGLE:
            return np.broadcast_to(per_isp(self.single_eur_per_mwh, "single_eur_per_mwh"),
                                   position_kwh.shape)
        long = per_isp(self.long_eur_per_mwh, "long_eur_per_mwh")
        short = per_isp(self.short_eur_per_mwh, "short_eur_per_mwh")
        return np.where(position_kwh >= 0, long, short)


IMBALANCE_COLUMNS: dict[str, tuple[str, str, str]] = {
    "brp_id": ("object", "-", "balance responsible party"),
    "isp": ("int64", "-", "ISP index"),
    "activation_deviation_kwh": ("float64", "kWh", "perimeter change by activations (+ long)"),
    "perimeter_correction_kwh": ("float64", "kWh", "TSO correction of the position"),
    "other_imbalance_kwh": ("float64", "kWh", "the BRP's own imbalance (forecast error)"),
    "imbalance_kwh": ("float64", "kWh", "settled position: sum of the three (+ long)"),
    "imbalance_price_eur_per_mwh": ("float64", "EUR/MWh", "price applied"),
    "imbalance_eur": ("float64", "EUR", "TSO → BRP (< 0: the BRP pays)"),
    "compensation_eur": ("float64", "EUR", "received from the compensation regime"),
    "net_eur": ("float64", "EUR", "imbalance_eur + compensation_eur"),
}


def _grid(values: Any, shape: tuple[int, int], field: str) -> np.ndarray:
    if values is None:
        return np.zeros(shape)
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != shape or not np.isfinite(arr).all():
        raise InputError(field, f"array of shape {arr.shape}", f"a finite {list(shape)} array")
    return arr


def _per_brp_isp(frame: pd.DataFrame | None, column: str, brp_ids: np.ndarray,
                 n_isps: int) -> np.ndarray:
    out = np.zeros((n_isps, brp_ids.size))
    if frame is None or frame.empty:
        return out
    pos = pd.Index(brp_ids).get_indexer(frame["brp_id"])
    if (pos < 0).any():
        raise InputError("compensation.brp_id", frame["brp_id"].to_numpy()[pos < 0][0],
                         f"a BRP of {list(brp_ids)}")
    np.add.at(out, (frame["isp"].to_numpy(dtype=np.int64), pos),
              frame[column].to_numpy(dtype=np.float64))
    return out


def imbalance_settlement(
    deviation_kwh: Any,
    brp_ids: Any,
    prices: ImbalancePrices,
    *,
    compensation: pd.DataFrame | None = None,
    other_imbalance_kwh: Any = None,
) -> pd.DataFrame:
    """Per BRP and ISP: deviation, correction, settled imbalance and money (IMBALANCE_COLUMNS).

    ``deviation_kwh`` [T, B] is the activation-caused change of each BRP's position (+ long);
    ``compensation`` (COMPENSATION_COLUMNS) brings the perimeter correction and the money the
    BRP received; ``other_imbalance_kwh`` [T, B] the BRP's own imbalance, if any.
    """
    brp_ids = np.asarray(brp_ids, dtype=object)
    dev = np.asarray(deviation_kwh, dtype=np.float64)
    if dev.ndim != 2 or dev.shape[1] != brp_ids.size or not np.isfinite(dev).all():
        raise InputError("deviation_kwh", f"array of shape {dev.shape}",
                         f"a finite [T, {brp_ids.size}] array (one column per BRP)")
    if len(set(brp_ids.tolist())) != brp_ids.size:
        raise InputError("brp_ids", list(brp_ids), "unique BRP ids")
    n_t = dev.shape[0]
    other = _grid(other_imbalance_kwh, dev.shape, "other_imbalance_kwh")
    correction = _per_brp_isp(compensation, "perimeter_correction_kwh", brp_ids, n_t)
    received = _per_brp_isp(compensation, "amount_to_brp_eur", brp_ids, n_t)
    position = dev + correction + other
    price = prices.price(position)
    money = price * position / 1000.0
    out = pd.DataFrame({
        "brp_id": np.tile(brp_ids, n_t),
        "isp": np.repeat(np.arange(n_t, dtype=np.int64), brp_ids.size),
        "activation_deviation_kwh": dev.ravel(),
        "perimeter_correction_kwh": correction.ravel(),
        "other_imbalance_kwh": other.ravel(),
        "imbalance_kwh": position.ravel(),
        "imbalance_price_eur_per_mwh": price.ravel(),
        "imbalance_eur": money.ravel(),
        "compensation_eur": received.ravel(),
        "net_eur": (money + received).ravel(),
    })
    return out.astype({k: v[0] for k, v in IMBALANCE_COLUMNS.items()})


def imbalance_transactions(table: pd.DataFrame, prices: ImbalancePrices,
                           tso_id: str = "TSO") -> pd.DataFrame:
    """TSO → BRP imbalance payments (a short BRP's negative amount turns into BRP → TSO)."""
    return coded_imbalance_transactions(table, prices, tso_id).frame()


def coded_imbalance_transactions(table: pd.DataFrame, prices: ImbalancePrices,
                                 tso_id: str = "TSO") -> CodedTransactions:
    """``imbalance_transactions`` as integer-coded columns (no per-row strings)."""
    money = table["imbalance_eur"].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(money != 0)
    rule = f"imbalance_{ImbalancePricing(prices.pricing).value}"
    brp, brp_labels = pd.factorize(table["brp_id"].to_numpy(dtype=object)[rows],
                                   use_na_sentinel=False)
    # labels: the TSO, the award id '' (none), the rule, then the BRPs
    labels = np.concatenate([np.asarray([tso_id, "", rule], dtype=object),
                             np.asarray(brp_labels, dtype=object)])
    return CodedTransactions.from_codes(
        0, brp.astype(np.int64) + 3, money[rows], 1,
        table["isp"].to_numpy(dtype=np.int64)[rows], 2, labels)


def imbalance_scenarios(
    deviation_kwh: Any,
    brp_ids: Any,
    activated_kwh: Any,
    single: ImbalancePrices,
    dual: ImbalancePrices,
    compensation_eur: Any = None,
) -> pd.DataFrame:
    """Per BRP, the imbalance money under single / dual pricing, with / without correction.

    ``activated_kwh`` [T, B] is the award-covered energy a perimeter correction removes;
    ``compensation_eur`` [T, B] what the BRP received. One row per BRP × pricing × correction:
    brp_id, pricing, perimeter_correction, imbalance_abs_kwh, imbalance_eur, compensation_eur,
    net_eur.
    """
    brp_ids = np.asarray(brp_ids, dtype=object)
    dev = np.asarray(deviation_kwh, dtype=np.float64)
    act = _grid(activated_kwh, dev.shape, "activated_kwh")
    comp = _grid(compensation_eur, dev.shape, "compensation_eur")
    rows = []
    for prices in (single, dual):
        for corrected in (False, True):
            position = dev - act if corrected else dev
            money = prices.price(position) * position / 1000.0
            for j, brp in enumerate(brp_ids):
                rows.append({
                    "brp_id": brp,
                    "pricing": ImbalancePricing(prices.pricing).value,
                    "perimeter_correction": corrected,
                    "imbalance_abs_kwh": float(np.abs(position[:, j]).sum()),
                    "imbalance_eur": float(money[:, j].sum()),
                    "compensation_eur": float(comp[:, j].sum()),
                    "net_eur": float(money[:, j].sum() + comp[:, j].sum()),
                })
    return pd.DataFrame(rows)
