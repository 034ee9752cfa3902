"""SimBench distribution grids and their yearly profiles, mapped onto a run's TimeGrid.

The grid is where the paper's DSO (§5, "Evolution of the DSO's role") meets flexibility: a
congestion point is a transformer or feeder of a real distribution grid. localflex uses the
open SimBench benchmark grids (pandapower nets with a year of 15-min load, PV/wind and storage
profiles for 2016) as those grids.

``load_simbench_grid(code)`` returns a ``GridModel``; ``GridModel.element_profiles_kw(time_grid)``
maps the run's ISPs onto the 2016 profiles by month, day and time of day (a scenario on
2030-06-21 12:00 UTC uses 2016-06-21 12:00), averaging the 15-min values over longer ISPs.
Only the *relative* SimBench profiles (a few dozen profile types) are kept; element powers
are the profile times the element's rated value, formed for the requested ISPs only (as
``simbench.get_absolute_values`` does for the whole year — which for a ``1-MVLV-*-all`` area
is 11,209 loads × 35,136 steps, ~3 GB per column). The loaded grid is stored once per
(SimBench version, code) on disk by ``localflex.grid.grid_cache``.
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
    "NetTables",
    "forget_loaded_grids",
    "grid_model",
    "known_codes",
    "load_simbench_grid",
    "pandapower_net",
    "profile_steps_of",
    "read_simbench",
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


class NetTables(dict):
    """A pandapower net's tables (DataFrames, std_types, ...) with attribute access, without
    pandapower itself: what the grid cache stores and loads in a fraction of a second
    (importing pandapower alone takes seconds). ``pandapower_net`` turns it into a real
    ``pandapowerNet`` where pandapower's own functions need one."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __deepcopy__(self, memo: dict) -> NetTables:
        import copy

        return NetTables({k: copy.deepcopy(v, memo) for k, v in self.items()})


def pandapower_net(net: Any) -> Any:
    """A deep-copied ``pandapowerNet`` of ``net`` (a pandapowerNet or ``NetTables``)."""
    import copy

    import pandapower as pp

    if not isinstance(net, NetTables):
        return copy.deepcopy(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        out = pp.create_empty_network()
    for key, value in net.items():
        if not key.startswith("_"):  # tables, std_types; not the solver's internal state
            out[key] = copy.deepcopy(value)
    return out


@dataclass(eq=False)
class GridModel:
    """A SimBench grid: the pandapower net (read-only by convention) and its year profiles.

    ``bus_ids`` is the order of every bus axis ``B`` in localflex grid arrays.
    ``relative_profiles`` are SimBench's relative profiles per table ("load", "renewables",
    "powerplants", "storage"; one column per profile type, 35,136 rows for 2016).
    Instances are cached and shared in-process (``load_simbench_grid``): do not mutate them;
    take ``pandapower_net(grid.net)`` to experiment. ``net`` is a ``pandapowerNet`` or, loaded
    from the grid cache, the same tables as ``NetTables``.
    """

    code: str
    net: Any
    bus_ids: np.ndarray
    relative_profiles: dict[str, pd.DataFrame]
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
    def _profile_factors(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per output array: relative profile matrix [35136, P] (float), the profile column of
        each element (-1 = none: factor 1) and the element's rated value in kW/kvar."""
        out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        sgen_rel = [self.relative_profiles[k] for k in ("powerplants", "renewables")
                    if k in self.relative_profiles]
        tables = {
            "load": self.relative_profiles.get("load"),
            "sgen": pd.concat(sgen_rel, axis=1) if sgen_rel else None,
            "storage": self.relative_profiles.get("storage"),
        }
        for element, column, suffix, name in (
            ("load", "p_mw", "_pload", "load_p_kw"),
            ("load", "q_mvar", "_qload", "load_q_kvar"),
            ("sgen", "p_mw", "", "sgen_p_kw"),
            ("storage", "p_mw", "", "storage_p_kw"),
        ):
            frame = self.net[element]
            rated = frame[column].to_numpy(dtype=float) * 1e3
            rel = tables[element]
            col_of = np.full(len(frame), -1, dtype=np.int64)
            if rel is None or "profile" not in frame or len(frame) == 0:
                out[name] = (np.zeros((PROFILE_STEPS, 0)), col_of, rated)
                continue
            rel = rel.loc[:, ~rel.columns.duplicated()]
            wanted = frame["profile"]
            has = wanted.notna().to_numpy()
            names = (wanted[has].astype(str) + suffix).to_numpy()
            missing = sorted(set(names) - set(rel.columns))
            if missing:
                raise GridError(f"grid {self.code!r}: {element} profiles {missing[:5]} are "
                                "missing from the SimBench profile tables")
            used, inverse = np.unique(names, return_inverse=True)
            col_of[has] = inverse
            mat = rel[list(used)].to_numpy(dtype=float)
            if mat.shape[0] != PROFILE_STEPS:
                raise GridError(
                    f"grid {self.code!r}: {element}.{column} profile has {mat.shape[0]} steps, "
                    f"expected {PROFILE_STEPS} (15-min steps of 2016)"
                )
            out[name] = (mat, col_of, rated)
        return out

    def element_profiles_kw(self, time_grid: TimeGrid) -> ElementProfiles:
        """Element powers for every ISP of ``time_grid`` (mean of the 15-min profile steps):
        relative profile × rated value; elements without a profile keep their rated value."""
        steps = profile_steps_of(time_grid)  # [T, k]
        arrays = {}
        for name, (mat, col_of, rated) in self._profile_factors.items():
            rel = mat[steps].mean(axis=1) if mat.shape[1] else np.zeros((len(steps), 0))
            values = np.ones((len(steps), col_of.size))
            has = col_of >= 0
            values[:, has] = rel[:, col_of[has]]
            arrays[name] = values * rated[None, :]
        return ElementProfiles(**arrays)


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


def _simbench_codes() -> list[str]:
    import simbench  # imports pandapower (~2 s)

    return sorted(simbench.collect_all_simbench_codes())


def known_codes() -> frozenset[str]:
    """Every SimBench grid code the installed simbench package knows; with the grid cache on,
    the list is kept next to its entries (``grid_cache.cached_codes``), so that a process
    checking a study's codes need not import simbench and pandapower."""
    from localflex.grid.grid_cache import cache_enabled, cached_codes

    if cache_enabled():
        return frozenset(cached_codes(_simbench_codes))
    return frozenset(_simbench_codes())


def read_simbench(code: str) -> tuple[Any, dict[str, pd.DataFrame]]:
    """The pandapower net of ``code`` (without its profile tables) and its relative profiles
    (numeric columns), read from the simbench package's CSV files."""
    import simbench

    with warnings.catch_warnings():
        # simbench/pandapower emit FutureWarnings from pandas while building the net
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        net = simbench.get_simbench_net(code)
    tables = net.pop("profiles", {}) or {}
    net.pop("loadcases", None)
    relative = {str(k): v.drop(columns=["time"], errors="ignore").astype(float)
                for k, v in tables.items()}
    return net, relative


def grid_model(code: str, net: Any, relative_profiles: dict[str, pd.DataFrame]) -> GridModel:
    bus_ids = net.bus.index.to_numpy(dtype=np.int64)
    bus_ids.setflags(write=False)
    return GridModel(code=code, net=net, bus_ids=bus_ids, relative_profiles=relative_profiles)


@lru_cache(maxsize=8)
def _load_cached(code: str, use_disk_cache: bool) -> GridModel:
    from localflex.grid.grid_cache import load_or_build

    if use_disk_cache:
        net, relative = load_or_build(code)
    else:
        net, relative = read_simbench(code)
    grid = grid_model(code, net, relative)
    # derived data of the grid (the Jacobian's AC model) may be stored in its cache entry
    grid.cache["disk_cache"] = bool(use_disk_cache)
    return grid


_LOADED: set[tuple[str, bool]] = set()
"""(code, use_cache) of the grids this process holds: loaded again without any check."""


def forget_loaded_grids() -> None:
    """Empty the in-process grid cache (the next load reads the disk cache or SimBench)."""
    _load_cached.cache_clear()
    _LOADED.clear()


def load_simbench_grid(code: str, *, use_cache: bool | None = None) -> GridModel:
    """The SimBench grid ``code`` with its profiles (cached in-process; treat as read-only).

    ``use_cache`` (default: ``grid_cache.cache_enabled()``, i.e. unless ``--no-cache`` or
    ``LOCALFLEX_GRID_CACHE=off``) reads/writes the on-disk grid cache.
    """
    from localflex.grid.grid_cache import cache_enabled, has_entry

    if use_cache is None:
        use_cache = cache_enabled()
    key = (code, bool(use_cache))
    if isinstance(code, str) and key in _LOADED:  # held in this process (a study's days)
        return _load_cached(*key)
    cached = isinstance(code, str) and use_cache and has_entry(code)
    if not cached and (not isinstance(code, str) or code not in known_codes()):
        raise UnknownGridCode(
            "grid.simbench_code",
            code,
            "a SimBench code such as '1-LV-rural1--2-sw' "
            "(see simbench.collect_all_simbench_codes())",
        )
    grid = _load_cached(code, bool(use_cache))
    _LOADED.add(key)
    return grid
