"""A FLECH reservation (UFTP FlexReservationUpdate) caps the later clearing of its gates as
FLECH's activation phase does: the holder's offers up to the contract's activation price,
every other offer only strictly under it; gates the reservation does not cover are uncapped."""

from __future__ import annotations

from shapeshifter_uftp import FlexReservationUpdateResponse
from shapeshifter_uftp.uftp import AcceptedRejected
from test_uftp_metering_reservations import _reservation

from localflex.service.activation_caps import ActivationCap, admits


def _day(m, gate: str) -> dict[str, str]:
    """A 40 kW request at trafo:0 and three 15 kW offers: the holder agg1 at the cap (100),
    agg2 at the cap and agg2 just under it."""
    r = m.post("dso1", "/requests", {"gate_id": gate, "congestion_point": "trafo:0",
                                     "direction": "down", "power_kw": 40.0})
    assert r.status_code == 201, r.text
    ids = {}
    for name, party, bus, price in (("holder", "agg1", m.buses[3], 100.0),
                                    ("at_cap", "agg2", m.buses[4], 100.0),
                                    ("under", "agg2", m.buses[4], 99.5)):
        r = m.post(party, "/offers", {"gate_id": gate, "bus": bus, "direction": "down",
                                      "max_power_kw": 15.0, "price_eur_per_mwh": price})
        assert r.status_code == 201, r.text
        ids[r.json()["offer_id"]] = name
    return ids


def test_uftp_reservation_caps_the_clearing_of_its_gates(uftp_market):
    m = uftp_market
    dso = m.participants["dso1"]
    dso.client.send_flex_reservation_update(_reservation(m, "flech-c1", 30_000))  # gates 0, 1
    answer = dso.inbox.wait_for(FlexReservationUpdateResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    (row,) = [x for x in m.messages(direction="in") if x["type"] == "FlexReservationUpdate"]
    assert row["detail"]["holders"] == [{"party_id": "agg1",
                                         "activation_price_eur_per_mwh": 100.0}]

    capped, free = _day(m, m.gates[0]), _day(m, m.gates[2])
    r = m.post("operator", f"/gates/{m.gates[0]}/clear")
    assert r.status_code == 200, r.text
    awarded = {capped[a["offer_id"]] for a in r.json()["awards"]}
    assert awarded == {"holder", "under"}  # agg2 at the cap does not undercut it
    assert r.json()["gate"]["clearing_summary"]["activation_caps"] == {"dso1": {
        "price_eur_per_mwh": 100.0, "contract_ids": ["flech-c1"], "holders": ["agg1"]}}
    statuses = {capped[o["offer_id"]]: o["status"] for o in m.get("agg2", "/offers").json()
                if o["offer_id"] in capped}
    assert statuses == {"at_cap": "not_awarded", "under": "awarded"}
    # a gate no reservation covers clears every offer
    r = m.post("operator", f"/gates/{m.gates[2]}/clear")
    assert r.status_code == 200, r.text
    assert {free[a["offer_id"]] for a in r.json()["awards"]} == {"holder", "at_cap", "under"}
    assert "activation_caps" not in r.json()["gate"]["clearing_summary"]


def test_uftp_reservation_without_a_registered_price_does_not_cap(uftp_market):
    m = uftp_market
    dso = m.participants["dso1"]
    dso.client.send_flex_reservation_update(_reservation(m, "flech-c0", 30_000))
    answer = dso.inbox.wait_for(FlexReservationUpdateResponse)
    assert answer.result == AcceptedRejected.ACCEPTED, answer.rejection_reason
    ids = _day(m, m.gates[0])
    r = m.post("operator", f"/gates/{m.gates[0]}/clear")
    assert {ids[a["offer_id"]] for a in r.json()["awards"]} == {"holder", "at_cap", "under"}


def test_uftp_contract_prices_must_name_a_listed_contract(uftp_market):
    r = uftp_market.post("operator", "/uftp/participants", {
        "domain": "agr9.localflex.test", "role": "AGR", "party_id": "agg2",
        "public_key": "A" * 43 + "=", "endpoint": "http://127.0.0.1:9/",
        "contracts": ["c1"], "contract_prices": {"c2": 90.0}})
    assert r.status_code == 422 and r.json()["field"] == "contract_prices"
    assert r.json()["value"] == "c2"


def test_activation_cap_admits_holders_at_the_cap_and_others_strictly_under():
    cap = ActivationCap(100.0, frozenset({"agg1"}), ("c1",))
    assert admits(cap, "agg1", 100.0) and not admits(cap, "agg1", 100.01)
    assert not admits(cap, "agg2", 100.0) and admits(cap, "agg2", 99.99)
    assert admits(None, "agg2", 1e6)
