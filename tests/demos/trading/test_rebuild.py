"""Rebuilding a book from its stream yields the identical book: random order
flows go through the matching core, their events are stored, and the book
replayed from the store (and from the events in memory) is compared with the
live one."""

from __future__ import annotations

import random
from typing import Any

import pytest

from eventflux import open_store
from eventflux.demos.trading.aggregate import OrderBookAggregate
from eventflux.demos.trading.book import OrderBook
from eventflux.demos.trading.events import BookOpened, OrderAccepted, TradeExecuted
from eventflux.demos.trading.orders import STP_MODES, OrderError
from eventflux.es import Repository

ACCOUNTS = ("ann", "bob", "cid", "dan")


def random_flow(book: Any, rng: random.Random, steps: int) -> list[Any]:
    """Send a random mix of orders, cancels and amends to ``book``; return the events."""
    events: list[Any] = []
    ids: list[str] = []
    for _ in range(steps):
        r = rng.random()
        account = rng.choice(ACCOUNTS)
        out: list[Any]
        try:
            if r < 0.55 or not ids:
                side = rng.choice(("buy", "sell"))
                price = 100 + rng.randint(-6, 6) * 5 + (3 if rng.random() < 0.03 else 0)
                out = book.submit(
                    account, side, rng.randint(1, 8) * 10, price,
                    tif=rng.choice(("gtc", "gtc", "gtc", "ioc", "fok")),
                    post_only=rng.random() < 0.15, stp=rng.choice(STP_MODES),
                    client_order_id=f"c{len(ids)}",
                )  # fmt: skip
            elif r < 0.65:
                out = book.submit(
                    account, rng.choice(("buy", "sell")), rng.randint(1, 8) * 10,
                    tif=rng.choice(("ioc", "fok")), stp=rng.choice(STP_MODES),
                )  # fmt: skip
            elif r < 0.85:
                out = book.cancel(rng.choice(ids))
            else:
                order_id = rng.choice(ids)
                out = book.amend(
                    order_id, None, quantity=rng.randint(1, 8) * 10,
                    price=100 + rng.randint(-6, 6) * 5 if rng.random() < 0.6 else None,
                )  # fmt: skip
        except OrderError:
            continue
        for e in out:
            if isinstance(e, OrderAccepted):
                ids.append(e.order_id)
        events.extend(out)
    return events


@pytest.mark.parametrize("seed", range(8))
def test_replaying_the_events_yields_the_identical_book(seed: int) -> None:
    rng = random.Random(seed)
    live = OrderBook("T", tick_size=5, lot_size=10)
    events = random_flow(live, rng, 3000)
    assert any(isinstance(e, TradeExecuted) for e in events)
    replayed = OrderBook("T", tick_size=5, lot_size=10)
    for e in events:
        replayed.apply(e)
    assert replayed.snapshot() == live.snapshot()
    live.check()
    replayed.check()


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", range(3))
async def test_a_book_rebuilt_from_its_stored_stream_is_identical(seed: int) -> None:
    rng = random.Random(100 + seed)
    async with await open_store("memory://") as store:
        books = Repository(store, OrderBookAggregate)
        live = OrderBookAggregate.open(BookOpened("ACME", 5, 10, 100))
        for _ in range(10):  # saved in several appends, as the App does
            random_flow(live, rng, 300)
            await books.save(live)
        stored = [e.type async for e in store.read("trading-book-ACME")]
        assert len(stored) == live.version
        assert "trading.TradeExecuted" in stored
        assert "trading.OrderCancelled" in stored
        rebuilt = await books.get("ACME")
        assert rebuilt.book.snapshot() == live.book.snapshot()
        rebuilt.book.check()
        # and at an earlier version: the same as replaying that prefix in memory
        half = live.version // 2
        earlier = await books.get("ACME", version=half)
        prefix = OrderBook("ACME", tick_size=5, lot_size=10)
        async for e in store.read("trading-book-ACME", limit=half):
            prefix.apply(e.data)
        assert earlier.book.snapshot() == prefix.snapshot()
