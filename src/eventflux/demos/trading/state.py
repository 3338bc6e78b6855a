"""The exchange's state and decisions, in memory, with no I/O.

:class:`ExchangeState` holds every symbol's :class:`~.book.OrderBook`, the
accounts (:class:`~.risk.Accounts`), a view of each order (for
acknowledgements and idempotent resubmission by client order id), the recent
trades and prices of each symbol, and each symbol's :class:`~.halts.HaltMonitor`.

It changes two ways that end in the same state: deciding (``submit``,
``cancel``, ``amend``, ``fund``, ``resume_due``, ``quotes``) returns the new
events with their streams and folds them in; :meth:`ExchangeState.replay`
folds stored events (at startup). The async :class:`~.exchange.Exchange`
stores what the decisions return.

Example::

    state = ExchangeState({"ACME": Listing(10_000)})
    state.replay("trading-book-ACME", BookOpened("ACME", 1, 1, 10_000), now)
    ack, events = state.submit("ann", "ACME", "buy", 10, 10_000, client_order_id="c1")
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .book import OrderBook
from .events import (
    AccountFunded,
    BookOpened,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderReduced,
    OrderRejected,
    QuoteChanged,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
)
from .halts import HaltMonitor
from .orders import BUY, EXPIRE_TAKER, GTC, LIMIT, MARKET, OrderError, UnknownOrderError
from .risk import Accounts

__all__ = [
    "ACCOUNT_PREFIX",
    "BOOK_PREFIX",
    "ExchangeState",
    "Listing",
    "OrderAck",
    "OrderView",
    "account_stream",
    "book_stream",
]

BOOK_PREFIX = "trading-book-"
ACCOUNT_PREFIX = "trading-account-"
Emitted = list[tuple[str, Any]]  # (stream, event)


def book_stream(symbol: str) -> str:
    return BOOK_PREFIX + symbol


def account_stream(account: str) -> str:
    return ACCOUNT_PREFIX + account


@dataclass(frozen=True, slots=True)
class Listing:
    """A symbol the exchange lists: its opening price, tick and lot sizes."""

    reference_price: int
    tick_size: int = 1
    lot_size: int = 1


@dataclass(slots=True)
class OrderView:
    """What became of one order (or one refused submission)."""

    order_id: str | None
    symbol: str
    account: str
    client_order_id: str
    side: str
    kind: str
    price: int | None
    quantity: int
    filled: int = 0
    open: int = 0
    notional: int = 0
    reason: str = ""
    rejected: bool = False

    @property
    def status(self) -> str:
        if self.rejected:
            return "rejected"
        if self.open:
            return "partially_filled" if self.filled else "open"
        return "filled" if self.filled >= self.quantity else "cancelled"


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The answer to an order: its id, status, fills so far, and whether this
    submission was a resubmission of an order already taken (``duplicate``)."""

    order_id: str | None
    client_order_id: str
    symbol: str
    account: str
    status: str
    reason: str
    quantity: int
    filled: int
    open: int
    average_price: int | None
    fills: tuple[tuple[int, int], ...] = ()
    duplicate: bool = False

    @classmethod
    def of(
        cls, view: OrderView, fills: tuple[tuple[int, int], ...] = (), duplicate: bool = False
    ) -> OrderAck:
        average = view.notional // view.filled if view.filled else None
        return cls(
            view.order_id, view.client_order_id, view.symbol, view.account, view.status,
            view.reason, view.quantity, view.filled, view.open, average, fills, duplicate,
        )  # fmt: skip


@dataclass
class _Symbol:
    book: OrderBook
    monitor: HaltMonitor
    tape: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    prices: deque[tuple[int, int, str]] = field(default_factory=lambda: deque(maxlen=600))
    quote: QuoteChanged | None = None
    halt: TradingHalted | None = None


class ExchangeState:
    """See the module docs."""

    def __init__(
        self,
        listings: Mapping[str, Listing],
        *,
        max_order_size: int = 100_000,
        max_move: float = 0.10,
        window: float = 60.0,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        remember: int = 100_000,
    ) -> None:
        self.listings = dict(listings)
        self.accounts = Accounts(max_order_size=max_order_size)
        self.halt_settings = {"max_move": max_move, "window": window, "cooldown": cooldown}
        self.clock = clock
        self.symbols: dict[str, _Symbol] = {}
        self.orders: OrderedDict[str, OrderView] = OrderedDict()
        self.by_client: OrderedDict[tuple[str, str], OrderView] = OrderedDict()
        self.remember = remember
        self.touched: set[str] = set()

    # -- reading --------------------------------------------------------------------------
    def book(self, symbol: str) -> OrderBook:
        found = self.symbols.get(symbol)
        if found is None:
            known = ", ".join(sorted(self.symbols)) or "none"
            raise OrderError(f"unknown symbol {symbol!r} (listed: {known})")
        return found.book

    def symbol(self, symbol: str) -> _Symbol:
        self.book(symbol)
        return self.symbols[symbol]

    def open_books(self) -> Emitted:
        """``BookOpened`` for every listing without a book yet (the first start)."""
        out: Emitted = []
        for name, listing in self.listings.items():
            if name not in self.symbols:
                e = BookOpened(name, listing.tick_size, listing.lot_size, listing.reference_price)
                self._fold(book_stream(name), e, _now())
                out.append((book_stream(name), e))
        return out

    # -- deciding ---------------------------------------------------------------------------
    def submit(
        self,
        account: str,
        symbol: str,
        side: str,
        quantity: int,
        price: int | None = None,
        *,
        kind: str | None = None,
        tif: str = GTC,
        post_only: bool = False,
        stp: str = EXPIRE_TAKER,
        client_order_id: str = "",
    ) -> tuple[OrderAck, Emitted]:
        """Take an order: idempotent by ``(account, client_order_id)``."""
        if kind is None:
            kind = LIMIT if price is not None else MARKET
        key = (account, client_order_id)
        if client_order_id:
            prior = self.by_client.get(key)
            if prior is not None:
                same = (prior.symbol, prior.side, prior.kind, prior.price) == (
                    symbol, side, kind, price,
                )  # fmt: skip
                if not same:
                    raise OrderError(
                        f"client order id {client_order_id!r} of account {account!r} was used "
                        f"for another order ({prior.order_id or 'refused'}): use a new one"
                    )
                return OrderAck.of(prior, duplicate=True), []
        entry = self.symbol(symbol)
        book = entry.book
        why = None if book.halted else self.accounts.check(
            account, symbol, side, kind, price, quantity, book
        )  # fmt: skip
        if why is not None:
            events: list[Any] = [
                OrderRejected(client_order_id, account, side, kind, price, quantity, why)
            ]
        else:
            events = book.submit(
                account, side, quantity, price, kind=kind, tif=tif, post_only=post_only,
                stp=stp, client_order_id=client_order_id,
            )  # fmt: skip
            self._watch(entry, events)
        stream = book_stream(symbol)
        now = _now()
        for e in events:
            self._fold(stream, e, now, live=True)
        first = events[0]
        if isinstance(first, OrderRejected):
            view = self._rejected_view(symbol, first)
            fills: tuple[tuple[int, int], ...] = ()
        else:
            view = self.orders[first.order_id]
            fills = tuple(
                (e.price, e.quantity)
                for e in events
                if type(e) is TradeExecuted and e.taker_order_id == first.order_id
            )
        return OrderAck.of(view, fills), [(stream, e) for e in events]

    def _entry_of(self, order_id: str) -> _Symbol:
        """The symbol an order id belongs to (ids are ``<SYMBOL>-<n>``)."""
        view = self.orders.get(order_id)
        entry = self.symbols.get(view.symbol if view else order_id.rsplit("-", 1)[0])
        if entry is None:
            raise UnknownOrderError(f"no open order {order_id!r}: no listed symbol has it")
        return entry

    def cancel(self, account: str, order_id: str) -> tuple[OrderAck, Emitted]:
        entry = self._entry_of(order_id)
        events = entry.book.cancel(order_id, account)
        return self._after(entry, order_id, events)

    def amend(
        self, account: str, order_id: str, quantity: int | None = None, price: int | None = None
    ) -> tuple[OrderAck, Emitted]:
        entry = self._entry_of(order_id)
        resting = entry.book.orders.get(order_id)
        if resting is not None and resting.account == account:
            why = self.accounts.check_amend(
                order_id,
                resting.price if price is None else price,  # type: ignore[arg-type]
                resting.quantity if quantity is None else quantity,
            )
            if why is not None:
                raise OrderError(why)
        events = entry.book.amend(order_id, account, quantity=quantity, price=price)
        self._watch(entry, events)
        return self._after(entry, order_id, events)

    def fund(self, account: str, cash: int, positions: Mapping[str, int]) -> Emitted:
        for symbol in positions:
            self.book(symbol)
        e = AccountFunded(account, cash, dict(positions))
        self._fold(account_stream(account), e, _now())
        return [(account_stream(account), e)]

    def resume_due(self) -> Emitted:
        """``TradingResumed`` for each halted symbol whose cooldown has passed."""
        out: Emitted = []
        for name, entry in self.symbols.items():
            if entry.book.halted and entry.monitor.may_resume():
                entry.monitor.resume()
                e = entry.book.resume(f"cooldown of {entry.monitor.cooldown:g} s over")
                self._fold(book_stream(name), e, _now(), live=True)
                out.append((book_stream(name), e))
        return out

    def quotes(self) -> Emitted:
        """``QuoteChanged`` for each symbol whose top of book changed since the last."""
        out: Emitted = []
        for name in sorted(self.touched):
            entry = self.symbols[name]
            quote = entry.book.quote()
            if quote != entry.quote:
                entry.quote = quote
                out.append((book_stream(name), quote))
        self.touched.clear()
        return out

    def _after(self, entry: _Symbol, order_id: str, events: list[Any]) -> tuple[OrderAck, Emitted]:
        stream = book_stream(entry.book.symbol)
        now = _now()
        for e in events:
            self._fold(stream, e, now, live=True)
        view = self.orders[order_id]
        fills = tuple(
            (e.price, e.quantity)
            for e in events
            if type(e) is TradeExecuted and e.taker_order_id == order_id
        )
        return OrderAck.of(view, fills), [(stream, e) for e in events]

    def _watch(self, entry: _Symbol, events: list[Any]) -> None:
        """Halt the symbol when a trade moves the price beyond the limit."""
        book, monitor = entry.book, entry.monitor
        for e in events:
            if type(e) is TradeExecuted and not book.halted:
                move = monitor.observe(e.price)
                if move is not None:
                    monitor.trip()
                    pct = move.bps / 100
                    events.append(
                        book.halt(
                            f"price moved {pct:.2f}% within {monitor.window:g} s "
                            f"(limit {monitor.max_bps / 100:g}%)",
                            move.reference, move.price, move.bps, monitor.cooldown,
                        )
                    )  # fmt: skip

    # -- folding -----------------------------------------------------------------------------
    def replay(self, stream: str, event: Any, at: datetime) -> None:
        """Fold a stored event (books included: rebuilding at startup)."""
        self._fold(stream, event, at, live=False)

    def _fold(self, stream: str, e: Any, at: datetime, *, live: bool = False) -> None:
        kind = type(e)
        if kind is AccountFunded:
            self.accounts.apply("", e)
            return
        symbol = stream[len(BOOK_PREFIX) :]
        if kind is BookOpened:
            self._open(e)
            return
        entry = self.symbols[symbol]
        if not live:
            entry.book.apply(e)
        self.touched.add(symbol)
        self.accounts.apply(symbol, e)
        if kind is OrderAccepted:
            view = OrderView(
                e.order_id, symbol, e.account, e.client_order_id, e.side, e.kind, e.price,
                e.quantity, open=e.quantity,
            )  # fmt: skip
            self._remember(self.orders, e.order_id, view)
            if e.client_order_id:
                self._remember(self.by_client, (e.account, e.client_order_id), view)
        elif kind is TradeExecuted:
            for order_id in (e.taker_order_id, e.maker_order_id):
                filled = self.orders.get(order_id)
                if filled is not None:
                    filled.filled += e.quantity
                    filled.open -= e.quantity
                    filled.notional += e.price * e.quantity
            buyer, seller = (
                (e.taker_account, e.maker_account)
                if e.taker_side == BUY
                else (e.maker_account, e.taker_account)
            )
            stamp = at.isoformat()
            entry.tape.append(
                {"trade_id": e.trade_id, "price": e.price, "quantity": e.quantity,
                 "side": e.taker_side, "buyer": buyer, "seller": seller, "at": stamp}
            )  # fmt: skip
            entry.prices.append((e.trade_id, e.price, stamp))
        elif kind is OrderCancelled or kind is OrderReduced:
            gone = self.orders.get(e.order_id)
            if gone is not None:
                gone.open -= e.quantity
                gone.quantity -= e.quantity if kind is OrderReduced else 0
                gone.reason = e.reason
        elif kind is OrderAmended:
            amended = self.orders.get(e.order_id)
            if amended is not None:
                amended.price = e.price
                amended.quantity = amended.filled + e.quantity
                amended.open = e.quantity
        elif kind is OrderRejected:
            self._rejected_view(symbol, e)
        elif kind is QuoteChanged:
            entry.quote = e
        elif kind is TradingHalted:
            entry.halt = e
            if not live:
                entry.monitor.trip()  # halted when stored: the cooldown starts again now
        elif kind is TradingResumed:
            entry.halt = None
            if not live:
                entry.monitor.resume()

    def _rejected_view(self, symbol: str, e: OrderRejected) -> OrderView:
        key = (e.account, e.client_order_id)
        view = self.by_client.get(key) if e.client_order_id else None
        if view is None:
            view = OrderView(
                None, symbol, e.account, e.client_order_id, e.side, e.kind, e.price, e.quantity,
                reason=e.reason, rejected=True,
            )  # fmt: skip
            if e.client_order_id:
                self._remember(self.by_client, key, view)
        return view

    def _remember(self, table: OrderedDict[Any, OrderView], key: Any, view: OrderView) -> None:
        table[key] = view
        if len(table) > self.remember:
            table.popitem(last=False)

    def _open(self, e: BookOpened) -> None:
        if e.symbol in self.symbols:
            return
        settings = self.halt_settings
        self.symbols[e.symbol] = _Symbol(
            OrderBook.opened(e),
            HaltMonitor(
                e.symbol,
                max_move=settings["max_move"],
                window=settings["window"],
                cooldown=settings["cooldown"],
                clock=self.clock,
            ),
        )


def _now() -> datetime:
    return datetime.now(UTC)
