"""Column tables and frame builders of the continuous market (DESIGN.md: columnar results).

``SNAPSHOT_COLUMNS`` describe ``ContinuousMarket.snapshot`` (resting orders, for the web view
and reports), ``TRADE_COLUMNS`` the trade tape and ``BALANCE_COLUMNS`` the money per party.
Each table maps name -> (dtype, unit, meaning), as ``localflex.domain`` does.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from localflex.domain import empty_frame
from localflex.market.continuous.orders import Order, Trade

__all__ = [
    "BALANCE_COLUMNS",
    "SNAPSHOT_COLUMNS",
    "TRADE_COLUMNS",
    "balances_frame",
    "snapshot_frame",
    "trades_frame",
]

SNAPSHOT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "area": ("object", "-", "area or congestion point id of the product"),
    "direction": ("object", "-", "'up' (more injection) or 'down'"),
    "isp": ("int64", "-", "ISP index of the product"),
    "side": ("object", "-", "'buy' or 'sell'"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "limit price"),
    "quantity_kw": ("float64", "kW", "open (resting) quantity"),
    "filled_kw": ("float64", "kW", "already filled quantity"),
    "order_id": ("object", "-", "order id"),
    "party_id": ("object", "-", "owner of the order"),
    "seq": ("int64", "-", "sequence number that gave the order its time priority"),
}
TRADE_COLUMNS: dict[str, tuple[str, str, str]] = {
    "trade_id": ("object", "-", "deterministic trade id 'T<n>' (n = trade number, from 1)"),
    "seq": ("int64", "-", "sequence number of the event that caused the fill"),
    "area": ("object", "-", "area or congestion point id"),
    "direction": ("object", "-", "'up' or 'down'"),
    "isp": ("int64", "-", "ISP index"),
    "buy_order_id": ("object", "-", "buy order"),
    "sell_order_id": ("object", "-", "sell order"),
    "buyer_id": ("object", "-", "buying party (pays)"),
    "seller_id": ("object", "-", "selling party (is paid, delivers the flexibility)"),
    "price_eur_per_mwh": ("float64", "EUR/MWh", "trade price = resting (maker) order's price"),
    "quantity_kw": ("float64", "kW", "filled power over the ISP"),
    "energy_kwh": ("float64", "kWh", "quantity_kw x ISP hours"),
    "aggressor": ("object", "-", "side of the incoming (taker) order"),
    "value_eur": ("float64", "EUR", "price x energy / 1000: buyer pays = seller receives"),
    "timestamp": ("object", "-", "caller's timestamp of the event (None if not given)"),
}
BALANCE_COLUMNS: dict[str, tuple[str, str, str]] = {
    "party_id": ("object", "-", "party"),
    "paid_eur": ("float64", "EUR", "paid as buyer"),
    "received_eur": ("float64", "EUR", "received as seller"),
    "net_eur": ("float64", "EUR", "received - paid (sums to zero over parties)"),
}


def _typed(frame: pd.DataFrame, columns: dict[str, tuple[str, str, str]]) -> pd.DataFrame:
    return frame[list(columns)].astype({k: v[0] for k, v in columns.items()})


def snapshot_frame(orders: Iterable[Order]) -> pd.DataFrame:
    rows = [
        (o.product.area, str(o.product.direction), o.product.isp, str(o.side),
         o.price_eur_per_mwh, o.remaining_kw, o.filled_kw, o.order_id, o.party_id, o.seq)
        for o in orders
    ]
    if not rows:
        return empty_frame(SNAPSHOT_COLUMNS)
    return _typed(pd.DataFrame(rows, columns=list(SNAPSHOT_COLUMNS)), SNAPSHOT_COLUMNS)


def trades_frame(trades: Iterable[Trade], isp_hours: float) -> pd.DataFrame:
    rows = [
        (t.trade_id, t.seq, t.product.area, str(t.product.direction), t.product.isp,
         t.buy_order_id, t.sell_order_id, t.buyer_id, t.seller_id, t.price_eur_per_mwh,
         t.quantity_kw, t.quantity_kw * isp_hours, str(t.aggressor), t.value_eur, t.timestamp)
        for t in trades
    ]
    if not rows:
        return empty_frame(TRADE_COLUMNS)
    return _typed(pd.DataFrame(rows, columns=list(TRADE_COLUMNS)), TRADE_COLUMNS)


def balances_frame(trades: Iterable[Trade]) -> pd.DataFrame:
    paid: dict[str, float] = {}
    received: dict[str, float] = {}
    for t in trades:
        paid[t.buyer_id] = paid.get(t.buyer_id, 0.0) + t.value_eur
        received[t.seller_id] = received.get(t.seller_id, 0.0) + t.value_eur
    parties = sorted(set(paid) | set(received))
    if not parties:
        return empty_frame(BALANCE_COLUMNS)
    frame = pd.DataFrame({
        "party_id": parties,
        "paid_eur": [paid.get(p, 0.0) for p in parties],
        "received_eur": [received.get(p, 0.0) for p in parties],
    })
    frame["net_eur"] = frame["received_eur"] - frame["paid_eur"]
    return _typed(frame, BALANCE_COLUMNS)
