"""Benchmark: a year of 15-min AC power flows on a SimBench MV grid, PGM batch vs pandapower.

Headline figure for ``localflex.grid``: the DSO's congestion assessment (paper §5) needs one
power flow per ISP and congestion point; a year of ISPs is 35,040 power flows. PGM solves them
in chunked batches; pandapower ``runpp`` (the reference) is timed on a sample of ISPs and
EXTRAPOLATED to the year.

    python benchmarks/powerflow_year.py                 # full year, 50 runpp samples
    python benchmarks/powerflow_year.py --isps 2000     # quick run
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from importlib.metadata import version

import numpy as np
from _machine import cpu_model  # benchmarks/_machine.py

from localflex.domain import TimeGrid
from localflex.grid import BusLoads, bus_loads, load_simbench_grid, run_power_flow

YEAR_ISPS = 365 * 96



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="1-MV-semiurb--2-sw")
    parser.add_argument("--isps", type=int, default=YEAR_ISPS, help="ISPs for PGM (default 35040)")
    parser.add_argument("--sample", type=int, default=50, help="ISPs timed with pandapower runpp")
    parser.add_argument("--chunk", type=int, default=4096, help="PGM batch chunk size (ISPs)")
    args = parser.parse_args()

    print("== machine ==")
    print(f"nproc: {os.cpu_count()}  cpu: {cpu_model()}")
    print(f"python {platform.python_version()}  " + "  ".join(
        f"{pkg} {version(pkg)}" for pkg in ("numpy", "pandas", "pandapower", "simbench",
                                            "power-grid-model")
    ))
    try:
        numba_version = version("numba")
    except Exception:
        numba_version = "not installed (pandapower runs without numba)"
    print(f"numba: {numba_version}")

    t0 = time.perf_counter()
    grid = load_simbench_grid(args.grid)
    t_load = time.perf_counter() - t0
    tg = TimeGrid.for_day("2030-01-01", days=365)  # 2030 is not a leap year: 35,040 ISPs
    loads = bus_loads(grid, grid.element_profiles_kw(tg))
    n = min(args.isps, loads.n_isps)
    loads = BusLoads(loads.p_kw[:n], loads.q_kvar[:n])
    net = grid.net
    print("== inputs ==")
    print(f"grid {args.grid}: {len(net.bus)} buses, {len(net.line)} lines, {len(net.trafo)} "
          f"trafos, {len(net.load)} loads, {len(net.sgen)} sgens, {len(net.storage)} storages; "
          f"loaded in {t_load:.1f} s")
    print(f"ISPs: {n} x 15 min from 2030-01-01 (SimBench 2016 profiles); PGM chunk {args.chunk}")

    # warm-up (builds and caches the PGM model), then the timed batch
    run_power_flow(grid, BusLoads(loads.p_kw[:2], loads.q_kvar[:2]))
    t0 = time.perf_counter()
    res = run_power_flow(grid, loads, engine="pgm", chunk_isps=args.chunk)
    t_pgm = time.perf_counter() - t0
    per_isp_pgm = t_pgm / n
    print("== PGM batch (measured) ==")
    print(f"{n} ISPs in {t_pgm:.2f} s wall = {per_isp_pgm * 1e3:.3f} ms/ISP; "
          f"year ({YEAR_ISPS} ISPs) {'measured' if n == YEAR_ISPS else 'extrapolated'}: "
          f"{per_isp_pgm * YEAR_ISPS:.1f} s")
    print(f"max loading {np.nanmax(res.cp_loading_pct):.1f} %, "
          f"vm range {np.nanmin(res.bus_vm_pu):.4f}..{np.nanmax(res.bus_vm_pu):.4f} p.u.")

    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, size=min(args.sample, n), replace=False))
    sub = BusLoads(loads.p_kw[sample], loads.q_kvar[sample])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ref = run_power_flow(grid, sub, engine="pandapower")
        t_pp = time.perf_counter() - t0
    per_isp_pp = t_pp / sample.size
    print("== pandapower runpp (measured on a sample, year EXTRAPOLATED) ==")
    print(f"{sample.size} ISPs in {t_pp:.2f} s = {per_isp_pp * 1e3:.1f} ms/ISP; "
          f"year EXTRAPOLATED: {per_isp_pp * YEAR_ISPS:.0f} s")
    dv = np.nanmax(np.abs(ref.bus_vm_pu - res.bus_vm_pu[sample]))
    dl = np.nanmax(np.abs(ref.cp_loading_pct - res.cp_loading_pct[sample]))
    print(f"agreement on the sample: max |dvm| {dv:.1e} p.u., max |dloading| {dl:.1e} %-points")
    print("== ratio ==")
    print(f"per ISP: runpp / PGM = {per_isp_pp / per_isp_pgm:.0f}x")


if __name__ == "__main__":
    main()
