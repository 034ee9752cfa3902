"""Bad input gets a 4xx naming the field and the problem, never a 500: hand-picked cases and
a bounded schemathesis fuzz of our own OpenAPI document as every role."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_market import PARTY_NAMES

BAD_OFFERS = [
    ({"bus": 999_999}, "bus"),
    ({"direction": "sideways"}, "direction"),
    ({"max_power_kw": -1}, "max_power_kw"),
    ({"max_power_kw": "NaN"}, "max_power_kw"),
    ({"min_power_kw": 50}, "min_power_kw"),
    ({"price_eur_per_mwh": 1e9}, "price_eur_per_mwh"),
    ({"der_type": "unicorn"}, "der_type"),
    ({"gate_id": "gate-nope"}, "gate_id"),
    ({"surprise": 1}, "surprise"),
]


@pytest.mark.parametrize(("change", "field"), BAD_OFFERS)
def test_service_bad_offer_names_the_field(sqlite_market, change, field):
    body = {"gate_id": sqlite_market.gates[0], "bus": sqlite_market.buses[1],
            "direction": "up", "max_power_kw": 10, "price_eur_per_mwh": 50, **change}
    r = sqlite_market.post("agg1", "/offers", body)
    assert 400 <= r.status_code < 500, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert problem["status"] == r.status_code and problem["field"] == field, problem
    assert any(field in map(str, e["loc"]) for e in problem["errors"]), problem
    assert sqlite_market.get("agg1", "/offers").json() == []  # nothing half-written


def test_service_bad_json_and_bad_gates(sqlite_market):
    m = sqlite_market
    r = m.client.post("/api/v1/offers", content=b"{not json", headers={
        **m.h("agg1"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body"
    assert r.json()["errors"][0]["loc"] == ["body"]
    r = m.client.get("/api/v1/gates/" + "g" * 60_000, headers=m.h("operator"))
    assert r.status_code == 404 and len(r.content) < 2000  # the path is not echoed whole
    r = m.post("operator", "/gates", {"start": "2031-01-01T00:07:00Z"})
    assert r.status_code == 422 and r.json()["field"] == "start"
    r = m.post("operator", "/gates", {"start": "2031-01-01T00:00:00"})  # naive
    assert r.status_code == 422 and "start" in r.text
    r = m.post("operator", "/gates", {"start": "2031-01-01T00:00:00Z", "isp_minutes": 7})
    assert r.status_code == 422 and r.json()["field"] == "isp_minutes"
    r = m.post("operator", "/gates", {"start": "2030-06-21T12:00:00Z"})  # exists already
    assert r.status_code == 409 and r.json()["field"] == "start"
    r = m.post("dso1", "/requests", {"gate_id": m.gates[0], "congestion_point": "trafo:0",
                                     "direction": "down", "power_kw": 5, "purpose": "market"})
    assert r.status_code == 422 and r.json()["field"] == "purpose"
    r = m.post("dso1", "/requests", {"gate_id": m.gates[0], "congestion_point": "trafo:99",
                                     "direction": "down", "power_kw": 5})
    assert r.status_code == 404 and r.json()["field"] == "congestion_point"
    assert m.get("operator", "/gates", day="21/06/2030").status_code == 422


def _schema(app):
    import schemathesis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.slow
def test_service_fuzz_finds_no_server_error(sqlite_market):
    """Every operation of /api/v1, bounded examples each, as a random party."""
    from schemathesis.checks import not_a_server_error

    m = sqlite_market
    schema = _schema(m.app)
    operations = [op.ok() for op in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith("/api/v1")]
    assert len(operations) > 20
    failures = []
    codes: list[int] = []

    def fuzz(operation):
        @settings(max_examples=6, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), party=st.sampled_from(PARTY_NAMES))
        def run(case, party):
            headers = {"Authorization": f"Bearer {m.keys[party]}"}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                response = case.call(headers=headers)
            codes.append(response.status_code)
            if response.status_code >= 500:
                failures.append((operation.method, operation.path, party,
                                 response.status_code, response.text[:300]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                case.validate_response(response, checks=[not_a_server_error])

        run()

    for operation in operations:
        fuzz(operation)
    assert failures == []
    assert len(codes) >= 3 * len(operations)
    assert {200, 201} & set(codes) and 422 in codes  # it reached both paths
