"""The tables and the report of a study folder, from its finished cells.

``summarise`` reads every finished cell of the study (``cells/*.parquet``), and writes
``kpis.parquet`` (one row per cell and day), ``statistics.csv``/``.parquet``
(``kpi_statistics``), ``paired.csv``/``.parquet`` (``paired_differences``) and
``report.html`` (``study.report``), each atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from localflex.safe_io import atomic_path
from localflex.study.report import write_report
from localflex.study.runner import read_kpis
from localflex.study.schema import Cell
from localflex.study.stats import kpi_statistics, paired_differences

__all__ = ["StudyResults", "summarise"]


@dataclass
class StudyResults:
    """The day rows, the statistics and the paired differences of a study."""

    kpis: pd.DataFrame
    statistics: pd.DataFrame
    paired: pd.DataFrame
    files: list[Path]


def summarise(out: Path, cells: list[Cell] | None = None, title: str = "study"
              ) -> StudyResults:
    """Write the study's tables and report into ``out`` (module docstring)."""
    out = Path(out)
    frame = read_kpis(out, cells)
    statistics = kpi_statistics(frame)
    paired = paired_differences(frame)
    files = []
    for name, table in (("kpis", frame), ("statistics", statistics), ("paired", paired)):
        with atomic_path(out / f"{name}.parquet") as tmp:
            table.to_parquet(tmp, index=False)
        files.append(out / f"{name}.parquet")
        if name != "kpis":
            with atomic_path(out / f"{name}.csv") as tmp:
                table.to_csv(tmp, index=False)
            files.append(out / f"{name}.csv")
    write_report(frame, statistics, paired, out / "report.html", title)
    files.append(out / "report.html")
    return StudyResults(frame, statistics, paired, files)
