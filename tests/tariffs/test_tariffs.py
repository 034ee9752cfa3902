"""Network tariffs (paper §5.1): hand-checked bills, the demand model, and a tariff on a grid."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from localflex.domain import InputError, TimeGrid
from localflex.grid import load_simbench_grid
from localflex.tariffs.network_tariffs import (
    CapacityTariff,
    CriticalPeakEvent,
    CriticalPeakTariff,
    DynamicTariff,
    RealTimeTariff,
    Tariff,
    TimeOfUseTariff,
    VolumetricTariff,
    dso_revenue_eur,
)
from localflex.tariffs.response import (
    PriceResponse,
    dynamic_tariff_for,
    grid_day,
    shift_load,
    tariff_impact,
)

HOURLY = TimeGrid.for_day("2030-01-01", isp_minutes=60)  # 24 ISPs of one hour
HOURS = np.arange(24)


@pytest.fixture
def load_kw() -> np.ndarray:
    """Customer A: 1 kW all day. Customer B: 2 kW from 18 to 20 h, injects 1 kW at noon."""
    a = np.ones(24)
    b = np.where((HOURS >= 18) & (HOURS < 20), 2.0, 0.0)
    b[12] = -1.0  # injection is not billed
    return np.column_stack([a, b])


def test_volumetric_bill_by_hand(load_kw):
    tariff = VolumetricTariff(price_eur_per_kwh=0.1, standing_eur_per_day=0.5)
    # A: 24 kWh · 0.1 + 0.5; B: 4 kWh · 0.1 + 0.5
    assert tariff.bill_eur(load_kw, HOURLY) == pytest.approx([2.9, 0.9])
    assert dso_revenue_eur(tariff, load_kw, HOURLY) == pytest.approx(3.8)


def test_capacity_bill_by_hand(load_kw):
    tariff = CapacityTariff(price_eur_per_kw=3.0)
    assert tariff.bill_eur(load_kw, HOURLY) == pytest.approx([3.0, 6.0])
    two_days = TimeGrid.for_day("2030-01-01", isp_minutes=60, days=2)
    load = np.vstack([load_kw, load_kw * 0.5])  # day 2 at half power
    daily = CapacityTariff(price_eur_per_kw=3.0, billing_period_days=1)
    assert daily.bill_eur(load, two_days) == pytest.approx([3.0 + 1.5, 6.0 + 3.0])
    assert CapacityTariff(3.0).bill_eur(load, two_days) == pytest.approx([3.0, 6.0])


def test_time_of_use_bill_by_hand(load_kw):
    tariff = TimeOfUseTariff.two_band(0.05, 0.20, peak_hours=(17, 21))
    # A: 20 h · 0.05 + 4 h · 0.20; B: 4 kWh in the peak band
    assert tariff.bill_eur(load_kw, HOURLY) == pytest.approx([1.8, 0.8])
    night = TimeOfUseTariff.two_band(0.05, 0.20, peak_hours=(22, 6))  # wraps midnight
    assert night.price_per_isp(HOURLY)[[23, 0, 5, 6, 21]] == pytest.approx(
        [0.2, 0.2, 0.2, 0.05, 0.05])


def test_critical_peak_bill_by_hand(load_kw):
    event = CriticalPeakEvent(day=date(2030, 1, 1), start_hour=18, end_hour=19)
    tariff = CriticalPeakTariff(0.1, 0.5, events=(event,))
    # A: 23 h · 0.1 + 1 h · 0.5; B: 2 kWh at 18 h · 0.5 + 2 kWh · 0.1
    assert tariff.bill_eur(load_kw, HOURLY) == pytest.approx([2.8, 1.2])
    other_day = CriticalPeakTariff(0.1, 0.5, events=(
        CriticalPeakEvent(day=date(2030, 1, 2), start_hour=18, end_hour=19),))
    assert other_day.bill_eur(load_kw, HOURLY) == pytest.approx([2.4, 0.4])


def test_real_time_bill_by_hand(load_kw):
    tariff = RealTimeTariff(price_eur_per_kwh=HOURS / 100.0)
    # A: Σ h/100 = 2.76; B: 2 kW · (18 + 19)/100
    assert tariff.bill_eur(load_kw, HOURLY) == pytest.approx([2.76, 0.74])
    with pytest.raises(InputError, match="price_eur_per_kwh"):
        RealTimeTariff(np.ones(23)).bill_eur(load_kw, HOURLY)


def test_dynamic_bill_by_hand(load_kw):
    loading = np.full(24, 50.0)
    loading[[12, 18]] = 100.0
    reverse = HOURS == 12  # the noon loading is PV feed-in
    tariff = DynamicTariff.from_loading(np.full(24, 0.1), loading, reverse_flow=reverse,
                                        base_eur_per_kwh=0.05, slope_eur_per_kwh_per_pct=0.004,
                                        knee_pct=70)
    # network: 0.05 everywhere, 0.05 + 0.12 at 18 h, 0.05 − 0.12 at noon (a rebate)
    assert tariff.network_eur_per_kwh[[0, 12, 18]] == pytest.approx([0.05, -0.07, 0.17])
    assert tariff.network_bill_eur(load_kw, HOURLY) == pytest.approx([1.2, 0.44])
    assert tariff.bill_eur(load_kw, HOURLY) == pytest.approx([3.6, 0.84])
    assert dso_revenue_eur(tariff, load_kw, HOURLY) == pytest.approx(1.64)


@pytest.mark.parametrize("tariff", [
    VolumetricTariff(0.1), CapacityTariff(3.0), TimeOfUseTariff.two_band(0.1, 0.3),
    CriticalPeakTariff(0.1, 0.5), RealTimeTariff(np.full(24, 0.1)),
    DynamicTariff(np.full(24, 0.1), np.full(24, 0.05)),
])
def test_every_tariff_has_the_interface(tariff, load_kw):
    assert isinstance(tariff, Tariff)
    assert tariff.bill_eur(load_kw, HOURLY).shape == (2,)
    assert tariff.price_signal_eur_per_kwh(load_kw, HOURLY).shape == (24, 2)
    with pytest.raises(InputError, match="load_kw"):
        tariff.bill_eur(load_kw[:23], HOURLY)


def test_bad_tariff_input_names_the_field():
    with pytest.raises(InputError, match="hourly_price_eur_per_kwh"):
        TimeOfUseTariff((0.1,) * 23)
    with pytest.raises(InputError, match="price_eur_per_kwh"):
        VolumetricTariff(-0.1)
    with pytest.raises(InputError, match="elasticity"):
        PriceResponse(elasticity=0.5)
    with pytest.raises(InputError, match="flexible_share"):
        PriceResponse(flexible_share=1.5)


def test_capacity_signal_sits_on_each_customers_peak(load_kw):
    signal = CapacityTariff(3.0, perceived_peak_isps=2).price_signal_eur_per_kwh(load_kw, HOURLY)
    assert np.flatnonzero(signal[:, 1]).tolist() == [18, 19]
    assert signal[:, 1].max() == pytest.approx(3.0 / 2)


two_days = TimeGrid.for_day("2030-03-01", isp_minutes=60, days=2)


@settings(max_examples=60, deadline=None)
@given(
    load=arrays(np.float64, (48, 3), elements=st.floats(-5, 20)),
    price=arrays(np.float64, (48,), elements=st.floats(-0.2, 1.0)),
    elasticity=st.floats(-3.0, 0.0),
    share=st.floats(0.0, 1.0),
)
def test_shifting_conserves_each_customers_daily_energy(load, price, elasticity, share):
    shifted = shift_load(load, price, two_days, PriceResponse(elasticity, share))
    per_day = load.reshape(2, 24, 3).sum(axis=1)
    assert shifted.reshape(2, 24, 3).sum(axis=1) == pytest.approx(per_day, abs=1e-8)
    fixed = load - share * np.maximum(load, 0)
    assert (shifted >= fixed - 1e-9).all()  # flexible load never turns negative
    assert np.all(shifted[load < 0] == load[load < 0])  # injection is not shifted


def test_flat_price_moves_nothing():
    load = np.random.default_rng(3).uniform(0, 5, (48, 4))
    assert shift_load(load, np.full(48, 0.2), two_days, PriceResponse(-1.0, 0.5)) == \
        pytest.approx(load)


def test_time_of_use_lowers_the_evening_peak_of_a_household():
    evening = (HOURS >= 17) & (HOURS < 21)
    load = np.where(evening, 3.0, 1.0)[:, None]
    tou = TimeOfUseTariff.two_band(0.10, 0.30, peak_hours=(17, 21))
    after = shift_load(load, tou.price_signal_eur_per_kwh(load, HOURLY), HOURLY,
                       PriceResponse(elasticity=-0.4, flexible_share=0.5))
    assert after[evening].max() < 3.0
    assert after[~evening].min() > 1.0
    assert after.sum() == pytest.approx(load.sum())


@pytest.fixture(scope="module")
def lv_grid():
    return load_simbench_grid("1-LV-rural1--2-sw")


def test_time_of_use_lowers_the_winter_evening_peak_on_the_grid(lv_grid):
    day = grid_day(lv_grid, TimeGrid.for_day("2016-01-20"))
    peak_isp = int(day.loads.p_kw.sum(axis=1).argmax())
    assert 17 <= peak_isp / 4 < 21  # the grid peaks in the evening
    tou = TimeOfUseTariff.two_band(0.05, 0.20, peak_hours=(17, 21))
    impact = tariff_impact(day, tou, PriceResponse(elasticity=-0.3, flexible_share=0.3))
    assert impact.after["peak_load_kw"] < impact.before["peak_load_kw"] - 1.0
    assert impact.after["max_trafo_loading_pct"] < impact.before["max_trafo_loading_pct"]
    assert impact.after["energy_kwh"] == pytest.approx(impact.before["energy_kwh"])
    assert set(impact.table().index) >= {"peak_load_kw", "overload_energy_kwh",
                                         "max_trafo_loading_pct", "dso_revenue_eur"}


def test_dynamic_tariff_moves_load_into_the_pv_overload(lv_grid):
    day = grid_day(lv_grid, TimeGrid.for_day("2016-06-21"))
    assert day.reverse_flow[48]  # noon: PV feeds in and overloads the transformer
    impact = tariff_impact(day, dynamic_tariff_for(day), PriceResponse(-0.3, 0.3))
    before, after = impact.before["overload_energy_kwh"], impact.after["overload_energy_kwh"]
    assert before > 100
    assert after < before - 5
    # a flat volumetric tariff changes nothing
    flat = tariff_impact(day, VolumetricTariff(0.08), PriceResponse(-0.3, 0.3))
    assert flat.after["overload_energy_kwh"] == pytest.approx(before)
