"""The continuous double-sided auction of a local flexibility trading platform.

Implements the market of paper §6.2, ref. [66]: a continuous, double-sided auction run by an
independent market operator (IMO) for market-oriented use of flexibility, with *no coupling*
to the DSO market (the DSO's own market, ``localflex.market.dso_single_buyer``, runs beside
it); network constraints are not considered here.

Rules (one ``ContinuousMarket`` per trading session, for ISPs ``0 .. n_isps-1``):

* Products: one order book per ``Product(area, direction, isp)``. Prices in EUR/MWh,
  quantities in kW over the ISP; a fill's value is ``price * qty_kw * isp_hours / 1000`` EUR,
  paid by the buyer and received by the seller.
* Price–time priority; partial fills; the trade price is the resting (maker) order's price.
* Order types: ``LIMIT`` (rest of the quantity rests), ``IOC`` (rest cancelled), ``FOK``
  (fills entirely at once or is killed with no state change at all).
* ``cancel`` removes a resting order. ``modify`` of the price, or an increase of the open
  quantity, re-queues the order at the back (loses time priority; if the new price crosses,
  it matches as an incoming order); a decrease of the open quantity keeps its priority.
* Self-trade prevention (cancel-resting): an incoming order never trades with a resting order
  of the same party; that resting order is cancelled and matching continues.
* Gate closure: ``close_gate(isp)`` cancels every resting order of that ISP and rejects later
  orders for it (``GateClosedError`` naming the ISP and the gate time).
* Validation at the edge: bad input raises an ``OrderError`` (an ``InputError``) naming the
  field, the value and what was expected, before any state changes.
* Determinism: every event (add, cancel, modify, gate closure) takes the next sequence
  number; trade ids are ``T<n>`` in tape order. No wall clock is read: timestamps, if any,
  are passed in by the caller and copied to orders and trades.
"""

from __future__ import annotations

import math
from datetime import timedelta
from numbers import Integral
from typing import Any

import pandas as pd

from localflex.domain import Direction, InputError, TimeGrid
from localflex.market.continuous.book import ProductBook
from localflex.market.continuous.errors import (
    DuplicateOrderError,
    GateClosedError,
    OrderError,
    UnknownOrderError,
)
from localflex.market.continuous.frames import balances_frame, snapshot_frame, trades_frame
from localflex.market.continuous.orders import (
    MIN_QUANTITY_KW,
    Order,
    OrderStatus,
    OrderType,
    Product,
    Side,
    SubmitResult,
    Trade,
)

__all__ = ["ContinuousMarket"]

_INF = math.inf
_SIDES = {Side.BUY: Side.BUY, Side.SELL: Side.SELL}
_TYPES = {t: t for t in OrderType}
_DIRECTIONS = {d: d for d in Direction}
_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_FOK = OrderType.FOK
_RESTING = OrderStatus.RESTING
_FILLED = OrderStatus.FILLED
_CANCELLED = OrderStatus.CANCELLED
_KILLED = OrderStatus.KILLED
_REPLACED = OrderStatus.REPLACED
_NONE: tuple[()] = ()  # shared empty trades / self-trade lists
_tuple_new = tuple.__new__  # builds a SubmitResult without its Python-level __new__ (hot path)


class ContinuousMarket:
    """Order books, gates and the trade tape of one continuous trading session.

    Give the horizon either as a ``TimeGrid`` (ISP length and gate times taken from it) or
    as ``n_isps`` (and ``isp_minutes``, default 15).
    """

    def __init__(
        self,
        time_grid: TimeGrid | None = None,
        *,
        n_isps: int | None = None,
        isp_minutes: int = 15,
    ) -> None:
        if time_grid is not None:
            if not isinstance(time_grid, TimeGrid):
                raise InputError("time_grid", time_grid, "a TimeGrid")
            if n_isps is not None and n_isps != time_grid.n_isps:
                raise InputError("n_isps", n_isps, f"{time_grid.n_isps} as in time_grid")
            n_isps = time_grid.n_isps
            isp_minutes = time_grid.isp_minutes
        if not isinstance(n_isps, Integral) or isinstance(n_isps, bool) or n_isps <= 0:
            raise InputError("n_isps", n_isps, "a positive number of ISPs (or a time_grid)")
        if (not isinstance(isp_minutes, Integral) or isinstance(isp_minutes, bool)
                or isp_minutes <= 0 or 1440 % isp_minutes):
            raise InputError("isp_minutes", isp_minutes, "a divisor of 1440 (e.g. 15)")
        self.time_grid = time_grid
        self.n_isps = int(n_isps)
        self.isp_minutes = int(isp_minutes)
        self.isp_hours = self.isp_minutes / 60.0
        self._eur_per_kw_eur_mwh = self.isp_hours / 1000.0  # value_eur = price * kW * this
        self._books: dict[Product, ProductBook] = {}
        self._books_by_isp: dict[int, list[ProductBook]] = {}
        self._live: dict[str, Order] = {}
        self._used_ids: set[str] = set()
        self._gates: dict[int, Any] = {}
        # The tape as rows of plain values (no enum members, no Product): the garbage
        # collector untracks such tuples, which keeps a long tape cheap. ``trades`` rebuilds
        # Trade records. Row: seq, product index, buy/sell order ids, buyer, seller, price,
        # quantity, aggressor is buy, value, timestamp.
        self._tape: list[tuple[Any, ...]] = []
        self._product_list: list[Product] = []
        self._seq = 0
        self._auto_id = 0

    # ---- events ---------------------------------------------------------------------------
    def submit(
        self,
        party_id: str,
        product: Product | tuple[str, Direction | str, int],
        side: Side | str,
        price_eur_per_mwh: float,
        quantity_kw: float,
        order_type: OrderType | str = OrderType.LIMIT,
        *,
        order_id: str | None = None,
        timestamp: Any = None,
    ) -> SubmitResult:
        """Add an order; it matches at once, then rests (LIMIT), is cancelled (IOC rest) or is
        killed (FOK not fully fillable)."""
        # Fast path: well-formed input for an open book; anything else goes through
        # _checked_new_order, which names the bad field or opens the book.
        try:
            side_ = _SIDES.get(side)
            type_ = _TYPES.get(order_type)
            book = self._books.get(product)
        except TypeError:
            side_ = type_ = book = None
        if (
            book is None or side_ is None or type_ is None
            or type(price_eur_per_mwh) is not float or not -_INF < price_eur_per_mwh < _INF
            or type(quantity_kw) is not float or not MIN_QUANTITY_KW <= quantity_kw < _INF
            or type(party_id) is not str or not party_id
            or type(order_id) is not str or not order_id or order_id in self._used_ids
        ):
            side_, type_, price_eur_per_mwh, quantity_kw, order_id, book = (
                self._checked_new_order(party_id, product, side, price_eur_per_mwh,
                                        quantity_kw, order_type, order_id)
            )
        self._used_ids.add(order_id)
        self._seq += 1
        is_buy = side_ is _BUY
        order = Order(order_id, party_id, book.product, side_, is_buy, price_eur_per_mwh,
                      quantity_kw, quantity_kw, 0.0, type_, _RESTING, self._seq, timestamp)
        if is_buy:
            keys = book.asks.keys
            crosses = keys and keys[-1] >= -price_eur_per_mwh
        else:
            keys = book.bids.keys
            crosses = keys and keys[-1] >= price_eur_per_mwh
        if crosses:
            return self._execute(order, book, timestamp)
        if type_ is _LIMIT:
            # book.rest(order), inlined for an existing price level
            level = (book.bids.levels.get(price_eur_per_mwh) if is_buy
                     else book.asks.levels.get(-price_eur_per_mwh))
            if level is None:
                book.rest(order)
            else:
                level.queue.append(order)
                level.live += 1
            self._live[order_id] = order
            return _tuple_new(SubmitResult,
                              (order_id, _RESTING, 0.0, quantity_kw, 0.0, _NONE, _NONE))
        order.status = _KILLED if type_ is _FOK else _CANCELLED
        return SubmitResult(order_id, order.status, 0.0, 0.0, quantity_kw, _NONE, _NONE)

    def _checked_new_order(
        self, party_id: Any, product: Any, side: Any, price: Any, quantity: Any,
        order_type: Any, order_id: Any,
    ) -> tuple[Side, OrderType, float, float, str, ProductBook]:
        """Validate a new order field by field (raising OrderError); open its book."""
        side_ = _SIDES.get(side) if isinstance(side, str) else None
        if side_ is None:
            raise OrderError("side", side, "'buy' or 'sell'")
        type_ = _TYPES.get(order_type) if isinstance(order_type, str) else None
        if type_ is None:
            raise OrderError("order_type", order_type, "'limit', 'ioc' or 'fok'")
        price, quantity = self._check_price_quantity(price, quantity, True)
        if type(party_id) is not str or not party_id:
            raise OrderError("party_id", party_id, "a non-empty party id")
        if order_id is None:
            order_id = self._next_auto_id()
        elif type(order_id) is not str or not order_id:
            raise OrderError("order_id", order_id, "a non-empty string or None")
        elif order_id in self._used_ids:
            raise DuplicateOrderError(order_id)
        return side_, type_, price, quantity, order_id, self._open_book(product)

    def cancel(self, order_id: str, *, timestamp: Any = None) -> Order:
        """Cancel a resting order; return it (status CANCELLED, open quantity kept)."""
        try:
            order = self._live.pop(order_id, None)
        except TypeError:
            order = None
        if order is None:
            raise UnknownOrderError(order_id)
        self._seq += 1
        order.status = _CANCELLED
        self._books[order.product].unlink(order)
        return order

    def modify(
        self,
        order_id: str,
        *,
        price_eur_per_mwh: float | None = None,
        quantity_kw: float | None = None,
        timestamp: Any = None,
    ) -> SubmitResult:
        """Change the price and/or the *open* quantity of a resting order.

        A lower open quantity at the same price keeps time priority. A new price or a higher
        quantity re-queues the order (same id) at the back of its level; a crossing new price
        trades at once as an incoming order.
        """
        try:
            order = self._live.get(order_id)
        except TypeError:
            order = None
        if order is None:
            raise UnknownOrderError(order_id)
        if price_eur_per_mwh is None and quantity_kw is None:
            raise OrderError("modify", None, "a new price_eur_per_mwh and/or quantity_kw")
        price, quantity = self._check_price_quantity(
            order.price_eur_per_mwh if price_eur_per_mwh is None else price_eur_per_mwh,
            order.remaining_kw if quantity_kw is None else quantity_kw,
            quantity_kw is not None,
        )
        self._seq += 1
        if price == order.price_eur_per_mwh and quantity <= order.remaining_kw:
            order.quantity_kw -= order.remaining_kw - quantity
            order.remaining_kw = quantity
            return _tuple_new(SubmitResult,
                              (order_id, _RESTING, 0.0, quantity, 0.0, _NONE, _NONE))
        book = self._books[order.product]
        order.status = _REPLACED
        book.unlink(order)
        del self._live[order_id]
        new = Order(order_id, order.party_id, order.product, order.side, order.is_buy, price,
                    order.filled_kw + quantity, quantity, order.filled_kw, _LIMIT, _RESTING,
                    self._seq, timestamp)
        return self._execute(new, book, timestamp)

    def close_gate(self, isp: int, gate_time: Any = None) -> list[str]:
        """Close trading for ``isp``: cancel its resting orders (ids returned, in book order)
        and reject later orders for it. ``gate_time`` defaults to the ISP's start on the time
        grid, or to the event's sequence number. Closing a closed gate does nothing."""
        isp = self._check_isp(isp, "isp")
        if isp in self._gates:
            return []
        self._seq += 1
        if gate_time is None:
            gate_time = (
                (self.time_grid.start + timedelta(minutes=isp * self.isp_minutes)).isoformat()
                if self.time_grid is not None else f"event {self._seq}"
            )
        self._gates[isp] = gate_time
        cancelled: list[str] = []
        for book in self._books_by_isp.pop(isp, []):
            for order in list(book.orders()):
                order.status = _CANCELLED
                del self._live[order.order_id]
                cancelled.append(order.order_id)
            del self._books[book.product]
        return cancelled

    # ---- queries --------------------------------------------------------------------------
    def is_gate_open(self, isp: int) -> bool:
        return self._check_isp(isp, "isp") not in self._gates

    def gate_time(self, isp: int) -> Any:
        """The gate time of a closed ISP, None while its gate is open."""
        return self._gates.get(self._check_isp(isp, "isp"))

    def is_resting(self, order_id: str) -> bool:
        """Whether ``order_id`` is an order resting in the book (never raises)."""
        try:
            return order_id in self._live
        except TypeError:
            return False

    def order(self, order_id: str) -> Order:
        """A resting order by id (UnknownOrderError otherwise)."""
        try:
            order = self._live.get(order_id)
        except TypeError:
            order = None
        if order is None:
            raise UnknownOrderError(order_id)
        return order

    def best_bid(self, product: Product | tuple) -> float | None:
        book = self._find_book(product)
        return None if book is None else book.best_bid()

    def best_ask(self, product: Product | tuple) -> float | None:
        book = self._find_book(product)
        return None if book is None else book.best_ask()

    def products(self) -> list[Product]:
        """Products with an open book, in order of first use."""
        return list(self._books)

    @property
    def sequence(self) -> int:
        """Sequence number of the last accepted event (0 before any)."""
        return self._seq

    @property
    def trades(self) -> list[Trade]:
        """The trade tape, in execution order (Trade records built on each call)."""
        products = self._product_list
        return [
            Trade(f"T{n}", seq, products[pidx], buy_id, sell_id, buyer, seller, price, qty,
                  _BUY if buy_aggressor else _SELL, value, timestamp)
            for n, (seq, pidx, buy_id, sell_id, buyer, seller, price, qty, buy_aggressor,
                    value, timestamp) in enumerate(self._tape, start=1)
        ]

    @property
    def trade_count(self) -> int:
        return len(self._tape)

    def snapshot(self, product: Product | tuple | None = None) -> pd.DataFrame:
        """Resting orders (``SNAPSHOT_COLUMNS``) of one product, or of all if None: per
        product bids best first, then asks best first, each level in time priority."""
        if product is None:
            books = list(self._books.values())
        else:
            book = self._find_book(product)
            books = [] if book is None else [book]
        return snapshot_frame(o for b in books for o in b.orders())

    def trades_frame(self) -> pd.DataFrame:
        """The trade tape as a frame (``TRADE_COLUMNS``)."""
        return trades_frame(self.trades, self.isp_hours)

    def balances(self) -> pd.DataFrame:
        """Money per party over the tape (``BALANCE_COLUMNS``); ``net_eur`` sums to zero."""
        return balances_frame(self.trades)

    # ---- internals ------------------------------------------------------------------------
    def _execute(self, order: Order, book: ProductBook, timestamp: Any) -> SubmitResult:
        order_id = order.order_id
        start = order.remaining_kw
        if order.order_type is _FOK and not book.can_fill(
            order.is_buy, order.price_eur_per_mwh, order.party_id, start
        ):
            order.status = _KILLED
            return SubmitResult(order_id, _KILLED, 0.0, 0.0, start, _NONE, _NONE)
        fills, stp = book.match(order)
        live = self._live
        stp_ids: list[str] = []
        for resting in stp:
            del live[resting.order_id]
            stp_ids.append(resting.order_id)
        trades: list[Trade] = []
        if fills:
            tape = self._tape
            n = len(tape)
            seq = self._seq
            product = book.product
            pidx = book.index
            scale = self._eur_per_kw_eur_mwh
            party = order.party_id
            if order.is_buy:
                for resting, qty in fills:
                    n += 1
                    price = resting.price_eur_per_mwh
                    value = price * qty * scale
                    tape.append((seq, pidx, order_id, resting.order_id, party, resting.party_id,
                                 price, qty, True, value, timestamp))
                    trades.append(Trade(f"T{n}", seq, product, order_id, resting.order_id,
                                        party, resting.party_id, price, qty, _BUY, value,
                                        timestamp))
                    if resting.status is _FILLED:
                        del live[resting.order_id]
            else:
                for resting, qty in fills:
                    n += 1
                    price = resting.price_eur_per_mwh
                    value = price * qty * scale
                    tape.append((seq, pidx, resting.order_id, order_id, resting.party_id, party,
                                 price, qty, False, value, timestamp))
                    trades.append(Trade(f"T{n}", seq, product, resting.order_id, order_id,
                                        resting.party_id, party, price, qty, _SELL, value,
                                        timestamp))
                    if resting.status is _FILLED:
                        del live[resting.order_id]
        remaining = order.remaining_kw
        filled = start - remaining
        if remaining <= 0.0:
            order.status = _FILLED
            return SubmitResult(order_id, _FILLED, filled, 0.0, 0.0, trades, stp_ids)
        if order.order_type is _LIMIT:
            book.rest(order)
            live[order_id] = order
            return SubmitResult(order_id, _RESTING, filled, remaining, 0.0, trades, stp_ids)
        order.status = _CANCELLED  # IOC remainder
        return SubmitResult(order_id, _CANCELLED, filled, 0.0, remaining, trades, stp_ids)

    def _check_price_quantity(self, price: Any, quantity: Any, check_quantity: bool
                              ) -> tuple[float, float]:
        try:
            price_ok = type(price) is not bool and -_INF < price < _INF
        except TypeError:
            price_ok = False
        if not price_ok:
            raise OrderError("price_eur_per_mwh", price, "a finite price in EUR/MWh")
        if check_quantity:
            try:
                quantity_ok = type(quantity) is not bool and MIN_QUANTITY_KW <= quantity < _INF
            except TypeError:
                quantity_ok = False
            if not quantity_ok:
                raise OrderError(
                    "quantity_kw", quantity, f"a finite quantity >= {MIN_QUANTITY_KW} kW"
                )
        return float(price), float(quantity)

    def _check_isp(self, isp: Any, field: str) -> int:
        if not isinstance(isp, Integral) or isinstance(isp, bool):
            raise OrderError(field, isp, "an integer ISP index")
        if not 0 <= isp < self.n_isps:
            raise OrderError(field, isp, f"an ISP index in 0..{self.n_isps - 1}")
        return int(isp)

    def _normalise_product(self, product: Any) -> Product:
        try:
            area, direction, isp = product
        except (TypeError, ValueError):
            raise OrderError(
                "product", product, "a Product(area, direction, isp) or a 3-tuple"
            ) from None
        if type(area) is not str or not area:
            raise OrderError("product.area", area, "a non-empty area or congestion point id")
        try:
            direction_ = _DIRECTIONS.get(direction)
        except TypeError:
            direction_ = None
        if direction_ is None:
            raise OrderError("product.direction", direction, "'up' or 'down'")
        return Product(area, direction_, self._check_isp(isp, "product.isp"))

    def _find_book(self, product: Any) -> ProductBook | None:
        try:
            book = self._books.get(product)
        except TypeError:
            book = None
        return book if book is not None else self._books.get(self._normalise_product(product))

    def _open_book(self, product: Any) -> ProductBook:
        key = self._normalise_product(product)
        if key.isp in self._gates:
            raise GateClosedError(key.isp, self._gates[key.isp])
        book = self._books.get(key)
        if book is None:
            book = ProductBook(key, len(self._product_list))
            self._product_list.append(key)
            self._books[key] = book
            self._books_by_isp.setdefault(key.isp, []).append(book)
        return book

    def _next_auto_id(self) -> str:
        while True:
            self._auto_id += 1
            order_id = f"O{self._auto_id}"
            if order_id not in self._used_ids:
                return order_id
