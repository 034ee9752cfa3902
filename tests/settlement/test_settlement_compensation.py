"""BRP compensation regimes of paper §4.2: one worked example each, checkable by hand."""

import numpy as np
import pandas as pd
import pytest

from localflex.domain import InputError
from localflex.regulation import CompensationRegime
from localflex.settlement import (
    CompensationTerms,
    brp_compensation,
    build_ledger,
    compensation_transactions,
    regime_of_country,
)

PARTIES = {"agg": "aggregator", "brp": "brp", "TSO": "tso"}


def activated(energy_kwh=(10.0,), isp=(0,)) -> pd.DataFrame:
    n = len(energy_kwh)
    return pd.DataFrame({"award_id": [f"a{i}" for i in range(n)], "aggregator_id": "agg",
                         "brp_id": "brp", "isp": list(isp), "energy_kwh": list(energy_kwh)})


def test_presets_name_the_regime():
    assert regime_of_country("GB") is CompensationRegime.NONE
    assert regime_of_country("CH") is CompensationRegime.PERIMETER_CORRECTION
    assert regime_of_country("DE") is CompensationRegime.UNDEFINED
    assert regime_of_country("FR") is CompensationRegime.CONTRACTUAL  # first listed
    assert regime_of_country("FR", "corrected") is CompensationRegime.CORRECTED
    with pytest.raises(InputError, match="regime"):
        regime_of_country("GB", "corrected")


def test_none_great_britain():
    """GB: an UP activation of 10 kWh → the BRP gets nothing (0 EUR); the energy stays
    visible in the table."""
    comp = brp_compensation(activated(), CompensationTerms("none"))
    assert comp["amount_to_brp_eur"].tolist() == [0.0]
    assert comp["energy_kwh"].tolist() == [10.0]
    assert compensation_transactions(comp).empty


def test_contractual_france():
    """France (1), contractual at 40 EUR/MWh: 10 kWh UP → 40 × 10 / 1000 = 0.40 EUR,
    aggregator → BRP."""
    comp = brp_compensation(activated(), CompensationTerms(
        "contractual", contract_price_eur_per_mwh=40.0))
    assert comp["amount_to_brp_eur"].iloc[0] == pytest.approx(0.40)
    tx = compensation_transactions(comp)
    assert (tx["payer"].iloc[0], tx["payee"].iloc[0]) == ("agg", "brp")
    ledger = build_ledger(tx, PARTIES)
    assert ledger.set_index("party_id")["amount_cents"].to_dict() == {"agg": -40, "brp": 40}


def test_regulated_france():
    """France (2), a TSO tariff of 45 EUR/MWh: 20 kWh UP → 45 × 20 / 1000 = 0.90 EUR, and a
    DOWN activation of 4 kWh (energy −4) turns around: 45 × 4 / 1000 = 0.18 EUR BRP → agg."""
    comp = brp_compensation(activated((20.0, -4.0), (0, 1)), CompensationTerms(
        "regulated", regulated_price_eur_per_mwh=45.0))
    assert comp["amount_to_brp_eur"].tolist() == pytest.approx([0.90, -0.18])
    tx = compensation_transactions(comp)
    assert tx[["payer", "payee"]].to_numpy().tolist() == [["agg", "brp"], ["brp", "agg"]]
    assert tx["amount_eur"].tolist() == pytest.approx([0.90, 0.18])


def test_corrected_france():
    """France (3): the aggregator pays the supplier's retail energy component, 80 EUR/MWh,
    for what the customer would have consumed: 12.5 kWh → 80 × 12.5 / 1000 = 1.00 EUR. With a
    price per ISP (70, 90) and 5 kWh in each: 0.35 + 0.45 = 0.80 EUR."""
    comp = brp_compensation(activated((12.5,)), CompensationTerms(
        "corrected", retail_energy_price_eur_per_mwh=80.0))
    assert comp["amount_to_brp_eur"].iloc[0] == pytest.approx(1.00)
    per_isp = brp_compensation(activated((5.0, 5.0), (0, 1)), CompensationTerms(
        "corrected", retail_energy_price_eur_per_mwh=np.array([70.0, 90.0])))
    assert per_isp["amount_to_brp_eur"].tolist() == pytest.approx([0.35, 0.45])


def test_perimeter_correction_switzerland():
    """Switzerland: DA prices 50 and 120 EUR/MWh in ISPs 0 and 1, 8 kWh UP in each.
    Correction −8 kWh per ISP on the BRP's position; compensation 50 × 8 / 1000 = 0.40 and
    120 × 8 / 1000 = 0.96 EUR, TSO → BRP, recovered aggregator → TSO, so the TSO nets 0 and
    the aggregator pays 1.36 EUR in all."""
    comp = brp_compensation(activated((8.0, 8.0), (0, 1)), CompensationTerms(
        "perimeter_correction", day_ahead_price_eur_per_mwh=np.array([50.0, 120.0])))
    assert comp["perimeter_correction_kwh"].tolist() == [-8.0, -8.0]
    assert comp["amount_to_brp_eur"].tolist() == pytest.approx([0.40, 0.96])
    ledger = build_ledger(compensation_transactions(comp), PARTIES)
    net = ledger.groupby("party_id")["amount_cents"].sum().to_dict()
    assert net == {"TSO": 0, "brp": 136, "agg": -136}
    no_recovery = build_ledger(compensation_transactions(comp, recover_from_aggregator=False),
                               PARTIES)
    assert no_recovery.groupby("party_id")["amount_cents"].sum().to_dict() == {
        "TSO": -136, "brp": 136}


def test_a_regime_without_its_price_is_refused():
    with pytest.raises(InputError, match="regulated_price_eur_per_mwh"):
        CompensationTerms("regulated")
    with pytest.raises(InputError, match="regime"):
        CompensationTerms("bartering")
    with pytest.raises(InputError, match="day_ahead_price_eur_per_mwh"):
        brp_compensation(activated((1.0,), (3,)), CompensationTerms(
            "perimeter_correction", day_ahead_price_eur_per_mwh=np.array([1.0, 2.0])))
