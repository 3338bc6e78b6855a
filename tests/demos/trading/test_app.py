"""The trading App: order entry and acknowledgements, idempotency by client
order id, the risk check, halts through the circuit breaker, market data on
the bus, portfolios and P&L, and a restart that rebuilds the exchange."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from eventflux import App, Message
from eventflux.cqrs import ValidationError
from eventflux.demos.trading import (
    AmendOrder,
    CancelOrder,
    FundAccount,
    GetBook,
    GetBookAsOf,
    GetHalts,
    GetOpenOrders,
    GetOrder,
    GetPortfolio,
    GetPrices,
    GetTape,
    ListPortfolios,
    SubmitOrder,
    make_app,
)
from eventflux.demos.trading.halts import ManualClock
from eventflux.demos.trading.orders import OrderError, UnknownOrderError
from eventflux.resilience import CircuitState

pytestmark = pytest.mark.asyncio
DEADLINE = 30.0


async def until(condition: Any, what: str) -> None:
    """Poll ``condition()`` (sync or async) until true, with a generous deadline."""
    async with asyncio.timeout(DEADLINE):
        while True:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def exchange(tmp_path: Path) -> AsyncIterator[tuple[App, ManualClock]]:
    clock = ManualClock(100.0)
    app = make_app(
        store="memory://",
        bus="memory://",
        read_model=f"sqlite:///{tmp_path}/read.db",
        symbols={"ACME": 100_00},
        simulate=False,
        clock=clock,
        max_order_size=5_000,
    )
    async with app.running():
        await app.dispatch(FundAccount("mm", 1_000_000_00, {"ACME": 10_000}))
        await app.dispatch(FundAccount("ann", 10_000_00))
        yield app, clock


async def test_a_crossing_order_trades_at_the_resting_price_and_is_acknowledged(
    exchange: tuple[App, ManualClock],
) -> None:
    app, _ = exchange
    ask = await app.dispatch(SubmitOrder("mm", "ACME", "sell", 50, 100_10, client_order_id="q1"))
    assert (ask.status, ask.open, ask.order_id) == ("open", 50, "ACME-1")
    ack = await app.dispatch(SubmitOrder("ann", "ACME", "buy", 20, 100_50, client_order_id="b1"))
    assert ack.status == "filled"
    assert ack.fills == ((100_10, 20),)
    assert ack.average_price == 100_10
    book = await app.ask(GetBook("ACME"))
    assert book["asks"] == [[100_10, 30, 1]]
    assert book["bids"] == []
    assert book["last"] == 100_10
    tape = await app.ask(GetTape("ACME"))
    assert [(t["price"], t["quantity"], t["buyer"], t["seller"]) for t in tape] == [
        (100_10, 20, "ann", "mm")
    ]
    assert [p[1] for p in await app.ask(GetPrices("ACME"))] == [100_10]
    maker = await app.ask(GetOrder("mm", order_id="ACME-1"))
    assert (maker.status, maker.filled, maker.open) == ("partially_filled", 20, 30)
    assert [o.order_id for o in await app.ask(GetOpenOrders("mm"))] == ["ACME-1"]


async def test_resubmitting_a_client_order_id_never_creates_a_second_order(
    exchange: tuple[App, ManualClock],
) -> None:
    app, _ = exchange
    order = SubmitOrder("ann", "ACME", "buy", 10, 99_00, client_order_id="ann-7")
    first, *again = await asyncio.gather(*(app.dispatch(order) for _ in range(5)))
    assert first.order_id == "ACME-1"
    assert not first.duplicate
    assert {a.order_id for a in again} == {"ACME-1"}
    assert all(a.duplicate for a in again)
    later = await app.dispatch(order)  # after a "timeout": the same answer
    assert (later.order_id, later.duplicate, later.status) == ("ACME-1", True, "open")
    accepted = [e async for e in app.store.read_all(types=["trading.OrderAccepted"])]
    assert len(accepted) == 1
    # the same id for another order is refused, and creates nothing
    with pytest.raises(OrderError, match="was used for another order"):
        await app.dispatch(SubmitOrder("ann", "ACME", "sell", 10, 99_00, client_order_id="ann-7"))
    # a refused order is answered the same way when resent
    poor = SubmitOrder("ann", "ACME", "buy", 1_000, 99_00, client_order_id="ann-8")
    refused, resent = await app.dispatch(poor), await app.dispatch(poor)
    assert refused.status == resent.status == "rejected"
    assert resent.duplicate


async def test_the_risk_check_refuses_orders_with_a_reason(
    exchange: tuple[App, ManualClock],
) -> None:
    app, _ = exchange
    cases = [
        (SubmitOrder("ann", "ACME", "buy", 200, 100_00), "buying power: the order needs"),
        (SubmitOrder("ann", "ACME", "sell", 1, 100_00), "not enough shares"),
        (SubmitOrder("mm", "ACME", "sell", 6_000, 100_00), "over the limit of 5,000"),
        (SubmitOrder("zed", "ACME", "buy", 1, 100_00), "unknown account 'zed'"),
    ]
    for order, reason in cases:
        ack = await app.dispatch(order)
        assert ack.status == "rejected"
        assert reason in ack.reason
    # reservations count: two orders that each fit, together do not
    ok = await app.dispatch(SubmitOrder("ann", "ACME", "buy", 60, 99_00))
    assert ok.status == "open"
    second = await app.dispatch(SubmitOrder("ann", "ACME", "buy", 60, 99_00))
    assert "buying power" in second.reason
    await app.dispatch(CancelOrder("ann", ok.order_id))
    third = await app.dispatch(SubmitOrder("ann", "ACME", "buy", 60, 99_00))
    assert third.status == "open"
    # bad input never reaches the exchange
    with pytest.raises(ValidationError):
        await app.dispatch(SubmitOrder("ann", "ACME", "buy", 0, 99_00))
    rejected = [e.data.reason async for e in app.store.read_all(types=["trading.OrderRejected"])]
    assert len(rejected) == 5


async def test_cancel_and_amend_through_the_app(exchange: tuple[App, ManualClock]) -> None:
    app, _ = exchange
    a = await app.dispatch(SubmitOrder("mm", "ACME", "sell", 50, 101_00))
    b = await app.dispatch(SubmitOrder("mm", "ACME", "sell", 50, 101_00))
    smaller = await app.dispatch(AmendOrder("mm", a.order_id, quantity=20))
    assert (smaller.open, smaller.status) == (20, "open")
    with pytest.raises(UnknownOrderError):
        await app.dispatch(CancelOrder("ann", b.order_id))  # not ann's order
    # a price amend that crosses trades at once (ann bids, mm moves down onto it)
    await app.dispatch(SubmitOrder("ann", "ACME", "buy", 10, 99_00))
    moved = await app.dispatch(AmendOrder("mm", b.order_id, price=99_00))
    assert moved.fills == ((99_00, 10),)
    book = await app.ask(GetBook("ACME"))
    assert book["asks"] == [[99_00, 40, 1], [101_00, 20, 1]]
    assert book["bids"] == []
    cancelled = await app.dispatch(CancelOrder("mm", a.order_id))
    assert cancelled.status == "cancelled"
    with pytest.raises(UnknownOrderError):
        await app.dispatch(CancelOrder("mm", a.order_id))
    with pytest.raises(UnknownOrderError, match="no listed symbol"):
        await app.dispatch(CancelOrder("mm", "NOPE-1"))


async def test_a_violent_move_halts_the_symbol_until_the_cooldown_passes(
    exchange: tuple[App, ManualClock],
) -> None:
    app, clock = exchange
    seen: list[Message] = []

    @app.subscribe("market.ACME.*", group="test-market-watch")
    async def watch(msg: Message) -> None:
        seen.append(msg)

    await app.bus.ready()
    await app.dispatch(FundAccount("bob", 0, {"ACME": 500}))
    await app.dispatch(SubmitOrder("mm", "ACME", "sell", 10, 120_00))
    await app.dispatch(SubmitOrder("mm", "ACME", "buy", 100, 100_00))
    await app.dispatch(SubmitOrder("bob", "ACME", "sell", 10, tif="ioc"))  # trades at 100
    clock.advance(20)
    await app.dispatch(SubmitOrder("mm", "ACME", "buy", 100, 89_00))
    await app.dispatch(SubmitOrder("mm", "ACME", "buy", 100, 95_00))
    await app.dispatch(SubmitOrder("bob", "ACME", "sell", 100, 95_00, tif="ioc"))  # 100 then 95
    assert not (await app.ask(GetHalts()))[0]["halted"]
    flash = await app.dispatch(SubmitOrder("bob", "ACME", "sell", 200, 89_00, tif="ioc"))
    assert flash.fills == ((95_00, 90), (89_00, 100))  # through 95 and on down to 89
    halts = await app.ask(GetHalts())
    assert halts[0]["halted"]
    assert halts[0]["state"] == CircuitState.OPEN.value
    assert "price moved 11.00% within 60 s (limit 10%)" in halts[0]["reason"]
    # halted: new orders and amends are refused, cancels still work
    refused = await app.dispatch(SubmitOrder("mm", "ACME", "buy", 10, 88_00))
    assert refused.status == "rejected"
    assert refused.reason == "trading in ACME is halted"
    resting = (await app.ask(GetOpenOrders("mm")))[0]
    with pytest.raises(OrderError, match="halted"):
        await app.dispatch(AmendOrder("mm", resting.order_id, quantity=5))
    assert (await app.dispatch(CancelOrder("mm", resting.order_id))).status == "cancelled"
    # the cooldown (30 s of the injected clock) passes: the next batch resumes it
    clock.advance(29)
    assert (await app.dispatch(SubmitOrder("mm", "ACME", "buy", 10, 88_00))).status == "rejected"
    clock.advance(1)
    again = await app.dispatch(SubmitOrder("mm", "ACME", "buy", 10, 88_00))
    assert again.status == "open"
    halts = await app.ask(GetHalts())
    assert not halts[0]["halted"]
    assert halts[0]["state"] == CircuitState.CLOSED.value
    types = [e.type async for e in app.store.read("trading-book-ACME")]
    assert types.count("trading.TradingHalted") == 1
    assert types.count("trading.TradingResumed") == 1
    assert types.index("trading.TradingHalted") < types.index("trading.TradingResumed")
    # each transition, the trades and the quotes reached the bus
    await until(lambda: any(m.subject == "market.ACME.resume" for m in seen), "resume message")
    subjects = [m.subject for m in seen]
    assert subjects.count("market.ACME.halt") == 1
    assert "market.ACME.trade" in subjects
    assert "market.ACME.quote" in subjects
    trade = next(m for m in seen if m.subject == "market.ACME.trade")
    assert trade.data["price"] == 100_00


async def test_portfolios_and_pnl_from_trades_and_quotes_are_rebuildable(
    exchange: tuple[App, ManualClock],
) -> None:
    app, _ = exchange
    await app.dispatch(SubmitOrder("mm", "ACME", "sell", 40, 100_00))
    await app.dispatch(SubmitOrder("ann", "ACME", "buy", 40, 100_00))  # ann buys 40 at 100
    await app.dispatch(SubmitOrder("mm", "ACME", "buy", 100, 101_00))
    await app.dispatch(SubmitOrder("ann", "ACME", "sell", 10, 101_00))  # ann sells 10 at 101
    await app.dispatch(SubmitOrder("mm", "ACME", "sell", 10, 103_00))
    await app.settle()
    ann = await app.ask(GetPortfolio("ann"))
    assert ann["cash"] == 10_000_00 - 40 * 100_00 + 10 * 101_00
    (position,) = ann["positions"]
    assert (position["quantity"], position["cost"], position["average_cost"]) == (
        30,
        3_000_00,
        100_00,
    )
    assert position["realized"] == 10 * 1_00
    # marked at the mid of 101.00 bid / 103.00 ask = 102.00
    assert position["mark"] == 102_00
    assert position["unrealized"] == 30 * 2_00
    assert ann["equity"] == ann["cash"] + 30 * 102_00
    before = await app.ask(ListPortfolios())
    replayed = await app.projection_instance("trading-portfolios").rebuild(app.store)
    assert replayed == await app.store.last_position()
    assert await app.ask(ListPortfolios()) == before
    assert await app.ask(GetPortfolio("nobody")) is None


async def test_the_book_as_of_an_earlier_time(exchange: tuple[App, ManualClock]) -> None:
    app, _ = exchange
    await app.dispatch(SubmitOrder("mm", "ACME", "sell", 100, 100_00))
    events = [e async for e in app.store.read("trading-book-ACME")]
    then = events[-1].recorded_at
    await asyncio.sleep(0.01)
    await app.dispatch(SubmitOrder("ann", "ACME", "buy", 30, 100_00))
    past = await app.ask(GetBookAsOf("ACME", then))
    assert past["asks"] == [[100_00, 100, 1]]
    now = await app.ask(GetBook("ACME"))
    assert now["asks"] == [[100_00, 70, 1]]


async def test_a_restarted_exchange_rebuilds_books_accounts_and_client_ids(tmp_path: Path) -> None:
    urls = {
        "store": f"sqlite:///{tmp_path}/events.db",
        "bus": f"sqlite:///{tmp_path}/bus.db",
        "read_model": f"sqlite:///{tmp_path}/read.db",
    }
    first = make_app(**urls, symbols={"ACME": 100_00}, simulate=False)
    async with first.running():
        await first.dispatch(FundAccount("mm", 1_000_000_00, {"ACME": 1_000}))
        await first.dispatch(FundAccount("ann", 10_000_00))
        await first.dispatch(SubmitOrder("mm", "ACME", "sell", 100, 100_00, client_order_id="m1"))
        ack = await first.dispatch(
            SubmitOrder("ann", "ACME", "buy", 30, 100_00, client_order_id="a1")
        )
        book_before = await first.ask(GetBook("ACME"))
    second = make_app(**urls, symbols={"ACME": 100_00}, simulate=False)
    async with second.running():
        assert await second.ask(GetBook("ACME")) == book_before
        again = await second.dispatch(
            SubmitOrder("ann", "ACME", "buy", 30, 100_00, client_order_id="a1")
        )
        assert (again.order_id, again.duplicate, again.filled) == (ack.order_id, True, 30)
        # ann's cash after the trade holds in the risk check: 70 more at 100 > 7,000 free
        poor = await second.dispatch(SubmitOrder("ann", "ACME", "buy", 71, 100_00))
        assert "buying power" in poor.reason
        fits = await second.dispatch(SubmitOrder("ann", "ACME", "buy", 70, 100_00))
        assert fits.status == "filled"
        opened = [e async for e in second.store.read_all(types=["trading.BookOpened"])]
        assert len(opened) == 1


async def test_orders_over_the_bus_are_acknowledged_on_the_bus(
    exchange: tuple[App, ManualClock],
) -> None:
    app, _ = exchange
    acks: list[Message] = []

    @app.subscribe("trading.acks.ann", group="test-acks")
    async def on_ack(msg: Message) -> None:
        acks.append(msg)

    await app.bus.ready()
    order = {"account": "ann", "symbol": "ACME", "side": "buy", "quantity": 5, "price": 99_00}
    for _ in range(2):  # the same msg_id twice: one order
        await app.bus.publish("trading.orders", order, msg_id="page-1")
    await app.bus.publish("trading.orders", {**order, "quantity": -1}, msg_id="page-2")
    await until(lambda: len(acks) >= 2, "two acknowledgements")
    by_id = {m.data["client_order_id"]: m.data for m in acks}
    assert by_id["page-1"]["status"] == "open"
    assert by_id["page-2"]["status"] == "error"
    assert "ValidationError" in by_id["page-2"]["reason"]
    assert len([e async for e in app.store.read_all(types=["trading.OrderAccepted"])]) == 1
