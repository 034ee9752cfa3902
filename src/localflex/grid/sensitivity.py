"""Linear sensitivities of congestion-point flows and bus voltages to nodal injections.

Paper §5: a DSO buying flexibility must know how much each offer, at its bus, relieves each
congestion point — the "location" attribute of a flexibility offer only has value through the
grid's sensitivities (power transfer distribution factors and voltage sensitivities).

``sparse_sensitivity`` computes them numerically around one operating point with a single
power-grid-model batch: for every *offer* bus two scenarios, +h and −h kW of active injection
(central difference, error O(h²); the default h = 1 kW is far below any flow in an LV/MV grid
and far above the solver's tolerance, so the truncation and round-off errors are both below
1e-6 kW/kW). Reactive power is held constant. Only the *monitored* outputs are kept
(``monitored_points``: congestion points overloaded in the forecast or within
``DEFAULT_LOADING_MARGIN_PCT`` points of their limit, buses whose voltage comes within
``DEFAULT_VOLTAGE_MARGIN_PU`` of their band): memory is offers × needs — [CPm, Bo] and
[Bm, Bo] — never buses².

Two methods, chosen by size (``method="auto"``):

* ``"pgm_batch"`` (LV feeders, MV grids: 2·Bo·B ≤ ``BATCH_MAX_BUS_SCENARIOS``): power-grid-
  model solves a radial or weakly meshed grid's Newton–Raphson in milliseconds, reusing its
  topology across a batch whose scenarios differ in one load each (a sparse batch update).
  It reproduces, to the solver tolerance, exactly the perturbation the dense method made per
  bus, so the market clears the same awards (tests/sim/test_market_day_area.py), with the
  same grid model as every other power flow of the day.
* ``"jacobian"`` (whole areas: an MV grid with its LV grids, 9,000+ buses and thousands of
  offer buses, where 2·Bo full power flows would take minutes): the exact derivative at the
  operating point by the adjoint of the Newton–Raphson Jacobian. One AC power flow of the
  ISP (pandapower, which exposes J, Ybus and the branch admittances), one sparse LU of Jᵀ
  and one solve per *monitored* output (CPm + Bm right-hand sides) give every offer bus's
  sensitivity at once: dy/dP_b = (J⁻ᵀ Gᵀ)[P_b, :], G = ∂y/∂(θ, |V|) from ``dSbr_dV``. The
  cost grows with the monitored outputs; radial and weakly meshed grids keep J's LU nearly
  free of fill-in. It is the limit h → 0 of the central difference (no O(h²) term), of
  pandapower's model of the grid, which matches the PGM model to solver precision on
  SimBench grids (tests/reference/test_pf_against_pandapower.py; tests/grid compares the
  two methods).

``flow_sensitivity`` is the PGM batch over every bus and every congestion point (the dense
reference; refused on grids above ``DENSE_MAX_BUSES``).

``relief_kw_per_kw_up`` turns the flow sensitivity into loading relief in the kVA-equivalent
units of ``congestion.overload_kw``: loading ∝ S, and dS ≈ (P/S)·dP when Q is held, so

    relief[t, cp, b] = −sign(P[t, cp]) · dP[cp, b] · |P[t, cp]| / S[t, cp]        (1)

By default (``to_loading=True``) this is further multiplied by L[t, cp] / S[t, cp], where
L = cp_loading_pct/100 · rated_kva is the loading in the kVA-equivalent units of
``overload_kw``. Loading is a current (√3·vn·I = S/vm) and taken at the worse end, so L differs
from the from-side S by the factor 1/vm and the branch losses: in an LV feeder at 1.08 p.u.
formula (1) alone overstates the relief by ~8 %, the scaled one is within ~2 % (checked in
tests/grid/test_sensitivity.py). ``to_loading=False`` gives formula (1) literally.

Linearisation error: the factors are exact derivatives at the chosen ISP; at another ISP,
or for large volumes, they neglect the change of losses and voltages (loading is a current,
i.e. S/V) and of reactive flows. In SimBench LV/MV grids this is a few percent of the change
(tests/grid/test_sensitivity.py checks it); the market therefore verifies every clearing with
a second, full power flow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from power_grid_model import ComponentType, DatasetType, initialize_array

from localflex.domain.errors import HorizonError, InputError
from localflex.grid.congestion import congestion_points, voltage_limits
from localflex.grid.flows import BusLoads, PowerFlowResult
from localflex.grid.powerflow import iter_pgm_batch, pgm_network
from localflex.grid.simbench_loader import GridModel

__all__ = [
    "BATCH_MAX_BUS_SCENARIOS",
    "DEFAULT_LOADING_MARGIN_PCT",
    "DEFAULT_VOLTAGE_MARGIN_PU",
    "DENSE_MAX_BUSES",
    "METHODS",
    "FlowSensitivity",
    "Monitored",
    "SparseSensitivity",
    "flow_sensitivity",
    "monitored_points",
    "relief_kw_per_kw_up",
    "relief_scale",
    "sparse_sensitivity",
]

DEFAULT_STEP_KW = 1.0
DEFAULT_LOADING_MARGIN_PCT = 20.0
"""A congestion point is monitored when its forecast loading comes within this many percentage
points of its limit in some ISP (overloaded points always are)."""
DEFAULT_VOLTAGE_MARGIN_PU = 0.02
"""A bus is monitored when its forecast voltage comes within this of its band in some ISP."""
BATCH_MAX_BUS_SCENARIOS = 5_000_000
"""``method="auto"`` uses the PGM batch while 2 × offer buses × buses stays below this."""
METHODS = ("auto", "pgm_batch", "jacobian")
DENSE_MAX_BUSES = 2500
"""``flow_sensitivity`` (every bus × every point) is refused above this many buses."""
_S_FLOOR_KVA = 1e-6
_CHUNK_SCENARIOS = 256


@dataclass(frozen=True, slots=True)
class SparseSensitivity:
    """Sensitivities of the monitored points to injections at the offer buses, at ``isp``.

    ``dp_kw_per_kw[k, j]``: change of the active flow at congestion point ``cp_pos[k]`` (a row
    of ``congestion_points(grid)``) per kW injected at bus ``injection_bus_ids[j]``;
    ``dv_pu_per_kw[i, j]``: change of the voltage at bus ``vm_bus_ids[i]`` per kW injected at
    ``injection_bus_ids[j]``. Injection = generation − consumption (UP direction).
    """

    injection_bus_ids: np.ndarray  # [Bo]
    cp_pos: np.ndarray  # [CPm]
    dp_kw_per_kw: np.ndarray  # [CPm, Bo]
    vm_bus_ids: np.ndarray  # [Bm]
    dv_pu_per_kw: np.ndarray  # [Bm, Bo]
    isp: int
    step_kw: float
    cp_rated_kva: np.ndarray  # [CPm]


@dataclass(frozen=True, slots=True)
class FlowSensitivity:
    """d(cp_p_kw)/d(injection_kw) [CP, B] and d(vm_pu)/d(injection_kw) [B, B] at ``isp``.

    Injection = generation − consumption at a bus (UP direction). ``dv_pu_per_kw[i, j]`` is
    the change of the voltage at bus i per kW injected at bus j.
    """

    dp_kw_per_kw: np.ndarray
    dv_pu_per_kw: np.ndarray
    isp: int
    step_kw: float
    cp_rated_kva: np.ndarray  # [CP], from congestion_points(grid)


@dataclass(frozen=True, slots=True)
class Monitored:
    """Rows of ``congestion_points(grid)`` and bus-axis positions the DSO watches."""

    cp_pos: np.ndarray
    bus_pos: np.ndarray


def monitored_points(
    grid: GridModel,
    result: PowerFlowResult,
    *,
    loading_margin_pct: float = DEFAULT_LOADING_MARGIN_PCT,
    voltage_margin_pu: float = DEFAULT_VOLTAGE_MARGIN_PU,
) -> Monitored:
    """Congestion points loaded to within ``loading_margin_pct`` points of their limit and
    buses within ``voltage_margin_pu`` of their band, in any ISP of ``result``."""
    if not (np.isfinite(loading_margin_pct) and loading_margin_pct >= 0):
        raise InputError("loading_margin_pct", loading_margin_pct, "a margin >= 0 %-points")
    if not (np.isfinite(voltage_margin_pu) and voltage_margin_pu >= 0):
        raise InputError("voltage_margin_pu", voltage_margin_pu, "a margin >= 0 p.u.")
    cps = congestion_points(grid)
    limit = cps["max_loading_pct"].to_numpy(dtype=float)
    near = (result.cp_loading_pct >= limit[None, :] - loading_margin_pct).any(axis=0)
    band = voltage_limits(grid)
    vm = result.bus_vm_pu
    with np.errstate(invalid="ignore"):
        v_near = ((vm >= band["vm_max_pu"].to_numpy()[None, :] - voltage_margin_pu)
                  | (vm <= band["vm_min_pu"].to_numpy()[None, :] + voltage_margin_pu))
    return Monitored(cp_pos=np.flatnonzero(near), bus_pos=np.flatnonzero(v_near.any(axis=0)))


def _operating_isp(loads: BusLoads, isp: int | None) -> int:
    if isp is None:
        return int(np.argmax(np.abs(loads.p_kw).sum(axis=1)))
    if not (isinstance(isp, int | np.integer) and 0 <= isp < loads.n_isps):
        raise HorizonError("isp", isp, f"an ISP index in 0..{loads.n_isps - 1}")
    return int(isp)


def sparse_sensitivity(
    grid: GridModel,
    loads: BusLoads,
    injection_bus_ids: np.ndarray,
    *,
    cp_pos: np.ndarray,
    vm_bus_pos: np.ndarray,
    isp: int | None = None,
    step_kw: float = DEFAULT_STEP_KW,
    method: str = "auto",
) -> SparseSensitivity:
    """Sensitivities around ISP ``isp`` (default: largest Σ|p_kw|) of the flows at congestion
    points ``cp_pos`` and voltages at bus positions ``vm_bus_pos`` to injections at
    ``injection_bus_ids`` (module docstring: ``method`` "pgm_batch" = central difference,
    2·Bo power flows in one batch; "jacobian" = adjoint of the AC Jacobian; "auto")."""
    isp = _operating_isp(loads, isp)
    if not (np.isfinite(step_kw) and step_kw > 0):
        raise InputError("step_kw", step_kw, "a positive step in kW")
    if method not in METHODS:
        raise InputError("method", method, f"one of {list(METHODS)}")
    inj_ids = np.unique(np.asarray(injection_bus_ids, dtype=np.int64))
    inj_pos = grid.bus_index_of(inj_ids) if inj_ids.size else np.zeros(0, dtype=np.int64)
    cp_pos = np.asarray(cp_pos, dtype=np.int64)
    vm_bus_pos = np.asarray(vm_bus_pos, dtype=np.int64)
    if method == "auto":
        small = 2 * inj_ids.size * grid.n_buses <= BATCH_MAX_BUS_SCENARIOS
        method = "pgm_batch" if small else "jacobian"
    if method == "jacobian":
        from localflex.grid.jacobian import jacobian_sensitivities

        dp, dv = jacobian_sensitivities(grid, loads.p_kw[isp], loads.q_kvar[isp], inj_pos,
                                        cp_pos, vm_bus_pos)
        return SparseSensitivity(
            injection_bus_ids=inj_ids, cp_pos=cp_pos, dp_kw_per_kw=dp,
            vm_bus_ids=grid.bus_ids[vm_bus_pos].astype(np.int64), dv_pu_per_kw=dv, isp=isp,
            step_kw=0.0, cp_rated_kva=congestion_points(grid)["rated_kva"].to_numpy(
                dtype=float)[cp_pos])
    net_pgm = pgm_network(grid)
    cps = congestion_points(grid)
    kind = cps["kind"].to_numpy()[cp_pos]
    element = cps["element"].to_numpy()[cp_pos]
    is_tr = kind == "trafo"
    tr_col = grid.net.trafo.index.get_indexer(element[is_tr])
    ln_col = grid.net.line.index.get_indexer(element[~is_tr])
    node_col = net_pgm.bus_node_pos[vm_bus_pos]

    base_p = loads.p_kw[isp]
    base_q = loads.q_kvar[isp]
    model = net_pgm.model()
    base = initialize_array(DatasetType.update, ComponentType.sym_load, grid.n_buses)
    base["id"] = net_pgm.load_ids
    base["status"] = 1
    base["p_specified"] = base_p * 1e3
    base["q_specified"] = base_q * 1e3
    model.update(update_data={ComponentType.sym_load: base})

    n_inj = inj_pos.size
    # scenarios 0..Bo-1: +h injection at bus j (load −h); Bo..2Bo-1: −h injection
    scen_pos = np.concatenate([inj_pos, inj_pos])
    scen_p_kw = np.concatenate([base_p[inj_pos] - step_kw, base_p[inj_pos] + step_kw])

    def update_of(start: int, stop: int) -> dict:
        data = initialize_array(DatasetType.update, ComponentType.sym_load, stop - start)
        data["id"] = net_pgm.load_ids[scen_pos[start:stop]]
        data["status"] = 1
        data["p_specified"] = scen_p_kw[start:stop] * 1e3
        data["q_specified"] = base_q[scen_pos[start:stop]] * 1e3
        return {"indptr": np.arange(stop - start + 1, dtype=np.int64), "data": data}

    n_scen = 2 * n_inj
    cp_p_kw = np.empty((n_scen, cp_pos.size))
    vm = np.empty((n_scen, vm_bus_pos.size))
    pos_of = np.empty(cp_pos.size, dtype=np.int64)  # output column of each monitored cp
    pos_of[np.flatnonzero(is_tr)] = np.arange(is_tr.sum())
    pos_of[np.flatnonzero(~is_tr)] = is_tr.sum() + np.arange((~is_tr).sum())
    for start, stop, res in iter_pgm_batch(grid, n_scen, update_of, model=model,
                                           chunk=_CHUNK_SCENARIOS, error_tolerance=1e-10,
                                           methods=("newton_raphson",),
                                           branch_attrs=["p_from"]):
        flows = np.concatenate([res["trafo_p_from"][:, tr_col], res["line_p_from"][:, ln_col]],
                               axis=1) / 1e3
        cp_p_kw[start:stop] = flows[:, pos_of]
        vm[start:stop] = res["u_pu"][:, node_col]
    dp = (cp_p_kw[:n_inj] - cp_p_kw[n_inj:]) / (2 * step_kw)  # [Bo, CPm]
    dv = (vm[:n_inj] - vm[n_inj:]) / (2 * step_kw)  # [Bo, Bm]
    return SparseSensitivity(
        injection_bus_ids=inj_ids,
        cp_pos=cp_pos,
        dp_kw_per_kw=np.ascontiguousarray(dp.T),
        vm_bus_ids=grid.bus_ids[vm_bus_pos].astype(np.int64),
        dv_pu_per_kw=np.ascontiguousarray(dv.T),
        isp=isp,
        step_kw=float(step_kw),
        cp_rated_kva=cps["rated_kva"].to_numpy(dtype=float)[cp_pos],
    )


def flow_sensitivity(
    grid: GridModel,
    loads: BusLoads,
    isp: int | None = None,
    *,
    step_kw: float = DEFAULT_STEP_KW,
) -> FlowSensitivity:
    """Dense reference: every bus × every congestion point and bus (``sparse_sensitivity``
    over all of them). Refused (InputError) on grids above ``DENSE_MAX_BUSES`` buses."""
    if grid.n_buses > DENSE_MAX_BUSES:
        raise InputError("grid", f"{grid.code} ({grid.n_buses} buses)",
                         f"at most {DENSE_MAX_BUSES} buses for the dense sensitivities "
                         "(use sparse_sensitivity on the monitored points)")
    all_cps = np.arange(len(congestion_points(grid)))
    sens = sparse_sensitivity(grid, loads, grid.bus_ids, cp_pos=all_cps,
                              vm_bus_pos=np.arange(grid.n_buses), isp=isp, step_kw=step_kw,
                              method="pgm_batch")
    order = grid.bus_index_of(sens.injection_bus_ids)  # injection axis is sorted by bus id
    dp = np.empty_like(sens.dp_kw_per_kw)
    dp[:, order] = sens.dp_kw_per_kw
    dv = np.empty_like(sens.dv_pu_per_kw)
    dv[:, order] = sens.dv_pu_per_kw
    return FlowSensitivity(dp_kw_per_kw=dp, dv_pu_per_kw=dv, isp=sens.isp,
                           step_kw=sens.step_kw, cp_rated_kva=sens.cp_rated_kva)


def relief_scale(
    result: PowerFlowResult, cp_pos: np.ndarray, cp_rated_kva: np.ndarray,
    *, to_loading: bool = True,
) -> np.ndarray:
    """[T, CPm] factor ``−sign(P)·|P|/S`` (× L/S with ``to_loading``) of formula (1): the
    relief per kW of UP at a bus is this factor times the flow sensitivity ``dp[cp, bus]``."""
    p = result.cp_p_kw[:, cp_pos]
    s = result.cp_s_kva[:, cp_pos]
    ratio = np.divide(p, s, out=np.zeros_like(p), where=s > _S_FLOOR_KVA)  # sign(P)·|P|/S
    if to_loading:
        loading_kva = result.cp_loading_pct[:, cp_pos] / 100.0 * cp_rated_kva[None, :]
        ratio *= np.divide(loading_kva, s, out=np.zeros_like(p), where=s > _S_FLOOR_KVA)
    return -ratio


def relief_kw_per_kw_up(
    sens: FlowSensitivity, result: PowerFlowResult, *, to_loading: bool = True
) -> np.ndarray:
    """[T, CP, B] loading relief (kVA-equivalent kW) per kW of UP at each bus, per ISP.

    Positive = an UP activation at that bus lowers the loading of that congestion point. A
    DOWN offer's relief is the negative. Where S ≈ 0 the relief is 0. ``to_loading`` scales
    by L/S (module docstring) so the relief is in exactly the units of ``overload_kw``.
    Memory: T·CP·B floats — the dense reference; the market day uses ``relief_scale`` with a
    ``SparseSensitivity`` (T·CPm + CPm·Bo floats).
    """
    n_cp = sens.dp_kw_per_kw.shape[0]
    if result.cp_p_kw.shape[1] != n_cp:
        raise InputError("result.cp_p_kw", result.cp_p_kw.shape, f"[T, {n_cp}]")
    scale = relief_scale(result, np.arange(n_cp), sens.cp_rated_kva, to_loading=to_loading)
    return scale[:, :, None] * sens.dp_kw_per_kw[None, :, :]
