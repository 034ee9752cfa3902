"""Aggregator–BRP compensation for an independent aggregator's activations (paper §4.2, Fig. 4).

Figure 4 of the paper: the BRP/supplier schedules its customer's load day-ahead; an independent
aggregator then activates the customer's flexibility, so the realised consumption departs from
the schedule and the BRP faces an imbalance it did not cause. §4.2 lists how countries settle
this (regime names from ``localflex.regulation.CompensationRegime``; the country presets name
which applies in ``country_preset(code).bsp_brp_compensation``):

* ``none`` — Great Britain: no payment; the BRP keeps the imbalance;
* ``undefined`` — no legislation (most countries in 2017): treated as ``none``;
* ``contractual`` — France (1): a price per MWh agreed between aggregator and supplier;
* ``regulated`` — France (2): a fixed tariff (EUR/MWh) set by the TSO, paid to the BRP;
* ``corrected`` — France (3): the aggregator pays the energy component of what the customer
  would have consumed, i.e. the supplier's retail energy price × the activated energy;
* ``perimeter_correction`` — Switzerland: the TSO corrects the BRP's position by the
  activated energy the day after, and the BRP is compensated at the quarter-hourly
  day-ahead price.

Sign convention, one formula for every regime: ``amount_to_brp_eur = price × energy_kwh / 1000``
with ``energy_kwh`` the activated energy in injection sign (+ = UP = the customer consumed less
than the BRP sourced). An UP activation leaves the BRP with energy it paid for and could not
sell, so the BRP is paid; a DOWN activation makes the customer consume energy the BRP did not
source, and the amount turns around (the BRP pays). Who pays: the aggregator in the French
regimes. In the Swiss regime the paper says only that "the BRP receives a compensation
payment"; localflex books it TSO → BRP and, with ``recover_from_aggregator`` (default), the
same amount aggregator → TSO, so that the cost stays with the party that caused it (§4.2,
its ref. [33]) — an assumption, documented as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from localflex.domain import InputError
from localflex.regulation import CompensationRegime, country_preset
from localflex.settlement.ledger import CodedTransactions

__all__ = [
    "ACTIVATED_COLUMNS",
    "COMPENSATION_COLUMNS",
    "CompensationTerms",
    "brp_compensation",
    "coded_compensation_transactions",
    "compensation_transactions",
    "regime_of_country",
]

ACTIVATED_COLUMNS: dict[str, tuple[str, str, str]] = {
    "award_id": ("object", "-", "the award the energy was activated for"),
    "aggregator_id": ("object", "-", "the (independent) aggregator"),
    "brp_id": ("object", "-", "BRP/supplier of the metering points"),
    "isp": ("int64", "-", "ISP index"),
    "energy_kwh": ("float64", "kWh", "activated energy, injection sign (+ = UP = less consumed)"),
}

COMPENSATION_COLUMNS: dict[str, tuple[str, str, str]] = {
    **ACTIVATED_COLUMNS,
    "regime": ("object", "-", "compensation regime"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "price the regime applies"),
    "amount_to_brp_eur": ("float64", "EUR", "received by the BRP (< 0: the BRP pays)"),
    "payer": ("object", "-", "who pays the BRP (aggregator, or the TSO in perimeter correction)"),
    "perimeter_correction_kwh": ("float64", "kWh", "added to the BRP position by the TSO"),
}

_PRICED = {
    CompensationRegime.CONTRACTUAL: "contract_price_eur_per_mwh",
    CompensationRegime.REGULATED: "regulated_price_eur_per_mwh",
    CompensationRegime.CORRECTED: "retail_energy_price_eur_per_mwh",
    CompensationRegime.PERIMETER_CORRECTION: "day_ahead_price_eur_per_mwh",
}


@dataclass(frozen=True)
class CompensationTerms:
    """A regime and the price it needs (scalars, or [T] arrays per ISP for the two energy prices).

    contractual → ``contract_price_eur_per_mwh``; regulated → ``regulated_price_eur_per_mwh``;
    corrected → ``retail_energy_price_eur_per_mwh`` (the supplier's energy component);
    perimeter_correction → ``day_ahead_price_eur_per_mwh`` (quarter-hourly DA price).
    """

    regime: CompensationRegime | str
    contract_price_eur_per_mwh: float | None = None
    regulated_price_eur_per_mwh: float | None = None
    retail_energy_price_eur_per_mwh: Any = None
    day_ahead_price_eur_per_mwh: Any = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "regime", CompensationRegime(self.regime))
        except ValueError:
            raise InputError("regime", self.regime,
                             f"one of {[r.value for r in CompensationRegime]}") from None
        field = _PRICED.get(self.regime)  # type: ignore[arg-type]
        if field is not None:
            value = getattr(self, field)
            if value is None:
                raise InputError(field, None, f"a price for the {self.regime} regime")
            arr = np.asarray(value, dtype=np.float64)
            if arr.ndim > 1 or not np.isfinite(arr).all():
                raise InputError(field, value, "a finite price or a [T] array of prices")

    def price_at(self, isp: np.ndarray) -> np.ndarray:
        """The regime's price (EUR/MWh) at each ISP (0 for none / undefined)."""
        field = _PRICED.get(self.regime)  # type: ignore[arg-type]
        if field is None:
            return np.zeros(isp.shape)
        arr = np.asarray(getattr(self, field), dtype=np.float64)
        if arr.ndim == 0:
            return np.full(isp.shape, float(arr))
        if isp.size and isp.max() >= arr.size:
            raise InputError(field, f"{arr.size} prices", f"a price for ISP {int(isp.max())}")
        return arr[isp]


def regime_of_country(code: str, regime: CompensationRegime | str | None = None
                      ) -> CompensationRegime:
    """The regime the country preset names; with several (France), ``regime`` picks one of
    them and the default is the first listed. A regime the country does not have → InputError.
    """
    preset = country_preset(code)
    allowed = list(preset.bsp_brp_compensation.regimes)
    if regime is None:
        return allowed[0]
    try:
        chosen = CompensationRegime(regime)
    except ValueError:
        raise InputError("regime", regime,
                         f"one of {[r.value for r in CompensationRegime]}") from None
    if chosen not in allowed:
        raise InputError("regime", chosen.value,
                         f"a regime of {preset.code} ({[r.value for r in allowed]})")
    return chosen


def brp_compensation(
    activated: pd.DataFrame, terms: CompensationTerms, tso_id: str = "TSO"
) -> pd.DataFrame:
    """Compensation per award, BRP and ISP (COMPENSATION_COLUMNS); ``activated`` has
    ACTIVATED_COLUMNS. Under none / undefined the rows stay, with amount 0, so the
    uncompensated energy remains visible."""
    missing = [c for c in ACTIVATED_COLUMNS if c not in activated.columns]
    if missing:
        raise InputError("activated", missing, f"columns {list(ACTIVATED_COLUMNS)}")
    energy = activated["energy_kwh"].to_numpy(dtype=np.float64)
    if not np.isfinite(energy).all():
        raise InputError("activated.energy_kwh", "non-finite value", "finite energies")
    isp = activated["isp"].to_numpy(dtype=np.int64)
    price = terms.price_at(isp)
    regime = terms.regime
    perimeter = regime is CompensationRegime.PERIMETER_CORRECTION
    payer = (np.full(len(activated), tso_id, dtype=object) if perimeter
             else activated["aggregator_id"].to_numpy(dtype=object))
    out = activated[list(ACTIVATED_COLUMNS)].reset_index(drop=True).assign(
        regime=str(regime),
        price_eur_per_mwh=price,
        amount_to_brp_eur=price * energy / 1000.0,
        payer=payer,
        perimeter_correction_kwh=-energy if perimeter else np.zeros_like(energy),
    )
    return out.astype({k: v[0] for k, v in COMPENSATION_COLUMNS.items()})


def compensation_transactions(
    compensation: pd.DataFrame, *, recover_from_aggregator: bool = True
) -> pd.DataFrame:
    """Ledger transactions of a compensation table (payer → BRP; negative amounts turn around).

    Perimeter correction: TSO → BRP at the DA price and, with ``recover_from_aggregator``,
    aggregator → TSO of the same amount.
    """
    return coded_compensation_transactions(
        compensation, recover_from_aggregator=recover_from_aggregator).frame()


def coded_compensation_transactions(
    compensation: pd.DataFrame, *, recover_from_aggregator: bool = True
) -> CodedTransactions:
    """``compensation_transactions`` as integer-coded columns (no per-row strings)."""
    amount_all = compensation["amount_to_brp_eur"].to_numpy(dtype=np.float64)
    rows = np.flatnonzero(amount_all != 0)
    if rows.size == 0:
        return CodedTransactions.empty()
    n = rows.size
    regime = compensation["regime"].to_numpy(dtype=object)[rows].astype(str).astype(object)
    perimeter = regime == CompensationRegime.PERIMETER_CORRECTION.value
    rule = np.asarray(["brp_compensation_" + r for r in pd.unique(regime)], dtype=object)
    rule_code = pd.Index(pd.unique(regime)).get_indexer(regime)
    ids = [compensation[c].to_numpy(dtype=object)[rows]
           for c in ("payer", "brp_id", "award_id", "aggregator_id")]
    codes, labels = pd.factorize(
        np.concatenate([*ids, rule, np.asarray(["perimeter_correction_recovery"], object)]),
        use_na_sentinel=False)
    codes = codes.astype(np.int64, copy=False)
    payer, brp, award, agg = (codes[k * n: (k + 1) * n] for k in range(4))
    rules = codes[4 * n:]
    amount = amount_all[rows]
    isp = compensation["isp"].to_numpy(dtype=np.int64)[rows]
    parts = [CodedTransactions.from_codes(payer, brp, amount, award, isp, rules[rule_code],
                                          labels)]
    if recover_from_aggregator and perimeter.any():
        parts.append(CodedTransactions.from_codes(
            agg[perimeter], payer[perimeter], amount[perimeter], award[perimeter],
            isp[perimeter], rules[-1], labels))
    return CodedTransactions.concat(parts)
