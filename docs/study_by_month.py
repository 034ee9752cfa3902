"""The README's figure of a study by month: mean DSO cost and realised overload per day and
month, one line per design, from a study folder's ``kpis.parquet`` (``localflex study``).

    python docs/study_by_month.py runs/study-year docs/study-year-by-month.png

The study report (``report.html`` in the folder) shows the same monthly means interactively;
this draws them as one PNG for pages without JavaScript.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

PANELS = (("dso_cost_eur", "DSO cost (EUR/day)"),
          ("realised_overload_kwh", "overload reality leaves after day-ahead (kWh/day)"))


def main(study_dir: str, png: str) -> None:
    kpis = pd.read_parquet(Path(study_dir) / "kpis.parquet")
    kpis["month"] = pd.to_datetime(kpis["day"]).dt.month
    monthly = kpis.groupby(["design", "month"])[[k for k, _ in PANELS]].mean().reset_index()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 4.8), sharex=True)
    colors = plt.get_cmap("tab20").colors  # up to 20 designs, each its own colour
    for ax, (kpi, title) in zip(axes, PANELS, strict=True):
        for i, (design, part) in enumerate(monthly.groupby("design", sort=True)):
            ax.plot(part["month"], part[kpi], marker="o", markersize=3, linewidth=1.2,
                    label=design, color=colors[i % len(colors)])
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(1, 13))
        ax.set_xlabel("month")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    days = kpis["day"].nunique()
    fig.suptitle(f"{kpis['grid'].iloc[0]}: mean per day and month, {days} days, "
                 f"{kpis['design'].nunique()} designs (localflex study)", fontsize=11)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python docs/study_by_month.py STUDY_DIR OUT.png")
    main(sys.argv[1], sys.argv[2])
