"""Studies end to end: Dask equals serial, a killed worker loses or duplicates no cell, a
rerun skips finished cells, a failed cell is recorded while the others go on."""

import json
import os
import threading
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from study_builders import small_study
from typer.testing import CliRunner

from localflex.cli import app
from localflex.study import expand_cells, parse_study, read_kpis, run_study
from localflex.study.runner import run_cells


def test_common_random_numbers_and_settlement(serial_run):
    frame = serial_run.kpis()
    assert len(frame) == 2 * 2 * 2  # designs × seeds × days
    same_day = frame.groupby(["seed", "day"])
    # every design meets the same forecast and the same realisation (CRN) ...
    for kpi in ("forecast_overload_kwh", "load_forecast_error_kwh"):
        assert (same_day[kpi].max() == same_day[kpi].min()).all(), kpi
    # ... and the same draw of the DERs' error; the units' baseline it scales is the same on
    # the first day, later it starts from the state the design's dispatch of the day before
    # left (deliverable awards leave the units short of their limits, so designs differ)
    first = frame["day"] == frame["day"].min()
    err = frame.groupby(["seed", "day"])["forecast_error_kwh"]
    spread = (err.transform("max") - err.transform("min")).to_numpy()
    assert (spread[first.to_numpy()] == 0).all()
    assert (spread <= 1e-3 * frame["forecast_error_kwh"].to_numpy()).all()
    # different seeds draw different realisations
    assert frame.groupby("day")["forecast_error_kwh"].nunique().min() == 2
    # something was congested, bought, delivered and paid for
    assert frame["forecast_overload_kwh"].max() > 0
    assert (frame["awarded_kwh"] > 0).all() and (frame["delivered_kwh"] > 0).all()
    assert frame["dso_cost_eur"].max() > 0
    # cents: every money KPI is a whole number of cents (from the ledger)
    for kpi in ("dso_cost_eur", "tso_cost_eur", "brp_cost_eur", "aggregator_revenue_eur"):
        cents = frame[kpi].to_numpy() * 100
        assert np.allclose(cents, np.round(cents), atol=1e-6), kpi


def test_each_day_counts_its_power_flows(serial_run):
    """At least the forecast and reality of each of the 96 ISPs; the design's verification
    and the intraday rounds add only ISPs whose loads changed."""
    frame = serial_run.kpis()
    solved = frame["power_flow_isps"].to_numpy()
    assert (solved >= 2 * 96).all() and (solved == np.round(solved)).all()
    assert solved.max() > 2 * 96  # something was verified or cleared intraday


@pytest.mark.slow
def test_local_cluster_gives_the_serial_numbers(serial_run, tmp_path):
    run = run_study(parse_study(small_study()), tmp_path / "dask", scheduler="local",
                    workers=2)
    assert not run.failed and len(run.ran) == 4
    pd.testing.assert_frame_equal(read_kpis(run.out), serial_run.kpis(), check_exact=True)


def test_rerun_skips_finished_cells(serial_run):
    files = sorted((serial_run.out / "cells").glob("*.parquet"))
    stamps = [p.stat().st_mtime_ns for p in files]
    stale = serial_run.out / "cells" / f".{files[0].name}.k2j3.tmp"  # a killed worker's
    stale.write_bytes(b"half")
    again = run_study(parse_study(small_study()), serial_run.out, scheduler="serial")
    assert again.ran == [] and len(again.skipped) == 4 and not again.failed
    assert [p.stat().st_mtime_ns for p in files] == stamps
    assert not stale.exists()


@pytest.mark.slow
def test_killed_worker_loses_and_duplicates_no_cell(serial_run, tmp_path):
    from distributed import Client, LocalCluster

    study = parse_study(small_study())
    cells = expand_cells(study)
    out = tmp_path / "killed"
    (out / "cells").mkdir(parents=True)
    (out / "failed").mkdir()
    killed: list[str] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0", host="127.0.0.1") as cluster, \
            Client(cluster) as client:

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                busy = [w for w, tasks in client.processing().items() if tasks]
                if busy:
                    time.sleep(1.0)  # mid-cell
                    pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                    os.kill(pid, 9)
                    killed.append(busy[0])
                    return
                time.sleep(0.1)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        ran, skipped, failed = run_cells(cells, out, scheduler=cluster.scheduler_address)
        killer.join()
    assert killed, "no worker was killed"
    assert not failed and sorted(ran) == sorted(c.cell_id for c in cells) and not skipped
    written = sorted(p.name for p in (out / "cells").iterdir())
    assert written == sorted(f"{c.cell_id}.parquet" for c in cells)  # no temp files left
    pd.testing.assert_frame_equal(read_kpis(out), serial_run.kpis(), check_exact=True)


def test_failed_cell_is_recorded_and_the_others_go_on(tmp_path):
    bad_offer = {"aggregator": "large", "bus": 99999, "isp": 0, "direction": "up",
                 "power_kw": 5.0, "price_eur_per_mwh": 50.0}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(small_study(
        designs=["sequential_dso_first"], seeds=[1],
        dates=[{"start": "2016-06-21", "end": "2016-06-21"}],
        parameters={"market.extra_offers": [[], [bad_offer]]})))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["study", str(path), "--out", str(out),
                                      "--scheduler", "serial"])
    assert result.exit_code == 1, result.output
    failed = list((out / "failed").glob("*.json"))
    assert len(failed) == 1
    record = json.loads(failed[0].read_text())
    assert "market.extra_offers[0].bus" in record["error"]
    assert len(list((out / "cells").glob("*.parquet"))) == 1
    assert (out / "report.html").is_file() and (out / "statistics.csv").is_file()


def _worker_malloc_setting() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_local_workers_run_without_dasks_malloc_trim_threshold(monkeypatch):
    """Dask's default MALLOC_TRIM_THRESHOLD_ fixes glibc's mmap threshold and made area
    days 29 % slower; the study's own workers start without it (OMP threads still 1).
    (A nanny of Dask's defaults leaves the variable in its process's environment, where
    workers inherit it: an earlier test's cluster did, so it is removed here.)"""
    from distributed import Client

    from localflex.study.runner import local_cluster

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)

    with local_cluster(1) as cluster, Client(cluster) as client:
        trim = client.run(_worker_malloc_setting)
        omp = client.run(os.environ.get, "OMP_NUM_THREADS")
    assert list(trim.values()) == [None]
    assert list(omp.values()) == ["1"]
