"""The time grid: tz-aware UTC edges and integer ISPs."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from localflex.domain import HorizonError, InputError, TimeGrid


def test_day_has_96_quarter_hours_in_utc():
    grid = TimeGrid.for_day("2016-06-21")
    assert grid.n_isps == 96
    assert grid.isp_hours == 0.25
    starts = grid.isp_starts()
    assert str(starts.tz) == "UTC"
    assert starts[-1] == datetime(2016, 6, 21, 23, 45, tzinfo=UTC)
    assert grid.end == datetime(2016, 6, 22, tzinfo=UTC)


def test_isp_of_converts_other_timezones():
    grid = TimeGrid.for_day("2016-06-21")
    cest = timezone(timedelta(hours=2))
    assert grid.isp_of(datetime(2016, 6, 21, 2, 20, tzinfo=cest)) == 1  # 00:20 UTC


def test_outside_horizon_names_field():
    grid = TimeGrid.for_day("2016-06-21", isp_minutes=60)
    with pytest.raises(HorizonError, match="timestamp"):
        grid.isp_of(datetime(2016, 6, 22, 0, 0, tzinfo=UTC))
    with pytest.raises(HorizonError, match=r"isp: got 24"):
        grid.check_isps([0, 24])


def test_naive_start_and_bad_isp_length_rejected():
    with pytest.raises(InputError, match=r"time\.start"):
        TimeGrid(datetime(2016, 1, 1), 4)
    with pytest.raises(InputError, match="isp_minutes"):
        TimeGrid(datetime(2016, 1, 1, tzinfo=UTC), 4, isp_minutes=7)
