"""The congestion-point listing (GET /api/v1/congestion-points with UFTP's addressing):
entity addresses, the buses behind each point (topology from the slack) and the
aggregators' registered connections with their EANs; the old UFTP path redirects."""

from __future__ import annotations

from uftp_harness import GRID, MARKET

from localflex.grid import load_simbench_grid
from localflex.service.congestion_points import buses_behind
from localflex.service.uftp.protocol import bus_of_ean, connection_ean


def test_buses_behind_the_transformer_are_the_whole_lv_grid(uftp_grid_loaded):
    net = load_simbench_grid(GRID).net
    behind = buses_behind(GRID)
    (hv,) = net.ext_grid.bus.to_list()
    assert behind["trafo:0"] == sorted(b for b in net.bus.index if b != hv)
    # a line's subtree lies inside its transformer's, and contains the line's far end
    for cp_id, buses in behind.items():
        if cp_id.startswith("line:"):
            line = net.line.loc[int(cp_id.split(":")[1])]
            assert set(buses) < set(behind["trafo:0"])
            assert (line.from_bus in buses) != (line.to_bus in buses)


def test_ean_round_trip():
    assert connection_ean(17) == "E871000000000000017"
    assert bus_of_ean(connection_ean(17)) == 17


def test_uftp_congestion_points_endpoint(uftp_market):
    m = uftp_market
    r = m.get("agg1", "/congestion-points", with_buses="true")
    assert r.status_code == 200, r.text
    by_id = {c["cp_id"]: c for c in r.json()}
    trafo = by_id["trafo:0"]
    assert trafo["entity_address"] == f"ea1.2024-01.{MARKET}:trafo:0"
    assert trafo["radial"] and trafo["dso_id"] == "dso1"
    assert {b["bus"] for b in trafo["buses"]} == set(buses_behind(m.svc.grid.code)["trafo:0"])
    assert trafo["connections"] == [{
        "aggregator_id": "agg1", "domain": m.participants["agr1"].domain, "bus": m.buses[3],
        "entity_address": f"ea1.2024-01.{MARKET}:bus:{m.buses[3]}",
        "ean": connection_ean(m.buses[3])}]
    assert by_id["line:5"]["dso_id"] == "dso2"
    assert [c["domain"] for c in by_id["line:5"]["connections"]] == [
        m.participants["agr2"].domain]
    one = m.get("dso1", "/congestion-points", cp_id="line:5").json()
    assert [c["cp_id"] for c in one] == ["line:5"] and one[0]["buses"]
    assert one[0]["n_buses"] == len(one[0]["buses"])
    brief = m.get("dso1", "/congestion-points").json()
    assert all("buses" not in c for c in brief)
    assert {c["cp_id"]: c["n_buses"] for c in brief} == {
        c: len(v or []) for c, v in buses_behind(m.svc.grid.code).items()
        if c in {x["cp_id"] for x in brief}}
    assert m.get("dso1", "/congestion-points", cp_id="nope").status_code == 404
    assert m.get("dso1", "/congestion-points").status_code == 200
    assert m.get("operator", "/congestion-points").status_code == 200
    # the grid fields and UFTP's addressing are one resource
    assert {"rated_kva", "max_loading_pct", "kind", "name"} <= set(trafo)
    assert trafo["buses"][0] == {"bus": trafo["buses"][0]["bus"], "entity_address":
                                 f"ea1.2024-01.{MARKET}:bus:{trafo['buses'][0]['bus']}",
                                 "ean": connection_ean(trafo["buses"][0]["bus"])}


def test_uftp_congestion_points_path_redirects_to_the_one_resource(uftp_market):
    m = uftp_market
    r = m.get("dso1", "/uftp/congestion-points", cp_id="line:5")
    assert r.status_code == 308
    assert r.headers["location"] == "/api/v1/congestion-points?cp_id=line%3A5"
    assert m.get("dso1", "/uftp/congestion-points").headers["location"] == \
        "/api/v1/congestion-points"
