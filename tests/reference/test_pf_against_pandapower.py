"""Cross-check: the PGM batch power flow against pandapower ``runpp`` (independent engine).

pandapower is run on a copy of the original net with every load, static generator and storage
set to its own profile value (not via localflex's per-bus aggregation), so the check covers
the profile mapping, ``bus_loads``, the PGM converter and the loading definitions. Six ISPs of
midsummer 2030 (→ 2016-06-21): night, morning, PV peak, afternoon, evening peak, late evening.
Tolerances: bus voltages 1e-4 p.u., branch loadings 0.1 percentage points.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandapower as pp
import pytest

from localflex.domain import TimeGrid
from localflex.grid import BusLoads, bus_loads, congestion_points, run_power_flow
from localflex.grid.simbench_loader import pandapower_net

ISPS = np.array([8, 32, 50, 64, 76, 88])  # 02:00, 08:00, 12:30, 16:00, 19:00, 22:00
VM_TOL_PU = 1e-4
LOADING_TOL_PCT = 0.1


def _pandapower_elementwise(grid, profiles, isps):
    net = pandapower_net(grid.net)  # a pandapowerNet also when the grid came from the cache
    vm, line_pct, trafo_pct, p_hv = [], [], [], []
    for t in isps:
        net.load["p_mw"] = profiles.load_p_kw[t] / 1e3
        net.load["q_mvar"] = profiles.load_q_kvar[t] / 1e3
        net.sgen["p_mw"] = profiles.sgen_p_kw[t] / 1e3
        net.storage["p_mw"] = profiles.storage_p_kw[t] / 1e3
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            pp.runpp(net, numba=False)
        vm.append(net.res_bus["vm_pu"].reindex(grid.bus_ids).to_numpy())
        line_pct.append(net.res_line["loading_percent"].to_numpy())
        trafo_pct.append(net.res_trafo["loading_percent"].to_numpy())
        p_hv.append(net.res_trafo["p_hv_mw"].to_numpy() * 1e3)
    return tuple(np.array(a) for a in (vm, line_pct, trafo_pct, p_hv))


@pytest.mark.parametrize("grid_name", ["lv_grid", "mv_grid", "mv_ring_grid"])
def test_pgm_matches_pandapower_runpp(request, midsummer: TimeGrid, grid_name: str) -> None:
    grid = request.getfixturevalue(grid_name)
    profiles = grid.element_profiles_kw(midsummer)
    loads = bus_loads(grid, profiles)
    sel = BusLoads(loads.p_kw[ISPS], loads.q_kvar[ISPS])
    res = run_power_flow(grid, sel, engine="pgm")
    vm, line_pct, trafo_pct, p_hv_kw = _pandapower_elementwise(grid, profiles, ISPS)

    assert np.isfinite(vm).all()
    np.testing.assert_allclose(res.bus_vm_pu, vm, rtol=0, atol=VM_TOL_PU)
    np.testing.assert_allclose(res.line_loading_pct, line_pct, rtol=0, atol=LOADING_TOL_PCT)
    np.testing.assert_allclose(res.trafo_loading_pct, trafo_pct, rtol=0, atol=LOADING_TOL_PCT)
    # the congestion-point view picks the same numbers; the trafo hv-side power agrees
    cps = congestion_points(grid)
    n_tr = int((cps["kind"] == "trafo").sum())
    np.testing.assert_allclose(res.cp_loading_pct[:, :n_tr], trafo_pct, atol=LOADING_TOL_PCT)
    np.testing.assert_allclose(res.cp_p_kw[:, :n_tr], p_hv_kw, rtol=1e-5, atol=0.01)
    # the grid is meaningfully loaded in these ISPs (the check is not trivially met)
    assert max(line_pct.max(), trafo_pct.max()) > 20.0


def test_pandapower_engine_agrees_with_pgm(lv_grid, midsummer: TimeGrid) -> None:
    loads = bus_loads(lv_grid, lv_grid.element_profiles_kw(midsummer))
    sel = BusLoads(loads.p_kw[ISPS], loads.q_kvar[ISPS])
    a = run_power_flow(lv_grid, sel, engine="pgm")
    b = run_power_flow(lv_grid, sel, engine="pandapower")
    assert b.engine == "pandapower"
    np.testing.assert_allclose(a.bus_vm_pu, b.bus_vm_pu, atol=VM_TOL_PU)
    np.testing.assert_allclose(a.cp_loading_pct, b.cp_loading_pct, atol=LOADING_TOL_PCT)
    np.testing.assert_allclose(a.cp_p_kw, b.cp_p_kw, rtol=1e-5, atol=0.01)
    np.testing.assert_allclose(a.cp_s_kva, b.cp_s_kva, rtol=1e-5, atol=0.01)
