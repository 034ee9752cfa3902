"""DER models: baseline and flexibility envelope of fleets of units (paper §2, Fig. 1–2).

One module per DER family of Fig. 1, each a *fleet* class built from parameter arrays for
``N`` units with the same three methods:

* ``baseline_kw(time_grid) -> [T, N]`` net load (kW, consumption positive);
* ``envelope(time_grid) -> FlexEnvelope`` (the attributes of Fig. 2, see ``envelope``);
* ``respond(time_grid, delta_injection_kw [T, N]) -> [T, N]`` realised net load: the request
  (positive = UP = more injection) clipped to what the unit can do given its carried-forward
  state, plus the rebound afterwards. A zero delta means "no activation in this ISP".

| Fig. 1 group | family | module | direction |
|---|---|---|---|
| Distributed generation | PV, wind | ``pv``, ``wind`` | DOWN (curtailment) |
| Distributed generation | CHP with heat store | ``chp`` | both, heat-store bounded |
| Dispatchable loads | heat pump, water heater | ``heat_pump``, ``water_heater`` | both, comfort |
| Dispatchable loads | smart appliances | ``appliance`` | both, whole cycles move |
| Electric vehicles | EV (optional V2G) | ``ev`` | both, need met at departure |
| Energy storage | battery, thermal storage | ``battery``, ``thermal_storage`` | both, SoC bounded |

``forecast`` models the forecast error of each family and the reliable (P90) volume of a
portfolio (§4). ``total_by_bus`` sums unit values per grid bus (location attribute).
"""

from localflex.der.aggregate import bus_incidence, total_by_bus
from localflex.der.appliance import (
    APPLIANCE_CYCLES_15MIN_KW,
    SmartApplianceFleet,
    cycle_on_grid_kw,
)
from localflex.der.battery import BatteryFleet
from localflex.der.chp import ChpFleet
from localflex.der.envelope import ENVELOPE_FIELDS, FlexEnvelope
from localflex.der.ev import EvFleet
from localflex.der.forecast import (
    FORECAST_ERROR,
    ForecastError,
    forecast_error_std,
    reliable_share_by_size,
    reliable_volume_kw,
    sample_realised_kw,
)
from localflex.der.heat_demand import heat_demand_kw_th
from localflex.der.heat_pump import HeatPumpFleet, outdoor_temperature_c
from localflex.der.pv import PvFleet, clear_sky_profile_pu
from localflex.der.thermal_storage import ThermalStorageFleet, night_window
from localflex.der.water_heater import WaterHeaterFleet, hot_water_draw_l
from localflex.der.wind import WindFleet, power_curve_pu

__all__ = [
    "APPLIANCE_CYCLES_15MIN_KW",
    "ENVELOPE_FIELDS",
    "FORECAST_ERROR",
    "BatteryFleet",
    "ChpFleet",
    "EvFleet",
    "FlexEnvelope",
    "ForecastError",
    "HeatPumpFleet",
    "PvFleet",
    "SmartApplianceFleet",
    "ThermalStorageFleet",
    "WaterHeaterFleet",
    "WindFleet",
    "bus_incidence",
    "clear_sky_profile_pu",
    "cycle_on_grid_kw",
    "forecast_error_std",
    "heat_demand_kw_th",
    "hot_water_draw_l",
    "night_window",
    "outdoor_temperature_c",
    "power_curve_pu",
    "reliable_share_by_size",
    "reliable_volume_kw",
    "sample_realised_kw",
    "total_by_bus",
]
