"""Benchmark: DSO single-buyer clearing (paper §5.3) of a synthetic day, 10,000 offers x 96 ISPs.

Grid (``--grid``): a real SimBench MV grid (default ``1-MV-rural--0-sw``) through
``localflex.grid``: power flow of the day's SimBench profiles, congestion points, relief
sensitivities at the peak ISP, real headroom; the overloads themselves are synthetic (~10 % of
(point, ISP), 10–200 kW), because a SimBench base case has few. ``--grid synthetic``: a radial
random tree of ~100 buses from a seed, one congestion point per line plus the substation
transformer; relief = 1 kW/kW for buses downstream of the element, 0 elsewhere, sign flipped in
midday reverse-flow ISPs. Prints grid preparation, clearing build and solve seconds
separately; the targets are for the clearing (build + solve): < 10 s for divisible offers
(an LP), < 30 s with 20 % indivisible offers (``min_power_kw = max/2``: a MILP, HiGHS branch
and bound, relative gap 1e-7). Both cases run by default, on the same needs and offers.

Run: ``python benchmarks/dso_clearing.py [--grid synthetic] [--offers 10000] [--seed 7]
[--indivisible-share 0.2]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
from _machine import cpu_model  # benchmarks/_machine.py

from localflex.domain import OFFER_COLUMNS
from localflex.market import CongestionNeeds, clear_dso_single_buyer

TARGET_SECONDS = 10.0
TARGET_MIP_SECONDS = 30.0



def synthetic_radial_needs(
    rng: np.random.Generator, n_buses: int, n_isps: int, overload_share: float
) -> CongestionNeeds:
    """Random radial tree; relief[t, e, b] = +-1 if bus b is downstream of element e."""
    parent = np.concatenate([[-1], [rng.integers(0, i) for i in range(1, n_buses)]])
    # downstream[e_bus, b]: b is in the subtree of e_bus (walk each bus up to the root).
    downstream = np.zeros((n_buses, n_buses), dtype=bool)
    for b in range(n_buses):
        node = b
        while node != -1:
            downstream[node, b] = True
            node = parent[node]
    # Congestion points: the transformer (subtree of the root) and the line feeding each bus.
    cp_ids = np.array(["trafo:0"] + [f"line:{b}" for b in range(1, n_buses)])
    relief_cp_bus = downstream.astype(float)  # row 0 = root = trafo, row b = line into b
    # Load-driven flow except midday ISPs (10:00-15:00) where 30 % of elements see reverse flow.
    flow_sign = np.ones((n_isps, n_buses))
    midday = np.arange(n_isps)[(np.arange(n_isps) >= 40) & (np.arange(n_isps) < 60)]
    flow_sign[np.ix_(midday, rng.random(n_buses) < 0.3)] = -1.0
    relief = flow_sign[:, :, None] * relief_cp_bus[None, :, :]
    need = rng.random((n_isps, n_buses)) < overload_share
    overload_kw = np.where(need, rng.uniform(10.0, 200.0, need.shape), 0.0)
    headroom_kw = np.where(need, np.nan, rng.uniform(30.0, 500.0, need.shape))
    return CongestionNeeds(
        cp_ids=cp_ids,
        overload_kw=overload_kw,
        headroom_kw=headroom_kw,
        relief_kw_per_kw_up=relief,
        bus_ids=np.arange(n_buses, dtype=np.int64),
        isp_hours=0.25,
    )


def simbench_needs(
    rng: np.random.Generator, code: str, day: str, overload_share: float
) -> CongestionNeeds:
    """Real topology, sensitivities and headroom of SimBench ``code``; synthetic overloads."""
    from localflex.domain import TimeGrid
    from localflex.grid import (
        bus_loads,
        congestion_points,
        flow_sensitivity,
        headroom_kw,
        load_simbench_grid,
        relief_kw_per_kw_up,
        run_power_flow,
    )

    grid = load_simbench_grid(code)
    time_grid = TimeGrid.for_day(day)
    loads = bus_loads(grid, grid.element_profiles_kw(time_grid))
    flows = run_power_flow(grid, loads)
    cps = congestion_points(grid)
    relief = relief_kw_per_kw_up(flow_sensitivity(grid, loads), flows)
    need = rng.random((time_grid.n_isps, len(cps))) < overload_share
    overload_kw = np.where(need, rng.uniform(10.0, 200.0, need.shape), 0.0)
    headroom = np.where(need, np.nan, np.maximum(headroom_kw(flows, cps), 0.0))
    return CongestionNeeds(
        cp_ids=cps["cp_id"].to_numpy(),
        overload_kw=overload_kw,
        headroom_kw=headroom,
        relief_kw_per_kw_up=relief,
        bus_ids=np.asarray(grid.bus_ids, dtype=np.int64),
        isp_hours=time_grid.isp_hours,
    )


def synthetic_offers(rng: np.random.Generator, n_offers: int, bus_ids: np.ndarray,
                     n_isps: int, indivisible_share: float = 0.0) -> pd.DataFrame:
    frame = pd.DataFrame({
        "offer_id": [f"o{i}" for i in range(n_offers)],
        "aggregator_id": rng.choice([f"agg{i}" for i in range(8)], n_offers),
        "bus": rng.choice(bus_ids, n_offers),
        "isp": rng.integers(0, n_isps, n_offers),
        "direction": np.where(rng.random(n_offers) < 0.7, "up", "down"),
        "max_power_kw": rng.uniform(5.0, 100.0, n_offers),
        "min_power_kw": 0.0,
        "price_eur_per_mwh": rng.uniform(20.0, 500.0, n_offers).round(2),
        "der_type": rng.choice(["ev", "heat_pump", "battery", "pv"], n_offers),
        "block_id": "",
    })
    indivisible = rng.random(n_offers) < indivisible_share
    frame.loc[indivisible, "min_power_kw"] = frame.loc[indivisible, "max_power_kw"] * 0.5
    return frame[list(OFFER_COLUMNS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="1-MV-rural--0-sw",
                        help="a SimBench code, or 'synthetic' for a random radial tree")
    parser.add_argument("--day", default="2016-06-01", help="SimBench profile day (UTC)")
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--isps", type=int, default=96)
    parser.add_argument("--buses", type=int, default=100)
    parser.add_argument("--overload-share", type=float, default=0.10)
    parser.add_argument("--indivisible-share", type=float, default=0.2,
                        help="share of offers with min_power_kw = max/2 in the MILP case")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    prep_start = time.perf_counter()
    if args.grid == "synthetic":
        needs = synthetic_radial_needs(rng, args.buses, args.isps, args.overload_share)
        grid_note = f"synthetic radial tree (seed {args.seed})"
    else:
        needs = simbench_needs(rng, args.grid, args.day, args.overload_share)
        grid_note = (f"SimBench {args.grid}, profiles of {args.day}, sensitivities at the "
                     "peak ISP, real headroom, synthetic overloads")
        args.isps = needs.overload_kw.shape[0]
    prep_s = time.perf_counter() - prep_start
    offer_seed = int(rng.integers(2**31))
    n_needs = int((needs.overload_kw > 0).sum())
    print("DSO single-buyer clearing benchmark (paper §5.3)")
    print(f"machine : {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python "
          f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"highspy {highspy_version()}")
    print(f"grid    : {grid_note}: {len(needs.bus_ids)} buses, {len(needs.cp_ids)} congestion "
          "points")
    print(f"grid prep (not in target): {prep_s:.3f} s")
    for share, target in ((0.0, TARGET_SECONDS), (args.indivisible_share, TARGET_MIP_SECONDS)):
        offers = synthetic_offers(np.random.default_rng(offer_seed), args.offers, needs.bus_ids,
                                  args.isps, share)
        start = time.perf_counter()
        result = clear_dso_single_buyer(offers, needs, n_isps=args.isps)
        total_s = time.perf_counter() - start
        build_s = total_s - result.solve_seconds
        kind = "divisible (LP)" if share == 0 else f"{share:.0%} indivisible (MILP)"
        print(f"--- case: {kind}")
        print(f"inputs  : {len(offers)} offers, {args.isps} ISPs, {n_needs} overloaded (cp, ISP) "
              f"= {n_needs / needs.overload_kw.size:.1%}, "
              f"{int((offers['min_power_kw'] > 0).sum())} indivisible offers, seed {args.seed}")
        print(f"result  : {result.solver_status}; {len(result.awards)} awards, "
              f"{result.awards['power_kw'].sum():.0f} kW, cost {result.total_cost_eur:.2f} EUR; "
              f"{len(result.shortfalls)} shortfalls "
              f"({result.shortfalls['shortfall_kw'].sum():.0f} kW)")
        if len(result.shortfalls):
            kinds = (result.shortfalls["cause"]
                     .str.replace(r"\w+:\d+(, \w+:\d+)*", "<cps>", regex=True)
                     .str.split(r"[:(]", regex=True).str[0])
            print("causes  :", kinds.value_counts().to_dict())
        verdict = "OK" if total_s < target else "MISSED"
        print(f"time    : build {build_s:.3f} s, solve {result.solve_seconds:.3f} s, "
              f"total {total_s:.3f} s (target < {target:.0f} s: {verdict}; "
              f"ratio {total_s / target:.3f})")


def highspy_version() -> str:
    from importlib.metadata import version

    return version("highspy")


if __name__ == "__main__":
    main()
