"""Statistics: the 95 % interval of a mean and of paired differences (CRN)."""

import numpy as np
import pandas as pd
from scipy import stats

from localflex.study import kpi_statistics, paired_differences
from localflex.study.report import study_report_html


def _frame(rng, n_seeds=3, n_days=10):
    rows = []
    for seed in range(n_seeds):
        for d in range(n_days):
            common = rng.normal(100.0, 30.0)  # the day's weather: shared by both designs
            for design, shift in (("a", 0.0), ("b", 2.0)):
                rows.append({"cell_id": f"{design}-{seed}", "design": design, "grid": "g",
                             "date_range": "r", "param:x": 1, "seed": seed,
                             "day": pd.Timestamp("2016-01-01") + pd.Timedelta(days=d),
                             "dso_cost_eur": common + shift + rng.normal(0.0, 0.5),
                             "residual_overload_kwh": abs(common) / 10.0,
                             "delivered_share": np.nan})
    return pd.DataFrame(rows)


def test_mean_and_interval_match_the_t_distribution():
    frame = _frame(np.random.default_rng(0))
    table = kpi_statistics(frame, ["dso_cost_eur", "delivered_share"])
    row = table[(table["design"] == "a") & (table["kpi"] == "dso_cost_eur")].iloc[0]
    x = frame.loc[frame["design"] == "a", "dso_cost_eur"].to_numpy()
    lo, hi = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert row["n"] == 30 and row["n_seeds"] == 3
    assert np.isclose(row["mean"], x.mean()) and np.isclose(row["ci_low"], lo)
    assert np.isclose(row["ci_high"], hi)
    empty = table[(table["design"] == "a") & (table["kpi"] == "delivered_share")].iloc[0]
    assert empty["n"] == 0 and np.isnan(empty["mean"])


def test_paired_differences_see_what_unpaired_intervals_hide():
    frame = _frame(np.random.default_rng(1))
    paired = paired_differences(frame, ["dso_cost_eur"]).iloc[0]
    assert (paired["design_a"], paired["design_b"]) == ("a", "b")
    assert paired["ci_low"] < -2.0 < paired["ci_high"] and paired["significant"]
    assert paired["ci_high"] - paired["ci_low"] < 1.0
    table = kpi_statistics(frame, ["dso_cost_eur"]).set_index("design")
    # the unpaired intervals overlap: without CRN the 2 EUR would be noise
    assert table.loc["a", "ci_high"] > table.loc["b", "ci_low"]


def test_report_is_one_page_with_the_plots():
    frame = _frame(np.random.default_rng(2))
    page = study_report_html(frame, kpi_statistics(frame), paired_differences(frame), "t")
    assert page.startswith("<!doctype html>") and page.count("plotly-graph-div") >= 4
    assert "DSO cost vs residual overload" in page
