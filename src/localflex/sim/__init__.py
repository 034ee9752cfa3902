"""The simulator: scenario files, the market day, KPIs and the run folder (DESIGN.md)."""

from localflex.sim.scenario import Scenario, load_scenario, parse_scenario

__all__ = ["Scenario", "load_scenario", "parse_scenario"]
