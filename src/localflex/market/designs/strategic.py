"""Strategic bidding inside a market design (paper §6.1 gaming, §7 market power): run a
design with the aggregators' markups set by a strategy of ``aggregator.strategies``.

``markups_for_day`` is the one call a driver makes per day: given the day's input, the
strategy and its state, it returns the state holding the markups to bid that day (for a
best-response strategy, after the aggregators have responded on the day by re-running
``design``); ``settle_day`` feeds the day's realised profits back (learning strategies).
``localflex compare`` uses ``play_on_day``: the same day repeated ``days`` times.
"""

from __future__ import annotations

from localflex.aggregator.strategies import BestResponseMarkup, LearningMarkup, StrategyState
from localflex.market.designs.inputs import DesignInput
from localflex.market.designs.result import DesignResult, seller_profits

__all__ = ["markups_for_day", "play_on_day", "settle_day"]


def _profits(inp: DesignInput, design, markups) -> dict[str, float]:
    marked = inp.with_markups(dict(markups))
    result = design(marked)
    return seller_profits(marked, result.trades).to_dict()


def markups_for_day(inp: DesignInput, strategy, state: StrategyState | None, design
                    ) -> StrategyState:
    """The state whose ``markups`` the aggregators bid on this day (module docstring)."""
    if state is None:
        state = strategy.initial_state(sorted(set(inp.offers["aggregator_id"])))
    if isinstance(strategy, BestResponseMarkup):
        return strategy.respond(state, lambda m: _profits(inp, design, m))
    if isinstance(strategy, LearningMarkup):
        return strategy.play(state)
    return state


def settle_day(strategy, state: StrategyState, inp: DesignInput, result: DesignResult
               ) -> StrategyState:
    """Feed the day's realised profits (of ``result``, run on ``inp.with_markups``) back."""
    if isinstance(strategy, BestResponseMarkup):
        return state
    return strategy.update(state, seller_profits(inp, result.trades).to_dict())


def play_on_day(inp: DesignInput, strategy, design, *, days: int = 1
                ) -> tuple[DesignInput, StrategyState, list[dict[str, float]]]:
    """Play ``strategy`` on the same day ``days`` times against ``design``; returns the
    input with the last markups, the final state and the markups of every day."""
    state, history = None, []
    for _ in range(max(1, days)):
        state = markups_for_day(inp, strategy, state, design)
        history.append(dict(state.markups))
        marked = inp.with_markups(state.markups)
        if isinstance(strategy, LearningMarkup):
            state = settle_day(strategy, state, marked, design(marked))
    return inp.with_markups(history[-1]), state, history
