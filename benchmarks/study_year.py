"""Benchmark: a year of market days of one design under forecast error (``localflex study``).

Paper §7 asks for the value of each design over time, not one day. This script runs one
design over a date range split into ``--chunks`` date ranges (cells), on a Dask
``LocalCluster`` with 1 and then 2 worker processes, and prints

* the study's wall time with 2 workers (goal for a year of a ``1-MVLV-*-all-2-sw`` area on
  2 cores: < 30 min);
* the power-flow floor: batch power flows (power-grid-model, a week per batch, iterative
  current) of every ISP of the range on the grid's forecast net load, in the faster of PGM's
  two parallel configurations on this machine, measured here: one process with a PGM thread
  per core, or one single-threaded process per core (as the study's workers run);
  Newton–Raphson is printed beside it;
* the ratio of the study to its power flows alone (goal <= 3x) under both readings of the
  floor: the year's own power flows — the scenarios its days solved (KPI
  ``power_flow_isps``: forecast, the design's verification, reality, intraday rounds,
  sensitivities) at the floor's time per ISP (small batches cost more per ISP, so this is a
  lower bound of their time and the ratio an upper bound) — and one power flow per ISP (less
  than a study day can solve: it needs at least the forecast and reality);
* the speed-up of 2 workers over 1, and that both give the same numbers. With
  ``--speedup-days N`` the 1-worker leg (and a 2-worker reference) runs on the first N days
  only, in 2 cells, and is labelled so: a year of the area on one worker takes as long as
  the rest of the benchmark together.

Defaults are the goal's case (a year of 1-MVLV-semiurb-all-2-sw, sequential_dso_first).
The second goal is a year of the LV demo grid for every design (``--design all``, goal
< 10 min on 2 cores; the floor and its ratio are printed for it too). Shorter ranges are
labelled as such and the year is EXTRAPOLATED linearly::

    python benchmarks/study_year.py                                   # the goal's case
    python benchmarks/study_year.py --speedup-days 14                 # 1 worker on 14 days
    python benchmarks/study_year.py --grid 1-LV-rural1--2-sw --design all --chunks 13 \
        --speedup-days 14                                             # every design, LV year
    python benchmarks/study_year.py --grid 1-LV-rural1--2-sw --days 28 --chunks 4
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import yaml
from _machine import cpu_model  # benchmarks/_machine.py

from localflex.domain import TimeGrid
from localflex.grid import bus_loads, load_simbench_grid, power_flow_threads, run_power_flow
from localflex.grid.powerflow import PGM_METHODS, solve_pgm_batch
from localflex.study import parse_study, read_kpis, run_study

ROOT = Path(__file__).resolve().parents[1]
AREA = "1-MVLV-semiurb-all-2-sw"
BARRIER_TIMEOUT_S = 600
"""How long a process of the process-parallel floor waits for the others to be ready."""


def _ranges(start: date, days: int, chunks: int) -> list[dict[str, str]]:
    size = -(-days // chunks)
    out = []
    for lo in range(0, days, size):
        hi = min(lo + size, days) - 1
        out.append({"start": str(start + timedelta(days=lo)),
                    "end": str(start + timedelta(days=hi))})
    return out


def _study(grid: str, design: str, start: date, days: int, chunks: int) -> dict:
    if grid.startswith("1-MVLV"):
        base = yaml.safe_load((ROOT / "examples" / "study_year_area.yaml")
                              .read_text(encoding="utf-8"))["scenario"]
    else:
        base = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text(encoding="utf-8"))
    return {"name": "bench-year", "scenario": base, "grids": [grid],
            "designs": "all" if design == "all" else [design],
            "seeds": [1], "dates": _ranges(start, days, chunks)}


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the Dask workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _run(study: dict, workers: int) -> tuple[float, float, pd.DataFrame]:
    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        c0, t0 = _cpu_s(), time.perf_counter()
        run = run_study(parse_study(study), Path(tmp) / "out", scheduler="local",
                        workers=workers)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        if run.failed:
            errors = sorted({str(e) for e in run.failed.values()})
            raise SystemExit(f"NOT MEASURED: {len(run.failed)} cells failed after "
                             f"{wall:.1f} s with {workers} worker(s): {'; '.join(errors)}")
        return wall, cpu, read_kpis(run.out).drop(columns=["cell_id"])


def _floor(grid_code: str, start: date, days: int, block_days: int = 7,
           methods: tuple[str, ...] = PGM_METHODS) -> tuple[float, int, int]:
    """Seconds of PGM batch power flows of every ISP of the range (one batch per block of
    ``block_days`` days: a year of an area in one batch would not fit in memory), ISPs,
    buses. ``methods``: PGM calculation methods in the order tried (the default is what
    every power flow of localflex uses)."""
    grid = load_simbench_grid(grid_code)
    warm = TimeGrid.for_day(str(start), days=1)
    loads = bus_loads(grid, grid.element_profiles_kw(warm))
    run_power_flow(grid, type(loads)(loads.p_kw[:2], loads.q_kvar[:2]))  # warm-up
    seconds, n_isps = 0.0, 0
    for lo in range(0, days, block_days):
        tg = TimeGrid.for_day(str(start + timedelta(days=lo)), days=min(block_days, days - lo))
        loads = bus_loads(grid, grid.element_profiles_kw(tg))
        t0 = time.perf_counter()
        if methods == PGM_METHODS:
            run_power_flow(grid, loads, engine="pgm")
        else:
            solve_pgm_batch(grid, loads.p_kw, loads.q_kvar, methods=methods)
        seconds += time.perf_counter() - t0
        n_isps += tg.n_isps
    return seconds, n_isps, grid.n_buses


def _floor_worker(args: tuple) -> float:
    """One process of the process-parallel floor: load the grid and warm PGM up, wait for
    the others, then solve this process's weeks on one PGM thread; returns its seconds."""
    grid_code, starts, block_days, end, barrier = args
    try:
        grid = load_simbench_grid(grid_code)
        loads_of = []
        for first in starts:
            tg = TimeGrid.for_day(str(first), days=min(block_days, (end - first).days))
            loads_of.append(bus_loads(grid, grid.element_profiles_kw(tg)))
        with power_flow_threads(1):
            warm = loads_of[0]
            run_power_flow(grid, type(warm)(warm.p_kw[:2], warm.q_kvar[:2]))
    except BaseException:
        barrier.abort()  # the others stop waiting (BrokenBarrierError) instead of hanging
        raise
    barrier.wait(timeout=BARRIER_TIMEOUT_S)
    with power_flow_threads(1):
        t0 = time.perf_counter()
        for loads in loads_of:
            run_power_flow(grid, loads, engine="pgm")
        return time.perf_counter() - t0


def _floor_processes(grid_code: str, start: date, days: int, processes: int,
                     block_days: int = 7) -> tuple[float, int]:
    """The floor's other configuration: ``processes`` processes (at most one per week) with
    one PGM thread each, the weeks dealt out in turn, all starting together (profiles are
    built before the clock); seconds of the slowest — how a study's workers run their power
    flows. Returns (seconds, processes used)."""
    import multiprocessing as mp

    end = start + timedelta(days=days)
    firsts = [start + timedelta(days=lo) for lo in range(0, days, block_days)]
    processes = min(processes, len(firsts))  # every process gets a week at least
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(processes)
        jobs = [(grid_code, firsts[k::processes], block_days, end, barrier)
                for k in range(processes)]
        with ctx.Pool(processes) as pool:
            return max(pool.map(_floor_worker, jobs)), processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default=AREA)
    parser.add_argument("--design", default="sequential_dso_first",
                        help="a design of the study, or 'all' (every design: one cell per "
                             "design and date range)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2016, 1, 1))
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--chunks", type=int, default=12, help="date ranges (cells)")
    parser.add_argument("--speedup-days", type=int, default=None,
                        help="measure 1 worker against 2 on the first N days only (2 cells); "
                             "the whole range runs on 2 workers (default: both on all of it)")
    args = parser.parse_args()

    print("== machine ==")
    print(f"nproc: {os.cpu_count()}  cpu: {cpu_model()}  load average (1/5/15 min): "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    area = args.grid.startswith("1-MVLV")
    goal_min = 30 if area else 10
    full = args.days >= 365 and (area or args.design == "all")
    label = "MEASURED (the goal's case)" if full else (
        f"MEASURED on {args.grid}, {args.days} days, design {args.design} — NOT a goal's "
        "case (a year of a 1-MVLV-*-all-2-sw area; a year of the LV grid, every design)")
    print("== inputs ==")
    print(f"{label}; design {args.design}; {args.days} days from {args.start} in "
          f"{args.chunks} cells")

    threaded, n_isps, n_buses = _floor(args.grid, args.start, args.days)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    parallel, n_proc = _floor_processes(args.grid, args.start, args.days, cores)
    floor = min(threaded, parallel)
    floor_nr = _floor(args.grid, args.start, args.days, methods=("newton_raphson",))[0]
    scale = 365 / args.days
    print("== power-flow floor ==")
    print(f"{n_isps} ISPs of {n_buses} buses, PGM iterative current, a week per batch: one "
          f"process on all {cores} cores' PGM threads {threaded:.2f} s; {n_proc} processes "
          f"of one PGM thread {parallel:.2f} s")
    print(f"floor = the faster: {floor:.2f} s ({floor / args.days:.3f} s/day"
          + (f"; a year EXTRAPOLATED: {floor * scale:.0f} s)" if args.days < 365 else ")"))
    print(f"  (Newton–Raphson, one process on all cores, the same batches: {floor_nr:.2f} s; "
          f"{floor_nr / threaded:.2f}x iterative current in that configuration)", flush=True)

    study = _study(args.grid, args.design, args.start, args.days, args.chunks)
    year = "measured" if args.days >= 365 else "EXTRAPOLATED"
    print("== study ==", flush=True)
    wall_2, cpu_2, kpis_2 = _run(study, 2)
    print(f"2 workers: {wall_2:8.1f} s wall, {cpu_2:8.1f} s CPU; CPU / wall = "
          f"{cpu_2 / wall_2:.2f} of 2 cores (below 2: other load or start-up); load average "
          f"now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"           (year {year}: {wall_2 * scale / 60:.1f} min; "
          f"goal < {goal_min} min)")
    own_isps = float(kpis_2["power_flow_isps"].sum())
    own_floor = own_isps * floor / n_isps

    def verdict(ratio: float) -> str:
        return "met" if ratio <= 3.0 else "NOT met"

    print("ratios to the power flows alone (goal <= 3x), under both readings of the floor:")
    print(f"  the year's own power flows: {own_isps:,.0f} scenarios solved by its days "
          f"({own_isps / n_isps:.2f} per ISP: forecast, the design's verification, reality, "
          f"intraday rounds, sensitivities) at the floor's time per ISP = {own_floor:.1f} s; "
          f"study / them: {wall_2 / own_floor:.2f}x ({verdict(wall_2 / own_floor)})")
    print(f"  one power flow per ISP (the floor above; a study solves at least forecast and "
          f"reality, 2 per ISP): study / floor: {wall_2 / floor:.2f}x "
          f"({verdict(wall_2 / floor)})", flush=True)
    short = args.speedup_days is not None and args.speedup_days < args.days
    if short:  # 1 worker vs 2 on the first days only (a year on 1 worker takes too long)
        print(f"== speed-up, on the first {args.speedup_days} days in 2 cells only "
              "(NOT the whole range) ==", flush=True)
        sub = _study(args.grid, args.design, args.start, args.speedup_days, 2)
        wall_1, cpu_1, kpis_1 = _run(sub, 1)
        ref_2, _cpu, ref_kpis = _run(sub, 2)
    else:
        wall_1, cpu_1, kpis_1 = _run(study, 1)
        ref_2, ref_kpis = wall_2, kpis_2
    same = kpis_1.equals(ref_kpis)
    print(f"1 worker : {wall_1:8.1f} s wall, {cpu_1:8.1f} s CPU (all processes)"
          + (f"; 2 workers on the same days: {ref_2:.1f} s" if short else ""))
    print(f"speed-up of 2 workers over 1: {wall_1 / ref_2:.2f}x; identical numbers: {same}")
    print(f"study rows (design-days): {len(kpis_2)}; "
          f"mean DSO cost {kpis_2['dso_cost_eur'].mean():.2f} EUR/day, "
          f"mean residual overload {kpis_2['residual_overload_kwh'].mean():.2f} kWh/day, "
          f"mean realised overload before intraday "
          f"{kpis_2['realised_overload_kwh'].mean():.2f} kWh/day")
    print(f"load average at the end (1/5/15 min): "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
