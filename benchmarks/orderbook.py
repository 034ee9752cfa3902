"""Benchmark: the continuous double-sided auction (paper §6.2, ref. [66]) on a random stream.

Events (seeded): ~60 % add (limit 80 % / IOC 20 %), ~25 % cancel, ~15 % modify (half a new
price, which re-queues; half a lower quantity, which keeps priority), over 20 products
(5 areas x 2 directions x 2 ISPs), 50 parties, buy prices ~ N(95, 15) and sell prices
~ N(105, 15) EUR/MWh rounded to 0.1, quantities 1..500 kW. Cancels and modifies pick a
random order believed to be resting; if it was filled meanwhile, the engine rejects the event
(counted as "rejected" - still an event the engine had to handle).

The engine runs the whole stream (default 1,000,000 events; target >= 200,000 events/s). The
reference is a straightforward list-based book (a plain Python list per side, re-sorted
before each match and scanned linearly for cancel/modify), timed on the first 50,000 events
only (it is too slow for more) - the printed ratio compares events/s on those samples. Both
books must produce the same trade tape on the sample; the script checks it.

Run: ``python benchmarks/orderbook.py [--events 1000000] [--reference-events 50000] [--seed 7]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from localflex.domain import Direction
from localflex.market.continuous import ContinuousMarket, OrderError, Product

TARGET_EVENTS_PER_S = 200_000
ADD, CANCEL, MODIFY = 0, 1, 2
N_AREAS, N_ISPS, N_PARTIES = 5, 2, 50


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def make_events(n: int, seed: int) -> dict[str, list[Any]]:
    """The random stream as plain Python lists (built before any timing)."""
    rng = np.random.default_rng(seed)
    products = [Product(f"cp{a}", d, isp) for a in range(N_AREAS) for d in Direction
                for isp in range(N_ISPS)]
    kind = rng.choice([ADD, CANCEL, MODIFY], size=n, p=[0.60, 0.25, 0.15])
    is_buy = rng.random(n) < 0.5
    price = np.where(is_buy, rng.normal(95.0, 15.0, n), rng.normal(105.0, 15.0, n)).round(1)
    return {
        "kind": kind.tolist(),
        "product": [products[i] for i in rng.integers(0, len(products), n)],
        "party": [f"p{i}" for i in rng.integers(0, N_PARTIES, n)],
        "side": np.where(is_buy, "buy", "sell").tolist(),
        "price": price.tolist(),
        "quantity": rng.integers(1, 501, n).astype(float).tolist(),
        "order_type": np.where(rng.random(n) < 0.8, "limit", "ioc").tolist(),
        "pick": rng.random(n).tolist(),
        "reprice": (rng.random(n) < 0.5).tolist(),
        "order_id": [f"o{i}" for i in range(n)],
    }


def drive(ev: dict[str, list[Any]], n: int, submit: Callable, cancel: Callable,
          modify: Callable, rejected_error: type[Exception]) -> tuple[float, int]:
    """Feed the first n events; return (seconds, rejected events)."""
    kind, product, party, side = ev["kind"], ev["product"], ev["party"], ev["side"]
    price, quantity, order_type = ev["price"], ev["quantity"], ev["order_type"]
    pick, reprice, order_id = ev["pick"], ev["reprice"], ev["order_id"]
    pool: list[str] = []  # ids believed resting
    rejected = 0
    t0 = time.perf_counter()
    for i in range(n):
        k = kind[i]
        if k == ADD:
            if submit(party[i], product[i], side[i], price[i], quantity[i], order_type[i],
                      order_id[i]):
                pool.append(order_id[i])
        elif pool:
            j = int(pick[i] * len(pool))
            oid = pool[j]
            try:
                if k == CANCEL:
                    pool[j] = pool[-1]
                    pool.pop()
                    cancel(oid)
                elif reprice[i]:
                    modify(oid, price[i], None)
                else:
                    modify(oid, None, 0.5 * quantity[i])
            except rejected_error:
                rejected += 1
    return time.perf_counter() - t0, rejected


def engine_driver(isp_minutes: int = 15) -> tuple[ContinuousMarket, tuple[Callable, ...]]:
    market = ContinuousMarket(n_isps=N_ISPS, isp_minutes=isp_minutes)
    market_submit = market.submit

    def submit(party, product, side, price, quantity, order_type, order_id):
        return market_submit(party, product, side, price, quantity, order_type,
                             order_id=order_id).resting_kw > 0.0

    def modify(order_id, price, quantity):
        market.modify(order_id, price_eur_per_mwh=price, quantity_kw=quantity)

    return market, (submit, market.cancel, modify)


class ListBook:
    """The straightforward reference: one plain list per side and product; each order is a
    list [price, seq, order_id, party, open_kw]. Same rules as the engine (price-time
    priority, maker price, cancel-resting self-trade prevention, modify priority rules)."""

    class Rejected(Exception):
        pass

    def __init__(self, isp_hours: float = 0.25) -> None:
        self.books: dict[Any, tuple[list[list[Any]], list[list[Any]]]] = {}
        self.where: dict[str, tuple[Any, bool]] = {}
        self.trades: list[tuple[Any, ...]] = []
        self.seq = 0
        self.isp_hours = isp_hours

    def submit(self, party, product, side, price, quantity, order_type, order_id) -> bool:
        self.seq += 1
        return self._add([price, self.seq, order_id, party, quantity], product, side == "buy",
                         order_type == "limit")

    def _add(self, order, product, is_buy, rests) -> bool:
        bids, asks = self.books.setdefault(product, ([], []))
        opposite = asks if is_buy else bids
        # re-sort the opposite side: best price first, then time
        opposite.sort(key=lambda o: (o[0] if is_buy else -o[0], o[1]))
        while order[4] > 1e-9 and opposite:
            best = opposite[0]
            if (best[0] > order[0]) if is_buy else (best[0] < order[0]):
                break
            if best[3] == order[3]:  # self trade: cancel the resting order
                opposite.pop(0)
                del self.where[best[2]]
                continue
            qty = min(order[4], best[4])
            buy, sell = (order, best) if is_buy else (best, order)
            self.trades.append((product, buy[2], sell[2], best[0], qty))
            best[4] -= qty
            order[4] -= qty
            if best[4] <= 1e-9:
                opposite.pop(0)
                del self.where[best[2]]
        if order[4] > 1e-9 and rests:
            (bids if is_buy else asks).append(order)
            self.where[order[2]] = (product, is_buy)
            return True
        return False

    def _find(self, order_id):
        if order_id not in self.where:
            raise ListBook.Rejected(order_id)
        product, is_buy = self.where[order_id]
        side = self.books[product][0 if is_buy else 1]
        for i, o in enumerate(side):  # linear scan
            if o[2] == order_id:
                return product, is_buy, side, i
        raise AssertionError(order_id)

    def cancel(self, order_id) -> None:
        self.seq += 1
        _, _, side, i = self._find(order_id)
        side.pop(i)
        del self.where[order_id]

    def modify(self, order_id, price, quantity) -> None:
        product, is_buy, side, i = self._find(order_id)
        self.seq += 1
        o = side[i]
        new_price = o[0] if price is None else price
        new_qty = o[4] if quantity is None else quantity
        if new_price == o[0] and new_qty <= o[4]:
            o[4] = new_qty
            return
        side.pop(i)
        del self.where[order_id]
        self._add([new_price, self.seq, order_id, o[3], new_qty], product, is_buy, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reference-events", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    n, n_ref = args.events, min(args.reference_events, args.events)

    print(f"machine: nproc={os.cpu_count()}  cpu={cpu_model()}  "
          f"python={platform.python_version()} ({platform.python_implementation()})")
    print(f"inputs: events={n:,} seed={args.seed} products={N_AREAS * 2 * N_ISPS} "
          f"parties={N_PARTIES}  mix add 60 % (limit 80 / IOC 20) / cancel 25 % / modify 15 %;"
          f" buy ~ N(95, 15), sell ~ N(105, 15) EUR/MWh; 1..500 kW")
    t0 = time.perf_counter()
    ev = make_events(n, args.seed)
    print(f"stream built in {time.perf_counter() - t0:.2f} s (not timed)")

    market, fns = engine_driver()
    seconds, rejected = drive(ev, n, *fns, OrderError)
    rate = n / seconds
    n_trades = len(market.trades)
    resting = len(market.snapshot())
    print(f"engine : {n:,} events in {seconds:.2f} s = {rate:,.0f} events/s "
          f"({'meets' if rate >= TARGET_EVENTS_PER_S else 'MISSES'} the "
          f"{TARGET_EVENTS_PER_S:,} events/s target); trades={n_trades:,} "
          f"rejected={rejected:,} resting at end={resting:,}")

    # same-sample comparison with the list-based reference
    market_s, fns_s = engine_driver()
    sec_engine, _ = drive(ev, n_ref, *fns_s, OrderError)
    ref = ListBook()
    sec_ref, _ = drive(ev, n_ref, ref.submit, ref.cancel, ref.modify, ListBook.Rejected)
    tape = [(t.product, t.buy_order_id, t.sell_order_id, t.price_eur_per_mwh, t.quantity_kw)
            for t in market_s.trades]
    same = tape == ref.trades
    print(f"list-based reference: first {n_ref:,} events in {sec_ref:.2f} s = "
          f"{n_ref / sec_ref:,.0f} events/s; engine on the same sample {sec_engine:.3f} s = "
          f"{n_ref / sec_engine:,.0f} events/s")
    print(f"ratio (engine / list-based, events/s on the {n_ref:,}-event sample): "
          f"{sec_ref / sec_engine:.1f}x; identical trade tapes: {same}")
    if not same:
        raise SystemExit("trade tapes differ between the engine and the reference")


if __name__ == "__main__":
    main()
