"""The market day at scale: an LV feeder, an MV grid and two whole DSO areas (MV + all LV).

For each grid (examples/demo.yaml with ``grid.simbench_code`` replaced) it prints: wall time of
the whole day (warm grid cache: the grid is loaded once before the clock starts, as a second
run finds it on disk), the time per stage, peak resident memory of the process that ran it,
buses, DERs, offers, monitored congestion points / buses and offer buses; the power-flow
floor — the day's power flows alone (forecast + one verification per clearing round, timed
on the same loads) — and the ratio whole day / floor. Targets (issue 10): area day < 60 s
and < 4 GB, ratio ≤ 5×. Every grid runs in its own subprocess so peak memory is its own.

    python benchmarks/market_day_scale.py [--grids CODE ...] [--scenario examples/demo.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

GRIDS = ("1-LV-rural1--2-sw", "1-MV-rural--2-sw", "1-MVLV-semiurb-all-2-sw",
         "1-MVLV-urban-all-2-sw")
ROOT = Path(__file__).resolve().parents[1]


def measure(code: str, scenario_path: Path) -> dict:
    """Run one market day on ``code`` (in this process) and return its figures."""
    from localflex.grid import load_simbench_grid, run_power_flow
    from localflex.sim.engine import simulate
    from localflex.sim.scenario import load_scenario
    from localflex.sim.setup import prepare_market

    scenario = load_scenario(scenario_path)
    grid_spec = scenario.grid.model_copy(update={"simbench_code": code})
    scenario = scenario.model_copy(update={"grid": grid_spec, "name": f"scale-{code}"})
    if "-MV-" in code:  # an MV grid's loads are whole LV grids: no households for EVs
        ders = scenario.ders.model_copy(update={"ev_share_of_households": 0.0})
        scenario = scenario.model_copy(update={"ders": ders})
    t_load = time.perf_counter()
    load_simbench_grid(code)  # warm: from the disk cache (built on the first run ever)
    load_s = time.perf_counter() - t_load

    stages: dict[str, float] = {}
    clock = {"name": None, "t": time.perf_counter()}

    def step(name: str) -> None:
        now = time.perf_counter()
        if clock["name"] is not None:
            stages[clock["name"]] = stages.get(clock["name"], 0.0) + now - clock["t"]
        clock.update(name=name, t=now)

    t0 = time.perf_counter()
    day = simulate(scenario, step)
    step("end")
    wall = time.perf_counter() - t0

    # power-flow floor: the forecast and one verification per round, on the same loads
    n_flows = 1 + len(day.rounds)
    setup = prepare_market(scenario)
    t1 = time.perf_counter()
    for _ in range(n_flows):
        run_power_flow(day.grid, setup.forecast_loads)
    floor = time.perf_counter() - t1
    last = day.rounds[-1] if day.rounds else {}
    return {
        "grid": code,
        "buses": int(day.grid.n_buses),
        "ders": int(day.envelope.n_units),
        "offers": len(day.offers),
        "awards": len(day.awards),
        "monitored_points": last.get("monitored_points", 0),
        "monitored_buses": last.get("monitored_buses", 0),
        "offer_buses": last.get("offer_buses", 0),
        "rounds": len(day.rounds),
        "grid_load_s": round(load_s, 2),
        "wall_s": round(wall, 2),
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "power_flows": n_flows,
        "floor_s": round(floor, 2),
        "ratio": round(wall / floor, 1) if floor > 0 else None,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", nargs="+", default=list(GRIDS))
    parser.add_argument("--scenario", type=Path, default=ROOT / "examples" / "demo.yaml")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.scenario)))
        return
    from _machine import cpu_model

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} (1 min) at start")
    rows = []
    for code in args.grids:
        proc = subprocess.run([sys.executable, __file__, "--one", code, "--scenario",
                               str(args.scenario)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{code}: failed\n{proc.stderr[-2000:]}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row))
    print(f"load average at end {os.getloadavg()[0]:.1f} (1 min)")
    header = ("grid", "buses", "ders", "offers", "monitored_points", "monitored_buses",
              "offer_buses", "wall_s", "floor_s", "ratio", "peak_rss_gb")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))


if __name__ == "__main__":
    main()
