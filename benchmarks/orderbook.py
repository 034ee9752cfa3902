"""Benchmark: the continuous double-sided auction (paper §6.2, ref. [66]) on a random stream.

Events (seeded): ~60 % add (limit 80 % / IOC 20 %), ~25 % cancel, ~15 % modify (half a new
price, which re-queues; half a lower quantity, which keeps priority), over 20 products
(5 areas x 2 directions x 2 ISPs), 50 parties, buy prices ~ N(90, 15) and sell prices
~ N(110, 15) EUR/MWh rounded to 0.1, quantities 1..500 kW. Cancels and modifies pick a
random resting order (the driver drops ids it learns were filled meanwhile).

Two timings of the engine on the whole stream (default 1,000,000 events):

* closed loop (as this script always did): the driver walks the event stream and, for each
  cancel / modify, picks a random order from its pool of ids, asking ``is_resting`` to drop
  ids that were filled meanwhile. Timed: the driver loop, its pool bookkeeping, and every
  engine call (``submit`` / ``cancel`` / ``modify`` / ``is_resting``). While it runs, the
  driver records each engine call it made, with its resolved arguments.
* replay (the headline figure, target >= 200,000 events/s): the recorded calls are replayed
  on a fresh market. Timed: one loop over the recorded call list and the engine calls
  ``submit`` / ``cancel`` / ``modify`` - the same 1,000,000 events with the same arguments,
  none of the driver's pool bookkeeping and no ``is_resting`` queries. The replay must
  produce exactly the closed loop's trade tape (checked).

The warm-up and the stream building are not timed; ``gc.freeze()`` moves the input stream
out of the collector's scans before timing (the engine's own objects are collected as usual).

The reference is a straightforward list-based book (a plain Python list per side, re-sorted
before each match and scanned linearly for cancel/modify), timed on the first 50,000 events
only (it is too slow for more) - the printed ratio compares events/s on those samples. Both
books replay the same recorded calls and must produce the same trade tape; the script checks
it.

Run: ``python benchmarks/orderbook.py [--events 1000000] [--reference-events 50000] [--seed 7]``
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from typing import Any, NamedTuple

import numpy as np
from _machine import cpu_model  # benchmarks/_machine.py

from localflex.domain import Direction
from localflex.market.continuous import ContinuousMarket, Product

TARGET_EVENTS_PER_S = 200_000
ADD, CANCEL, MODIFY = 0, 1, 2
N_AREAS, N_ISPS, N_PARTIES = 5, 2, 50
WARMUP_PER_PRODUCT = 500



def make_events(n: int, seed: int) -> dict[str, list[Any]]:
    """Warm-up adds then the random stream, as plain Python lists (built before timing).

    Warm-up (not timed): WARMUP_PER_PRODUCT non-crossing limit orders per product, bids
    uniform in 50..95 and asks in 105..150 EUR/MWh, so the timed stream starts on a book of
    realistic depth instead of an empty one.
    """
    rng = np.random.default_rng(seed)
    products = [Product(f"cp{a}", d, isp) for a in range(N_AREAS) for d in Direction
                for isp in range(N_ISPS)]
    w = WARMUP_PER_PRODUCT * len(products)
    warm_buy = np.arange(w) % 2 == 0
    warm_price = np.where(warm_buy, rng.uniform(50.0, 95.0, w), rng.uniform(105.0, 150.0, w))
    kind = rng.choice([ADD, CANCEL, MODIFY], size=n, p=[0.60, 0.25, 0.15])
    is_buy = rng.random(n) < 0.5
    price = np.where(is_buy, rng.normal(90.0, 15.0, n), rng.normal(110.0, 15.0, n))
    product_index = np.concatenate([np.arange(w) // 2 % len(products),
                                    rng.integers(0, len(products), n)])
    return {
        "warmup": [w],
        "kind": [ADD] * w + kind.tolist(),
        "product": [products[i] for i in product_index],
        "party": [f"p{i}" for i in rng.integers(0, N_PARTIES, w + n)],
        "side": np.where(np.concatenate([warm_buy, is_buy]), "buy", "sell").tolist(),
        "price": np.concatenate([warm_price, price]).round(1).tolist(),
        "quantity": rng.integers(1, 501, w + n).astype(float).tolist(),
        "order_type": ["limit"] * w + np.where(rng.random(n) < 0.8, "limit", "ioc").tolist(),
        "pick": np.concatenate([np.zeros(w), rng.random(n)]).tolist(),
        "reprice": [False] * w + (rng.random(n) < 0.5).tolist(),
        "order_id": [f"o{i}" for i in range(w + n)],
    }


ADD_CALL, CANCEL_CALL, REPRICE_CALL, REQUANTITY_CALL = 0, 1, 2, 3
Call = tuple[Any, ...]  # (kind, 7 arguments; unused ones None): one engine call


def drive(ev: dict[str, list[Any]], n: int, book: Any) -> tuple[float, int, list[Call]]:
    """Closed loop: feed the warm-up (untimed) then the first n events to ``book`` (engine
    or reference, same API); return (seconds for the n events, events skipped on an empty
    book, the engine calls made for the n events - rebuilt after the timing from the events
    and the order ids the loop picked, which is all it records while timed).

    A cancel or modify targets a random order of the driver's pool of ids it believes
    resting; ids that were filled meanwhile are dropped from the pool first (the driver asks
    ``is_resting``, as a participant would know from its fill notifications), so every
    event reaches the book as a valid event.
    """
    kind, product, party, side = ev["kind"], ev["product"], ev["party"], ev["side"]
    price, quantity, order_type = ev["price"], ev["quantity"], ev["order_type"]
    pick, reprice, order_id = ev["pick"], ev["reprice"], ev["order_id"]
    submit, cancel, modify, is_resting = book.submit, book.cancel, book.modify, book.is_resting
    pool: list[str] = []
    skipped = 0
    picked: dict[int, str] = {}  # event index -> the order id a cancel / modify targeted

    def run(lo: int, hi: int) -> None:
        nonlocal skipped
        for i in range(lo, hi):
            k = kind[i]
            if k == ADD:
                oid = order_id[i]
                if submit(party[i], product[i], side[i], price[i], quantity[i], order_type[i],
                          order_id=oid).resting_kw > 0.0:
                    pool.append(oid)
                continue
            while pool:
                j = int(pick[i] * len(pool))
                oid = pool[j]
                if is_resting(oid):
                    break
                pool[j] = pool[-1]
                pool.pop()
            else:
                skipped += 1  # nothing resting
                continue
            picked[i] = oid
            if k == CANCEL:
                pool[j] = pool[-1]
                pool.pop()
                cancel(oid)
            elif reprice[i]:
                modify(oid, price_eur_per_mwh=price[i])
            else:
                modify(oid, quantity_kw=0.5 * quantity[i])

    w = ev["warmup"][0]
    run(0, w)
    t0 = time.perf_counter()
    run(w, w + n)
    seconds = time.perf_counter() - t0
    calls: list[Call] = []
    for i in range(w, w + n):
        k = kind[i]
        if k == ADD:
            calls.append((ADD_CALL, party[i], product[i], side[i], price[i], quantity[i],
                          order_type[i], order_id[i]))
        elif i not in picked:
            continue  # skipped
        elif k == CANCEL:
            calls.append((CANCEL_CALL, picked[i], None, None, None, None, None, None))
        elif reprice[i]:
            calls.append((REPRICE_CALL, picked[i], price[i], None, None, None, None, None))
        else:
            calls.append((REQUANTITY_CALL, picked[i], 0.5 * quantity[i], None, None, None,
                          None, None))
    return seconds, skipped, calls


def replay(warmup: list[Call], calls: list[Call], book: Any) -> float:
    """Replay recorded engine calls on ``book``: the warm-up untimed, then ``calls`` timed
    (one loop over the list, each call made as the closed loop made it; results dropped).
    Return the seconds for ``calls``."""
    submit, cancel, modify = book.submit, book.cancel, book.modify

    def run(calls: list[Call]) -> None:
        for k, a, b, c, d, e, f, g in calls:
            if k == ADD_CALL:
                submit(a, b, c, d, e, f, order_id=g)
            elif k == CANCEL_CALL:
                cancel(a)
            elif k == REPRICE_CALL:
                modify(a, price_eur_per_mwh=b)
            else:
                modify(a, quantity_kw=b)

    run(warmup)
    t0 = time.perf_counter()
    run(calls)
    return time.perf_counter() - t0


def warmup_calls(ev: dict[str, list[Any]]) -> list[Call]:
    return [(ADD_CALL, ev["party"][i], ev["product"][i], ev["side"][i], ev["price"][i],
             ev["quantity"][i], ev["order_type"][i], ev["order_id"][i])
            for i in range(ev["warmup"][0])]


class ListBook:
    """The straightforward reference: one plain list per side and product; each order is a
    list [price, seq, order_id, party, open_kw]. Same rules as the engine (price-time
    priority, maker price, cancel-resting self-trade prevention, modify priority rules)."""

    class Result(NamedTuple):
        resting_kw: float

    def __init__(self, isp_hours: float = 0.25) -> None:
        self.books: dict[Any, tuple[list[list[Any]], list[list[Any]]]] = {}
        self.where: dict[str, tuple[Any, bool]] = {}
        self.trades: list[tuple[Any, ...]] = []
        self.seq = 0
        self.isp_hours = isp_hours

    def submit(self, party, product, side, price, quantity, order_type, *, order_id):
        self.seq += 1
        return self._add([price, self.seq, order_id, party, quantity], product, side == "buy",
                         order_type == "limit")

    def is_resting(self, order_id) -> bool:
        return order_id in self.where

    def _add(self, order, product, is_buy, rests) -> Result:
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
            return ListBook.Result(order[4])
        return ListBook.Result(0.0)

    def _find(self, order_id):
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

    def modify(self, order_id, *, price_eur_per_mwh=None, quantity_kw=None) -> None:
        price, quantity = price_eur_per_mwh, quantity_kw
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
          f" buy ~ N(90, 15), sell ~ N(110, 15) EUR/MWh; 1..500 kW; warm-up "
          f"{WARMUP_PER_PRODUCT} resting orders per product (not timed)")
    t0 = time.perf_counter()
    ev = make_events(n, args.seed)
    print(f"stream built in {time.perf_counter() - t0:.2f} s (not timed)")

    warmup = warmup_calls(ev)
    gc.collect()
    gc.freeze()  # the input stream is not the engine's: keep it out of the collector's scans

    load = "  ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at start (1, 5, 15 min): {load}")
    market = ContinuousMarket(n_isps=N_ISPS)
    sec_loop, skipped, calls = drive(ev, n, market)
    loop_tape = market.trades
    print(f"closed loop (driver + pool bookkeeping + engine calls incl. is_resting): "
          f"{n:,} events in {sec_loop:.2f} s = {n / sec_loop:,.0f} events/s; "
          f"skipped (empty book)={skipped}")
    del market
    gc.collect()
    gc.freeze()  # the recorded calls are input too

    market = ContinuousMarket(n_isps=N_ISPS)
    seconds = replay(warmup, calls, market)
    rate = len(calls) / seconds
    same_as_loop = market.trades == loop_tape
    print(f"engine (replay of the {len(calls):,} recorded calls: submit/cancel/modify only): "
          f"{seconds:.2f} s = {rate:,.0f} events/s "
          f"({'meets' if rate >= TARGET_EVENTS_PER_S else 'MISSES'} the "
          f"{TARGET_EVENTS_PER_S:,} events/s target); trades={market.trade_count:,} "
          f"resting at end={len(market.snapshot()):,}; same tape as the closed loop: "
          f"{same_as_loop}")
    if not same_as_loop:
        raise SystemExit("the replay's trade tape differs from the closed loop's")
    del market, loop_tape
    gc.collect()

    # same-sample comparison with the list-based reference (both replay the same calls)
    sample_calls = calls[:n_ref]
    sample = ContinuousMarket(n_isps=N_ISPS)
    sec_engine = replay(warmup, sample_calls, sample)
    ref = ListBook()
    sec_ref = replay(warmup, sample_calls, ref)
    tape = [(t.product, t.buy_order_id, t.sell_order_id, t.price_eur_per_mwh, t.quantity_kw)
            for t in sample.trades]
    same = tape == ref.trades
    print(f"list-based reference: first {n_ref:,} calls in {sec_ref:.2f} s = "
          f"{n_ref / sec_ref:,.0f} events/s; engine on the same sample {sec_engine:.3f} s = "
          f"{n_ref / sec_engine:,.0f} events/s")
    print(f"ratio (engine / list-based, events/s on the {n_ref:,}-event sample): "
          f"{sec_ref / sec_engine:.1f}x; identical trade tapes ({len(tape):,} trades): {same}")
    if not same:
        raise SystemExit("trade tapes differ between the engine and the reference")


if __name__ == "__main__":
    main()
