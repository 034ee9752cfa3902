"""Orders, products and trades of the continuous double-sided auction (paper §6.2, ref. [66]).

A *product* is one (area or congestion point id, ``Direction``, ISP index): every product has
its own order book. Buyers (a BRP or a DSO wanting flexibility) send ``BUY`` orders, sellers
(aggregators offering it) ``SELL`` orders. Prices are in EUR/MWh, quantities in kW of power
held over the whole ISP, so the energy of a fill is ``quantity_kw * isp_hours`` kWh and its
value ``price_eur_per_mwh * quantity_kw * isp_hours / 1000`` EUR (buyer pays, seller receives).

``Order`` is mutable and owned by the market: read it, do not change it. ``Trade`` and
``SubmitResult`` are immutable records (named tuples: cheap to build on the hot path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from localflex.domain import Direction

__all__ = [
    "MIN_QUANTITY_KW",
    "QUANTITY_TOLERANCE_KW",
    "Order",
    "OrderStatus",
    "OrderType",
    "Product",
    "Side",
    "SubmitResult",
    "Trade",
]

# A remaining quantity at or below this is treated as zero (float dust of partial fills).
QUANTITY_TOLERANCE_KW = 1e-9
# The smallest quantity an order may have (1 W).
MIN_QUANTITY_KW = 1e-3


class Side(StrEnum):
    BUY = "buy"  # wants flexibility (BRP, DSO); pays
    SELL = "sell"  # offers flexibility (aggregator); is paid


class OrderType(StrEnum):
    LIMIT = "limit"  # matches what it can, the rest rests in the book
    IOC = "ioc"  # immediate-or-cancel: matches what it can now, the rest is cancelled
    FOK = "fok"  # fill-or-kill: fills entirely now or not at all (no state change)


class OrderStatus(StrEnum):
    RESTING = "resting"  # in the book (possibly partly filled)
    FILLED = "filled"  # completely filled
    CANCELLED = "cancelled"  # by the owner, IOC remainder, gate closure or self-trade rule
    KILLED = "killed"  # FOK that could not be filled entirely: nothing happened
    REPLACED = "replaced"  # internal: superseded by a re-queued copy after a modify


class Product(NamedTuple):
    """One tradable product: flexibility in ``direction`` at ``area`` during ISP ``isp``."""

    area: str
    direction: Direction
    isp: int


@dataclass(slots=True, eq=False)
class Order:
    """An order as the market holds it. ``quantity_kw = filled_kw + open quantity``."""

    order_id: str
    party_id: str
    product: Product
    side: Side
    is_buy: bool
    price_eur_per_mwh: float
    quantity_kw: float
    remaining_kw: float
    filled_kw: float
    order_type: OrderType
    status: OrderStatus
    seq: int  # sequence number of the event that gave the order its time priority
    timestamp: Any = None


class Trade(NamedTuple):
    """One fill. Price = the resting (maker) order's price; ``value_eur`` buyer -> seller."""

    trade_id: str
    seq: int  # sequence number of the event that caused the fill
    product: Product
    buy_order_id: str
    sell_order_id: str
    buyer_id: str
    seller_id: str
    price_eur_per_mwh: float
    quantity_kw: float
    aggressor: Side
    value_eur: float
    timestamp: Any = None


class SubmitResult(NamedTuple):
    """What an add or modify did: the order's fate, its fills and self-trade cancellations.

    ``filled_kw`` is filled by this event; ``resting_kw`` stays in the book; ``cancelled_kw``
    was cancelled by this event (IOC remainder, or the whole order of a killed FOK).
    """

    order_id: str
    status: OrderStatus
    filled_kw: float
    resting_kw: float
    cancelled_kw: float
    trades: Sequence[Trade]
    self_trade_cancelled: Sequence[str]
