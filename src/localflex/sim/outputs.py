"""The run folder: tables (Parquet and CSV), ``kpis.json`` and ``report.html``.

A run is the scenario's days in order (``localflex.sim.market_run``); the folder is written
as the days end, one day's frames in memory at a time: per-ISP and per-offer tables are
appended (ISPs counted over the whole run; with more than one day, offer ids start with
their day ``YYYY-MM-DD/`` so they stay unique), the summaries are running extremes and sums,
``kpis.json`` adds the days up (``kpis.combine_kpis``), and the report's charts show the day
with the most overload before the market. A one-day run writes what it always wrote.

A run folder is staged inside its final place and its files move in only when every file is
complete, the marker ``.localflex-run.json`` last, so a failed run never leaves a folder that
looks finished, and an existing folder is written only under the rules of
``localflex.safe_io`` (never a file localflex did not write).

Tables (each as ``NAME.parquet`` and ``NAME.csv``):

| table | one row per | columns |
|---|---|---|
| cp_loading | ISP × congestion point (*) | timestamp_utc, isp, cp_id, loading_before_pct, |
| | | loading_after_pct, overload_before_kw, overload_after_kw |
| bus_voltage | ISP × bus (*) | timestamp_utc, isp, bus, vm_before_pu, vm_after_pu |
| cp_summary | congestion point | cp_id, name, max_loading_pct, worst_loading_before_pct, |
| | | worst_loading_after_pct, overload_before_kwh, overload_after_kwh |
| bus_summary | bus | bus, vm_min_pu, vm_max_pu, vm_min_before_pu, vm_max_before_pu, |
| | | vm_min_after_pu, vm_max_after_pu, isps_violated_before, isps_violated_after |
| offers | offer | OFFER_COLUMNS |
| awards | award | AWARD_COLUMNS, round |
| shortfalls | uncovered need | cp_id, isp, need_kw, covered_kw, shortfall_kw, cause, round |
| merit_order | offer of round 1 | offer columns, accepted_kw, accepted, rank, status |
| payments | payment | payer, payee, isp, offer_id, amount_eur |
| der_units | DER unit | der_id, der_type, bus, aggregator_id |
| activations | unit × ISP with a change | timestamp_utc, isp, der_id, requested_kw, delivered_kw |

(*) Every point and bus when the grid has at most ``LONG_TABLE_MAX_ELEMENTS`` of them (LV and
MV grids); on a larger area (an MV grid with all its LV grids: ~9,000 of each, ~870,000 rows a
table) only the points and buses the DSO watches: the monitored set of the market day, plus
every point overloaded and every bus outside its band before or after. The summary tables
always hold every point and bus.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from localflex.grid import overload_kw
from localflex.safe_io import write_output_dir
from localflex.sim.engine import DayResult, voltage_violations
from localflex.sim.report import render_report, report_plots
from localflex.sim.scenario import Scenario

__all__ = ["LONG_TABLE_MAX_ELEMENTS", "run_tables", "write_run_folder"]

LONG_TABLE_MAX_ELEMENTS = 2_500
"""Grids with more congestion points (or buses) than this get per-ISP tables of the watched
ones only (see the module docstring)."""


def _watched(n: int, monitored: np.ndarray | None, outside: np.ndarray) -> np.ndarray:
    """Positions written to a per-ISP table: all when few, else monitored ∪ ever outside."""
    if n <= LONG_TABLE_MAX_ELEMENTS:
        return np.arange(n)
    chosen = outside.any(axis=0)
    if monitored is not None:
        chosen[monitored] = True
    return np.flatnonzero(chosen)


def run_tables(day: DayResult) -> dict[str, pd.DataFrame]:
    stamps = day.time_grid.isp_starts()
    n_isps = day.time_grid.n_isps
    hours = day.time_grid.isp_hours
    cps = day.congestion_points
    over_before, over_after = overload_kw(day.before, cps), overload_kw(day.after, cps)
    monitored = day.monitored
    cp_keep = _watched(len(cps), None if monitored is None else monitored.cp_pos,
                       (over_before > 0) | (over_after > 0))
    cp_loading = pd.DataFrame({
        "timestamp_utc": np.repeat(stamps, cp_keep.size),
        "isp": np.repeat(np.arange(n_isps), cp_keep.size),
        "cp_id": np.tile(cps["cp_id"].to_numpy()[cp_keep], n_isps),
        "loading_before_pct": day.before.cp_loading_pct[:, cp_keep].ravel(),
        "loading_after_pct": day.after.cp_loading_pct[:, cp_keep].ravel(),
        "overload_before_kw": over_before[:, cp_keep].ravel(),
        "overload_after_kw": over_after[:, cp_keep].ravel(),
    })
    cp_summary = pd.DataFrame({
        "cp_id": cps["cp_id"].to_numpy(),
        "name": cps["name"].to_numpy(),
        "max_loading_pct": cps["max_loading_pct"].to_numpy(),
        "worst_loading_before_pct": day.before.cp_loading_pct.max(axis=0),
        "worst_loading_after_pct": day.after.cp_loading_pct.max(axis=0),
        "overload_before_kwh": over_before.sum(axis=0) * hours,
        "overload_after_kwh": over_after.sum(axis=0) * hours,
    })
    bus_ids = day.grid.bus_ids
    limits = day.voltage_limits
    vm_before, vm_after = day.before.bus_vm_pu, day.after.bus_vm_pu
    out_before = voltage_violations(vm_before, limits)
    out_after = voltage_violations(vm_after, limits)
    bus_keep = _watched(bus_ids.size, None if monitored is None else monitored.bus_pos,
                        out_before | out_after)
    bus_voltage = pd.DataFrame({
        "timestamp_utc": np.repeat(stamps, bus_keep.size),
        "isp": np.repeat(np.arange(n_isps), bus_keep.size),
        "bus": np.tile(bus_ids[bus_keep], n_isps),
        "vm_before_pu": vm_before[:, bus_keep].ravel(),
        "vm_after_pu": vm_after[:, bus_keep].ravel(),
    })
    bus_summary = pd.DataFrame({
        "bus": bus_ids,
        "vm_min_pu": limits["vm_min_pu"].to_numpy(),
        "vm_max_pu": limits["vm_max_pu"].to_numpy(),
        "vm_min_before_pu": vm_before.min(axis=0),
        "vm_max_before_pu": vm_before.max(axis=0),
        "vm_min_after_pu": vm_after.min(axis=0),
        "vm_max_after_pu": vm_after.max(axis=0),
        "isps_violated_before": out_before.sum(axis=0),
        "isps_violated_after": out_after.sum(axis=0),
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
        "cp_summary": cp_summary,
        "bus_summary": bus_summary,
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


class _TableSink:
    """One table of a run folder, kept day by day as Parquet parts in the staging folder and
    written at the end, part by part, to ``NAME.parquet`` and ``NAME.csv`` (a run of many
    days never holds more than one day's rows of a table). Days whose columns differ (a
    column all empty on one day) are written on the union of their schemas."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder, self.name = folder, name
        self.parts = folder / f".{name}.parts"
        self.n_parts = 0
        self.empty: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame) -> None:
        frame = frame.reset_index(drop=True)
        if frame.empty:
            if self.empty is None or len(frame.columns) > len(self.empty.columns):
                self.empty = frame
            return
        self.parts.mkdir(exist_ok=True)
        frame.to_parquet(self.parts / f"{self.n_parts:06d}.parquet", index=False)
        self.n_parts += 1

    def close(self) -> None:
        parquet, csv = self.folder / f"{self.name}.parquet", self.folder / f"{self.name}.csv"
        if not self.n_parts:
            frame = self.empty if self.empty is not None else pd.DataFrame()
            frame.to_parquet(parquet, index=False)
            frame.to_csv(csv, index=False)
            return
        paths = [self.parts / f"{i:06d}.parquet" for i in range(self.n_parts)]
        schemas = [pq.read_schema(path) for path in paths]
        schema = (schemas[0] if all(s.equals(schemas[0], check_metadata=False)
                                    for s in schemas)
                  else pa.unify_schemas(schemas, promote_options="permissive"))
        with pq.ParquetWriter(parquet, schema) as writer:
            for i, path in enumerate(paths):
                table = pq.read_table(path)
                if not table.schema.equals(schema, check_metadata=False):
                    table = pa.table([table.column(f.name).cast(f.type)
                                      if f.name in table.column_names
                                      else pa.nulls(table.num_rows, f.type)
                                      for f in schema], schema=schema)
                writer.write_table(table)
                table.to_pandas().to_csv(csv, mode="a", header=i == 0, index=False)
                path.unlink()
        self.parts.rmdir()


class _Summaries:
    """``cp_summary`` and ``bus_summary`` over every day so far (extremes, sums)."""

    _CP_MAX = ("worst_loading_before_pct", "worst_loading_after_pct",
               "max_overload_before_kw", "max_overload_after_kw")
    _CP_SUM = ("overload_before_kwh", "overload_after_kwh")
    _BUS_MIN = ("vm_min_before_pu", "vm_min_after_pu")
    _BUS_MAX = ("vm_max_before_pu", "vm_max_after_pu")
    _BUS_SUM = ("isps_violated_before", "isps_violated_after")

    def __init__(self) -> None:
        self.cp: pd.DataFrame | None = None
        self.bus: pd.DataFrame | None = None

    def add(self, day: DayResult, cp: pd.DataFrame, bus: pd.DataFrame) -> None:
        cps = day.congestion_points
        cp = cp.assign(max_overload_before_kw=overload_kw(day.before, cps).max(axis=0),
                       max_overload_after_kw=overload_kw(day.after, cps).max(axis=0))
        if self.cp is None or self.bus is None:
            self.cp, self.bus = cp, bus
            return
        for col in self._CP_MAX:
            self.cp[col] = np.fmax(self.cp[col].to_numpy(), cp[col].to_numpy())
        for col in self._CP_SUM:
            self.cp[col] = self.cp[col].to_numpy() + cp[col].to_numpy()
        for col in self._BUS_MIN:
            self.bus[col] = np.fmin(self.bus[col].to_numpy(), bus[col].to_numpy())
        for col in self._BUS_MAX:
            self.bus[col] = np.fmax(self.bus[col].to_numpy(), bus[col].to_numpy())
        for col in self._BUS_SUM:
            self.bus[col] = self.bus[col].to_numpy() + bus[col].to_numpy()


def write_run_folder(days: Iterable[DayResult], scenario: Scenario, out_dir: str | Path, *,
                     overwrite: bool = False,
                     day_done: Callable[[DayResult], None] | None = None
                     ) -> tuple[Path, dict[str, Any]]:
    """Write the run of ``days`` (``sim.market_run.market_days``) into ``out_dir`` (all or
    nothing), following ``localflex.safe_io``: a new or empty folder, or with ``overwrite``
    an earlier localflex run folder, whose own files alone are replaced.

    Each day's tables are appended as the day ends (ISPs of the whole horizon; with more
    than one day, offer ids start with the day, ``YYYY-MM-DD/``), the summaries and KPIs
    (``kpis.combine_kpis``) cover every day; the report's charts show the day with the most
    overload before the market (the run's one day, when it has one). Returns the folder and
    the KPIs."""
    from localflex.sim.kpis import combine_kpis, compute_kpis
    from localflex.sim.market_run import shift_day

    result: dict[str, Any] = {}
    several = scenario.time.days > 1

    def write(staging: Path) -> None:
        tables = staging / "tables"
        tables.mkdir()
        sinks: dict[str, _TableSink] = {}
        summaries = _Summaries()
        day_kpis: list[dict[str, Any]] = []
        worst: tuple[float, str, str] | None = None  # overload before, day, its charts
        units_seen: set[str] = set()
        for k, day in enumerate(days):
            kpis = compute_kpis(day, exact=several)  # a run of days rounds its sums
            day_kpis.append(kpis)
            per_day = day.time_grid.n_isps
            prefix = f"{day.time_grid.start:%Y-%m-%d}/" if several else ""
            frames = run_tables(day)
            summaries.add(day, frames.pop("cp_summary"), frames.pop("bus_summary"))
            units = frames["der_units"]
            frames["der_units"] = units[~units["der_id"].isin(units_seen)]
            units_seen.update(units["der_id"].tolist())
            for name, frame in frames.items():
                if name not in sinks:
                    sinks[name] = _TableSink(tables, name)
                sinks[name].add(shift_day(frame, k, per_day, prefix))
            if worst is None or kpis["overload_energy_before_kwh"] > worst[0]:
                worst = (kpis["overload_energy_before_kwh"],
                         f"{day.time_grid.start:%Y-%m-%d}", report_plots(day))
            if day_done is not None:
                day_done(day)
        if worst is None or summaries.cp is None or summaries.bus is None:
            raise ValueError("a run has at least one day")
        for sink in sinks.values():
            sink.close()
        kpis = combine_kpis(day_kpis, summaries.cp, summaries.bus)
        cp_summary = summaries.cp.drop(columns=["max_overload_before_kw",
                                                "max_overload_after_kw"])
        for name, frame in (("cp_summary", cp_summary), ("bus_summary", summaries.bus)):
            frame.to_parquet(tables / f"{name}.parquet", index=False)
            frame.to_csv(tables / f"{name}.csv", index=False)
        (staging / "kpis.json").write_text(
            json.dumps(kpis, indent=2, default=_json_default), encoding="utf-8")
        note = (f"Charts: {worst[1]}, the day of the run with the most overload before the "
                "market." if several else "")
        (staging / "report.html").write_text(render_report(None, kpis, note, worst[2]),
                                             encoding="utf-8")
        (staging / "scenario.json").write_text(scenario.model_dump_json(indent=2),
                                               encoding="utf-8")
        result["kpis"] = kpis

    path = write_output_dir(Path(out_dir), write, overwrite=overwrite, command="run")
    return path, result["kpis"]
