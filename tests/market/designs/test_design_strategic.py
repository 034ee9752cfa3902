"""Strategic bidding inside a design (market/designs/strategic.py): the calls a study engine
makes per day, with the strategy's state passed in and out."""

from __future__ import annotations

import pytest
from design_builders import small_input

from localflex.aggregator.strategies import BestResponseMarkup, CostBased, LearningMarkup
from localflex.market.designs import sequential_dso_first
from localflex.market.designs.result import seller_profits
from localflex.market.designs.strategic import markups_for_day, play_on_day, settle_day


def _profits(inp, markups):
    marked = inp.with_markups(markups)
    return seller_profits(marked, sequential_dso_first(marked).trades)


def test_best_responses_earn_at_least_what_cost_based_bidding_earns():
    inp = small_input()
    br = BestResponseMarkup(grid=(0.0, 0.5, 1.0), rounds=2)
    marked, state, history = play_on_day(inp, br, sequential_dso_first)
    assert history[-1] == state.markups
    cost = _profits(inp, dict.fromkeys(state.markups, 0.0))
    responded = _profits(inp, state.markups)
    assert any(m > 0 for m in state.markups.values())  # somebody marks up
    assert responded.sum() > cost.sum()
    # the costs stay the true ones: the welfare does not count markups as costs
    assert (marked.offer_costs == inp.offer_costs).all()


def test_a_learner_carries_its_state_across_days():
    inp = small_input()
    learner = LearningMarkup(grid=(0.0, 0.5), epsilon=0.0, seed=1)
    state = None
    for day in range(3):
        state = markups_for_day(inp, learner, state, sequential_dso_first)
        marked = inp.with_markups(state.markups)
        state = settle_day(learner, state, marked, sequential_dso_first(marked))
        assert state.day == day + 1
    assert all(sum(p) == 3 for p in state.plays.values())
    assert markups_for_day(inp, CostBased(), None, sequential_dso_first).markups == \
        dict.fromkeys(sorted(set(inp.offers["aggregator_id"])), 0.0)


def test_welfare_is_value_served_minus_true_cost():
    inp = small_input()
    for markups in ({}, {"agg-a": 1.0}):
        k = sequential_dso_first(inp.with_markups(markups)).kpis
        assert k["welfare_eur"] == pytest.approx(
            k["dso_value_eur"] + k["buyer_value_eur"] - k["seller_cost_eur"])
        assert k["dso_value_eur"] > 0
