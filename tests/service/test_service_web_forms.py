"""The web view's forms refuse bad input with a one-line message naming the field (never a
500, nothing written), and act only for a logged-in party with the right role."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlparse

import pytest

from localflex.service.web import COOKIE, FLASH


def _form(m, party: str | None, path: str, data: dict) -> dict[str, str]:
    """Submit a form; the outcome (``ok`` or ``msg``) and the ``day`` it returns to."""
    m.client.cookies.clear()
    if party is not None:
        m.client.cookies.set(COOKIE, m.keys[party])
    r = m.client.post(path, data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    out = {k: v[0] for k, v in parse_qs(urlparse(r.headers["location"]).query).items()}
    kind, _, text = unquote(r.cookies[FLASH]).partition(":")
    return {**out, kind: text}


def test_service_web_outcome_is_not_taken_from_the_link(sqlite_market):
    r = sqlite_market.client.get("/?day=2030-06-21&msg=call+0800&ok=call+0800")
    assert r.status_code == 200 and "0800" not in r.text


@pytest.mark.parametrize("value", ["inf", "-Infinity", "nan", "1e309", "abc", "", "0", "-5"])
def test_service_web_request_form_refuses_bad_numbers(sqlite_market, value):
    m = sqlite_market
    out = _form(m, "dso1", "/web/requests", {
        "gate_id": m.gates[0], "congestion_point": "trafo:0", "direction": "down",
        "power_kw": value, "day": "2030-06-21"})
    assert "power_kw" in out["msg"] and out["day"] == "2030-06-21", out
    assert m.get("dso1", "/requests").json() == []


def test_service_web_forms_check_login_role_and_ownership(sqlite_market):
    m = sqlite_market
    offer = {"gate_id": m.gates[0], "bus": str(m.buses[1]), "direction": "up",
             "max_power_kw": "10", "price_eur_per_mwh": "50"}
    assert "log in" in _form(m, None, "/web/offers", offer)["msg"]
    assert "may not" in _form(m, "dso1", "/web/offers", offer)["msg"]
    assert "posted" in _form(m, "agg1", "/web/offers", offer)["ok"]
    oid = m.get("agg1", "/offers").json()[0]["offer_id"]
    assert "offer_id" in _form(m, "agg2", "/web/offers/withdraw", {"offer_id": oid})["msg"]
    assert "may not" in _form(m, "agg1", "/web/gates/clear", {"gate_id": m.gates[0]})["msg"]
    assert "unknown action" in _form(m, "agg1", "/web/nothing", {})["msg"]
    assert _form(m, "agg1", "/web/offers/withdraw", {"offer_id": oid})["ok"].endswith(
        "withdrawn")
    assert m.get("agg1", "/offers").json()[0]["status"] == "withdrawn"

