"""Linear flow/voltage sensitivities against a second, real power flow."""

from __future__ import annotations

import numpy as np
import pytest

from localflex.domain import HorizonError, InputError
from localflex.grid import (
    BusLoads,
    bus_loads,
    congestion_points,
    flow_sensitivity,
    monitored_points,
    relief_kw_per_kw_up,
    relief_scale,
    run_power_flow,
    sparse_sensitivity,
)


@pytest.mark.parametrize(("grid_name", "inject_kw"), [("lv_grid", 20.0), ("mv_grid", 200.0)])
def test_predicted_flow_change_matches_power_flow(request, midsummer, grid_name, inject_kw):
    grid = request.getfixturevalue(grid_name)
    loads = bus_loads(grid, grid.element_profiles_kw(midsummer))
    sens = flow_sensitivity(grid, loads)
    cps = congestion_points(grid)
    assert sens.dp_kw_per_kw.shape == (len(cps), grid.n_buses)
    assert sens.dv_pu_per_kw.shape == (grid.n_buses, grid.n_buses)
    t = sens.isp
    base = BusLoads(loads.p_kw[[t]], loads.q_kvar[[t]])
    r0 = run_power_flow(grid, base)
    bus = grid.n_buses - 1  # a feeder-end bus
    p = base.p_kw.copy()
    p[0, bus] -= inject_kw  # +inject_kw of injection (UP)
    r1 = run_power_flow(grid, BusLoads(p, base.q_kvar))

    dp_true = r1.cp_p_kw[0] - r0.cp_p_kw[0]
    dp_pred = sens.dp_kw_per_kw[:, bus] * inject_kw
    scale = np.abs(dp_true).max()
    assert scale > 0.5 * inject_kw
    assert np.abs(dp_pred - dp_true).max() < 0.03 * scale

    dv_true = r1.bus_vm_pu[0] - r0.bus_vm_pu[0]
    dv_pred = sens.dv_pu_per_kw[:, bus] * inject_kw
    assert np.abs(dv_pred - dv_true).max() < 0.03 * np.abs(dv_true).max()

    # relief in overload units vs the real change of loading (kVA-equivalent)
    rated = cps["rated_kva"].to_numpy()
    relief_true = -(r1.cp_loading_pct[0] - r0.cp_loading_pct[0]) / 100 * rated
    relief_pred = relief_kw_per_kw_up(sens, r0)[0, :, bus] * inject_kw
    k = np.argmax(np.abs(relief_true))
    assert relief_pred[k] == pytest.approx(relief_true[k], rel=0.03)


def test_injection_at_a_bus_moves_its_upstream_line(lv_grid, midsummer) -> None:
    loads = bus_loads(lv_grid, lv_grid.element_profiles_kw(midsummer))
    sens = flow_sensitivity(lv_grid, loads, isp=48)
    # the LV transformer (cp 0, hv->lv) sees about -1 kW per kW injected anywhere downstream
    lv_side = lv_grid.bus_ids != lv_grid.net.trafo.loc[0, "hv_bus"]
    np.testing.assert_allclose(sens.dp_kw_per_kw[0, lv_side], -1.0, atol=0.1)
    # and injections raise voltages
    assert (np.diag(sens.dv_pu_per_kw)[lv_side] > 0).all()


def test_bad_isp_raises(lv_grid, midsummer) -> None:
    loads = bus_loads(lv_grid, lv_grid.element_profiles_kw(midsummer))
    with pytest.raises(HorizonError):
        flow_sensitivity(lv_grid, loads, isp=96)


@pytest.mark.parametrize("grid_name", ["lv_grid", "mv_grid"])
def test_sparse_sensitivity_equals_the_dense_one_on_its_subset(request, midsummer, grid_name):
    grid = request.getfixturevalue(grid_name)
    loads = bus_loads(grid, grid.element_profiles_kw(midsummer))
    dense = flow_sensitivity(grid, loads)
    rng = np.random.default_rng(3)
    inj = np.sort(rng.choice(grid.bus_ids, size=7, replace=False))
    cp_pos = np.array([0, 2, len(congestion_points(grid)) - 1])
    v_pos = np.array([1, grid.n_buses - 1])
    sparse = sparse_sensitivity(grid, loads, inj[::-1], cp_pos=cp_pos, vm_bus_pos=v_pos)
    assert sparse.isp == dense.isp
    np.testing.assert_array_equal(sparse.injection_bus_ids, inj)
    cols = grid.bus_index_of(inj)
    np.testing.assert_allclose(sparse.dp_kw_per_kw, dense.dp_kw_per_kw[np.ix_(cp_pos, cols)],
                               atol=1e-8)  # solver tolerance 1e-10 p.u. over 2 kW
    np.testing.assert_allclose(sparse.dv_pu_per_kw, dense.dv_pu_per_kw[np.ix_(v_pos, cols)],
                               atol=1e-10)
    # relief: the factored form reproduces the dense [T, CP, B] array on the subset
    state = run_power_flow(grid, loads)
    scale = relief_scale(state, cp_pos, sparse.cp_rated_kva)
    dense_relief = relief_kw_per_kw_up(dense, state)[:, cp_pos][:, :, cols]
    np.testing.assert_allclose(scale[:, :, None] * sparse.dp_kw_per_kw[None], dense_relief,
                               atol=1e-8)


def test_monitored_points_are_the_loaded_points_and_stressed_buses(mv_grid, midsummer) -> None:
    loads = bus_loads(mv_grid, mv_grid.element_profiles_kw(midsummer))
    state = run_power_flow(mv_grid, loads)
    mon = monitored_points(mv_grid, state, loading_margin_pct=0.0, voltage_margin_pu=0.0)
    limit = congestion_points(mv_grid)["max_loading_pct"].to_numpy()
    np.testing.assert_array_equal(mon.cp_pos,
                                  np.flatnonzero((state.cp_loading_pct >= limit).any(axis=0)))
    wide = monitored_points(mv_grid, state, loading_margin_pct=100.0, voltage_margin_pu=0.2)
    assert wide.cp_pos.size == len(limit)
    assert wide.bus_pos.size == mv_grid.n_buses
    with pytest.raises(InputError):
        monitored_points(mv_grid, state, loading_margin_pct=-1.0)


def test_dense_sensitivity_is_refused_on_an_area(lv_grid, midsummer, monkeypatch) -> None:
    import localflex.grid.sensitivity as sensitivity

    monkeypatch.setattr(sensitivity, "DENSE_MAX_BUSES", lv_grid.n_buses - 1)
    loads = bus_loads(lv_grid, lv_grid.element_profiles_kw(midsummer))
    with pytest.raises(InputError, match="dense"):
        flow_sensitivity(lv_grid, loads)


@pytest.mark.parametrize(("grid_name", "dp_tol"), [("lv_grid", 1e-4), ("mv_grid", 1e-6)])
def test_jacobian_sensitivities_match_the_perturbation_batch(request, midsummer, grid_name,
                                                             dp_tol) -> None:
    """The area method (adjoint of pandapower's AC Jacobian) against the PGM central
    difference: the same derivative of the same grid, to the two models' agreement."""
    grid = request.getfixturevalue(grid_name)
    loads = bus_loads(grid, grid.element_profiles_kw(midsummer))
    rng = np.random.default_rng(5)
    inj = rng.choice(grid.bus_ids, size=min(12, grid.n_buses), replace=False)
    cp_pos = np.arange(len(congestion_points(grid)))
    v_pos = np.arange(grid.n_buses)
    batch = sparse_sensitivity(grid, loads, inj, cp_pos=cp_pos, vm_bus_pos=v_pos,
                               method="pgm_batch")
    jac = sparse_sensitivity(grid, loads, inj, cp_pos=cp_pos, vm_bus_pos=v_pos,
                             method="jacobian")
    np.testing.assert_array_equal(jac.injection_bus_ids, batch.injection_bus_ids)
    assert np.abs(batch.dp_kw_per_kw).max() > 0.5
    np.testing.assert_allclose(jac.dp_kw_per_kw, batch.dp_kw_per_kw, atol=dp_tol)
    np.testing.assert_allclose(jac.dv_pu_per_kw, batch.dv_pu_per_kw,
                               atol=1e-2 * np.abs(batch.dv_pu_per_kw).max())
    with pytest.raises(InputError):
        sparse_sensitivity(grid, loads, inj, cp_pos=cp_pos, vm_bus_pos=v_pos, method="exact")
