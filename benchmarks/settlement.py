"""Benchmark: settle a year of 15-minute meter data (35,040 ISPs) for 10,000 metering points.

Paper §4.2 / §5.3 settlement at scale: baselines (nominated, High 5 of 10 with a capped
multiplicative same-day adjustment, rolling average, meter before/after in the event windows),
the delivery check of every award and the balanced ledger (availability, utilisation,
prosumer remuneration, perimeter-correction compensation, single-price imbalance).

Input: synthetic meters from the SimBench load profiles of ``1-LV-rural1--2-sw``
(``localflex.settlement.synthetic_meter_data``, seeded), the year 2023. Pools of 100 meters
(two BRPs, five aggregators) are activated UP 17:00–19:00 UTC on 50 weekdays after the first
two months: awards of 30 % of the pool's nominated baseline, delivered at 70–110 %.

Memory: 35,040 × 10,000 float64 is 2.8 GB per array; the data are float32 and settled in
chunks of 1,000 meters (pools never straddle a chunk), ~140 MB per [T, chunk] array.

Reference: a plain Python loop per meter, day and ISP computing the same High 5 of 10 with
adjustment and the rolling average (the bulk of the work), timed on a sample of meters and
days and extrapolated to 10,000 meters × 365 days — labelled as extrapolated. Target: < 30 s.

Run: ``python benchmarks/settlement.py [n_meters] [chunk]``
"""

from __future__ import annotations

import os
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd
from _machine import cpu_model  # benchmarks/_machine.py

from localflex.domain import TimeGrid
from localflex.settlement import (
    CompensationTerms,
    ImbalancePrices,
    Metering,
    SettlementOptions,
    meter_before_baseline,
    nominated_baseline,
    rolling_average_baseline,
    settle,
    synthetic_meter_data,
    x_of_y_baseline,
)

POOL = 100
EVENT = (68, 76)  # 17:00–19:00 UTC
LEAD = (60, 68)  # adjustment window: the two hours before



def event_days(tg: TimeGrid, rng: np.random.Generator) -> np.ndarray:
    dates = pd.date_range(tg.start, periods=tg.n_isps // 96, freq="D")
    eligible = np.flatnonzero((dates.dayofweek < 5) & (np.arange(dates.size) >= 60))
    return np.sort(rng.choice(eligible, 50, replace=False))


def baselines(load, nominated, tg, events):
    mask = np.zeros(tg.n_isps, dtype=bool)
    for d in events:
        mask[d * 96 + EVENT[0]: d * 96 + EVENT[1]] = True
    excl = np.zeros(tg.n_isps // 96, dtype=bool)
    excl[events] = True
    return {
        "nominated": nominated_baseline(nominated, tg),
        "high_5_of_10_mult": x_of_y_baseline(load, tg, x=5, y=10, exclude_days=excl,
                                             adjustment="multiplicative",
                                             adjustment_window=LEAD, cap=0.2),
        "rolling": rolling_average_baseline(load, tg, exclude_days=excl),
        "meter_before_after": meter_before_baseline(load, mask, after=True),
    }


def chunk_awards_and_metering(data, tg, events, rng, offset):
    n = data.n_meters
    pool = np.arange(n) // POOL
    unit_agg = np.array([f"agg{(offset + p) % 5}" for p in pool], dtype=object)
    unit_bus = offset + pool
    nominated = data.nominated_kw
    isps = (events[:, None] * 96 + np.arange(*EVENT)[None, :]).ravel()
    rows = []
    metered = data.load_kw.copy()
    for p in np.unique(pool):  # a loop over pools (10 per chunk), each a vector operation
        cols = np.flatnonzero(pool == p)
        award_kw = 0.3 * nominated[isps][:, cols].sum(axis=1)
        share = rng.uniform(0.7, 1.1, (isps.size, 1)).astype(np.float32)
        metered[isps[:, None], cols[None, :]] -= 0.3 * nominated[isps][:, cols] * share
        rows.append(pd.DataFrame({
            "offer_id": [f"p{offset + p}/t{t}" for t in isps], "aggregator_id": unit_agg[cols[0]],
            "bus": unit_bus[cols[0]], "isp": isps, "direction": "up",
            "power_kw": award_kw.astype(float), "price_eur_per_mwh": 150.0,
            "cost_eur": award_kw * 0.25 * 150.0 / 1000, "der_type": "mixed",
            "availability_eur": 0.5,
        }))
    metering = Metering(
        unit_id=np.array([f"m{offset * POOL + i}" for i in range(n)], dtype=object),
        unit_aggregator=unit_agg, unit_bus=unit_bus,
        unit_der_type=np.full(n, "mixed", dtype=object),
        unit_brp=np.where(np.arange(n) % 2 == 0, "BRP-1", "BRP-2").astype(object),
        baseline_kw=nominated, metered_kw=metered,
    )
    return pd.concat(rows, ignore_index=True), metering


def loop_reference(load: np.ndarray, weekend: np.ndarray, n_days: int) -> float:
    """Seconds for High 5 of 10 (+ multiplicative adjustment) and the rolling average,
    per meter, day and ISP in plain Python, on load[:, :k] for the first n_days days."""
    start = time.perf_counter()
    for m in range(load.shape[1]):
        series = load[:, m].tolist()
        rolling: dict[bool, list[float]] = {}
        seen: dict[bool, int] = {}
        for d in range(n_days):
            kind = bool(weekend[d])
            prev = [e for e in range(d - 1, -1, -1) if bool(weekend[e]) == kind][:10]
            if len(prev) >= 5:
                score = {e: sum(series[e * 96: e * 96 + 96]) / 96 for e in prev}
                top = sorted(prev, key=lambda e: -score[e])[:5]
                base = [sum(series[e * 96 + i] for e in top) / 5 for i in range(96)]
                num = sum(series[d * 96 + i] for i in range(*LEAD))
                den = sum(base[i] for i in range(*LEAD))
                factor = min(max(num / den if den > 0 else 1.0, 0.8), 1.2)
                _ = [b * factor for b in base]
            k = seen.get(kind, 0) + 1
            seen[kind] = k
            w = max(0.1, 1.0 / k)
            state = rolling.setdefault(kind, series[d * 96: d * 96 + 96])
            for i in range(96):
                state[i] += w * (series[d * 96 + i] - state[i])
    return time.perf_counter() - start


def main() -> None:
    n_meters = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    chunk -= chunk % POOL
    tg = TimeGrid.for_day("2023-01-01", days=365)
    from localflex.grid import load_simbench_grid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = load_simbench_grid("1-LV-rural1--2-sw")
    rng = np.random.default_rng(2024)
    events = event_days(tg, rng)
    t_data = t_base = t_settle = 0.0
    lines = awards_n = 0
    total_cents = 0
    by_rule: dict[str, int] = {}
    sample = None
    for offset in range(0, n_meters, chunk):
        size = min(chunk, n_meters - offset)
        t0 = time.perf_counter()
        data = synthetic_meter_data(grid, tg, size, np.random.default_rng([2024, offset]))
        awards, metering = chunk_awards_and_metering(data, tg, events,
                                                     np.random.default_rng([7, offset]),
                                                     offset // POOL)
        t1 = time.perf_counter()
        base = baselines(data.load_kw, data.nominated_kw, tg, events)
        t2 = time.perf_counter()
        options = SettlementOptions(
            compensation=CompensationTerms("perimeter_correction",
                                           day_ahead_price_eur_per_mwh=60.0),
            imbalance=ImbalancePrices("single", single_eur_per_mwh=80.0), prosumer_share=0.5)
        result = settle(awards, metering, tg, options)
        t3 = time.perf_counter()
        t_data += t1 - t0
        t_base += t2 - t1
        t_settle += t3 - t2
        lines += len(result.ledger)
        awards_n += len(awards)
        total_cents += int(result.ledger["amount_cents"].sum())
        for rule, count in result.ledger["rule"].value_counts().items():  # not timed
            by_rule[rule] = by_rule.get(rule, 0) + int(count)
        if sample is None:
            sample = data.load_kw[:, :3].astype(np.float64)
        del base, result, data, metering
    vectorised = t_base + t_settle
    from localflex.settlement import day_is_weekend

    sample_days = 60
    loop_s = loop_reference(sample, day_is_weekend(tg), sample_days)
    loop_full = loop_s / (3 * sample_days) * n_meters * 365

    print("benchmark: settlement of a year of 15-min meter data")
    print(f"machine: nproc={os.cpu_count()}, cpu={cpu_model()}, python "
          f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}")
    print(f"inputs: {n_meters:,} meters × {tg.n_isps:,} ISPs (float32, chunks of {chunk:,} "
          f"meters), {awards_n:,} awards (pools of {POOL}, 50 event days × 8 ISPs)")
    print(f"synthetic data generation (not timed below): {t_data:.1f} s")
    print("timed per chunk: the 4 baseline functions on the chunk's [T, chunk] load, then "
          "settle(awards, metering, time_grid, options) (delivery, prosumer payments, "
          "perimeter-correction compensation, single-price imbalance, ledger frames)")
    print(f"baselines (4 methods): {t_base:.1f} s")
    print(f"delivery + compensation + imbalance + ledger: {t_settle:.1f} s "
          f"({lines:,} ledger lines, sum {total_cents} cents)")
    print("ledger lines by rule: " + ", ".join(f"{r} {n:,}" for r, n in sorted(by_rule.items())))
    print(f"total (baselines + settlement): {vectorised:.1f} s  (target < 30 s)")
    print(f"reference: plain Python loop per meter/day/ISP for X-of-Y + rolling average: "
          f"{loop_s:.2f} s on 3 meters × {sample_days} days -> extrapolated "
          f"{loop_full:,.0f} s for {n_meters:,} meters × 365 days")
    print(f"ratio (extrapolated loop, baselines only / vectorised baselines): "
          f"{loop_full / t_base:,.0f}x")


if __name__ == "__main__":
    main()
