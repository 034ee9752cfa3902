"""The DSO's view of its grid inside the service: congestion points, forecast, sensitivities.

Paper §5: the DSO forecasts the loading of its congestion points per ISP and buys relief
where a point would be overloaded. The service loads one SimBench grid (``--grid CODE``)
with ``localflex.grid``; the forecast of an ISP is the power flow of the grid's own profiles
for the UTC day that contains it (SimBench profiles map by month, day and time of day, so any
year works), and the relief per kW at each bus comes from ``flow_sensitivity`` at the day's
peak ISP and ``relief_kw_per_kw_up`` — exactly what the simulator feeds the clearing.

The grid takes seconds to load, so it loads in a background thread; the congestion points
and bus ids are written to the store on first load, so a restarted service accepts
submissions at once and only clearing and traffic lights wait for the grid.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from localflex.domain import TimeGrid
from localflex.grid import (
    GridModel,
    bus_loads,
    congestion_points,
    flow_sensitivity,
    headroom_kw,
    load_simbench_grid,
    relief_kw_per_kw_up,
    run_power_flow,
)
from localflex.service.errors import GridNotReady
from localflex.store import Database
from localflex.store.models import CongestionPoint, GridInfo

__all__ = ["DayForecast", "GridNotReady", "GridState", "day_forecast", "sync_grid"]


@dataclass(frozen=True)
class DayForecast:
    """Forecast of one UTC day on ``isp_minutes`` ISPs: arrays [T, CP] and relief [T, CP, B]."""

    day: datetime
    isp_minutes: int
    cp_ids: np.ndarray
    loading_pct: np.ndarray
    max_loading_pct: np.ndarray
    headroom_kw: np.ndarray
    relief_kw_per_kw_up: np.ndarray
    bus_ids: np.ndarray

    def isp_of(self, isp_start: datetime) -> int:
        return int((isp_start - self.day).total_seconds() // (60 * self.isp_minutes))


def _day_of(isp_start: datetime) -> datetime:
    start = isp_start.astimezone(UTC)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


@lru_cache(maxsize=32)
def _day_forecast_cached(code: str, day: datetime, isp_minutes: int) -> DayForecast:
    grid = load_simbench_grid(code)
    time_grid = TimeGrid(day, 1440 // isp_minutes, isp_minutes)
    loads = bus_loads(grid, grid.element_profiles_kw(time_grid))
    result = run_power_flow(grid, loads)
    cps = congestion_points(grid)
    sens = flow_sensitivity(grid, loads)
    return DayForecast(
        day=day,
        isp_minutes=isp_minutes,
        cp_ids=cps["cp_id"].to_numpy().astype(str),
        loading_pct=result.cp_loading_pct,
        max_loading_pct=cps["max_loading_pct"].to_numpy(dtype=float),
        headroom_kw=headroom_kw(result, cps),
        relief_kw_per_kw_up=relief_kw_per_kw_up(sens, result),
        bus_ids=grid.bus_ids,
    )


def day_forecast(code: str, isp_start: datetime, isp_minutes: int) -> DayForecast:
    """The (cached) forecast of the UTC day containing ``isp_start``."""
    return _day_forecast_cached(code, _day_of(isp_start), isp_minutes)


def sync_grid(db: Database, grid: GridModel) -> None:
    """Write the grid's bus ids and congestion points to the store (once per grid code)."""
    with db.write() as session:
        if session.get(GridInfo, grid.code) is not None:
            return
        session.add(GridInfo(grid_code=grid.code, bus_ids=[int(b) for b in grid.bus_ids]))
        session.flush()
        cps: pd.DataFrame = congestion_points(grid)
        session.add_all(
            CongestionPoint(cp_id=row.cp_id, grid_code=grid.code, kind=row.kind,
                            name=row.name, rated_kva=float(row.rated_kva),
                            max_loading_pct=float(row.max_loading_pct))
            for row in cps.itertuples(index=False)
        )


class GridState:
    """The service's grid: loads it in the background; bus ids are known from the store."""

    def __init__(self, db: Database, code: str) -> None:
        self.db = db
        self.code = code
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._bus_ids: frozenset[int] | None = None
        self._thread: threading.Thread | None = None

    def start(self, *, background: bool = True) -> None:
        """Load the grid (raises UnknownGridCode at once for a bad code)."""
        import simbench

        if self.code not in simbench.collect_all_simbench_codes():
            load_simbench_grid(self.code)  # raises UnknownGridCode naming the field
        if background:
            self._thread = threading.Thread(target=self._load, name="localflex-grid",
                                            daemon=True)
            self._thread.start()
        else:
            self._load()

    def _load(self) -> None:
        try:
            grid = load_simbench_grid(self.code)
            try:
                sync_grid(self.db, grid)
            except IntegrityError:  # another worker wrote it first: it is there now
                sync_grid(self.db, grid)
        except BaseException as exc:  # reported by wait()
            self.error = exc
        finally:
            self.ready.set()

    def wait(self, timeout_s: float = 60.0) -> GridModel:
        if not self.ready.wait(timeout_s):
            raise GridNotReady(f"grid {self.code!r} is still loading; retry in a few seconds")
        if self.error is not None:
            raise GridNotReady(f"grid {self.code!r} failed to load: {self.error}")
        return load_simbench_grid(self.code)

    @property
    def bus_ids_known(self) -> bool:
        """Whether ``bus_ids()`` answers from memory (no store read, no wait)."""
        return self._bus_ids is not None

    def bus_ids(self) -> frozenset[int]:
        if self._bus_ids is None:
            with self.db.read() as session:
                info = session.get(GridInfo, self.code)
            if info is None:
                self.wait()
                with self.db.read() as session:
                    info = session.get(GridInfo, self.code)
            self._bus_ids = frozenset(int(b) for b in info.bus_ids)
        return self._bus_ids

    def cp_rows(self) -> list[CongestionPoint]:
        with self.db.read() as session:
            rows = session.scalars(select(CongestionPoint).where(
                CongestionPoint.grid_code == self.code).order_by(CongestionPoint.cp_id)).all()
        if not rows:
            self.wait()
            return self.cp_rows()
        return list(rows)

    def forecast(self, isp_start: datetime, isp_minutes: int) -> DayForecast:
        self.wait()
        return day_forecast(self.code, isp_start, isp_minutes)


def isp_end(isp_start: datetime, isp_minutes: int) -> datetime:
    return isp_start + timedelta(minutes=isp_minutes)
