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
held (as in the perturbation method).

The model is pandapower's (``Ybus``, ``Yf``, ``Yt``, bus types): built once per grid by one
``runpp`` and kept, as it does not depend on the loads. The operating point ``V`` of each
call is power-grid-model's AC power flow of the ISP (the engine of every other power flow
here; the two agree to 1e-9 p.u. in magnitude and angle, transformer phase shifts
included), mapped onto pandapower's buses; pandapower's auxiliary buses without injection
(e.g. star points) follow from ``Ybus`` (Kron). ``J`` is pandapower's, from ``dSbus_dV`` at
that ``V``. The point is checked: where its power mismatch in pandapower's model exceeds
``MAX_MISMATCH_PU`` the ISP is solved by ``runpp`` instead.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from localflex.domain.errors import GridError
from localflex.grid.congestion import congestion_points
from localflex.grid.simbench_loader import GridModel, pandapower_net

__all__ = ["jacobian_sensitivities", "pandapower_model", "pgm_operating_point"]

MAX_MISMATCH_PU = 1e-6
"""Largest power mismatch (p.u. of baseMVA) of PGM's operating point in pandapower's model."""


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


def pandapower_model(grid: GridModel, p_kw: np.ndarray, q_kvar: np.ndarray) -> dict:
    """pandapower's internal model of the grid's AC power flow (load-independent parts),
    from one ``runpp`` at these loads; cached per grid."""
    cached = grid.cache.get("jacobian_model")
    if cached is None:
        net = _solved_net(grid, p_kw, q_kvar)
        internal = net["_ppc"]["internal"]
        lookups = net["_pd2ppc_lookups"]
        keep = ("Ybus", "Yf", "Yt", "branch", "pv", "pq", "ref", "baseMVA", "branch_is")
        cached = {k: internal[k] for k in keep}
        cached["Ybus"] = sp.csr_matrix(internal["Ybus"])
        cached["n_bus"] = internal["bus"].shape[0]
        cached["bus_lookup"] = np.asarray(lookups["bus"])
        cached["branch_lookup"] = {k: v for k, v in lookups["branch"].items()}
        ppc_of_bus = cached["bus_lookup"][grid.bus_ids]
        covered = np.zeros(cached["n_bus"], dtype=bool)
        covered[ppc_of_bus] = True
        cached["ppc_of_bus"] = ppc_of_bus
        aux, rest = np.flatnonzero(~covered), np.flatnonzero(covered)
        cached["aux"], cached["rest"] = aux, rest
        cached["y_aux"] = sp.csc_matrix(cached["Ybus"][aux][:, aux])  # Kron blocks
        cached["y_aux_rest"] = cached["Ybus"][aux][:, rest]
        grid.cache["jacobian_model"] = cached
    return cached


def pgm_operating_point(grid: GridModel, model: dict, p_kw: np.ndarray, q_kvar: np.ndarray
                 ) -> np.ndarray | None:
    """Complex bus voltages (pandapower's bus order) of PGM's power flow at these loads, or
    None where the point does not satisfy pandapower's model (module docstring)."""
    from localflex.grid.powerflow import pgm_network, solve_pgm_batch

    try:
        res = solve_pgm_batch(grid, p_kw[None, :], q_kvar[None, :], error_tolerance=1e-12,
                              methods=("newton_raphson",), branch_attrs=[],
                              node_attrs=["u_angle"])
    except GridError:
        return None
    node = pgm_network(grid).bus_node_pos
    v_bus = res["u_pu"][0, node] * np.exp(1j * res["u_angle"][0, node])
    ybus = model["Ybus"]
    v = np.zeros(model["n_bus"], dtype=complex)
    v[model["ppc_of_bus"]] = v_bus
    aux = model["aux"]
    if aux.size:  # buses of pandapower's model only, without injection: Y_aa V_a = −Y_ab V_b
        v[aux] = spla.spsolve(model["y_aux"], -(model["y_aux_rest"] @ v[model["rest"]]))
    if not np.isfinite(v).all():
        return None
    s_bus = np.zeros(model["n_bus"], dtype=complex)
    np.add.at(s_bus, model["ppc_of_bus"], -(p_kw + 1j * q_kvar) / 1e3)
    mismatch = v * np.conj(ybus @ v) - s_bus / float(model["baseMVA"])
    pvpq = np.r_[model["pv"], model["pq"]]
    worst = max(np.abs(mismatch.real[pvpq]).max(initial=0.0),
                np.abs(mismatch.imag[model["pq"]]).max(initial=0.0))
    return v if worst <= MAX_MISMATCH_PU else None


def _jacobian(model: dict, v: np.ndarray) -> sp.csc_matrix:
    """Newton–Raphson Jacobian at ``v``: rows P(pv, pq), Q(pq); columns θ(pv, pq), |V|(pq)."""
    from pandapower.pypower.dSbus_dV import dSbus_dV

    ds_dvm, ds_dva = dSbus_dV(model["Ybus"], v)  # pypower order: |V| first
    pvpq = np.r_[model["pv"], model["pq"]]
    pq = np.asarray(model["pq"])
    ds_dva, ds_dvm = sp.csr_matrix(ds_dva), sp.csr_matrix(ds_dvm)
    top = sp.hstack([ds_dva[pvpq][:, pvpq].real, ds_dvm[pvpq][:, pq].real])
    bottom = sp.hstack([ds_dva[pq][:, pvpq].imag, ds_dvm[pq][:, pq].imag])
    return sp.vstack([top, bottom]).tocsc()


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

    model = pandapower_model(grid, p_kw, q_kvar)
    v = pgm_operating_point(grid, model, p_kw, q_kvar)
    if v is None:  # PGM's point does not fit pandapower's model: pandapower's own
        internal = _solved_net(grid, p_kw, q_kvar)["_ppc"]["internal"]
        v, jac = internal["V"], sp.csc_matrix(internal["J"])
    else:
        jac = _jacobian(model, v)
    pv, pq = np.asarray(model["pv"]), np.asarray(model["pq"])
    pvpq = np.r_[pv, pq]
    n_bus = model["n_bus"]
    theta_col = np.full(n_bus, -1, dtype=np.int64)
    theta_col[pvpq] = np.arange(pvpq.size)
    vm_col = np.full(n_bus, -1, dtype=np.int64)
    vm_col[pq] = pvpq.size + np.arange(pq.size)
    base_mva = float(model["baseMVA"])

    # monitored congestion points -> rows of the in-service branch matrix (ppci)
    cps = congestion_points(grid)
    kind = cps["kind"].to_numpy()[cp_pos]
    element = cps["element"].to_numpy()[cp_pos]
    branch_is = np.asarray(model["branch_is"], dtype=bool)
    ppci_of_ppc = np.cumsum(branch_is) - 1
    rows = np.empty(cp_pos.size, dtype=np.int64)
    for name in ("line", "trafo"):
        mine = kind == name
        if not mine.any():
            continue
        start, _stop = model["branch_lookup"][name]
        ppc = start + grid.net[name].index.get_indexer(element[mine])
        if not branch_is[ppc].all():
            raise GridError(f"grid {grid.code!r}: a monitored {name} is out of service in the "
                            "AC model of the sensitivities")
        rows[mine] = ppci_of_ppc[ppc]
    dsf_dva, dsf_dvm, *_ = dSbr_dV(model["branch"], model["Yf"], model["Yt"], v)
    dpf_dva = sp.csr_matrix(dsf_dva)[rows].real
    dpf_dvm = sp.csr_matrix(dsf_dvm)[rows].real
    n_x = jac.shape[0]
    g_flow = sp.hstack([dpf_dva[:, pvpq], dpf_dvm[:, pq]]).tocsr()  # [CPm, n_x]
    bus_lookup = model["bus_lookup"]
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
