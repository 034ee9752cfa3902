"""The run folder: tables (Parquet and CSV), ``kpis.json`` and ``report.html``.

A run folder is staged inside its final place and its files move in only when every file is
complete, the marker ``.localflex-run.json`` last, so a failed run never leaves a folder that
looks finished, and an existing folder is written only under the rules of
``localflex.safe_io`` (never a file localflex did not write).

Tables (each as ``NAME.parquet`` and ``NAME.csv``):

| table | one row per | columns |
|---|---|---|
| cp_loading | ISP × congestion point | timestamp_utc, isp, cp_id, loading_before_pct, |
| | | loading_after_pct, overload_before_kw, overload_after_kw |
| bus_voltage | ISP × bus | timestamp_utc, isp, bus, vm_before_pu, vm_after_pu |
| offers | offer | OFFER_COLUMNS |
| awards | award | AWARD_COLUMNS, round |
| shortfalls | uncovered need | cp_id, isp, need_kw, covered_kw, shortfall_kw, cause, round |
| merit_order | offer of round 1 | offer columns, accepted_kw, accepted, rank, status |
| payments | payment | payer, payee, isp, offer_id, amount_eur |
| der_units | DER unit | der_id, der_type, bus, aggregator_id |
| activations | unit × ISP with a change | timestamp_utc, isp, der_id, requested_kw, delivered_kw |
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from localflex.grid import overload_kw
from localflex.safe_io import write_output_dir
from localflex.sim.engine import DayResult
from localflex.sim.report import render_report

__all__ = ["run_tables", "write_run_folder"]


def run_tables(day: DayResult) -> dict[str, pd.DataFrame]:
    stamps = day.time_grid.isp_starts()
    n_isps = day.time_grid.n_isps
    cps = day.congestion_points
    n_cp = len(cps)
    cp_loading = pd.DataFrame({
        "timestamp_utc": np.repeat(stamps, n_cp),
        "isp": np.repeat(np.arange(n_isps), n_cp),
        "cp_id": np.tile(cps["cp_id"].to_numpy(), n_isps),
        "loading_before_pct": day.before.cp_loading_pct.ravel(),
        "loading_after_pct": day.after.cp_loading_pct.ravel(),
        "overload_before_kw": overload_kw(day.before, cps).ravel(),
        "overload_after_kw": overload_kw(day.after, cps).ravel(),
    })
    bus_ids = day.grid.bus_ids
    bus_voltage = pd.DataFrame({
        "timestamp_utc": np.repeat(stamps, bus_ids.size),
        "isp": np.repeat(np.arange(n_isps), bus_ids.size),
        "bus": np.tile(bus_ids, n_isps),
        "vm_before_pu": day.before.bus_vm_pu.ravel(),
        "vm_after_pu": day.after.bus_vm_pu.ravel(),
    })
    env = day.envelope
    der_units = pd.DataFrame({
        "der_id": env.der_id.astype(str),
        "der_type": env.der_type.astype(str),
        "bus": env.bus,
        "aggregator_id": day.unit_aggregator.astype(str),
    })
    delivered = day.baseline_kw - day.realised_kw
    t, n = np.nonzero((np.abs(day.requested_delta_kw) > 1e-9) | (np.abs(delivered) > 1e-9))
    activations = pd.DataFrame({
        "timestamp_utc": stamps[t],
        "isp": t,
        "der_id": env.der_id.astype(str)[n],
        "requested_kw": day.requested_delta_kw[t, n],
        "delivered_kw": delivered[t, n],
    })
    offers = day.offers.drop(columns=["pool"], errors="ignore")
    merit = day.merit_order.drop(columns=["pool"], errors="ignore")
    return {
        "cp_loading": cp_loading,
        "bus_voltage": bus_voltage,
        "offers": offers,
        "awards": day.awards,
        "shortfalls": day.shortfalls,
        "merit_order": merit,
        "payments": day.payments,
        "der_units": der_units,
        "activations": activations,
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_run_folder(day: DayResult, kpis: dict[str, Any], out_dir: str | Path, *,
                     overwrite: bool = False) -> Path:
    """Write every output into ``out_dir`` (all or nothing), following ``localflex.safe_io``:
    a new or empty folder, or with ``overwrite`` an earlier localflex run folder, whose own
    files alone are replaced."""

    def write(staging: Path) -> None:
        tables = staging / "tables"
        tables.mkdir()
        for name, frame in run_tables(day).items():
            frame = frame.reset_index(drop=True)
            frame.to_parquet(tables / f"{name}.parquet", index=False)
            frame.to_csv(tables / f"{name}.csv", index=False)
        (staging / "kpis.json").write_text(
            json.dumps(kpis, indent=2, default=_json_default), encoding="utf-8")
        (staging / "report.html").write_text(render_report(day, kpis), encoding="utf-8")
        (staging / "scenario.json").write_text(
            day.scenario.model_dump_json(indent=2), encoding="utf-8")

    return write_output_dir(Path(out_dir), write, overwrite=overwrite, command="run")
