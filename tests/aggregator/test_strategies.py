"""Bidding strategies (aggregator/strategies.py): markups, learning across days, best
responses, with state passed in and out."""

from __future__ import annotations

import pandas as pd
import pytest

from localflex.aggregator.strategies import (
    BestResponseMarkup,
    CostBased,
    FixedMarkup,
    LearningMarkup,
    apply_markups,
    parse_strategy,
)
from localflex.domain import InputError

OFFERS = pd.DataFrame({"offer_id": ["a1", "a2", "b1"], "aggregator_id": ["A", "A", "B"],
                       "price_eur_per_mwh": [50.0, -20.0, 80.0]})
COSTS = pd.Series({"a1": 50.0, "a2": -20.0, "b1": 80.0})


def test_markups_scale_the_true_cost():
    out = apply_markups(OFFERS, COSTS, {"A": 0.5})
    assert out["price_eur_per_mwh"].tolist() == [75.0, -10.0, 80.0]  # B bids its cost
    with pytest.raises(InputError, match="markup"):
        apply_markups(OFFERS, COSTS, {"A": -0.1})
    with pytest.raises(InputError, match="costs"):
        apply_markups(OFFERS, COSTS.drop("b1"), {})


def test_fixed_and_cost_based_states():
    assert CostBased().initial_state(["A", "B"]).markups == {"A": 0.0, "B": 0.0}
    fixed = FixedMarkup(0.2)
    state = fixed.initial_state(["A", "B"])
    assert fixed.markups(state) == {"A": 0.2, "B": 0.2}
    assert fixed.update(state, {"A": 1.0}).day == 1
    assert FixedMarkup({"A": 0.3}).initial_state(["A", "B"]).markups == {"A": 0.3, "B": 0.0}


def _profit(markups):
    """A toy market: the profit of a markup peaks at 0.5 for A; B's profit falls with A's."""
    a = markups["A"]
    return {"A": a * (1.0 - a), "B": 1.0 - markups["A"] - markups["B"] ** 2}


def test_learning_finds_the_most_profitable_markup_from_its_own_profit_only():
    learner = LearningMarkup(grid=(0.0, 0.25, 0.5, 1.0), epsilon=0.1, seed=3)
    state = learner.initial_state(["A", "B"])
    played = []
    for _ in range(40):
        state = learner.play(state)
        played.append(state.markups["A"])
        state = learner.update(state, _profit(state.markups))
    assert state.day == 40
    assert sum(m == 0.5 for m in played[-20:]) >= 15  # exploits the best arm
    assert learner.markups(state)["B"] in (0.0, 0.25)
    # state in, state out: replaying from a saved state gives the same markups
    assert learner.markups(state) == learner.markups(state)


def test_best_response_reaches_a_fixed_point():
    br = BestResponseMarkup(grid=(0.0, 0.25, 0.5, 1.0), rounds=5)
    state = br.respond(br.initial_state(["A", "B"]), _profit)
    assert state.markups == {"A": 0.5, "B": 0.0}
    again = br.respond(state, _profit)
    assert again.markups == state.markups


@pytest.mark.parametrize("text", ["", "markup", "markup:-1", "markup:x", "bid-high",
                                  "best-response:0", "learn:3"])
def test_bad_strategy_is_named(text):
    with pytest.raises(InputError, match=r"strategy|rounds|markup"):
        parse_strategy(text)


def test_strategies_parse():
    assert isinstance(parse_strategy("cost"), CostBased)
    assert parse_strategy("markup:0.3").markups(
        parse_strategy("markup:0.3").initial_state(["A"])) == {"A": 0.3}
    assert isinstance(parse_strategy("learn"), LearningMarkup)
    assert parse_strategy("best-response:2").rounds == 2
