"""Continuous double-sided auction of a local flexibility trading platform (paper §6.2).

Implements ref. [66] of the paper: a continuous, double-sided auction run by an independent
market operator (IMO) for the market-oriented use of flexibility, with *no coupling* to the
DSO market, which runs beside it. Price–time priority, partial fills, limit / IOC / FOK
orders, cancel and modify, per-ISP gate closure, self-trade prevention (cancel-resting), a
deterministic trade tape and per-trade money balances. The rules are stated in
``engine.py``; matching details in ``book.py``.

Modules: ``orders`` (products, orders, trades), ``book`` (one product's book), ``engine``
(``ContinuousMarket``: validation, gates, tape), ``frames`` (column tables), ``errors``.
"""

from localflex.market.continuous.book import ProductBook
from localflex.market.continuous.engine import ContinuousMarket
from localflex.market.continuous.errors import (
    DuplicateOrderError,
    GateClosedError,
    OrderError,
    UnknownOrderError,
)
from localflex.market.continuous.frames import (
    BALANCE_COLUMNS,
    SNAPSHOT_COLUMNS,
    TRADE_COLUMNS,
)
from localflex.market.continuous.orders import (
    MIN_QUANTITY_KW,
    QUANTITY_TOLERANCE_KW,
    Order,
    OrderStatus,
    OrderType,
    Product,
    Side,
    SubmitResult,
    Trade,
)

__all__ = [
    "BALANCE_COLUMNS",
    "MIN_QUANTITY_KW",
    "QUANTITY_TOLERANCE_KW",
    "SNAPSHOT_COLUMNS",
    "TRADE_COLUMNS",
    "ContinuousMarket",
    "DuplicateOrderError",
    "GateClosedError",
    "Order",
    "OrderError",
    "OrderStatus",
    "OrderType",
    "Product",
    "ProductBook",
    "Side",
    "SubmitResult",
    "Trade",
    "UnknownOrderError",
]
