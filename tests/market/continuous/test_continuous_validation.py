"""Bad input to the continuous auction raises errors that name the field; nothing changes."""

from __future__ import annotations

import math

import pytest

from localflex.domain import Direction, InputError, OfferError
from localflex.market.continuous import (
    ContinuousMarket,
    DuplicateOrderError,
    OrderError,
    Product,
)

P = Product("cp-1", Direction.DOWN, 0)
GOOD = {"party_id": "A", "product": P, "side": "buy", "price_eur_per_mwh": 50.0,
        "quantity_kw": 1.0, "order_type": "limit"}


@pytest.mark.parametrize(
    ("field", "value", "error_field"),
    [
        ("quantity_kw", 0.0, "quantity_kw"),
        ("quantity_kw", -1.0, "quantity_kw"),
        ("quantity_kw", math.nan, "quantity_kw"),
        ("quantity_kw", math.inf, "quantity_kw"),
        ("quantity_kw", "5", "quantity_kw"),
        ("quantity_kw", True, "quantity_kw"),
        ("quantity_kw", None, "quantity_kw"),
        ("price_eur_per_mwh", math.nan, "price_eur_per_mwh"),
        ("price_eur_per_mwh", -math.inf, "price_eur_per_mwh"),
        ("price_eur_per_mwh", None, "price_eur_per_mwh"),
        ("price_eur_per_mwh", "50", "price_eur_per_mwh"),
        ("side", "bid", "side"),
        ("side", None, "side"),
        ("side", ["buy"], "side"),
        ("order_type", "gtc", "order_type"),
        ("party_id", "", "party_id"),
        ("party_id", 7, "party_id"),
        ("product", ("cp-1", "sideways", 0), "product.direction"),
        ("product", ("cp-1", "UP", 0), "product.direction"),
        ("product", ("cp-1", "up", -1), "product.isp"),
        ("product", ("cp-1", "up", 4), "product.isp"),
        ("product", ("cp-1", "up", 1.5), "product.isp"),
        ("product", ("cp-1", "up", True), "product.isp"),
        ("product", ("", "up", 0), "product.area"),
        ("product", ("cp-1", "up"), "product"),
        ("product", "cp-1", "product"),
        ("product", ["cp-1", ["up"], 0], "product.direction"),
    ],
)
def test_bad_order_names_the_field(field, value, error_field):
    m = ContinuousMarket(n_isps=4)
    m.submit("B", P, "sell", 60.0, 1.0, order_id="resting")
    before = (m.sequence, m.snapshot().to_dict(), m.products())
    with pytest.raises(OrderError) as err:
        m.submit(**{**GOOD, field: value})
    assert isinstance(err.value, OfferError) and isinstance(err.value, InputError)
    assert err.value.field == error_field
    assert str(err.value).startswith(f"{error_field}: got ")
    if "." not in error_field:
        assert str(err.value).startswith(f"{error_field}: got {value!r}")
    assert (m.sequence, m.snapshot().to_dict(), m.products()) == before


def test_ints_and_numpy_numbers_are_accepted():
    np = pytest.importorskip("numpy")
    m = ContinuousMarket(n_isps=4)
    r = m.submit("A", ("cp-1", "down", np.int64(0)), "buy", 50, np.float64(2.5))
    assert r.resting_kw == 2.5 and m.best_bid(P) == 50.0
    assert type(m.order(r.order_id).price_eur_per_mwh) is float


def test_duplicate_order_id():
    m = ContinuousMarket(n_isps=4)
    m.submit("A", P, "buy", 50.0, 1.0, order_id="x")
    m.cancel("x")
    with pytest.raises(DuplicateOrderError) as err:
        m.submit("A", P, "buy", 50.0, 1.0, order_id="x")
    assert err.value.field == "order_id" and "'x'" in str(err.value)
    with pytest.raises(OrderError, match="order_id"):
        m.submit("A", P, "buy", 50.0, 1.0, order_id="")


@pytest.mark.parametrize(
    ("kwargs", "error_field"),
    [
        ({}, "modify"),
        ({"quantity_kw": 0.0}, "quantity_kw"),
        ({"quantity_kw": math.nan}, "quantity_kw"),
        ({"price_eur_per_mwh": math.inf}, "price_eur_per_mwh"),
    ],
)
def test_bad_modify_names_the_field(kwargs, error_field):
    m = ContinuousMarket(n_isps=4)
    m.submit("A", P, "buy", 50.0, 1.0, order_id="x")
    with pytest.raises(OrderError) as err:
        m.modify("x", **kwargs)
    assert err.value.field == error_field
    assert m.order("x").remaining_kw == 1.0 and m.order("x").price_eur_per_mwh == 50.0


@pytest.mark.parametrize("isp", [-1, 4, 1.0, "1", None])
def test_bad_gate_isp(isp):
    m = ContinuousMarket(n_isps=4)
    with pytest.raises(OrderError) as err:
        m.close_gate(isp)
    assert err.value.field == "isp"


@pytest.mark.parametrize(
    ("kwargs", "error_field"),
    [
        ({}, "n_isps"),
        ({"n_isps": 0}, "n_isps"),
        ({"n_isps": 2.5}, "n_isps"),
        ({"n_isps": 4, "isp_minutes": 7}, "isp_minutes"),
        ({"time_grid": "2024-01-01"}, "time_grid"),
    ],
)
def test_bad_market_construction(kwargs, error_field):
    with pytest.raises(InputError) as err:
        ContinuousMarket(**kwargs)
    assert err.value.field == error_field
