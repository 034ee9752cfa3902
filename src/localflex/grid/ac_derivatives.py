"""Polar derivatives of the AC bus injections and branch flows (MATPOWER/PYPOWER formulas).

Paper §5: the DSO's congestion-management sensitivities (``localflex.grid.jacobian``) need
the Newton–Raphson Jacobian of the power flow and the derivative of the congestion points'
flows with respect to the bus voltages. These are the formulas of R. D. Zimmerman, "AC Power
Flows, Generalized OPF Costs and their Derivatives using Complex Matrix Notation" (MATPOWER
Technical Note 2), as PYPOWER's ``dSbus_dV``/``dSbr_dV`` compute them, written here with
``scipy.sparse`` diagonal scalings so that the sensitivities need no pandapower import.
``V`` is the complex bus voltage (p.u.), ``Ybus`` [nb, nb], ``Yf``/``Yt`` [nl, nb] the
admittance matrices of the in-service branches' from/to ends, ``f_bus``/``t_bus`` [nl] their
bus indices; every returned matrix is CSR.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from localflex.domain.errors import GridError

__all__ = ["dSbr_dV", "dSbus_dV"]


def _diag(values: np.ndarray) -> sp.csr_matrix:
    return sp.diags(values, format="csr")


def _check(name: str, matrix: sp.spmatrix, n_bus: int) -> None:
    if matrix.ndim != 2 or matrix.shape[1] != n_bus:
        raise GridError(f"{name} has shape {matrix.shape}, expected (n, {n_bus}) for "
                        f"{n_bus} bus voltages")


def dSbus_dV(ybus: sp.spmatrix, v: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(dS_dVm, dS_dVa)``: derivatives [nb, nb] of the complex bus injections
    ``S = diag(V) conj(Ybus V)`` with respect to the voltage magnitudes and angles
    (PYPOWER's order: magnitudes first)."""
    v = np.asarray(v, dtype=complex)
    ybus = sp.csr_matrix(ybus)
    _check("Ybus", ybus, v.size)
    i_bus = ybus @ v
    v_norm = v / np.abs(v)
    diag_v = _diag(v)
    # diag(V) conj(Ybus diag(Vnorm)) + conj(diag(Ibus)) diag(Vnorm)
    diag_v_norm = _diag(v_norm)
    ds_dvm = diag_v @ (ybus @ diag_v_norm).conjugate() + _diag(i_bus).conjugate() @ diag_v_norm
    # j diag(V) conj(diag(Ibus) − Ybus diag(V))
    ds_dva = 1j * (diag_v @ (_diag(i_bus) - ybus @ diag_v).conjugate())
    return sp.csr_matrix(ds_dvm), sp.csr_matrix(ds_dva)


def _branch_end(y: sp.csr_matrix, bus: np.ndarray, v: np.ndarray, v_norm: np.ndarray
                ) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """``(dS_dVa, dS_dVm, S)`` of one branch end with admittance rows ``y`` at ``bus``."""
    n_l, n_b = y.shape
    rows = np.arange(n_l)
    i_end = y @ v
    v_end = v[bus]
    diag_v_end = _diag(v_end)
    at_bus = sp.csr_matrix((v_end, (rows, bus)), shape=(n_l, n_b))
    norm_at_bus = sp.csr_matrix((v_norm[bus], (rows, bus)), shape=(n_l, n_b))
    ds_dva = 1j * (_diag(np.conj(i_end)) @ at_bus - diag_v_end @ (y @ _diag(v)).conjugate())
    ds_dvm = diag_v_end @ (y @ _diag(v_norm)).conjugate() + _diag(np.conj(i_end)) @ norm_at_bus
    return sp.csr_matrix(ds_dva), sp.csr_matrix(ds_dvm), v_end * np.conj(i_end)


def dSbr_dV(f_bus: np.ndarray, t_bus: np.ndarray, yf: sp.spmatrix, yt: sp.spmatrix | None,
            v: np.ndarray, rows: np.ndarray | None = None) -> tuple:
    """``(dSf_dVa, dSf_dVm, dSt_dVa, dSt_dVm, Sf, St)`` of the branch flows (PYPOWER's
    ``dSbr_dV``): derivatives [nl, nb] of the complex power entering each branch at its from
    and to end, and the flows [nl] themselves.

    ``rows`` (optional) restricts everything to those branches (the monitored ones): the
    result equals the full one's rows, computed from those rows of ``Yf``/``Yt`` only.
    ``yt=None`` skips the to end (its entries are then None)."""
    v = np.asarray(v, dtype=complex)
    f_bus = np.asarray(f_bus, dtype=np.int64)
    t_bus = np.asarray(t_bus, dtype=np.int64)
    yf = sp.csr_matrix(yf)
    _check("Yf", yf, v.size)
    if f_bus.shape != (yf.shape[0],):
        raise GridError(f"f_bus has shape {f_bus.shape}, expected ({yf.shape[0]},): one "
                        "from bus per row of Yf")
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        yf, f_bus = yf[rows], f_bus[rows]
    v_norm = v / np.abs(v)
    dsf_dva, dsf_dvm, s_f = _branch_end(yf, f_bus, v, v_norm)
    if yt is None:
        return dsf_dva, dsf_dvm, None, None, s_f, None
    yt = sp.csr_matrix(yt)
    _check("Yt", yt, v.size)
    if rows is not None:
        yt, t_bus = yt[rows], t_bus[rows]
    dst_dva, dst_dvm, s_t = _branch_end(yt, t_bus, v, v_norm)
    return dsf_dva, dsf_dvm, dst_dva, dst_dvm, s_f, s_t
