"""The halt monitor's window, and two exchanges writing one store: a conflict
rebuilds the stale one and runs its batch again, so nothing is lost or doubled."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from eventflux import App, AppNotRunningError, StoreUnavailableError, open_store
from eventflux.demos.trading import FundAccount, GetBook, SubmitOrder, make_app
from eventflux.demos.trading.exchange import Exchange
from eventflux.demos.trading.halts import HaltMonitor, ManualClock
from eventflux.demos.trading.state import ExchangeState, Listing
from eventflux.resilience import CircuitState


def test_a_move_counts_only_within_the_window() -> None:
    clock = ManualClock()
    monitor = HaltMonitor("X", max_move=0.10, window=60.0, cooldown=5.0, clock=clock)
    assert monitor.observe(100_00) is None
    clock.advance(61)  # the 100.00 leaves the window
    assert monitor.observe(85_00) is None  # -15% from a price no longer in the window
    assert monitor.observe(90_00) is None  # +5.9% from 85.00
    clock.advance(1)
    move = monitor.observe(95_00)  # +11.8% from the window's low, 85.00
    assert move is not None
    assert (move.reference, move.price, move.bps) == (85_00, 95_00, 1176)
    monitor.trip()
    assert monitor.halted
    assert monitor.breaker.state is CircuitState.OPEN
    assert monitor.retry_after == 5.0
    clock.advance(5)
    assert monitor.may_resume()
    monitor.resume()
    assert not monitor.halted
    assert monitor.observe(70_00) is None  # a fresh window after the halt


def test_exactly_the_limit_does_not_halt() -> None:
    monitor = HaltMonitor("X", max_move=0.10, clock=ManualClock())
    monitor.observe(100_00)
    assert monitor.observe(110_00) is None  # 10.00% is not more than 10%
    assert monitor.observe(110_01) is not None


@pytest.mark.asyncio
async def test_two_exchanges_on_one_store_resolve_their_conflicts(tmp_path: Path) -> None:
    def build() -> App:
        return make_app(
            store=f"sqlite:///{tmp_path}/events.db",
            bus=f"sqlite:///{tmp_path}/bus.db",
            read_model=f"sqlite:///{tmp_path}/read.db",
            symbols={"ACME": 100_00},
            simulate=False,
        )

    a, b = build(), build()
    async with a.running(), b.running():
        await a.dispatch(FundAccount("mm", 1_000_000_00, {"ACME": 1_000}))
        await b.ask(GetBook("ACME"))
        await b.dispatch(FundAccount("ann", 10_000_00))
        await a.dispatch(SubmitOrder("mm", "ACME", "sell", 50, 100_00))
        # b has not seen mm's order: its append conflicts, it reloads and runs again
        ack = await b.dispatch(SubmitOrder("ann", "ACME", "buy", 20, 100_00))
        assert ack.fills == ((100_00, 20),)
        assert ack.order_id == "ACME-2"
        book = await b.ask(GetBook("ACME"))
        assert book["asks"] == [[100_00, 30, 1]]
        store = b.store
        types = [e.type async for e in store.read("trading-book-ACME")]
        assert types.count("trading.OrderAccepted") == 2
        assert types.count("trading.BookOpened") == 1


class _BothReadFirst:
    """A store whose first two ``append_many`` calls wait for each other: both
    exchanges have read the empty store before either opens the books."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._arrived = 0
        self._both = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def append_many(self, batch: Any) -> Any:
        if self._arrived < 2:
            self._arrived += 1
            if self._arrived == 2:
                self._both.set()
            await asyncio.wait_for(self._both.wait(), 5)
        return await self._store.append_many(batch)


@pytest.mark.asyncio
async def test_two_exchanges_starting_together_open_each_book_once(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/events.db")
    try:
        racing = _BothReadFirst(store)
        listings = {"ACME": Listing(100_00), "INIT": Listing(50_00)}
        a = Exchange(racing, lambda: ExchangeState(listings))  # type: ignore[arg-type]
        b = Exchange(racing, lambda: ExchangeState(listings))  # type: ignore[arg-type]
        runners = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
        try:
            # the loser's opening append conflicts: it reads the books the winner opened
            await asyncio.wait_for(asyncio.gather(a.loaded.wait(), b.loaded.wait()), 10)
            assert racing._arrived == 2
            for symbol in listings:
                types = [e.type async for e in store.read(f"trading-book-{symbol}")]
                assert types == ["trading.BookOpened"]
            # b was never told of ann's deposit: it reads it before its next batch
            await a.call(lambda s: (None, s.fund("ann", 1_000_00, {})), {})
            ack = await b.call(lambda s: s.submit("ann", "ACME", "buy", 1, 100_00), {})
            assert (ack.order_id, ack.status) == ("ACME-1", "open")
            ack = await a.call(lambda s: s.submit("ann", "ACME", "buy", 1, 100_00), {})
            assert (ack.order_id, ack.status) == ("ACME-2", "open")
            await b.call(lambda s: (None, []), {})  # b's next batch reads a's order
            assert b.versions == a.versions
        finally:
            for r in runners:
                r.cancel()
            await asyncio.gather(*runners, return_exceptions=True)
    finally:
        await store.close()


class _FailsFirstRead:
    """A store whose first ``read_all`` fails, as a store that is down at start."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def read_all(self, **kwargs: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise StoreUnavailableError("the store is down")
        return self._store.read_all(**kwargs)


@pytest.mark.asyncio
async def test_an_exchange_that_failed_serves_again_when_run_again(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/events.db")
    try:
        flaky = _FailsFirstRead(store)
        ex = Exchange(flaky, lambda: ExchangeState({"ACME": Listing(100_00)}))  # type: ignore[arg-type]
        with pytest.raises(StoreUnavailableError):
            await ex.run()
        with pytest.raises(AppNotRunningError, match="restarts after an error"):
            await ex.call(lambda s: (None, s.fund("ann", 1_000_00, {})), {})
        runner = asyncio.create_task(ex.run())  # what the App does with a failed task
        try:
            await asyncio.wait_for(ex.loaded.wait(), 10)
            await ex.call(lambda s: (None, s.fund("ann", 1_000_00, {})), {})
            ack = await ex.call(lambda s: s.submit("ann", "ACME", "buy", 1, 100_00), {})
            assert (ack.order_id, ack.status) == ("ACME-1", "open")
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    finally:
        await store.close()
