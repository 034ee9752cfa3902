"""Baselines: hand-checkable cases per method, shapes, and the SimBench accuracy report."""

import numpy as np
import pytest

from localflex.domain import InputError, TimeGrid
from localflex.settlement import (
    accuracy_report,
    baseline_accuracy,
    day_is_weekend,
    meter_before_baseline,
    nominated_baseline,
    rolling_average_baseline,
    synthetic_meter_data,
    x_of_y_baseline,
)

HOURLY = 60  # 24 ISPs a day keeps hand examples small


def grid(days: int, start: str = "2024-01-01") -> TimeGrid:  # 2024-01-01 is a Monday
    return TimeGrid.for_day(start, isp_minutes=HOURLY, days=days)


def daily(levels, meters: int = 1) -> np.ndarray:
    """A [days*24, meters] array: each day flat at its level."""
    return np.repeat(np.asarray(levels, dtype=float), 24)[:, None].repeat(meters, axis=1)


def test_weekends_of_a_known_week():
    assert day_is_weekend(grid(7)).tolist() == [False] * 5 + [True, True]


def test_high_x_of_y_picks_the_highest_recent_weekdays():
    """Weekdays of two weeks at levels 1..10 (weekends 100). Day 14 (Monday of week 3):
    the 5 most recent weekdays are days 7..11 (levels 6..10); High 2 of 5 = mean(9, 10) = 9.5.
    Weekend days never enter a weekday baseline."""
    levels, weekday_level = [], 1
    for d in range(15):
        if d % 7 >= 5:
            levels.append(100.0)
        else:
            levels.append(float(weekday_level))
            weekday_level += 1
    tg = grid(15)
    b = x_of_y_baseline(daily(levels), tg, x=2, y=5)
    assert b[14 * 24, 0] == pytest.approx(9.5)
    # not enough weekday history on the first days: NaN
    assert np.isnan(b[0, 0]) and np.isnan(b[24, 0])
    # weekends mixed in (separate_weekends=False): day 14's 5 previous days are 9..13
    # (Wed..Sun: levels 8, 9, 10, 100, 100) → top 2 = mean(100, 100)
    mixed = x_of_y_baseline(daily(levels), tg, x=2, y=5, separate_weekends=False)
    assert mixed[14 * 24, 0] == pytest.approx(100.0)


def test_excluded_event_days_are_skipped():
    """Levels 1..5 on Mon-Fri of week 1, then 10 on Monday of week 2 (excluded), Tuesday of
    week 2: 2 of 2 = mean of the two most recent non-excluded weekdays (4, 5) = 4.5."""
    levels = [1, 2, 3, 4, 5, 50, 50, 10, 7]
    exclude = np.zeros(9, dtype=bool)
    exclude[7] = True
    b = x_of_y_baseline(daily(levels), grid(9), x=2, y=2, exclude_days=exclude)
    assert b[8 * 24, 0] == pytest.approx(4.5)


def test_same_day_adjustment_is_capped():
    """History flat at 10 kW; on the event day the first 4 ISPs read 15 kW.
    Multiplicative: 15/10 = 1.5 capped at 1.2 → 12 kW. Additive: +5 capped at 0.2 × 10 = +2
    → 12 kW; with a cap of 1.0 the additive shift is the full +5 → 15 kW."""
    load = daily([10.0] * 8)
    load[7 * 24: 7 * 24 + 4] = 15.0
    tg = grid(8)
    mult = x_of_y_baseline(load, tg, x=1, y=1, adjustment="multiplicative",
                           adjustment_window=(0, 4), cap=0.2)
    add = x_of_y_baseline(load, tg, x=1, y=1, adjustment="additive",
                          adjustment_window=(0, 4), cap=0.2)
    full = x_of_y_baseline(load, tg, x=1, y=1, adjustment="additive",
                           adjustment_window=(0, 4), cap=1.0)
    assert mult[7 * 24 + 12, 0] == pytest.approx(12.0)
    assert add[7 * 24 + 12, 0] == pytest.approx(12.0)
    assert full[7 * 24 + 12, 0] == pytest.approx(15.0)
    with pytest.raises(InputError, match="adjustment_window"):
        x_of_y_baseline(load, tg, adjustment="additive")


def test_x_of_y_is_vectorised_over_meters():
    rng = np.random.default_rng(0)
    load = rng.uniform(0, 5, (24 * 21, 7))
    tg = grid(21)
    together = x_of_y_baseline(load, tg, x=3, y=6)
    alone = np.column_stack([x_of_y_baseline(load[:, [j]], tg, x=3, y=6) for j in range(7)])
    np.testing.assert_array_equal(together, alone)


def test_meter_before_and_before_after():
    """Readings 1, 2, [event 9, 9], 5: meter before = 2 in both event ISPs; before/after
    interpolates 2 → 5 over three steps: 3 and 4."""
    load = np.array([[1.0], [2.0], [9.0], [9.0], [5.0]])
    mask = np.array([False, False, True, True, False])
    assert meter_before_baseline(load, mask)[:, 0].tolist() == [1, 2, 2, 2, 5]
    assert meter_before_baseline(load, mask, after=True)[:, 0].tolist() == [1, 2, 3, 4, 5]
    # an event at the very start uses the first reading after it
    assert meter_before_baseline(load, ~mask | (np.arange(5) == 0)).shape == (5, 1)


def test_rolling_average_is_a_mean_then_ewma():
    """Weekday levels 2, 4, 6 with alpha = 0.5: after day 1 the state is 2, after day 2 the
    mean 3 (weight 1/2), after day 3: 3 + 0.5 × (6 − 3) = 4.5 → the baseline of day 4."""
    b = rolling_average_baseline(daily([2, 4, 6, 0]), grid(4), alpha=0.5, min_days=1)
    assert np.isnan(b[0, 0])
    assert b[24, 0] == pytest.approx(2.0)
    assert b[48, 0] == pytest.approx(3.0)
    assert b[72, 0] == pytest.approx(4.5)


def test_accuracy_metrics_by_hand():
    """Actual 1, 2, 3, 4; baseline 2, 2, 2, 2: errors 1, 0, −1, −2 → bias −0.5, MAE 1,
    RMSE sqrt(6/4), relative error 4/10, energy error −2/10."""
    actual = np.array([[1.0], [2.0], [3.0], [4.0]])
    rep = baseline_accuracy(actual, {"flat": np.full((4, 1), 2.0)})
    row = rep.iloc[0]
    assert row["bias_kw"] == pytest.approx(-0.5)
    assert row["mae_kw"] == pytest.approx(1.0)
    assert row["rmse_kw"] == pytest.approx(np.sqrt(1.5))
    assert row["relative_error"] == pytest.approx(0.4)
    assert row["energy_error"] == pytest.approx(-0.2)


def test_bad_shapes_name_the_field():
    with pytest.raises(InputError, match="load_kw"):
        x_of_y_baseline(np.zeros((25, 1)), grid(1))
    with pytest.raises(InputError, match="x_of_y"):
        x_of_y_baseline(daily([1] * 3), grid(3), x=4, y=3)
    with pytest.raises(InputError, match="schedule_kw"):
        nominated_baseline(np.full((24, 1), np.nan), grid(1))
    with pytest.raises(InputError, match=r"time_grid\.start"):
        x_of_y_baseline(np.zeros((24, 1)), TimeGrid(grid(1).start.replace(hour=1), 24, 60))


@pytest.fixture(scope="module")
def simbench_grid():
    from localflex.grid import load_simbench_grid

    return load_simbench_grid("1-LV-rural1--2-sw")


def test_synthetic_meters_from_simbench_are_seeded_and_realistic(simbench_grid):
    tg = TimeGrid.for_day("2016-03-01", days=28)
    a = synthetic_meter_data(simbench_grid, tg, 60, np.random.default_rng(3))
    b = synthetic_meter_data(simbench_grid, tg, 60, np.random.default_rng(3))
    np.testing.assert_array_equal(a.load_kw, b.load_kw)
    assert a.load_kw.dtype == np.float32 and a.load_kw.shape == (28 * 96, 60)
    assert (a.load_kw >= 0).all()
    assert set(a.kind) <= {"household", "agricultural"}  # this grid has no commercial loads
    # households use less than 10 kW on average and more than nothing
    hh = a.load_kw[:, a.kind == "household"]
    assert 0.05 < hh.mean() < 10
    with pytest.raises(InputError, match="kinds"):
        synthetic_meter_data(simbench_grid, tg, 5, np.random.default_rng(0), kinds=["commercial"])


def test_accuracy_report_ranks_methods(simbench_grid):
    tg = TimeGrid.for_day("2016-03-01", days=42)
    data = synthetic_meter_data(simbench_grid, tg, 80, np.random.default_rng(5))
    rep = accuracy_report(data, (68, 80), eval_days=14).set_index("method")
    assert {"nominated", "meter_before", "meter_before_after", "high_5_of_10",
            "rolling_average_a0.1", "high_5_of_10_mult_cap0.2"} <= set(rep.index)
    assert rep["n_values"].nunique() == 1
    # High 5 of 10 picks high days: it over-estimates, more than the plain 10-of-10 mean
    assert rep.loc["high_5_of_10", "bias_kw"] > rep.loc["10_of_10", "bias_kw"]
    # the nominated schedule (profile × small day error) is the most accurate here
    assert rep["mae_kw"].idxmin() == "nominated"
