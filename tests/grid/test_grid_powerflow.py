"""Bus loads, the PGM batch power flow and congestion-point bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from localflex.domain import GridError, InputError
from localflex.grid import (
    CP_COLUMNS,
    BusLoads,
    bus_loads,
    congestion_points,
    headroom_kw,
    overload_kw,
    run_power_flow,
    voltage_limits,
)


def test_bus_loads_sign_and_totals(lv_grid, midsummer) -> None:
    prof = lv_grid.element_profiles_kw(midsummer)
    loads = bus_loads(lv_grid, prof)
    assert loads.p_kw.shape == (96, lv_grid.n_buses)
    expected = prof.load_p_kw.sum(1) - prof.sgen_p_kw.sum(1) + prof.storage_p_kw.sum(1)
    np.testing.assert_allclose(loads.p_kw.sum(axis=1), expected)
    np.testing.assert_allclose(loads.q_kvar.sum(axis=1), prof.load_q_kvar.sum(1))
    assert loads.p_kw[48].sum() < 0  # PV feeds back at noon in June


def test_congestion_points_and_limits(mv_grid) -> None:
    cps = congestion_points(mv_grid)
    assert list(cps.columns) == list(CP_COLUMNS)
    net = mv_grid.net
    assert (cps["kind"] == "trafo").sum() == net.trafo["in_service"].sum()
    assert (cps["kind"] == "line").sum() == net.line["in_service"].sum()
    assert cps["cp_id"].is_unique
    assert cps.loc[0, "cp_id"] == "trafo:0"
    line = cps[cps["kind"] == "line"].iloc[0]
    row = net.line.loc[line["element"]]
    assert line["rated_kva"] == pytest.approx(np.sqrt(3) * 20.0 * row["max_i_ka"] * 1e3)
    vl = voltage_limits(mv_grid)
    assert list(vl.columns) == ["bus", "vm_min_pu", "vm_max_pu"]
    assert (vl["vm_min_pu"] < vl["vm_max_pu"]).all()
    np.testing.assert_array_equal(vl["bus"], mv_grid.bus_ids)


def test_pgm_results_shapes_and_overload(lv_grid, midsummer) -> None:
    loads = bus_loads(lv_grid, lv_grid.element_profiles_kw(midsummer))
    res = run_power_flow(lv_grid, loads)
    cps = congestion_points(lv_grid)
    assert res.engine == "pgm" and res.converged
    assert res.bus_vm_pu.shape == (96, lv_grid.n_buses)
    assert res.cp_loading_pct.shape == (96, len(cps))
    assert np.isfinite(res.bus_vm_pu).all()
    # the LV transformer carries the PV feed-in back to MV at noon: hv->lv flow negative
    assert res.cp_p_kw[48, 0] < 0 < res.cp_s_kva[48, 0]
    over = overload_kw(res, cps)
    head = headroom_kw(res, cps)
    assert (over >= 0).all()
    np.testing.assert_allclose(over, np.maximum(0.0, -head))
    excess = (res.cp_loading_pct - cps["max_loading_pct"].to_numpy()) / 100
    np.testing.assert_allclose(head, -excess * cps["rated_kva"].to_numpy())


def test_bad_engine_and_shapes(lv_grid) -> None:
    loads = BusLoads(np.zeros((2, lv_grid.n_buses)), np.zeros((2, lv_grid.n_buses)))
    with pytest.raises(InputError, match=r"grid\.engine"):
        run_power_flow(lv_grid, loads, engine="matpower")
    with pytest.raises(InputError, match=r"loads\.p_kw"):
        run_power_flow(lv_grid, BusLoads(np.zeros((2, 3)), np.zeros((2, 3))))


def test_divergence_names_the_isp(lv_grid) -> None:
    p = np.zeros((3, lv_grid.n_buses))
    p[1, -1] = 50_000.0  # 50 MW on a 160 kVA LV feeder: no solution
    with pytest.raises(GridError, match=r"ISP/scenario 1\b"):
        run_power_flow(lv_grid, BusLoads(p, np.zeros_like(p)))


def test_chunking_gives_same_result(mv_grid, midsummer) -> None:
    loads = bus_loads(mv_grid, mv_grid.element_profiles_kw(midsummer))
    a = run_power_flow(mv_grid, loads)
    b = run_power_flow(mv_grid, loads, chunk_isps=7)
    np.testing.assert_allclose(a.cp_loading_pct, b.cp_loading_pct)
