"""Portfolios and P&L: a projection from funding, trades and quotes.

The ``trading-portfolios`` read model keeps each account's cash, each
position with its cost (average-cost method, in integer price units) and
realised P&L, and each symbol's marks (best bid, best ask, last trade). The
unrealised P&L is computed when asked: the position valued at the mark (the
mid of bid and ask when both exist, else the last price) less its cost. Like
every projection it can be rebuilt from zero:
``eventflux projections rebuild trading-portfolios --app eventflux.demos.trading:app``.

Example::

    rows = await read_model.fetch_all("SELECT * FROM trading_positions")
"""

from __future__ import annotations

from typing import Any

from ...cqrs import Projection, ReadModel, Transaction, handles
from ...events import RecordedEvent
from .events import AccountFunded, BookOpened, QuoteChanged, TradeExecuted
from .orders import BUY
from .state import BOOK_PREFIX

__all__ = ["Portfolios", "mark_of", "portfolio"]


class Portfolios(Projection):
    """Cash, positions and marks (portable SQL: SQLite or PostgreSQL)."""

    name = "trading-portfolios"

    def create_schema(self, tx: Transaction) -> None:
        tx.script(
            """
            CREATE TABLE trading_cash (account TEXT PRIMARY KEY, cash BIGINT NOT NULL);
            CREATE TABLE trading_positions (
                account TEXT NOT NULL, symbol TEXT NOT NULL, quantity BIGINT NOT NULL,
                cost BIGINT NOT NULL, realized BIGINT NOT NULL, trades INTEGER NOT NULL,
                PRIMARY KEY (account, symbol));
            CREATE TABLE trading_marks (
                symbol TEXT PRIMARY KEY, bid BIGINT, ask BIGINT, last BIGINT);
            """
        )

    @handles
    def opened(self, event: BookOpened, tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO trading_marks VALUES (:symbol, NULL, NULL, :last) "
            "ON CONFLICT (symbol) DO NOTHING",
            {"symbol": event.symbol, "last": event.reference_price},
        )

    @handles
    def funded(self, event: AccountFunded, tx: Transaction) -> None:
        tx.execute(
            "INSERT INTO trading_cash VALUES (:account, :cash) ON CONFLICT (account) "
            "DO UPDATE SET cash = trading_cash.cash + excluded.cash",
            {"account": event.account, "cash": event.cash},
        )
        for symbol, shares in event.positions.items():
            # shares put in are valued at the symbol's price then: their cost basis
            last = tx.fetch_value("SELECT last FROM trading_marks WHERE symbol = :s", {"s": symbol})
            self._fill(tx, event.account, symbol, shares, int(last or 0), trade=False)

    @handles
    def traded(self, event: TradeExecuted, tx: Transaction, e: RecordedEvent) -> None:
        symbol = e.stream.removeprefix(BOOK_PREFIX)
        value = event.price * event.quantity
        if event.taker_side == BUY:
            buyer, seller = event.taker_account, event.maker_account
        else:
            buyer, seller = event.maker_account, event.taker_account
        for account, cash in ((buyer, -value), (seller, value)):
            tx.execute(
                "INSERT INTO trading_cash VALUES (:account, :cash) ON CONFLICT (account) "
                "DO UPDATE SET cash = trading_cash.cash + excluded.cash",
                {"account": account, "cash": cash},
            )
        self._fill(tx, buyer, symbol, event.quantity, event.price)
        self._fill(tx, seller, symbol, -event.quantity, event.price)
        tx.execute(
            "UPDATE trading_marks SET last = :price WHERE symbol = :symbol",
            {"price": event.price, "symbol": symbol},
        )

    @handles
    def quoted(self, event: QuoteChanged, tx: Transaction) -> None:
        tx.execute(
            "UPDATE trading_marks SET bid = :bid, ask = :ask, last = :last WHERE symbol = :s",
            {"bid": event.bid, "ask": event.ask, "last": event.last, "s": event.symbol},
        )

    @staticmethod
    def _fill(
        tx: Transaction, account: str, symbol: str, delta: int, price: int, trade: bool = True
    ) -> None:
        """Move a position by ``delta`` shares at ``price`` (average cost)."""
        row = tx.fetch_one(
            "SELECT quantity, cost, realized, trades FROM trading_positions "
            "WHERE account = :a AND symbol = :s",
            {"a": account, "s": symbol},
        )
        quantity, cost, realized, trades = (
            (0, 0, 0, 0)
            if row is None
            else (int(row["quantity"]), int(row["cost"]), int(row["realized"]), int(row["trades"]))
        )
        if quantity == 0 or (quantity > 0) == (delta > 0):
            quantity, cost = quantity + delta, cost + delta * price
        else:  # reducing (and maybe flipping) the position: realise P&L on what closes
            closing = min(abs(delta), abs(quantity))
            sign = 1 if quantity > 0 else -1
            removed = cost * closing // abs(quantity)
            realized += sign * closing * price - removed
            quantity -= sign * closing
            cost -= removed
            rest = abs(delta) - closing
            if rest:
                quantity += -sign * rest
                cost += -sign * rest * price
        tx.execute(
            "INSERT INTO trading_positions VALUES (:a, :s, :q, :c, :r, :t) "
            "ON CONFLICT (account, symbol) DO UPDATE SET quantity = excluded.quantity, "
            "cost = excluded.cost, realized = excluded.realized, trades = excluded.trades",
            {"a": account, "s": symbol, "q": quantity, "c": cost, "r": realized,
             "t": trades + (1 if trade else 0)},
        )  # fmt: skip


def mark_of(row: dict[str, Any]) -> int | None:
    """A symbol's mark: the mid of bid and ask when both exist, else the last price."""
    bid, ask, last = row.get("bid"), row.get("ask"), row.get("last")
    if bid is not None and ask is not None:
        return (int(bid) + int(ask)) // 2
    return None if last is None else int(last)


async def portfolio(model: ReadModel, account: str) -> dict[str, Any] | None:
    """An account's portfolio with P&L, read from one snapshot of the read model."""
    async with model.snapshot() as db:
        cash = await db.fetch_value(
            "SELECT cash FROM trading_cash WHERE account = :a", {"a": account}
        )
        rows = await db.fetch_all(
            "SELECT p.symbol, p.quantity, p.cost, p.realized, p.trades, m.bid, m.ask, m.last "
            "FROM trading_positions p LEFT JOIN trading_marks m ON m.symbol = p.symbol "
            "WHERE p.account = :a ORDER BY p.symbol",
            {"a": account},
        )
    if cash is None and not rows:
        return None
    positions = []
    value = realized = unrealized = 0
    for row in rows:
        quantity, cost = int(row["quantity"]), int(row["cost"])
        mark = mark_of(row)
        market_value = quantity * mark if mark is not None else cost
        pnl = market_value - cost
        positions.append(
            {"symbol": row["symbol"], "quantity": quantity, "cost": cost,
             "average_cost": cost // quantity if quantity else None, "mark": mark,
             "market_value": market_value, "realized": int(row["realized"]),
             "unrealized": pnl, "trades": int(row["trades"])}
        )  # fmt: skip
        value += market_value
        realized += int(row["realized"])
        unrealized += pnl
    cash_value = int(cash or 0)
    return {
        "account": account,
        "cash": cash_value,
        "positions": positions,
        "market_value": value,
        "equity": cash_value + value,
        "realized": realized,
        "unrealized": unrealized,
    }
