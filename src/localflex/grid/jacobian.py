"""Exact flow and voltage sensitivities of a whole DSO area from the AC Jacobian (adjoint).

Paper §5: the DSO needs, for every offer bus, how much a kW there moves each monitored
congestion point and bus voltage. On an area of 9,000+ buses with thousands of offer buses a
perturbation batch (two power flows per offer bus) takes minutes; the derivative of the
power-flow solution is available from one AC power flow instead. With the Newton–Raphson
state ``x = (θ at PV/PQ buses, |V| at PQ buses)`` and the mismatch ``F(x) = S(V) − S_bus``,
``J dx = dS_bus``; for monitored outputs ``y`` with ``G = ∂y/∂x``:

    dy/dP_b = G J⁻¹ e_{P_b} = (J⁻ᵀ Gᵀ)[row of P_b]

so one sparse LU of Jᵀ and one solve per monitored output (congestion-point flows from
``dSbr_dV``, voltage magnitudes as unit rows) give all offer buses at once. Reactive power is
held (as in the perturbation method). The operating point is pandapower's AC power flow of
the ISP, whose internal matrices (``J``, ``Yf``, ``Yt``, ``V``) are the model used.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from localflex.domain.errors import GridError
from localflex.grid.congestion import congestion_points
from localflex.grid.simbench_loader import GridModel, pandapower_net

__all__ = ["jacobian_sensitivities"]


def _solved_net(grid: GridModel, p_kw: np.ndarray, q_kvar: np.ndarray):
    """A pandapower net with one load per bus carrying ``p_kw``/``q_kvar``, solved by runpp.

    The net (the grid's own loads, generators and storage out of service, one load per bus)
    is built once per grid (``grid.cache``) and only its loads are set per call: runpp
    builds its model afresh and starts from the same point every time, so the answer is
    the same as on a new net."""
    import pandapower as pp

    cached = grid.cache.get("jacobian_net")
    if cached is None:
        net = pandapower_net(grid.net)
        for element in ("load", "sgen", "storage"):
            net[element]["in_service"] = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            new = pp.create_loads(net, grid.bus_ids, p_mw=0.0, q_mvar=0.0)
        cached = grid.cache["jacobian_net"] = (net, np.asarray(new))
    net, new = cached
    net.load.loc[new, "p_mw"] = p_kw / 1e3
    net.load.loc[new, "q_mvar"] = q_kvar / 1e3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            pp.runpp(net, numba=False, tolerance_mva=1e-10, max_iteration=30)
        except pp.LoadflowNotConverged as exc:
            raise GridError(f"power flow did not converge on grid {grid.code!r} at the "
                            "operating point of the sensitivities") from exc
    return net


def jacobian_sensitivities(
    grid: GridModel,
    p_kw: np.ndarray,
    q_kvar: np.ndarray,
    inj_pos: np.ndarray,
    cp_pos: np.ndarray,
    vm_bus_pos: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``dp_kw_per_kw`` [CPm, Bo] and ``dv_pu_per_kw`` [Bm, Bo] at the bus loads ``p_kw``,
    ``q_kvar`` [B] (bus axis) for injections at bus positions ``inj_pos``."""
    from pandapower.pypower.dSbr_dV import dSbr_dV

    net = _solved_net(grid, p_kw, q_kvar)
    internal = net["_ppc"]["internal"]
    lookups = net["_pd2ppc_lookups"]
    jac = sp.csc_matrix(internal["J"])
    pv, pq = np.asarray(internal["pv"]), np.asarray(internal["pq"])
    pvpq = np.r_[pv, pq]
    n_bus = internal["bus"].shape[0]
    theta_col = np.full(n_bus, -1, dtype=np.int64)
    theta_col[pvpq] = np.arange(pvpq.size)
    vm_col = np.full(n_bus, -1, dtype=np.int64)
    vm_col[pq] = pvpq.size + np.arange(pq.size)
    base_mva = float(internal["baseMVA"])

    # monitored congestion points -> rows of the in-service branch matrix (ppci)
    cps = congestion_points(grid)
    kind = cps["kind"].to_numpy()[cp_pos]
    element = cps["element"].to_numpy()[cp_pos]
    branch_is = np.asarray(internal["branch_is"], dtype=bool)
    ppci_of_ppc = np.cumsum(branch_is) - 1
    rows = np.empty(cp_pos.size, dtype=np.int64)
    for name in ("line", "trafo"):
        mine = kind == name
        if not mine.any():
            continue
        start, _stop = lookups["branch"][name]
        ppc = start + grid.net[name].index.get_indexer(element[mine])
        if not branch_is[ppc].all():
            raise GridError(f"grid {grid.code!r}: a monitored {name} is out of service in the "
                            "AC model of the sensitivities")
        rows[mine] = ppci_of_ppc[ppc]
    dsf_dva, dsf_dvm, *_ = dSbr_dV(internal["branch"], internal["Yf"], internal["Yt"],
                                  internal["V"])
    dpf_dva = sp.csr_matrix(dsf_dva)[rows].real
    dpf_dvm = sp.csr_matrix(dsf_dvm)[rows].real
    n_x = jac.shape[0]
    g_flow = sp.hstack([dpf_dva[:, pvpq], dpf_dvm[:, pq]]).tocsr()  # [CPm, n_x]
    bus_lookup = np.asarray(lookups["bus"])
    v_bus = bus_lookup[grid.bus_ids[vm_bus_pos]]
    v_col = vm_col[v_bus]  # -1: slack/PV bus, fixed voltage
    has_v = v_col >= 0
    g_volt = sp.csr_matrix((np.ones(int(has_v.sum())), (np.flatnonzero(has_v), v_col[has_v])),
                           shape=(vm_bus_pos.size, n_x))
    rhs = np.asfortranarray(sp.vstack([g_flow, g_volt]).T.toarray())  # [n_x, CPm + Bm]
    # J⁻ᵀ Gᵀ: SuperLU's transposed solve on a column-major right-hand side (10× faster
    # than factorising Jᵀ and solving a row-major one)
    lam = spla.splu(jac).solve(rhs, trans="T") if rhs.shape[1] else rhs
    inj_bus = bus_lookup[grid.bus_ids[inj_pos]]
    p_row = theta_col[inj_bus]  # P equation of the injection bus (-1: slack, no effect)
    sens = np.zeros((rhs.shape[1], inj_pos.size))
    ok = p_row >= 0
    sens[:, ok] = lam[p_row[ok], :].T
    dp = sens[: cp_pos.size]  # p.u. flow per p.u. injection = kW per kW
    dv = sens[cp_pos.size:] * (1e-3 / base_mva)  # p.u. voltage per kW
    return np.ascontiguousarray(dp), np.ascontiguousarray(dv)
