"""Place DERs on the grid's own buses, from its SimBench loads and generators (paper §2).

* PV: every SimBench generator whose type names PV becomes a curtailable PV unit that keeps
  the grid's own generation profile.
* Heat pumps: SimBench loads with a heat-pump profile ("Air…", "Soil…") become heat pumps with
  a 1R1C building model; the building's heat loss is calibrated so that the modelled day uses
  what the SimBench profile uses at the day's mean outdoor temperature.
* Batteries: SimBench storage units keep their own schedule (the baseline) and offer the rest.
* EVs: a share of the household loads (profiles "H…") gets a home charger with sampled
  sessions (seeded).

Everything else stays inflexible background load. The result carries the background per
bus and the fleets, which the simulator adds up per bus for the power flow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from localflex.der import (
    BatteryFleet,
    EvFleet,
    FlexEnvelope,
    HeatPumpFleet,
    PvFleet,
    outdoor_temperature_c,
    total_by_bus,
)
from localflex.domain import TimeGrid
from localflex.grid import GridModel, bus_loads
from localflex.sim.scenario import Scenario

__all__ = ["DerFleet", "PlacedDers", "place_ders"]

# Mean outdoor temperature per month (°C), a central-European climate (Germany, DWD
# 1991–2020 normals rounded), used when the scenario gives none.
MONTHLY_MEAN_OUTDOOR_C = (0.9, 1.5, 4.6, 9.0, 13.1, 16.3, 18.2, 17.9, 14.2, 9.6, 5.0, 1.8)
HEATING_SET_POINT_C = 21.0
BUILDING_TIME_CONSTANT_H = 40.0


class DerFleet(Protocol):
    def baseline_kw(self, time_grid: TimeGrid) -> np.ndarray: ...
    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope: ...
    def respond(self, time_grid: TimeGrid, delta_injection_kw: Any) -> np.ndarray: ...


@dataclass
class PlacedDers:
    fleets: list[DerFleet]
    background_p_kw: np.ndarray  # [T, B] inflexible net load, consumption positive
    background_q_kvar: np.ndarray  # [T, B]
    bus_ids: np.ndarray  # [B]

    def baselines_kw(self, time_grid: TimeGrid) -> list[np.ndarray]:
        return [fleet.baseline_kw(time_grid) for fleet in self.fleets]

    def envelope(self, time_grid: TimeGrid) -> FlexEnvelope:
        return FlexEnvelope.concat([fleet.envelope(time_grid) for fleet in self.fleets])

    def unit_slices(self, time_grid: TimeGrid) -> list[slice]:
        sizes = [fleet.baseline_kw(time_grid).shape[1] for fleet in self.fleets]
        edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        return [slice(a, b) for a, b in pairwise(edges)]

    def net_load_per_bus(self, unit_net_load_kw: np.ndarray, unit_bus: np.ndarray) -> np.ndarray:
        """Background plus the units' net load, per bus [T, B]."""
        return self.background_p_kw + total_by_bus(unit_net_load_kw, unit_bus, self.bus_ids)


def _profile_kind(profiles: np.ndarray, prefixes: tuple[str, ...]) -> np.ndarray:
    return np.array([str(p).startswith(prefixes) for p in profiles], dtype=bool)


def place_ders(grid: GridModel, scenario: Scenario, time_grid: TimeGrid) -> PlacedDers:
    """Build the DER fleets of a scenario on its grid; returns fleets plus background load."""
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
    is_hp = _profile_kind(load_profile, ("Air", "Soil")) & spec.heat_pumps_from_grid
    is_household = _profile_kind(load_profile, ("H0", "H"))

    fleets: list[DerFleet] = []
    flexible_sgen = is_pv & spec.pv_from_grid
    if flexible_sgen.any():
        idx = np.flatnonzero(flexible_sgen)
        peak_kw = net.sgen["p_mw"].to_numpy()[idx] * 1000.0 * scenario.grid.sgen_scale
        peak_kw = np.maximum(peak_kw, sgen_p[:, idx].max(axis=0))
        fleets.append(PvFleet(
            [f"pv:{i}" for i in idx], net.sgen["bus"].to_numpy()[idx], peak_kw, sgen_p[:, idx]
        ))

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

    if spec.batteries_from_grid and len(net.storage):
        idx = np.arange(len(net.storage))
        power_kw = np.maximum(np.abs(net.storage["p_mw"].to_numpy()) * 1000.0,
                              np.abs(storage_p).max(axis=0))
        energy_kwh = net.storage["max_e_mwh"].to_numpy() * 1000.0
        fleets.append(BatteryFleet(
            [f"battery:{i}" for i in idx], net.storage["bus"].to_numpy(), power_kw, energy_kwh,
            baseline_schedule_kw=storage_p,
        ))

    households = np.flatnonzero(is_household)
    n_ev = round(spec.ev_share_of_households * households.size)
    if n_ev > 0:
        chosen = np.sort(rng.choice(households, size=n_ev, replace=False))
        fleets.append(EvFleet.sample(
            n_ev, load_bus[chosen], rng, time_grid, charger_kw=spec.ev_charger_kw,
            id_prefix="ev:",
        ))

    # Background: every element that is not a flexible unit.
    background = bus_loads(grid, replace(
        elements,
        load_p_kw=np.where(is_hp[None, :], 0.0, load_p),
        load_q_kvar=load_q,
        sgen_p_kw=np.where(flexible_sgen[None, :], 0.0, sgen_p),
        storage_p_kw=np.zeros_like(storage_p) if spec.batteries_from_grid else storage_p,
    ))
    return PlacedDers(fleets, background.p_kw, background.q_kvar, grid.bus_ids)
