"""SimBench loading, bus lookup and the mapping of a TimeGrid onto the 2016 profiles."""

from __future__ import annotations

import numpy as np
import pytest

from localflex.domain import HorizonError, InputError, TimeGrid, UnknownGridCode
from localflex.grid import load_simbench_grid, profile_steps_of


def test_unknown_code_names_field_and_value() -> None:
    with pytest.raises(UnknownGridCode) as info:
        load_simbench_grid("1-LV-nowhere--0-sw")
    assert info.value.field == "grid.simbench_code"
    assert info.value.value == "1-LV-nowhere--0-sw"
    assert "grid.simbench_code" in str(info.value)
    assert "1-LV-nowhere--0-sw" in str(info.value)


def test_grid_is_cached(lv_grid) -> None:
    assert load_simbench_grid(lv_grid.code) is lv_grid
    assert lv_grid.bus_ids.size == len(lv_grid.net.bus)


def test_bus_index_of(lv_grid) -> None:
    ids = lv_grid.bus_ids
    pos = lv_grid.bus_index_of(ids[::-1])
    np.testing.assert_array_equal(ids[pos], ids[::-1])
    with pytest.raises(InputError) as info:
        lv_grid.bus_index_of([int(ids.max()) + 7])
    assert info.value.value == int(ids.max()) + 7


def test_day_maps_to_same_date_of_2016(lv_grid) -> None:
    import warnings

    import simbench

    tg = TimeGrid.for_day("2030-06-21")
    prof = lv_grid.element_profiles_kw(tg)
    first = (31 + 29 + 31 + 30 + 31 + 20) * 96  # 2016-06-21 00:00
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        net = simbench.get_simbench_net(lv_grid.code)
        year = simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)
    for key, name in ((("load", "p_mw"), "load_p_kw"), (("load", "q_mvar"), "load_q_kvar"),
                      (("sgen", "p_mw"), "sgen_p_kw"), (("storage", "p_mw"), "storage_p_kw")):
        expected = year[key].to_numpy()[first : first + 96] * 1e3
        np.testing.assert_allclose(getattr(prof, name), expected, rtol=1e-12)
    assert prof.load_p_kw.shape == (96, len(lv_grid.net.load))
    assert prof.sgen_p_kw.shape == (96, len(lv_grid.net.sgen))
    assert prof.storage_p_kw.shape == (96, len(lv_grid.net.storage))
    assert prof.sgen_p_kw[48].sum() > 0  # PV at noon in June


@pytest.mark.parametrize("isp_minutes", [30, 60])
def test_longer_isps_average_the_quarter_hours(lv_grid, isp_minutes: int) -> None:
    q = lv_grid.element_profiles_kw(TimeGrid.for_day("2030-01-15"))
    long = lv_grid.element_profiles_kw(TimeGrid.for_day("2030-01-15", isp_minutes=isp_minutes))
    k = isp_minutes // 15
    expected = q.load_p_kw.reshape(96 // k, k, -1).mean(axis=1)
    np.testing.assert_allclose(long.load_p_kw, expected)


def test_multi_day_horizon_wraps_over_year_end() -> None:
    tg = TimeGrid.for_day("2030-12-31", days=2)
    steps = profile_steps_of(tg)[:, 0]
    assert steps[0] == 365 * 96  # 2016-12-31 00:00 (2016 is a leap year)
    assert steps[96] == 0  # 2031-01-01 -> 2016-01-01
    assert steps[-1] == 95


def test_feb_29_and_mid_day_start() -> None:
    tg = TimeGrid.for_day("2028-02-29")
    assert profile_steps_of(tg)[0, 0] == (31 + 28) * 96
    from datetime import UTC, datetime

    tg = TimeGrid(datetime(2030, 3, 1, 12, 45, tzinfo=UTC), 4)
    np.testing.assert_array_equal(profile_steps_of(tg)[:, 0], (31 + 29) * 96 + 51 + np.arange(4))


def test_impossible_horizons_raise() -> None:
    with pytest.raises(HorizonError) as info:
        profile_steps_of(TimeGrid.for_day("2030-01-01", isp_minutes=5))
    assert info.value.field == "time.isp_minutes"
    from datetime import UTC, datetime

    with pytest.raises(HorizonError) as info:
        profile_steps_of(TimeGrid(datetime(2030, 1, 1, 0, 5, tzinfo=UTC), 4))
    assert info.value.field == "time.start"
