"""The Python surface of localflex: load a scenario or a study, run it, get DataFrames.

``import localflex as lf`` exposes these functions (lazily: importing ``localflex`` loads
none of the heavy modules). A notebook session::

    import localflex as lf

    scenario = lf.load_scenario("examples/demo.yaml")
    day = lf.run(scenario)                 # the market day of `localflex run`
    designs = lf.compare(scenario)         # every market design, one row each (DataFrame)

    study = lf.load_study("examples/study_quick.yaml")
    results = lf.run_study(study, "runs/quick", workers=2)
    results.statistics                     # mean and 95 % CI per design and KPI
    results.paired                         # paired differences between designs (CRN)
    results.kpis                           # one row per cell and day

Every function validates its input and raises a ``localflex.domain.LocalflexError``
subclass (``ScenarioError``, ``StudyError``, ...) naming the bad field.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from localflex.sim.engine import DayResult
    from localflex.sim.scenario import Scenario
    from localflex.study import Study, StudyResults

__all__ = [
    "compare",
    "designs",
    "kpi_statistics",
    "load_scenario",
    "load_study",
    "paired_differences",
    "run",
    "run_study",
    "study_results",
]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file (``localflex.sim.scenario``)."""
    from localflex.sim.scenario import load_scenario as _load

    return _load(path)


def load_study(source: str | Path | dict[str, Any]) -> Study:
    """A study from a YAML file or a mapping; a relative scenario path is resolved against
    the study file's folder, so the returned study runs from anywhere."""
    from localflex.study import load_study as _load
    from localflex.study import parse_study

    if isinstance(source, dict):
        return parse_study(source)
    study, base_dir = _load(source)
    if isinstance(study.scenario, str) and not Path(study.scenario).is_absolute():
        study = study.model_copy(update={"scenario": str(base_dir / study.scenario)})
    return study


def run(scenario: Scenario | str | Path) -> DayResult:
    """Simulate the scenario's market days (what ``localflex run`` computes, no files): the
    study loop's cell of the DSO's market day with a perfect forecast, DER state carried
    from day to day; several days come back joined into one result (all in memory)."""
    from localflex.sim.engine import simulate

    if not hasattr(scenario, "grid"):
        scenario = load_scenario(scenario)
    return simulate(scenario)


def designs() -> list[str]:
    """The names of the market designs (``localflex.market.designs.DESIGNS``)."""
    from localflex.market.designs import DESIGNS

    return list(DESIGNS)


def compare(scenario: Scenario | str | Path, names: str | list[str] = "all") -> pd.DataFrame:
    """Every (or the named) market design on the scenario's day: one row of KPIs each,
    as ``localflex compare`` prints (on the forecast; a study runs them on reality)."""
    import pandas as pd

    from localflex.market.designs import DesignParams, run_designs
    from localflex.sim.setup import design_input_from_setup, prepare_market

    if not hasattr(scenario, "grid"):
        scenario = load_scenario(scenario)
    params = DesignParams(dso_price_cap_eur_per_mwh=scenario.market.price_cap_eur_per_mwh)
    inp = design_input_from_setup(prepare_market(scenario), params, scenario.seed)
    rows = [{k: v for k, v in r.kpis.items() if k != "liquidity"}
            for r in run_designs(inp, names)]
    return pd.DataFrame(rows)


def run_study(study: Study | str | Path | dict[str, Any], out: str | Path, *,
              scheduler: str = "local", workers: int | None = None) -> StudyResults:
    """Run (or resume) a study into the folder ``out`` and return its tables.

    ``scheduler``: ``"local"`` (a Dask ``LocalCluster``, ``workers`` processes, default one
    per core), ``"serial"`` (this process) or a Dask scheduler address. Raises
    ``StudyError`` if a cell failed (the others are kept; rerun to retry)."""
    from localflex.study import StudyError, summarise
    from localflex.study import run_study as _run

    if not hasattr(study, "dates"):
        study = load_study(study)
    run_ = _run(study, Path(out), scheduler=scheduler, workers=workers)
    if run_.failed:
        cell, error = next(iter(run_.failed.items()))
        raise StudyError(f"cell {cell}", error, f"every cell to finish ({len(run_.failed)} "
                         f"failed; errors in {Path(out) / 'failed'})")
    finished = run_.cells
    return summarise(Path(out), finished, title=f"localflex study {study.name}")


def study_results(out: str | Path) -> StudyResults:
    """The tables of a study folder already run (reads its cells, writes its report)."""
    from localflex.study import summarise

    return summarise(Path(out))


def kpi_statistics(kpis: pd.DataFrame, names: list[str] | None = None) -> pd.DataFrame:
    """Mean and 95 % CI per design and KPI over seeds and days (``study.stats``)."""
    from localflex.study.stats import kpi_statistics as _stats

    return _stats(kpis, names)


def paired_differences(kpis: pd.DataFrame, names: list[str] | None = None) -> pd.DataFrame:
    """Paired differences between designs with their 95 % CI (``study.stats``)."""
    from localflex.study.stats import paired_differences as _paired

    return _paired(kpis, names)
