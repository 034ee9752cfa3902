"""Congestion census of the SimBench "-2-sw" grids over the profile year (2016, 35,136 ISPs).

For each grid: ISPs with at least one overloaded congestion point, per kind (trafo/line), the
worst loading and where, ISPs with a voltage-band violation, and the most overloaded day
(largest overload energy Σ overload_kw·0.25 h). Dates are the SimBench profile dates; a
scenario on the same month/day of any year uses the same profiles. Used to pick the demo grid
and day and the area day of examples/area.yaml (paper §5: DSO congestion management). The
MV/LV areas (``1-MVLV-*-all-2-sw``: an MV grid with all its LV grids) are solved in chunks of
``CHUNK_DAYS`` days.

    python benchmarks/congestion_census.py [--grids CODE ...] [--start 2016-06-01 --days 30]
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

GRIDS = ("1-LV-rural1--2-sw", "1-LV-semiurb4--2-sw", "1-MV-rural--2-sw", "1-MV-semiurb--2-sw",
         "1-MVLV-semiurb-all-2-sw", "1-MVLV-urban-all-2-sw")
CHUNK_DAYS = 14
"""The year is solved in chunks of this many days: a 9,104-bus area's whole year at once
would hold ~2.5 GB per [ISP, bus] array; chunked, memory stays that of two weeks."""


def census(code: str, start: str = "2016-01-01", days: int = 366) -> None:
    t0 = time.perf_counter()
    grid = load_simbench_grid(code)
    cps = congestion_points(grid)
    vl = voltage_limits(grid)
    kinds = {kind: (cps["kind"] == kind).to_numpy() for kind in ("trafo", "line")}
    stats = {kind: {"n_over": 0, "over_any": np.zeros(int(cols.sum()), dtype=bool),
                    "worst": (-np.inf, None, None)} for kind, cols in kinds.items()}
    n_low = n_high = 0
    vm_min, vm_max = np.inf, -np.inf
    per_day: list[pd.DataFrame] = []
    first = pd.Timestamp(start)
    for offset in range(0, days, CHUNK_DAYS):
        n_days = min(CHUNK_DAYS, days - offset)
        tg = TimeGrid.for_day((first + pd.Timedelta(days=offset)).date(), days=n_days)
        res = run_power_flow(grid, bus_loads(grid, grid.element_profiles_kw(tg)))
        over = overload_kw(res, cps)
        stamps = tg.isp_starts()
        for kind, cols in kinds.items():
            if not cols.any():
                continue
            st = stats[kind]
            st["n_over"] += int((over[:, cols] > 0).any(axis=1).sum())
            st["over_any"] |= (over[:, cols] > 0).any(axis=0)
            loading = res.cp_loading_pct[:, cols]
            t, c = np.unravel_index(np.nanargmax(loading), loading.shape)
            if loading[t, c] > st["worst"][0]:
                st["worst"] = (float(loading[t, c]), cps[cols].iloc[c], stamps[t])
        vm = res.bus_vm_pu
        n_low += int((vm < vl["vm_min_pu"].to_numpy()[None, :]).any(axis=1).sum())
        n_high += int((vm > vl["vm_max_pu"].to_numpy()[None, :]).any(axis=1).sum())
        vm_min, vm_max = min(vm_min, float(np.nanmin(vm))), max(vm_max, float(np.nanmax(vm)))
        frame = pd.DataFrame({"kwh": over.sum(axis=1) * tg.isp_hours,
                              "peak_kw": over.max(axis=1),
                              "over_isp": (over > 0).any(axis=1),
                              "max_loading": res.cp_loading_pct.max(axis=1),
                              "v_bus_isps": ((vm < vl["vm_min_pu"].to_numpy()[None, :])
                                             | (vm > vl["vm_max_pu"].to_numpy()[None, :])
                                             ).sum(axis=1)},
                             index=stamps)
        per_day.append(frame.resample("D").agg({"kwh": "sum", "peak_kw": "max",
                                                "over_isp": "sum", "max_loading": "max",
                                                "v_bus_isps": "sum"}))
    daily = pd.concat(per_day)
    print(f"== {code}  ({len(cps)} congestion points, {grid.n_buses} buses, {days} days from "
          f"{start}, {time.perf_counter() - t0:.1f} s) ==")
    for kind, cols in kinds.items():
        if not cols.any():
            continue
        st = stats[kind]
        worst, cp, when = st["worst"]
        print(f"  {kind:5s}: overloaded ISPs {st['n_over']:6d} ({st['n_over'] / 4:.0f} h), "
              f"overloaded elements {int(st['over_any'].sum())}/{int(cols.sum())}, worst "
              f"{worst:.1f} % at {cp['cp_id']} ({cp['name']}) on {when:%Y-%m-%d %H:%M} UTC")
    print(f"  voltage: ISPs below vm_min {n_low}, above vm_max {n_high}; "
          f"vm range {vm_min:.3f}..{vm_max:.3f} p.u.")
    if daily["kwh"].max() > 0:
        day = daily["kwh"].idxmax()
        row = daily.loc[day]
        print(f"  most overloaded day: {day:%Y-%m-%d} ({row['kwh']:.0f} kWh over the limits, "
              f"{int(row['over_isp'])} overloaded ISPs, peak overload {row['peak_kw']:.0f} kW, "
              f"max loading {row['max_loading']:.1f} %, {int(row['v_bus_isps'])} bus-ISPs "
              "outside the voltage band)")
    else:
        print("  most overloaded day: none (no overload in the period)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", nargs="*", default=list(GRIDS))
    parser.add_argument("--start", default="2016-01-01", help="first day (profile date)")
    parser.add_argument("--days", type=int, default=366, help="number of days")
    args = parser.parse_args()
    for code in args.grids:
        census(code, args.start, args.days)


if __name__ == "__main__":
    main()
