"""``localflex study STUDY.yaml --out DIR``: market days under forecast error, swept over
designs, grids, parameters, seeds and date ranges, on Dask, with statistics (paper §7).

Runs every unfinished cell of the study (``localflex.study``) on a ``LocalCluster`` (one
worker process per core; ``--workers`` to change), in this process (``--scheduler
serial``) or on a running Dask scheduler (``--scheduler tcp://host:8786``), with a progress
bar over cells; then writes the statistics tables and ``report.html``. Exit code 0 when
every cell finished, 1 when some failed (their errors are in ``DIR/failed/``), 2 on bad
input (a bad study file names the key; an ``--out`` that is not a study folder of ours is
refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from localflex.cli._app import app, console, err_console, user_errors


@app.command()
def study(
    study_file: Annotated[Path, typer.Argument(help="study YAML file (examples/study_*.yaml)")],
    out: Annotated[Path, typer.Option("--out", help="study folder (created or resumed)")],
    scheduler: Annotated[str, typer.Option(
        "--scheduler", help="'local' (LocalCluster), 'serial', or a Dask scheduler address")]
    = "local",
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="LocalCluster worker processes (default: one per core)")]
    = None,
) -> None:
    """Run a study: every cell's days on Dask, then statistics and an HTML report."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from localflex.study.results import summarise
    from localflex.study.runner import run_study
    from localflex.study.schema import load_study

    with user_errors():
        spec, base_dir = load_study(study_file)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("cells", total=None)

            def on_start(total: int, todo: int) -> None:
                bar.update(task, total=total, completed=total - todo)

            def progress(summary: dict) -> None:
                bar.advance(task)
                if summary["status"] != "done":
                    err_console.print(f"cell {summary['cell_id']} failed: {summary['error']}")

            run = run_study(spec, out, base_dir=base_dir, scheduler=scheduler,
                            workers=workers, progress=progress, on_start=on_start)
        console.print(f"[bold]study[/] {spec.name}: {len(run.cells)} cells, "
                      f"{len(run.ran)} run now, {len(run.skipped)} already done, "
                      f"{len(run.failed)} failed")
        finished = [c for c in run.cells if c.cell_id not in run.failed]
        if finished:
            results = summarise(out, finished, title=f"localflex study {spec.name}")
            _print_headline(results.statistics)
            console.print(f"written: {', '.join(str(p) for p in results.files)}")
    if run.failed:
        err_console.print(f"{len(run.failed)} cells failed; errors in {out / 'failed'}; "
                          "rerun the same command to retry them")
        raise typer.Exit(code=1)


def _print_headline(statistics) -> None:
    from rich.table import Table

    table = Table(title="mean per day [95 % CI] over seeds and days", title_justify="left")
    for col in ("design", "DSO cost (EUR)", "residual overload (kWh)", "delivered share"):
        table.add_column(col, justify="left" if col == "design" else "right")
    keys = [c for c in statistics.columns if c not in {"kpi", "unit", "n", "mean", "std",
                                                       "ci_low", "ci_high", "n_seeds"}]
    for key, part in statistics.groupby(keys, sort=True):
        by = part.set_index("kpi")
        cells = []
        for kpi, fmt in (("dso_cost_eur", "{:,.2f}"), ("residual_overload_kwh", "{:,.2f}"),
                         ("delivered_share", "{:.3f}")):
            r = by.loc[kpi]
            cells.append(f"{fmt.format(r['mean'])} [{fmt.format(r['ci_low'])}, "
                         f"{fmt.format(r['ci_high'])}]")
        name = dict(zip(keys, key, strict=True))
        label = " ".join([name.pop("design"), *(f"{k.rsplit('.', 1)[-1]}={v}"
                                                for k, v in name.items()
                                                if k.startswith("param:"))])
        table.add_row(label, *cells)
    console.print(table)
