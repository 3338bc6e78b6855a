"""Accounts and the pre-trade risk check, folded from the events (no I/O).

An account holds cash (price units) and positions (shares per symbol). An
open buy order reserves its limit price times its open quantity; an open sell
order reserves its shares (no short selling). A new order is refused, with
the reason, when it is larger than the order size limit, when a buy would
cost more than the cash not yet reserved (a market buy is priced by walking
the book), or when a sell needs more shares than the account holds free.

Example::

    accounts = Accounts(max_order_size=10_000)
    accounts.apply("ACME", AccountFunded("ann", 1_000_000, {"ACME": 50}))
    accounts.check("ann", "ACME", "buy", "limit", 10_000, 200, book)
    # -> "buying power: the order needs 2,000,000, the account has 1,000,000 free"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .book import OrderBook
from .events import (
    AccountFunded,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderReduced,
    TradeExecuted,
)
from .orders import BUY, MARKET

__all__ = ["Account", "Accounts"]


@dataclass
class Account:
    """Cash and shares, and how much of each open orders hold back."""

    name: str
    cash: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    reserved_cash: int = 0
    reserved_shares: dict[str, int] = field(default_factory=dict)

    @property
    def free_cash(self) -> int:
        return self.cash - self.reserved_cash

    def free_shares(self, symbol: str) -> int:
        return self.positions.get(symbol, 0) - self.reserved_shares.get(symbol, 0)


class _Open:
    __slots__ = ("account", "price", "quantity", "side", "symbol")

    def __init__(self, account: str, symbol: str, side: str, price: int | None, qty: int) -> None:
        self.account, self.symbol, self.side = account, symbol, side
        self.price, self.quantity = price, qty


class Accounts:
    """Every account, folded from account and book events."""

    def __init__(self, *, max_order_size: int = 100_000) -> None:
        self.max_order_size = max_order_size
        self.accounts: dict[str, Account] = {}
        self._open: dict[str, _Open] = {}

    def get(self, name: str) -> Account | None:
        return self.accounts.get(name)

    # -- the check ----------------------------------------------------------------------
    def check(
        self,
        account: str,
        symbol: str,
        side: str,
        kind: str,
        price: int | None,
        quantity: int,
        book: OrderBook,
    ) -> str | None:
        """Why a new order is refused before it reaches the book, or None."""
        holder = self.accounts.get(account)
        if holder is None:
            return f"unknown account {account!r}: fund it first"
        if type(quantity) is int and quantity > self.max_order_size:
            return f"order size {quantity:,} is over the limit of {self.max_order_size:,}"
        if side == BUY:
            if kind == MARKET:
                cost, _ = book.cost_to_fill(BUY, quantity)
            elif type(price) is int and type(quantity) is int:
                cost = price * quantity
            else:
                return None  # the book refuses it with its own reason
            if cost > holder.free_cash:
                return (
                    f"buying power: the order needs {cost:,}, the account has "
                    f"{holder.free_cash:,} free"
                )
            return None
        free = holder.free_shares(symbol)
        if type(quantity) is int and quantity > free:
            return (
                f"not enough shares: selling {quantity:,} {symbol}, the account has {free:,} free"
            )
        return None

    def check_amend(self, order_id: str, price: int, quantity: int) -> str | None:
        """Why raising an open order is refused, or None."""
        held = self._open.get(order_id)
        if held is None:
            return None
        holder = self.accounts[held.account]
        if held.side == BUY:
            extra = price * quantity - (held.price or 0) * held.quantity
            if extra > holder.free_cash:
                return f"buying power: the amend needs {extra:,} more, the account has " + (
                    f"{holder.free_cash:,} free"
                )
        elif quantity - held.quantity > holder.free_shares(held.symbol):
            return f"not enough shares to sell {quantity:,} {held.symbol}"
        return None

    # -- the fold ------------------------------------------------------------------------
    def apply(self, symbol: str, event: Any) -> None:
        """Fold one event (``symbol``: its book's symbol; ignored for account events)."""
        kind = type(event)
        if kind is TradeExecuted:
            self._trade(symbol, event)
        elif kind is OrderAccepted:
            self._accepted(symbol, event)
        elif kind is OrderCancelled or kind is OrderReduced:
            self._release(event.order_id, event.quantity)
        elif kind is OrderAmended:
            self._amended(event)
        elif kind is AccountFunded:
            holder = self.accounts.get(event.account)
            if holder is None:
                holder = self.accounts[event.account] = Account(event.account)
            holder.cash += event.cash
            for sym, shares in event.positions.items():
                holder.positions[sym] = holder.positions.get(sym, 0) + shares

    def _holder(self, name: str) -> Account:
        holder = self.accounts.get(name)
        if holder is None:  # an order of an account funded elsewhere: follow it anyway
            holder = self.accounts[name] = Account(name)
        return holder

    def _accepted(self, symbol: str, e: OrderAccepted) -> None:
        self._open[e.order_id] = _Open(e.account, symbol, e.side, e.price, e.quantity)
        holder = self._holder(e.account)
        if e.side == BUY:
            if e.price is not None:
                holder.reserved_cash += e.price * e.quantity
        else:
            holder.reserved_shares[symbol] = holder.reserved_shares.get(symbol, 0) + e.quantity

    def _release(self, order_id: str, quantity: int) -> None:
        held = self._open.get(order_id)
        if held is None:
            return
        holder = self.accounts[held.account]
        if held.side == BUY:
            if held.price is not None:
                holder.reserved_cash -= held.price * quantity
        else:
            reserved = holder.reserved_shares
            reserved[held.symbol] = reserved.get(held.symbol, 0) - quantity
        held.quantity -= quantity
        if held.quantity <= 0:
            del self._open[order_id]

    def _trade(self, symbol: str, e: TradeExecuted) -> None:
        value = e.price * e.quantity
        if e.taker_side == BUY:
            buyer, seller = e.taker_account, e.maker_account
        else:
            buyer, seller = e.maker_account, e.taker_account
        b, s = self._holder(buyer), self._holder(seller)
        b.cash -= value
        b.positions[symbol] = b.positions.get(symbol, 0) + e.quantity
        s.cash += value
        s.positions[symbol] = s.positions.get(symbol, 0) - e.quantity
        self._release(e.taker_order_id, e.quantity)
        self._release(e.maker_order_id, e.quantity)

    def _amended(self, e: OrderAmended) -> None:
        held = self._open.get(e.order_id)
        if held is None:
            return
        holder = self.accounts[held.account]
        if held.side == BUY:
            holder.reserved_cash += e.price * e.quantity - (held.price or 0) * held.quantity
        else:
            reserved = holder.reserved_shares
            reserved[held.symbol] = reserved.get(held.symbol, 0) + e.quantity - held.quantity
        held.price, held.quantity = e.price, e.quantity
