"""Place DERs on the grid's own buses, from its SimBench loads and generators (paper §2).

* PV: every SimBench generator whose type names PV becomes a curtailable PV unit that keeps
  the grid's own generation profile.
* Heat pumps: SimBench loads with a heat-pump profile ("Air…", "Soil…") become heat pumps with
  a 1R1C building model; the building's heat loss is calibrated so that the modelled day uses
  what the SimBench profile uses at the day's mean outdoor temperature.
* PV-storage systems: a SimBench storage element is a PV plant with a home battery run for
  self-consumption (its profile is the system's net infeed, never a load); it is curtailable
  like PV. Stand-alone batteries are a `BatteryFleet` in the library, not placed by default.
* EVs: a share of the household loads (profiles "H…") gets a home charger with sampled
  sessions (seeded). "H…" includes SimBench's "HLS_…" loads, which are home charging
  stations (German *Heimladestation*; rated 3.7 / 11 / 22 kW, flat over the year, peaks at
  noon and 18:00), and their own profile stays in the background. With
  ``PlacementOptions.ev_from_charging_stations`` they are instead EV sessions derived from
  their own profile of the day (arrival at the first charging ISP, the day's energy as need,
  departure ``HLS_EXTRA_DWELL_H`` after the last charging ISP), taken out of the background,
  and only "H0…" loads get sampled EVs.
* Wind: every SimBench generator whose type names wind ("Wind_MV") becomes a curtailable
  ``WindFleet`` unit with the grid's own profile.
* CHP: every SimBench biomass generator ("Biomass_MV": biogas CHP) becomes a heat-led
  ``ChpFleet`` unit whose heat demand is its own electric profile over the power-to-heat
  ratio, so its baseline reproduces the profile; a heat store of ``chp_storage_hours`` of its
  mean heat output gives the flexibility.
* Water heaters and smart appliances: a share of the H0 households (default 0, opt-in;
  parametric models:
  ``hot_water_draw_l``, ``SmartApplianceFleet.sample``). The SimBench H0 profile already
  contains that consumption, so their baselines are taken out of the household's background
  load (floored at zero).
* Thermal storage: SimBench has no storage-heater profiles, so a share of the H0 households
  (default 0) gets a night storage heater sized to the month's heat demand.

A grid without household loads cannot host the household families: SimBench MV grids
(``1-MV-*``) model each LV grid as one MV load (profiles ``lv_rural1``, ...). A scenario that
asks for a share of households there (``ders.ev_share_of_households`` > 0, or a water heater,
appliance or storage-heater share) is refused with an InputError naming the key — never
placed as zero units in silence. EVs on an MV area come with its LV grids
(``1-MVLV-*-all-2-sw``).

``PlacementOptions`` holds the defaults of the families the scenario schema does not (yet)
name. Everything else stays inflexible background load. The result carries the background per
bus and the fleets, which the simulator adds up per bus for the power flow.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from localflex.der import (
    ChpFleet,
    EvFleet,
    FlexEnvelope,
    HeatPumpFleet,
    PvFleet,
    SmartApplianceFleet,
    ThermalStorageFleet,
    WaterHeaterFleet,
    WindFleet,
    heat_demand_kw_th,
    hot_water_draw_l,
    night_window,
    outdoor_temperature_c,
    total_by_bus,
)
from localflex.domain import InputError, TimeGrid
from localflex.grid import GridModel, bus_loads
from localflex.sim.scenario import DerSpec, Scenario

__all__ = ["DerFleet", "PlacedDers", "PlacementOptions", "place_ders"]

# Mean outdoor temperature per month (°C), a central-European climate (Germany, DWD
# 1991–2020 normals rounded), used when the scenario gives none.
MONTHLY_MEAN_OUTDOOR_C = (0.9, 1.5, 4.6, 9.0, 13.1, 16.3, 18.2, 17.9, 14.2, 9.6, 5.0, 1.8)
HEATING_SET_POINT_C = 21.0
BUILDING_TIME_CONSTANT_H = 40.0
HLS_EXTRA_DWELL_H = 2.0
EV_EFFICIENCY = 0.9


@dataclass(frozen=True)
class PlacementOptions:
    """Placement of the DER families that the scenario schema does not name (defaults).

    | option | default | meaning |
    |---|---|---|
    | wind_from_grid | True | SimBench wind generators are curtailable |
    | chp_from_grid | True | SimBench biomass generators are heat-led CHP with a store |
    | chp_power_to_heat | 0.8 | kW_el per kW_th of a biogas engine |
    | chp_storage_hours | 4.0 | heat store in hours of the unit's mean heat output |
    | ev_from_charging_stations | False | SimBench "HLS_…" loads are EV sessions |
    | water_heater_share_of_households | 0.0 | H0 loads with an electric water heater |
    | water_heater_kw / tank_l / daily_l | 3.0 / 150 / 120 | element, tank, draw per day |
    | appliance_share_of_households | 0.0 | H0 loads with one shiftable appliance cycle |
    | thermal_storage_share_of_households | 0.0 | H0 loads with a night storage heater |
    | thermal_storage_design_kw_th | 4.0 | its room heat demand at -12 °C |
    """

    wind_from_grid: bool = True
    chp_from_grid: bool = True
    chp_power_to_heat: float = 0.8
    chp_storage_hours: float = 4.0
    ev_from_charging_stations: bool = False
    water_heater_share_of_households: float = 0.0
    water_heater_kw: float = 3.0
    water_heater_tank_l: float = 150.0
    water_heater_daily_l: float = 120.0
    appliance_share_of_households: float = 0.0
    thermal_storage_share_of_households: float = 0.0
    thermal_storage_design_kw_th: float = 4.0

    @classmethod
    def from_spec(cls, spec: DerSpec) -> PlacementOptions:
        """The options a scenario's ``ders`` section sets; the rest keep their defaults."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in spec.model_dump().items() if k in names})


class DerFleet(Protocol):
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray: ...
    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope: ...
    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray: ...
    def end_state(self, time_grid: TimeGrid, delta_injection_kw: Any | None = None
                  ) -> dict[str, np.ndarray]: ...
    def with_state(self, state: dict[str, np.ndarray]) -> DerFleet: ...


@dataclass
class PlacedDers:
    fleets: list[DerFleet]
    background_p_kw: np.ndarray  # [T, B] inflexible net load, consumption positive
    background_q_kvar: np.ndarray  # [T, B]
    bus_ids: np.ndarray  # [B]
    # [T, B] the consumption within the background (its loads, without generators): what a
    # load forecast error scales (``study.day``)
    background_load_p_kw: np.ndarray
    background_load_q_kvar: np.ndarray

    def baselines_kw(self, time_grid: TimeGrid) -> list[np.ndarray]:
        return [fleet.baseline_kw(time_grid) for fleet in self.fleets]

    def end_states(self, time_grid: TimeGrid, unit_delta_kw: np.ndarray
                   ) -> list[dict[str, np.ndarray]]:
        """Every fleet's state at the end of ``time_grid`` after the activation
        ``unit_delta_kw`` [T, units] (``Fleet.end_state``): the next day's start."""
        return [fleet.end_state(time_grid, unit_delta_kw[:, sl])
                for fleet, sl in zip(self.fleets, self.unit_slices(time_grid), strict=True)]

    def with_states(self, states: list[dict[str, np.ndarray]]) -> PlacedDers:
        """The same DERs starting from ``states`` (``end_states`` of the previous day)."""
        if len(states) != len(self.fleets):
            raise InputError("der_state", len(states), f"one state per fleet ({len(self.fleets)})")
        fleets = [fleet.with_state(state) if state else fleet
                  for fleet, state in zip(self.fleets, states, strict=True)]
        return replace(self, fleets=fleets)

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        return FlexEnvelope.concat([fleet.envelope(time_grid) for fleet in self.fleets])

    def unit_slices(self, time_grid: TimeGrid) -> list[slice]:
        """Each fleet's columns of the units' axis (fleet order, as ``envelope``)."""
        sizes = [fleet.n_units for fleet in self.fleets]
        edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        return [slice(a, b) for a, b in pairwise(edges)]

    def net_load_per_bus(self, unit_net_load_kw: np.ndarray, unit_bus: np.ndarray) -> np.ndarray:
        """Background plus the units' net load, per bus [T, B]."""
        return self.background_p_kw + total_by_bus(unit_net_load_kw, unit_bus, self.bus_ids)


def _profile_kind(profiles: np.ndarray, prefixes: tuple[str, ...]) -> np.ndarray:
    return np.array([str(p).startswith(prefixes) for p in profiles], dtype=bool)


def _charging_station_sessions(
    profile_kw: np.ndarray, time_grid: TimeGrid
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One EV session per charging-station column: arrival, departure ISP and battery need."""
    n_isps = time_grid.n_isps
    charging = profile_kw > 1e-9
    any_use = charging.any(axis=0)
    first = np.where(any_use, np.argmax(charging, axis=0), 0)
    last = np.where(any_use, n_isps - 1 - np.argmax(charging[::-1], axis=0), -1)
    extra = round(HLS_EXTRA_DWELL_H / time_grid.isp_hours)
    departure = np.where(any_use, np.minimum(last + 1 + extra, n_isps), 0)
    need = np.clip(profile_kw, 0.0, None).sum(axis=0) * time_grid.isp_hours * EV_EFFICIENCY
    return first.astype(np.int64), departure.astype(np.int64), need


def _check_households(code: str, ev_share: float, opts: PlacementOptions,
                      is_household: np.ndarray, is_h0: np.ndarray,
                      load_profile: np.ndarray) -> None:
    """Refuse household shares on a grid without household loads (module docstring)."""
    names, counts = np.unique(load_profile, return_counts=True)
    kinds = names[np.argsort(-counts, kind="stable")][:3].tolist()
    for key, share, homes in (
        ("ev_share_of_households", ev_share, is_household),
        ("water_heater_share_of_households", opts.water_heater_share_of_households, is_h0),
        ("appliance_share_of_households", opts.appliance_share_of_households, is_h0),
        ("thermal_storage_share_of_households", opts.thermal_storage_share_of_households,
         is_h0),
    ):
        if share > 0 and not homes.any():
            raise InputError(
                f"ders.{key}", share,
                f"0 on grid {code}: it has no household (H0) loads to place them at (its loads "
                f"are {', '.join(kinds)}...; SimBench MV loads are whole LV grids) — use a "
                "1-MVLV-*-all-2-sw grid for households")


def place_ders(
    grid: GridModel,
    scenario: Scenario,
    time_grid: TimeGrid,
    options: PlacementOptions | None = None,
) -> PlacedDers:
    """Build the DER fleets of a scenario on its grid; returns fleets plus background load."""
    opts = options or PlacementOptions.from_spec(scenario.ders)
    rng = np.random.default_rng([scenario.seed, 1])
    spec = scenario.ders
    net = grid.net
    elements = grid.element_profiles_kw(time_grid)
    load_p = elements.load_p_kw * scenario.grid.load_scale
    load_q = elements.load_q_kvar * scenario.grid.load_scale
    sgen_p = elements.sgen_p_kw * scenario.grid.sgen_scale
    storage_p = elements.storage_p_kw

    load_profile = net.load["profile"].astype(str).to_numpy()
    load_bus = net.load["bus"].to_numpy(dtype=np.int64)
    sgen_type = net.sgen["type"].astype(str).to_numpy() if len(net.sgen) else np.array([])
    is_pv = np.array(["PV" in t for t in sgen_type], dtype=bool)
    is_wind = np.array(["wind" in t.lower() for t in sgen_type], dtype=bool) & opts.wind_from_grid
    is_chp = np.array(["biomass" in t.lower() for t in sgen_type], dtype=bool) & (
        opts.chp_from_grid)
    is_hp = _profile_kind(load_profile, ("Air", "Soil")) & spec.heat_pumps_from_grid
    is_station = _profile_kind(load_profile, ("HLS",)) & opts.ev_from_charging_stations
    is_h0 = _profile_kind(load_profile, ("H0",))
    is_household = is_h0  # households get the sampled EVs
    sgen_rated_kw = (net.sgen["p_mw"].to_numpy() * 1000.0 * scenario.grid.sgen_scale
                     if len(net.sgen) else np.array([]))
    household_load = load_p.copy()  # H0 loads less the appliances placed in them
    _check_households(scenario.grid.simbench_code, spec.ev_share_of_households, opts,
                      is_household, is_h0, load_profile)

    fleets: list[DerFleet] = []
    flexible_sgen = is_pv & spec.pv_from_grid
    if flexible_sgen.any():
        idx = np.flatnonzero(flexible_sgen)
        peak_kw = net.sgen["p_mw"].to_numpy()[idx] * 1000.0 * scenario.grid.sgen_scale
        peak_kw = np.maximum(peak_kw, sgen_p[:, idx].max(axis=0))
        fleets.append(PvFleet(
            [f"pv:{i}" for i in idx], net.sgen["bus"].to_numpy()[idx], peak_kw, sgen_p[:, idx]
        ))

    if is_wind.any():
        idx = np.flatnonzero(is_wind)
        rated_kw = np.maximum(sgen_rated_kw[idx], sgen_p[:, idx].max(axis=0))
        fleets.append(WindFleet([f"wind:{i}" for i in idx], net.sgen["bus"].to_numpy()[idx],
                                rated_kw, np.clip(sgen_p[:, idx], 0.0, None)))

    if is_chp.any():
        idx = np.flatnonzero(is_chp)
        p_el = np.clip(sgen_p[:, idx], 0.0, None)
        rated_kw = np.maximum(sgen_rated_kw[idx], p_el.max(axis=0))
        sigma = opts.chp_power_to_heat
        heat_kw_th = p_el / sigma
        store = np.maximum(heat_kw_th.mean(axis=0) * opts.chp_storage_hours, 1.0)
        fleets.append(ChpFleet([f"chp:{i}" for i in idx], net.sgen["bus"].to_numpy()[idx],
                               rated_kw, heat_kw_th, p_min_kw=0.0, power_to_heat=sigma,
                               storage_kwh_th=store, soc0=0.5, loss_per_h=0.0))

    if is_hp.any():
        idx = np.flatnonzero(is_hp)
        month = time_grid.start.month
        day_mean_c = (spec.outdoor_day_mean_c if spec.outdoor_day_mean_c is not None
                      else MONTHLY_MEAN_OUTDOOR_C[month - 1])
        outdoor_c = outdoor_temperature_c(time_grid, day_mean_c, 4.0)
        mean_kw = np.maximum(load_p[:, idx].mean(axis=0), 0.05)
        rated_kw = np.maximum(net.load["sn_mva"].to_numpy()[idx] * 1000.0, 1.5 * mean_kw)
        heat_loss_kw_per_k = spec.heat_pump_cop * mean_kw / max(
            HEATING_SET_POINT_C - day_mean_c, 1.0
        )
        resistance = 1.0 / heat_loss_kw_per_k
        capacity = BUILDING_TIME_CONSTANT_H / resistance
        fleets.append(HeatPumpFleet(
            [f"hp:{i}" for i in idx], load_bus[idx], rated_kw, spec.heat_pump_cop,
            resistance, capacity, HEATING_SET_POINT_C, spec.heat_pump_comfort_band_k,
            HEATING_SET_POINT_C, outdoor_c,
        ))

    if spec.pv_storage_from_grid and len(net.storage):
        # A SimBench storage is a PV plant with a home battery run for self-consumption; its
        # profile is the system's net infeed (pandapower sign: negative = feeding in, never a
        # load). It is curtailable like PV; the battery inside is not offered separately.
        idx = np.arange(len(net.storage))
        infeed_kw = np.clip(-storage_p, 0.0, None)
        peak_kw = np.maximum(net.storage["sn_mva"].to_numpy() * 1000.0, infeed_kw.max(axis=0))
        fleets.append(PvFleet(
            [f"pv_storage:{i}" for i in idx], net.storage["bus"].to_numpy(), peak_kw, infeed_kw,
        ))

    households = np.flatnonzero(is_household)
    n_ev = round(spec.ev_share_of_households * households.size)
    if n_ev > 0:
        chosen = np.sort(rng.choice(households, size=n_ev, replace=False))
        fleets.append(EvFleet.sample(
            n_ev, load_bus[chosen], rng, time_grid, charger_kw=spec.ev_charger_kw,
            id_prefix="ev:", v2g_kw=spec.ev_v2g_kw, v2g_energy_kwh=spec.ev_v2g_energy_kwh,
        ))

    if is_station.any():
        idx = np.flatnonzero(is_station)
        profile = np.clip(load_p[:, idx], 0.0, None)
        arrival, departure, need = _charging_station_sessions(profile, time_grid)
        charger = np.maximum(net.load["sn_mva"].to_numpy()[idx] * 1000.0,
                             profile.max(axis=0))
        charger = np.where(charger > 0, charger, 3.7)
        fleets.append(EvFleet([f"ev:hls{i}" for i in idx], load_bus[idx], charger, arrival,
                              departure, need, EV_EFFICIENCY))

    rng_home = np.random.default_rng([scenario.seed, 3])  # new families: own stream
    homes = np.flatnonzero(is_h0)

    def pick(share: float) -> np.ndarray:
        count = round(share * homes.size)
        return (np.sort(rng_home.choice(homes, size=count, replace=False)) if count
                else np.array([], dtype=np.int64))

    chosen = pick(opts.water_heater_share_of_households)
    if chosen.size:
        draw = hot_water_draw_l(time_grid, np.full(chosen.size, opts.water_heater_daily_l),
                                rng=rng_home)
        draw = np.minimum(draw, opts.water_heater_tank_l)
        heaters = WaterHeaterFleet([f"wh:{i}" for i in chosen], load_bus[chosen],
                                   opts.water_heater_kw, opts.water_heater_tank_l, draw)
        fleets.append(heaters)
        household_load[:, chosen] -= heaters.baseline_kw(time_grid)

    chosen = pick(opts.appliance_share_of_households)
    if chosen.size:
        appliances = SmartApplianceFleet.sample(chosen.size, load_bus[chosen], rng_home,
                                                time_grid, id_prefix="appliance:")
        fleets.append(appliances)
        household_load[:, chosen] -= appliances.baseline_kw(time_grid)

    chosen = pick(opts.thermal_storage_share_of_households)
    if chosen.size:
        month = time_grid.start.month
        day_mean_c = (spec.outdoor_day_mean_c if spec.outdoor_day_mean_c is not None
                      else MONTHLY_MEAN_OUTDOOR_C[month - 1])
        demand = heat_demand_kw_th(outdoor_temperature_c(time_grid, day_mean_c, 4.0),
                                   np.full(chosen.size, opts.thermal_storage_design_kw_th))
        window = night_window(time_grid)
        window_h = max(window.sum() * time_grid.isp_hours, time_grid.isp_hours)
        design_day_kwh = opts.thermal_storage_design_kw_th * 24.0
        fleets.append(ThermalStorageFleet(
            [f"ts:{i}" for i in chosen], load_bus[chosen],
            1.3 * design_day_kwh / window_h, design_day_kwh, demand, window, soc0=0.3,
        ))

    # Background: every element that is not a flexible unit.
    inflexible_load_p = np.where((is_hp | is_station)[None, :], 0.0,
                                 np.where(is_h0[None, :], np.clip(household_load, 0.0, None),
                                          load_p))
    background = bus_loads(grid, replace(
        elements,
        load_p_kw=inflexible_load_p,
        load_q_kvar=load_q,
        sgen_p_kw=np.where((flexible_sgen | is_wind | is_chp)[None, :], 0.0, sgen_p),
        storage_p_kw=np.zeros_like(storage_p) if spec.pv_storage_from_grid else storage_p,
    ))
    consumption = bus_loads(grid, replace(
        elements, load_p_kw=inflexible_load_p, load_q_kvar=load_q,
        sgen_p_kw=np.zeros_like(sgen_p), storage_p_kw=np.zeros_like(storage_p)))
    return PlacedDers(fleets, background.p_kw, background.q_kvar, grid.bus_ids,
                      consumption.p_kw, consumption.q_kvar)
