"""Two DSOs under one TSO (paper §6.1, ref. [65]): local markets vs the centralized model."""

from __future__ import annotations

from dataclasses import replace

import pytest
from design_builders import small_input

from localflex.domain import InputError
from localflex.market.designs.multi_area import centralized_market, local_markets


@pytest.fixture(scope="module")
def two_areas():
    a = replace(small_input(seed=7), dso_id="DSO-A")
    b = replace(small_input(seed=11), dso_id="DSO-B")
    tso = a.tso_requests.assign(power_kw=a.tso_requests["power_kw"] * 4)  # a bigger TSO
    return [a, b], tso


def test_local_markets_serve_the_tso_from_both_areas_and_keep_each_grid_safe(two_areas):
    inputs, tso = two_areas
    local = local_markets(inputs, tso)
    central = centralized_market(inputs, tso)
    assert [r.design for r in local.areas] == ["local_markets[DSO-A]", "local_markets[DSO-B]"]
    assert set(local.tso_kwh_by_area) == {"DSO-A", "DSO-B"}
    assert sum(local.tso_kwh_by_area.values()) > 0
    assert 0 < local.tso_served_share <= 1
    forecast = sum(i.needs.overload_kw.sum() * i.isp_hours for i in inputs)
    assert sum(r.kpis["residual_overload_kwh"] for r in local.areas) <= 0.01 * forecast
    # the TSO that ignores the distribution grids leaves overload behind
    assert sum(r.kpis["residual_overload_kwh"] for r in central.areas) > sum(
        r.kpis["residual_overload_kwh"] for r in local.areas)
    assert central.tso_served_share >= local.tso_served_share
    for r in (*local.areas, *central.areas):  # each area's DSO buys only in its area
        grid = r.trades[r.trades["purpose"] == "grid"]
        assert set(grid["buyer_id"]) <= {r.design.split("[")[1].rstrip("]")}


def test_areas_need_distinct_dsos(two_areas):
    inputs, _ = two_areas
    with pytest.raises(InputError, match="dso_id"):
        local_markets([inputs[0], inputs[0]])
    with pytest.raises(InputError, match="inputs"):
        local_markets(inputs[:1])
