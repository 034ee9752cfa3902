"""DER models: baseline and flexibility envelope of fleets of units (paper §2, Fig. 1–2).

One module per DER family — ``pv``, ``battery``, ``ev``, ``heat_pump`` — each a *fleet* class
built from parameter arrays for ``N`` units with the same three methods:

* ``baseline_kw(time_grid) -> [T, N]`` net load (kW, consumption positive);
* ``envelope(time_grid) -> FlexEnvelope`` (the attributes of Fig. 2, see ``envelope``);
* ``respond(time_grid, delta_injection_kw [T, N]) -> [T, N]`` realised net load: the request
  (positive = UP = more injection) clipped to what the unit can do given its carried-forward
  state, plus the rebound afterwards. A zero delta means "no activation in this ISP".

``total_by_bus`` sums unit values per grid bus (location attribute).
"""

from localflex.der.aggregate import bus_incidence, total_by_bus
from localflex.der.battery import BatteryFleet
from localflex.der.envelope import ENVELOPE_FIELDS, FlexEnvelope
from localflex.der.ev import EvFleet
from localflex.der.heat_pump import HeatPumpFleet, outdoor_temperature_c
from localflex.der.pv import PvFleet, clear_sky_profile_pu

__all__ = [
    "ENVELOPE_FIELDS",
    "BatteryFleet",
    "EvFleet",
    "FlexEnvelope",
    "HeatPumpFleet",
    "PvFleet",
    "bus_incidence",
    "clear_sky_profile_pu",
    "outdoor_temperature_c",
    "total_by_bus",
]
