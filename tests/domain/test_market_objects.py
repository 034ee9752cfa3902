"""Offer frames and their validation."""

import numpy as np
import pytest

from localflex.domain import Direction, FlexOffer, OfferError, offers_frame, validate_offers


def _offers(**change):
    base = dict(offer_id="o1", aggregator_id="a", bus=3, isp=5, direction=Direction.UP,
                max_power_kw=10.0, price_eur_per_mwh=80.0)
    base.update(change)
    return offers_frame([FlexOffer(**base)])


def test_frame_has_documented_columns():
    frame = _offers()
    assert frame.loc[0, "direction"] == "up"
    assert frame.dtypes["max_power_kw"] == np.float64
    assert len(validate_offers(frame, n_isps=96, valid_buses=np.array([3]))) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"isp": 96}, "isp"),
        ({"bus": 99}, "bus"),
        ({"max_power_kw": -1.0}, "max_power_kw"),
        ({"price_eur_per_mwh": float("nan")}, "price_eur_per_mwh"),
        ({"min_power_kw": 20.0}, "min_power_kw"),
    ],
)
def test_bad_offer_names_field_and_value(change, field):
    with pytest.raises(OfferError, match=rf"offer\[o1\]\.{field}"):
        validate_offers(_offers(**change), n_isps=96, valid_buses=np.array([3]))


def test_duplicate_ids_rejected():
    frame = offers_frame([
        FlexOffer("x", "a", 1, 0, Direction.UP, 1.0, 1.0),
        FlexOffer("x", "a", 1, 1, Direction.DOWN, 1.0, 1.0),
    ])
    with pytest.raises(OfferError, match="offer_id"):
        validate_offers(frame, n_isps=4)
