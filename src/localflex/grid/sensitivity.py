"""Linear sensitivities of congestion-point flows and bus voltages to nodal injections.

Paper §5: a DSO buying flexibility must know how much each offer, at its bus, relieves each
congestion point — the "location" attribute of a flexibility offer only has value through the
grid's sensitivities (power transfer distribution factors and voltage sensitivities).

``flow_sensitivity`` computes them numerically around one operating point with a single
power-grid-model batch: for every bus two scenarios, +h and −h kW of active injection
(central difference, error O(h²); the default h = 1 kW is far below any flow in an LV/MV grid
and far above the solver's tolerance, so the truncation and round-off errors are both below
1e-6 kW/kW). Reactive power is held constant.

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

from localflex.domain.errors import HorizonError, InputError
from localflex.grid.congestion import congestion_points
from localflex.grid.powerflow import BusLoads, PowerFlowResult, pgm_network, solve_pgm_batch
from localflex.grid.simbench_loader import GridModel

__all__ = ["FlowSensitivity", "flow_sensitivity", "relief_kw_per_kw_up"]

DEFAULT_STEP_KW = 1.0
_S_FLOOR_KVA = 1e-6


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


def flow_sensitivity(
    grid: GridModel,
    loads: BusLoads,
    isp: int | None = None,
    *,
    step_kw: float = DEFAULT_STEP_KW,
) -> FlowSensitivity:
    """Numerical sensitivities around ISP ``isp`` (default: the ISP of largest Σ|p_kw|)."""
    n_isps = loads.n_isps
    if isp is None:
        isp = int(np.argmax(np.abs(loads.p_kw).sum(axis=1)))
    elif not (isinstance(isp, int | np.integer) and 0 <= isp < n_isps):
        raise HorizonError("isp", isp, f"an ISP index in 0..{n_isps - 1}")
    if not (np.isfinite(step_kw) and step_kw > 0):
        raise InputError("step_kw", step_kw, "a positive step in kW")
    n_bus = grid.n_buses
    base_p = loads.p_kw[isp]
    base_q = loads.q_kvar[isp]
    # scenarios 0..B-1: +h injection at bus b (load −h); B..2B-1: −h injection
    eye = np.eye(n_bus) * step_kw
    p = np.concatenate([base_p[None, :] - eye, base_p[None, :] + eye], axis=0)
    q = np.broadcast_to(base_q, p.shape)
    res = solve_pgm_batch(grid, p, np.ascontiguousarray(q), error_tolerance=1e-10)

    cps = congestion_points(grid)
    tr_pos = grid.net.trafo.index.get_indexer(cps.loc[cps["kind"] == "trafo", "element"])
    ln_pos = grid.net.line.index.get_indexer(cps.loc[cps["kind"] == "line", "element"])
    cp_p_kw = np.concatenate(
        [res["trafo_p_from"][:, tr_pos], res["line_p_from"][:, ln_pos]], axis=1
    ) / 1e3
    vm = res["u_pu"][:, pgm_network(grid).bus_node_pos]
    dp = (cp_p_kw[:n_bus] - cp_p_kw[n_bus:]) / (2 * step_kw)  # [B, CP]
    dv = (vm[:n_bus] - vm[n_bus:]) / (2 * step_kw)  # [B(injection), B(voltage)]
    return FlowSensitivity(
        dp_kw_per_kw=np.ascontiguousarray(dp.T),
        dv_pu_per_kw=np.ascontiguousarray(dv.T),
        isp=int(isp),
        step_kw=float(step_kw),
        cp_rated_kva=cps["rated_kva"].to_numpy(dtype=float),
    )


def relief_kw_per_kw_up(
    sens: FlowSensitivity, result: PowerFlowResult, *, to_loading: bool = True
) -> np.ndarray:
    """[T, CP, B] loading relief (kVA-equivalent kW) per kW of UP at each bus, per ISP.

    Positive = an UP activation at that bus lowers the loading of that congestion point. A
    DOWN offer's relief is the negative. Where S ≈ 0 the relief is 0. ``to_loading`` scales
    by L/S (module docstring) so the relief is in exactly the units of ``overload_kw``.
    Memory: T·CP·B floats (a day of an MV grid: 96·130·122 ≈ 1.5 M).
    """
    p = result.cp_p_kw
    s = result.cp_s_kva
    if p.shape[1] != sens.dp_kw_per_kw.shape[0]:
        raise InputError("result.cp_p_kw", p.shape, f"[T, {sens.dp_kw_per_kw.shape[0]}]")
    ratio = np.divide(p, s, out=np.zeros_like(p), where=s > _S_FLOOR_KVA)  # sign(P)·|P|/S
    if to_loading:
        loading_kva = result.cp_loading_pct / 100.0 * sens.cp_rated_kva[None, :]
        ratio *= np.divide(loading_kva, s, out=np.zeros_like(p), where=s > _S_FLOOR_KVA)
    return -ratio[:, :, None] * sens.dp_kw_per_kw[None, :, :]
