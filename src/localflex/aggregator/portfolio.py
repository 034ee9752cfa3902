"""An aggregator's portfolio: which DER units it pools (paper §4, Figure 3).

Units are assigned to aggregators by the scenario's shares, restricted to the DER families
each aggregator pools; a unit that does not participate belongs to nobody (empty string).
The assignment is a seeded random draw, so the same scenario gives the same portfolios.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from localflex.domain import InputError

__all__ = ["AggregatorRule", "Portfolio", "assign_portfolios"]


@dataclass(frozen=True, slots=True)
class AggregatorRule:
    name: str
    share: float
    der_types: frozenset[str] | None = None  # None = every family


@dataclass(frozen=True, slots=True)
class Portfolio:
    """``unit_aggregator[n]`` is the aggregator pooling unit n, or '' if none."""

    aggregator_names: tuple[str, ...]
    unit_aggregator: np.ndarray

    def units_of(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.unit_aggregator == name)

    @property
    def participating(self) -> np.ndarray:
        return self.unit_aggregator != ""


def assign_portfolios(
    der_type: np.ndarray,
    rules: Sequence[AggregatorRule],
    participation: float,
    rng: np.random.Generator,
) -> Portfolio:
    """Draw which aggregator pools each unit.

    A share ``participation`` of the units signs up at all; each such unit picks an
    aggregator with probability proportional to ``share`` among the aggregators that pool
    its DER family. Units whose family no aggregator pools stay out.
    """
    if not 0.0 <= participation <= 1.0:
        raise InputError("ders.participation", participation, "a share between 0 and 1")
    n_units = der_type.shape[0]
    names = tuple(r.name for r in rules)
    unit_aggregator = np.full(n_units, "", dtype=object)
    joins = rng.random(n_units) < participation
    draw = rng.random(n_units)
    types = np.asarray(der_type).astype(str)
    for family in np.unique(types):
        weights = np.array(
            [r.share if r.der_types is None or family in r.der_types else 0.0 for r in rules]
        )
        in_family = (types == family) & joins
        if weights.sum() <= 0 or not in_family.any():
            continue
        cumulative = np.cumsum(weights / weights.sum())
        pick = np.searchsorted(cumulative, draw[in_family], side="right")
        pick = np.minimum(pick, len(rules) - 1)
        unit_aggregator[in_family] = np.asarray(names, dtype=object)[pick]
    return Portfolio(names, unit_aggregator)
