"""The matching core against a simple reference model, over random order flows.

A hypothesis state machine sends the same orders, cancels and amends to the
real :class:`OrderBook` and to the sorted-list :class:`RefBook`, and after
every step checks that both did the same (fills, prices, quantities, cancels,
reductions, refusals) and hold the same book; it also checks the invariants
(the book at rest is never crossed, every order's quantity is conserved,
price-time priority within each level and across each sweep) and that a
second book fed only the events is identical (the rebuild).
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tests.demos.trading.reference import RefBook

from eventflux.demos.trading.book import OrderBook
from eventflux.demos.trading.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderReduced,
    OrderRejected,
    TradeExecuted,
)
from eventflux.demos.trading.orders import OrderError

EXAMPLES = 300 if os.environ.get("CI") else 100
TICK, LOT = 5, 10
ACCOUNTS = ("ann", "bob", "cid")
STP = ("expire_taker", "expire_maker", "expire_both", "decrement")

# mostly valid prices near 100 and quantities, sometimes off the tick or lot, or not positive
prices = st.sampled_from([n * TICK for n in range(18, 23)] * 5 + [0, 93, -TICK])
quantities = st.sampled_from([n * LOT for n in range(1, 7)] * 5 + [0, 15])


def outcome(events: list[Any]) -> list[tuple[object, ...]]:
    """The real book's events as the reference model's tuples."""
    out: list[tuple[object, ...]] = []
    for e in events:
        if isinstance(e, OrderRejected):
            out.append(("reject",))
        elif isinstance(e, TradeExecuted):
            out.append(("trade", e.taker_order_id, e.maker_order_id, e.price, e.quantity))
        elif isinstance(e, OrderCancelled):
            out.append(("cancel", e.order_id, e.quantity, e.reason))
        elif isinstance(e, OrderReduced):
            out.append(("reduce", e.order_id, e.quantity))
        elif isinstance(e, OrderAmended):
            out.append(("amend", e.order_id, e.price, e.quantity, e.priority_kept))
        else:
            assert isinstance(e, OrderAccepted)
    return out


class MatchingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook("T", tick_size=TICK, lot_size=LOT)
        self.replayed = OrderBook("T", tick_size=TICK, lot_size=LOT)
        self.ref = RefBook(TICK, LOT)
        self.ids: list[str] = []
        self.owner: dict[str, str] = {}
        # quantity conservation: accepted = traded + cancelled + reduced + open
        self.accepted: Counter[str] = Counter()
        self.gone: Counter[str] = Counter()
        self.last: list[Any] = []

    def _record(self, events: list[Any], expected: list[tuple[object, ...]]) -> None:
        assert outcome(events) == expected
        self.last = events
        for e in events:
            self.replayed.apply(e)
            if isinstance(e, OrderAccepted):
                self.ids.append(e.order_id)
                self.owner[e.order_id] = e.account
                self.accepted[e.order_id] += e.quantity
            elif isinstance(e, TradeExecuted):
                self.gone[e.maker_order_id] += e.quantity
                self.gone[e.taker_order_id] += e.quantity
            elif isinstance(e, OrderCancelled | OrderReduced):
                self.gone[e.order_id] += e.quantity
            elif isinstance(e, OrderAmended):
                # the open quantity is set anew: count the change as added or gone
                before = self.accepted[e.order_id] - self.gone[e.order_id]
                self.accepted[e.order_id] += e.quantity - before
        self._check_sweep(events)

    def _check_sweep(self, events: list[Any]) -> None:
        """One incoming order's fills go best price first, never worse."""
        trades = [e for e in events if isinstance(e, TradeExecuted)]
        for a, b in itertools.pairwise(trades):
            if a.taker_order_id == b.taker_order_id:
                assert (a.price <= b.price) if a.taker_side == "buy" else (a.price >= b.price)

    @rule(
        account=st.sampled_from(ACCOUNTS),
        side=st.sampled_from(["buy", "sell"]),
        price=prices,
        quantity=quantities,
        tif=st.sampled_from(["gtc"] * 5 + ["ioc", "fok"]),
        post_only=st.booleans(),
        stp=st.sampled_from(STP),
    )
    def limit_order(
        self,
        account: str,
        side: str,
        price: int,
        quantity: int,
        tif: str,
        post_only: bool,
        stp: str,
    ) -> None:
        expected = self.ref.submit(account, side, "limit", price, quantity, tif, post_only, stp)
        events = self.book.submit(
            account, side, quantity, price, tif=tif, post_only=post_only, stp=stp
        )
        self._record(events, expected)

    @rule(
        account=st.sampled_from(ACCOUNTS),
        side=st.sampled_from(["buy", "sell"]),
        quantity=quantities,
        tif=st.sampled_from(["ioc", "fok"]),
        stp=st.sampled_from(STP),
    )
    def market_order(self, account: str, side: str, quantity: int, tif: str, stp: str) -> None:
        expected = self.ref.submit(account, side, "market", None, quantity, tif, False, stp)
        events = self.book.submit(account, side, quantity, None, tif=tif, stp=stp)
        self._record(events, expected)

    def _pick(self, data: st.DataObject) -> str:
        """An open order's id mostly, sometimes any id seen (filled, cancelled)."""
        open_ids = sorted(self.book.orders)
        if open_ids and data.draw(st.integers(0, 4)):
            return data.draw(st.sampled_from(open_ids))
        return data.draw(st.sampled_from(self.ids))

    @precondition(lambda self: bool(self.ids))
    @rule(data=st.data(), other_account=st.integers(0, 5))
    def cancel(self, data: st.DataObject, other_account: int) -> None:
        order_id = self._pick(data)
        account = self.owner[order_id]
        if not other_account:
            account = next(a for a in ACCOUNTS if a != account)
        expected = self.ref.cancel(order_id, account)
        try:
            events = self.book.cancel(order_id, account)
        except OrderError:
            assert expected == [("reject",)]
            return
        self._record(events, expected)

    @precondition(lambda self: bool(self.ids))
    @rule(data=st.data(), price=prices, quantity=quantities, same_price=st.booleans())
    def amend(self, data: st.DataObject, price: int, quantity: int, same_price: bool) -> None:
        order_id = self._pick(data)
        account = self.owner[order_id]
        resting = self.book.orders.get(order_id)
        if same_price and resting is not None:
            assert resting.price is not None
            price = resting.price
        expected = self.ref.amend(order_id, account, quantity, price)
        try:
            events = self.book.amend(order_id, account, quantity=quantity, price=price)
        except OrderError:
            assert expected == [("reject",)]
            return
        self._record(events, expected)

    @invariant()
    def same_book_as_the_model(self) -> None:
        for side in ("buy", "sell"):
            real = [
                (price, [(o.order_id, o.quantity) for o in orders])
                for price, orders in self.book.level_orders(side)
            ]
            assert real == self.ref.levels(side), side

    @invariant()
    def not_crossed_and_consistent(self) -> None:
        self.book.check()  # also: not crossed at rest

    @invariant()
    def rebuilt_from_events_is_identical(self) -> None:
        assert self.replayed.snapshot() == self.book.snapshot()
        self.replayed.check()

    @invariant()
    def quantity_is_conserved(self) -> None:
        for order_id, accepted in self.accepted.items():
            resting = self.book.orders.get(order_id)
            open_quantity = 0 if resting is None else resting.quantity
            assert accepted == self.gone[order_id] + open_quantity, order_id

    @invariant()
    def priority_is_arrival_order(self) -> None:
        # within a level, orders sit in the order they (re)joined it: the
        # reference stamps each join, and the real order of ids must follow it
        for side in ("buy", "sell"):
            for (_, real), (_, model) in zip(
                self.book.level_orders(side), self.ref.levels(side), strict=True
            ):
                assert [o.order_id for o in real] == [i for i, _ in model]


MatchingMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestMatching = MatchingMachine.TestCase
