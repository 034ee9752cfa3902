"""Voltage needs: the DSO buys active power (curtailment) or reactive power for the
over-voltage of 1-MV-rural--2-sw, checked by a real power flow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from localflex.domain import InputError
from localflex.grid import BusLoads, flow_sensitivity, run_power_flow, voltage_limits
from localflex.market import (
    clear_dso_single_buyer,
    clear_reactive_power,
    dv_dq_from_dv_dp,
    money_balance_eur,
    reactive_voltage_sensitivity,
    voltage_needs_from_power_flow,
)

MARGIN_PU = 0.002


@pytest.fixture(scope="module")
def setup(mv_overvoltage_day):
    day = mv_overvoltage_day
    grid, loads, flows = day.grid, day.loads, day.flows
    lim = voltage_limits(grid)
    vmax, vmin = lim["vm_max_pu"].to_numpy(), lim["vm_min_pu"].to_numpy()
    worst = int(np.argmax(np.nanmax(flows.bus_vm_pu - vmax, axis=1)))
    sens = flow_sensitivity(grid, loads, isp=worst)
    needs = voltage_needs_from_power_flow(flows.bus_vm_pu, vmin, vmax, sens.dv_pu_per_kw,
                                          bus_ids=grid.bus_ids, isp_hours=0.25,
                                          margin_pu=MARGIN_PU)
    pv_kw = grid.net.sgen.groupby("bus")["p_mw"].sum() * 1e3
    return day, vmin, vmax, worst, sens, needs, pv_kw


def realised(day, p_delta=None, q_delta=None):
    p = day.loads.p_kw + (0 if p_delta is None else p_delta)
    q = day.loads.q_kvar + (0 if q_delta is None else q_delta)
    return run_power_flow(day.grid, BusLoads(p, q))


def per_bus(day, awards, column):
    delta = np.zeros_like(day.loads.p_kw)
    sign = np.where(awards["direction"].to_numpy() == "up", -1.0, 1.0)  # load sign
    np.add.at(delta, (awards["isp"].to_numpy(), day.grid.bus_index_of(awards["bus"].to_numpy())),
              sign * awards[column].to_numpy())
    return delta


def test_grid_has_over_voltage(setup):
    day, _, vmax, _, _, needs, _ = setup
    assert (day.flows.bus_vm_pu > vmax).sum() > 50
    assert needs.lower_pu.max() > 0.005 and needs.raise_pu.max() == 0


def test_active_power_bought_for_over_voltage_removes_it(setup):
    day, vmin, vmax, _, _, needs, pv_kw = setup
    n_isps = day.loads.n_isps
    inj = -day.loads.p_kw[:, day.grid.bus_index_of(pv_kw.index.to_numpy())]  # [T, PV buses]
    t, k = np.nonzero(inj > 1.0)
    bus = pv_kw.index.to_numpy()[k]
    offers = pd.DataFrame({
        "offer_id": [f"pv{b}@{i}" for b, i in zip(bus, t, strict=True)],
        "aggregator_id": "agg", "bus": bus, "isp": t, "direction": "down",
        "max_power_kw": inj[t, k], "min_power_kw": 0.0,
        "price_eur_per_mwh": 50.0 + (bus % 7) * 10.0, "der_type": "pv",
    })
    result = clear_dso_single_buyer(offers, None, n_isps=n_isps, voltage=needs)
    assert result.voltage_shortfalls.empty
    assert (result.awards["direction"] == "down").all()
    after = realised(day, p_delta=per_bus(day, result.awards, "power_kw"))
    assert np.nanmax(after.bus_vm_pu - vmax) <= 0.0  # the margin covers the linearisation
    assert np.nanmin(after.bus_vm_pu - vmin) > 0.0
    outcome = result.outcome()
    assert money_balance_eur(outcome) == pytest.approx(0.0, abs=1e-9)


def test_reactive_power_market_removes_over_voltage(setup):
    day, _, vmax, worst, _, needs, pv_kw = setup
    dvq = reactive_voltage_sensitivity(day.grid, day.loads, worst)
    assert (np.diag(dvq)[np.isfinite(np.diag(dvq))] >= 0).all()  # injecting Q raises V
    n_isps = day.loads.n_isps
    buses = pv_kw.index.to_numpy()
    t = np.repeat(np.arange(n_isps), len(buses))
    b = np.tile(buses, n_isps)
    q_offers = pd.DataFrame({
        "offer_id": [f"q{x}@{i}" for x, i in zip(b, t, strict=True)],
        "aggregator_id": "agg", "bus": b, "isp": t, "direction": "down",
        "max_power_kvar": 0.5 * pv_kw.reindex(b).to_numpy(), "min_power_kvar": 0.0,
        "price_eur_per_mvarh": 5.0 + b % 5,
    })
    result = clear_reactive_power(q_offers, needs, dvq, n_isps=n_isps)
    assert result.voltage_shortfalls.empty and len(result.awards)
    assert (result.awards["power_kvar"] <= 0.5 * pv_kw.reindex(result.awards["bus"]).to_numpy()
            + 1e-6).all()
    after = realised(day, q_delta=per_bus(day, result.awards, "power_kvar"))
    assert np.nanmax(after.bus_vm_pu - vmax) <= 0.0
    outcome = result.outcome()
    assert set(outcome.fills["unit"]) == {"kvar"}
    assert money_balance_eur(outcome) == pytest.approx(0.0, abs=1e-9)


def test_dv_dq_approximation_has_the_right_order(setup):
    day, _, _, worst, sens, _, _ = setup
    dvq = reactive_voltage_sensitivity(day.grid, day.loads, worst)
    net = day.grid.net
    x_over_r = float((net.line["x_ohm_per_km"] / net.line["r_ohm_per_km"]).median())
    approx = dv_dq_from_dv_dp(sens.dv_pu_per_kw, x_over_r)
    # self-sensitivities (the voltage at the bus that injects) of buses off the busbar
    diag_q, diag_a = np.diag(dvq), np.diag(approx)
    big = diag_q > 1e-6
    ratio = diag_a[big] / diag_q[big]
    assert 0.2 < np.median(ratio) < 5.0  # screening quality only (module docstring)
    with pytest.raises(InputError, match="x_over_r"):
        dv_dq_from_dv_dp(sens.dv_pu_per_kw, -1.0)


def test_voltage_needs_validation(setup):
    day, _, _, _, _, needs, _ = setup
    from dataclasses import replace

    offers = pd.DataFrame(columns=["offer_id", "aggregator_id", "bus", "isp", "direction",
                                   "max_power_kw", "min_power_kw", "price_eur_per_mwh"])
    bad = replace(needs, raise_pu=needs.lower_pu.copy())
    with pytest.raises(InputError, match="raise_pu"):
        clear_dso_single_buyer(offers, None, n_isps=day.loads.n_isps, voltage=bad)
    with pytest.raises(InputError, match="dv_pu_per_kw"):
        clear_dso_single_buyer(offers, None, n_isps=day.loads.n_isps,
                               voltage=replace(needs, dv_pu_per_kw=np.zeros((3, 3))))
