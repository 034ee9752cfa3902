"""Exact flow and voltage sensitivities of a whole DSO area from the AC Jacobian (adjoint).

Paper §5: the DSO needs, for every offer bus, how much a kW there moves each monitored
congestion point and bus voltage. On an area of 9,000+ buses with thousands of offer buses a
perturbation batch (two power flows per offer bus) takes minutes; the derivative of the
power-flow solution is available from one AC power flow instead. With the Newton–Raphson
state ``x = (θ at PV/PQ buses, |V| at PQ buses)`` and the mismatch ``F(x) = S(V) − S_bus``,
``J dx = dS_bus``; for monitored outputs ``y`` with ``G = ∂y/∂x``:

    dy/dP_b = G J⁻¹ e_{P_b} = (J⁻ᵀ Gᵀ)[row of P_b]

so one sparse LU of J and one transposed solve per monitored output (congestion-point flows
from ``dSbr_dV``, voltage magnitudes as unit rows) give all offer buses at once; where the
offer buses are fewer than the outputs, ``G (J⁻¹ E)`` with one solve per offer bus gives the
same matrix more cheaply (``side``). Reactive power is held (as in the perturbation method).

The model is pandapower's (``Ybus``, ``Yf``, ``Yt``, bus types, its bus/branch lookups):
it does not depend on the loads, so it is built once per grid by one ``runpp`` (pandapower's
``_pd2ppc``) and kept. Where it is kept: for a grid loaded from the on-disk grid cache it is
stored in the grid's cache entry as plain arrays (``ac_model-<sha>.npz``,
``grid_cache.add_arrays``), added lazily by the first process that needs it (most runs never
compute these sensitivities, and entries written before need no rebuild), and read by every
later process (a Dask worker, the next run) without importing pandapower; without the cache
(``LOCALFLEX_GRID_CACHE=off``) it is built in every process. In both cases it is kept in
``grid.cache``. The operating point ``V`` of each
call is power-grid-model's AC power flow of the ISP (the engine of every other power flow
here; the two agree to 1e-9 p.u. in magnitude and angle, transformer phase shifts
included), mapped onto pandapower's buses; pandapower's auxiliary buses without injection
(e.g. star points) follow from ``Ybus`` (Kron). ``J`` is built at that ``V`` from
``dSbus_dV`` and the flows' derivatives from ``dSbr_dV`` (``localflex.grid.ac_derivatives``,
PYPOWER's formulas; for the monitored branches only). The point is checked: where its power
mismatch in the model exceeds ``MAX_MISMATCH_PU`` the ISP is solved by pandapower's ``runpp``
instead (the only case that imports pandapower once the model is stored).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from localflex.domain.errors import GridError, InputError
from localflex.grid.ac_derivatives import dSbr_dV, dSbus_dV
from localflex.grid.congestion import congestion_points
from localflex.grid.simbench_loader import GridModel, pandapower_net

__all__ = [
    "AC_MODEL_FORMAT",
    "SIDES",
    "ac_jacobian",
    "build_model_arrays",
    "jacobian_sensitivities",
    "model_of_arrays",
    "pandapower_model",
    "pgm_operating_point",
    "solved_pandapower_net",
]

_F_BUS, _T_BUS = 0, 1  # columns of pypower's branch matrix (pandapower.pypower.idx_brch)

SIDES = ("auto", "adjoint", "forward")
"""Which linear system ``jacobian_sensitivities`` solves (see there)."""

MAX_MISMATCH_PU = 1e-6
"""Largest power mismatch (p.u. of baseMVA) of PGM's operating point in pandapower's model."""


def solved_pandapower_net(grid: GridModel, p_kw: np.ndarray, q_kvar: np.ndarray):
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


AC_MODEL_FORMAT = 1
"""Layout of the AC model's arrays in the grid cache. Bump it when the layout changes and
also when what ``solved_pandapower_net`` builds changes (elements taken out of service,
``runpp`` options that shape pandapower's internal model): the cache key is only the code,
the library versions and this number, so a stale model would otherwise be served."""


def build_model_arrays(grid: GridModel, p_kw: np.ndarray, q_kvar: np.ndarray
                        ) -> dict[str, np.ndarray]:
    """The load-independent parts of pandapower's internal model, from one ``runpp``, as
    plain arrays (sparse matrices as their CSR arrays): what the grid cache stores."""
    net = solved_pandapower_net(grid, p_kw, q_kvar)
    internal = net["_ppc"]["internal"]
    lookups = net["_pd2ppc_lookups"]
    out: dict[str, np.ndarray] = {}
    for name in ("Ybus", "Yf", "Yt"):
        matrix = sp.csr_matrix(internal[name])  # pandapower's entry order kept: same sums
        out[f"{name}_data"], out[f"{name}_indices"] = matrix.data, matrix.indices
        out[f"{name}_indptr"] = matrix.indptr
        out[f"{name}_shape"] = np.asarray(matrix.shape, dtype=np.int64)
    branch = internal["branch"]
    out["f_bus"] = branch[:, _F_BUS].real.astype(np.int64)
    out["t_bus"] = branch[:, _T_BUS].real.astype(np.int64)
    for name in ("pv", "pq", "ref"):
        out[name] = np.asarray(internal[name], dtype=np.int64)
    out["base_mva"] = np.asarray(float(internal["baseMVA"]))
    out["branch_is"] = np.asarray(internal["branch_is"], dtype=bool)
    out["n_bus"] = np.asarray(internal["bus"].shape[0], dtype=np.int64)
    out["bus_lookup"] = np.asarray(lookups["bus"], dtype=np.int64)
    names = sorted(lookups["branch"])
    out["branch_lookup_names"] = np.asarray(names, dtype=np.str_)
    out["branch_lookup_ranges"] = np.asarray([lookups["branch"][k] for k in names],
                                             dtype=np.int64).reshape(-1, 2)
    return out


def model_of_arrays(grid: GridModel, arrays: dict[str, np.ndarray]) -> dict:
    """The model dict of ``jacobian_sensitivities`` from the stored arrays."""
    model: dict = {}
    for name in ("Ybus", "Yf", "Yt"):
        model[name] = sp.csr_matrix(
            (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
            shape=tuple(int(n) for n in arrays[f"{name}_shape"]))
    for name in ("f_bus", "t_bus", "pv", "pq", "ref", "branch_is", "bus_lookup"):
        model[name] = arrays[name]
    model["baseMVA"] = float(arrays["base_mva"])
    model["n_bus"] = int(arrays["n_bus"])
    model["branch_lookup"] = {str(k): (int(a), int(b)) for k, (a, b) in
                              zip(arrays["branch_lookup_names"],
                                  arrays["branch_lookup_ranges"], strict=True)}
    ybus = model["Ybus"]
    if ybus.shape != (model["n_bus"], model["n_bus"]):
        raise GridError(f"grid {grid.code!r}: AC model Ybus has shape {ybus.shape}, "
                        f"expected ({model['n_bus']}, {model['n_bus']}) (n_bus)")
    ppc_of_bus = model["bus_lookup"][grid.bus_ids]
    covered = np.zeros(model["n_bus"], dtype=bool)
    covered[ppc_of_bus] = True
    model["ppc_of_bus"] = ppc_of_bus
    aux, rest = np.flatnonzero(~covered), np.flatnonzero(covered)
    model["aux"], model["rest"] = aux, rest
    y_aux_rows = ybus[aux]
    model["y_aux"] = sp.csc_matrix(y_aux_rows[:, aux])  # Kron blocks
    model["y_aux_rest"] = y_aux_rows[:, rest]
    return model


def pandapower_model(grid: GridModel, p_kw: np.ndarray, q_kvar: np.ndarray) -> dict:
    """pandapower's internal model of the grid's AC power flow (load-independent parts):
    kept per grid (``grid.cache``); for a grid loaded from the grid cache read from its entry,
    or built by one ``runpp`` at these loads and added to the entry (``grid_cache.add_arrays``,
    atomic); without the cache built by ``runpp`` in every process."""
    cached = grid.cache.get("jacobian_model")
    if cached is not None:
        return cached
    from localflex.grid import grid_cache

    on_disk = bool(grid.cache.get("disk_cache"))
    arrays = (grid_cache.read_arrays(grid.code, "ac_model", AC_MODEL_FORMAT)
              if on_disk else None)
    if arrays is None:
        arrays = build_model_arrays(grid, p_kw, q_kvar)
        if on_disk:
            grid_cache.add_arrays(grid.code, "ac_model", AC_MODEL_FORMAT, arrays)
    cached = grid.cache["jacobian_model"] = model_of_arrays(grid, arrays)
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


def ac_jacobian(model: dict, v: np.ndarray) -> sp.csc_matrix:
    """Newton–Raphson Jacobian at ``v``: rows P(pv, pq), Q(pq); columns θ(pv, pq), |V|(pq)."""
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
    *,
    side: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """``dp_kw_per_kw`` [CPm, Bo] and ``dv_pu_per_kw`` [Bm, Bo] at the bus loads ``p_kw``,
    ``q_kvar`` [B] (bus axis) for injections at bus positions ``inj_pos``.

    ``side``: "adjoint" solves ``Jᵀ λ = Gᵀ`` (one right-hand side per monitored output),
    "forward" ``J x = e_{P_b}`` (one per distinct injection bus), "auto" the side with fewer
    right-hand sides (both give the same matrix to rounding; a SuperLU solve costs the same
    per right-hand side either way: 0.7 ms on the 9,104-bus area)."""
    if side not in SIDES:
        raise InputError("side", side, f"one of {SIDES}")
    model = pandapower_model(grid, p_kw, q_kvar)
    v = pgm_operating_point(grid, model, p_kw, q_kvar)
    if v is None:  # PGM's point does not fit pandapower's model: pandapower's own
        internal = solved_pandapower_net(grid, p_kw, q_kvar)["_ppc"]["internal"]
        v, jac = internal["V"], sp.csc_matrix(internal["J"])
    else:
        jac = ac_jacobian(model, v)
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
    dsf_dva, dsf_dvm, *_ = dSbr_dV(model["f_bus"], model["t_bus"], model["Yf"], None, v,
                                   rows=rows)  # the monitored rows only
    dpf_dva, dpf_dvm = dsf_dva.real, dsf_dvm.real
    n_x = jac.shape[0]
    g_flow = sp.hstack([dpf_dva[:, pvpq], dpf_dvm[:, pq]]).tocsr()  # [CPm, n_x]
    bus_lookup = model["bus_lookup"]
    v_bus = bus_lookup[grid.bus_ids[vm_bus_pos]]
    v_col = vm_col[v_bus]  # -1: slack/PV bus, fixed voltage
    has_v = v_col >= 0
    g_volt = sp.csr_matrix((np.ones(int(has_v.sum())), (np.flatnonzero(has_v), v_col[has_v])),
                           shape=(vm_bus_pos.size, n_x))
    g_all = sp.vstack([g_flow, g_volt]).tocsr()  # [CPm + Bm, n_x]
    inj_bus = bus_lookup[grid.bus_ids[inj_pos]]
    p_row = theta_col[inj_bus]  # P equation of the injection bus (-1: slack, no effect)
    ok = p_row >= 0
    p_rows, inj_of = np.unique(p_row[ok], return_inverse=True)
    sens = np.zeros((g_all.shape[0], inj_pos.size))
    if side == "auto":
        side = "forward" if p_rows.size < g_all.shape[0] else "adjoint"
    if not g_all.shape[0] or not p_rows.size:
        side = "none"  # nothing monitored or no injection outside the slack: all zero
    if side == "adjoint":
        # J⁻ᵀ Gᵀ: SuperLU's transposed solve on a column-major right-hand side (10× faster
        # than factorising Jᵀ and solving a row-major one)
        rhs = np.asfortranarray(g_all.T.toarray())  # [n_x, CPm + Bm]
        lam = spla.splu(jac).solve(rhs, trans="T")
        sens[:, ok] = lam[p_rows[inj_of], :].T
    elif side == "forward":  # G J⁻¹ E: one unit right-hand side per distinct injection bus
        rhs = np.zeros((n_x, p_rows.size), order="F")
        rhs[p_rows, np.arange(p_rows.size)] = 1.0
        x = spla.splu(jac).solve(rhs)
        sens[:, ok] = (g_all @ x)[:, inj_of]
    dp = sens[: cp_pos.size]  # p.u. flow per p.u. injection = kW per kW
    dv = sens[cp_pos.size:] * (1e-3 / base_mva)  # p.u. voltage per kW
    return np.ascontiguousarray(dp), np.ascontiguousarray(dv)
