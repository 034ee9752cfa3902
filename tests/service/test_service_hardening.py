"""The hardened API: finite numbers of JSON type only, a body size cap answered before the
body is read, one problem-details error shape that never echoes large or non-finite input,
unambiguous credentials, enum query values checked, ``loc`` naming query and path."""

from __future__ import annotations

import contextlib
import json
import socket

import pytest

from localflex.service import Settings, create_app
from support import ThreadServer, free_port, wait_healthy

NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e309", b"-1e309"]
NUMERIC = {  # path -> (party, valid body without the field, numeric fields)
    "/offers": ("agg1", {"direction": "down", "max_power_kw": 10, "price_eur_per_mwh": 50},
                ["max_power_kw", "min_power_kw", "price_eur_per_mwh", "bus"]),
    "/requests": ("dso1", {"congestion_point": "trafo:0", "direction": "down",
                           "power_kw": 10}, ["power_kw", "max_price_eur_per_mwh"]),
    "/orders": ("agg1", {"direction": "up", "side": "sell", "price_eur_per_mwh": 50,
                         "quantity_kw": 5}, ["price_eur_per_mwh", "quantity_kw"]),
    "/gates": ("operator", {"start": "2031-01-01T00:00:00Z"},
               ["n_isps", "isp_minutes", "lead_time_minutes"]),
}


def _body(m, path: str) -> dict:
    body = dict(NUMERIC[path][1])
    if path != "/gates":
        body["gate_id"] = m.gates[0]
    if path == "/offers":
        body["bus"] = m.buses[1]
    return body


def _raw(m, party: str, path: str, body: dict, field: str, literal: bytes):
    """POST ``body`` with ``field`` set to a JSON literal Python's json cannot write."""
    text = json.dumps({**body, field: "@@"}).encode().replace(b'"@@"', literal)
    return m.client.post(f"/api/v1{path}", content=text,
                         headers={**m.h(party), "Content-Type": "application/json"})


def _assert_problem(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    p = r.json()
    assert p["status"] == status and p["title"] and p["detail"]
    if field is not None:
        assert p["field"] == field, p
    return p


@pytest.mark.parametrize("path", list(NUMERIC))
def test_service_non_finite_numbers_are_422_not_echoed(sqlite_market, path):
    m = sqlite_market
    party, _, fields = NUMERIC[path]
    for field in fields:
        for literal in NON_FINITE:
            r = _raw(m, party, path, _body(m, path), field, literal)
            p = _assert_problem(r, 422, field)
            assert p["value"] in ("NaN", "Infinity", "-Infinity"), p
            assert len(r.content) < 2000
    assert m.get("agg1", "/offers").json() == []
    assert m.get("dso1", "/requests").json() == []


@pytest.mark.parametrize("value", ["30", True, False, "1e3", [30], {"kw": 30}, None])
def test_service_numbers_are_not_coerced(sqlite_market, value):
    m = sqlite_market
    r = m.offer("agg1", kw=value)
    _assert_problem(r, 422, "max_power_kw")
    body = {**_body(m, "/offers"), "bus": str(m.buses[1])}
    _assert_problem(m.post("agg1", "/offers", body), 422, "bus")
    assert m.get("agg1", "/offers").json() == []


@pytest.mark.parametrize("value", [0, 1e9, True, "2031-01-01T00:00:00"])
def test_service_timestamps_are_zoned_strings(sqlite_market, value):
    body = {"start": "2031-01-01T00:00:00Z", "opens_at": value}
    _assert_problem(sqlite_market.post("operator", "/gates", body), 422, "opens_at")


def test_service_huge_values_are_cut_in_the_answer(sqlite_market):
    m = sqlite_market
    r = m.offer("agg1", der_type="x" * 500_000)
    p = _assert_problem(r, 422, "der_type")
    assert len(r.content) < 2000 and len(p["value"]) <= 81
    r = _raw(m, "agg1", "/offers", _body(m, "/offers"), "max_power_kw", b"9" * 5000)
    _assert_problem(r, 400, "body")  # over Python's int digit limit: unreadable body
    assert len(r.content) < 2000
    r = _raw(m, "agg1", "/offers", _body(m, "/offers"), "bus", b"9" * 400)
    p = _assert_problem(r, 422, "bus")
    assert len(r.content) < 2000


def test_service_ambiguous_credentials_are_400(sqlite_market):
    m = sqlite_market
    both = {"Authorization": f"Bearer {m.keys['agg1']}", "X-API-Key": m.keys["dso1"]}
    r = m.client.get("/api/v1/me", headers=both)
    p = _assert_problem(r, 400, "X-API-Key")
    assert m.keys["agg1"] not in r.text and m.keys["dso1"] not in r.text
    assert p["errors"][0]["loc"][0] == "header"
    same = {"Authorization": f"Bearer {m.keys['agg1']}", "X-API-Key": m.keys["agg1"]}
    assert m.client.get("/api/v1/me", headers=same).json()["party_id"] == "agg1"
    _assert_problem(m.client.get("/api/v1/me"), 401)


def test_service_query_and_path_errors_name_their_location(sqlite_market):
    m = sqlite_market
    p = _assert_problem(m.get("operator", "/gates", status="bogus"), 422, "status")
    assert p["errors"][0]["loc"] == ["query", "status"]
    assert m.get("operator", "/gates", status="open").status_code == 200
    p = _assert_problem(m.get("operator", "/gates", day="21/06/2030"), 422, "day")
    assert p["errors"][0]["loc"] == ["query", "day"]
    p = _assert_problem(m.get("agg1", "/offers/off_nope"), 404, "offer_id")
    assert p["errors"][0]["loc"] == ["path", "offer_id"]
    p = _assert_problem(m.get("operator", "/gates", limit="many"), 422, "limit")
    assert p["errors"][0]["loc"] == ["query", "limit"]
    _assert_problem(m.client.get("/api/v1/nothing-here"), 404)
    r = m.client.delete("/api/v1/offers", headers=m.h("agg1"))
    _assert_problem(r, 405)
    assert "POST" in r.headers["allow"]


def test_service_openapi_documents_problem_answers(sqlite_market):
    doc = sqlite_market.client.get("/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        if not path.startswith("/api/v1/") or "uftp" in path:
            continue
        for method, op in ops.items():
            for status in ("401", "413", "422"):
                content = op["responses"][status]["content"]
                assert "application/problem+json" in content, (method, path, status)


def _read_answer(s: socket.socket) -> bytes:
    """One HTTP answer (headers and its Content-Length body) from the socket."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = s.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _send_head(port: int, head: bytes, first: bytes = b"") -> tuple[socket.socket, bytes]:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head + first)
    return s, _read_answer(s)


def test_service_body_cap_refuses_before_reading(sqlite_market):
    """A 50 MB body (declared or streamed) is refused with a small 413; the server reads
    only what it must and stays healthy."""
    m = sqlite_market
    port = free_port()
    app = create_app(Settings(database_url=m.svc.db.url, run_scheduler=False))
    with ThreadServer(app, port):
        wait_healthy(f"http://127.0.0.1:{port}")
        key = m.keys["agg1"].encode()
        head = (b"POST /api/v1/offers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + key + b"\r\nContent-Type: application/json\r\n")
        # declared: answered after the headers and 64 kB, the other 49.9 MB never sent
        s, answer = _send_head(port, head + b"Content-Length: 52428800\r\n\r\n",
                               b"[" + b"1," * 32_000)
        s.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert len(answer) < 1500
        assert b"application/problem+json" in answer
        # streamed (chunked, no length): refused once past the cap
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"1," * 32_768
        answer = b""
        for _ in range(800):  # up to 52 MB
            try:
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            s.settimeout(0.0)
            with contextlib.suppress(BlockingIOError):
                answer += s.recv(65536)
            s.settimeout(10)
            if answer:
                break
        if not answer:
            answer = _read_answer(s)
        s.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert len(answer) < 1500
        # a body under the cap still works
        r = m.offer("agg1")
        assert r.status_code == 201, r.text
