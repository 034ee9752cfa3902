"""Errors of the continuous double-sided auction (paper §6.2, ref. [66]).

All are ``OfferError`` (hence ``InputError``): they name the field, the value and what was
expected, so a service can answer a 4xx with the message as it is.
"""

from __future__ import annotations

from typing import Any

from localflex.domain import OfferError

__all__ = ["DuplicateOrderError", "GateClosedError", "OrderError", "UnknownOrderError"]


class OrderError(OfferError):
    """An order (or an order event) that breaks the rules of the continuous market."""


class UnknownOrderError(OrderError):
    """Cancel or modify of an order id that is not resting in the book."""

    def __init__(self, order_id: Any) -> None:
        super().__init__(
            "order_id", order_id, "the id of an order resting in the book (unknown, "
            "filled, cancelled or killed orders cannot be cancelled or modified)"
        )
        self.order_id = order_id


class DuplicateOrderError(OrderError):
    """A new order whose id was already used in this market."""

    def __init__(self, order_id: Any) -> None:
        super().__init__("order_id", order_id, "an order id not used before in this market")
        self.order_id = order_id


class GateClosedError(OrderError):
    """An order for an ISP whose gate is closed (``ContinuousMarket.close_gate``)."""

    def __init__(self, isp: int, gate_time: Any) -> None:
        super().__init__(
            "isp", isp, f"an ISP whose gate is open (gate of ISP {isp} closed at {gate_time})"
        )
        self.isp = isp
        self.gate_time = gate_time
