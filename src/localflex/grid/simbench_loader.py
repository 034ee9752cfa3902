"""SimBench distribution grids and their yearly profiles, mapped onto a run's TimeGrid.

The grid is where the paper's DSO (§5, "Evolution of the DSO's role") meets flexibility: a
congestion point is a transformer or feeder of a real distribution grid. localflex uses the
open SimBench benchmark grids (pandapower nets with a year of 15-min load, PV/wind and storage
profiles for 2016) as those grids.

``load_simbench_grid(code)`` returns a ``GridModel``; ``GridModel.element_profiles_kw(time_grid)``
maps the run's ISPs onto the 2016 profiles by month, day and time of day (a scenario on
2030-06-21 12:00 UTC uses 2016-06-21 12:00), averaging the 15-min values over longer ISPs.
The SimBench time stamps are used as they are (naive local time read as UTC): a profile
"day" of the study is the 2016 day with the same date.

Sign conventions are pandapower's, in kW: loads consume (+), static generators generate (+),
storage charges (+).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd

from localflex.domain.errors import GridError, HorizonError, InputError, UnknownGridCode
from localflex.domain.time_grid import TimeGrid

__all__ = [
    "PROFILE_STEPS",
    "PROFILE_STEP_MINUTES",
    "ElementProfiles",
    "GridModel",
    "load_simbench_grid",
    "profile_steps_of",
]

PROFILE_STEP_MINUTES = 15
PROFILE_STEPS = 366 * 96  # SimBench profiles: the leap year 2016 in 15-min steps (35,136)
_STEPS_PER_DAY = 1440 // PROFILE_STEP_MINUTES
# first day-of-year (0-based) of each month in 2016 (a leap year)
_MONTH_START_2016 = np.array([0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335])


@dataclass(frozen=True, slots=True)
class ElementProfiles:
    """Per-element powers on a TimeGrid, pandapower signs, kW/kvar; rows are ISPs.

    Columns follow the row order of ``net.load`` / ``net.sgen`` / ``net.storage``.
    """

    load_p_kw: np.ndarray  # [T, n_load], consumption +
    load_q_kvar: np.ndarray  # [T, n_load], consumption (inductive) +
    sgen_p_kw: np.ndarray  # [T, n_sgen], generation +
    storage_p_kw: np.ndarray  # [T, n_storage], charging +

    @property
    def n_isps(self) -> int:
        return int(self.load_p_kw.shape[0])


@dataclass(eq=False)
class GridModel:
    """A SimBench grid: the pandapower net (read-only by convention) and its year profiles.

    ``bus_ids`` is the order of every bus axis ``B`` in localflex grid arrays. ``profiles`` is
    the dict returned by ``simbench.get_absolute_values`` (MW/MVAr, 35,136 rows for 2016).
    Instances are cached and shared in-process (``load_simbench_grid``): do not mutate them;
    take ``copy.deepcopy(grid.net)`` to experiment.
    """

    code: str
    net: Any
    bus_ids: np.ndarray
    profiles: dict[tuple[str, str], pd.DataFrame]
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_buses(self) -> int:
        return int(self.bus_ids.size)

    def bus_index_of(self, bus_ids: np.ndarray | list[int] | int) -> np.ndarray:
        """Positions on the bus axis of pandapower bus indices; InputError names a bad bus."""
        wanted = np.atleast_1d(np.asarray(bus_ids))
        if wanted.size and not np.issubdtype(wanted.dtype, np.integer):
            raise InputError("bus", wanted.flat[0], "an integer pandapower bus index")
        order = np.argsort(self.bus_ids, kind="stable")
        pos = np.searchsorted(self.bus_ids, wanted, sorter=order)
        pos = np.clip(pos, 0, self.bus_ids.size - 1)
        found = order[pos]
        bad = self.bus_ids[found] != wanted
        if bad.any():
            raise InputError(
                "bus", int(wanted[bad][0]), f"a bus of grid {self.code!r} (net.bus.index)"
            )
        return found

    @cached_property
    def _profile_arrays_kw(self) -> dict[str, np.ndarray]:
        """Year profiles as float arrays [35136, n_element] in kW, columns in net row order."""
        out: dict[str, np.ndarray] = {}
        for (element, column), name in (
            (("load", "p_mw"), "load_p_kw"),
            (("load", "q_mvar"), "load_q_kvar"),
            (("sgen", "p_mw"), "sgen_p_kw"),
            (("storage", "p_mw"), "storage_p_kw"),
        ):
            index = self.net[element].index
            frame = self.profiles.get((element, column))
            if frame is None or frame.shape[1] == 0:
                static = self.net[element][column].to_numpy(dtype=float)
                arr = np.broadcast_to(static * 1e3, (PROFILE_STEPS, index.size))
            else:
                arr = frame.reindex(columns=index).to_numpy(dtype=float) * 1e3
                if np.isnan(arr).any():
                    # elements without a profile keep their static value
                    static = np.broadcast_to(
                        self.net[element][column].to_numpy(dtype=float) * 1e3, arr.shape
                    )
                    arr = np.where(np.isnan(arr), static, arr)
            if arr.shape[0] != PROFILE_STEPS:
                raise GridError(
                    f"grid {self.code!r}: {element}.{column} profile has {arr.shape[0]} steps, "
                    f"expected {PROFILE_STEPS} (15-min steps of 2016)"
                )
            out[name] = np.ascontiguousarray(arr)
        return out

    def element_profiles_kw(self, time_grid: TimeGrid) -> ElementProfiles:
        """Element powers for every ISP of ``time_grid`` (mean of the 15-min profile steps)."""
        steps = profile_steps_of(time_grid)  # [T, k]
        arrays = self._profile_arrays_kw
        return ElementProfiles(
            **{name: arr[steps].mean(axis=1) for name, arr in arrays.items()}
        )


def profile_steps_of(time_grid: TimeGrid) -> np.ndarray:
    """Indices [T, isp_minutes/15] into the 2016 15-min profiles for every ISP of the grid.

    Each 15-min sub-step is mapped by its own month, day and time of day, so a multi-day
    horizon may cross a month or a year end. Raises HorizonError when the ISP length is not a
    multiple of 15 min or the start is not on a 15-min boundary.
    """
    if time_grid.isp_minutes % PROFILE_STEP_MINUTES != 0:
        raise HorizonError(
            "time.isp_minutes",
            time_grid.isp_minutes,
            "a multiple of 15 minutes (SimBench profiles are 15-min values)",
        )
    start = pd.Timestamp(time_grid.start)
    if start.second or start.microsecond or start.nanosecond or start.minute % 15:
        raise HorizonError(
            "time.start", start.isoformat(), "a start on a 15-minute boundary (e.g. 00:15)"
        )
    per_isp = time_grid.isp_minutes // PROFILE_STEP_MINUTES
    n_steps = time_grid.n_isps * per_isp
    stamps = pd.date_range(start, periods=n_steps, freq=f"{PROFILE_STEP_MINUTES}min")
    month = stamps.month.to_numpy()
    day = stamps.day.to_numpy()
    step_of_day = (stamps.hour.to_numpy() * 60 + stamps.minute.to_numpy()) // PROFILE_STEP_MINUTES
    day_of_year = _MONTH_START_2016[month - 1] + day - 1
    index = day_of_year * _STEPS_PER_DAY + step_of_day
    return index.reshape(time_grid.n_isps, per_isp)


def _known_codes() -> frozenset[str]:
    import simbench

    return frozenset(simbench.collect_all_simbench_codes())


@lru_cache(maxsize=8)
def _load_cached(code: str) -> GridModel:
    import simbench

    with warnings.catch_warnings():
        # simbench/pandapower emit FutureWarnings from pandas while building the net
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        net = simbench.get_simbench_net(code)
        profiles = simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)
    bus_ids = net.bus.index.to_numpy(dtype=np.int64)
    bus_ids.setflags(write=False)
    return GridModel(code=code, net=net, bus_ids=bus_ids, profiles=profiles)


def load_simbench_grid(code: str) -> GridModel:
    """The SimBench grid ``code`` with its profiles (cached in-process; treat as read-only)."""
    if not isinstance(code, str) or code not in _known_codes():
        raise UnknownGridCode(
            "grid.simbench_code",
            code,
            "a SimBench code such as '1-LV-rural1--2-sw' "
            "(see simbench.collect_all_simbench_codes())",
        )
    return _load_cached(code)
