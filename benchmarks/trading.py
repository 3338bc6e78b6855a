"""Trading benchmark: the matching core against a pure-Python order book from
PyPI on one standard random flow, and the trading App end to end.

    .venv/bin/python benchmarks/trading.py            # about a minute
    .venv/bin/python benchmarks/trading.py --quick    # a few seconds, noisier

(a) Matching throughput, in memory, one symbol: the same pre-generated flow
    of 200,000 operations (60% limit orders around a moving mid, some of them
    crossing; 10% market orders; 30% cancels of an earlier order, filled or
    not) through eventflux's ``OrderBook`` (which also builds an event for
    every acceptance, fill and cancel) and through ``akhil4n-orderbook``
    (``orderbook.OrderBook``, pure Python over sortedcontainers; its authors
    report about 114,000 mixed orders/s). Both books get integer prices.
    The contenders take turns, each keeps its best of the repeats.
(b) End to end: orders dispatched to the trading App on SQLite files (store
    and bus, ``durability=full``) by 64 concurrent clients; every event is
    durably stored before the order is acknowledged (the App batches the
    orders that arrive meanwhile into one append), trades and quotes are
    published on the bus by the relay. Reported: orders/s and the p50/p99
    time from dispatch to acknowledgement.

Targets: (a) >= 1.5x the peer and >= 100,000 orders/s; (b) >= 5,000 orders/s.
Timing never decides a test: the script prints PASS/FAIL and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from eventflux.demos.trading.book import OrderBook

Op = tuple[Any, ...]  # ("limit", side, price, qty) | ("market", side, qty) | ("cancel", index)


def standard_flow(n: int, seed: int = 7) -> list[Op]:
    """The standard random flow: limits around a drifting mid, markets, cancels."""
    rng = random.Random(seed)
    mid = 10_000
    ops: list[Op] = []
    submitted = 0
    for _ in range(n):
        r = rng.random()
        if r < 0.6 or submitted == 0:
            side = "buy" if rng.random() < 0.5 else "sell"
            offset = rng.randint(-3, 30)  # a few cross the spread, most rest
            price = mid - offset if side == "buy" else mid + offset
            ops.append(("limit", side, price, rng.randint(1, 20) * 10, rng.randrange(1000)))
            submitted += 1
        elif r < 0.7:
            side = "buy" if rng.random() < 0.5 else "sell"
            ops.append(("market", side, rng.randint(1, 10) * 10, rng.randrange(1000)))
            submitted += 1
        else:
            ops.append(("cancel", rng.randrange(submitted)))
        if rng.random() < 0.01:
            mid += rng.choice((-5, 5))
    return ops


def run_eventflux(ops: list[Op]) -> float:
    book = OrderBook("BENCH")
    submit, cancel, orders = book.submit, book.cancel, book.orders
    ids: list[str] = []
    add = ids.append
    accounts = [f"a{i}" for i in range(1000)]
    started = time.perf_counter()
    for op in ops:
        kind = op[0]
        if kind == "limit":
            events = submit(accounts[op[4]], op[1], op[3], op[2])
            add(events[0].order_id)
        elif kind == "market":
            events = submit(accounts[op[3]], op[1], op[2], None)
            add(events[0].order_id)
        else:
            oid = ids[op[1]]
            if oid in orders:
                cancel(oid)
    return time.perf_counter() - started


def run_peer(ops: list[Op]) -> float:
    import orderbook as peer  # akhil4n-orderbook

    book = peer.OrderBook()
    bid, ask = peer.OrderSide.BID, peer.OrderSide.ASK
    Order, MarketOrder = peer.Order, peer.MarketOrder
    add_limit, add_market, cancel = book.add_limit_order, book.add_market_order, book.cancel_order
    ids: list[str] = []
    add = ids.append
    started = time.perf_counter()
    for op in ops:
        kind = op[0]
        if kind == "limit":
            order = Order(bid if op[1] == "buy" else ask, op[2], op[3])
            add_limit(order)
            add(order.order_id)
        elif kind == "market":
            order = MarketOrder(bid if op[1] == "buy" else ask, op[2])
            add_market(order)
            add(order.order_id)
        else:
            cancel(ids[op[1]])
    return time.perf_counter() - started


def best_rate(
    contenders: dict[str, Callable[[list[Op]], float]], ops: list[Op], repeats: int
) -> dict[str, float]:
    best: dict[str, float] = {}
    names = list(contenders)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            elapsed = contenders[name](ops)
            best[name] = max(best.get(name, 0.0), len(ops) / elapsed)
    return best


# -- (b) end to end ---------------------------------------------------------------------
async def end_to_end(orders: int, clients: int) -> tuple[float, list[float], int, int, float]:
    import logging

    from eventflux.demos.trading import FundAccount, SubmitOrder, make_app

    logging.getLogger("eventflux").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory() as folder:
        app = make_app(
            store=f"sqlite:///{folder}/trading.db?durability=full",
            bus=f"sqlite:///{folder}/trading-bus.db?durability=full",
            read_model=f"sqlite:///{folder}/trading-read.db",
            simulate=False,
            symbols={"BENCH": 10_000},
        )
        rng = random.Random(11)
        delivered, wanted, all_in = [0], [10**12], asyncio.Event()

        @app.subscribe("market.BENCH.trade", group="bench-tape", concurrency=256)
        async def tape(msg: Any) -> None:
            delivered[0] += 1
            if delivered[0] >= wanted[0]:
                all_in.set()

        async with app.running():
            accounts = [f"c{i}" for i in range(clients)]
            for account in accounts:
                await app.dispatch(FundAccount(account, 10**12, {"BENCH": 10**9}))
            latencies: list[float] = []

            async def client(account: str, count: int) -> None:
                for i in range(count):
                    side = "buy" if rng.random() < 0.5 else "sell"
                    offset = rng.randint(-3, 30)
                    price = 10_000 - offset if side == "buy" else 10_000 + offset
                    order = SubmitOrder(
                        account, "BENCH", side, rng.randint(1, 20), price,
                        client_order_id=f"{account}-{i}",
                    )  # fmt: skip
                    t0 = time.perf_counter()
                    await app.dispatch(order)
                    latencies.append(time.perf_counter() - t0)

            per = orders // clients
            started = time.perf_counter()
            await asyncio.gather(*(client(a, per) for a in accounts))
            elapsed = time.perf_counter() - started
            events = await app.store.last_position()
            trades = len([e async for e in app.store.read_all(types=["trading.TradeExecuted"])])
            wanted[0] = trades  # every trade reaches the bus's subscribers
            if delivered[0] < trades:
                await all_in.wait()
            all_delivered = time.perf_counter() - started
        return per * clients / elapsed, latencies, events, trades, all_delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-e2e", action="store_true", help="only the in-memory books")
    args = parser.parse_args()
    n = 40_000 if args.quick else 200_000
    repeats = 3 if args.quick else 5
    ops = standard_flow(n)
    rates = best_rate({"eventflux": run_eventflux, "peer": run_peer}, ops, repeats)
    ratio = rates["eventflux"] / rates["peer"]
    print(f"(a) matching, {n:,} operations, best of {repeats}")
    print("| contender | orders/s | eventflux ratio |")
    print("|---|---:|---:|")
    print(f"| eventflux `OrderBook` | {rates['eventflux']:,.0f} | 1.00x |")
    print(f"| akhil4n-orderbook `OrderBook` | {rates['peer']:,.0f} | {ratio:.2f}x |")
    results = [
        ("(a) >= 1.5x the peer", f"{ratio:.2f}x", ratio >= 1.5),
        ("(a) >= 100,000 orders/s", f"{rates['eventflux']:,.0f}", rates["eventflux"] >= 100_000),
    ]
    if not args.no_e2e:
        count = 5_000 if args.quick else 30_000
        print(f"\n(b) end to end, {count:,} orders, SQLite store and bus (durability=full)")
        print("| clients | orders/s | events stored | ack p50 | ack p99 | trades on the bus |")
        print("|---:|---:|---:|---:|---:|---|")
        best = 0.0
        for clients in (64, 128):
            rate, latencies, events, trades, bus_time = asyncio.run(end_to_end(count, clients))
            q = statistics.quantiles(latencies, n=100)
            best = max(best, rate)
            print(f"| {clients} | {rate:,.0f} | {events:,} | {q[49] * 1000:.1f} ms "
                  f"| {q[98] * 1000:.1f} ms | all {trades:,} within {bus_time:.2f} s |")  # fmt: skip
        results.append(("(b) >= 5,000 orders/s end to end", f"{best:,.0f}", best >= 5_000))
    print("\n| target | measured | result |\n|---|---:|---|")
    for target, measured, ok in results:
        print(f"| {target} | {measured} | {'PASS' if ok else 'FAIL'} |")


if __name__ == "__main__":
    main()
