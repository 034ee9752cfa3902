"""localflex's own dSbus_dV/dSbr_dV equal pandapower's (PYPOWER's) on a real grid, and the
Jacobian's AC model from the grid cache gives the sensitivities without importing pandapower."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from localflex.domain import GridError
from localflex.grid import bus_loads
from localflex.grid import jacobian as jacobian_module
from localflex.grid.ac_derivatives import dSbr_dV, dSbus_dV


@pytest.fixture(scope="module")
def solved(mv_grid, midsummer):
    """pandapower's solved internal model of the MV grid at its heaviest ISP."""
    loads = bus_loads(mv_grid, mv_grid.element_profiles_kw(midsummer))
    isp = int(np.argmax(np.abs(loads.p_kw).sum(axis=1)))
    return jacobian_module.solved_pandapower_net(mv_grid, loads.p_kw[isp],
                                       loads.q_kvar[isp])["_ppc"]["internal"]


def _close(ours, theirs) -> None:
    theirs = sp.csr_matrix(theirs)
    scale = max(abs(theirs).max(), 1.0)
    assert ours.shape == theirs.shape
    assert abs(sp.csr_matrix(ours) - theirs).max() <= 1e-12 * scale


def test_dsbus_dv_equals_pandapowers(solved) -> None:
    from pandapower.pypower.dSbus_dV import dSbus_dV as pp_dsbus_dv

    ybus, v = sp.csr_matrix(solved["Ybus"]), solved["V"]
    for ours, theirs in zip(dSbus_dV(ybus, v), pp_dsbus_dv(ybus, v), strict=True):
        _close(ours, theirs)


def test_dsbr_dv_equals_pandapowers_and_its_rows(solved) -> None:
    from pandapower.pypower.dSbr_dV import dSbr_dV as pp_dsbr_dv

    branch, yf, yt, v = solved["branch"], solved["Yf"], solved["Yt"], solved["V"]
    f_bus, t_bus = branch[:, 0].real.astype(np.int64), branch[:, 1].real.astype(np.int64)
    ours = dSbr_dV(f_bus, t_bus, yf, yt, v)
    theirs = pp_dsbr_dv(branch, yf, yt, v)
    for a, b in zip(ours[:4], theirs[:4], strict=True):
        _close(a, b)
    for a, b in zip(ours[4:], theirs[4:], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())
    rows = np.array([3, 0, len(f_bus) - 1])
    part = dSbr_dV(f_bus, t_bus, yf, yt, v, rows=rows)
    for a, b in zip(part[:4], ours[:4], strict=True):
        _close(a, b[rows])
    with pytest.raises(GridError, match="Yf has shape"):
        dSbr_dV(f_bus, t_bus, yf[:, :-1], yt, v)


def test_the_model_from_its_arrays_equals_pandapowers(mv_grid, midsummer, solved) -> None:
    loads = bus_loads(mv_grid, mv_grid.element_profiles_kw(midsummer))
    model = jacobian_module.model_of_arrays(
        mv_grid, jacobian_module.build_model_arrays(mv_grid, loads.p_kw[0], loads.q_kvar[0]))
    for name in ("Ybus", "Yf", "Yt"):
        assert abs(model[name] - sp.csr_matrix(solved[name])).max() == 0
    for name in ("pv", "pq", "ref"):
        np.testing.assert_array_equal(model[name], solved[name])
    np.testing.assert_array_equal(model["f_bus"], solved["branch"][:, 0].real.astype(int))
    assert model["baseMVA"] == solved["baseMVA"]
    # the Jacobian at pandapower's point is pandapower's own (its last iteration's J is one
    # step before its V: equal to the power flow's tolerance)
    jac = jacobian_module.ac_jacobian(model, solved["V"])
    assert abs(jac - sp.csc_matrix(solved["J"])).max() <= 1e-6 * abs(jac).max()


_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from localflex.grid import bus_loads, congestion_points, known_codes, load_simbench_grid
    from localflex.grid.jacobian import jacobian_sensitivities
    from localflex.domain import TimeGrid
    assert "1-LV-rural1--2-sw" in known_codes()  # a study's check of its codes
    grid = load_simbench_grid("1-LV-rural1--2-sw")
    loads = bus_loads(grid, grid.element_profiles_kw(TimeGrid.for_day("2030-06-21")))
    cp = np.arange(len(congestion_points(grid)))
    inj = np.arange(1, grid.n_buses)
    dp, dv = jacobian_sensitivities(grid, loads.p_kw[48], loads.q_kvar[48], inj, cp,
                                    np.arange(grid.n_buses))
    print(json.dumps({"pandapower": "pandapower" in sys.modules,
                      "dp": dp.tolist(), "dv": dv.tolist()}))
""")


def _child(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sensitivities_on_a_cached_grid_need_no_pandapower(tmp_path) -> None:
    """The first process builds the entry and its AC model (pandapower); the next one reads
    both from the cache and computes the same sensitivities without importing pandapower."""
    env = {**os.environ, "LOCALFLEX_CACHE_DIR": str(tmp_path), "LOCALFLEX_GRID_CACHE": "on"}
    first = _child(env)
    entry = next(tmp_path.glob("simbench-*/1-LV-rural1--2-sw"))
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["arrays"]["ac_model"]["file"] in manifest["files"]
    assert not list(entry.glob(".*"))  # no temporary file left
    second = _child(env)
    assert first["pandapower"] and not second["pandapower"]
    np.testing.assert_array_equal(second["dp"], first["dp"])
    np.testing.assert_array_equal(second["dv"], first["dv"])


def test_both_sides_of_the_solve_give_the_same_sensitivities(mv_grid, midsummer) -> None:
    from localflex.domain import InputError
    from localflex.grid import congestion_points

    loads = bus_loads(mv_grid, mv_grid.element_profiles_kw(midsummer))
    p_kw, q_kvar = loads.p_kw[50], loads.q_kvar[50]
    cp = np.arange(len(congestion_points(mv_grid)))
    vm = np.arange(0, mv_grid.n_buses, 3)
    for inj in (np.array([5, 7, 7, 0, 30]), np.arange(mv_grid.n_buses)):  # repeated, slack
        out = {side: jacobian_module.jacobian_sensitivities(mv_grid, p_kw, q_kvar, inj, cp, vm,
                                                            side=side)
               for side in ("adjoint", "forward", "auto")}
        for name in (0, 1):
            ref = out["adjoint"][name]
            assert np.abs(ref).max() > 0
            for side in ("forward", "auto"):
                np.testing.assert_allclose(out[side][name], ref, rtol=0,
                                           atol=1e-12 * np.abs(ref).max())
    with pytest.raises(InputError, match="side"):
        jacobian_module.jacobian_sensitivities(mv_grid, p_kw, q_kvar, inj, cp, vm, side="up")
