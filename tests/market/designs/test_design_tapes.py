"""No two designs trade identically: distinct trade tapes on the demo and on the small
scenario (issue: a difference between designs comes from their rules, never from a shared
code path, a clearing order or a harness threshold).

The two pairs that used to trade alike on the demo part by the paper's rules:
``conditional_usef`` / ``conditional_bdew`` by when and for what the DSO steps in (§6.2:
USEF's DSO procures "when the grid is in a potential state of risk ... in order to avoid any
technical problem", down to the green boundary; BDEW's "if the DSO foresees a technical
problem", down to the limit); ``deflex_areas`` / ``no_coupling`` by De-Flex's contract
(§5.3, ref. [57]: the DSO "will get the needed flexibility": the relieving flexibility of
its restricted areas is under contract to it, where ``no_coupling``'s aggregators split
theirs ex ante on expected prices)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from design_builders import small_input

from localflex.market.designs import DESIGNS, run_designs

DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo.yaml"


def tape(result) -> list[tuple]:
    """The trade tape without stage names: who bought what from whom, how much, for how
    much money."""
    t = result.trades
    return sorted(zip(t["purpose"], t["buyer_id"], t["seller_id"], t["offer_id"],
                      t["request_id"], t["isp"], t["direction"], t["power_kw"].round(3),
                      t["paid_eur"].round(4), strict=True))


def shared_tapes(results: dict) -> set[tuple[str, str]]:
    tapes = {name: tape(r) for name, r in results.items()}
    return {(a, b) for a, b in itertools.combinations(tapes, 2) if tapes[a] == tapes[b]}


@pytest.fixture(scope="module")
def demo_results():
    from localflex.cli.compare import design_input_for_scenario
    from localflex.sim.scenario import load_scenario

    inp = design_input_for_scenario(load_scenario(DEMO))
    return {r.design: r for r in run_designs(inp)}


def test_no_two_designs_share_a_trade_tape_on_the_demo(demo_results):
    assert list(demo_results) == list(DESIGNS)
    assert shared_tapes(demo_results) == set()
    # the demo's market covers the need: the conditional designs use no backup
    for name in ("conditional_usef", "conditional_bdew"):
        k = demo_results[name].kpis
        assert k["control_kwh"] == 0.0 and k["curtailed_kwh"] == 0.0
        assert k["residual_overload_kwh"] == 0.0


def test_no_two_designs_share_a_trade_tape_on_the_small_scenario():
    results = {r.design: r for r in run_designs(small_input())}
    assert list(results) == list(DESIGNS)
    assert shared_tapes(results) == set()
