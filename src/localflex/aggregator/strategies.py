"""Bidding strategies of aggregators beside cost-based bidding (paper §6.1: an aggregator
"finds it more profitable" elsewhere, or games the markets; §7: market power — "a sufficient
number of competitors and a sufficient liquidity" — decides whether a market mechanism
works).

An aggregator's ask is its true cost times ``1 + markup`` (``apply_markups``); the cost is
what the cost model prices (``DesignInput.offer_costs``). Three strategies:

* ``CostBased`` — markup 0: the ask is the cost (the default of every design);
* ``FixedMarkup`` — a stated markup, one for all or one per aggregator;
* ``LearningMarkup`` — each aggregator learns its markup across the days of a study from its
  own realised profit (bandit feedback: it sees only what it earned), choosing from
  ``grid`` ε-greedy with a seeded generator; ``BestResponseMarkup`` — each aggregator in
  turn picks, from ``grid``, the markup that maximises its own profit on the day given the
  others' current markups (it can evaluate the day, e.g. by re-running the design: full
  information), repeated for ``rounds`` rounds or until nobody moves (a Nash equilibrium on
  the grid).

State is passed in and out (``StrategyState``, frozen): a study engine keeps it between days
and calls ``strategy.markups(state)`` before a day and ``strategy.update(state, profits)``
after it (``profits``: aggregator -> EUR, e.g. ``market.designs.result.seller_profits``).
Nothing here knows about a market design; the caller runs the day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from localflex.domain import InputError

__all__ = [
    "BestResponseMarkup",
    "CostBased",
    "FixedMarkup",
    "LearningMarkup",
    "StrategyState",
    "apply_markups",
    "parse_strategy",
]

DEFAULT_GRID: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
"""Markups an adaptive aggregator chooses from (0 = cost-based, 2.0 = three times cost)."""


def _check_markup(name: str, value: float) -> float:
    value = float(value)
    if not (np.isfinite(value) and value >= 0):
        raise InputError(name, value, "a finite markup >= 0 (ask = cost x (1 + markup))")
    return value


def apply_markups(offers: pd.DataFrame, costs: pd.Series,
                  markups: Mapping[str, float]) -> pd.DataFrame:
    """Offers with ``price_eur_per_mwh`` = cost × (1 + markup of their aggregator); an
    aggregator without a markup bids its cost. ``costs``: offer_id -> EUR/MWh."""
    cost = offers["offer_id"].map(costs).to_numpy(dtype=float)
    if np.isnan(cost).any():
        bad = offers["offer_id"].to_numpy()[np.isnan(cost)][0]
        raise InputError("costs", bad, "a cost for every offer id")
    m = offers["aggregator_id"].map(
        {a: _check_markup(f"markup[{a}]", v) for a, v in markups.items()}).fillna(0.0)
    # a negative cost (paid to be curtailed) stays a negative ask, marked up in absolute terms
    price = cost + np.abs(cost) * m.to_numpy(dtype=float)
    return offers.assign(price_eur_per_mwh=np.round(price, 4))


@dataclass(frozen=True)
class StrategyState:
    """What a strategy remembers between days: current markups and, for the learners, the
    mean profit and count of every arm of ``grid`` per aggregator."""

    markups: dict[str, float]
    day: int = 0
    mean_profit: dict[str, tuple[float, ...]] = field(default_factory=dict)
    plays: dict[str, tuple[int, ...]] = field(default_factory=dict)


class CostBased:
    """Ask = cost."""

    name = "cost"

    def initial_state(self, aggregators: Sequence[str]) -> StrategyState:
        return StrategyState({a: 0.0 for a in aggregators})

    def markups(self, state: StrategyState) -> dict[str, float]:
        return dict(state.markups)

    def update(self, state: StrategyState, profits: Mapping[str, float]) -> StrategyState:
        return replace(state, day=state.day + 1)


class FixedMarkup(CostBased):
    """Ask = cost × (1 + markup): one markup, or one per aggregator (others: 0)."""

    def __init__(self, markup: float | Mapping[str, float]) -> None:
        if isinstance(markup, Mapping):
            self.markup = {a: _check_markup(f"markup[{a}]", v) for a, v in markup.items()}
        else:
            self.markup = _check_markup("markup", markup)
        self.name = f"markup:{markup}" if not isinstance(markup, Mapping) else "markup"

    def initial_state(self, aggregators: Sequence[str]) -> StrategyState:
        if isinstance(self.markup, dict):
            return StrategyState({a: self.markup.get(a, 0.0) for a in aggregators})
        return StrategyState({a: self.markup for a in aggregators})


class LearningMarkup(CostBased):
    """ε-greedy learning of the markup across days from realised profit (module doc)."""

    def __init__(self, grid: Sequence[float] = DEFAULT_GRID, *, epsilon: float = 0.2,
                 seed: int = 0) -> None:
        self.grid = tuple(_check_markup("grid", g) for g in grid)
        if not self.grid:
            raise InputError("grid", grid, "at least one markup")
        if not 0 <= epsilon <= 1:
            raise InputError("epsilon", epsilon, "a probability in [0, 1]")
        self.epsilon = float(epsilon)
        self.seed = int(seed)
        self.name = "learn"

    def initial_state(self, aggregators: Sequence[str]) -> StrategyState:
        zeros = tuple(0.0 for _ in self.grid)
        return StrategyState({a: self.grid[0] for a in aggregators},
                             mean_profit={a: zeros for a in aggregators},
                             plays={a: tuple(0 for _ in self.grid) for a in aggregators})

    def markups(self, state: StrategyState) -> dict[str, float]:
        """Each aggregator's markup for day ``state.day``: untried arms first (in grid
        order), then the best mean profit, exploring with probability ε (seeded by the
        strategy's seed, the day and the aggregator's position)."""
        out = {}
        for i, agg in enumerate(sorted(state.markups)):
            plays = np.asarray(state.plays[agg])
            if (plays == 0).any():
                out[agg] = self.grid[int(np.flatnonzero(plays == 0)[0])]
                continue
            rng = np.random.default_rng([self.seed, state.day, i])
            if rng.random() < self.epsilon:
                out[agg] = self.grid[int(rng.integers(len(self.grid)))]
            else:
                out[agg] = self.grid[int(np.argmax(state.mean_profit[agg]))]
        return out

    def update(self, state: StrategyState, profits: Mapping[str, float]) -> StrategyState:
        """Credit each aggregator's realised profit to the markup it played (state.markups
        must hold the markups of the day just run)."""
        mean, plays = dict(state.mean_profit), dict(state.plays)
        for agg, markup in state.markups.items():
            k = self.grid.index(markup) if markup in self.grid else int(
                np.argmin(np.abs(np.asarray(self.grid) - markup)))
            n = list(plays[agg])
            m = list(mean[agg])
            n[k] += 1
            m[k] += (float(profits.get(agg, 0.0)) - m[k]) / n[k]
            plays[agg], mean[agg] = tuple(n), tuple(m)
        return StrategyState(dict(state.markups), state.day + 1, mean, plays)

    def play(self, state: StrategyState) -> StrategyState:
        """The state with the markups of the coming day set (call before running it)."""
        return replace(state, markups=self.markups(state))


class BestResponseMarkup(CostBased):
    """Iterated best responses on the grid (module doc)."""

    def __init__(self, grid: Sequence[float] = DEFAULT_GRID, *, rounds: int = 3) -> None:
        self.grid = tuple(_check_markup("grid", g) for g in grid)
        if not (isinstance(rounds, int) and rounds >= 1):
            raise InputError("rounds", rounds, "an integer >= 1")
        self.rounds = rounds
        self.name = f"best-response:{rounds}"

    def respond(self, state: StrategyState,
                profit_of: Callable[[Mapping[str, float]], Mapping[str, float]]
                ) -> StrategyState:
        """Best responses until nobody moves or ``rounds`` are done. ``profit_of(markups)``
        runs the day with those markups and returns aggregator -> profit."""
        markups = dict(state.markups)
        for _ in range(self.rounds):
            moved = False
            for agg in sorted(markups):
                best, best_profit = markups[agg], None
                for g in self.grid:
                    profit = float(profit_of({**markups, agg: g}).get(agg, 0.0))
                    if best_profit is None or profit > best_profit + 1e-9:
                        best, best_profit = g, profit
                if best != markups[agg]:
                    markups[agg], moved = best, True
            if not moved:
                break
        return replace(state, markups=markups, day=state.day + 1)


def parse_strategy(text: str, *, seed: int = 0):
    """'cost', 'markup:X', 'learn' or 'best-response[:ROUNDS]' -> a strategy (InputError)."""
    kind, _, arg = text.strip().partition(":")
    try:
        if kind == "cost" and not arg:
            return CostBased()
        if kind == "markup" and arg:
            return FixedMarkup(float(arg))
        if kind == "learn" and not arg:
            return LearningMarkup(seed=seed)
        if kind == "best-response":
            return BestResponseMarkup(rounds=int(arg) if arg else 3)
    except ValueError:
        pass
    raise InputError("strategy", text,
                     "'cost', 'markup:X' (X >= 0), 'learn' or 'best-response[:ROUNDS]'")
