"""The trading demo's App: order entry, market data, portfolios, halts.

Commands go to the :class:`~.exchange.Exchange` (one sequencer per store:
matching, risk checks and halts in memory, events stored in batches before
any answer). A relay publishes every trade, quote and halt of the book
streams on the bus as ``market.<SYMBOL>.trade``, ``market.<SYMBOL>.quote``
and ``market.<SYMBOL>.halt`` / ``.resume``, at least once. The
``trading-portfolios`` projection keeps cash, positions and P&L. With
``simulate=True`` a market simulator (random walk with jumps) drives market
makers and takers as background tasks. Orders also arrive over the bus: a
message on ``trading.orders`` (its ``msg_id`` the client order id) is
submitted, and its acknowledgement published on ``trading.acks.<account>``.

Run it: ``eventflux serve eventflux.demos.trading:app`` (the page is
``/demos/trading/``), or ``eventflux demo trading`` for a scripted day.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any
from weakref import WeakKeyDictionary

from ...app import App, Context
from ...bus import Message
from ...bus.outbox import OutboxRelay
from ...cqrs import validation_middleware
from ...es import Repository
from ...events import RecordedEvent
from ...exceptions import EventfluxError
from ...store import EventStore
from .aggregate import OrderBookAggregate
from .exchange import Exchange
from .messages import (
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
)
from .portfolio import Portfolios, portfolio
from .state import BOOK_PREFIX, ExchangeState, Listing, OrderAck

__all__ = ["DEFAULT_LISTINGS", "book_view", "make_app", "market_subject"]

#: what the demo lists: symbol -> opening price in cents (tick 1 cent, lot 1 share)
DEFAULT_LISTINGS: Mapping[str, Listing] = {
    "ACME": Listing(100_00),
    "GLOBX": Listing(250_00, tick_size=5),
    "INITECH": Listing(42_00),
}

_SUBJECTS = {
    "trading.TradeExecuted": "trade",
    "trading.QuoteChanged": "quote",
    "trading.TradingHalted": "halt",
    "trading.TradingResumed": "resume",
}


def market_subject(event: RecordedEvent) -> str:
    """``market.<SYMBOL>.<trade|quote|halt|resume>`` for a book stream's event."""
    return f"market.{event.stream.removeprefix(BOOK_PREFIX)}.{_SUBJECTS[event.type]}"


def book_view(state: ExchangeState, symbol: str, levels: int) -> dict[str, Any]:
    """A symbol's depth and state as plain data (queries and the page)."""
    entry = state.symbol(symbol)
    book, monitor = entry.book, entry.monitor
    halt = entry.halt
    return {
        "symbol": symbol,
        "bids": [list(level) for level in book.depth("buy", levels)],
        "asks": [list(level) for level in book.depth("sell", levels)],
        "last": book.last_price,
        "halted": book.halted,
        "halt": None if halt is None else {"reason": halt.reason, "price": halt.price},
        "resumes_in": round(monitor.retry_after, 1),
        "tick_size": book.tick_size,
        "lot_size": book.lot_size,
    }


def make_app(
    *,
    store: str | None = None,
    bus: str | None = None,
    read_model: str | None = None,
    symbols: Mapping[str, int | Listing] | None = None,
    simulate: bool = True,
    seed: int | None = None,
    max_order_size: int = 100_000,
    max_move: float = 0.10,
    window: float = 60.0,
    cooldown: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
    interval: float = 0.5,
) -> App:
    """The trading exchange as an :class:`~eventflux.App`.

    ``symbols`` maps each listed symbol to its opening price (or a
    :class:`Listing`); halts trigger on a move over ``max_move`` within
    ``window`` seconds and last ``cooldown`` seconds of ``clock``;
    ``simulate`` runs the market simulator every ``interval`` seconds.
    """
    listings = {
        name: value if isinstance(value, Listing) else Listing(value)
        for name, value in (symbols or DEFAULT_LISTINGS).items()
    }
    app = App(
        "trading",
        store=store,
        bus=bus,
        read_model=read_model,
        # App.dispatch logs one line per command already: validation is the only middleware
        middleware=[validation_middleware()],
        query_middleware=[],
    )
    app.projection(Portfolios)
    exchanges: WeakKeyDictionary[EventStore, Exchange] = WeakKeyDictionary()

    def new_state() -> ExchangeState:
        return ExchangeState(
            listings, max_order_size=max_order_size, max_move=max_move, window=window,
            cooldown=cooldown, clock=clock,
        )  # fmt: skip

    def exchange(ctx: Context) -> Exchange:
        found = exchanges.get(ctx.store)
        if found is None:
            found = exchanges[ctx.store] = Exchange(ctx.store, new_state)
        return found

    async def ready(ctx: Context) -> ExchangeState:
        ex = exchange(ctx)
        await ex.loaded.wait()
        return ex.state

    @app.task
    async def sequencer(ctx: Context) -> None:
        """The exchange's sequencer: loads the books, then serves batches."""
        await exchange(ctx).run()

    @app.task
    async def market_data(ctx: Context) -> None:
        """Trades, quotes and halts of the book streams onto the bus, at least once."""
        relay = OutboxRelay(
            ctx.store,
            ctx.bus,
            subject=market_subject,
            name="trading-market-data",
            types=list(_SUBJECTS),
            stream_prefix=BOOK_PREFIX,
        )
        await relay.run()

    if simulate:
        from .market import Simulator

        @app.task
        async def simulator(ctx: Context) -> None:
            """Market makers and takers driven by a random walk with jumps."""
            state = await ready(ctx)
            sim = Simulator(state.listings, seed=seed)
            await sim.run(ctx.dispatch, interval)

    @app.command(FundAccount)
    async def fund(cmd: FundAccount, ctx: Context) -> None:
        await exchange(ctx).call(lambda s: (None, s.fund(cmd.account, cmd.cash, cmd.positions)),
                                 ctx.metadata)  # fmt: skip

    @app.command(SubmitOrder)
    async def submit(cmd: SubmitOrder, ctx: Context) -> OrderAck:
        def decide(s: ExchangeState) -> tuple[OrderAck, list[tuple[str, Any]]]:
            return s.submit(
                cmd.account, cmd.symbol, cmd.side, cmd.quantity, cmd.price, tif=cmd.tif,
                post_only=cmd.post_only, stp=cmd.stp, client_order_id=cmd.client_order_id,
            )  # fmt: skip

        ack: OrderAck = await exchange(ctx).call(decide, ctx.metadata)
        return ack

    @app.command(CancelOrder)
    async def cancel(cmd: CancelOrder, ctx: Context) -> OrderAck:
        ack: OrderAck = await exchange(ctx).call(
            lambda s: s.cancel(cmd.account, cmd.order_id), ctx.metadata
        )
        return ack

    @app.command(AmendOrder)
    async def amend(cmd: AmendOrder, ctx: Context) -> OrderAck:
        ack: OrderAck = await exchange(ctx).call(
            lambda s: s.amend(cmd.account, cmd.order_id, cmd.quantity, cmd.price), ctx.metadata
        )
        return ack

    @app.subscribe("trading.orders", group="trading-order-entry")
    async def order_entry(msg: Message, ctx: Context) -> None:
        """Orders over the bus (the page posts them): answered on ``trading.acks.<account>``."""
        data = dict(msg.data)
        data.setdefault("client_order_id", msg.msg_id)
        account = str(data.get("account", "unknown"))
        try:
            order = SubmitOrder(**data)
            reply: dict[str, Any] = asdict(await ctx.dispatch(order))
        except (EventfluxError, TypeError) as e:
            reply = {"client_order_id": data["client_order_id"], "status": "error",
                     "reason": f"{type(e).__name__}: {e}"}  # fmt: skip
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in account) or "unknown"
        await ctx.bus.publish(f"trading.acks.{safe}", reply)

    @app.query(GetBook)
    async def get_book(q: GetBook, ctx: Context) -> dict[str, Any]:
        return book_view(await ready(ctx), q.symbol, q.levels)

    @app.query(GetBookAsOf)
    async def get_book_as_of(q: GetBookAsOf, ctx: Context) -> dict[str, Any]:
        book = (await Repository(ctx.store, OrderBookAggregate).get(q.symbol, as_of=q.as_of)).book
        return {
            "symbol": q.symbol,
            "as_of": q.as_of.isoformat(),
            "bids": [list(level) for level in book.depth("buy", q.levels)],
            "asks": [list(level) for level in book.depth("sell", q.levels)],
            "last": book.last_price,
            "halted": book.halted,
        }

    @app.query(GetTape)
    async def get_tape(q: GetTape, ctx: Context) -> list[dict[str, Any]]:
        tape = (await ready(ctx)).symbol(q.symbol).tape
        return list(reversed(tape))[: q.limit]

    @app.query(GetPrices)
    async def get_prices(q: GetPrices, ctx: Context) -> list[list[Any]]:
        prices = (await ready(ctx)).symbol(q.symbol).prices
        return [list(p) for p in list(prices)[-q.limit :]]

    @app.query(GetOrder)
    async def get_order(q: GetOrder, ctx: Context) -> OrderAck | None:
        state = await ready(ctx)
        view = (
            state.orders.get(q.order_id)
            if q.order_id
            else state.by_client.get((q.account, q.client_order_id))
        )
        if view is None or view.account != q.account:
            return None
        return OrderAck.of(view)

    @app.query(GetOpenOrders)
    async def get_open_orders(q: GetOpenOrders, ctx: Context) -> list[OrderAck]:
        state = await ready(ctx)
        out = []
        for name, entry in sorted(state.symbols.items()):
            if q.symbol and name != q.symbol:
                continue
            for order in entry.book.orders.values():
                if order.account == q.account:
                    view = state.orders.get(order.order_id)
                    if view is not None:
                        out.append(OrderAck.of(view))
        return out

    @app.query(GetPortfolio)
    async def get_portfolio(q: GetPortfolio, ctx: Context) -> dict[str, Any] | None:
        return await portfolio(ctx.read_model, q.account)

    @app.query(ListPortfolios)
    async def list_portfolios(q: ListPortfolios, ctx: Context) -> list[dict[str, Any]]:
        rows = await ctx.read_model.fetch_all("SELECT account FROM trading_cash ORDER BY account")
        out = []
        for row in rows:
            found = await portfolio(ctx.read_model, row["account"])
            if found is not None:
                out.append(found)
        return out

    @app.query(GetHalts)
    async def get_halts(q: GetHalts, ctx: Context) -> list[dict[str, Any]]:
        state = await ready(ctx)
        return [
            {
                "symbol": name,
                "halted": entry.book.halted,
                "breaker": entry.monitor.breaker.name,
                "state": entry.monitor.breaker.state.value,
                "resumes_in": round(entry.monitor.retry_after, 1),
                "reason": None if entry.halt is None else entry.halt.reason,
            }
            for name, entry in sorted(state.symbols.items())
        ]

    def page(app: App, request: Any) -> dict[str, Any]:
        """The page's frame; its script then reads ``/state`` every second."""
        query = request.query_params
        symbol = query.get("symbol") or next(iter(listings))
        return {
            "symbols": list(listings),
            "symbol": symbol if symbol in listings else next(iter(listings)),
            "account": query.get("account") or PAGE_ACCOUNT,
        }

    async def state(app: App, request: Any) -> dict[str, Any]:
        """What the page shows, as JSON: book, tape, prices, portfolio, halts,
        and the answer to one client order id when asked."""
        query = request.query_params
        symbol = query.get("symbol") or next(iter(listings))
        account = query.get("account") or PAGE_ACCOUNT
        try:
            view: dict[str, Any] = {
                "book": await app.ask(GetBook(symbol, 12)),
                "tape": await app.ask(GetTape(symbol, 30)),
                "prices": await app.ask(GetPrices(symbol, 300)),
                "portfolio": await app.ask(GetPortfolio(account)),
                "open_orders": [asdict(a) for a in await app.ask(GetOpenOrders(account))],
                "halts": await app.ask(GetHalts()),
            }
            client_order_id = query.get("client_order_id")
            if client_order_id:
                ack = await app.ask(GetOrder(account, client_order_id=client_order_id))
                view["ack"] = None if ack is None else asdict(ack)
        except EventfluxError as e:
            view = {"error": f"{type(e).__name__}: {e}"}
        return {"state": view}

    app.page("/", "trading.html", context=page)
    app.page("/state", "trading-state.json", context=state)
    return app


#: the account the page trades for unless ``?account=`` names another (seeded)
PAGE_ACCOUNT = "trader"
