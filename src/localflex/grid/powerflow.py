"""Net bus loads and the batch AC power flow over all ISPs of a horizon.

Paper §5: to buy flexibility for congestion management the DSO must first know, per ISP, which
congestion points are overloaded and by how much, and afterwards check that the activated
flexibility removed the congestion. Both are power flows: ``run_power_flow`` solves all ISPs
in one power-grid-model batch (symmetric; engine "pgm"), or, as the slow reference,
pandapower ``runpp`` ISP by ISP (engine "pandapower").

The PGM batch uses the iterative-current method: the admittance matrix is factorised once
per batch and reused by every ISP and iteration, about twice as fast as Newton–Raphson on a
radial MV/LV area (``benchmarks/``) with the same answer to the tolerance (1e-8 p.u.); a
chunk whose ISPs it cannot solve is solved again with Newton–Raphson before anything is
reported as not converged. ``power_flow_threads`` sets how many threads a batch may use
(default all cores; a study's Dask worker solves its cell on one thread, the cells being
the parallel unit).

Input is ``BusLoads``: net consumption per bus (load − generation + storage charging), kW and
kvar, shape [T, B] on the grid's bus axis. The simulator adds DER redispatch as per-bus
deltas to it. Loadings follow pandapower's definitions (line: max(i_from, i_to) /
(max_i_ka·df·parallel); transformer: trafo_loading="current", max over both sides of
i·vn_side·√3 / (sn_mva·parallel·df)).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from power_grid_model import ComponentType, DatasetType, PowerGridModel, initialize_array
from power_grid_model.errors import PowerGridBatchError, PowerGridError

from localflex.domain.errors import GridError, InputError
from localflex.grid.congestion import congestion_points
from localflex.grid.flows import BusLoads, PowerFlowResult
from localflex.grid.pgm_model import PgmNetwork, build_pgm_network
from localflex.grid.simbench_loader import ElementProfiles, GridModel, pandapower_net

__all__ = [
    "ENGINES",
    "BusLoads",
    "PowerFlowResult",
    "bus_loads",
    "iter_pgm_batch",
    "pgm_network",
    "power_flow_threads",
    "rerun_power_flow",
    "run_power_flow",
    "solve_pgm_batch",
    "solved_power_flows",
]

ENGINES = ("pgm", "pandapower")
DEFAULT_CHUNK_ISPS = 4096
PGM_METHODS = ("iterative_current", "newton_raphson")
"""PGM calculation methods of a batch, in the order tried."""
_THREADS = threading.local()  # PGM ``threading`` of this thread's batches (default 0 = all)
_SOLVED = threading.local()  # PGM scenarios (ISPs, perturbations) solved by this thread


def solved_power_flows() -> int:
    """Power-flow scenarios (one ISP or one perturbation each) this thread has solved with
    power-grid-model so far: a study day reports the difference as its power-flow work."""
    return getattr(_SOLVED, "scenarios", 0)


@contextmanager
def power_flow_threads(n: int) -> Iterator[None]:
    """Power-flow batches inside the block use ``n`` threads (0: all cores, 1: this one)."""
    if not (isinstance(n, int) and n >= 0):
        raise InputError("threads", n, "0 (all cores) or a positive number of threads")
    before = getattr(_THREADS, "pgm", 0)
    _THREADS.pgm = -1 if n == 1 else n  # PGM: -1 = sequential
    try:
        yield
    finally:
        _THREADS.pgm = before


def _incidence(grid: GridModel) -> dict[str, np.ndarray | sp.csr_array]:
    """Element → bus-axis matrices [n_element, B] (sparse) with in_service·scaling weights."""
    cached = grid.cache.get("incidence")
    if cached is None:
        cached = {}
        for element in ("load", "sgen", "storage"):
            frame = grid.net[element]
            n = len(frame)
            if n:
                pos = grid.bus_index_of(frame["bus"].to_numpy(dtype=np.int64))
                weight = frame["in_service"].astype(bool).to_numpy() * frame[
                    "scaling"
                ].fillna(1.0).to_numpy(dtype=float)
                mat = sp.csr_array((weight, (np.arange(n), pos)), shape=(n, grid.n_buses))
            else:
                mat = sp.csr_array((0, grid.n_buses))
            cached[element] = mat
            cached[f"{element}_q_kvar"] = (
                frame["q_mvar"].fillna(0.0).to_numpy(dtype=float) * 1e3
                if n else np.zeros(0)
            )
        grid.cache["incidence"] = cached
    return cached


def bus_loads(grid: GridModel, profiles: ElementProfiles) -> BusLoads:
    """Net load per bus: load − sgen + storage (p), load − sgen_q + storage_q (q).

    Elements are weighted by ``in_service`` and ``scaling`` as pandapower does. Static
    generators' and storages' reactive power is their (constant) ``q_mvar`` of the net
    (sgen: generator sign, storage: load sign; zero in SimBench).
    """
    inc = _incidence(grid)
    t = profiles.n_isps
    def per_bus(values: np.ndarray, element: str) -> np.ndarray:
        return np.asarray((inc[element].T @ np.asarray(values).T).T)  # [T, B]

    p = (
        per_bus(profiles.load_p_kw, "load")
        - per_bus(profiles.sgen_p_kw, "sgen")
        + per_bus(profiles.storage_p_kw, "storage")
    )
    q_static = (-per_bus(inc["sgen_q_kvar"][None, :], "sgen")
                + per_bus(inc["storage_q_kvar"][None, :], "storage"))[0]
    q = per_bus(profiles.load_q_kvar, "load") + np.broadcast_to(q_static, (t, grid.n_buses))
    return BusLoads(p_kw=p, q_kvar=q)


def pgm_network(grid: GridModel) -> PgmNetwork:
    """The (cached) PGM model of the grid."""
    cached = grid.cache.get("pgm_network")
    if cached is None:
        cached = build_pgm_network(grid.net, grid.bus_ids)
        grid.cache["pgm_network"] = cached
    return cached


def _base_model(grid: GridModel) -> PowerGridModel:
    """The grid's PGM model at its input loads, built once per grid and thread (a batch
    calculation leaves the model it starts from unchanged; one model is not shared by two
    threads)."""
    key = ("pgm_model", threading.get_ident())
    cached = grid.cache.get(key)
    if cached is None:
        cached = grid.cache[key] = pgm_network(grid).model()
    return cached


def _check_loads(grid: GridModel, loads: BusLoads) -> None:
    for name in ("p_kw", "q_kvar"):
        arr = getattr(loads, name)
        if arr.ndim != 2 or arr.shape[1] != grid.n_buses:
            raise InputError(f"loads.{name}", arr.shape, f"an array [T, {grid.n_buses}]")
        if not np.isfinite(arr).all():
            raise InputError(f"loads.{name}", "non-finite values", "finite kW/kvar")
    if loads.p_kw.shape != loads.q_kvar.shape:
        raise InputError("loads.q_kvar", loads.q_kvar.shape, f"shape {loads.p_kw.shape}")


_BRANCH_ATTRS = ["p_from", "q_from", "s_from", "i_from", "i_to"]


def _pgm_failure(grid: GridModel, failed: list[int], messages: list[str]) -> GridError:
    shown = ", ".join(str(i) for i in failed[:10])
    more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
    return GridError(
        f"power flow did not converge on grid {grid.code!r} for ISP/scenario "
        f"{shown}{more}: {messages[0] if messages else ''}"
    )


def _chunk_result(res: dict, n: int, branch_attrs: list[str], node_attrs: list[str]
                  ) -> dict[str, np.ndarray]:
    """SI arrays of one PGM batch result (``u_pu`` NaN where not energized)."""
    node = res[ComponentType.node]
    out = {"u_pu": np.where(node["energized"] == 1, node["u_pu"], np.nan)}
    for attr in node_attrs:
        out.setdefault(attr, node[attr])
    for comp, prefix in ((ComponentType.line, "line"), (ComponentType.transformer, "trafo")):
        data = res.get(comp)
        for attr in branch_attrs:
            out[f"{prefix}_{attr}"] = data[attr] if data is not None else np.zeros((n, 0))
    return out


def iter_pgm_batch(
    grid: GridModel,
    n_scenarios: int,
    update_of: Callable[[int, int], np.ndarray],
    *,
    model: PowerGridModel | None = None,
    chunk: int = DEFAULT_CHUNK_ISPS,
    error_tolerance: float = 1e-8,
    threading: int | None = None,
    branch_attrs: list[str] | None = None,
    node_attrs: list[str] | None = None,
    methods: tuple[str, ...] = PGM_METHODS,
) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
    """PGM batch power flow in chunks: yields ``(start, stop, arrays)`` per chunk.

    ``update_of(start, stop)`` returns the sym_load batch update of those scenarios (a dense
    [n, B] array, or a sparse ``{"indptr", "data"}`` dict); ``model`` (default: the grid's
    PGM model at its input loads) is the state every scenario starts from. Arrays as
    ``solve_pgm_batch`` (only ``branch_attrs`` of the branches, default all: fewer attributes,
    less memory per chunk). ``methods`` are tried in order per chunk (module docstring);
    ``threading`` as PGM's (None: ``power_flow_threads``). Raises GridError naming the
    scenarios that did not converge with the last method.
    """
    model = model if model is not None else _base_model(grid)
    attrs = _BRANCH_ATTRS if branch_attrs is None else list(branch_attrs)
    threads = getattr(_THREADS, "pgm", 0) if threading is None else threading
    output_types = {
        ComponentType.node: ["u_pu", "energized", *(node_attrs or [])],
        **({ComponentType.line: attrs, ComponentType.transformer: attrs} if attrs else {}),
    }
    failed: list[int] = []
    messages: list[str] = []
    for start in range(0, n_scenarios, chunk):
        stop = min(start + chunk, n_scenarios)
        update = update_of(start, stop)
        for attempt, method in enumerate(methods):
            last = attempt == len(methods) - 1
            try:
                res = model.calculate_power_flow(
                    update_data={ComponentType.sym_load: update},
                    output_component_types=output_types,
                    error_tolerance=error_tolerance,
                    max_iterations=30 if method == "newton_raphson" else 100,
                    threading=threads,
                    calculation_method=method,
                )
            except PowerGridBatchError as exc:
                if last:
                    failed.extend(int(s) + start for s in exc.failed_scenarios)
                    messages.extend(str(m) for m in exc.error_messages[:1])
                continue
            except PowerGridError as exc:
                if last:
                    failed.extend(range(start, stop))
                    messages.append(str(exc))
                continue
            _SOLVED.scenarios = solved_power_flows() + stop - start
            if not failed:
                yield start, stop, _chunk_result(res, stop - start, attrs, node_attrs or [])
            break
    if failed:
        raise _pgm_failure(grid, failed, messages)


def solve_pgm_batch(
    grid: GridModel,
    p_kw: np.ndarray,
    q_kvar: np.ndarray,
    *,
    chunk_isps: int = DEFAULT_CHUNK_ISPS,
    error_tolerance: float = 1e-8,
    threading: int | None = None,
    methods: tuple[str, ...] = PGM_METHODS,
    branch_attrs: list[str] | None = None,
    node_attrs: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """PGM batch power flow for bus loads [S, B] (kW, kvar); SI results per scenario.

    Returns ``u_pu`` [S, n_node] (NaN where not energized), the ``node_attrs`` asked for
    (e.g. ``u_angle``) and, for lines and transformers, ``line_<attr>`` / ``trafo_<attr>``
    [S, n] for attr in ``branch_attrs`` (default all: p_from, q_from, s_from in W, var, VA
    and i_from, i_to in A). Raises GridError naming the scenarios that did not converge.
    """
    net_pgm = pgm_network(grid)
    n_scen, n_bus = p_kw.shape

    def update_of(start: int, stop: int) -> np.ndarray:
        update = initialize_array(DatasetType.update, ComponentType.sym_load,
                                  (stop - start, n_bus))
        update["id"] = net_pgm.load_ids[None, :]
        update["status"] = 1
        update["p_specified"] = p_kw[start:stop] * 1e3
        update["q_specified"] = q_kvar[start:stop] * 1e3
        return update

    out: dict[str, list[np.ndarray]] = {}
    for _start, _stop, arrays in iter_pgm_batch(grid, n_scen, update_of, chunk=chunk_isps,
                                                error_tolerance=error_tolerance,
                                                threading=threading, methods=methods,
                                                branch_attrs=branch_attrs,
                                                node_attrs=node_attrs):
        for key, arr in arrays.items():
            out.setdefault(key, []).append(arr)
    return {k: np.concatenate(v, axis=0) for k, v in out.items()}


def _loadings(grid: GridModel, i_from_line, i_to_line, i_hv, i_lv) -> tuple[np.ndarray, ...]:
    net = grid.net
    ln, tr = net.line, net.trafo
    line_rating_a = (
        ln["max_i_ka"].to_numpy(dtype=float) * 1e3
        * ln["df"].to_numpy(dtype=float) * ln["parallel"].to_numpy(dtype=float)
    )
    line_pct = np.maximum(i_from_line, i_to_line) / line_rating_a[None, :] * 100.0
    sn_kva = (
        tr["sn_mva"].to_numpy(dtype=float) * 1e3
        * tr["parallel"].to_numpy(dtype=float) * tr["df"].to_numpy(dtype=float)
    )
    s_hv = i_hv * tr["vn_hv_kv"].to_numpy(dtype=float)[None, :]
    s_lv = i_lv * tr["vn_lv_kv"].to_numpy(dtype=float)[None, :]
    trafo_pct = np.maximum(s_hv, s_lv) * np.sqrt(3) / sn_kva[None, :] * 100.0
    return line_pct, trafo_pct


def _cp_columns(grid: GridModel) -> tuple[np.ndarray, np.ndarray]:
    """Row positions in net.trafo and net.line of the congestion points (kind order)."""
    cps = congestion_points(grid)
    tr_pos = grid.net.trafo.index.get_indexer(cps.loc[cps["kind"] == "trafo", "element"])
    ln_pos = grid.net.line.index.get_indexer(cps.loc[cps["kind"] == "line", "element"])
    return tr_pos, ln_pos


def _assemble(
    grid: GridModel,
    vm_bus: np.ndarray,
    line: dict[str, np.ndarray],
    trafo: dict[str, np.ndarray],
    engine: str,
) -> PowerFlowResult:
    """Result from per-element SI arrays (i in A; p, q, s in W, var, VA)."""
    line_pct, trafo_pct = _loadings(grid, line["i_from"], line["i_to"],
                                    trafo["i_from"], trafo["i_to"])
    tr_pos, ln_pos = _cp_columns(grid)

    def cp(arr_tr: np.ndarray, arr_ln: np.ndarray) -> np.ndarray:
        return np.concatenate([arr_tr[:, tr_pos], arr_ln[:, ln_pos]], axis=1)

    return PowerFlowResult(
        bus_vm_pu=vm_bus,
        line_loading_pct=line_pct,
        trafo_loading_pct=trafo_pct,
        cp_loading_pct=cp(trafo_pct, line_pct),
        cp_p_kw=cp(trafo["p_from"], line["p_from"]) / 1e3,
        cp_s_kva=cp(trafo["s_from"], line["s_from"]) / 1e3,
        cp_q_kvar=cp(trafo["q_from"], line["q_from"]) / 1e3,
        engine=engine,
        converged=True,
    )


def _run_pgm(grid: GridModel, loads: BusLoads, chunk_isps: int) -> PowerFlowResult:
    res = solve_pgm_batch(grid, loads.p_kw, loads.q_kvar, chunk_isps=chunk_isps)
    vm_bus = res["u_pu"][:, pgm_network(grid).bus_node_pos]
    line = {a: res[f"line_{a}"] for a in _BRANCH_ATTRS}
    trafo = {a: res[f"trafo_{a}"] for a in _BRANCH_ATTRS}
    return _assemble(grid, vm_bus, line, trafo, "pgm")


def _run_pandapower(grid: GridModel, loads: BusLoads) -> PowerFlowResult:
    """Reference path: pandapower runpp (defaults: trafo_model 't', loading 'current')."""
    import pandapower as pp

    net = pandapower_net(grid.net)
    for element in ("load", "sgen", "storage"):
        net[element]["in_service"] = False
    new = pp.create_loads(net, grid.bus_ids, p_mw=0.0, q_mvar=0.0)
    t = loads.n_isps
    n_line, n_trafo = len(net.line), len(net.trafo)
    vm = np.empty((t, grid.n_buses))
    line = {a: np.empty((t, n_line)) for a in _BRANCH_ATTRS}
    trafo = {a: np.empty((t, n_trafo)) for a in _BRANCH_ATTRS}
    failed: list[int] = []
    for isp in range(t):
        net.load.loc[new, "p_mw"] = loads.p_kw[isp] / 1e3
        net.load.loc[new, "q_mvar"] = loads.q_kvar[isp] / 1e3
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                pp.runpp(net, numba=False)
        except pp.LoadflowNotConverged:
            failed.append(isp)
            continue
        vm[isp] = net.res_bus["vm_pu"].reindex(grid.bus_ids).to_numpy(dtype=float)
        rl, rt = net.res_line, net.res_trafo
        line["p_from"][isp] = rl["p_from_mw"].to_numpy(dtype=float) * 1e6
        line["q_from"][isp] = rl["q_from_mvar"].to_numpy(dtype=float) * 1e6
        line["i_from"][isp] = rl["i_from_ka"].to_numpy(dtype=float) * 1e3
        line["i_to"][isp] = rl["i_to_ka"].to_numpy(dtype=float) * 1e3
        trafo["p_from"][isp] = rt["p_hv_mw"].to_numpy(dtype=float) * 1e6
        trafo["q_from"][isp] = rt["q_hv_mvar"].to_numpy(dtype=float) * 1e6
        trafo["i_from"][isp] = rt["i_hv_ka"].to_numpy(dtype=float) * 1e3
        trafo["i_to"][isp] = rt["i_lv_ka"].to_numpy(dtype=float) * 1e3
    if failed:
        raise GridError(
            f"pandapower power flow did not converge on grid {grid.code!r} for ISP "
            + ", ".join(str(i) for i in failed[:10])
        )
    for arrays in (line, trafo):
        arrays["s_from"] = np.hypot(arrays["p_from"], arrays["q_from"])
        for a in _BRANCH_ATTRS:
            np.nan_to_num(arrays[a], copy=False)  # out-of-service branches: 0
    return _assemble(grid, vm, line, trafo, "pandapower")


def run_power_flow(
    grid: GridModel,
    loads: BusLoads,
    engine: str = "pgm",
    *,
    chunk_isps: int = DEFAULT_CHUNK_ISPS,
) -> PowerFlowResult:
    """AC power flow for every ISP of ``loads``; GridError names ISPs that do not converge.

    ``engine="pgm"``: one power-grid-model batch (chunks of ``chunk_isps`` ISPs to bound
    memory), Newton–Raphson, symmetric. ``engine="pandapower"``: runpp per ISP (reference).
    """
    if engine not in ENGINES:
        raise InputError("grid.engine", engine, "'pgm' or 'pandapower'")
    _check_loads(grid, loads)
    if engine == "pgm":
        return _run_pgm(grid, loads, chunk_isps)
    return _run_pandapower(grid, loads)


_ROW_FIELDS = ("bus_vm_pu", "line_loading_pct", "trafo_loading_pct", "cp_loading_pct",
               "cp_p_kw", "cp_s_kva", "cp_q_kvar")


def rerun_power_flow(
    grid: GridModel,
    loads: BusLoads,
    before: BusLoads,
    state: PowerFlowResult,
    engine: str = "pgm",
    *,
    chunk_isps: int = DEFAULT_CHUNK_ISPS,
) -> PowerFlowResult:
    """``run_power_flow(grid, loads)`` given ``state`` = the power flow of ``before``: only
    the ISPs whose bus loads differ are solved again, the others keep their rows of
    ``state``. Every ISP of a PGM batch is solved on its own (the same answer in any batch
    at the same thread count, ``power_flow_threads``), so this is exactly the full power
    flow at the cost of the ISPs that changed (engine "pgm"; other engines solve every
    ISP)."""
    if (engine != "pgm" or state.engine != engine or before.p_kw.shape != loads.p_kw.shape
            or state.n_isps != loads.n_isps):  # pandapower: one net solved ISP after ISP
        return run_power_flow(grid, loads, engine, chunk_isps=chunk_isps)
    changed = np.flatnonzero((loads.p_kw != before.p_kw).any(axis=1)
                             | (loads.q_kvar != before.q_kvar).any(axis=1))
    if changed.size == 0:
        _check_loads(grid, loads)
        return state
    if changed.size == loads.n_isps:
        return run_power_flow(grid, loads, engine, chunk_isps=chunk_isps)
    part = run_power_flow(grid, BusLoads(loads.p_kw[changed], loads.q_kvar[changed]), engine,
                          chunk_isps=chunk_isps)
    rows = {}
    for name in _ROW_FIELDS:
        old, new = getattr(state, name), getattr(part, name)
        if old is None or new is None:
            rows[name] = None
            continue
        merged = old.copy(order="K")  # the same memory layout: the same sums, bit for bit
        merged[changed] = new
        rows[name] = merged
    return PowerFlowResult(engine=engine, converged=True, **rows)
