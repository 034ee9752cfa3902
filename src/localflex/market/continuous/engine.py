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
from bisect import bisect_left, insort
from datetime import timedelta
from numbers import Integral
from typing import Any

import pandas as pd

from localflex.domain import Direction, InputError, TimeGrid
from localflex.market.continuous.book import ProductBook, _compact, _Level
from localflex.market.continuous.errors import (
    DuplicateOrderError,
    GateClosedError,
    OrderError,
    UnknownOrderError,
)
from localflex.market.continuous.frames import balances_frame, snapshot_frame, trades_frame
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

__all__ = ["ContinuousMarket"]

_INF = math.inf
# Keyed by the plain str values (members compare and hash equal to them): a dict of exact
# str keys takes CPython's faster str lookup for the usual plain-str arguments.
_SIDES = {str(s): s for s in Side}
_TYPES = {str(t): t for t in OrderType}
_DIRECTIONS = {str(d): d for d in Direction}
_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_FOK = OrderType.FOK
_RESTING = OrderStatus.RESTING
_FILLED = OrderStatus.FILLED
_CANCELLED = OrderStatus.CANCELLED
_KILLED = OrderStatus.KILLED
_REPLACED = OrderStatus.REPLACED
_EPS = QUANTITY_TOLERANCE_KW
_NONE: tuple[()] = ()  # shared empty trades / self-trade lists
# Hot-path helpers: ``_tuple_new(SubmitResult, (...))`` / ``_tuple_new(Trade, (...))`` build the
# named tuples without their Python-level ``__new__``; ``_order`` fills an Order's slots
# without going through ``type.__call__`` and the dataclass ``__init__``.
_tuple_new = tuple.__new__
_object_new = object.__new__
_insort = insort
_bisect_left = bisect_left


def _order(order_id: str, party_id: str, product: Product, side: Side, is_buy: bool,
           price_eur_per_mwh: float, quantity_kw: float, remaining_kw: float,
           filled_kw: float, order_type: OrderType, seq: int, timestamp: Any) -> Order:
    """``Order(..., status=RESTING, ...)``, built about twice as fast (same fields)."""
    order = _object_new(Order)
    order.order_id = order_id
    order.party_id = party_id
    order.product = product
    order.side = side
    order.is_buy = is_buy
    order.price_eur_per_mwh = price_eur_per_mwh
    order.quantity_kw = quantity_kw
    order.remaining_kw = remaining_kw
    order.filled_kw = filled_kw
    order.order_type = order_type
    order.status = _RESTING
    order.seq = seq
    order.timestamp = timestamp
    return order


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
        # the same books keyed by id() of their (kept alive) Product: an order carries its
        # book's Product object, and an int key hashes faster than the 3-tuple
        self._books_by_product_id: dict[int, ProductBook] = {}
        self._books_by_isp: dict[int, list[ProductBook]] = {}
        self._live: dict[str, Order] = {}
        self._used_ids: set[str] = set()
        self._gates: dict[int, Any] = {}
        # The tape as rows of plain values (no enum members, no Product): the garbage
        # collector untracks such tuples, which keeps a long tape cheap (a tape of Trade
        # records, which hold the Product and its Direction member, stays tracked and makes
        # every full collection walk it). ``trades`` rebuilds Trade records. Row: seq,
        # product index, buy/sell order ids, buyer, seller, price, quantity, aggressor is
        # buy, value, timestamp.
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
            side_ = _SIDES[side]
            type_ = _TYPES[order_type]
            book = self._books[product]
        except (KeyError, TypeError):  # unknown side / type, unopened book, unhashable
            side_ = type_ = book = None
        used = self._used_ids
        if (
            book is None or side_ is None or type_ is None
            or type(price_eur_per_mwh) is not float or not -_INF < price_eur_per_mwh < _INF
            or type(quantity_kw) is not float or not MIN_QUANTITY_KW <= quantity_kw < _INF
            or type(party_id) is not str or not party_id
            or type(order_id) is not str or not order_id or order_id in used
        ):
            side_, type_, price_eur_per_mwh, quantity_kw, order_id, book = (
                self._checked_new_order(party_id, product, side, price_eur_per_mwh,
                                        quantity_kw, order_type, order_id)
            )
        used.add(order_id)
        self._seq = seq = self._seq + 1
        if side_ is _BUY:
            keys = book.asks.keys
            if keys and keys[-1] >= -price_eur_per_mwh:
                return self._execute(book, True, _BUY, type_, order_id, party_id,
                                     price_eur_per_mwh, quantity_kw, 0.0, seq, timestamp)
            own = book.bids
            key = price_eur_per_mwh
            is_buy = True
        else:
            keys = book.bids.keys
            if keys and keys[-1] >= price_eur_per_mwh:
                return self._execute(book, False, _SELL, type_, order_id, party_id,
                                     price_eur_per_mwh, quantity_kw, 0.0, seq, timestamp)
            own = book.asks
            key = -price_eur_per_mwh
            is_buy = False
        if type_ is not _LIMIT:  # IOC / FOK with nothing to match
            return _tuple_new(SubmitResult, (order_id, _KILLED if type_ is _FOK else _CANCELLED,
                                             0.0, 0.0, quantity_kw, _NONE, _NONE))
        # _order(...), inlined
        order = _object_new(Order)
        order.order_id = order_id
        order.party_id = party_id
        order.product = book.product
        order.side = side_
        order.is_buy = is_buy
        order.price_eur_per_mwh = price_eur_per_mwh
        order.quantity_kw = quantity_kw
        order.remaining_kw = quantity_kw
        order.filled_kw = 0.0
        order.order_type = _LIMIT
        order.status = _RESTING
        order.seq = seq
        order.timestamp = timestamp
        # book.rest(order), inlined
        levels = own.levels
        level = levels.get(key)
        if level is None:
            level = _Level((order,))
            level.live = 1
            levels[key] = level
            _insort(own.keys, key)
        else:
            level.append(order)
            level.live += 1
        self._live[order_id] = order
        return _tuple_new(SubmitResult, (order_id, _RESTING, 0.0, quantity_kw, 0.0, _NONE, _NONE))

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
        # self._book_of(order).unlink(order), inlined
        book = self._books_by_product_id[id(order.product)]
        if order.is_buy:
            own = book.bids
            key = order.price_eur_per_mwh
        else:
            own = book.asks
            key = -order.price_eur_per_mwh
        level = own.levels[key]
        live = level.live - 1
        if live:
            level.live = live
            if len(level) > 2 * live + 16:
                _compact(level)
        else:
            del own.levels[key]
            keys = own.keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[_bisect_left(keys, key)]
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
        if price_eur_per_mwh is None:
            if quantity_kw is None:
                raise OrderError("modify", None, "a new price_eur_per_mwh and/or quantity_kw")
            price = order.price_eur_per_mwh
        else:
            price = price_eur_per_mwh
        if quantity_kw is None:
            quantity = order.remaining_kw
            ok = type(price) is float and -_INF < price < _INF
        else:
            quantity = quantity_kw
            ok = (type(price) is float and -_INF < price < _INF
                  and type(quantity) is float and MIN_QUANTITY_KW <= quantity < _INF)
        if not ok:
            price, quantity = self._check_price_quantity(price, quantity, quantity_kw is not None)
        self._seq = seq = self._seq + 1
        if price == order.price_eur_per_mwh and quantity <= order.remaining_kw:
            order.quantity_kw -= order.remaining_kw - quantity
            order.remaining_kw = quantity
            return _tuple_new(SubmitResult,
                              (order_id, _RESTING, 0.0, quantity, 0.0, _NONE, _NONE))
        book = self._books_by_product_id[id(order.product)]
        order.status = _REPLACED
        book.unlink(order)
        live = self._live
        del live[order_id]
        is_buy = order.is_buy
        keys = book.asks.keys if is_buy else book.bids.keys
        if keys and (keys[-1] >= -price if is_buy else keys[-1] >= price):
            return self._execute(book, is_buy, order.side, _LIMIT, order_id, order.party_id,
                                 price, quantity, order.filled_kw, seq, timestamp)
        filled = order.filled_kw
        new = _order(order_id, order.party_id, order.product, order.side, is_buy, price,
                     filled + quantity, quantity, filled, _LIMIT, seq, timestamp)
        book.rest(new)
        live[order_id] = new
        return _tuple_new(SubmitResult, (order_id, _RESTING, 0.0, quantity, 0.0, [], []))

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
            del self._books_by_product_id[id(book.product)]
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
            _tuple_new(Trade, (f"T{n}", seq, products[pidx], buy_id, sell_id, buyer, seller,
                               price, qty, _BUY if buy_aggressor else _SELL, value, timestamp))
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
    def _execute(self, book: ProductBook, is_buy: bool, side: Side, order_type: OrderType,
                 order_id: str, party_id: str, price: float, start: float,
                 prior_filled_kw: float, seq: int, timestamp: Any) -> SubmitResult:
        """Match an incoming order that crosses the book (``ProductBook.match`` inlined, the
        tape written in the same pass); rest (LIMIT) or cancel (IOC) what is left. The Order
        record is only built when the order rests: an order that does not is never seen."""
        if order_type is _FOK and not book.can_fill(is_buy, price, party_id, start):
            return _tuple_new(SubmitResult, (order_id, _KILLED, 0.0, 0.0, start, _NONE, _NONE))
        if is_buy:
            opposite = book.asks
            limit_key = -price
        else:
            opposite = book.bids
            limit_key = price
        keys = opposite.keys
        levels = opposite.levels
        live = self._live
        tape = self._tape
        n = len(tape)
        product = book.product
        pidx = book.index
        scale = self._eur_per_kw_eur_mwh
        trades: list[Trade] = []
        stp_ids: list[str] = []
        remaining = start
        while True:  # the caller checked that the best opposite level crosses
            key = keys[-1]
            level = levels[key]
            while level:
                resting = level[0]
                if resting.status is not _RESTING:
                    level.popleft()
                    continue
                if resting.party_id == party_id:  # self trade: cancel the resting order
                    resting.status = _CANCELLED
                    level.popleft()
                    level.live -= 1
                    resting_id = resting.order_id
                    del live[resting_id]
                    stp_ids.append(resting_id)
                    continue
                r = resting.remaining_kw
                if r - remaining > _EPS:  # the resting order stays, partly filled
                    resting.remaining_kw = r - remaining
                    resting.filled_kw += remaining
                    fill = remaining
                    remaining = 0.0
                else:
                    fill = r if r < remaining else remaining
                    resting.remaining_kw = 0.0
                    resting.filled_kw += fill
                    resting.status = _FILLED
                    level.popleft()
                    level.live -= 1
                    del live[resting.order_id]
                    remaining -= fill
                    if remaining <= _EPS:
                        remaining = 0.0
                n += 1
                maker_price = resting.price_eur_per_mwh
                value = maker_price * fill * scale
                if is_buy:
                    buy_id = order_id
                    sell_id = resting.order_id
                    buyer = party_id
                    seller = resting.party_id
                else:
                    buy_id = resting.order_id
                    sell_id = order_id
                    buyer = resting.party_id
                    seller = party_id
                tape.append((seq, pidx, buy_id, sell_id, buyer, seller, maker_price, fill,
                             is_buy, value, timestamp))
                trades.append(_tuple_new(Trade, (
                    f"T{n}", seq, product, buy_id, sell_id, buyer, seller, maker_price, fill,
                    _BUY if is_buy else _SELL, value, timestamp)))
                if remaining == 0.0:
                    break
            if level.live == 0:
                keys.pop()
                del levels[key]
            if remaining == 0.0 or not keys or keys[-1] < limit_key:
                break
        filled = start - remaining
        if remaining <= 0.0:
            return _tuple_new(SubmitResult,
                              (order_id, _FILLED, filled, 0.0, 0.0, trades, stp_ids))
        if order_type is _LIMIT:
            order = _order(order_id, party_id, product, side, is_buy, price,
                           prior_filled_kw + start, remaining, prior_filled_kw + filled,
                           _LIMIT, seq, timestamp)
            book.rest(order)
            live[order_id] = order
            return _tuple_new(SubmitResult,
                              (order_id, _RESTING, filled, remaining, 0.0, trades, stp_ids))
        # IOC remainder
        return _tuple_new(SubmitResult,
                          (order_id, _CANCELLED, filled, 0.0, remaining, trades, stp_ids))

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
            self._books_by_product_id[id(key)] = book
            self._books_by_isp.setdefault(key.isp, []).append(book)
        return book

    def _next_auto_id(self) -> str:
        while True:
            self._auto_id += 1
            order_id = f"O{self._auto_id}"
            if order_id not in self._used_ids:
                return order_id
