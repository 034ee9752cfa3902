"""The power flow's calculation method, its fallback, its thread count and the Jacobian's
operating point taken from power-grid-model instead of a second pandapower power flow."""

from __future__ import annotations

import numpy as np
import pytest
from power_grid_model import PowerGridModel
from power_grid_model.errors import PowerGridError

from localflex.domain import InputError
from localflex.grid import (
    bus_loads,
    congestion_points,
    power_flow_threads,
    run_power_flow,
    solved_power_flows,
)
from localflex.grid import jacobian as jacobian_module
from localflex.grid.powerflow import solve_pgm_batch


def test_iterative_current_gives_newton_raphsons_answer(mv_grid, midsummer) -> None:
    loads = bus_loads(mv_grid, mv_grid.element_profiles_kw(midsummer))
    ic = solve_pgm_batch(mv_grid, loads.p_kw, loads.q_kvar, methods=("iterative_current",))
    nr = solve_pgm_batch(mv_grid, loads.p_kw, loads.q_kvar, methods=("newton_raphson",))
    np.testing.assert_allclose(ic["u_pu"], nr["u_pu"], atol=1e-7)
    np.testing.assert_allclose(ic["line_i_from"], nr["line_i_from"], rtol=1e-6, atol=1e-6)


def test_a_chunk_the_first_method_cannot_solve_goes_to_newton_raphson(
        lv_grid, midsummer, monkeypatch) -> None:
    loads = bus_loads(lv_grid, lv_grid.element_profiles_kw(midsummer))
    reference = run_power_flow(lv_grid, loads)
    calls: list[str] = []
    real = PowerGridModel.calculate_power_flow

    def refuse_iterative_current(self, *args, **kwargs):
        calls.append(str(kwargs.get("calculation_method")))
        if kwargs.get("calculation_method") == "iterative_current":
            raise PowerGridError("iteration diverged (refused by the test)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(PowerGridModel, "calculate_power_flow", refuse_iterative_current)
    result = run_power_flow(lv_grid, loads)
    assert calls == ["iterative_current", "newton_raphson"]
    np.testing.assert_allclose(result.cp_loading_pct, reference.cp_loading_pct, atol=1e-6)


def test_power_flow_threads_is_scoped_and_checked(lv_grid, midsummer) -> None:
    loads = bus_loads(lv_grid, lv_grid.element_profiles_kw(midsummer))
    before = solved_power_flows()
    with power_flow_threads(1):
        one = run_power_flow(lv_grid, loads)
    assert solved_power_flows() - before == loads.n_isps
    np.testing.assert_allclose(one.bus_vm_pu, run_power_flow(lv_grid, loads).bus_vm_pu,
                               atol=1e-9)
    for bad in (-1, 1.5, "2"):
        with pytest.raises(InputError, match="threads"), power_flow_threads(bad):
            pass


def test_jacobian_at_pgms_point_equals_pandapowers_own(mv_grid, midsummer,
                                                      monkeypatch) -> None:
    """The operating point from PGM (mapped onto pandapower's buses) gives the sensitivities
    of pandapower's own solved point, to the power flows' tolerance (pandapower keeps the
    Jacobian of its last iteration, one step before its converged voltages)."""
    loads = bus_loads(mv_grid, mv_grid.element_profiles_kw(midsummer))
    isp = int(np.argmax(np.abs(loads.p_kw).sum(axis=1)))
    p_kw, q_kvar = loads.p_kw[isp], loads.q_kvar[isp]
    rng = np.random.default_rng(3)
    inj = np.sort(rng.choice(mv_grid.n_buses, size=20, replace=False))
    cp_pos = np.arange(len(congestion_points(mv_grid)))
    v_pos = np.arange(mv_grid.n_buses)
    model = jacobian_module.pandapower_model(mv_grid, p_kw, q_kvar)
    assert jacobian_module.pgm_operating_point(mv_grid, model, p_kw, q_kvar) is not None
    dp_pgm, dv_pgm = jacobian_module.jacobian_sensitivities(mv_grid, p_kw, q_kvar, inj,
                                                            cp_pos, v_pos)
    # pandapower's own power flow for the operating point
    monkeypatch.setattr(jacobian_module, "pgm_operating_point", lambda *args: None)
    dp_pp, dv_pp = jacobian_module.jacobian_sensitivities(mv_grid, p_kw, q_kvar, inj,
                                                          cp_pos, v_pos)
    assert np.abs(dp_pp).max() > 0.5
    np.testing.assert_allclose(dp_pgm, dp_pp, atol=1e-6)
    np.testing.assert_allclose(dv_pgm, dv_pp, atol=1e-5 * np.abs(dv_pp).max())


def test_a_point_that_does_not_fit_pandapowers_model_is_refused(mv_grid, midsummer) -> None:
    """A model that is not the grid's (every admittance 1 % higher): PGM's voltages do not
    satisfy it, so the sensitivities fall back to pandapower's own power flow."""
    loads = bus_loads(mv_grid, mv_grid.element_profiles_kw(midsummer))
    p_kw, q_kvar = loads.p_kw[40], loads.q_kvar[40]
    model = jacobian_module.pandapower_model(mv_grid, p_kw, q_kvar)
    assert jacobian_module.pgm_operating_point(mv_grid, model, p_kw, q_kvar) is not None
    other = {**model, "Ybus": model["Ybus"] * 1.01}
    assert jacobian_module.pgm_operating_point(mv_grid, other, p_kw, q_kvar) is None
