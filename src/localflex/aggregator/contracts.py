"""Who each customer's supplier / BRP is, and what kind of aggregator pools it (paper §4, §4.2).

§4: "the aggregator role can also be carried out by an energy supplier" (a *supplier-
aggregator*, pooling its own supply customers), while an *independent* aggregator "can manage
DERs' flexibility without having any contract with an energy supplier". §4.2 (Figure 4): when an
independent aggregator activates a customer, the customer's BRP faces an imbalance it did not
cause, so a compensation between the two is needed.

``assign_contracts`` is the companion table of a ``Portfolio``: every unit gets a BRP
(= its supplier's BRP; the paper takes supplier and BRP as one company "for the sake of
simplicity", so do we), drawn with the given market shares from a seeded generator; the units
of a supplier-aggregator are its own customers, so their BRP is that supplier's BRP.

Columns of ``Contracts.table`` (one row per unit):

| column | meaning |
|---|---|
| unit | unit index |
| aggregator_id | pooling aggregator ('' = none) |
| aggregator_kind | ``independent`` / ``supplier`` ('' for unpooled units) |
| brp_id | the customer's supplier / BRP |
| brp_compensation | True where an activation shifts a BRP position the aggregator does not |
|  | hold (an independent aggregator's unit, §4.2) |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from localflex.aggregator.portfolio import Portfolio
from localflex.domain import InputError

__all__ = ["AggregatorKind", "Contracts", "assign_contracts"]


class AggregatorKind(StrEnum):
    INDEPENDENT = "independent"  # own contract with the DER owner, none with the supplier
    SUPPLIER = "supplier"  # the customer's supplier (and BRP) also aggregates


@dataclass(frozen=True)
class Contracts:
    """Per-unit BRP and aggregator kind (``table``, columns in the module docstring)."""

    table: pd.DataFrame
    aggregator_kind: dict[str, AggregatorKind]
    aggregator_brp: dict[str, str]  # a supplier-aggregator's own BRP

    @property
    def unit_brp(self) -> np.ndarray:
        return self.table["brp_id"].to_numpy()

    def units_needing_compensation(self) -> np.ndarray:
        return np.flatnonzero(self.table["brp_compensation"].to_numpy())


def assign_contracts(
    portfolio: Portfolio,
    brp_shares: Mapping[str, float],
    rng: np.random.Generator,
    *,
    kinds: Mapping[str, AggregatorKind | str] | None = None,
    supplier_brp: Mapping[str, str] | None = None,
) -> Contracts:
    """Draw each unit's BRP by ``brp_shares`` and set the supplier-aggregators' customers.

    ``kinds``: aggregator -> kind (default independent). A supplier-aggregator needs its BRP
    in ``supplier_brp`` (one of ``brp_shares``). Same generator state → same table.
    """
    names = list(brp_shares)
    shares = np.array([brp_shares[n] for n in names], dtype=float)
    if not names or (~np.isfinite(shares)).any() or (shares < 0).any() or shares.sum() <= 0:
        raise InputError("brp_shares", dict(brp_shares), "BRP names with shares >= 0, sum > 0")
    kinds = dict(kinds or {})
    supplier_brp = dict(supplier_brp or {})
    kind_of: dict[str, AggregatorKind] = {}
    for name in portfolio.aggregator_names:
        raw = kinds.get(name, AggregatorKind.INDEPENDENT)
        try:
            kind_of[name] = AggregatorKind(raw)
        except ValueError:
            raise InputError(f"kinds.{name}", raw,
                             f"one of {', '.join(k.value for k in AggregatorKind)}") from None
        if kind_of[name] is AggregatorKind.SUPPLIER and supplier_brp.get(name) not in names:
            raise InputError(f"supplier_brp.{name}", supplier_brp.get(name),
                             f"the supplier-aggregator's BRP, one of {', '.join(names)}")
    unknown = set(kinds) - set(portfolio.aggregator_names)
    if unknown:
        raise InputError("kinds", sorted(unknown)[0],
                         "an aggregator of the portfolio: "
                         + ", ".join(portfolio.aggregator_names))

    n_units = portfolio.unit_aggregator.size
    cumulative = np.cumsum(shares / shares.sum())
    pick = np.minimum(np.searchsorted(cumulative, rng.random(n_units), side="right"),
                      len(names) - 1)
    brp = np.asarray(names, dtype=object)[pick]
    agg = portfolio.unit_aggregator
    kind_col = np.array([kind_of[a].value if a else "" for a in agg], dtype=object)
    for name, kind in kind_of.items():
        if kind is AggregatorKind.SUPPLIER:
            brp[agg == name] = supplier_brp[name]
    table = pd.DataFrame({
        "unit": np.arange(n_units, dtype=np.int64),
        "aggregator_id": agg,
        "aggregator_kind": kind_col,
        "brp_id": brp,
        "brp_compensation": kind_col == AggregatorKind.INDEPENDENT.value,
    })
    return Contracts(table, kind_of,
                     {n: supplier_brp[n] for n, k in kind_of.items()
                      if k is AggregatorKind.SUPPLIER})
