"""The market day engine on the winter example: EV charging postponed, and its rebound."""

from pathlib import Path

import numpy as np
import pytest

from localflex.grid import overload_kw
from localflex.sim.engine import OVERLOAD_TOLERANCE_KW, simulate
from localflex.sim.kpis import compute_kpis
from localflex.sim.scenario import load_scenario

WINTER = Path(__file__).resolve().parents[2] / "examples" / "winter_evening.yaml"


@pytest.fixture(scope="module")
def winter_day():
    steps: list[str] = []
    day = simulate(load_scenario(WINTER), steps.append)
    return day, compute_kpis(day), steps


def test_winter_congestion_is_relieved_by_postponed_charging(winter_day):
    day, kpis, steps = winter_day
    assert steps[0] == "load grid" and "verify by power flow" in steps
    assert kpis["overload_energy_before_kwh"] > 10
    assert kpis["overload_energy_after_kwh"] <= 0.05 * kpis["overload_energy_before_kwh"]
    assert set(kpis["per_der_type"]) == {"ev"}
    # every award is an UP activation (charge less now) ...
    assert (day.awards["direction"] == "up").all()
    # ... and the energy comes back later: EVs still get their energy before departure
    assert kpis["rebound_energy_kwh"] == pytest.approx(kpis["delivered_energy_kwh"], rel=0.02)
    assert day.realised_kw.sum() == pytest.approx(day.baseline_kw.sum(), rel=1e-6)


def test_verification_is_a_real_power_flow(winter_day):
    day, kpis, _ = winter_day
    after = overload_kw(day.after, day.congestion_points)
    assert after.max() <= OVERLOAD_TOLERANCE_KW
    assert kpis["worst_loading_after_pct"] == pytest.approx(
        float(np.max(day.after.cp_loading_pct)), abs=0.01)


def test_no_activation_without_need(winter_day):
    day, _, _ = winter_day
    awarded_isps = set(day.awards["isp"])
    congested = set(np.flatnonzero(overload_kw(day.before, day.congestion_points).max(axis=1)
                                   > 0).tolist())
    later_rounds = set(day.awards.loc[day.awards["round"] > 1, "isp"])
    assert awarded_isps <= congested | later_rounds
