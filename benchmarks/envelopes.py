"""Benchmark: flexibility envelopes (paper §2, Fig. 2) of 100,000 DERs over 96 ISPs.

A mix of the four families of ``localflex.der`` (PV, battery, EV, heat pump; a quarter each),
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

from localflex.der import (
    BatteryFleet,
    EvFleet,
    FlexEnvelope,
    HeatPumpFleet,
    PvFleet,
    outdoor_temperature_c,
)
from localflex.domain import TimeGrid


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parameters(n: int, tg: TimeGrid, seed: int) -> dict[str, dict]:
    """Parameter arrays of a fleet of ``n`` DERs per family (quarter each), from ``seed``."""
    rng = np.random.default_rng(seed)
    q = n // 4
    ids = np.arange(n).astype(str)
    bus = rng.integers(0, 500, n)
    ev = EvFleet.sample(n - 3 * q, np.arange(500), rng, tg)
    return {
        "pv": {"der_id": np.char.add("pv", ids[:q]), "bus": bus[:q],
               "peak_kw": rng.uniform(3, 15, q)},
        "battery": {"der_id": np.char.add("bat", ids[q:2 * q]), "bus": bus[q:2 * q],
                    "power_kw": rng.uniform(3, 10, q), "energy_kwh": rng.uniform(5, 20, q),
                    "soc0": rng.uniform(0.2, 0.8, q)},
        "heat_pump": {"der_id": np.char.add("hp", ids[2 * q:3 * q]), "bus": bus[2 * q:3 * q],
                      "rated_kw_el": rng.uniform(3, 8, q), "cop": rng.uniform(2.5, 4.0, q),
                      "thermal_resistance_k_per_kw": rng.uniform(3, 8, q),
                      "thermal_capacity_kwh_per_k": rng.uniform(5, 15, q),
                      "t_set_c": rng.uniform(20, 22, q), "comfort_band_k": 1.0,
                      "t_indoor0_c": None, "outdoor_temp_c": outdoor_temperature_c(tg)},
        "ev": {"der_id": ev.der_id, "bus": ev.bus, "charger_kw": ev.charger_kw,
               "arrival_isp": ev.arrival_isp, "departure_isp": ev.departure_isp,
               "energy_need_kwh": ev.energy_need_kwh, "efficiency": ev.efficiency},
    }


CLASSES = {"pv": PvFleet, "battery": BatteryFleet, "heat_pump": HeatPumpFleet, "ev": EvFleet}


def vectorised(params: dict[str, dict], tg: TimeGrid) -> FlexEnvelope:
    return FlexEnvelope.concat(
        [CLASSES[family](**kw).envelope(tg) for family, kw in params.items()]
    )


def unit(kw: dict, i: int) -> dict:
    """Parameters of unit ``i`` alone (per-unit vectors sliced, shared profiles kept)."""
    n = len(kw["der_id"])
    return {k: (v[i:i + 1] if k != "outdoor_temp_c" and np.ndim(v) == 1 and len(v) == n
                else v)
            for k, v in kw.items()}


def per_unit_loop(params: dict[str, dict], tg: TimeGrid) -> list[FlexEnvelope]:
    out = []
    for family, kw in params.items():
        for i in range(len(kw["der_id"])):
            out.append(CLASSES[family](**unit(kw, i)).envelope(tg))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    sample = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    seed = 42
    tg = TimeGrid.for_day("2024-01-15")
    print(f"machine: nproc={os.cpu_count()}, cpu={cpu_model()!r}, "
          f"python={platform.python_version()}, numpy={np.__version__}")
    print(f"inputs: {n} DERs (PV/battery/heat pump/EV, a quarter each), {tg.n_isps} ISPs of "
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
    print(f"check: up {env.up_kw.sum() * tg.isp_hours / 1e3:.1f} MWh, "
          f"down {env.down_kw.sum() * tg.isp_hours / 1e3:.1f} MWh summed over ISPs and units")


if __name__ == "__main__":
    main()
