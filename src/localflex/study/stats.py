"""Statistics of a study: what a design is worth, with its uncertainty (paper §7).

Observations are study days: one row per (cell, day) with the ``DAY_KPIS``. A *group* is
everything that defines a scenario except the seed: grid, date range, the swept parameters
and the design. Within a group the observations are the (seed, day) pairs.

* ``kpi_statistics``: per group and KPI the mean, the standard deviation and the 95 %
  confidence interval of the mean, ``mean ± t(0.975, n−1) · s / √n`` over the n (seed, day)
  observations. ASSUMPTION: days are independent draws (each day has its own SimBench
  profiles and its own seeded forecast errors and requests); DER state does not carry across
  days in this version, so the loop itself adds no serial correlation, but weather does —
  read the intervals of long, contiguous ranges as somewhat narrow.
* ``paired_differences``: for every pair of designs, per KPI, the mean and 95 % interval of
  the per-observation difference ``A − B`` on the same (grid, range, parameters, seed, day).
  Common random numbers (every design meets the same requests, forecast errors and
  realisations) make these intervals much narrower than the difference of two
  independent means; ``significant`` says whether the interval excludes 0.

NaN observations (e.g. a delivered share on a day without awards) are left out per KPI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from localflex.study.day import DAY_KPIS

__all__ = ["group_columns", "kpi_statistics", "paired_differences"]


def group_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that define a scenario apart from the seed (design last)."""
    params = sorted(c for c in frame.columns if c.startswith("param:"))
    return ["grid", "date_range", *params, "design"]


def _ci(values: pd.Series) -> tuple[int, float, float, float, float]:
    x = values.to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return 0, np.nan, np.nan, np.nan, np.nan
    mean = float(x.mean())
    if n == 1:
        return 1, mean, np.nan, np.nan, np.nan
    sd = float(x.std(ddof=1))
    half = float(_st.t.ppf(0.975, n - 1) * sd / np.sqrt(n))
    return n, mean, sd, mean - half, mean + half


def _kpis(frame: pd.DataFrame, kpis: list[str] | None) -> list[str]:
    return [k for k in (kpis or list(DAY_KPIS)) if k in frame.columns]


def kpi_statistics(frame: pd.DataFrame, kpis: list[str] | None = None) -> pd.DataFrame:
    """Long table: group columns, ``kpi``, ``unit``, ``n``, ``mean``, ``std``,
    ``ci_low``, ``ci_high`` (95 %), ``n_seeds``."""
    groups = group_columns(frame)
    rows = []
    for key, part in frame.groupby(groups, sort=False, dropna=False):
        names = dict(zip(groups, key if isinstance(key, tuple) else (key,), strict=True))
        for kpi in _kpis(frame, kpis):
            n, mean, sd, lo, hi = _ci(part[kpi])
            rows.append({**names, "kpi": kpi, "unit": DAY_KPIS.get(kpi, ("", ""))[0],
                         "n": n, "mean": mean, "std": sd, "ci_low": lo, "ci_high": hi,
                         "n_seeds": int(part["seed"].nunique())})
    return pd.DataFrame(rows)


def paired_differences(frame: pd.DataFrame, kpis: list[str] | None = None) -> pd.DataFrame:
    """Long table: scenario columns, ``design_a``, ``design_b``, ``kpi``, ``n``,
    ``mean_diff`` (A − B), ``ci_low``, ``ci_high`` (95 %), ``significant``."""
    groups = group_columns(frame)[:-1]
    designs = list(dict.fromkeys(frame["design"]))
    keys = [*groups, "seed", "day"]
    rows = []
    for scen_key, part in frame.groupby(groups, sort=False, dropna=False):
        names = dict(zip(groups, scen_key if isinstance(scen_key, tuple) else (scen_key,),
                         strict=True))
        wide = {d: part[part["design"] == d].set_index(keys) for d in designs}
        for i, a in enumerate(designs):
            for b in designs[i + 1:]:
                if wide[a].empty or wide[b].empty:
                    continue
                common = wide[a].index.intersection(wide[b].index)
                for kpi in _kpis(frame, kpis):
                    diff = wide[a].loc[common, kpi] - wide[b].loc[common, kpi]
                    n, mean, _sd, lo, hi = _ci(diff)
                    rows.append({**names, "design_a": a, "design_b": b, "kpi": kpi,
                                 "unit": DAY_KPIS.get(kpi, ("", ""))[0], "n": n,
                                 "mean_diff": mean, "ci_low": lo, "ci_high": hi,
                                 "significant": bool(np.isfinite(lo) and (lo > 0 or hi < 0))})
    return pd.DataFrame(rows)
