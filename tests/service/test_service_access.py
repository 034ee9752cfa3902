"""Every endpoint as every role: role gates and ownership — one party's key never reaches
another party's data. The walk is checked against the app's route table, so a new endpoint
without an access rule here fails the test."""

from __future__ import annotations

import pytest

PARTIES = ["operator", "dso1", "dso2", "agg1", "agg2", "brp1", "tso1"]


def _seed(m):
    """Data owned by different parties on gate 1 (gate 0 stays free for writes)."""
    ids = {}
    ids["off1"] = m.offer("agg1", gate=1, kw=20.0).json()["offer_id"]
    ids["off2"] = m.offer("agg2", gate=1, kw=20.0).json()["offer_id"]
    ids["req1"] = m.post("dso1", "/requests", {"gate_id": m.gates[1], "congestion_point":
                         "trafo:0", "direction": "down", "power_kw": 5}).json()["request_id"]
    ids["req2"] = m.post("dso2", "/requests", {"gate_id": m.gates[1], "congestion_point":
                         "line:5", "direction": "down", "power_kw": 5}).json()["request_id"]
    ids["awd1"] = m.post("dso1", "/flex-orders", {"offer_id": ids["off1"], "power_kw": 5}
                         ).json()["award_id"]
    ids["awd2"] = m.post("dso2", "/flex-orders", {"offer_id": ids["off2"], "power_kw": 5}
                         ).json()["award_id"]
    m.post("agg1", "/meter-data", {"award_id": ids["awd1"], "baseline_kw": 1, "metered_kw": 6})
    m.post("agg2", "/meter-data", {"award_id": ids["awd2"], "baseline_kw": 1, "metered_kw": 6})
    ids["ord_brp"] = m.post("brp1", "/orders", {"gate_id": m.gates[1], "direction": "up",
                            "side": "buy", "price_eur_per_mwh": 10, "quantity_kw": 3}
                            ).json()["order_id"]
    ids["ord_agg"] = m.post("agg1", "/orders", {"gate_id": m.gates[1], "direction": "up",
                            "side": "sell", "price_eur_per_mwh": 5, "quantity_kw": 1}
                            ).json()["order_id"]
    assert all(ids.values()), ids
    return ids


# owner-visible lists: (path, owner fields, roles allowed to list at all)
LISTS = {
    "/offers": (("aggregator_id",), {"operator", "dso1", "dso2", "agg1", "agg2"}),
    "/requests": (("requester_id",), {"operator", "dso1", "dso2", "agg1", "agg2"}),
    "/awards": (("aggregator_id", "buyer_id"), set(PARTIES)),
    "/activations": (("aggregator_id", "buyer_id"), set(PARTIES)),
    "/meter-data": (("party_id",), set(PARTIES)),
    "/orders": (("party_id",), {"operator", "dso1", "dso2", "agg1", "agg2", "brp1", "tso1"}),
    "/trades": (("buyer_id", "seller_id"), set(PARTIES)),
}
# who may see every item of a list (the single buyer sees all offers; aggregators see the
# DSO's requests, which are addressed to them)
SEE_ALL = {"/offers": {"operator", "dso1", "dso2"},
           "/requests": {"operator", "agg1", "agg2"}}
PUBLIC_GETS = {"/health", "/me", "/parties", "/congestion-points", "/traffic-lights",
               "/gates", "/gates/{gate_id}", "/settlement"}


def _owned(item: dict, fields: tuple[str, ...], party: str, path: str, m) -> bool:
    if path == "/meter-data":  # a reading is the aggregator's and its award's buyer's
        award = m.get("operator", f"/awards/{item['award_id']}").json()
        return party in (award["aggregator_id"], award["buyer_id"])
    return any(item[f] == party for f in fields)


def test_service_every_endpoint_as_every_role(sqlite_market):
    m = sqlite_market
    ids = _seed(m)
    walked: set[tuple[str, str]] = set()

    # lists: each party sees exactly its own items (or all, where the rules say so)
    for path, (fields, allowed) in LISTS.items():
        walked.add(("GET", path))
        everything = m.get("operator", path).json()
        assert everything, path
        for party in PARTIES:
            r = m.get(party, path)
            if party not in allowed:
                assert r.status_code == 403, (party, path)
                continue
            assert r.status_code == 200, (party, path, r.text)
            items = r.json()
            if party in SEE_ALL.get(path, {"operator"}):
                assert len(items) == len(everything), (party, path)
            else:
                own = [i for i in everything if _owned(i, fields, party, path, m)]
                assert items == own, (party, path)

    # by id: the owner (and the operator) read it, anyone else gets 404/403
    by_id = {
        "/offers/{offer_id}": [(ids["off1"], {"operator", "dso1", "dso2", "agg1"}),
                               (ids["off2"], {"operator", "dso1", "dso2", "agg2"})],
        "/requests/{request_id}": [(ids["req1"], {"operator", "dso1", "agg1", "agg2"}),
                                   (ids["req2"], {"operator", "dso2", "agg1", "agg2"})],
        "/awards/{award_id}": [(ids["awd1"], {"operator", "dso1", "agg1"}),
                               (ids["awd2"], {"operator", "dso2", "agg2"})],
    }
    for template, cases in by_id.items():
        walked.add(("GET", template))
        for item_id, readers in cases:
            path = template.split("{")[0] + item_id
            for party in PARTIES:
                code = m.get(party, path).status_code
                assert (code == 200) == (party in readers), (party, path, code)
                assert code in (200, 403, 404)

    # statements: own only; another party's needs the operator
    walked.add(("GET", "/settlement"))
    for party in PARTIES:
        st = m.get(party, "/settlement").json()
        assert st["party_id"] == party and all(x["party_id"] == party for x in st["lines"])
        other = "agg2" if party != "agg2" else "agg1"
        code = m.get(party, "/settlement", party_id=other).status_code
        assert code == (200 if party == "operator" else 403)

    # public reads
    for path in ("/health", "/me", "/parties", "/congestion-points", "/traffic-lights",
                 "/gates", f"/gates/{m.gates[0]}"):
        walked.add(("GET", path if "gate-" not in path else "/gates/{gate_id}"))
        for party in PARTIES:
            assert m.get(party, path).status_code == 200, (party, path)
    assert [p["party_id"] for p in m.get("agg1", "/parties").json()] == ["agg1"]
    assert len(m.get("operator", "/parties").json()) == len(PARTIES)
    walked.add(("GET", "/audit"))
    for party in PARTIES:
        assert m.get(party, "/audit").status_code == (200 if party == "operator" else 403)

    # writes: role gates and ownership
    g = m.gates[0]
    writes = [
        ("/parties", lambda p: {"party_id": f"x-{p}", "name": "X", "role": "brp"},
         {"operator"}),
        ("/parties/{party_id}/keys", None, {"operator"}),
        ("/parties/{party_id}/keys/{key_id}/revoke", None, {"operator"}),
        ("/gates", lambda p: {"start": f"2031-01-0{PARTIES.index(p) + 1}T00:00:00Z"},
         {"operator"}),
        ("/gates/{gate_id}/clear", None, {"operator"}),
        ("/requests", lambda p: {"gate_id": g, "congestion_point": "trafo:0",
                                 "direction": "down", "power_kw": 1}, {"dso1"}),
        ("/requests/{request_id}/cancel", None, {"dso1"}),
        ("/offers", lambda p: {"gate_id": g, "bus": m.buses[1], "direction": "up",
                               "max_power_kw": 1, "price_eur_per_mwh": 1},
         {"agg1", "agg2"}),
        ("/offers/{offer_id}/withdraw", None, {"agg1"}),
        ("/flex-orders", None, {"dso1", "dso2"}),
        ("/meter-data", None, {"agg1"}),
        ("/orders", lambda p: {"gate_id": g, "direction": "up", "side": "buy",
                               "price_eur_per_mwh": 1, "quantity_kw": 1},
         {"dso1", "dso2", "agg1", "agg2", "brp1", "tso1"}),
        ("/orders/{order_id}/cancel", None, {"brp1"}),
    ]
    for path, body, allowed in writes:
        walked.add(("POST", path))
        if body is None:
            continue
        for party in PARTIES:
            code = m.post(party, path, body(party)).status_code
            assert (code in (200, 201)) == (party in allowed), (party, path, code)
    # ownership of the id-addressed writes
    fresh = m.offer("agg1", gate=0, kw=10.0).json()["offer_id"]
    req = m.post("dso1", "/requests", {"gate_id": g, "congestion_point": "trafo:0",
                                       "direction": "down", "power_kw": 2}).json()["request_id"]
    order = m.post("brp1", "/orders", {"gate_id": g, "direction": "down", "side": "buy",
                                       "price_eur_per_mwh": 1, "quantity_kw": 1}).json()
    for party in PARTIES:
        if party == "agg1":
            continue
        assert m.post(party, f"/offers/{fresh}/withdraw").status_code in (403, 404), party
    for party in PARTIES:
        if party != "dso1":
            assert m.post(party, f"/requests/{req}/cancel").status_code in (403, 404), party
        if party != "brp1":
            assert m.post(party, f"/orders/{order['order_id']}/cancel").status_code in (403,
                                                                                       404)
        if party not in ("dso1", "dso2"):
            code = m.post(party, "/flex-orders", {"offer_id": fresh, "power_kw": 1}).status_code
            assert code in (403, 404), party
        if party != "agg1":
            code = m.post(party, "/meter-data", {"award_id": ids["awd1"], "baseline_kw": 0,
                                                 "metered_kw": 0}).status_code
            assert code in (403, 404, 409), party
        if party != "operator":
            assert m.post(party, "/parties/agg1/keys").status_code == 403
            assert m.post(party, f"/gates/{g}/clear").status_code == 403
    # a DSO never posts a request for another DSO's congestion point
    r = m.post("dso1", "/requests", {"gate_id": g, "congestion_point": "line:5",
                                     "direction": "down", "power_kw": 1})
    assert r.status_code == 403 and "line:5" in r.text
    assert m.post("agg1", f"/offers/{fresh}/withdraw").status_code == 200
    assert m.post("dso1", f"/requests/{req}/cancel").status_code == 200
    assert m.post("brp1", f"/orders/{order['order_id']}/cancel").status_code == 200
    new_key = m.post("operator", "/parties/agg1/keys").json()
    r = m.client.get("/api/v1/me", headers={"X-API-Key": new_key["api_key"]})
    assert r.json()["party_id"] == "agg1"
    revoke = f"/parties/agg1/keys/{new_key['key_id']}/revoke"
    assert m.post("operator", revoke).status_code == 200
    assert m.client.get("/api/v1/me", headers={"X-API-Key": new_key["api_key"]}
                        ).status_code == 401

    # no key, a wrong key, a malformed header
    for headers in ({}, {"X-API-Key": "lfx_000000000000_nope"}, {"Authorization": "Basic x"}):
        assert m.client.get("/api/v1/offers", headers=headers).status_code == 401

    # the REST API's own routes; a mounted UFTP router (/api/v1/uftp, signed messages) has
    # its access checks in tests/service_uftp
    routes = {(method.upper(), path.removeprefix("/api/v1"))
              for path, ops in m.app.openapi()["paths"].items()
              if path.startswith("/api/v1") and not path.startswith("/api/v1/uftp/")
              for method in ops}
    assert routes - walked == set(), "endpoints without an access check in this test"


@pytest.mark.parametrize("role_party", ["agg1", "dso1", "brp1"])
def test_service_no_party_sees_others_statement_lines(sqlite_market, role_party):
    m = sqlite_market
    _seed(m)
    lines = m.get(role_party, "/settlement").json()["lines"]
    assert all(x["party_id"] == role_party for x in lines)
