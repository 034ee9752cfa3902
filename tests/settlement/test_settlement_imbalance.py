"""Imbalance settlement: single and dual pricing, with and without perimeter correction."""

import numpy as np
import pandas as pd
import pytest

from localflex.domain import InputError
from localflex.settlement import (
    CompensationTerms,
    ImbalancePrices,
    brp_compensation,
    imbalance_scenarios,
    imbalance_settlement,
)

SINGLE = ImbalancePrices("single", single_eur_per_mwh=60.0)
DUAL = ImbalancePrices("dual", long_eur_per_mwh=50.0, short_eur_per_mwh=70.0)


def test_single_and_dual_by_hand():
    """One BRP, ISP 0 long 10 kWh (UP activation), ISP 1 short 5 kWh (rebound).
    Single 60: +0.60 and −0.30 EUR → +0.30. Dual 50/70: long paid 50 × 10 = +0.50, short
    pays 70 × 5 = −0.35 → +0.15: dual pricing never pays more than single."""
    dev = np.array([[10.0], [-5.0]])
    single = imbalance_settlement(dev, ["b"], SINGLE)
    dual = imbalance_settlement(dev, ["b"], DUAL)
    assert single["imbalance_eur"].tolist() == pytest.approx([0.60, -0.30])
    assert dual["imbalance_eur"].tolist() == pytest.approx([0.50, -0.35])
    assert dual["imbalance_price_eur_per_mwh"].tolist() == [50.0, 70.0]


def test_perimeter_correction_removes_the_activated_part_only():
    """UP activation of 10 kWh in ISP 0 corrected by the TSO (−10 kWh), compensated at DA
    50 EUR/MWh (+0.50 EUR); the 5 kWh rebound in ISP 1 has no award and stays: single price 60
    → −0.30 EUR. BRP net = 0.50 − 0.30 = 0.20 EUR."""
    activated = pd.DataFrame({"award_id": ["a"], "aggregator_id": ["agg"], "brp_id": ["b"],
                              "isp": [0], "energy_kwh": [10.0]})
    comp = brp_compensation(activated, CompensationTerms(
        "perimeter_correction", day_ahead_price_eur_per_mwh=50.0))
    table = imbalance_settlement(np.array([[10.0], [-5.0]]), ["b"], SINGLE, compensation=comp)
    assert table["imbalance_kwh"].tolist() == pytest.approx([0.0, -5.0])
    assert table["compensation_eur"].tolist() == pytest.approx([0.50, 0.0])
    assert table["net_eur"].sum() == pytest.approx(0.20)


def test_scenarios_table_has_four_rows_per_brp():
    dev = np.array([[10.0, 0.0], [-5.0, 2.0]])
    act = np.array([[10.0, 0.0], [0.0, 0.0]])
    table = imbalance_scenarios(dev, ["b1", "b2"], act, SINGLE, DUAL)
    assert len(table) == 8
    b1 = table[table["brp_id"] == "b1"].set_index(["pricing", "perimeter_correction"])
    assert b1.loc[("single", False), "imbalance_eur"] == pytest.approx(0.30)
    assert b1.loc[("single", True), "imbalance_eur"] == pytest.approx(-0.30)
    assert b1.loc[("dual", True), "imbalance_abs_kwh"] == pytest.approx(5.0)


def test_bad_input():
    with pytest.raises(InputError, match="short_eur_per_mwh"):
        ImbalancePrices("dual", long_eur_per_mwh=1.0)
    with pytest.raises(InputError, match="deviation_kwh"):
        imbalance_settlement(np.zeros((3, 2)), ["a"], SINGLE)
    with pytest.raises(InputError, match="single_eur_per_mwh"):
        imbalance_settlement(np.zeros((3, 1)), ["a"],
                             ImbalancePrices("single", single_eur_per_mwh=np.ones(2)))
