"""Studies: a year of market days under forecast error, swept over designs, grids,
parameters and seeds, on Dask, with statistics (paper §7: "quantitative research on the
value gained by using one type of coordination or another is not available").

Modules: ``schema`` (the study file and its cells), ``day`` (one market day under forecast
error: day-ahead on the forecast, intraday on reality, delivery check and settlement),
``cell`` (a cell's days in order), ``runner`` (cells on Dask, one Parquet file per cell,
resumable), ``stats`` (means, 95 % intervals, paired differences under common random
numbers), ``report`` (the HTML report), ``results`` (tables and report of a study folder).

A cell carries from day to day the DERs' state (room and tank temperatures, stored energy of
batteries, heat and CHP stores, the need of EVs still plugged at midnight: ``Fleet.end_state``
-> ``prepare_market(der_states=)``) and,
with ``bidding.strategy``, the aggregators' bidding state (``aggregator.strategies``).

Limits of this version, stated once: EV sessions are drawn afresh per day, the same each day
(what a car has not charged by midnight carries into the next morning), the forecast
errors are those of ``der.forecast`` (its DER families and ``BACKGROUND_LOAD_ERROR`` for the
inflexible consumption: assumptions, not fitted), and the intraday market is the DSO's
clearing on the monitored points (the engine's sparse sensitivities), repeated on what the
check still shows up to ``market.max_rounds``, so a study day runs on a
``1-MVLV-*-all-2-sw`` area in memory that grows with offers x needs.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

_HOME = {  # name -> module: imported on first use, so that `localflex run` (which runs
    # study.day) does not pay for Dask, SciPy and the report (``__getattr__``, PEP 562)
    "run_cell": "cell", "DAY_KPIS": "day", "DayOutcome": "day", "run_day": "day",
    "StudyResults": "results", "summarise": "results", "StudyRun": "runner",
    "read_kpis": "runner", "run_study": "runner", "Cell": "schema", "Study": "schema",
    "StudyError": "schema", "expand_cells": "schema", "load_study": "schema",
    "parse_study": "schema", "kpi_statistics": "stats", "paired_differences": "stats",
}

if TYPE_CHECKING:
    from localflex.study.cell import run_cell
    from localflex.study.day import DAY_KPIS, DayOutcome, run_day
    from localflex.study.results import StudyResults, summarise
    from localflex.study.runner import StudyRun, read_kpis, run_study
    from localflex.study.schema import (
        Cell,
        Study,
        StudyError,
        expand_cells,
        load_study,
        parse_study,
    )
    from localflex.study.stats import kpi_statistics, paired_differences


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'localflex.study' has no attribute {name!r}")
    value = getattr(import_module(f"localflex.study.{_HOME[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DAY_KPIS",
    "Cell",
    "DayOutcome",
    "Study",
    "StudyError",
    "StudyResults",
    "StudyRun",
    "expand_cells",
    "kpi_statistics",
    "load_study",
    "paired_differences",
    "parse_study",
    "read_kpis",
    "run_cell",
    "run_day",
    "run_study",
    "summarise",
]
