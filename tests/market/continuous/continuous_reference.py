"""An independent, naive model of the continuous auction, for cross-checking the engine.

Plain lists, sorted on every use, linear scans: slow and obviously right. Same rules as
``localflex.market.continuous`` (engine.py docstring): price–time priority, maker price,
LIMIT / IOC / FOK, cancel-resting self-trade prevention, modify priority rules, gates.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RefOrder:
    order_id: str
    party: str
    product: tuple
    is_buy: bool
    price: float
    open_kw: float
    prio: int


@dataclass
class ReferenceMarket:
    n_isps: int
    orders: list[RefOrder] = field(default_factory=list)  # resting
    trades: list[tuple] = field(default_factory=list)  # product, buy id, sell id, price, kw
    closed: set[int] = field(default_factory=set)
    used: set[str] = field(default_factory=set)
    clock: int = 0

    def _crossing(self, o: RefOrder) -> list[RefOrder]:
        opp = [r for r in self.orders if r.product == o.product and r.is_buy != o.is_buy
               and (r.price <= o.price if o.is_buy else r.price >= o.price)]
        return sorted(opp, key=lambda r: (r.price if o.is_buy else -r.price, r.prio))

    def _run(self, o: RefOrder, kind: str) -> str:
        if kind == "fok":
            available = sum(r.open_kw for r in self._crossing(o) if r.party != o.party)
            if available < o.open_kw - 1e-9:
                return "killed"
        for r in self._crossing(o):
            if o.open_kw <= 0:
                break
            self.orders.remove(r)
            if r.party == o.party:
                continue  # self-trade prevention: the resting order is cancelled
            qty = min(r.open_kw, o.open_kw)
            buy, sell = (o, r) if o.is_buy else (r, o)
            self.trades.append((o.product, buy.order_id, sell.order_id, r.price, qty))
            r.open_kw -= qty
            o.open_kw -= qty
            if r.open_kw > 0:
                self.orders.append(r)
        if o.open_kw <= 0:
            return "filled"
        if kind == "limit":
            self.orders.append(o)
            return "resting"
        return "cancelled"

    def submit(self, party, product, is_buy, price, qty, kind, order_id) -> str:
        if product[2] in self.closed:
            return "rejected"
        self.used.add(order_id)
        self.clock += 1
        return self._run(RefOrder(order_id, party, product, is_buy, price, qty, self.clock),
                         kind)

    def find(self, order_id) -> RefOrder | None:
        return next((r for r in self.orders if r.order_id == order_id), None)

    def cancel(self, order_id) -> str:
        r = self.find(order_id)
        if r is None:
            return "rejected"
        self.orders.remove(r)
        return "cancelled"

    def modify(self, order_id, price, qty) -> str:
        r = self.find(order_id)
        if r is None:
            return "rejected"
        new_price = r.price if price is None else price
        new_qty = r.open_kw if qty is None else qty
        if new_price == r.price and new_qty <= r.open_kw:
            r.open_kw = new_qty
            return "resting"
        self.orders.remove(r)
        self.clock += 1
        return self._run(RefOrder(order_id, r.party, r.product, r.is_buy, new_price, new_qty,
                                  self.clock), "limit")

    def close_gate(self, isp) -> list[str]:
        self.closed.add(isp)
        gone = [r.order_id for r in self.orders if r.product[2] == isp]
        self.orders = [r for r in self.orders if r.product[2] != isp]
        return gone
