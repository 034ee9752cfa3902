"""The distribution grid of the DSO (paper §5): SimBench networks, batch power flow,
congestion points and sensitivities.

Public surface (units in names, bus axis = ``GridModel.bus_ids``):

* ``load_simbench_grid(code) -> GridModel``; ``GridModel.element_profiles_kw(time_grid)``,
  ``GridModel.bus_index_of(bus_ids)``
* ``bus_loads(grid, profiles) -> BusLoads`` (net load per bus, consumption +)
* ``run_power_flow(grid, loads, engine="pgm" | "pandapower") -> PowerFlowResult``
* ``congestion_points(grid)``, ``voltage_limits(grid)``, ``overload_kw``, ``headroom_kw``
* ``monitored_points(grid, result)``, ``sparse_sensitivity(grid, loads, offer_buses, ...)``,
  ``relief_scale(result, cp_pos, rated)`` (what the market day uses: offers × needs);
  ``flow_sensitivity(grid, loads, isp)``, ``relief_kw_per_kw_up(sens, result)`` (dense
  reference, small grids only)
* traffic light per congestion point and ISP (USEF / BDEW): ``forecast_lights``,
  ``state_lights``, ``light_hours``
"""

from localflex.grid.congestion import (
    CP_COLUMNS,
    congestion_points,
    headroom_kw,
    overload_kw,
    voltage_limits,
)
from localflex.grid.powerflow import (
    ENGINES,
    BusLoads,
    PowerFlowResult,
    bus_loads,
    power_flow_threads,
    rerun_power_flow,
    run_power_flow,
    solved_power_flows,
)
from localflex.grid.sensitivity import (
    FlowSensitivity,
    Monitored,
    SparseSensitivity,
    flow_sensitivity,
    monitored_points,
    relief_kw_per_kw_up,
    relief_scale,
    sparse_sensitivity,
)
from localflex.grid.simbench_loader import (
    ElementProfiles,
    GridModel,
    known_codes,
    load_simbench_grid,
    profile_steps_of,
)
from localflex.grid.traffic_light import (
    LightScheme,
    LightThresholds,
    forecast_lights,
    light_hours,
    state_lights,
)

__all__ = [
    "CP_COLUMNS",
    "ENGINES",
    "BusLoads",
    "ElementProfiles",
    "FlowSensitivity",
    "GridModel",
    "LightScheme",
    "LightThresholds",
    "Monitored",
    "PowerFlowResult",
    "SparseSensitivity",
    "bus_loads",
    "congestion_points",
    "flow_sensitivity",
    "forecast_lights",
    "headroom_kw",
    "known_codes",
    "light_hours",
    "load_simbench_grid",
    "monitored_points",
    "overload_kw",
    "power_flow_threads",
    "profile_steps_of",
    "relief_kw_per_kw_up",
    "relief_scale",
    "rerun_power_flow",
    "run_power_flow",
    "solved_power_flows",
    "sparse_sensitivity",
    "state_lights",
    "voltage_limits",
]
