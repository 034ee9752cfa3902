"""Benchmark: flexibility envelopes (paper §2, Fig. 1–2) of 100,000 DERs over 96 ISPs.

A mix of all nine families of ``localflex.der`` (PV, wind, CHP, battery, heat pump, water
heater, smart appliance, thermal storage, EV with V2G on a third of them; a ninth each),
built from parameter arrays and enveloped with the vectorised fleets. Reference: the same
fleet code called once per unit (N = 1) in a plain Python loop, timed on a sample of units and
extrapolated to the full fleet (labelled as such). Target: < 5 s for 100,000 DERs.

Run: ``python benchmarks/envelopes.py [n_ders] [loop_sample]``
"""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np
from _machine import cpu_model  # benchmarks/_machine.py

from localflex import der
from localflex.domain import TimeGrid

FAMILIES = ("pv", "wind", "chp", "battery", "heat_pump", "water_heater", "appliance",
            "thermal_storage", "ev")
CLASSES = {"pv": der.PvFleet, "wind": der.WindFleet, "chp": der.ChpFleet,
           "battery": der.BatteryFleet, "heat_pump": der.HeatPumpFleet,
           "water_heater": der.WaterHeaterFleet, "appliance": der.SmartApplianceFleet,
           "thermal_storage": der.ThermalStorageFleet, "ev": der.EvFleet}
SHARED = {"outdoor_temp_c", "charge_window"}  # [T] profiles shared by all units



def parameters(n: int, tg: TimeGrid, seed: int) -> dict[str, dict]:
    """Parameter arrays of a fleet of ``n`` DERs, a ninth per family, from ``seed``."""
    rng = np.random.default_rng(seed)
    q = n // len(FAMILIES)
    sizes = dict.fromkeys(FAMILIES, q)
    sizes["ev"] = n - q * (len(FAMILIES) - 1)
    t_out = der.outdoor_temperature_c(tg)
    out: dict[str, dict] = {}
    for family in FAMILIES:
        m = sizes[family]
        ids = np.char.add(family + "_", np.arange(m).astype(str))
        bus = rng.integers(0, 500, m)
        if family == "pv":
            out[family] = {"der_id": ids, "bus": bus, "peak_kw": rng.uniform(3, 15, m)}
        elif family == "wind":
            out[family] = {"der_id": ids, "bus": bus, "rated_kw": rng.uniform(500, 3000, m),
                           "wind_speed_m_s": rng.weibull(2.0, (tg.n_isps, m)) * 8.0}
        elif family == "chp":
            design = rng.uniform(10, 60, m)
            out[family] = {"der_id": ids, "bus": bus, "p_max_kw": design * 0.5,
                           "heat_demand_kw_th": der.heat_demand_kw_th(t_out, design),
                           "p_min_kw": design * 0.15, "storage_kwh_th": design * 2.0}
        elif family == "battery":
            out[family] = {"der_id": ids, "bus": bus, "power_kw": rng.uniform(3, 10, m),
                           "energy_kwh": rng.uniform(5, 20, m), "soc0": rng.uniform(.2, .8, m)}
        elif family == "heat_pump":
            out[family] = {"der_id": ids, "bus": bus, "rated_kw_el": rng.uniform(3, 8, m),
                           "cop": rng.uniform(2.5, 4.0, m),
                           "thermal_resistance_k_per_kw": rng.uniform(3, 8, m),
                           "thermal_capacity_kwh_per_k": rng.uniform(5, 15, m),
                           "t_set_c": rng.uniform(20, 22, m), "comfort_band_k": 1.0,
                           "t_indoor0_c": None, "outdoor_temp_c": t_out}
        elif family == "water_heater":
            tank = rng.uniform(80, 300, m)
            out[family] = {"der_id": ids, "bus": bus, "rated_kw": rng.uniform(2, 4, m),
                           "tank_l": tank, "draw_l": der.hot_water_draw_l(tg, tank * .8, rng=rng)}
        elif family == "appliance":
            app = der.SmartApplianceFleet.sample(m, np.arange(500), rng, tg, id_prefix="app_")
            out[family] = {"der_id": app.der_id, "bus": app.bus, "cycle_kw": app.cycle_kw,
                           "baseline_start_isp": app.baseline_start_isp,
                           "earliest_start_isp": app.earliest_start_isp,
                           "deadline_isp": app.deadline_isp}
        elif family == "thermal_storage":
            design = rng.uniform(2, 5, m)
            out[family] = {"der_id": ids, "bus": bus, "rated_kw": design * 3.5,
                           "capacity_kwh": design * 20, "soc0": rng.uniform(.2, .5, m),
                           "heat_demand_kw_th": der.heat_demand_kw_th(t_out, design),
                           "charge_window": der.night_window(tg)}
        else:
            ev = der.EvFleet.sample(m, np.arange(500), rng, tg,
                                v2g_kw=np.where(rng.random(m) < 1 / 3, 7.0, 0.0))
            out[family] = {"der_id": ev.der_id, "bus": ev.bus, "charger_kw": ev.charger_kw,
                           "arrival_isp": ev.arrival_isp, "departure_isp": ev.departure_isp,
                           "energy_need_kwh": ev.energy_need_kwh, "efficiency": ev.efficiency,
                           "v2g_kw": ev.v2g_kw}
    return out


def build(family: str, kw: dict):
    if family == "wind":
        return der.WindFleet.from_wind_speed(**kw)
    return CLASSES[family](**kw)


def vectorised(params: dict[str, dict], tg: TimeGrid) -> der.FlexEnvelope:
    return der.FlexEnvelope.concat([build(family, kw).envelope(tg)
                                    for family, kw in params.items()])


def unit(kw: dict, i: int) -> dict:
    """Parameters of unit ``i`` alone: per-unit vectors and [T, N] / [N, K] matrices sliced,
    shared [T] profiles kept."""
    n = len(kw["der_id"])

    def one(key, val):
        if val is None or np.ndim(val) == 0 or key in SHARED:
            return val
        if np.ndim(val) == 1:
            return val[i:i + 1] if len(val) == n else val
        return val[i:i + 1] if key == "cycle_kw" else val[:, i:i + 1]

    return {key: one(key, val) for key, val in kw.items()}


def per_unit_loop(params: dict[str, dict], tg: TimeGrid) -> list[der.FlexEnvelope]:
    out = []
    for family, kw in params.items():
        for i in range(len(kw["der_id"])):
            out.append(build(family, unit(kw, i)).envelope(tg))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    sample = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    seed = 42
    tg = TimeGrid.for_day("2024-01-15")
    print(f"machine: nproc={os.cpu_count()}, cpu={cpu_model()!r}, "
          f"python={platform.python_version()}, numpy={np.__version__}")
    print(f"inputs: {n} DERs ({'/'.join(FAMILIES)}, a ninth each), {tg.n_isps} ISPs of "
          f"{tg.isp_minutes} min from {tg.start:%Y-%m-%d}, seed={seed}")
    params = parameters(n, tg, seed)
    t0 = time.perf_counter()
    env = vectorised(params, tg)
    vec_s = time.perf_counter() - t0
    assert env.n_units == n
    print(f"vectorised envelopes (build fleets + envelope + concat): {vec_s:.2f} s "
          f"({'meets' if vec_s < 5 else 'MISSES'} the < 5 s target)")
    small = parameters(sample, tg, seed)
    t0 = time.perf_counter()
    per_unit_loop(small, tg)
    loop_sample_s = time.perf_counter() - t0
    loop_s = loop_sample_s * n / sample
    print(f"per-unit Python loop (same code, N=1 per call): {loop_sample_s:.2f} s on {sample} "
          f"units, EXTRAPOLATED to {n}: {loop_s:.1f} s")
    print(f"speed-up vectorised vs per-unit loop (extrapolated): {loop_s / vec_s:.0f}x")
    per_family = {}
    for family, kw in params.items():
        t0 = time.perf_counter()
        build(family, kw).envelope(tg)
        per_family[family] = time.perf_counter() - t0
    print("vectorised per family (s): " + ", ".join(f"{k} {v:.2f}" for k, v in
                                                     per_family.items()))
    print(f"check: up {env.up_kw.sum() * tg.isp_hours / 1e3:.1f} MWh, "
          f"down {env.down_kw.sum() * tg.isp_hours / 1e3:.1f} MWh summed over ISPs and units")


if __name__ == "__main__":
    main()
