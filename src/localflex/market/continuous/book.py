"""The order book of one product: price–time priority with partial fills (paper §6.2, [66]).

Each side keeps its price levels in a dict ``key -> _Level`` plus a sorted list of the keys
(``bisect``); the best level is the *last* key, so taking it is ``list.pop()``. Bids use
``key = price`` and asks ``key = -price``, hence for both sides a resting level crosses an
incoming order of limit ``p`` when ``key >= limit_key`` (bids: ``p``; asks: ``-p``).

A level is a FIFO ``deque`` of orders (a ``deque`` subclass that also counts its live
orders, so opening a level is a single C-level construction). Cancellation is lazy: the
order's status changes, the level's count of live orders drops, and the dead entry is
skipped (and dropped) when it reaches the front; a level with no live order is removed at
once, so every key in the list holds at least one live order and the best price is always
exact. A level whose queue holds far more dead than live entries is compacted.

Matching rules (``ProductBook.match``):
* price priority, then time priority within a price level (FIFO);
* the trade price is the resting (maker) order's price;
* partial fills on both sides; remaining quantities at or below ``QUANTITY_TOLERANCE_KW``
  count as zero;
* self-trade prevention: when the incoming order meets a resting order of the same party,
  the *resting* order is cancelled (cancel-resting rule) and matching goes on. This keeps
  the book uncrossed: an order never rests across an own order.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

from localflex.market.continuous.orders import (
    QUANTITY_TOLERANCE_KW,
    Order,
    OrderStatus,
    Product,
)

__all__ = ["ProductBook"]

_RESTING = OrderStatus.RESTING
_FILLED = OrderStatus.FILLED
_CANCELLED = OrderStatus.CANCELLED
_EPS = QUANTITY_TOLERANCE_KW


class _Level(deque):
    """FIFO queue of one price level (dead entries included) and its count of live orders.

    Build it as ``_Level((order,))`` and set ``live = 1``: no Python-level ``__init__``."""

    __slots__ = ("live",)


class _Side:
    __slots__ = ("keys", "levels")

    def __init__(self) -> None:
        self.keys: list[float] = []  # ascending; best level last
        self.levels: dict[float, _Level] = {}

    def iter_orders(self):
        """Live orders, best price first, then time priority."""
        levels = self.levels
        for key in reversed(self.keys):
            for order in levels[key]:
                if order.status is _RESTING:
                    yield order


def _compact(level: _Level) -> None:
    """Drop the dead entries of a level in place (keeps FIFO order of the live ones)."""
    keep = [o for o in level if o.status is _RESTING]
    level.clear()
    level.extend(keep)


class ProductBook:
    """Resting orders of one product. The market engine validates; this class only matches."""

    __slots__ = ("asks", "bids", "index", "product")

    def __init__(self, product: Product, index: int = 0) -> None:
        self.product = product
        self.index = index  # the engine's number for the product
        self.bids = _Side()
        self.asks = _Side()

    # ---- queries -------------------------------------------------------------------------
    def best_bid(self) -> float | None:
        keys = self.bids.keys
        return keys[-1] if keys else None

    def best_ask(self) -> float | None:
        keys = self.asks.keys
        return -keys[-1] if keys else None

    def orders(self):
        """Live orders: bids best first, then asks best first, each in time priority."""
        yield from self.bids.iter_orders()
        yield from self.asks.iter_orders()

    # ---- changes -------------------------------------------------------------------------
    def rest(self, order: Order) -> None:
        """Put a live order at the back of its price level (it must not cross)."""
        if order.is_buy:
            side = self.bids
            key = order.price_eur_per_mwh
        else:
            side = self.asks
            key = -order.price_eur_per_mwh
        level = side.levels.get(key)
        if level is None:
            level = _Level((order,))
            level.live = 1
            side.levels[key] = level
            insort(side.keys, key)
        else:
            level.append(order)
            level.live += 1

    def unlink(self, order: Order) -> None:
        """Account for a resting order whose status the caller has just set to dead."""
        if order.is_buy:
            side = self.bids
            key = order.price_eur_per_mwh
        else:
            side = self.asks
            key = -order.price_eur_per_mwh
        level = side.levels[key]
        level.live -= 1
        if level.live == 0:
            del side.levels[key]
            keys = side.keys
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]
        elif len(level) > 2 * level.live + 16:
            _compact(level)

    def can_fill(self, is_buy: bool, price_eur_per_mwh: float, party_id: str,
                 quantity_kw: float) -> bool:
        """Whether ``quantity_kw`` can be filled now against other parties' orders (FOK)."""
        if is_buy:
            side = self.asks
            limit_key = -price_eur_per_mwh
        else:
            side = self.bids
            limit_key = price_eur_per_mwh
        needed = quantity_kw - _EPS
        levels = side.levels
        for key in reversed(side.keys):
            if key < limit_key:
                return False
            for resting in levels[key]:
                if resting.status is _RESTING and resting.party_id != party_id:
                    needed -= resting.remaining_kw
                    if needed <= 0.0:
                        return True
        return False

    def match(self, order: Order) -> tuple[list[tuple[Order, float]], list[Order]]:
        """Match ``order`` against the opposite side; return (fills, self-trade cancels).

        ``order.remaining_kw`` / ``filled_kw`` and the resting orders are updated in place;
        resting orders that leave the book get status FILLED or CANCELLED (self trade).
        """
        fills: list[tuple[Order, float]] = []
        stp: list[Order] = []
        if order.is_buy:
            side = self.asks
            limit_key = -order.price_eur_per_mwh
        else:
            side = self.bids
            limit_key = order.price_eur_per_mwh
        keys = side.keys
        if not keys or keys[-1] < limit_key:
            return fills, stp
        levels = side.levels
        party = order.party_id
        start = remaining = order.remaining_kw
        while remaining > 0.0 and keys and keys[-1] >= limit_key:
            key = keys[-1]
            level = queue = levels[key]
            while queue:
                resting = queue[0]
                if resting.status is not _RESTING:
                    queue.popleft()
                    continue
                if resting.party_id == party:
                    resting.status = _CANCELLED
                    queue.popleft()
                    level.live -= 1
                    stp.append(resting)
                    continue
                r = resting.remaining_kw
                if r - remaining > _EPS:  # the resting order stays, partly filled
                    resting.remaining_kw = r - remaining
                    resting.filled_kw += remaining
                    fills.append((resting, remaining))
                    remaining = 0.0
                    break
                fill = r if r < remaining else remaining
                resting.remaining_kw = 0.0
                resting.filled_kw += fill
                resting.status = _FILLED
                queue.popleft()
                level.live -= 1
                fills.append((resting, fill))
                remaining -= fill
                if remaining <= _EPS:
                    remaining = 0.0
                    break
            if level.live == 0:
                keys.pop()
                del levels[key]
        order.remaining_kw = remaining
        order.filled_kw += start - remaining
        return fills, stp
