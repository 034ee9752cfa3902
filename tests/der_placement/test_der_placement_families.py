"""Placement of the new DER families on SimBench grids from their own elements."""

import warnings

import numpy as np
import pytest

from localflex.der import FlexEnvelope
from localflex.domain import TimeGrid
from localflex.grid import load_simbench_grid
from localflex.sim.placement import PlacementOptions, place_ders
from localflex.sim.scenario import parse_scenario

ALL_ON = PlacementOptions(ev_from_charging_stations=True, water_heater_share_of_households=1.0,
                          appliance_share_of_households=1.0,
                          thermal_storage_share_of_households=1.0)


def _scenario(code, day):
    ders = {"ev_share_of_households": 0.0} if "-MV-" in code else {}  # MV: no households
    return parse_scenario({"name": "t", "seed": 3, "grid": {"simbench_code": code}, "ders": ders,
                           "time": {"day": day}, "aggregators": [{"name": "a", "share": 1.0}]})


def _grid(code):
    with warnings.catch_warnings():  # pandapower/simbench deprecation noise on load
        warnings.simplefilter("ignore")
        return load_simbench_grid(code)


def _families(placed):
    return {type(f).__name__: f for f in placed.fleets}


def test_mv_grid_wind_and_chp_from_own_generators_keep_the_bus_totals():
    code = "1-MV-rural--2-sw"
    grid, scenario = _grid(code), _scenario(code, "2016-01-14")
    tg = TimeGrid.for_day("2016-01-14")
    placed = place_ders(grid, scenario, tg)
    fams = _families(placed)
    assert fams["WindFleet"].n_units == 6 and fams["ChpFleet"].n_units == 3
    env = placed.envelope(tg)
    chp = env.der_type == "chp"
    assert env.up_kw[:, chp].sum() > 0 and env.down_kw[:, chp].sum() > 0
    assert env.up_kw[:, env.der_type == "wind"].sum() == 0
    # placing them does not change the forecast: their baselines are the grid's own profiles
    sgen_p = grid.element_profiles_kw(tg).sgen_p_kw
    for name in ("WindFleet", "ChpFleet"):
        fleet = fams[name]
        idx = [int(i.split(":")[1]) for i in fleet.der_id]
        np.testing.assert_allclose(-fleet.baseline_kw(tg), sgen_p[:, idx], atol=1e-6)
    # without the options they stay background
    off = place_ders(grid, scenario, tg, PlacementOptions(wind_from_grid=False,
                                                          chp_from_grid=False))
    assert not {"WindFleet", "ChpFleet"} & set(_families(off))


def test_lv_grid_every_family_placed_and_energy_kept():
    code = "1-LV-rural1--2-sw"
    grid, scenario = _grid(code), _scenario(code, "2016-01-14")
    tg = TimeGrid.for_day("2016-01-14")
    placed = place_ders(grid, scenario, tg, ALL_ON)
    fams = _families(placed)
    assert {"WaterHeaterFleet", "SmartApplianceFleet", "ThermalStorageFleet", "EvFleet",
            "HeatPumpFleet", "PvFleet"} <= set(fams)
    env = placed.envelope(tg)
    # SimBench storages are PV + home battery systems: curtailable infeed
    assert np.char.startswith(env.der_id.astype(str), "pv_storage:").sum() == len(grid.net.storage)
    assert isinstance(env, FlexEnvelope) and env.n_units == sum(
        f.baseline_kw(tg).shape[1] for f in placed.fleets)
    hls = [i for i in fams["EvFleet"].der_id if i.startswith("ev:hls")]
    assert len(hls) == 7  # every SimBench charging station is an EV session
    # the stations' day energy is kept (moved to dumb charging from the first charging ISP)
    net = grid.net
    is_hls = net.load["profile"].astype(str).str.startswith("HLS").to_numpy()
    station_kwh = np.clip(grid.element_profiles_kw(tg).load_p_kw[:, is_hls], 0, None).sum() * (
        tg.isp_hours)
    ev = fams["EvFleet"]
    mask = np.char.startswith(ev.der_id, "ev:hls")
    assert ev.baseline_kw(tg)[:, mask].sum() * tg.isp_hours == pytest.approx(station_kwh)
    # deterministic per seed
    again = place_ders(grid, scenario, tg, ALL_ON)
    np.testing.assert_array_equal(again.envelope(tg).up_kw, env.up_kw)
    # a winter night storage heater shifts charging within its window
    ts = env.der_type == "thermal_storage"
    assert env.up_kw[:, ts].sum() > 0
