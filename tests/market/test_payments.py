"""Pay-as-bid payments of a DSO clearing (paper §5.3)."""

from __future__ import annotations

import pytest
from test_dso_single_buyer import _golden

from localflex.domain import InputError
from localflex.market import PAYMENT_COLUMNS, clear_dso_single_buyer, pay_as_bid_payments


def test_payments_sum_to_total_cost():
    offers, needs = _golden()
    result = clear_dso_single_buyer(offers, needs, n_isps=2)
    payments = pay_as_bid_payments(result.awards, "dso-1")
    assert list(payments.columns) == list(PAYMENT_COLUMNS)
    assert (payments["payer"] == "dso-1").all()
    assert sorted(payments["payee"]) == ["agg-A0", "agg-A1", "agg-B0", "agg-B1"]
    assert payments["amount_eur"].sum() == pytest.approx(result.total_cost_eur)
    assert payments["amount_eur"].sum() == pytest.approx(7.75)


def test_no_awards_no_payments():
    offers, needs = _golden()
    result = clear_dso_single_buyer(offers.iloc[[2, 5]], needs, n_isps=2)
    payments = pay_as_bid_payments(result.awards, "dso-1")
    assert payments.empty
    assert list(payments.columns) == list(PAYMENT_COLUMNS)


def test_bad_awards_frame():
    with pytest.raises(InputError, match="awards"):
        pay_as_bid_payments(_golden()[0], "dso-1")
