"""Run a study's cells on Dask, one Parquet file per cell, resumable.

Cells are independent tasks (``client.map``); each task runs its cell and writes its own
``cells/<cell_id>.parquet`` atomically (a temporary file in the same folder, then
``os.replace``), so a worker killed mid-cell leaves no half file and a cell rescheduled on
another worker writes the same file once. The client gathers only small summaries. A cell
that raises is recorded in ``failed/<cell_id>.json`` with its error and the others go on; a
rerun skips every cell whose Parquet file exists and retries the failed ones.

Schedulers: ``"local"`` (a ``LocalCluster`` with one single-threaded worker process per
core), ``"serial"`` (in this process, for debugging and as the reference of the tests) or
the address of a running Dask scheduler (``tcp://host:8786``) — e.g. one started by
``dask_jobqueue.SLURMCluster`` on an HPC cluster (README, Studies).

The output folder is marked with ``.localflex-study.json``; a folder that is not empty and
has no such mark is refused, and only files this module created are ever replaced or removed.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from localflex.safe_io import atomic_path, write_bytes_atomic
from localflex.study.schema import Cell, Study, StudyError, expand_cells

__all__ = ["LOCAL_WORKER_CONFIG", "MARK", "StudyRun", "local_cluster", "prepare_out_dir",
           "run_cells", "run_study"]

MARK = ".localflex-study.json"
CONNECT_TIMEOUT_S = 10
"""How long to try reaching a Dask scheduler given by address."""
LOCAL_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
"""Dask's configuration for the workers of the ``LocalCluster``: without Dask's default
``MALLOC_TRIM_THRESHOLD_``. Setting glibc's trim threshold also fixes its mmap threshold at
128 KiB, so every array a day allocates above that (the [ISP x unit] and [ISP x bus]
arrays of an area) is a fresh, page-faulted mapping: a cell of area days ran 29 % slower
with it (the same cell serially, with and without the variable). Workers keep the memory
they freed for the next day instead of handing it back. A variable already in this
process's environment is inherited as Dask does (set by the user, or left there by an
earlier nanny of Dask's defaults in this process). On a cluster of your own, set the same
key in your Dask configuration (README, Studies)."""


@dataclass
class StudyRun:
    """What a study run did: its folder, the cells run now, skipped and failed."""

    out: Path
    cells: list[Cell]
    ran: list[str]
    skipped: list[str]
    failed: dict[str, str]

    def kpis(self) -> pd.DataFrame:
        """All finished cells' day rows (``read_kpis``)."""
        return read_kpis(self.out)


def prepare_out_dir(out: Path, study: Study) -> None:
    """Create or reuse ``out`` as this study's folder; refuse anything else (StudyError)."""
    out = Path(out)
    mark = out / MARK
    if out.exists() and not out.is_dir():
        raise StudyError("--out", str(out), "a folder (this is a file)")
    if out.is_dir() and any(out.iterdir()):
        if not mark.is_file():
            raise StudyError("--out", str(out),
                             f"an empty folder or a study folder of localflex (no {MARK})")
        try:
            name = json.loads(mark.read_text(encoding="utf-8")).get("study")
        except (ValueError, AttributeError):
            raise StudyError("--out", str(mark), "a readable localflex study mark") from None
        if name != study.name:
            raise StudyError("--out", str(out),
                             f"the folder of study {study.name!r} (it holds study {name!r})")
    (out / "cells").mkdir(parents=True, exist_ok=True)
    (out / "failed").mkdir(exist_ok=True)
    for folder, kind in (("cells", "parquet"), ("failed", "json")):
        for stale in (out / folder).glob(f".*.{kind}.*.tmp"):  # a killed worker's (ours)
            stale.unlink(missing_ok=True)
    if not mark.is_file():
        write_bytes_atomic(mark, json.dumps({"study": study.name, "format": 1}).encode())


def cell_path(out: Path, cell_id: str) -> Path:
    return Path(out) / "cells" / f"{cell_id}.parquet"


def failed_path(out: Path, cell_id: str) -> Path:
    return Path(out) / "failed" / f"{cell_id}.json"


def run_and_write(cell: Cell, out: str) -> dict[str, Any]:
    """The task of one cell: run it, write its Parquet file or its error. Never raises for
    an error of the cell itself. The cell's power flows run on one thread on every
    scheduler: the cells are the parallel unit (two workers of two threads each on two cores
    would only contend), and power-grid-model's answers move in the last digits (~1e-10)
    with its thread count, so a study gives the same numbers on any scheduler."""
    from localflex.grid import power_flow_threads
    from localflex.study.cell import run_cell

    out_dir = Path(out)
    try:
        with power_flow_threads(1):
            frame = run_cell(cell)
    except Exception as exc:  # recorded, the study goes on
        record = {"cell_id": cell.cell_id, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()}
        write_bytes_atomic(failed_path(out_dir, cell.cell_id), json.dumps(record).encode())
        return {"cell_id": cell.cell_id, "status": "failed", "error": record["error"]}
    with atomic_path(cell_path(out_dir, cell.cell_id)) as tmp:
        frame.to_parquet(tmp, index=False)
    failed_path(out_dir, cell.cell_id).unlink(missing_ok=True)
    return {"cell_id": cell.cell_id, "status": "done", "days": len(frame)}


def _serial(cells: list[Cell], out: Path) -> Iterable[dict[str, Any]]:
    for cell in cells:
        yield run_and_write(cell, str(out))


def local_cluster(workers: int):
    """The study's ``LocalCluster``: ``workers`` single-threaded worker processes with
    ``LOCAL_WORKER_CONFIG``. The scheduler serves metrics over HTTP even without a
    dashboard: on a free loopback port, so two studies (or a study and its tests) on one
    machine do not collide."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(LOCAL_WORKER_CONFIG):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address="127.0.0.1:0", host="127.0.0.1")


def _on_dask(cells: list[Cell], out: Path, scheduler: str, workers: int | None
             ) -> Iterable[dict[str, Any]]:
    from distributed import Client, as_completed

    cluster = None
    if scheduler == "local":
        cluster = local_cluster(workers or os.cpu_count() or 1)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise StudyError("--scheduler", scheduler,
                             "'local', 'serial' or the address of a running Dask scheduler "
                             f"(tcp://host:port): {type(exc).__name__}") from None
    try:
        futures = client.map(run_and_write, cells, out=str(out), pure=False,
                             key=[f"cell-{c.cell_id}" for c in cells])
        by_key = {f.key: c for f, c in zip(futures, cells, strict=True)}
        for future in as_completed(futures):
            cell = by_key[future.key]
            try:
                yield future.result()
            except Exception as exc:  # e.g. KilledWorker: the cell's task died too often
                error = f"{type(exc).__name__}: {exc}"
                write_bytes_atomic(failed_path(out, cell.cell_id),
                              json.dumps({"cell_id": cell.cell_id, "error": error}).encode())
                yield {"cell_id": cell.cell_id, "status": "failed", "error": error}
    finally:
        client.close()
        if cluster is not None:
            # our own workers are stopped on purpose: the connection errors and "still
            # alive, killing" warnings Dask logs while they go are not the user's concern
            dask_log = logging.getLogger("distributed")
            level = dask_log.level
            dask_log.setLevel(logging.CRITICAL)
            try:
                cluster.close()
            finally:
                dask_log.setLevel(level)


def run_cells(
    cells: list[Cell],
    out: Path,
    *,
    scheduler: str = "local",
    workers: int | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[list[str], list[str], dict[str, str]]:
    """Run the cells not finished yet; returns (ran, skipped, failed {id: error})."""
    todo = [c for c in cells if not cell_path(out, c.cell_id).is_file()]
    skipped = [c.cell_id for c in cells if cell_path(out, c.cell_id).is_file()]
    ran: list[str] = []
    failed: dict[str, str] = {}
    if todo:
        stream = (_serial(todo, out) if scheduler == "serial"
                  else _on_dask(todo, out, scheduler, workers))
        for summary in stream:
            if summary["status"] == "done":
                ran.append(summary["cell_id"])
            else:
                failed[summary["cell_id"]] = summary["error"]
            if progress is not None:
                progress(summary)
    return ran, skipped, failed


def _cell_index(cells: list[Cell]) -> pd.DataFrame:
    return pd.DataFrame([{**c.meta(), "days": len(c.days())} for c in cells])


def run_study(
    study: Study,
    out: Path,
    *,
    base_dir: Path | None = None,
    scheduler: str = "local",
    workers: int | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> StudyRun:
    """Expand the study, prepare ``out`` and run every unfinished cell (module docstring).

    ``on_start(n_cells, n_todo)`` is told the counts before the first cell runs."""
    out = Path(out)
    cells = expand_cells(study, base_dir)
    prepare_out_dir(out, study)
    write_bytes_atomic(out / "study.json",
                  json.dumps(study.model_dump(mode="json"), indent=2).encode())
    index = _cell_index(cells)
    with atomic_path(out / "cells.csv") as tmp:
        index.to_csv(tmp, index=False)
    if on_start is not None:
        done = sum(cell_path(out, c.cell_id).is_file() for c in cells)
        on_start(len(cells), len(cells) - done)
    ran, skipped, failed = run_cells(cells, out, scheduler=scheduler, workers=workers,
                                     progress=progress)
    return StudyRun(out, cells, ran, skipped, failed)


def read_kpis(out: Path, cells: list[Cell] | None = None) -> pd.DataFrame:
    """Day rows of the finished cells of ``out`` (of ``cells`` only, if given), sorted."""
    out = Path(out)
    paths = ([cell_path(out, c.cell_id) for c in cells] if cells is not None
             else sorted((out / "cells").glob("*.parquet")))
    frames = [pd.read_parquet(p) for p in paths if p.is_file()]
    if not frames:
        raise StudyError("--out", str(out), "a study folder with at least one finished cell")
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["cell_id", "day"], kind="stable").reset_index(drop=True)
