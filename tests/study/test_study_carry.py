"""What one day leaves is the next day's start: DER state and the aggregators' bidding."""

from datetime import date

import numpy as np
import pytest
from study_builders import EXAMPLES, small_study

from localflex.der import BatteryFleet, EvFleet, HeatPumpFleet
from localflex.domain import TimeGrid
from localflex.market.designs import DesignParams
from localflex.settlement.delivery import DeliveryRules
from localflex.sim.scenario import load_scenario
from localflex.sim.setup import prepare_market
from localflex.study import StudyError, parse_study
from localflex.study.cell import run_cell
from localflex.study.day import day_scenario, run_day
from localflex.study.schema import expand_cells


def _late_activation(tg: TimeGrid, n: int, kw: float) -> np.ndarray:
    delta = np.zeros((tg.n_isps, n))
    delta[-8:] = kw  # the last two hours: no time left to restore before midnight
    return delta


def test_a_battery_and_a_heat_pump_start_the_next_day_where_they_ended():
    day1, day2 = TimeGrid.for_day("2016-01-05"), TimeGrid.for_day("2016-01-06")
    battery = BatteryFleet(["b1", "b2"], [1, 2], power_kw=5.0, energy_kwh=10.0, soc0=0.5)
    end = battery.end_state(day1, _late_activation(day1, 2, 4.0))  # discharge (UP)
    assert end["e0_kwh"][0] < 0.5 * 10.0 - 1.0
    assert battery.end_state(day1)["e0_kwh"] == pytest.approx(np.full(2, 5.0))
    nxt = battery.with_state(end)
    assert np.array_equal(nxt.simulate(day2)[1][0], end["e0_kwh"])
    assert battery.e0_kwh[0] == 5.0  # the day-1 fleet is unchanged

    pumps = HeatPumpFleet(["h1"], [1], rated_kw_el=3.0, cop=3.0,
                          thermal_resistance_k_per_kw=5.0, thermal_capacity_kwh_per_k=5.0,
                          t_set_c=21.0, comfort_band_k=2.0, t_indoor0_c=None,
                          outdoor_temp_c=np.full(96, 0.0))
    end = pumps.end_state(day1, _late_activation(day1, 1, -2.0))  # heat more (DOWN)
    assert end["t_indoor0_c"][0] > 21.5
    assert np.array_equal(pumps.with_state(end).simulate(day2)[1][0], end["t_indoor0_c"])
    with pytest.raises(Exception, match="der_state"):
        pumps.with_state({"e0_kwh": np.ones(1)})


def test_a_study_day_starts_from_the_previous_days_end():
    scenario = load_scenario(EXAMPLES / "demo.yaml")
    day1, day2 = date(2016, 6, 21), date(2016, 6, 22)
    first = run_day(scenario, day1, "sequential_dso_first", DesignParams(), DeliveryRules(),
                    seed=3)
    fresh = prepare_market(day_scenario(scenario, day2, 3))
    carried = prepare_market(day_scenario(scenario, day2, 3), der_states=first.der_states)
    moved = 0
    for f_new, f_old, state in zip(carried.placed.fleets, fresh.placed.fleets,
                                   first.der_states, strict=True):
        if isinstance(f_new, HeatPumpFleet):
            assert np.array_equal(f_new.t_indoor0_c, state["t_indoor0_c"])
            assert np.array_equal(f_new.simulate(carried.time_grid)[1][0],
                                  state["t_indoor0_c"])
            moved += int((f_new.t_indoor0_c != f_old.t_indoor0_c).sum())
    assert moved > 0  # day 1's dispatch left some rooms off their set point
    assert not np.array_equal(carried.baseline_kw, fresh.baseline_kw)


def test_an_ev_still_plugged_at_midnight_carries_its_need_into_the_next_day():
    """The next day's fleet is drawn afresh (same seed: same units, buses and sessions);
    ``der_states`` adds the sessions still plugged at midnight as morning sessions."""
    scenario = load_scenario(EXAMPLES / "winter_evening.yaml")
    scenario = scenario.model_copy(update={
        "ders": scenario.ders.model_copy(update={"ev_charger_kw": 3.7})})
    day1, day2 = date(2016, 1, 20), date(2016, 1, 21)
    first = prepare_market(day_scenario(scenario, day1, 3))
    states = first.placed.end_states(first.time_grid, np.zeros_like(first.baseline_kw))
    fresh = prepare_market(day_scenario(scenario, day2, 3))
    carried = prepare_market(day_scenario(scenario, day2, 3), der_states=states)
    evs = 0
    for f_day1, f_new, f_old, state in zip(first.placed.fleets, carried.placed.fleets,
                                           fresh.placed.fleets, states, strict=True):
        if not isinstance(f_new, EvFleet):
            continue
        evs += 1
        home = f_new.der_id[0] == "ev:0"  # stations: sessions from each day's profile
        for name in ("der_id", "bus", *(("arrival_isp", "departure_isp", "energy_need_kwh")
                                        if home else ())):
            assert np.array_equal(getattr(f_new, name), getattr(f_day1, name)), name
        assert home or state["carried_need_kwh"].sum() == 0  # a station's ends by midnight
        assert np.array_equal(f_new.carried_need_kwh, state["carried_need_kwh"])
        extra_kwh = (f_new.baseline_kw(carried.time_grid)
                     - f_old.baseline_kw(fresh.time_grid)).sum(axis=0) * 0.25 * 0.9
        np.testing.assert_allclose(extra_kwh, state["carried_need_kwh"], atol=1e-6)
    home = states[[isinstance(f, EvFleet) and f.der_id[0] == "ev:0"
                   for f in first.placed.fleets].index(True)]
    assert evs == 2 and (home["carried_need_kwh"] > 0).sum() > 5
    assert carried.envelope.energy_up_max_kwh.sum() > fresh.envelope.energy_up_max_kwh.sum()


def test_bidding_strategies_learn_across_the_days_of_a_cell():
    study = parse_study(small_study(
        designs=["sequential_dso_first"], seeds=[1],
        dates=[{"start": "2016-06-20", "end": "2016-06-23"}],
        parameters={"bidding.aggregators": [2]},
        bidding={"strategy": "learn"}))
    (cell,) = expand_cells(study)
    assert cell.bidding == {"strategy": "learn", "aggregators": 2}
    rows = run_cell(cell)
    again = run_cell(cell)
    assert rows.equals(again)  # seeded by the cell
    # a learner explores every arm of its grid in order first: 0, 0.1, 0.25, 0.5 markups
    assert rows["mean_markup"].tolist() == pytest.approx([0.0, 0.1, 0.25, 0.5])
    cost = run_cell(expand_cells(parse_study(small_study(
        designs=["sequential_dso_first"], seeds=[1],
        dates=[{"start": "2016-06-20", "end": "2016-06-23"}],
        bidding={"strategy": "cost", "aggregators": 2})))[0])
    assert (cost["mean_markup"] == 0).all()
    assert rows["dso_cost_eur"].iloc[-1] > cost["dso_cost_eur"].iloc[-1]


@pytest.mark.parametrize(("bidding", "key"), [
    ({"strategy": "greedy"}, "bidding.strategy"),
    ({"aggregators": 0}, "bidding.aggregators"),
    ({"strategy": "learn", "rounds": 2}, "bidding.rounds"),
])
def test_a_bad_bidding_section_is_refused_naming_the_key(bidding, key):
    with pytest.raises(StudyError, match=key.replace(".", r"\.")):
        parse_study(small_study(bidding=bidding))


def test_a_bad_swept_bidding_value_names_the_parameter():
    with pytest.raises(StudyError, match=r"parameters\.bidding\.aggregators"):
        parse_study(small_study(parameters={"bidding.aggregators": [2, 101]}))
