"""Congestion census of the SimBench "-2-sw" grids over the profile year (2016, 35,136 ISPs).

For each grid: ISPs with at least one overloaded congestion point, per kind (trafo/line), the
worst loading and where, ISPs with a voltage-band violation, and the most overloaded day
(largest overload energy Σ overload_kw·0.25 h). Dates are the SimBench profile dates; a
scenario on the same month/day of any year uses the same profiles. Used to pick the demo grid
and day (paper §5: DSO congestion management).

    python benchmarks/congestion_census.py [--grids CODE ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from localflex.domain import TimeGrid
from localflex.grid import (
    bus_loads,
    congestion_points,
    load_simbench_grid,
    overload_kw,
    run_power_flow,
    voltage_limits,
)

GRIDS = ("1-LV-rural1--2-sw", "1-LV-semiurb4--2-sw", "1-MV-rural--2-sw", "1-MV-semiurb--2-sw")


def census(code: str) -> None:
    t0 = time.perf_counter()
    grid = load_simbench_grid(code)
    tg = TimeGrid.for_day("2016-01-01", days=366)
    res = run_power_flow(grid, bus_loads(grid, grid.element_profiles_kw(tg)))
    cps = congestion_points(grid)
    over = overload_kw(res, cps)
    stamps = tg.isp_starts()
    print(f"== {code}  ({len(cps)} congestion points, {tg.n_isps} ISPs, "
          f"{time.perf_counter() - t0:.1f} s) ==")
    for kind in ("trafo", "line"):
        cols = (cps["kind"] == kind).to_numpy()
        if not cols.any():
            continue
        n_over = int((over[:, cols] > 0).any(axis=1).sum())
        loading = res.cp_loading_pct[:, cols]
        t, c = np.unravel_index(np.nanargmax(loading), loading.shape)
        cp = cps[cols].iloc[c]
        n_cps = int((over[:, cols] > 0).any(axis=0).sum())
        print(f"  {kind:5s}: overloaded ISPs {n_over:6d} ({n_over / 4:.0f} h), "
              f"overloaded elements {n_cps}/{int(cols.sum())}, worst {loading[t, c]:.1f} % "
              f"at {cp['cp_id']} ({cp['name']}) on {stamps[t]:%Y-%m-%d %H:%M} UTC")
    vl = voltage_limits(grid)
    vm = res.bus_vm_pu
    low = (vm < vl["vm_min_pu"].to_numpy()[None, :]).any(axis=1)
    high = (vm > vl["vm_max_pu"].to_numpy()[None, :]).any(axis=1)
    print(f"  voltage: ISPs below vm_min {int(low.sum())}, above vm_max {int(high.sum())}; "
          f"vm range {np.nanmin(vm):.3f}..{np.nanmax(vm):.3f} p.u.")
    daily_kwh = pd.Series(over.sum(axis=1) * tg.isp_hours, index=stamps).resample("D").sum()
    if daily_kwh.max() > 0:
        day = daily_kwh.idxmax()
        in_day = (stamps >= day) & (stamps < day + pd.Timedelta(days=1))
        peak_kw = over[in_day].max()
        n_day = int((over[in_day] > 0).any(axis=1).sum())
        print(f"  most overloaded day: {day:%Y-%m-%d} ({daily_kwh.max():.0f} kWh over the limits, "
              f"{n_day} overloaded ISPs, peak overload {peak_kw:.0f} kW, "
              f"max loading {res.cp_loading_pct[in_day].max():.1f} %)")
    else:
        print("  most overloaded day: none (no overload in the year)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", nargs="*", default=list(GRIDS))
    for code in parser.parse_args().grids:
        census(code)


if __name__ == "__main__":
    main()
